//! Cardinality attack, in process: 200,000 events with distinct names and
//! distinct tag values, sent over UDP loopback in batched datagrams with
//! `--statsd.max-series=20000`, while another thread scrapes `/metrics`.
//!
//! Asserts: every scrape answers; the live series count never exceeds the
//! limit plus the overflow series (at most `MAX_OVERFLOW_SERIES` per
//! family); every event is accounted for (created, folded or dropped, per
//! family and reason); counter totals and summary counts of folded families
//! are exact; and the process RSS (VmHWM from /proc/self/status, which also
//! counts this test's own sender and scraper) stays under `RSS_BOUND_MIB`.
//! Measured on x86_64 (debug build, 2 CPUs): peak VmHWM ≈ 48 MiB (RSS before the attack ≈ 8 MiB); the bound is
//! generous on purpose. docs/cardinality.md has the release-build figures.
//!
//! No sleeps as synchronisation: the sender keeps a small window of
//! datagrams in flight by polling the exporter's packet counter, and the end
//! of the attack is detected by polling for a sentinel sent last.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airflow_statsd_exporter::app::{self, Running};
use airflow_statsd_exporter::cli::{Config, Profile};
use airflow_statsd_exporter::store::{LimitReason, SnapValue, MAX_OVERFLOW_SERIES, OVERFLOW};

const EVENTS: usize = 200_000;
const MAX_SERIES: usize = 20_000;
/// Generous: several times the measured peak (see the module comment).
const RSS_BOUND_MIB: u64 = 256;
const DEADLINE: Duration = Duration::from_secs(120);
/// Datagrams in flight before the sender waits for the reader.
const WINDOW: u64 = 8;
const DATAGRAM_BYTES: usize = 8_000;

/// The tagged families: (name, statsd type, value). Every event to them
/// carries a task_id never seen before.
const TAGGED: [(&str, &str, u32); 4] = [
    ("atk_tagged_c1", "c", 1),
    ("atk_tagged_c2", "c", 3),
    ("atk_tagged_g", "g", 5),
    ("atk_tagged_t", "ms", 7),
];

/// Event `k`: even → a name never seen before (counter, gauge or timer in
/// turn), odd → a tagged family with a task_id never seen before.
fn event(k: usize, out: &mut String) {
    use std::fmt::Write as _;
    let i = k / 2;
    if k % 2 == 0 {
        let _ = match i % 3 {
            0 => write!(out, "atk_c_{i}:1|c"),
            1 => write!(out, "atk_g_{i}:1|g"),
            _ => write!(out, "atk_t_{i}:1|ms"),
        };
    } else {
        let (name, kind, value) = TAGGED[i % TAGGED.len()];
        let _ = write!(out, "{name}:{value}|{kind}|#task_id:task_{i:07}");
    }
}

/// Events sent to tagged family `t`.
fn tagged_events(t: usize) -> usize {
    (0..EVENTS)
        .filter(|k| k % 2 == 1 && (k / 2) % TAGGED.len() == t)
        .count()
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, text))
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[test]
fn attack_keeps_series_rss_and_totals_bounded() {
    let mut config = Config {
        web_listen_addresses: vec!["127.0.0.1:0".into()],
        statsd_listen_udp: Some("127.0.0.1:0".into()),
        statsd_listen_tcp: None,
        profile: Profile::None,
        max_series: MAX_SERIES,
        ..Config::default()
    };
    config.read_buffer = 4 << 20;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running: Running = rt.block_on(app::start(&config)).expect("start");
    let http = running.bound().http[0];
    let udp_addr = running.bound().udp[0];
    let shared = running.app.shared.clone();
    let rss_before = status_kib("VmRSS:");

    // The scraper: /metrics every so often, and the live series bound.
    let done = Arc::new(AtomicBool::new(false));
    let scraper = {
        let done = done.clone();
        let shared = shared.clone();
        std::thread::spawn(move || {
            let (mut answered, mut failed, mut max_series, mut worst) = (0u32, 0u32, 0usize, 0f64);
            loop {
                let last = done.load(Ordering::Acquire);
                let t = Instant::now();
                match http_get(http, "/metrics") {
                    Ok((200, body)) if body.contains("statsd_exporter_udp_packets_total") => {
                        answered += 1
                    }
                    _ => failed += 1,
                }
                worst = worst.max(t.elapsed().as_secs_f64());
                let (series, bound) = {
                    let store = shared.store.lock();
                    let report = store.cardinality(0);
                    let overflow: usize = report.families.iter().map(|f| f.overflow_series).sum();
                    assert!(report
                        .families
                        .iter()
                        .all(|f| f.overflow_series <= MAX_OVERFLOW_SERIES));
                    (store.series_count(), MAX_SERIES + overflow)
                };
                assert!(series <= bound, "{series} live series > {bound}");
                max_series = max_series.max(series);
                if last {
                    return (answered, failed, max_series, worst);
                }
            }
        })
    };

    // The attack.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let packets = || shared.telemetry.udp_packets.get();
    let wait_packets = |n: u64| {
        let end = Instant::now() + DEADLINE;
        while packets() < n {
            assert!(
                Instant::now() < end,
                "reader stuck at {} of {n} datagrams",
                packets()
            );
            std::thread::yield_now();
        }
    };
    // The sentinel family exists before the attack fills the store.
    sock.send_to(b"atk_sentinel:1|c", udp_addr).unwrap();
    let mut sent = 1u64;
    wait_packets(sent);
    let started = Instant::now();
    let (mut dgram, mut line) = (String::with_capacity(DATAGRAM_BYTES + 100), String::new());
    for k in 0..EVENTS {
        line.clear();
        event(k, &mut line);
        if dgram.len() + line.len() + 1 > DATAGRAM_BYTES {
            sock.send_to(dgram.as_bytes(), udp_addr).unwrap();
            sent += 1;
            dgram.clear();
            wait_packets(sent.saturating_sub(WINDOW));
        }
        dgram.push_str(&line);
        dgram.push('\n');
    }
    sock.send_to(dgram.as_bytes(), udp_addr).unwrap();
    sock.send_to(b"atk_sentinel:1000|c", udp_addr).unwrap();
    sent += 2;
    wait_packets(sent);
    // The reader ingests in order: once the sentinel shows, all is in.
    let end = Instant::now() + DEADLINE;
    let snapshot = loop {
        let snap = shared.store.lock().snapshot(Instant::now());
        let sentinel = snap
            .iter()
            .find(|f| &*f.name == "atk_sentinel")
            .and_then(|f| match f.series[0].value {
                SnapValue::Single(v) => Some(v),
                _ => None,
            });
        if sentinel == Some(1001.0) {
            break snap;
        }
        assert!(Instant::now() < end, "sentinel never arrived: {sentinel:?}");
        std::thread::yield_now();
    };
    let elapsed = started.elapsed();
    done.store(true, Ordering::Release);
    let (answered, failed, max_series, worst) = scraper.join().expect("scraper");
    let hwm = status_kib("VmHWM:");
    let rss_after = status_kib("VmRSS:");
    let (final_body_ok, final_body) = match http_get(http, "/metrics") {
        Ok((200, b)) => (true, b),
        other => (false, format!("{other:?}")),
    };
    let limit_stats: HashMap<(String, LimitReason, bool), u64> = shared
        .store
        .lock()
        .limit_stats()
        .map(|(f, r, folded, n)| ((f.to_string(), r, folded), n))
        .collect();
    let series_now = shared.store.lock().series_count();
    eprintln!(
        "attack: {EVENTS} events in {sent} datagrams in {:.2}s; {answered} scrapes answered, \
         {failed} failed, slowest {worst:.3}s; live series max {max_series}, now {series_now} \
         (limit {MAX_SERIES}); RSS before {} KiB, after {} KiB, peak (VmHWM) {} KiB",
        elapsed.as_secs_f64(),
        rss_before,
        rss_after,
        hwm
    );

    // /metrics kept answering.
    assert!(final_body_ok, "{final_body}");
    assert_eq!(failed, 0, "scrapes failed");
    assert!(answered >= 1);
    assert_eq!(shared.telemetry.udp_packets.get(), sent, "no datagram lost");

    // Accounting, per family. `events` per family and what the store did.
    let mut unique_live = 0usize;
    let mut per_family: HashMap<&str, (usize, usize, f64, f64)> = HashMap::new(); // series, overflow, value sum, count sum
    for f in &snapshot {
        if f.name.starts_with("atk_c_")
            || f.name.starts_with("atk_g_")
            || f.name.starts_with("atk_t_")
        {
            assert_eq!(f.series.len(), 1);
            unique_live += 1;
            continue;
        }
        let e = per_family.entry(&*f.name).or_default();
        for s in &f.series {
            e.0 += 1;
            if s.labels.iter().any(|(_, v)| v == OVERFLOW) {
                e.1 += 1;
            }
            match &s.value {
                SnapValue::Single(v) => e.2 += v,
                SnapValue::Summary(s) => {
                    e.2 += s.sum;
                    e.3 += s.count;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    // Names never seen before: created while there was room, then refused
    // at the global limit (a new family has no overflow series to fold into)
    // and counted under `__overflow__`.
    let dropped_new = limit_stats
        .get(&(OVERFLOW.to_string(), LimitReason::MaxSeries, false))
        .copied()
        .unwrap_or(0) as usize;
    assert!(unique_live > 0 && dropped_new > 0);
    assert_eq!(unique_live + dropped_new, EVENTS / 2, "unique names");

    for (t, (name, kind, value)) in TAGGED.iter().enumerate() {
        let events = tagged_events(t);
        let &(series, overflow, total, count) = per_family.get(name).expect(name);
        let folded: u64 = limit_stats
            .iter()
            .filter(|((f, _, folded), _)| f == name && *folded)
            .map(|(_, n)| n)
            .sum();
        let dropped: u64 = limit_stats
            .iter()
            .filter(|((f, _, folded), _)| f == name && !*folded)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(dropped, 0, "{name}: fold mode drops nothing here");
        assert!(
            (1..=MAX_OVERFLOW_SERIES).contains(&overflow),
            "{name}: {overflow}"
        );
        // Every event created a regular series (its task_id is new) or folded.
        assert_eq!(series - overflow + folded as usize, events, "{name}");
        match *kind {
            // Counter totals are exact: sum() over the family == what was sent.
            "c" => assert_eq!(total, (events as u64 * *value as u64) as f64, "{name} sum"),
            // Summary counts and sums are exact too.
            "ms" => {
                assert_eq!(count, events as f64, "{name} _count");
                let want = events as f64 * *value as f64 / 1000.0;
                assert!(
                    (total - want).abs() < 1e-6 * want,
                    "{name} _sum {total} != {want}"
                );
            }
            _ => {}
        }
    }
    // The whole attack: created + folded + dropped == events.
    let folded_all: u64 = limit_stats
        .iter()
        .filter(|(k, _)| k.2)
        .map(|(_, n)| n)
        .sum();
    let dropped_all: u64 = limit_stats
        .iter()
        .filter(|(k, _)| !k.2)
        .map(|(_, n)| n)
        .sum();
    let created: usize = unique_live
        + TAGGED
            .iter()
            .map(|(n, ..)| per_family[n].0 - per_family[n].1)
            .sum::<usize>();
    assert_eq!(created + folded_all as usize + dropped_all as usize, EVENTS);
    // The self-metrics say the same as the store.
    let folded_metric: f64 = final_body
        .lines()
        .filter(|l| l.starts_with("statsd_exporter_series_folded_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(folded_metric, folded_all as f64);

    // Memory.
    assert!(
        hwm / 1024 < RSS_BOUND_MIB,
        "peak RSS {} MiB > {RSS_BOUND_MIB} MiB",
        hwm / 1024
    );

    running.stop();
    drop(rt);
}
