//! `--web.config.file`: the prometheus/exporter-toolkit web configuration
//! (TLS, client certificates, basic auth with bcrypt hashes, response
//! headers), read into a checked [`WebConfig`] and turned into a rustls
//! [`ServerConfig`]. See `docs/web-config.md` for what is supported.
//!
//! Errors name the file, the key (as a dotted path) and, where the YAML
//! parser or a text search can tell, the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{RootCertStore, SupportedCipherSuite, SupportedProtocolVersion};
use serde::Deserialize;

/// A configuration problem: file, key path, optional line, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted key path, e.g. `tls_server_config.cert_file`; empty for the
    /// file as a whole.
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// `tls_server_config.client_auth_type` (Go's `tls.ClientAuthType` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    /// Asks for a certificate, does not require or verify it.
    RequestClientCert,
    /// Requires a certificate, does not verify its chain (only that the
    /// client holds its key).
    RequireAnyClientCert,
    /// Verifies a certificate if the client sends one.
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// PEM from a file or inline in the YAML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

impl Pem {
    fn bytes(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Pem::File(p) => std::fs::read(p),
            Pem::Inline(s) => Ok(s.as_bytes().to_vec()),
        }
    }
}

/// The checked `tls_server_config`.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// `None` = rustls' defaults.
    pub cipher_suites: Option<Vec<SupportedCipherSuite>>,
    pub kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    pub prefer_server_cipher_suites: bool,
}

/// The checked web configuration.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    pub tls: Option<TlsSettings>,
    /// `http_server_config.http2` (default true), accepted and checked,
    /// but only HTTP/1.1 is served: smaller binary, fewer HTTP/2-specific
    /// denial-of-service paths, and scrapes do not need multiplexing.
    pub http2: bool,
    /// `http_server_config.headers`, validated.
    pub headers: Vec<(String, String)>,
    /// user → bcrypt hash. Empty = no basic auth.
    pub users: BTreeMap<String, String>,
    /// Things accepted with a caveat, to be logged.
    pub warnings: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Headers exporter-toolkit allows, with its value rules.
const HEADERS: &[&str] = &[
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// Order matters: index = rank for min/max comparisons.
const VERSIONS: &[&str] = &["TLS10", "TLS11", "TLS12", "TLS13"];

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        ConfigError {
            file: self.file.to_path_buf(),
            key: key.to_string(),
            line: line_of(self.text, leaf),
            message: message.into(),
        }
    }

    /// A relative path is relative to the configuration file's directory
    /// (exporter-toolkit's rule).
    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file.parent().unwrap_or_else(|| Path::new(".")).join(p)
        }
    }
}

/// The 1-based line of the first `key:` in the text (a hint for errors).
fn line_of(text: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            let t = t.trim_start_matches(['"', '\'']);
            t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start_matches(['"', '\'']).starts_with(':'))
        })
        .map(|i| i + 1)
}

impl WebConfig {
    /// Reads and checks `path`. Certificates are not loaded here (see
    /// [`build_server_config`]); a missing file is reported then.
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        WebConfig::parse(path, &text)
    }

    /// Checks `text` as if read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<WebConfig, ConfigError> {
        let cx = Ctx { file, text };
        let raw: RawWeb = if text.trim().is_empty() {
            RawWeb::default()
        } else {
            serde_yaml::from_str::<Option<RawWeb>>(text)
                .map_err(|e| {
                    let msg = e.to_string();
                    // "unknown field `x`, expected ..." names the key.
                    let key = msg
                        .split('`')
                        .nth(1)
                        .filter(|_| {
                            msg.starts_with("unknown field") || msg.contains(": unknown field")
                        })
                        .unwrap_or("")
                        .to_string();
                    ConfigError {
                        file: file.to_path_buf(),
                        line: e.location().map(|l| l.line()),
                        key,
                        message: msg,
                    }
                })?
                .unwrap_or_default()
        };
        let mut out = WebConfig {
            http2: true,
            ..WebConfig::default()
        };
        if raw.rate_limit.is_some() {
            return Err(cx.err(
                "rate_limit",
                "not supported by this exporter; use --web.max-requests to bound concurrent scrapes",
            ));
        }
        if let Some(h) = raw.http_server_config {
            if let Some(v) = h.http2 {
                out.http2 = v;
            }
            for (name, value) in h.headers.unwrap_or_default() {
                let key = format!("http_server_config.headers.{name}");
                let Some(canon) = HEADERS.iter().find(|h| h.eq_ignore_ascii_case(&name)) else {
                    return Err(cx.err(
                        &key,
                        format!("header not allowed; allowed: {}", HEADERS.join(", ")),
                    ));
                };
                if value.is_empty() {
                    continue;
                }
                let ok = match *canon {
                    "X-Content-Type-Options" => value.eq_ignore_ascii_case("nosniff"),
                    "X-Frame-Options" => {
                        value.eq_ignore_ascii_case("deny")
                            || value.eq_ignore_ascii_case("sameorigin")
                    }
                    _ => true,
                };
                if !ok {
                    return Err(cx.err(&key, format!("invalid value {value:?}")));
                }
                if axum::http::HeaderValue::from_str(&value).is_err() {
                    return Err(cx.err(&key, "value is not a valid HTTP header value"));
                }
                out.headers.push((canon.to_string(), value));
            }
        }
        for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
            let key = format!("basic_auth_users.{user}");
            if user.contains(':') {
                return Err(cx.err(&key, "a user name cannot contain ':'"));
            }
            if bcrypt_cost(&hash).is_none() {
                return Err(cx.err(
                    &key,
                    "not a bcrypt hash ($2a$, $2b$ or $2y$, cost 4-31); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                ));
            }
            out.users.insert(user, hash);
        }
        if let Some(t) = raw.tls_server_config {
            out.tls = tls_settings(&cx, t, &mut out.warnings)?;
        }
        if out.tls.is_none() && !out.users.is_empty() {
            out.warnings.push(
                "basic_auth_users without tls_server_config: passwords cross the network in clear text"
                    .to_string(),
            );
        }
        Ok(out)
    }

    /// Files the configuration refers to (watched for changes).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Some(t) = &self.tls {
            for p in [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
                .into_iter()
                .flatten()
            {
                if let Pem::File(f) = p {
                    v.push(f.clone());
                }
            }
        }
        v
    }
}

/// The cost of a well-formed bcrypt hash.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$2a$")
        .or_else(|| hash.strip_prefix("$2b$"))
        .or_else(|| hash.strip_prefix("$2y$"))
        .or_else(|| hash.strip_prefix("$2x$"))?;
    let (cost, salt_hash) = rest.split_once('$')?;
    let cost: u32 = cost.parse().ok()?;
    ((4..=31).contains(&cost) && salt_hash.len() == 53).then_some(cost)
}

fn tls_settings(
    cx: &Ctx<'_>,
    t: RawTls,
    warnings: &mut Vec<String>,
) -> Result<Option<TlsSettings>, ConfigError> {
    let k = |s: &str| format!("tls_server_config.{s}");
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let pem = |file: Option<String>,
               inline: Option<String>,
               fname: &str,
               iname: &str|
     -> Result<Option<Pem>, ConfigError> {
        match (nonempty(file), nonempty(inline)) {
            (Some(_), Some(_)) => Err(cx.err(
                &k(fname),
                format!("give either {fname} or {iname}, not both"),
            )),
            (Some(f), None) => Ok(Some(Pem::File(cx.path(&f)))),
            (None, Some(i)) => Ok(Some(Pem::Inline(i))),
            (None, None) => Ok(None),
        }
    };
    let cert = pem(t.cert_file, t.cert, "cert_file", "cert")?;
    let key = pem(t.key_file, t.key, "key_file", "key")?;
    let client_ca = pem(t.client_ca_file, t.client_ca, "client_ca_file", "client_ca")?;
    let (cert, key) = match (cert, key) {
        (None, None) => {
            // exporter-toolkit serves plain HTTP when no certificate is set.
            if client_ca.is_some() || nonempty(t.client_auth_type.clone()).is_some() {
                return Err(cx.err(
                    &k("cert_file"),
                    "missing: client certificate settings need a server certificate",
                ));
            }
            return Ok(None);
        }
        (Some(_), None) => return Err(cx.err(&k("key_file"), "missing (cert_file is set)")),
        (None, Some(_)) => return Err(cx.err(&k("cert_file"), "missing (key_file is set)")),
        (Some(c), Some(k)) => (c, k),
    };
    let auth_text = t.client_auth_type.unwrap_or_default();
    let client_auth = ClientAuth::parse(&auth_text).ok_or_else(|| {
        cx.err(
            &k("client_auth_type"),
            format!(
                "invalid value {auth_text:?}; one of NoClientCert, RequestClientCert, \
                 RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ),
        )
    })?;
    if client_auth.verifies() && client_ca.is_none() {
        return Err(cx.err(
            &k("client_ca_file"),
            format!("missing: client_auth_type {auth_text} needs client_ca_file (or client_ca)"),
        ));
    }
    if !client_auth.verifies() && client_ca.is_some() {
        warnings.push(format!(
            "{}: client_ca_file is set but client_auth_type {} does not verify client certificates",
            cx.file.display(),
            if auth_text.is_empty() {
                "NoClientCert"
            } else {
                &auth_text
            }
        ));
    }
    if t.client_allowed_sans.is_some_and(|v| !v.is_empty()) {
        return Err(cx.err(
            &k("client_allowed_sans"),
            "not supported by this exporter; restrict clients with a dedicated client CA instead",
        ));
    }
    let version = |key: &str, v: Option<String>, default: &str| -> Result<usize, ConfigError> {
        let v = nonempty(v).unwrap_or_else(|| default.to_string());
        VERSIONS.iter().position(|x| *x == v).ok_or_else(|| {
            cx.err(
                &k(key),
                format!("invalid value {v:?}; one of {}", VERSIONS.join(", ")),
            )
        })
    };
    let min = version("min_version", t.min_version, "TLS12")?;
    let max = version("max_version", t.max_version, "TLS13")?;
    if max < 2 {
        return Err(cx.err(
            &k("max_version"),
            "TLS 1.0 and 1.1 are not supported (rustls speaks TLS 1.2 and 1.3)",
        ));
    }
    if min > max {
        return Err(cx.err(&k("min_version"), "is above max_version"));
    }
    if min < 2 {
        warnings.push(format!(
            "{}: tls_server_config.min_version {}: TLS 1.0 and 1.1 are not offered; the minimum is TLS12",
            cx.file.display(),
            VERSIONS[min]
        ));
    }
    let mut versions = Vec::new();
    if min <= 2 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 3 {
        versions.push(&rustls::version::TLS13);
    }
    let provider = ring::default_provider();
    let cipher_suites = match t.cipher_suites.filter(|v| !v.is_empty()) {
        None => None,
        Some(names) => {
            // Go applies cipher_suites to TLS 1.2 only; TLS 1.3 suites stay.
            let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
            let mut unsupported = Vec::new();
            for name in &names {
                match provider.cipher_suites.iter().find(|s| {
                    s.version() == &rustls::version::TLS12
                        && s.suite().as_str() == Some(name.as_str())
                }) {
                    Some(s) => chosen.push(*s),
                    None => unsupported.push(name.clone()),
                }
            }
            if !unsupported.is_empty() {
                let known: Vec<&str> = provider
                    .cipher_suites
                    .iter()
                    .filter(|s| s.version() == &rustls::version::TLS12)
                    .filter_map(|s| s.suite().as_str())
                    .collect();
                if chosen.is_empty() {
                    return Err(cx.err(
                        &k("cipher_suites"),
                        format!(
                            "none of {unsupported:?} is available; TLS 1.2 suites here: {}",
                            known.join(", ")
                        ),
                    ));
                }
                warnings.push(format!(
                    "{}: tls_server_config.cipher_suites: {unsupported:?} not available (only AEAD suites with forward secrecy are); using the rest",
                    cx.file.display()
                ));
            }
            chosen.extend(
                provider
                    .cipher_suites
                    .iter()
                    .filter(|s| s.version() == &rustls::version::TLS13)
                    .copied(),
            );
            Some(chosen)
        }
    };
    let kx_groups = match t.curve_preferences.filter(|v| !v.is_empty()) {
        None => None,
        Some(names) => {
            let mut chosen: Vec<&'static dyn SupportedKxGroup> = Vec::new();
            let mut unsupported = Vec::new();
            for name in &names {
                let g: Option<&'static dyn SupportedKxGroup> = match name.as_str() {
                    "X25519" => Some(ring::kx_group::X25519),
                    "CurveP256" => Some(ring::kx_group::SECP256R1),
                    "CurveP384" => Some(ring::kx_group::SECP384R1),
                    _ => None,
                };
                match g {
                    Some(g) => chosen.push(g),
                    None => unsupported.push(name.clone()),
                }
            }
            if chosen.is_empty() {
                return Err(cx.err(
                    &k("curve_preferences"),
                    format!(
                        "none of {unsupported:?} is available; one of X25519, CurveP256, CurveP384"
                    ),
                ));
            }
            if !unsupported.is_empty() {
                warnings.push(format!(
                    "{}: tls_server_config.curve_preferences: {unsupported:?} not available; using the rest",
                    cx.file.display()
                ));
            }
            Some(chosen)
        }
    };
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        versions,
        cipher_suites,
        kx_groups,
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

/// Builds the rustls server configuration: reads and checks the
/// certificate, key and client CA (the key must match the certificate).
/// `source` names the web configuration file in errors.
pub fn build_server_config(
    source: &Path,
    tls: &TlsSettings,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let text = std::fs::read_to_string(source).unwrap_or_default();
    let cx = Ctx {
        file: source,
        text: &text,
    };
    let what = |p: &Pem, file_key: &str, inline_key: &str| match p {
        Pem::File(f) => (
            format!("tls_server_config.{file_key}"),
            format!("{}: ", f.display()),
        ),
        Pem::Inline(_) => (format!("tls_server_config.{inline_key}"), String::new()),
    };
    let read = |p: &Pem, fk: &str, ik: &str| -> Result<Vec<u8>, ConfigError> {
        let (key, prefix) = what(p, fk, ik);
        p.bytes()
            .map_err(|e| cx.err(&key, format!("{prefix}cannot read: {e}")))
    };
    let certs_of =
        |p: &Pem, fk: &str, ik: &str| -> Result<Vec<CertificateDer<'static>>, ConfigError> {
            let (key, prefix) = what(p, fk, ik);
            let bytes = read(p, fk, ik)?;
            let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&bytes).collect();
            match certs {
                Ok(c) if !c.is_empty() => Ok(c),
                Ok(_) => Err(cx.err(&key, format!("{prefix}no PEM certificate found"))),
                Err(e) => Err(cx.err(&key, format!("{prefix}invalid PEM: {e}"))),
            }
        };
    let chain = certs_of(&tls.cert, "cert_file", "cert")?;
    let (kkey, kprefix) = what(&tls.key, "key_file", "key");
    let key_bytes = read(&tls.key, "key_file", "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|e| cx.err(&kkey, format!("{kprefix}no usable private key: {e}")))?;
    let mut provider: CryptoProvider = ring::default_provider();
    if let Some(s) = &tls.cipher_suites {
        provider.cipher_suites = s.clone();
    }
    if let Some(g) = &tls.kx_groups {
        provider.kx_groups = g.clone();
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&tls.versions)
        .map_err(|e| cx.err("tls_server_config", e.to_string()))?;
    let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = match tls.client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: tls.client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let ca = tls.client_ca.as_ref().expect("checked in tls_settings");
            let (cakey, caprefix) = what(ca, "client_ca_file", "client_ca");
            let mut roots = RootCertStore::empty();
            for c in certs_of(ca, "client_ca_file", "client_ca")? {
                roots
                    .add(c)
                    .map_err(|e| cx.err(&cakey, format!("{caprefix}bad CA certificate: {e}")))?;
            }
            let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let b = if tls.client_auth == ClientAuth::VerifyClientCertIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build()
                .map_err(|e| cx.err(&cakey, format!("{caprefix}{e}")))?
        }
    };
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            cx.err(
                &kkey,
                format!("{kprefix}certificate and key do not make a usable pair: {e}"),
            )
        })?;
    config.ignore_client_order = tls.prefer_server_cipher_suites;
    // HTTP/1.1 only (see `WebConfig::http2`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate is taken
/// without checking its chain; the handshake signature still proves the
/// client holds the key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, ConfigError> {
        WebConfig::parse(Path::new("/etc/web.yml"), text)
    }

    const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        let c = parse("").unwrap();
        assert!(c.tls.is_none());
        assert!(c.users.is_empty());
        assert!(c.http2);
        let c = parse("---\n").unwrap();
        assert!(c.tls.is_none());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = parse("tls_server_config:\n  cert_file: a\n  bogus: 1\n").unwrap_err();
        assert_eq!(e.key, "bogus", "{e}");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().starts_with("/etc/web.yml:3: bogus: "), "{e}");
    }

    #[test]
    fn missing_key_file_is_named() {
        let e = parse("tls_server_config:\n  cert_file: /a.pem\n").unwrap_err();
        assert_eq!(e.key, "tls_server_config.key_file");
        assert_eq!(e.line, None);
        let e = parse("tls_server_config:\n  key_file: /a.pem\n").unwrap_err();
        assert_eq!(e.key, "tls_server_config.cert_file");
        assert_eq!(e.line, None);
        assert!(e.message.contains("missing"), "{e}");
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let c = parse("tls_server_config:\n  cert_file: c.pem\n  key_file: /abs/k.pem\n").unwrap();
        let t = c.tls.unwrap();
        assert_eq!(t.cert, Pem::File(PathBuf::from("/etc/c.pem")));
        assert_eq!(t.key, Pem::File(PathBuf::from("/abs/k.pem")));
        assert_eq!(t.client_auth, ClientAuth::NoClientCert);
        assert_eq!(t.versions.len(), 2);
    }

    #[test]
    fn client_auth_types() {
        for (name, want) in [
            ("NoClientCert", ClientAuth::NoClientCert),
            ("RequestClientCert", ClientAuth::RequestClientCert),
            ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
            (
                "VerifyClientCertIfGiven",
                ClientAuth::VerifyClientCertIfGiven,
            ),
            (
                "RequireAndVerifyClientCert",
                ClientAuth::RequireAndVerifyClientCert,
            ),
        ] {
            let c = parse(&format!(
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n  client_auth_type: {name}\n"
            ))
            .unwrap();
            assert_eq!(c.tls.unwrap().client_auth, want);
        }
        let e = parse(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Sometimes\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "tls_server_config.client_auth_type");
        assert_eq!(e.line, Some(4));
        let e = parse("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n")
            .unwrap_err();
        assert_eq!(e.key, "tls_server_config.client_ca_file");
    }

    #[test]
    fn versions() {
        let t = |min: &str, max: &str| {
            parse(&format!(
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: {min}\n  max_version: {max}\n"
            ))
        };
        assert_eq!(t("TLS13", "TLS13").unwrap().tls.unwrap().versions.len(), 1);
        assert_eq!(
            t("TLS12", "TLS12").unwrap().tls.unwrap().versions,
            vec![&rustls::version::TLS12]
        );
        let c = t("TLS10", "TLS13").unwrap();
        assert_eq!(c.tls.unwrap().versions.len(), 2);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert_eq!(
            t("TLS13", "TLS12").unwrap_err().key,
            "tls_server_config.min_version"
        );
        assert_eq!(
            t("TLS12", "TLS11").unwrap_err().key,
            "tls_server_config.max_version"
        );
        assert_eq!(
            t("SSL3", "TLS13").unwrap_err().key,
            "tls_server_config.min_version"
        );
    }

    #[test]
    fn cipher_suites_and_curves() {
        let c = parse("tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n  curve_preferences: [X25519, CurveP521]\n").unwrap();
        let t = c.tls.unwrap();
        let tls12: Vec<_> = t
            .cipher_suites
            .unwrap()
            .into_iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .collect();
        assert_eq!(tls12.len(), 1);
        assert_eq!(t.kx_groups.unwrap().len(), 1);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        let e = parse("tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n").unwrap_err();
        assert_eq!(e.key, "tls_server_config.cipher_suites");
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn basic_auth_users_need_bcrypt() {
        let c = parse(&format!("basic_auth_users:\n  alice: {HASH}\n")).unwrap();
        assert_eq!(c.users.get("alice").map(String::as_str), Some(HASH));
        assert_eq!(c.warnings.len(), 1, "clear-text warning");
        let e = parse("basic_auth_users:\n  bob: plain\n").unwrap_err();
        assert_eq!(e.key, "basic_auth_users.bob");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn headers_are_checked() {
        let c = parse("http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n").unwrap();
        assert!(!c.http2);
        assert_eq!(c.headers.len(), 2);
        let e = parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
        assert_eq!(e.key, "http_server_config.headers.X-Frame-Options");
        assert_eq!(e.line, Some(3));
        let e = parse("http_server_config:\n  headers:\n    Server: me\n").unwrap_err();
        assert!(e.message.contains("not allowed"), "{e}");
    }

    #[test]
    fn unsupported_features_are_refused_clearly() {
        let e = parse("rate_limit:\n  interval: 1s\n  burst: 5\n").unwrap_err();
        assert_eq!(e.key, "rate_limit");
        assert!(e.message.contains("not supported"), "{e}");
        let e = parse(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_allowed_sans: [a]\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "tls_server_config.client_allowed_sans");
    }

    #[test]
    fn wrong_type_has_a_line() {
        let e = parse("http_server_config:\n  http2: maybe\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }
}
