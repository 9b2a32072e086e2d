//! The batched datagram readers over real sockets: several UDP readers on one
//! port (SO_REUSEPORT), truncated Unix datagrams, and the receive-buffer
//! self-metrics. Every wait polls `/metrics` until a deadline.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;

use airflow_statsd_exporter::cli::Config;

mod common;
use common::{sample, scrape, wait_for, Harness};

/// Starts with only a UDP listener, adjusted by `tweak`.
fn start(tweak: impl FnOnce(&mut Config, &std::path::Path)) -> Harness {
    Harness::start(|dir| {
        let mut c = Config {
            web_listen_addresses: vec!["127.0.0.1:0".into()],
            statsd_listen_udp: Some("127.0.0.1:0".into()),
            statsd_listen_tcp: None,
            ..Config::default()
        };
        tweak(&mut c, dir);
        c
    })
}

#[test]
fn two_reuseport_readers_receive_every_line() {
    let h = start(|c, _| c.udp_readers = 2);
    let target = h.running().bound().udp[0];
    let body = scrape(h.http);
    let listeners: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("statsd_exporter_receive_buffer_bytes{"))
        .collect();
    assert_eq!(listeners.len(), 2, "one socket per reader:\n{body}");
    // 40 senders (the kernel hashes each to one socket), 25 datagrams each,
    // 3 lines per datagram, interleaved.
    let senders: Vec<UdpSocket> = (0..40)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for i in 0..25 {
        for s in &senders {
            s.send_to(
                format!("rp.count:1|c\nrp.other:{i}|c\nrp.g:{i}|g").as_bytes(),
                target,
            )
            .unwrap();
        }
    }
    // Lines are counted when parsed, before the store applies them: wait
    // for both.
    let body = wait_for(h.http, "all 3000 lines applied", |m| {
        sample(m, "statsd_exporter_lines_total") == Some(3000.0)
            && sample(m, "rp_count") == Some(1000.0)
    });
    assert_eq!(sample(&body, "rp_count"), Some(1000.0));
    assert_eq!(sample(&body, "rp_other"), Some(40.0 * 300.0));
    assert_eq!(
        sample(&body, "statsd_exporter_udp_packets_total"),
        Some(1000.0)
    );
    assert_eq!(
        sample(&body, "statsd_exporter_udp_packet_drops_total"),
        Some(0.0)
    );
}

#[test]
fn truncated_unix_datagrams_are_counted_and_the_rest_ingested() {
    let h = start(|c, dir| {
        c.statsd_listen_udp = None;
        c.statsd_listen_unixgram = Some(dir.join("statsd.dgram"));
    });
    let path = h.running().bound().unixgram[0].clone();
    let tx = UnixDatagram::unbound().unwrap();
    let _ = socket2::SockRef::from(&tx).set_send_buffer_size(1 << 20);
    // 80 kB of whole lines: the reader keeps the first 65535 bytes.
    let big = b"big.line:1|c\n".repeat(80_000 / 13);
    tx.send_to(&big, &path).unwrap();
    for _ in 0..100 {
        tx.send_to(b"small.line:1|c", &path).unwrap();
    }
    let body = wait_for(h.http, "the small lines", |m| {
        sample(m, "small_line") == Some(100.0)
    });
    assert_eq!(
        sample(&body, "statsd_exporter_datagrams_truncated_total"),
        Some(1.0)
    );
    // 65535 / 13 = 5041 whole lines and a cut one that fails to parse.
    assert_eq!(sample(&body, "big_line"), Some(5041.0));
    assert_eq!(
        sample(&body, "statsd_exporter_unixgram_packets_total"),
        Some(101.0)
    );
    assert!(
        body.contains("statsd_exporter_receive_buffer_requested_bytes{listener=\"unixgram "),
        "{body}"
    );
}
