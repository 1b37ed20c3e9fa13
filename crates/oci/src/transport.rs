//! How wharf reaches a registry: scheme choice, TLS settings and credentials.
//!
//! TLS with full certificate verification is the default. For loopback hosts
//! wharf tries TLS first and falls back to plain HTTP only when the server
//! does not speak TLS; a certificate error is never ignored. Other hosts need
//! `plain_http` for plain HTTP.

use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::{Credentials, Secret};
use crate::error::{Error, Result};
use crate::reference::is_loopback_host;

/// Default limit for establishing a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The size of an upload chunk (a `PATCH`, which can be resumed after a
/// failure) when no chunk size is given.
pub const DEFAULT_UPLOAD_CHUNK_SIZE: u64 = 32 << 20;
/// Without a chunk size, blobs up to this size go in one streamed `PUT`
/// (measured: 8 MiB chunks made a 100 MiB push 40% slower, since each chunk
/// is read before it is sent), larger ones in chunks.
pub const CHUNKED_ABOVE: u64 = 1 << 30;
/// Default limit for a read that makes no progress (an idle connection).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// User-chosen transport settings, shared by every registry a command talks to.
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// Use plain HTTP for every registry.
    pub plain_http: bool,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Extra CA bundles (PEM) to trust.
    pub ca_files: Vec<PathBuf>,
    /// Credentials given for particular registries (the command line's
    /// `--username`), each sent to its own registry only (and to the token
    /// server that registry's challenge names); the first one for a registry
    /// wins. Every other registry gets what the docker config holds for it.
    pub credentials: Vec<RegistryCredentials>,
    /// Limit for connecting; [`DEFAULT_CONNECT_TIMEOUT`] when unset.
    pub connect_timeout: Option<Duration>,
    /// Limit for a read that makes no progress; [`DEFAULT_READ_TIMEOUT`] when unset.
    pub read_timeout: Option<Duration>,
    /// Upload blobs larger than this in chunks of this size; unset: blobs over
    /// [`CHUNKED_ABOVE`] in chunks of [`DEFAULT_UPLOAD_CHUNK_SIZE`].
    pub upload_chunk_size: Option<u64>,
    /// The HTTP client, built once and shared by every store opened with these
    /// options (and their clones), so concurrent transfers reuse connections.
    /// Leave it at its default.
    pub shared_client: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
}

/// Credentials for one registry.
#[derive(Debug, Clone)]
pub struct RegistryCredentials {
    /// The registry (host, with port if any) they are for.
    pub registry: String,
    /// The user name and password.
    pub credentials: Credentials,
}

/// Whether `a` and `b` name the same registry: host names compare without
/// case, and Docker Hub's names are one registry.
pub fn same_registry(a: &str, b: &str) -> bool {
    let key = |r: &str| crate::credentials::config_key(&r.to_ascii_lowercase());
    key(a) == key(b)
}

/// The scheme chosen for a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// TLS.
    Https,
    /// Plain HTTP.
    Http,
}

impl Scheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

impl TransportOptions {
    /// The CA certificates from `ca_files` and `SSL_CERT_FILE`, one entry per PEM certificate.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>> {
        use rustls::pki_types::pem::PemObject as _;
        let mut out = Vec::new();
        // SSL_CERT_FILE, as OpenSSL-based tools (curl, skopeo, oras) honour it.
        let from_env = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
        for path in self.ca_files.iter().chain(from_env.as_ref()) {
            let text = std::fs::read(path).map_err(|e| Error::io("cannot read CA file", path, e))?;
            let before = out.len();
            for cert in CertificateDer::pem_slice_iter(&text) {
                out.push(cert.map_err(|e| {
                    Error::Usage(format!("a CA certificate in {} could not be parsed: {e}", path.display()))
                })?);
            }
            if out.len() == before {
                return Err(Error::Usage(format!(
                    "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
        }
        Ok(out)
    }

    /// The client registry sessions use (one per options value, shared): TLS
    /// settings, connect and idle-read timeouts, no limit on a whole transfer
    /// (large blobs take what they take).
    pub fn http_client(&self) -> Result<reqwest::Client> {
        if let Some(client) = self.shared_client.get() {
            return Ok(client.clone());
        }
        let client = self.build_http_client()?;
        Ok(self.shared_client.get_or_init(|| client).clone())
    }

    fn build_http_client(&self) -> Result<reqwest::Client> {
        self.client_builder()?
            .read_timeout(self.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT))
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Usage(format!("cannot set up the HTTP client: {e}")))
    }

    /// What every client of these options shares: the TLS provider and
    /// settings, the CA certificates, the connect timeout.
    fn client_builder(&self) -> Result<reqwest::ClientBuilder> {
        install_crypto_provider();
        let builder =
            reqwest::Client::builder().connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT));
        let certificates = self.certificates()?;
        if self.insecure || certificates.is_empty() {
            return Ok(builder.danger_accept_invalid_certs(self.insecure));
        }
        Ok(builder.tls_backend_preconfigured(tls_config_with(certificates)?))
    }

    /// The schemes to try, in order, for `registry`: plain HTTP when asked;
    /// TLS, then plain HTTP, on loopback; TLS elsewhere.
    pub fn schemes_to_try(&self, registry: &str) -> Vec<Scheme> {
        if self.plain_http {
            vec![Scheme::Http]
        } else if is_loopback_host(registry) {
            vec![Scheme::Https, Scheme::Http]
        } else {
            vec![Scheme::Https]
        }
    }

    /// Picks the scheme with one `GET /v2/` (for login and `.well-known`
    /// lookups; registry stores settle it with their first real request):
    /// plain HTTP when asked, TLS otherwise; on loopback, plain HTTP only if
    /// the server does not speak TLS. A certificate error is never passed over.
    pub async fn scheme_for(&self, registry: &str) -> Result<Scheme> {
        let http = self.probe_client()?;
        let host = api_host(registry);
        let unreachable = |e: &reqwest::Error| Error::Unreachable {
            registry: registry.to_string(),
            detail: describe_request_error(e),
        };
        let schemes = self.schemes_to_try(registry);
        for (i, scheme) in schemes.iter().enumerate() {
            match http.get(format!("{}://{host}/v2/", scheme.as_str())).send().await {
                Ok(_) => return Ok(*scheme),
                Err(e) => {
                    if let Some(detail) = certificate_problem(&e) {
                        return Err(Error::Certificate { registry: registry.to_string(), detail });
                    }
                    if i + 1 == schemes.len() {
                        return Err(unreachable(&e));
                    }
                }
            }
        }
        Err(Error::Unreachable { registry: registry.to_string(), detail: "no scheme to try".into() })
    }

    pub fn probe_client(&self) -> Result<reqwest::Client> {
        self.client_builder()?
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| Error::Usage(format!("cannot set up TLS: {e}")))
    }

    /// These options with `credentials` bound to `registry`, after the
    /// bindings already there (the HTTP client stays shared).
    pub fn with_credentials(&self, registry: &str, credentials: Credentials) -> TransportOptions {
        let mut options = self.clone();
        options.credentials.push(RegistryCredentials { registry: registry.to_string(), credentials });
        options
    }

    /// What to authenticate with at `registry`: the credentials bound to it,
    /// else the docker config (`auths`, `credsStore`, `credHelpers`, identity
    /// tokens), else nothing. Credentials bound to another registry never
    /// come out for this one.
    pub fn secret_for(&self, registry: &str) -> Secret {
        match self.credentials.iter().find(|c| same_registry(&c.registry, registry)) {
            Some(bound) => Secret::Password(bound.credentials.clone()),
            None => crate::credentials::lookup(registry),
        }
    }
}

mod server_cert;

use rustls::pki_types::CertificateDer;

/// The TLS settings reqwest would make for extra root certificates, with
/// wharf's verifier ([`server_cert`]): a given certificate is also accepted
/// as the server's own, name and dates checked.
fn tls_config_with(certificates: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()));
    let cannot = |e: rustls::Error| Error::Usage(format!("cannot set up TLS with the given CA certificates: {e}"));
    let verifier = server_cert::GivenOrPlatform::new(certificates, provider.clone()).map_err(cannot)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(cannot)?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
        .with_no_client_auth();
    // reqwest is built for HTTP/1.1 only, and says so in ALPN itself when it builds the config.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS certificate failure inside a request error, if that is what it is.
pub(crate) fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = rustls_error(err) {
            return matches!(tls, rustls::Error::InvalidCertificate(_)).then(|| tls.to_string());
        }
        source = err.source();
    }
    let text = format!("{e:?}");
    text.contains("InvalidCertificate").then(|| "invalid peer certificate".to_string())
}

/// The rustls error `err` is, or wraps in (nested) `io::Error`s: hyper wraps
/// rustls's `io::Error` in another, and `io::Error::source` skips the error it
/// wraps, so the source chain alone never reaches it.
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = err;
    for _ in 0..8 {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = current.downcast_ref::<std::io::Error>()?.get_ref()?;
        current = inner;
    }
    None
}

/// A one-line description of a request error: the innermost cause for
/// connection failures, the whole chain otherwise.
pub(crate) fn describe_request_error(e: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        causes.push(err.to_string());
        source = err.source();
    }
    let innermost = causes.last().cloned().unwrap_or_else(|| e.to_string());
    if e.is_timeout() {
        format!("the request timed out ({innermost})")
    } else if e.is_connect() {
        format!("connection failed: {innermost}")
    } else {
        std::iter::once(e.to_string()).chain(causes).collect::<Vec<_>>().join(": ")
    }
}

/// The host API requests go to (Docker Hub's API lives on `index.docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == "docker.io" { "index.docker.io" } else { registry }
}

/// Makes ring rustls's process-wide crypto provider (reqwest is built without
/// one). ring takes its randomness from the OS; aws-lc-rs, reqwest's default,
/// first gathers jitter entropy, about 25 ms of CPU per process.
pub(crate) fn install_crypto_provider() {
    // Err only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
