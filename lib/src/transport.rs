//! How wharf reaches a registry: scheme choice, TLS settings and credentials.
//!
//! TLS with full certificate verification is the default. For loopback hosts
//! wharf tries TLS first and falls back to plain HTTP only when the server
//! does not speak TLS; a certificate error is never ignored. Other hosts need
//! `plain_http` for plain HTTP.

use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;

use crate::error::{Error, Result};
use crate::reference::is_loopback_host;

/// User-chosen transport settings, shared by every registry a command talks to.
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// Use plain HTTP for every registry.
    pub plain_http: bool,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Extra CA bundles (PEM) to trust.
    pub ca_files: Vec<PathBuf>,
    /// Explicit credentials; otherwise the docker config is read.
    pub credentials: Option<Credentials>,
}

/// A user name and password (or token).
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ username: {:?}, password: <redacted> }}", self.username)
    }
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
    /// The CA certificates from `ca_files`, one entry per PEM certificate.
    fn certificates(&self) -> Result<Vec<Certificate>> {
        let mut out = Vec::new();
        for path in &self.ca_files {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read CA file", path, e))?;
            let before = out.len();
            for block in text.split_inclusive("-----END CERTIFICATE-----") {
                if let Some(start) = block.find("-----BEGIN CERTIFICATE-----") {
                    out.push(Certificate {
                        encoding: CertificateEncoding::Pem,
                        data: block.as_bytes()[start..].to_vec(),
                    });
                }
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

    fn client_config(&self, protocol: ClientProtocol) -> Result<ClientConfig> {
        Ok(ClientConfig {
            protocol,
            accept_invalid_certificates: self.insecure,
            extra_root_certificates: self.certificates()?,
            // Sizes are always known, so one streamed PUT per blob: the fewest round trips.
            use_monolithic_push: true,
            user_agent: concat!("wharf/", env!("CARGO_PKG_VERSION")),
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..ClientConfig::default()
        })
    }

    /// Builds an oci-client for `registry`, after one `GET /v2/` that picks the scheme.
    pub async fn client_for(&self, registry: &str) -> Result<(oci_client::Client, Scheme)> {
        let scheme = self.scheme_for(registry).await?;
        let protocol = match scheme {
            Scheme::Https => ClientProtocol::Https,
            Scheme::Http => ClientProtocol::Http,
        };
        // `Client::new` silently falls back to defaults on a bad config; `try_from` does not.
        let client = oci_client::Client::try_from(self.client_config(protocol)?)
            .map_err(|e| Error::Usage(format!("cannot set up the registry client: {e}")))?;
        Ok((client, scheme))
    }

    /// Picks the scheme with one `GET /v2/`: plain HTTP when asked, TLS
    /// otherwise; on loopback, plain HTTP only if the server does not speak TLS.
    /// A certificate error is never passed over.
    pub async fn scheme_for(&self, registry: &str) -> Result<Scheme> {
        let client = self.probe_client()?;
        let host = api_host(registry);
        let get = |scheme: Scheme| client.get(format!("{}://{host}/v2/", scheme.as_str())).send();
        let unreachable = |e: &reqwest::Error| Error::Unreachable {
            registry: registry.to_string(),
            detail: describe_request_error(e),
        };
        if self.plain_http {
            get(Scheme::Http).await.map_err(|e| unreachable(&e))?;
            return Ok(Scheme::Http);
        }
        match get(Scheme::Https).await {
            Ok(_) => Ok(Scheme::Https),
            Err(e) => {
                if let Some(detail) = certificate_problem(&e) {
                    return Err(Error::Certificate { registry: registry.to_string(), detail });
                }
                if !is_loopback_host(registry) {
                    return Err(unreachable(&e));
                }
                get(Scheme::Http).await.map_err(|e| unreachable(&e))?;
                Ok(Scheme::Http)
            }
        }
    }

    pub(crate) fn probe_client(&self) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .danger_accept_invalid_certs(self.insecure)
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15));
        let certs = self
            .certificates()?
            .iter()
            .map(|c| reqwest::Certificate::from_pem(&c.data))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Usage(format!("a CA certificate could not be parsed: {e}")))?;
        builder = builder.tls_certs_merge(certs);
        builder.build().map_err(|e| Error::Usage(format!("cannot set up TLS: {e}")))
    }

    /// The credentials for `registry`: explicit ones, else the docker config
    /// (`auths`, `credsStore`, `credHelpers`), else anonymous.
    pub fn auth_for(&self, registry: &str) -> RegistryAuth {
        if let Some(c) = &self.credentials {
            return RegistryAuth::Basic(c.username.clone(), c.password.clone());
        }
        crate::credentials::lookup(registry)
            .map_or(RegistryAuth::Anonymous, |c| RegistryAuth::Basic(c.username, c.password))
    }
}

/// The TLS certificate failure inside a request error, if that is what it is.
pub(crate) fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return matches!(tls, rustls::Error::InvalidCertificate(_)).then(|| tls.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return matches!(tls, rustls::Error::InvalidCertificate(_)).then(|| tls.to_string());
        }
        source = err.source();
    }
    let text = format!("{e:?}");
    text.contains("InvalidCertificate").then(|| "invalid peer certificate".to_string())
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

/// Checks `credentials` against `registry` the way `docker login` does: a
/// `GET /v2/` with basic auth, and for a bearer challenge a token request.
pub async fn verify_credentials(registry: &str, options: &TransportOptions, credentials: &Credentials) -> Result<()> {
    let scheme = options.scheme_for(registry).await?;
    let client = options.probe_client()?;
    let unreachable = |e: reqwest::Error| match certificate_problem(&e) {
        Some(detail) => Error::Certificate { registry: registry.to_string(), detail },
        None => Error::Unreachable { registry: registry.to_string(), detail: describe_request_error(&e) },
    };
    let refused = |detail: &str| Error::Unauthorized { registry: registry.to_string(), detail: detail.to_string() };
    let response = client
        .get(format!("{}://{}/v2/", scheme.as_str(), api_host(registry)))
        .basic_auth(&credentials.username, Some(&credentials.password))
        .send()
        .await
        .map_err(unreachable)?;
    match response.status().as_u16() {
        200..=299 => return Ok(()),
        401 => {}
        code => {
            return Err(Error::Registry {
                registry: registry.to_string(),
                status: format!("HTTP {code}"),
                message: "unexpected answer to GET /v2/".into(),
            });
        }
    }
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Some(params) = challenge.strip_prefix("Bearer ").or_else(|| challenge.strip_prefix("bearer ")) else {
        return Err(refused("the registry refused the user name or password"));
    };
    let params = challenge_params(params);
    let Some(realm) = params.iter().find(|(k, _)| k == "realm").map(|(_, v)| v.clone()) else {
        return Err(refused("the registry's bearer challenge names no token server (realm)"));
    };
    let mut query: Vec<(&str, String)> = vec![("account", credentials.username.clone())];
    if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
        query.push(("service", service.clone()));
    }
    let token = client
        .get(&realm)
        .query(&query)
        .basic_auth(&credentials.username, Some(&credentials.password))
        .send()
        .await
        .map_err(unreachable)?;
    if token.status().is_success() {
        Ok(())
    } else {
        Err(refused(&format!("the token server answered {} to the user name and password", token.status())))
    }
}

/// Parses `key="value",key2="value2"` from a `WWW-Authenticate` challenge.
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.push((key, value.to_string()));
        rest = remainder.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed() {
        let p = challenge_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a:pull,push""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a:pull,push".into()));
    }
}
