//! `--statsd.relay.address`: forwards every received line, unchanged, to
//! another StatsD over UDP, packed into packets of at most
//! `--statsd.relay.packet-length` bytes. Never blocks ingestion: when the
//! queue is full the line is dropped and counted.

use std::net::UdpSocket;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::parser::split_lines;
use crate::telemetry::RelayStats;

/// Lines waiting for the relay thread; beyond this they are dropped.
const QUEUE_LINES: usize = 10_000;
/// statsd_exporter flushes a partly filled packet at least this often.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

pub struct Relay {
    tx: SyncSender<Box<[u8]>>,
    stats: Arc<RelayStats>,
    packet_length: usize,
}

impl Relay {
    /// Resolves `target` and starts the sender thread.
    pub fn start(
        target: &str,
        packet_length: usize,
        stats: Arc<RelayStats>,
    ) -> std::io::Result<Relay> {
        let socket = UdpSocket::bind(if target.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        })?;
        socket.connect(target)?;
        let (tx, rx) = sync_channel::<Box<[u8]>>(QUEUE_LINES);
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name(format!("relay {target}"))
            .spawn(move || {
                let mut packet: Vec<u8> = Vec::with_capacity(packet_length);
                let mut last_flush = Instant::now();
                let flush = |packet: &mut Vec<u8>| {
                    if !packet.is_empty() {
                        // UDP send errors (no listener) are not fatal: keep relaying.
                        let _ = socket.send(packet);
                        thread_stats.packets.inc();
                        packet.clear();
                    }
                };
                loop {
                    match rx.recv_timeout(FLUSH_INTERVAL) {
                        Ok(line) => {
                            if !packet.is_empty() && packet.len() + 1 + line.len() > packet_length {
                                flush(&mut packet);
                                last_flush = Instant::now();
                            }
                            if !packet.is_empty() {
                                packet.push(b'\n');
                            }
                            packet.extend_from_slice(&line);
                            thread_stats.lines_relayed.inc();
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            flush(&mut packet);
                            return;
                        }
                    }
                    if last_flush.elapsed() >= FLUSH_INTERVAL {
                        flush(&mut packet);
                        last_flush = Instant::now();
                    }
                }
            })?;
        Ok(Relay {
            tx,
            stats,
            packet_length,
        })
    }

    pub fn send_lines(&self, data: &[u8]) {
        for line in split_lines(data) {
            if line.len() > self.packet_length {
                self.stats.long_lines.inc();
                continue;
            }
            match self.tx.try_send(line.into()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.stats.lines_dropped.inc();
                }
            }
        }
    }
}
