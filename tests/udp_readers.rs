//! The batched datagram readers over real sockets: several UDP readers on one
//! port (SO_REUSEPORT), truncated Unix datagrams, and the receive-buffer
//! self-metrics. Every wait polls `/metrics` until a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use airflow_statsd_exporter::app::{self, Running};
use airflow_statsd_exporter::cli::Config;

const DEADLINE: Duration = Duration::from_secs(10);

fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read http");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    raw
}

fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn wait_for(addr: SocketAddr, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + DEADLINE;
    loop {
        let body = scrape(addr);
        if cond(&body) {
            return body;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; last scrape:\n{body}"
        );
        std::thread::yield_now();
    }
}

struct Harness {
    _rt: tokio::runtime::Runtime,
    running: Option<Running>,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn start(tweak: impl FnOnce(&mut Config, &std::path::Path)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            web_listen_addresses: vec!["127.0.0.1:0".into()],
            statsd_listen_udp: Some("127.0.0.1:0".into()),
            statsd_listen_tcp: None,
            ..Config::default()
        };
        tweak(&mut config, dir.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = rt.block_on(app::start(&config)).expect("start");
        let http = running.bound().http[0];
        Harness {
            _rt: rt,
            running: Some(running),
            http,
            _dir: dir,
        }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

#[test]
fn two_reuseport_readers_receive_every_line() {
    let h = Harness::start(|c, _| c.udp_readers = 2);
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
    let h = Harness::start(|c, dir| {
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
