//! Serving the web side: plain HTTP or TLS (rustls) on every
//! `--web.listen-address`, basic auth, response headers, and the HTTP
//! limits (header read timeout, header size, request timeout, concurrent
//! scrapes, open connections).
//!
//! The web configuration (`--web.config.file`) and the files it names are
//! re-read when one of them changes (inode, size, mtime or ctime), checked
//! at most once a second when a connection or request arrives. A change
//! that does not load (bad YAML, unreadable or mismatched certificate and
//! key, …) keeps the running configuration, is logged and counted.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use base64::Engine as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::counter::Counter;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::store::{FamilySnapshot, FamilyType};
use crate::web_config::{build_server_config, ConfigError, WebConfig};

/// The HTTP limits the flags set.
#[derive(Clone, Debug)]
pub struct WebLimits {
    /// TLS handshake plus request headers must arrive within this (0 = none).
    pub read_header_timeout: Duration,
    /// Largest request head (HTTP/1 read buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// A request that takes longer gets 503 (0 = none).
    pub request_timeout: Duration,
    /// Concurrent requests on the metrics path; more get 503 (0 = none).
    pub max_requests: usize,
    /// Open connections per process; more wait in the listen backlog (0 = none).
    pub max_connections: usize,
}

impl Default for WebLimits {
    fn default() -> Self {
        WebLimits {
            read_header_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            max_requests: 40,
            max_connections: 512,
        }
    }
}

/// hyper refuses a smaller HTTP/1 buffer.
const MIN_HEADER_BYTES: usize = 8192;

/// Successful basic-auth checks remembered (bcrypt is slow on purpose).
const AUTH_CACHE_SIZE: usize = 256;

// ---------------------------------------------------------------------------
// Self-metrics.
// ---------------------------------------------------------------------------

/// Why a TLS handshake failed (`reason` label).
pub const HANDSHAKE_REASONS: [&str; 8] = [
    "no_client_certificate",
    "bad_client_certificate",
    "peer_alert",
    "incompatible",
    "protocol",
    "timeout",
    "io",
    "other",
];

/// Why a request was refused by basic auth (`reason` label).
pub const AUTH_REASONS: [&str; 4] = ["missing", "malformed", "unknown_user", "wrong_password"];

/// Why a request was answered 503 by a limit (`reason` label).
pub const REJECT_REASONS: [&str; 2] = ["max_requests", "timeout"];

/// Web-side counters; part of [`crate::telemetry::Telemetry`].
#[derive(Debug)]
pub struct WebStats {
    handshake_failures: [Counter; HANDSHAKE_REASONS.len()],
    auth_failures: [Counter; AUTH_REASONS.len()],
    rejected: [Counter; REJECT_REASONS.len()],
    reloads_success: Counter,
    reloads_failure: Counter,
    last_reload_successful: AtomicI64,
}

impl Default for WebStats {
    fn default() -> Self {
        WebStats {
            handshake_failures: Default::default(),
            auth_failures: Default::default(),
            rejected: Default::default(),
            reloads_success: Counter::default(),
            reloads_failure: Counter::default(),
            last_reload_successful: AtomicI64::new(1),
        }
    }
}

fn bump<const N: usize>(counters: &[Counter; N], names: &[&str; N], reason: &str) {
    let i = names.iter().position(|n| *n == reason).unwrap_or(N - 1);
    counters[i].inc();
}

impl WebStats {
    pub fn handshake_failure(&self, reason: &str) {
        bump(&self.handshake_failures, &HANDSHAKE_REASONS, reason);
    }

    pub fn auth_failure(&self, reason: &str) {
        bump(&self.auth_failures, &AUTH_REASONS, reason);
    }

    pub fn rejected(&self, reason: &str) {
        bump(&self.rejected, &REJECT_REASONS, reason);
    }

    pub fn families(&self) -> Vec<FamilySnapshot> {
        fn fam(
            name: &str,
            help: &str,
            kind: FamilyType,
            series: Vec<(Option<(&str, &str)>, f64)>,
        ) -> FamilySnapshot {
            let series = series
                .into_iter()
                .map(|(l, v)| (l.into_iter().collect(), v));
            FamilySnapshot::of_values(name, help, kind, series)
        }
        let by = |key: &'static str, names: &[&'static str], cs: &[Counter]| {
            names
                .iter()
                .zip(cs)
                .map(|(n, c)| (Some((key, *n)), c.get() as f64))
                .collect::<Vec<_>>()
        };
        vec![
            fam(
                "statsd_exporter_web_tls_handshake_failures_total",
                "TLS handshakes on --web.listen-address that failed, by reason.",
                FamilyType::Counter,
                by("reason", &HANDSHAKE_REASONS, &self.handshake_failures),
            ),
            fam(
                "statsd_exporter_web_auth_failures_total",
                "HTTP requests refused with 401 by basic auth (--web.config.file), by reason.",
                FamilyType::Counter,
                by("reason", &AUTH_REASONS, &self.auth_failures),
            ),
            fam(
                "statsd_exporter_web_requests_rejected_total",
                "HTTP requests answered 503 by a limit: --web.max-requests concurrent scrapes, or --web.request-timeout.",
                FamilyType::Counter,
                by("reason", &REJECT_REASONS, &self.rejected),
            ),
            fam(
                "statsd_exporter_web_config_reloads_total",
                "Reloads of --web.config.file and the certificates it names after a change, by outcome.",
                FamilyType::Counter,
                vec![
                    (Some(("outcome", "failure")), self.reloads_failure.get() as f64),
                    (Some(("outcome", "success")), self.reloads_success.get() as f64),
                ],
            ),
            fam(
                "statsd_exporter_web_config_last_reload_successful",
                "Whether the last load of --web.config.file and its certificates succeeded (1) or kept the previous one (0).",
                FamilyType::Gauge,
                vec![(None, self.last_reload_successful.load(Ordering::Relaxed) as f64)],
            ),
        ]
    }
}

// ---------------------------------------------------------------------------
// The server.
// ---------------------------------------------------------------------------

/// One loaded web configuration.
pub struct Loaded {
    pub config: WebConfig,
    acceptor: Option<TlsAcceptor>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Loaded {
    fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
        let Some(path) = path else {
            return Ok(Loaded {
                config: WebConfig::default(),
                acceptor: None,
                headers: Vec::new(),
            });
        };
        let config = WebConfig::load(path)?;
        let acceptor = match &config.tls {
            Some(t) => Some(TlsAcceptor::from(build_server_config(path, t)?)),
            None => None,
        };
        let headers = config
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        Ok(Loaded {
            config,
            acceptor,
            headers,
        })
    }

    pub fn tls(&self) -> bool {
        self.acceptor.is_some()
    }
}

/// Identity of a file as far as change detection goes.
type Stamp = Option<(u64, u64, i64, i64, i64, i64, u64)>;

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f).ok().map(|m| {
                (
                    m.dev(),
                    m.ino(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                    m.size(),
                )
            })
        })
        .collect()
}

struct Watch {
    last_check: Instant,
    files: Vec<PathBuf>,
    stamps: Vec<Stamp>,
}

/// Shared by every listen address.
pub struct WebServer {
    path: Option<PathBuf>,
    limits: WebLimits,
    metrics_path: String,
    shared: Arc<crate::ingest::Shared>,
    state: RwLock<Arc<Loaded>>,
    watch: Mutex<Watch>,
    scrapes: Option<Arc<Semaphore>>,
    connections: Option<Arc<Semaphore>>,
    auth_cache: Mutex<lru::LruCache<[u8; 32], ()>>,
    /// bcrypt checks running at once (each is ~70 ms of CPU at cost 10):
    /// a flood of wrong passwords queues here instead of filling the
    /// blocking pool.
    bcrypt_slots: Semaphore,
}

/// See [`WebServer::bcrypt_slots`].
const BCRYPT_SLOTS: usize = 4;

impl WebServer {
    /// Loads `path` (if any) and checks the certificates; an error here
    /// stops the start.
    pub fn new(
        path: Option<PathBuf>,
        mut limits: WebLimits,
        metrics_path: String,
        shared: Arc<crate::ingest::Shared>,
    ) -> Result<Arc<WebServer>, ConfigError> {
        let loaded = Loaded::load(path.as_deref())?;
        for w in &loaded.config.warnings {
            tracing::warn!(warning = %w, "web configuration");
        }
        if let Some(p) = &path {
            tracing::info!(
                file = %p.display(),
                tls = loaded.tls(),
                basic_auth_users = loaded.config.users.len(),
                "web configuration loaded"
            );
        }
        let files: Vec<PathBuf> = path.iter().cloned().chain(loaded.config.files()).collect();
        limits.max_header_bytes = limits.max_header_bytes.max(MIN_HEADER_BYTES);
        let sem = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        Ok(Arc::new(WebServer {
            path,
            scrapes: sem(limits.max_requests),
            connections: sem(limits.max_connections),
            limits,
            metrics_path,
            shared,
            state: RwLock::new(Arc::new(loaded)),
            watch: Mutex::new(Watch {
                last_check: Instant::now(),
                stamps: stamps(&files),
                files,
            }),
            bcrypt_slots: Semaphore::new(BCRYPT_SLOTS),
            auth_cache: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(AUTH_CACHE_SIZE).expect("non-zero"),
            )),
        }))
    }

    fn stats(&self) -> &WebStats {
        &self.shared.telemetry.web
    }

    /// The configuration in force, re-read first if a watched file changed
    /// (checked at most once a second).
    pub fn current(&self) -> Arc<Loaded> {
        if self.path.is_some() {
            if let Some(mut w) = self.watch.try_lock() {
                if w.last_check.elapsed() >= Duration::from_secs(1) {
                    w.last_check = Instant::now();
                    self.check(&mut w);
                }
            }
        }
        self.state.read().clone()
    }

    fn check(&self, w: &mut Watch) {
        let Some(path) = &self.path else { return };
        let now = stamps(&w.files);
        if now == w.stamps {
            return;
        }
        let tls_before = self.state.read().tls();
        let result = Loaded::load(Some(path)).and_then(|l| {
            if l.tls() != tls_before {
                Err(ConfigError {
                    file: path.clone(),
                    key: "tls_server_config".to_string(),
                    line: None,
                    message: "switching TLS on or off needs a restart".to_string(),
                })
            } else {
                Ok(l)
            }
        });
        let stats = self.stats();
        match result {
            Ok(loaded) => {
                for warning in &loaded.config.warnings {
                    tracing::warn!(warning = %warning, "web configuration");
                }
                let files: Vec<PathBuf> = std::iter::once(path.clone())
                    .chain(loaded.config.files())
                    .collect();
                if files != w.files {
                    w.stamps = stamps(&files);
                    w.files = files;
                } else {
                    w.stamps = now;
                }
                *self.state.write() = Arc::new(loaded);
                stats.reloads_success.inc();
                stats.last_reload_successful.store(1, Ordering::Relaxed);
                tracing::info!(file = %path.display(), "web configuration and certificates reloaded");
            }
            Err(e) => {
                // Remember what failed so it is retried on the next change only.
                w.stamps = now;
                stats.reloads_failure.inc();
                stats.last_reload_successful.store(0, Ordering::Relaxed);
                tracing::error!(error = %e, "web configuration reload failed; keeping the running configuration and certificate");
            }
        }
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, router: Router) {
        loop {
            let permit = match &self.connections {
                Some(s) => match s.clone().acquire_owned().await {
                    Ok(p) => Some(p),
                    Err(_) => return,
                },
                None => None,
            };
            let (stream, _peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "web accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let me = self.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let _permit = permit;
                me.connection(stream, router).await;
            });
        }
    }

    async fn connection(self: Arc<Self>, stream: tokio::net::TcpStream, router: Router) {
        let _ = stream.set_nodelay(true);
        let loaded = self.current();
        let Some(acceptor) = loaded.acceptor.clone() else {
            self.serve_http1(TokioIo::new(stream), router).await;
            return;
        };
        drop(loaded);
        let handshake = acceptor.accept(stream);
        let result = if self.limits.read_header_timeout.is_zero() {
            Ok(handshake.await)
        } else {
            tokio::time::timeout(self.limits.read_header_timeout, handshake).await
        };
        match result {
            Err(_) => self.stats().handshake_failure("timeout"),
            Ok(Err(e)) => {
                let reason = classify_handshake_error(&e);
                tracing::debug!(error = %e, reason, "TLS handshake failed");
                self.stats().handshake_failure(reason);
            }
            Ok(Ok(tls)) => {
                self.serve_http1(TokioIo::new(tls), router).await;
            }
        }
    }

    fn service(
        self: &Arc<Self>,
        router: Router,
    ) -> impl hyper::service::Service<
        Request<Incoming>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl std::future::Future<Output = Result<Response<Body>, Infallible>> + Send,
    > + Clone {
        let me = self.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let me = me.clone();
            let router = router.clone();
            async move { Ok::<_, Infallible>(me.respond(req, router).await) }
        })
    }

    async fn serve_http1<I>(self: Arc<Self>, io: I, router: Router)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .max_buf_size(self.limits.max_header_bytes)
            .header_read_timeout(Some(self.limits.read_header_timeout).filter(|d| !d.is_zero()));
        if let Err(e) = b.serve_connection(io, self.service(router)).await {
            tracing::debug!(error = %e, "http connection ended with an error");
        }
    }

    async fn respond(self: Arc<Self>, req: Request<Incoming>, router: Router) -> Response<Body> {
        let loaded = self.current();
        let mut resp = match self.authorize(&loaded.config.users, req.headers()).await {
            Err(reason) => {
                self.stats().auth_failure(reason);
                let mut r = Response::new(Body::from("Unauthorized\n"));
                *r.status_mut() = StatusCode::UNAUTHORIZED;
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                r
            }
            Ok(()) => self.dispatch(req, router).await,
        };
        for (k, v) in &loaded.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp
    }

    async fn dispatch<B>(&self, req: Request<B>, router: Router) -> Response<Body>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let _permit = if req.uri().path() == self.metrics_path {
            match &self.scrapes {
                Some(s) => match s.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        self.stats().rejected("max_requests");
                        return plain(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!(
                                "Limit of concurrent requests reached ({}), try again later.\n",
                                self.limits.max_requests
                            ),
                        );
                    }
                },
                None => None,
            }
        } else {
            None
        };
        let call = router.oneshot(req.map(Body::new));
        let result = if self.limits.request_timeout.is_zero() {
            call.await
        } else {
            match tokio::time::timeout(self.limits.request_timeout, call).await {
                Ok(r) => r,
                Err(_) => {
                    self.stats().rejected("timeout");
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Request took longer than --web.request-timeout.\n".to_string(),
                    );
                }
            }
        };
        match result {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// Basic auth against the bcrypt hashes; `Err(reason)` when refused.
    async fn authorize(
        &self,
        users: &BTreeMap<String, String>,
        headers: &HeaderMap,
    ) -> Result<(), &'static str> {
        if users.is_empty() {
            return Ok(());
        }
        let value = headers.get(header::AUTHORIZATION).ok_or("missing")?;
        let (user, pass) = parse_basic(value).ok_or("malformed")?;
        let hash = users.get(&user).cloned();
        let mut h = Sha256::new();
        for part in [
            user.as_bytes(),
            pass.as_bytes(),
            hash.as_deref().unwrap_or("").as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        if hash.is_some() && self.auth_cache.lock().get(&key).is_some() {
            return Ok(());
        }
        let known = hash.is_some();
        let Ok(_slot) = self.bcrypt_slots.acquire().await else {
            return Err("wrong_password");
        };
        let ok = tokio::task::spawn_blocking(move || match hash {
            Some(h) => bcrypt::verify(pass, &h).unwrap_or(false),
            None => {
                // Same work for an unknown user, so timing does not tell.
                let _ = bcrypt::verify(pass, dummy_hash());
                false
            }
        })
        .await
        .unwrap_or(false);
        if !known {
            return Err("unknown_user");
        }
        if !ok {
            return Err("wrong_password");
        }
        self.auth_cache.lock().put(key, ());
        Ok(())
    }
}

/// What the `healthcheck` subcommand does (the image's HEALTHCHECK): GET
/// `/-/healthy` on `addr` (`:9102` means the loopback) within 3 s and expect
/// a 200; over TLS when `--web.config.file` sets it up. The server
/// certificate is not verified (the check talks to its own process and only
/// reads a status). With `basic_auth_users` the check has no password: a 401
/// carrying `WWW-Authenticate: Basic` proves the server is up and counts as
/// healthy.
pub fn healthcheck(addr: &str, web_config: Option<&Path>) -> Result<(), String> {
    let config = match web_config {
        None => WebConfig::default(),
        Some(p) => WebConfig::load(p).map_err(|e| e.to_string())?,
    };
    use std::io::{Read, Write};
    let target = match addr.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => addr.to_string(),
    };
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&target)
        .map_err(|e| format!("{target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target}: no address"))?;
    let timeout = Duration::from_secs(3);
    let tcp =
        std::net::TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("{sock}: {e}"))?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!("GET /-/healthy HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    let mut head = Vec::new();
    if config.tls.is_some() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::IpAddress(sock.ip().into());
        let conn =
            rustls::ClientConnection::new(Arc::new(client), name).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(request.as_bytes())
            .map_err(|e| format!("TLS: {e}"))?;
        let _ = tls.read_to_end(&mut head);
    } else {
        let mut tcp = tcp;
        tcp.write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let _ = tcp.read_to_end(&mut head);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text.get(9..12).unwrap_or("");
    let challenged = text.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("www-authenticate: basic")
    });
    match status {
        "200" => Ok(()),
        "401" if challenged && !config.users.is_empty() => Ok(()),
        "" => Err("no HTTP response".to_string()),
        other => Err(format!("status {other}")),
    }
}

/// For [`healthcheck`] only: accepts any server certificate.
#[derive(Debug)]
struct AnyServerCert(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

fn plain(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| bcrypt::hash("not a password", 10).unwrap_or_default())
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let v = value.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The `reason` label of a failed handshake.
fn classify_handshake_error(e: &std::io::Error) -> &'static str {
    use rustls::Error as E;
    let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<E>()) else {
        return "io";
    };
    match inner {
        E::NoCertificatesPresented => "no_client_certificate",
        E::InvalidCertificate(_) => "bad_client_certificate",
        E::AlertReceived(_) => "peer_alert",
        E::PeerIncompatible(_) => "incompatible",
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::PeerMisbehaved(_)
        | E::DecryptError => "protocol",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SnapValue;

    #[test]
    fn basic_header_parsing() {
        let v = HeaderValue::from_static("Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z");
        assert_eq!(
            parse_basic(&v),
            Some(("alice".to_string(), "s3cr3t:with:colons".to_string()))
        );
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer abc")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!!")), None);
        // "nocolon"
        assert_eq!(
            parse_basic(&HeaderValue::from_static("Basic bm9jb2xvbg==")),
            None
        );
    }

    fn server(limits: WebLimits) -> Arc<WebServer> {
        let app = crate::app::App::new(&crate::cli::Config::default()).unwrap();
        WebServer::new(None, limits, "/metrics".into(), app.shared.clone()).unwrap()
    }

    fn rejected(w: &WebServer, reason: &str) -> u64 {
        let i = REJECT_REASONS.iter().position(|r| *r == reason).unwrap();
        w.stats().rejected[i].get()
    }

    /// A router whose /metrics waits until `gate` is notified.
    fn gated_router(gate: Arc<tokio::sync::Notify>) -> Router {
        Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let gate = gate.clone();
                    async move {
                        gate.notified().await;
                        "done"
                    }
                }),
            )
            .route("/other", axum::routing::get(|| async { "other" }))
    }

    fn req(path: &str) -> Request<Body> {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn extra_concurrent_scrapes_get_503_at_once() {
        let w = server(WebLimits {
            max_requests: 1,
            request_timeout: Duration::ZERO,
            ..WebLimits::default()
        });
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = gated_router(gate.clone());
        let first = {
            let (w, router) = (w.clone(), router.clone());
            tokio::spawn(async move { w.dispatch(req("/metrics"), router).await })
        };
        let sem = w.scrapes.clone().unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while sem.available_permits() > 0 {
            assert!(Instant::now() < end, "the first scrape never started");
            tokio::task::yield_now().await;
        }
        let second = w.dispatch(req("/metrics"), router.clone()).await;
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rejected(&w, "max_requests"), 1);
        // Other paths are not limited.
        let other = w.dispatch(req("/other"), router.clone()).await;
        assert_eq!(other.status(), StatusCode::OK);
        gate.notify_one();
        assert_eq!(first.await.unwrap().status(), StatusCode::OK);
        let third = {
            let (w, router) = (w.clone(), router.clone());
            tokio::spawn(async move { w.dispatch(req("/metrics"), router).await })
        };
        gate.notify_one();
        assert_eq!(third.await.unwrap().status(), StatusCode::OK);
        assert_eq!(rejected(&w, "max_requests"), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_requests_get_503_after_the_timeout() {
        let w = server(WebLimits {
            request_timeout: Duration::from_millis(200),
            ..WebLimits::default()
        });
        let gate = Arc::new(tokio::sync::Notify::new());
        let start = Instant::now();
        let r = w.dispatch(req("/metrics"), gated_router(gate)).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(rejected(&w, "timeout"), 1);
        // The permit was given back.
        assert_eq!(w.scrapes.as_ref().unwrap().available_permits(), 40);
    }

    #[test]
    fn stats_families_count_by_reason() {
        let s = WebStats::default();
        s.handshake_failure("timeout");
        s.handshake_failure("no_such_reason");
        s.auth_failure("wrong_password");
        let fams = s.families();
        let value = |fam: &str, label: &str| {
            fams.iter()
                .find(|f| &*f.name == fam)
                .unwrap()
                .series
                .iter()
                .find(|x| x.labels.iter().any(|(_, v)| v == label))
                .map(|x| match x.value {
                    SnapValue::Single(v) => v,
                    _ => f64::NAN,
                })
                .unwrap()
        };
        assert_eq!(
            value(
                "statsd_exporter_web_tls_handshake_failures_total",
                "timeout"
            ),
            1.0
        );
        assert_eq!(
            value("statsd_exporter_web_tls_handshake_failures_total", "other"),
            1.0
        );
        assert_eq!(
            value("statsd_exporter_web_auth_failures_total", "wrong_password"),
            1.0
        );
        assert_eq!(
            value("statsd_exporter_web_auth_failures_total", "missing"),
            0.0
        );
    }
}
