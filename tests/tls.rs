//! The web side over real loopback sockets with a real TLS client (rustls):
//! `--web.config.file` TLS, client certificates, basic auth, certificate
//! rotation, and the slow-client timeout. Certificates are made at test
//! time with rcgen; the web configurations are the examples of
//! `docs/web-config.md` (`tests/data/web-config/*.yml`), used verbatim.
//! No sleeps as synchronisation: waits poll with a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airflow_statsd_exporter::app::{self, Running};
use airflow_statsd_exporter::cli::Config;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const DEADLINE: Duration = Duration::from_secs(15);
const PASSWORD: &str = "scrape-secret";
const USER: &str = "prometheus";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/web-config")
        .join(name)
}

// ---------------------------------------------------------------------------
// Certificates.
// ---------------------------------------------------------------------------

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A leaf certificate: (cert PEM, key PEM, cert DER).
    fn leaf(&self, name: &str, server: bool, expired: bool) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

#[derive(Clone)]
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Leaf {
    fn install(&self, dir: &Path) {
        // Certificate first, then key: a reader in between sees a mismatched
        // pair, which must be refused and retried, never served.
        std::fs::write(dir.join("server.crt"), &self.cert).unwrap();
        std::fs::write(dir.join("server.key"), &self.key).unwrap();
    }
}

// ---------------------------------------------------------------------------
// A real TLS client (rustls, blocking).
// ---------------------------------------------------------------------------

fn client_config(ca_pem: &str, client: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match client {
        None => b.with_no_client_auth(),
        Some(l) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(l.cert.as_bytes())
                    .map(Result::unwrap)
                    .collect();
            let key = PrivateKeyDer::from_pem_slice(l.key.as_bytes()).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
    })
}

use rustls::pki_types::pem::PemObject as _;

#[derive(Debug)]
struct Http {
    status: u16,
    headers: String,
    body: String,
    /// DER of the certificate the server presented.
    server_cert: Vec<u8>,
}

impl Http {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// GET `path` over TLS. `Err` when the handshake or the exchange fails
/// before a whole response head arrived.
fn get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
    auth: Option<(&str, &str)>,
) -> Result<Http, String> {
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    tcp.set_write_timeout(Some(DEADLINE)).unwrap();
    let conn =
        rustls::ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let auth = auth
        .map(|(u, p)| {
            use base64::Engine as _;
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
        .unwrap_or_default();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n")
            .as_bytes(),
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer that closes without close_notify after a whole response.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(format!("read: {e}")),
    }
    let server_cert = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no response head in {} bytes", raw.len()))?;
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let mut body = raw[split + 4..].to_vec();
    if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(Http {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        server_cert,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < nl + 2 + size {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls until `f` returns `Some`; panics with `what` at the deadline.
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        // Poll interval only; the condition is what the test waits for.
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// The exporter.
// ---------------------------------------------------------------------------

struct Harness {
    rt: tokio::runtime::Runtime,
    running: Option<Running>,
    http: Vec<SocketAddr>,
    dir: tempfile::TempDir,
}

impl Harness {
    /// Copies the example `config` into a fresh directory holding
    /// `server.crt`/`server.key` (and whatever `prepare` writes), then starts.
    fn start(
        config: &str,
        server: &Leaf,
        prepare: impl FnOnce(&Path),
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        server.install(dir.path());
        prepare(dir.path());
        std::fs::copy(example(config), dir.path().join("web.yml")).unwrap();
        let mut c = Config {
            web_listen_addresses: vec!["127.0.0.1:0".into()],
            statsd_listen_udp: Some("127.0.0.1:0".into()),
            statsd_listen_tcp: None,
            web_config_file: Some(dir.path().join("web.yml")),
            ..Config::default()
        };
        tweak(&mut c);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = rt.block_on(app::start(&c)).expect("start");
        let http = running.bound().http.clone();
        Harness {
            rt,
            running: Some(running),
            http,
            dir,
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        let _ = &self.rt;
    }
}

// ---------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------

#[test]
fn tls_scrape_on_every_listen_address() {
    let ca = Ca::new("test CA");
    let server = ca.leaf("server", true, false);
    let h = Harness::start(
        "tls.yml",
        &server,
        |_| {},
        |c| {
            c.web_listen_addresses = vec!["127.0.0.1:0".into(), "127.0.0.1:0".into()];
        },
    );
    assert_eq!(h.http.len(), 2);
    assert_ne!(h.http[0], h.http[1]);
    let client = client_config(&ca.pem, None);
    for addr in &h.http {
        let r = get(*addr, &client, "/metrics", None).expect("TLS scrape");
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("statsd_exporter_build_info"), "{}", r.body);
        assert_eq!(r.server_cert, server.der);
    }
    // Plain HTTP on a TLS port gets no HTTP answer, and is counted.
    for addr in &h.http {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(
            !buf.starts_with(b"HTTP/"),
            "plain HTTP answered on a TLS port"
        );
    }
    let r = get(h.http[0], &client, "/metrics", None).unwrap();
    let n = sample(
        &r.body,
        "statsd_exporter_web_tls_handshake_failures_total{reason=\"protocol\"}",
    );
    assert_eq!(n, Some(2.0), "{}", r.body);
    // A client that does not trust the server's CA fails the handshake.
    let other = Ca::new("other CA");
    assert!(get(h.http[1], &client_config(&other.pem, None), "/", None).is_err());
}

#[test]
fn basic_auth_with_bcrypt() {
    let ca = Ca::new("test CA");
    let server = ca.leaf("server", true, false);
    let h = Harness::start("basic-auth.yml", &server, |_| {}, |_| {});
    let client = client_config(&ca.pem, None);
    let addr = h.http[0];

    let r = get(addr, &client, "/metrics", None).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Basic"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );

    let r = get(addr, &client, "/metrics", Some((USER, "wrong"))).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Basic"));
    assert!(!r.body.contains("statsd_exporter_build_info"));

    let r = get(addr, &client, "/metrics", Some(("nobody", PASSWORD))).unwrap();
    assert_eq!(r.status, 401);

    // Right password: 200, twice (the second from the verification cache).
    for _ in 0..2 {
        let r = get(addr, &client, "/metrics", Some((USER, PASSWORD))).unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.header("strict-transport-security").as_deref(),
            Some("max-age=31536000")
        );
        let v = |reason: &str| {
            sample(
                &r.body,
                &format!("statsd_exporter_web_auth_failures_total{{reason=\"{reason}\"}}"),
            )
        };
        assert_eq!(v("missing"), Some(1.0), "{}", r.body);
        assert_eq!(v("wrong_password"), Some(1.0));
        assert_eq!(v("unknown_user"), Some(1.0));
    }
    // Every path is protected, not only /metrics.
    assert_eq!(get(addr, &client, "/", None).unwrap().status, 401);
}

#[test]
fn healthcheck_subcommand_speaks_tls_and_accepts_the_auth_challenge() {
    use airflow_statsd_exporter::web::healthcheck;
    let ca = Ca::new("test CA");
    let server = ca.leaf("server", true, false);
    let h = Harness::start("basic-auth.yml", &server, |_| {}, |_| {});
    let web_yml = h.dir.path().join("web.yml");
    let addr = h.http[0].to_string();
    healthcheck(&addr, Some(&web_yml)).expect("TLS + basic auth healthcheck");
    // Without the web configuration it speaks plain HTTP to a TLS port: unhealthy.
    assert!(healthcheck(&addr, None).is_err());
    // Nothing listening: unhealthy.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    assert!(healthcheck(&closed_addr, Some(&web_yml)).is_err());
}

#[test]
fn client_certificates_are_required_and_verified() {
    let ca = Ca::new("test CA");
    let client_ca = Ca::new("client CA");
    let stranger_ca = Ca::new("stranger CA");
    let server = ca.leaf("server", true, false);
    let good = client_ca.leaf("scraper", false, false);
    let expired = client_ca.leaf("old scraper", false, true);
    let stranger = stranger_ca.leaf("stranger", false, false);
    let ca_pem = client_ca.pem.clone();
    let h = Harness::start(
        "client-certs.yml",
        &server,
        move |d| std::fs::write(d.join("client-ca.crt"), ca_pem).unwrap(),
        |_| {},
    );
    let addr = h.http[0];

    let none = get(addr, &client_config(&ca.pem, None), "/metrics", None);
    assert!(none.is_err(), "no client certificate was let in: {none:?}");
    let foreign = get(
        addr,
        &client_config(&ca.pem, Some(&stranger)),
        "/metrics",
        None,
    );
    assert!(foreign.is_err(), "a certificate from another CA was let in");
    let old = get(
        addr,
        &client_config(&ca.pem, Some(&expired)),
        "/metrics",
        None,
    );
    assert!(old.is_err(), "an expired client certificate was let in");

    let r = get(addr, &client_config(&ca.pem, Some(&good)), "/metrics", None).unwrap();
    assert_eq!(r.status, 200);
    let v = |reason: &str| {
        sample(
            &r.body,
            &format!("statsd_exporter_web_tls_handshake_failures_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(v("no_client_certificate"), Some(1.0), "{}", r.body);
    assert_eq!(v("bad_client_certificate"), Some(2.0), "{}", r.body);
}

#[test]
fn expired_certificate_is_replaced_without_restart() {
    let ca = Ca::new("test CA");
    let expired = ca.leaf("server", true, true);
    let h = Harness::start("tls.yml", &expired, |_| {}, |_| {});
    let client = client_config(&ca.pem, None);
    let addr = h.http[0];

    let e = get(addr, &client, "/metrics", None).unwrap_err();
    assert!(e.to_lowercase().contains("expired"), "{e}");

    let fresh = ca.leaf("server", true, false);
    fresh.install(h.dir.path());
    let r = poll("the renewed certificate", || {
        get(addr, &client, "/metrics", None).ok()
    });
    assert_eq!(r.status, 200);
    assert_eq!(r.server_cert, fresh.der);

    // Rotate again: a new serial is served, same process.
    let next = ca.leaf("server", true, false);
    assert_ne!(next.der, fresh.der);
    next.install(h.dir.path());
    poll("the rotated certificate", || {
        let r = get(addr, &client, "/metrics", None).ok()?;
        (r.server_cert == next.der).then_some(())
    });
    let r = get(addr, &client, "/metrics", None).unwrap();
    assert!(
        sample(
            &r.body,
            "statsd_exporter_web_config_reloads_total{outcome=\"success\"}"
        )
        .unwrap()
            >= 2.0,
        "{}",
        r.body
    );
}

#[test]
fn invalid_new_certificate_keeps_the_old_one() {
    let ca = Ca::new("test CA");
    let server = ca.leaf("server", true, false);
    let h = Harness::start("tls.yml", &server, |_| {}, |_| {});
    let client = client_config(&ca.pem, None);
    let addr = h.http[0];
    let dir = h.dir.path().to_path_buf();
    let failures = |body: &str| {
        sample(
            body,
            "statsd_exporter_web_config_reloads_total{outcome=\"failure\"}",
        )
        .unwrap_or(-1.0)
    };

    // Garbage certificate.
    std::fs::write(dir.join("server.crt"), "not a certificate\n").unwrap();
    let r = poll("a failed reload", || {
        let r = get(addr, &client, "/metrics", None).ok()?;
        (failures(&r.body) >= 1.0).then_some(r)
    });
    assert_eq!(
        r.server_cert, server.der,
        "the old certificate is still served"
    );
    assert_eq!(
        sample(&r.body, "statsd_exporter_web_config_last_reload_successful"),
        Some(0.0)
    );

    // A valid certificate whose key is not the one in server.key.
    let other = ca.leaf("server", true, false);
    std::fs::write(dir.join("server.crt"), &other.cert).unwrap();
    let r = poll("a second failed reload", || {
        let r = get(addr, &client, "/metrics", None).ok()?;
        (failures(&r.body) >= 2.0).then_some(r)
    });
    assert_eq!(r.server_cert, server.der);

    // A broken web configuration file keeps everything too.
    std::fs::write(dir.join("web.yml"), "tls_server_config: [\n").unwrap();
    let r = poll("a third failed reload", || {
        let r = get(addr, &client, "/metrics", None).ok()?;
        (failures(&r.body) >= 3.0).then_some(r)
    });
    assert_eq!(r.server_cert, server.der);

    // Repair both: picked up, gauge back to 1.
    std::fs::copy(example("tls.yml"), dir.join("web.yml")).unwrap();
    other.install(&dir);
    let r = poll("the repaired configuration", || {
        let r = get(addr, &client, "/metrics", None).ok()?;
        (r.server_cert == other.der).then_some(r)
    });
    let r = get(addr, &client, "/metrics", None).unwrap_or(r);
    assert_eq!(
        sample(&r.body, "statsd_exporter_web_config_last_reload_successful"),
        Some(1.0),
        "{}",
        r.body
    );
}

/// Reads until EOF or error; returns how long the server took to close.
fn time_to_close(mut s: impl Read) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => {}
        }
    }
}

#[test]
fn slow_clients_are_disconnected() {
    let ca = Ca::new("test CA");
    let server = ca.leaf("server", true, false);
    let timeout = Duration::from_secs(1);
    let h = Harness::start(
        "tls.yml",
        &server,
        |_| {},
        |c| c.web_read_header_timeout = timeout,
    );
    let addr = h.http[0];
    let limit = timeout + Duration::from_secs(4);

    // 1. Never starts the TLS handshake.
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let t = time_to_close(&s);
    assert!(
        t >= timeout / 2 && t < limit,
        "silent client closed after {t:?}"
    );

    // 2. Finishes the handshake, then sends half a request head.
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    let conn = rustls::ClientConnection::new(
        client_config(&ca.pem, None),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .unwrap();
    tls.flush().unwrap();
    let t = time_to_close(&mut tls);
    assert!(t < limit, "slow TLS client closed after {t:?}");

    let client = client_config(&ca.pem, None);
    let r = get(addr, &client, "/metrics", None).unwrap();
    assert_eq!(
        sample(
            &r.body,
            "statsd_exporter_web_tls_handshake_failures_total{reason=\"timeout\"}"
        ),
        Some(1.0),
        "{}",
        r.body
    );
}

#[test]
fn plain_http_limits() {
    // No web configuration: plain HTTP, still with the header timeout and size limit.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = Config {
        web_listen_addresses: vec!["127.0.0.1:0".into()],
        statsd_listen_udp: None,
        statsd_listen_tcp: None,
        web_read_header_timeout: Duration::from_secs(1),
        web_max_header_bytes: 16 * 1024,
        ..Config::default()
    };
    let running = rt.block_on(app::start(&c)).unwrap();
    let addr = running.bound().http[0];

    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let t = time_to_close(&s);
    assert!(
        t < Duration::from_secs(5),
        "slow plain client closed after {t:?}"
    );
    // A client that connects and sends nothing.
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let t = time_to_close(&s);
    assert!(
        t < Duration::from_secs(5),
        "silent plain client closed after {t:?}"
    );

    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let big = "a".repeat(32 * 1024);
    let _ =
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[9..12], b"431");

    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");

    // No debug or profiling endpoints.
    for path in [
        "/debug/pprof/",
        "/debug/pprof/profile",
        "/debug/vars",
        "/debug/",
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head[9..12], b"404", "{path}");
    }
    running.stop();
}

#[test]
fn bad_web_config_stops_the_start_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = |yaml: &str| {
        let path = dir.path().join("web.yml");
        std::fs::write(&path, yaml).unwrap();
        let c = Config {
            web_listen_addresses: vec!["127.0.0.1:0".into()],
            statsd_listen_udp: None,
            statsd_listen_tcp: None,
            web_config_file: Some(path),
            ..Config::default()
        };
        match rt.block_on(app::start(&c)) {
            Ok(_) => panic!("started with {yaml:?}"),
            Err(e) => format!("{e:#}"),
        }
    };
    let e = start("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n");
    assert!(e.contains("web.yml"), "{e}");
    assert!(e.contains("tls_server_config.cert_file"), "{e}");
    assert!(e.contains("missing.crt"), "{e}");
    let e = start("basic_auth_users:\n  alice: hunter2\n");
    assert!(e.contains("web.yml:2: basic_auth_users.alice"), "{e}");
    let e = start("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n");
    assert!(
        e.contains("web.yml:4: tls_server_config.cipher_suites"),
        "{e}"
    );
}

#[test]
fn docs_show_the_tested_examples_verbatim() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/web-config.md"))
            .unwrap();
    for name in ["tls.yml", "basic-auth.yml", "client-certs.yml"] {
        let text = std::fs::read_to_string(example(name)).unwrap();
        assert!(
            doc.contains(&format!("```yaml\n{text}```")),
            "docs/web-config.md does not show tests/data/web-config/{name} verbatim"
        );
    }
}
