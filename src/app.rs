//! Wiring: builds the shared state from the configuration, binds every
//! listener, serves HTTP, and handles reloads, signals and shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::cli::{CacheKind, Config, Profile};
use crate::exposition::{self, Format};
use crate::ingest::Shared;
use crate::listener;
use crate::mapping::{CacheType, Mapper};
use crate::parser::ParseOptions;
use crate::relay::Relay;
use crate::store::{LimitAction, Limits, Store};
use crate::telemetry::StoreFigures;

/// Web settings the handlers read.
#[derive(Clone, Debug)]
pub struct WebSettings {
    pub telemetry_path: String,
    pub enable_lifecycle: bool,
    pub enable_openmetrics: bool,
}

/// Where the sockets really ended up (port 0 resolved).
#[derive(Clone, Debug, Default)]
pub struct Bound {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub unixgram: Vec<PathBuf>,
    pub unixstream: Vec<PathBuf>,
    pub http: Vec<SocketAddr>,
}

pub struct App {
    pub shared: Arc<Shared>,
    pub settings: WebSettings,
    mapping_path: Option<PathBuf>,
    /// SHA-256 of the mapping file content the running mapping came from.
    loaded_digest: Mutex<Option<[u8; 32]>>,
    ready: AtomicBool,
    /// Datagram readers stop (after draining) when set.
    stop: Arc<AtomicBool>,
    /// Stream listeners stop accepting and connections drain when `true`.
    stopping: tokio::sync::watch::Sender<bool>,
    shutdown: Notify,
    udp_inodes: Mutex<Vec<u64>>,
    bound: Mutex<Bound>,
    /// The last `/metrics` body's length: the next one starts with room for
    /// it (growing a multi-megabyte body by doubling copies it each time).
    last_body_len: AtomicUsize,
}

/// Loads the mapping file (if any) from one read, with the SHA-256 of the
/// bytes it was parsed from.
pub fn load_mapper(path: Option<&PathBuf>) -> anyhow::Result<(Mapper, Option<[u8; 32]>)> {
    let Some(p) = path else {
        return Ok((Mapper::empty(), None));
    };
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not valid UTF-8: {e}", p.display()))?;
    let mapper = Mapper::from_yaml_str(text, &p.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((mapper, Some(digest)))
}

/// The cardinality limits the flags select.
pub fn limits(config: &Config) -> Limits {
    Limits {
        max_series: config.max_series,
        max_series_per_family: config.max_series_per_family,
        max_label_values: config.max_label_values,
        max_label_value_length: config.max_label_value_length,
        max_labels: config.max_labels,
        action: if config.limit_action_drop {
            LimitAction::Drop
        } else {
            LimitAction::Fold
        },
    }
}

/// Whether the built-in Airflow profile is on (see `--statsd.profile`).
pub fn airflow_profile(config: &Config) -> bool {
    match config.profile {
        Profile::Auto => config.mapping_config.is_none(),
        Profile::Airflow => true,
        Profile::None => false,
    }
}

/// The parser switches the flags select.
pub fn parse_options(config: &Config) -> ParseOptions {
    ParseOptions {
        dogstatsd_tags: config.parse_dogstatsd_tags,
        influxdb_tags: config.parse_influxdb_tags,
        librato_tags: config.parse_librato_tags,
        signalfx_tags: config.parse_signalfx_tags,
        container_id_label: config.container_id_label,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

use crate::telemetry::unix_now;

impl App {
    pub fn new(config: &Config) -> anyhow::Result<App> {
        let (mapper, digest) = load_mapper(config.mapping_config.as_ref())?;
        for w in mapper.warnings() {
            tracing::warn!(warning = %w, "mapping configuration");
        }
        let parse = parse_options(config);
        let cache_type = match config.cache_type {
            CacheKind::Lru => CacheType::Lru,
            CacheKind::Random => CacheType::Random,
        };
        let rules = mapper.rules().len();
        let mut shared = Shared::new(
            mapper,
            Store::new(config.set_window).with_limits(limits(config)),
            parse,
            config.cache_size,
            cache_type,
        );
        shared.default_ttl = config.default_ttl;
        if airflow_profile(config) {
            shared = shared.with_airflow(&config.airflow_prefix);
        }
        for target in &config.relay_addresses {
            let stats = shared.telemetry.add_relay(target);
            let relay = Relay::start(target, config.relay_packet_length, stats)
                .with_context(|| format!("--statsd.relay.address={target}"))?;
            shared.relays.push(relay);
        }
        let t = &shared.telemetry;
        t.loaded_mappings.set(rules as i64);
        t.last_reload_successful.set(1);
        t.last_reload_success_timestamp.set(unix_now());
        *t.config_hash.lock() = digest.map(|d| hex(&d)).unwrap_or_default();
        Ok(App {
            shared: Arc::new(shared),
            settings: WebSettings {
                telemetry_path: config.web_telemetry_path.clone(),
                enable_lifecycle: config.web_enable_lifecycle,
                enable_openmetrics: config.web_enable_openmetrics,
            },
            mapping_path: config.mapping_config.clone(),
            loaded_digest: Mutex::new(digest),
            last_body_len: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            stop: Arc::new(AtomicBool::new(false)),
            stopping: tokio::sync::watch::Sender::new(false),
            shutdown: Notify::new(),
            udp_inodes: Mutex::new(Vec::new()),
            bound: Mutex::new(Bound::default()),
        })
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn bound(&self) -> Bound {
        self.bound.lock().clone()
    }

    pub fn loaded_digest(&self) -> Option<[u8; 32]> {
        *self.loaded_digest.lock()
    }

    pub fn request_shutdown(&self) {
        self.shutdown.notify_one();
    }

    /// Re-reads the mapping file. A bad file keeps the running mapping.
    pub fn reload(&self) -> Result<usize, String> {
        let t = &self.shared.telemetry;
        let Some(path) = &self.mapping_path else {
            t.reloads_success.inc();
            return Ok(self.shared.mapper().rules().len());
        };
        match load_mapper(Some(path)) {
            Ok((mapper, digest)) => {
                let n = mapper.rules().len();
                for w in mapper.warnings() {
                    tracing::warn!(warning = %w, "mapping configuration");
                }
                self.shared.set_mapper(mapper);
                t.reloads_success.inc();
                t.loaded_mappings.set(n as i64);
                t.last_reload_successful.set(1);
                t.last_reload_success_timestamp.set(unix_now());
                *t.config_hash.lock() = digest.map(|d| hex(&d)).unwrap_or_default();
                *self.loaded_digest.lock() = digest;
                tracing::info!(file = %path.display(), mappings = n, "mapping configuration reloaded");
                Ok(n)
            }
            Err(e) => {
                t.reloads_failure.inc();
                t.last_reload_successful.set(0);
                tracing::error!(error = %e, "mapping reload failed; keeping the running configuration");
                Err(e.to_string())
            }
        }
    }

    /// Builds the `/metrics` body: a snapshot under a short lock, then
    /// sorting and formatting without it.
    pub fn render_metrics(&self, format: Format) -> String {
        let start = Instant::now();
        let t = &self.shared.telemetry;
        t.udp_kernel_drops.store(
            listener::kernel_udp_drops(&self.udp_inodes.lock()),
            Ordering::Relaxed,
        );
        let hint = self.last_body_len.load(Ordering::Relaxed);
        let out = render_shared(&self.shared, Instant::now(), format, hint + hint / 8);
        self.last_body_len.store(out.len(), Ordering::Relaxed);
        t.scrape_duration_seconds.set(start.elapsed().as_secs_f64());
        out
    }

    pub fn landing_page(&self) -> String {
        let b = self.bound();
        let mapper = self.shared.mapper();
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut listeners = String::new();
        for a in &b.udp {
            listeners.push_str(&format!("<li>StatsD UDP {a}</li>"));
        }
        for a in &b.tcp {
            listeners.push_str(&format!("<li>StatsD TCP {a}</li>"));
        }
        for p in &b.unixgram {
            listeners.push_str(&format!(
                "<li>StatsD Unix datagram {}</li>",
                esc(&p.display().to_string())
            ));
        }
        for p in &b.unixstream {
            listeners.push_str(&format!(
                "<li>StatsD Unix stream {}</li>",
                esc(&p.display().to_string())
            ));
        }
        let mapping = match &self.mapping_path {
            Some(p) => format!(
                "{} ({} rules, sha256 {})",
                esc(&p.display().to_string()),
                mapper.rules().len(),
                self.shared.telemetry.config_hash.lock()
            ),
            None => "none (names are escaped as statsd_exporter escapes them)".to_string(),
        };
        let path = esc(&self.settings.telemetry_path);
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>airflow-statsd-exporter</title></head>\
<body><h1>airflow-statsd-exporter {version}</h1>\
<p>StatsD to Prometheus for Apache Airflow; a drop-in for prometheus/statsd_exporter.</p>\
<ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li>\
<li><a href=\"/-/ready\">Readiness</a></li>\
<li><a href=\"/cardinality\">Cardinality</a> (<a href=\"/cardinality.json\">JSON</a>): series by family and label, limits</li></ul>\
<h2>Listeners</h2><ul>{listeners}</ul><h2>Mapping</h2><p>{mapping}</p></body></html>\n",
            version = env!("CARGO_PKG_VERSION"),
        )
    }
}

/// The `/metrics` body of `shared` at `now`: a store snapshot under a short
/// lock, the self-metrics, and with the Airflow profile its liveness and
/// self families; sorted and formatted after the lock is released. (The fuzz
/// targets render through this too.)
///
/// A scrape shows whole batches: each batch holds `Shared::batches` shared
/// from parsing to its last counter, and the self-metrics and the store are
/// read while it is held exclusively, so the samples a scrape shows and the
/// packets, lines and errors it counts agree. The process figures are read
/// after the gate is released (they are I/O).
pub fn render_shared(shared: &Shared, now: Instant, format: Format, capacity: usize) -> String {
    let (own, raw) = {
        let _whole = shared.batches.write();
        let (figures, raw) = {
            let mut store = shared.store.lock();
            (StoreFigures::of(&store), store.snapshot_raw(now))
        };
        (shared.telemetry.counter_families(&figures), raw)
    };
    let mut families = raw.into_shared_families();
    families.extend(own);
    families.extend(shared.telemetry.process_families());
    if let Some(model) = &shared.airflow {
        // Liveness comes from the profile's heartbeat families; without
        // the profile the output stays statsd_exporter's.
        families.extend(shared.liveness.lock().families(now));
        families.extend(crate::airflow::self_families(model));
        // A gauge named `_total` (statsd_exporter compatibility) fails
        // promtool; the profile's output is promtool-clean.
        families.retain(|f| &*f.name != "statsd_exporter_metrics_total");
    }
    exposition::sort_families(&mut families);
    let mut out = String::with_capacity(capacity);
    exposition::render_into(&mut out, &families, format);
    out
}

/// A started exporter: every socket bound, every task running.
pub struct Running {
    pub app: Arc<App>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn bound(&self) -> Bound {
        self.app.bound()
    }

    /// Waits for `/-/quit` (or `request_shutdown`).
    pub async fn wait_for_quit(&self) {
        self.app.shutdown.notified().await;
    }

    /// Stops receiving: stream listeners stop accepting and their
    /// connections, like the datagram readers, ingest what is already queued
    /// (for at most `listener::DRAIN_LIMIT`). Waits for the datagram readers.
    pub fn stop_receiving(&mut self) {
        self.app.stop.store(true, Ordering::Relaxed);
        self.app.stopping.send_replace(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Stops receiving and waits for the datagram readers to finish.
    pub fn stop(mut self) {
        self.stop_receiving();
    }
}

/// Binds everything and starts serving. Must run inside a tokio runtime.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    let app = Arc::new(App::new(config)?);
    let web = crate::web::WebServer::new(
        config.web_config_file.clone(),
        crate::web::WebLimits {
            read_header_timeout: config.web_read_header_timeout,
            max_header_bytes: config.web_max_header_bytes,
            request_timeout: config.web_request_timeout,
            max_requests: config.web_max_requests,
            max_connections: config.web_max_connections,
        },
        config.web_telemetry_path.clone(),
        app.shared.clone(),
    )
    .map_err(|e| anyhow::anyhow!("--web.config.file: {e}"))?;
    let shared = app.shared.clone();
    let mut bound = Bound::default();
    let mut threads = Vec::new();

    if let Some(addr) = &config.statsd_listen_udp {
        let readers = listener::udp_readers(config.udp_readers);
        let group = listener::bind_udp_group(addr, config.read_buffer, readers)
            .with_context(|| format!("--statsd.listen-udp={addr}"))?;
        bound.udp.push(group[0].local_addr);
        for (i, l) in group.iter().enumerate() {
            app.udp_inodes.lock().push(l.inode);
            let name = match group.len() {
                1 => format!("udp {}", l.local_addr),
                _ => format!("udp {} #{i}", l.local_addr),
            };
            listener::report_receive_buffer(
                &shared.telemetry,
                &name,
                config.read_buffer,
                l.receive_buffer,
            );
        }
        threads.extend(listener::spawn_udp_group(
            group,
            shared.clone(),
            app.stop.clone(),
        )?);
    }
    if let Some(path) = &config.statsd_listen_unixgram {
        let l = listener::bind_unixgram(path, config.statsd_unixsocket_mode, config.read_buffer)
            .with_context(|| format!("--statsd.listen-unixgram={}", path.display()))?;
        bound.unixgram.push(path.clone());
        listener::report_receive_buffer(
            &shared.telemetry,
            &format!("unixgram {}", path.display()),
            config.read_buffer,
            l.receive_buffer,
        );
        threads.push(listener::spawn_unixgram(
            l,
            shared.clone(),
            app.stop.clone(),
        )?);
    }
    let streams = listener::StreamContext::new(
        shared.clone(),
        config.tcp_max_connections,
        config.max_line_length,
        app.stopping.subscribe(),
    );
    if let Some(addr) = &config.statsd_listen_tcp {
        let l = listener::bind_tcp(addr).with_context(|| format!("--statsd.listen-tcp={addr}"))?;
        bound.tcp.push(l.local_addr()?);
        tokio::spawn(listener::serve_tcp(
            tokio::net::TcpListener::from_std(l)?,
            streams.clone(),
        ));
    }
    if let Some(path) = &config.statsd_listen_unixstream {
        let l = listener::bind_unixstream(path, config.statsd_unixsocket_mode)
            .with_context(|| format!("--statsd.listen-unixstream={}", path.display()))?;
        bound.unixstream.push(path.clone());
        tokio::spawn(listener::serve_unixstream(
            tokio::net::UnixListener::from_std(l)?,
            streams,
        ));
    }
    for addr in &config.web_listen_addresses {
        let l = listener::bind_tcp(addr).with_context(|| format!("--web.listen-address={addr}"))?;
        bound.http.push(l.local_addr()?);
        let l = tokio::net::TcpListener::from_std(l)?;
        let router = crate::http::router(app.clone());
        // Plain HTTP or TLS per --web.config.file, with the HTTP limits.
        tokio::spawn(web.clone().serve(l, router));
    }
    *app.bound.lock() = bound.clone();

    // TTL sweep, once a second as in statsd_exporter.
    let sweeper = shared.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let sweep = sweeper.store.lock().sweep(Instant::now());
            sweeper
                .telemetry
                .series_expired
                .inc_by(sweep.series_expired as u64);
        }
    });
    if let (Some(path), false) = (
        &config.mapping_config,
        config.mapping_watch_interval.is_zero(),
    ) {
        tokio::spawn(crate::watch::watch_mapping(
            app.clone(),
            path.clone(),
            config.mapping_watch_interval,
        ));
    }
    app.ready.store(true, Ordering::Release);
    tracing::info!(
        udp = ?bound.udp, tcp = ?bound.tcp, unixgram = ?bound.unixgram,
        unixstream = ?bound.unixstream, web = ?bound.http,
        mappings = app.shared.mapper().rules().len(),
        "airflow-statsd-exporter ready"
    );
    Ok(Running { app, threads })
}

/// Runs until SIGTERM/SIGINT or `/-/quit`; SIGHUP reloads the mapping.
///
/// SIGTERM/SIGINT shut down gracefully: stop receiving, ingest what is
/// queued, keep serving `/metrics` for `--web.shutdown-grace-period` so the
/// last values can be scraped, exit 0. A second signal (or `/-/quit`) ends
/// the grace period at once.
pub async fn run(config: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handlers first: a signal right after "ready" must not kill the process.
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut running = start(&config).await?;
    let app = running.app.clone();
    let graceful = loop {
        tokio::select! {
            _ = hup.recv() => {
                let app = app.clone();
                let _ = tokio::task::spawn_blocking(move || app.reload()).await;
            }
            _ = term.recv() => break true,
            _ = int.recv() => break true,
            _ = running.wait_for_quit() => break false,
        }
    };
    let grace = config.shutdown_grace_period;
    if !graceful || grace.is_zero() {
        tracing::info!("shutting down");
        tokio::task::spawn_blocking(move || running.stop()).await?;
        return Ok(());
    }
    tracing::info!(
        grace_period = ?grace,
        "shutting down: stopped receiving; serving /metrics until the grace period ends (signal again to exit now)"
    );
    let running = tokio::task::spawn_blocking(move || {
        running.stop_receiving();
        running
    })
    .await?;
    tracing::info!("queued data ingested");
    tokio::select! {
        _ = tokio::time::sleep(grace) => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = running.wait_for_quit() => {}
    }
    tracing::info!("grace period over; exiting");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Origin, Shared};
    use crate::mapping::Mapper;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    fn value(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// A scrape shows whole batches: a batch's samples, its error counts
    /// and its packet count together, or none of them. The reader sends one
    /// good and one invalid-UTF-8 line per datagram and counts the packet
    /// after applying it, as the listeners do. Before the batch gate, every
    /// run failed within a few scrapes: with the self-metrics read first a
    /// scrape showed samples whose errors were not counted yet (the sockets
    /// test caught that in CI), read last it counted packets it did not show.
    #[test]
    fn a_scrape_shows_a_batch_and_its_counts_together() {
        let shared = Arc::new(Shared::for_tests(Mapper::empty()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut ingester = shared.ingester();
                let origin = Origin::default();
                while !stop.load(Ordering::Relaxed) {
                    ingester.ingest_counted(&[(b"\xff:1|c\nx:1|c", origin)], Instant::now(), |t| {
                        t.udp_packets.inc();
                    });
                }
            })
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut scrapes = 0;
        let mut broken = None;
        while Instant::now() < deadline && scrapes < 3000 {
            let text = render_shared(&shared, Instant::now(), Format::Text, 0);
            let seen = (
                value(&text, "statsd_exporter_udp_packets_total"),
                value(&text, "x"),
                value(
                    &text,
                    "statsd_exporter_sample_errors_total{reason=\"invalid_utf8\"}",
                ),
            );
            if seen.0 != seen.1 || seen.1 != seen.2 {
                broken = Some((scrapes, seen));
                break;
            }
            scrapes += 1;
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().expect("reader");
        assert_eq!(broken, None, "(scrape, (packets, samples, errors))");
        assert!(
            value(
                &render_shared(&shared, Instant::now(), Format::Text, 0),
                "x"
            ) > 0.0
        );
    }
}
