//! Integration over real sockets on loopback: UDP, TCP, Unix datagram and
//! Unix stream in, HTTP out. No sleeps as synchronisation: every wait polls
//! `/metrics` for a condition until a deadline.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::time::Duration;

use airflow_statsd_exporter::cli::Config;

mod common;
use common::{request, sample, wait_for, Harness, DEADLINE};

fn base_config(dir: &Path) -> Config {
    Config {
        web_listen_addresses: vec!["127.0.0.1:0".into()],
        statsd_listen_udp: Some("127.0.0.1:0".into()),
        statsd_listen_tcp: Some("127.0.0.1:0".into()),
        statsd_listen_unixgram: Some(dir.join("statsd.dgram")),
        statsd_listen_unixstream: Some(dir.join("statsd.sock")),
        ..Config::default()
    }
}

/// Starts with `base_config`, adjusted by `tweak`.
fn start(tweak: impl FnOnce(&mut Config, &Path)) -> Harness {
    Harness::start(|dir| {
        let mut c = base_config(dir);
        tweak(&mut c, dir);
        c
    })
}

#[test]
fn every_listener_ingests() {
    let h = start(|_, _| {});
    let b = h.running().bound();
    assert!(h.running().app.is_ready());
    assert_eq!(request(h.http, "GET", "/-/ready", "").status, 200);

    // UDP: a multi-line datagram with a trailing newline.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"via.udp:1|c\nvia.udp:2|c\n", b.udp[0])
        .unwrap();
    // TCP: two lines split across writes, the last one without a newline.
    let mut tcp = TcpStream::connect(b.tcp[0]).unwrap();
    tcp.write_all(b"via.tcp:5|c\nvia.tcp.").unwrap();
    tcp.flush().unwrap();
    tcp.write_all(b"gauge:7|g").unwrap();
    drop(tcp);
    // Unix datagram and Unix stream (Airflow's statsd_socket_path).
    UnixDatagram::unbound()
        .unwrap()
        .send_to(b"via.unixgram:3|ms", &b.unixgram[0])
        .unwrap();
    let mut us = UnixStream::connect(&b.unixstream[0]).unwrap();
    us.write_all(b"via.unixstream:4|c|#kind:stream\n").unwrap();
    drop(us);

    let body = wait_for(h.http, "all four listeners", |m| {
        sample(m, "via_udp") == Some(3.0)
            && sample(m, "via_tcp") == Some(5.0)
            && sample(m, "via_tcp_gauge") == Some(7.0)
            && sample(m, "via_unixgram_count") == Some(1.0)
            && sample(m, "via_unixstream{kind=\"stream\"}") == Some(4.0)
    });
    assert_eq!(sample(&body, "via_unixgram_sum"), Some(0.003));
    assert_eq!(
        sample(&body, "statsd_exporter_udp_packets_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "statsd_exporter_unixgram_packets_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "statsd_exporter_tcp_connections_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "statsd_exporter_unixstream_connections_total"),
        Some(1.0)
    );
    assert!(body.contains("# TYPE via_unixgram summary\n"));
}

#[test]
fn bad_input_is_counted_and_valid_neighbours_survive() {
    let h = start(|_, _| {});
    let b = h.running().bound();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut dgram =
        b"good.one:1|c\n\xff\xfe:1|c\nbad_value:abc|c\nnan:NaN|g\nx:1|ms|#quantile:0.5\n".to_vec();
    dgram.extend_from_slice(b"good.two:2|c\n");
    udp.send_to(&dgram, b.udp[0]).unwrap();
    let body = wait_for(h.http, "good lines", |m| {
        sample(m, "good_one") == Some(1.0) && sample(m, "good_two") == Some(2.0)
    });
    assert_eq!(
        sample(
            &body,
            "statsd_exporter_sample_errors_total{reason=\"invalid_utf8\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "statsd_exporter_sample_errors_total{reason=\"malformed_value\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "statsd_exporter_sample_errors_total{reason=\"non_finite_value\"}"
        ),
        Some(1.0)
    );
    // The 20-byte datagram that kills statsd_exporter 0.27.2 is a renamed label here.
    assert_eq!(
        sample(&body, "x_count{exported_quantile=\"0.5\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "statsd_exporter_label_rewrites_total{reason=\"reserved_quantile\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn long_tcp_lines_are_discarded_without_closing_the_connection() {
    let h = start(|c, _| c.max_line_length = 64);
    let b = h.running().bound();
    let mut tcp = TcpStream::connect(b.tcp[0]).unwrap();
    let long = format!("{}:1|c\n", "a".repeat(500));
    tcp.write_all(long.as_bytes()).unwrap();
    tcp.write_all(b"after.long:1|c\n").unwrap();
    let body = wait_for(h.http, "the line after the long one", |m| {
        sample(m, "after_long") == Some(1.0)
    });
    assert_eq!(
        sample(&body, "statsd_exporter_tcp_too_long_lines_total"),
        Some(1.0)
    );
}

#[test]
fn connection_limit_rejects_and_counts() {
    let h = start(|c, _| c.tcp_max_connections = 1);
    let b = h.running().bound();
    let mut first = TcpStream::connect(b.tcp[0]).unwrap();
    first.write_all(b"held:1|c\n").unwrap();
    wait_for(h.http, "first connection", |m| {
        sample(m, "held") == Some(1.0)
    });
    let mut second = TcpStream::connect(b.tcp[0]).unwrap();
    let _ = second.write_all(b"refused:1|c\n");
    let body = wait_for(h.http, "rejection", |m| {
        sample(m, "statsd_exporter_stream_connections_rejected_total") == Some(1.0)
    });
    assert_eq!(sample(&body, "refused"), None);
}

#[test]
fn silent_connections_give_way_to_senders_at_the_limit() {
    let h = start(|c, _| c.tcp_max_connections = 2);
    let b = h.running().bound();
    // Two half-open clients: connect, never send.
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(b.tcp[0]).unwrap())
        .collect();
    wait_for(h.http, "both accepted", |m| {
        sample(m, "statsd_exporter_tcp_connections_total") == Some(2.0)
    });
    // Each sender that arrives at the limit takes a silent client's slot.
    let mut senders = Vec::new();
    for i in 0..2 {
        let mut s = TcpStream::connect(b.tcp[0]).unwrap();
        writeln!(s, "sender_{i}:1|c").unwrap();
        wait_for(h.http, "the newcomer's line", |m| {
            sample(m, &format!("sender_{i}")) == Some(1.0)
        });
        senders.push(s);
    }
    // Both slots now belong to active senders: the next one is refused.
    let mut late = TcpStream::connect(b.tcp[0]).unwrap();
    let _ = writeln!(late, "late:1|c");
    let body = wait_for(h.http, "the refusal", |m| {
        sample(m, "statsd_exporter_stream_connections_rejected_total") == Some(1.0)
    });
    assert_eq!(
        sample(&body, "statsd_exporter_stream_connections_evicted_total"),
        Some(2.0)
    );
    assert_eq!(sample(&body, "late"), None);
    drop((silent, senders));
}

#[test]
fn lifecycle_reload_keeps_old_mapping_on_error() {
    let h = start(|c, dir| {
        let p = dir.join("mapping.yml");
        std::fs::write(
            &p,
            "mappings:\n- match: a.*\n  name: first\n  labels:\n    which: $1\n",
        )
        .unwrap();
        c.mapping_config = Some(p);
        c.web_enable_lifecycle = true;
        // Only the explicit reloads of this test (see the watch test).
        c.mapping_watch_interval = Duration::ZERO;
    });
    let b = h.running().bound();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"a.one:1|c", b.udp[0]).unwrap();
    wait_for(h.http, "first mapping", |m| {
        sample(m, "first{which=\"one\"}") == Some(1.0)
    });

    let path = h.dir.path().join("mapping.yml");
    std::fs::write(&path, "mappings:\n- match: a.*\n  name: second\n").unwrap();
    assert_eq!(request(h.http, "GET", "/-/reload", "").status, 405);
    let r = request(h.http, "POST", "/-/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    udp.send_to(b"a.two:1|c", b.udp[0]).unwrap();
    wait_for(h.http, "second mapping", |m| {
        sample(m, "second") == Some(1.0)
    });

    std::fs::write(&path, "mappings:\n- match: a.*\n  name: \"bad name\"\n").unwrap();
    let r = request(h.http, "PUT", "/-/reload", "");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("mapping.yml:3"),
        "error names file and line: {}",
        r.text()
    );
    udp.send_to(b"a.three:1|c", b.udp[0]).unwrap();
    let body = wait_for(h.http, "old mapping still in force", |m| {
        sample(m, "second") == Some(2.0)
    });
    assert_eq!(
        sample(
            &body,
            "statsd_exporter_config_reloads_total{outcome=\"failure\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "statsd_exporter_config_reloads_total{outcome=\"success\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "statsd_exporter_config_last_reload_successful"),
        Some(0.0)
    );
}

/// A Kubernetes ConfigMap volume: `mapping.yml -> ..data/mapping.yml`,
/// `..data -> <timestamped dir>`; an update writes a new dir and renames a
/// new `..data` symlink over the old one.
fn configmap_swap(dir: &Path, version: u32, content: &str) {
    let ts = dir.join(format!("..v{version}"));
    std::fs::create_dir(&ts).unwrap();
    std::fs::write(ts.join("mapping.yml"), content).unwrap();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..v{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

#[test]
fn mapping_file_changes_are_reloaded_and_unchanged_rules_keep_their_series() {
    let keep = "- match: keep.*\n  name: kept\n  labels:\n    which: $1\n";
    let h = start(|c, dir| {
        configmap_swap(
            dir,
            1,
            &format!("mappings:\n{keep}- match: b.*\n  name: before\n"),
        );
        std::os::unix::fs::symlink("..data/mapping.yml", dir.join("mapping.yml")).unwrap();
        c.mapping_config = Some(dir.join("mapping.yml"));
        c.mapping_watch_interval = Duration::from_millis(50);
    });
    let dir = h.dir.path();
    let b = h.running().bound();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"keep.x:1|c\nb.y:1|c", b.udp[0]).unwrap();
    wait_for(h.http, "first mapping", |m| {
        sample(m, "kept{which=\"x\"}") == Some(1.0) && sample(m, "before") == Some(1.0)
    });

    configmap_swap(
        dir,
        2,
        &format!("mappings:\n{keep}- match: b.*\n  name: after\n"),
    );
    wait_for(h.http, "the watcher's reload", |m| {
        sample(
            m,
            "statsd_exporter_config_reloads_total{outcome=\"success\"}",
        ) == Some(1.0)
    });
    udp.send_to(b"keep.x:1|c\nb.y:1|c", b.udp[0]).unwrap();
    let body = wait_for(h.http, "new rule applied, kept series continued", |m| {
        sample(m, "after") == Some(1.0) && sample(m, "kept{which=\"x\"}") == Some(2.0)
    });
    assert_eq!(
        sample(&body, "before"),
        Some(1.0),
        "old series keep their values"
    );

    // A bad update keeps the running mapping and is counted once.
    configmap_swap(dir, 3, "mappings:\n- match: b.*\n  name: \"bad name\"\n");
    let body = wait_for(h.http, "the failed reload", |m| {
        sample(
            m,
            "statsd_exporter_config_reloads_total{outcome=\"failure\"}",
        ) == Some(1.0)
    });
    assert_eq!(
        sample(&body, "statsd_exporter_config_last_reload_successful"),
        Some(0.0)
    );
    udp.send_to(b"b.y:1|c", b.udp[0]).unwrap();
    wait_for(h.http, "old mapping still in force", |m| {
        sample(m, "after") == Some(2.0)
    });
    // Fixed again: reloaded.
    configmap_swap(dir, 4, &format!("mappings:\n{keep}"));
    let body = wait_for(h.http, "recovery", |m| {
        sample(
            m,
            "statsd_exporter_config_reloads_total{outcome=\"success\"}",
        ) == Some(2.0)
    });
    assert_eq!(
        sample(
            &body,
            "statsd_exporter_config_reloads_total{outcome=\"failure\"}"
        ),
        Some(1.0),
        "a bad file is not retried while it stays the same"
    );
    assert_eq!(
        sample(&body, "statsd_exporter_config_last_reload_successful"),
        Some(1.0)
    );
}

#[test]
fn lifecycle_is_off_by_default() {
    let h = start(|_, _| {});
    assert_eq!(request(h.http, "POST", "/-/reload", "").status, 403);
    assert_eq!(request(h.http, "POST", "/-/quit", "").status, 403);
}

#[test]
fn gzip_and_openmetrics_negotiation() {
    let h = start(|c, _| c.web_enable_openmetrics = true);
    let b = h.running().bound();
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"jobs:2|c", b.udp[0])
        .unwrap();
    let text = wait_for(h.http, "counter", |m| sample(m, "jobs") == Some(2.0));
    assert!(text.contains("# TYPE jobs counter\njobs 2\n"));

    let om = request(
        h.http,
        "GET",
        "/metrics",
        "Accept: application/openmetrics-text;version=1.0.0\r\n",
    );
    assert!(
        om.headers
            .contains("application/openmetrics-text; version=1.0.0"),
        "{}",
        om.headers
    );
    let om = om.text();
    assert!(om.contains("# TYPE jobs counter\njobs_total 2\n"), "{om}");
    assert!(om.ends_with("# EOF\n"));

    let gz = request(h.http, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    assert!(gz
        .headers
        .to_ascii_lowercase()
        .contains("content-encoding: gzip"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert!(plain.contains("\njobs 2\n"));
}

#[test]
fn landing_page_lists_listeners_and_links() {
    let h = start(|_, _| {});
    let r = request(h.http, "GET", "/", "");
    assert_eq!(r.status, 200);
    let page = r.text();
    let b = h.running().bound();
    assert!(page.contains("href=\"/metrics\""));
    assert!(page.contains(&format!("StatsD UDP {}", b.udp[0])));
    assert!(page.contains("Unix stream"));
}

#[test]
fn empty_address_disables_a_listener() {
    let h = start(|c, _| {
        c.statsd_listen_tcp = None;
        c.statsd_listen_unixgram = None;
    });
    let b = h.running().bound();
    assert!(b.tcp.is_empty() && b.unixgram.is_empty());
    assert_eq!(b.udp.len(), 1);
}

#[test]
fn relay_forwards_lines_unchanged() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(DEADLINE)).unwrap();
    let target = sink.local_addr().unwrap().to_string();
    let h = start(|c, _| {
        c.relay_addresses = vec![target.clone()];
        c.relay_packet_length = 30;
    });
    let b = h.running().bound();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"relay.a:1|c\nrelay.b:2|g|#k:v\n", b.udp[0])
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 2048];
    while !(got.contains("relay.a:1|c") && got.contains("relay.b:2|g|#k:v")) {
        let n = sink
            .recv(&mut buf)
            .expect("relayed packet before the deadline");
        assert!(
            n <= 30,
            "packet of {n} bytes exceeds --statsd.relay.packet-length"
        );
        got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        got.push('\n');
    }
    let body = wait_for(h.http, "relay counters", |m| {
        sample(
            m,
            &format!("statsd_exporter_relay_lines_relayed_total{{target=\"{target}\"}}"),
        ) == Some(2.0)
    });
    assert!(body.contains("statsd_exporter_relay_packets_total"));
}

#[test]
fn series_limit_bounds_the_store_and_counts_drops() {
    let h = start(|c, _| c.max_series = 3);
    let b = h.running().bound();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let lines: String = (0..10).map(|i| format!("flood.n{i}:1|c\n")).collect();
    udp.send_to(lines.as_bytes(), b.udp[0]).unwrap();
    let dropped =
        "statsd_exporter_series_dropped_total{family=\"__overflow__\",reason=\"max_series\"}";
    let body = wait_for(h.http, "drops counted", |m| sample(m, dropped) == Some(7.0));
    let exposed = body.lines().filter(|l| l.starts_with("flood_n")).count();
    assert_eq!(exposed, 3, "{body}");
    assert_eq!(
        sample(&body, "statsd_exporter_limit{limit=\"max_series\"}"),
        Some(3.0)
    );
    // Existing series keep counting at the limit.
    udp.send_to(b"flood.n0:5|c", b.udp[0]).unwrap();
    wait_for(h.http, "existing series updated", |m| {
        sample(m, "flood_n0") == Some(6.0)
    });
}

#[test]
fn label_values_fold_into_overflow_and_sums_stay_exact() {
    let h = start(|c, _| c.max_label_values = 2);
    let b = h.running().bound();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let lines: String = (0..5)
        .map(|i| format!("jobs:{}|c|#task:t{i}\n", i + 1))
        .collect();
    udp.send_to(lines.as_bytes(), b.udp[0]).unwrap();
    let body = wait_for(h.http, "folded series", |m| {
        sample(m, "jobs{task=\"__overflow__\"}") == Some(12.0)
    });
    assert_eq!(sample(&body, "jobs{task=\"t0\"}"), Some(1.0));
    assert_eq!(sample(&body, "jobs{task=\"t1\"}"), Some(2.0));
    let folded = "statsd_exporter_series_folded_total{family=\"jobs\",reason=\"max_label_values\"}";
    assert_eq!(sample(&body, folded), Some(3.0));
}

#[test]
fn default_ttl_expires_idle_series() {
    let h = start(|c, _| c.default_ttl = std::time::Duration::from_secs(1));
    let b = h.running().bound();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"short.lived:1|c", b.udp[0]).unwrap();
    wait_for(h.http, "series created", |m| {
        sample(m, "short_lived") == Some(1.0)
    });
    let body = wait_for(h.http, "series expired", |m| {
        sample(m, "short_lived").is_none()
    });
    assert_eq!(
        sample(&body, "statsd_exporter_series_expired_total"),
        Some(1.0)
    );
    // It comes back from zero, which Prometheus treats as a counter reset.
    udp.send_to(b"short.lived:2|c", b.udp[0]).unwrap();
    wait_for(h.http, "series back", |m| {
        sample(m, "short_lived") == Some(2.0)
    });
}

#[test]
fn healthcheck_subcommand_logic() {
    let h = start(|_, _| {});
    assert_eq!(
        airflow_statsd_exporter::web::healthcheck(&h.http.to_string(), None),
        Ok(())
    );
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(airflow_statsd_exporter::web::healthcheck(&free.to_string(), None).is_err());
}
