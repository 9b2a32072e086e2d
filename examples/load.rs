//! Load tool for benches/load.sh: sends Airflow-shaped StatsD lines over UDP
//! at a fixed rate or flat out, and measures the raw receive limit of the
//! kernel with a bare `recvmmsg` drain loop.
//!
//! ```text
//! cargo run --release --example load -- send --target=127.0.0.1:9125 --rate=100000 --duration=10
//! cargo run --release --example load -- drain --listen=127.0.0.1:9999 --duration=10
//! ```
//!
//! `send` flags:
//!   --target=HOST:PORT        where to send (default 127.0.0.1:9125)
//!   --rate=LINES_PER_S        0 = flat out (default 0)
//!   --duration=SECS           how long to send (default 10)
//!   --lines-per-datagram=K    lines packed per datagram, joined by \n (default 1)
//!   --source=sim|wide|FILE.jsonl   the simulator (default), every series of a wide
//!                             deployment once (simulate::wide_store_lines: ~72k series
//!                             through the chart mapping), or a corpus capture (tests/data/corpus)
//!   --dags=N --tasks=N        simulator size (default 50 × 20)
//!   --pool-lines=N            distinct lines generated, then replayed in a loop (default 200000)
//!   --sockets=N               source sockets, round-robin per batch (default 1; SO_REUSEPORT
//!                             spreads senders, not datagrams, over the exporter's readers)
//! `drain` flags:
//!   --listen=HOST:PORT  --duration=SECS (counted from the first datagram)  --read-buffer=BYTES
//!
//! Each prints one `key=value ...` line on stdout at the end.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders, SockaddrStorage,
};

const BATCH: usize = 64;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let key = format!("--{name}=");
    args.iter().rev().find_map(|a| a.strip_prefix(&key))
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match arg(args, name) {
        Some(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("--{name}={v}: not a number")),
        None => default,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("send") => send(&args[1..]),
        Some("drain") => drain(&args[1..]),
        _ => {
            eprintln!("usage: load send|drain [--flag=value ...] (see examples/load.rs)");
            std::process::exit(2);
        }
    }
}

/// Lines from the simulator (50 DAGs × 20 tasks by default) or a capture.
fn source_lines(args: &[String]) -> Vec<Vec<u8>> {
    let pool: u64 = num(args, "pool-lines", 200_000);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut push_datagram = |data: &[u8]| {
        for l in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines.push(l.to_vec());
        }
    };
    match arg(args, "source").unwrap_or("sim") {
        "sim" => {
            let cfg = airflow_statsd_exporter::simulate::SimConfig {
                dags: num(args, "dags", 50),
                tasks: num(args, "tasks", 20),
                count: Some(pool),
                ..Default::default()
            };
            airflow_statsd_exporter::simulate::generate(&cfg, &mut |d| push_datagram(d.data));
        }
        "wide" => {
            for l in airflow_statsd_exporter::simulate::wide_store_lines() {
                push_datagram(l.as_bytes());
            }
        }
        file => {
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            for row in text.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(row).expect("jsonl row");
                if let Some(d) = v.get("data").and_then(|d| d.as_str()) {
                    push_datagram(d.as_bytes());
                }
            }
        }
    }
    assert!(!lines.is_empty(), "no lines to send");
    lines
}

fn send(args: &[String]) {
    let target: SocketAddr = arg(args, "target")
        .unwrap_or("127.0.0.1:9125")
        .parse()
        .expect("--target=HOST:PORT");
    let rate: f64 = num(args, "rate", 0.0);
    let duration = Duration::from_secs_f64(num(args, "duration", 10.0));
    let per: usize = num(args, "lines-per-datagram", 1usize).max(1);
    let sockets: usize = num(args, "sockets", 1usize).max(1);

    let lines = source_lines(args);
    // Pack `per` lines per datagram; keep each datagram's line count.
    let datagrams: Vec<(Vec<u8>, u64)> = lines
        .chunks(per)
        .map(|c| (c.join(&b'\n'), c.len() as u64))
        .collect();
    let socks: Vec<UdpSocket> = (0..sockets)
        .map(|_| {
            let bind: SocketAddr = if target.is_ipv4() {
                "0.0.0.0:0".parse().unwrap()
            } else {
                "[::]:0".parse().unwrap()
            };
            let s = UdpSocket::bind(bind).expect("bind sender");
            s.connect(target).expect("connect");
            let _ = setsockopt(&s, sockopt::SndBuf, &(4 << 20));
            s
        })
        .collect();

    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let addrs: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
    let dgram_rate = rate / (lines.len() as f64 / datagrams.len() as f64);
    let (mut next, mut sent_dgrams, mut sent_lines, mut errors) = (0usize, 0u64, 0u64, 0u64);
    let mut turn = 0usize;
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let want = if rate > 0.0 {
            let due = (dgram_rate * elapsed.as_secs_f64()) as u64;
            if due <= sent_dgrams {
                let ahead = (sent_dgrams + 1 - due) as f64 / dgram_rate;
                std::thread::sleep(Duration::from_secs_f64(ahead.min(0.001)));
                continue;
            }
            ((due - sent_dgrams) as usize).min(BATCH)
        } else {
            BATCH
        };
        let batch: Vec<[IoSlice<'_>; 1]> = (0..want)
            .map(|i| [IoSlice::new(&datagrams[(next + i) % datagrams.len()].0)])
            .collect();
        let sock = &socks[turn % socks.len()];
        turn += 1;
        match sendmmsg(
            sock.as_raw_fd(),
            &mut headers,
            batch.iter(),
            &addrs[..want],
            [],
            MsgFlags::empty(),
        ) {
            Ok(res) => {
                let n = res.count();
                for i in 0..n {
                    sent_lines += datagrams[(next + i) % datagrams.len()].1;
                }
                sent_dgrams += n as u64;
                next = (next + n) % datagrams.len();
            }
            // ECONNREFUSED (nobody listening yet) or ENOBUFS: count and go on.
            Err(_) => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent_datagrams={sent_dgrams} sent_lines={sent_lines} seconds={secs:.3} \
         lines_per_s={:.0} datagrams_per_s={:.0} send_errors={errors} pool_lines={}",
        sent_lines as f64 / secs,
        sent_dgrams as f64 / secs,
        lines.len()
    );
}

/// A bare `recvmmsg` loop: the most a single reader can take from the kernel.
fn drain(args: &[String]) {
    let listen = arg(args, "listen").unwrap_or("127.0.0.1:9125");
    let duration = Duration::from_secs_f64(num(args, "duration", 10.0));
    let read_buffer: usize = num(args, "read-buffer", 8usize << 20);
    let sock = UdpSocket::bind(listen).expect("bind drain socket");
    if setsockopt(&sock, sockopt::RcvBufForce, &read_buffer).is_err() {
        let _ = setsockopt(&sock, sockopt::RcvBuf, &read_buffer);
    }
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    println!("ready listen={}", sock.local_addr().unwrap());
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; 65_535]).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let (mut datagrams, mut lines, mut bytes) = (0u64, 0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut idle_since = Instant::now();
    loop {
        if let Some(f) = first {
            if f.elapsed() >= duration {
                break;
            }
        } else if idle_since.elapsed() > Duration::from_secs(60) {
            break;
        }
        let received: nix::Result<Vec<usize>> = {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
                .iter_mut()
                .map(|b| [IoSliceMut::new(b.as_mut_slice())])
                .collect();
            recvmmsg(
                sock.as_raw_fd(),
                &mut headers,
                iovs.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            )
            .map(|res| res.map(|m| m.bytes).collect())
        };
        let Ok(got) = received else {
            idle_since = Instant::now();
            continue;
        };
        first.get_or_insert_with(Instant::now);
        for (n, b) in got.iter().zip(&bufs) {
            datagrams += 1;
            bytes += *n as u64;
            // Count lines as the exporter would split them.
            lines += 1 + b[..*n].iter().filter(|&&c| c == b'\n').count() as u64;
        }
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64()).max(1e-9);
    println!(
        "received_datagrams={datagrams} received_lines={lines} bytes={bytes} seconds={secs:.3} \
         datagrams_per_s={:.0} lines_per_s={:.0}",
        datagrams as f64 / secs,
        lines as f64 / secs
    );
}
