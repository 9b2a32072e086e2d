//! Shared by the integration tests: a minimal HTTP/1.1 client and polling
//! `/metrics` for a condition with a deadline (never sleeps as sync).
#![allow(dead_code)] // each test crate uses a subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use airflow_statsd_exporter::app::{self, Running};
use airflow_statsd_exporter::cli::Config;

/// An exporter started in-process on loopback ports, stopped on drop.
pub struct Harness {
    _rt: tokio::runtime::Runtime,
    pub running: Option<Running>,
    pub http: SocketAddr,
    /// Holds the Unix sockets and mapping files of the test.
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// Starts with the config `make` builds for a fresh temporary directory.
    pub fn start(make: impl FnOnce(&Path) -> Config) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let config = make(dir.path());
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
            dir,
        }
    }

    pub fn running(&self) -> &Running {
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

pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Http {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Http {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn request(addr: SocketAddr, method: &str, path: &str, extra_headers: &str) -> Http {
    let mut s = TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 0\r\n{extra_headers}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read http");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers[9..12].parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Http {
        status,
        headers,
        body,
    }
}

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
}

pub fn scrape(addr: SocketAddr) -> String {
    let r = request(addr, "GET", "/metrics", "");
    assert_eq!(r.status, 200);
    r.text()
}

/// Polls `/metrics` until `cond` holds; panics with the last scrape otherwise.
pub fn wait_for(addr: SocketAddr, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + DEADLINE;
    loop {
        let body = scrape(addr);
        if cond(&body) {
            return body;
        }
        if Instant::now() > end {
            panic!("timed out waiting for {what}; last scrape:\n{body}");
        }
        std::thread::yield_now();
    }
}

/// The value of one sample line (`name{labels}` exactly as exposed).
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
