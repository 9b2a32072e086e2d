//! Graceful shutdown of the real binary: SIGTERM stops receiving, ingests
//! what was queued, keeps serving `/metrics` for the grace period, exits 0.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{request, sample, scrape, wait_for, DEADLINE};

struct Exporter {
    child: Child,
    http: SocketAddr,
    udp: SocketAddr,
    tcp: SocketAddr,
    /// stderr lines, read by a thread.
    log: mpsc::Receiver<String>,
}

fn start(grace: &str) -> Exporter {
    // Port 0 everywhere: the ready line says what was bound. (Picking free
    // ports first races with other tests, and "Address already in use"
    // contains "ready".)
    let mut child = Command::new(env!("CARGO_BIN_EXE_airflow-statsd-exporter"))
        .args([
            "--web.listen-address=127.0.0.1:0",
            "--statsd.listen-udp=127.0.0.1:0",
            "--statsd.listen-tcp=127.0.0.1:0",
            &format!("--web.shutdown-grace-period={grace}"),
            "--statsd.profile=none",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the exporter");
    let (tx, log) = mpsc::channel();
    let stderr: ChildStderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut e = Exporter {
        child,
        http: ([0, 0, 0, 0], 0).into(),
        udp: ([0, 0, 0, 0], 0).into(),
        tcp: ([0, 0, 0, 0], 0).into(),
        log,
    };
    let ready = e.wait_log("msg=\"airflow-statsd-exporter ready\"");
    e.http = bound(&ready, "web");
    e.udp = bound(&ready, "udp");
    e.tcp = bound(&ready, "tcp");
    e
}

/// The one address logged as `key=[addr]` in the ready line.
fn bound(line: &str, key: &str) -> SocketAddr {
    let rest = line
        .split_once(&format!(" {key}=["))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .1;
    let addr = &rest[..rest.find(']').unwrap()];
    addr.parse()
        .unwrap_or_else(|e| panic!("{key}={addr:?} in {line:?}: {e}"))
}

impl Exporter {
    /// Waits for a log line containing `what`.
    fn wait_log(&self, what: &str) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(l) if l.contains(what) => return l,
                Ok(l) if l.contains("level=error") => panic!("{l}"),
                Ok(_) => {}
                Err(_) => panic!("no log line containing {what:?} within {DEADLINE:?}"),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits for the process to exit within `within`.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "still running after {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigterm_drains_queued_datagrams_and_serves_metrics_through_the_grace_period() {
    let mut e = start("3s");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A TCP client whose lines arrive before the signal.
    let mut tcp = TcpStream::connect(e.tcp).unwrap();
    tcp.write_all(b"via_tcp:1|c\nvia_tcp:1|c\n").unwrap();
    // A burst, then the signal at once: whatever is still queued in the
    // socket when the readers stop must be ingested.
    const N: usize = 5000;
    for _ in 0..N {
        sender.send_to(b"burst:1|c", e.udp).unwrap();
    }
    e.signal("TERM");
    e.wait_log("stopped receiving");
    e.wait_log("queued data ingested");
    let body = scrape(e.http);
    let kernel_drops = sample(&body, "statsd_exporter_udp_packet_drops_total").unwrap_or(0.0);
    assert_eq!(
        sample(&body, "burst").unwrap_or(0.0) + kernel_drops,
        N as f64,
        "every datagram the kernel queued is ingested"
    );
    assert_eq!(sample(&body, "via_tcp"), Some(2.0), "{body}");

    // Receiving has stopped: new datagrams and connections are not taken.
    sender.send_to(b"late:1|c", e.udp).unwrap();
    let stream_refused = TcpStream::connect(e.tcp).is_err();
    let body = scrape(e.http);
    assert!(!body.contains("\nlate "), "{body}");
    assert!(stream_refused, "the TCP listener is closed");

    // Still serving until the grace period ends, then exit 0.
    assert_eq!(request(e.http, "GET", "/-/healthy", "").status, 200);
    let status = e.wait_exit(Duration::from_secs(3) + DEADLINE);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_second_signal_ends_the_grace_period() {
    let mut e = start("10m");
    e.signal("TERM");
    e.wait_log("stopped receiving");
    wait_for(e.http, "still serving", |m| {
        m.contains("statsd_exporter_build_info")
    });
    e.signal("INT");
    let status = e.wait_exit(DEADLINE);
    assert!(status.success(), "{status:?}");
}

#[test]
fn zero_grace_exits_at_once() {
    let mut e = start("0s");
    e.signal("TERM");
    let status = e.wait_exit(DEADLINE);
    assert!(status.success(), "{status:?}");
}
