//! Registry authentication as the distribution spec and docker do it: the
//! `WWW-Authenticate` challenge of `GET /v2/`, then either HTTP basic auth or a
//! bearer token from the token server the challenge names (a `GET` with basic
//! credentials, or the OAuth2 `refresh_token` grant for an identity token as
//! Azure ACR issues them).
//!
//! Secrets never reach an error message or a log line: errors quote the token
//! server's status, and the `Authorization` values are marked sensitive.

use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use serde::Deserialize;

use crate::body::{CappedError, read_capped};
use crate::credentials::{Credentials, Secret};
use crate::error::{Error, Result};
use crate::retry::{RetryPolicy, retry_after};
use crate::transport::{TransportOptions, api_host, certificate_problem, describe_request_error};

/// The most wharf reads of a token server's answer (real tokens, JWTs with
/// a certificate chain, are a few KiB).
pub const MAX_TOKEN_ANSWER: u64 = 1 << 20;

/// How a registry asks to be authenticated, read from its `GET /v2/` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No challenge: the registry is open.
    Open,
    /// HTTP basic auth.
    Basic,
    /// A bearer token from `realm`.
    Bearer {
        /// The token server's URL.
        realm: String,
        /// The `service` to name in token requests.
        service: Option<String>,
    },
}

impl Challenge {
    /// The challenge in `headers` (from a 401 answer); `Open` when there is
    /// none. Every `WWW-Authenticate` header is read with `http-auth`'s
    /// RFC 7235 parser (several challenges in one header, quoted values with
    /// escapes): a bearer challenge with a realm wins; any other challenge,
    /// or one that does not parse, means basic auth.
    pub fn from_headers(headers: &HeaderMap) -> Challenge {
        let mut values = headers.get_all(WWW_AUTHENTICATE).iter().peekable();
        if values.peek().is_none() {
            return Challenge::Open;
        }
        values
            .filter_map(|v| v.to_str().ok())
            .flat_map(challenges)
            .find_map(|(scheme, params)| {
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return None;
                }
                let get = |key: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.clone());
                let realm = get("realm").filter(|r| !r.is_empty())?;
                Some(Challenge::Bearer { realm, service: get("service") })
            })
            .unwrap_or(Challenge::Basic)
    }
}

/// The challenges of one `WWW-Authenticate` value, as (scheme, unescaped
/// params), up to the first syntax error (what comes before it is still read).
fn challenges(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    http_auth::parser::ChallengeParser::new(text)
        .map_while(std::result::Result::ok)
        .map(|c| {
            let params = c.params.iter().map(|(k, v)| (k.to_string(), v.to_unescaped())).collect();
            (c.scheme.to_string(), params)
        })
        .collect()
}

/// The token server's answer (the distribution token spec; OAuth2 servers say `access_token`).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// What a session sends as `Authorization`: nothing, basic credentials, or a
/// bearer token (redacted in debug output).
#[derive(Clone, Default)]
pub enum Grant {
    /// No header.
    #[default]
    None,
    /// HTTP basic auth.
    Basic(Credentials),
    /// A bearer token.
    Bearer(String),
}

impl Grant {
    /// The header value (marked sensitive, so debug output hides it).
    pub fn header(&self) -> Option<HeaderValue> {
        use base64::Engine;
        let text = match self {
            Grant::None => return None,
            Grant::Basic(c) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
            ),
            Grant::Bearer(token) => format!("Bearer {token}"),
        };
        let mut value = HeaderValue::from_str(&text).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::None => f.write_str("None"),
            Grant::Basic(c) => write!(f, "Basic({c:?})"),
            Grant::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Refuses to send `secret` to `url` unless it goes over TLS, or over plain
/// HTTP to a loopback host: credentials never cross a network in the clear.
/// The URL is parsed with the `url` crate (WHATWG rules, as reqwest reads
/// it), so the host checked is the host connected to.
pub fn refuse_plain_http_secret(url: &str, registry: &str, secret: &Secret) -> Result<()> {
    if matches!(secret, Secret::Anonymous) {
        return Ok(());
    }
    let refused = |detail: String| Error::Unauthorized { registry: registry.to_string(), detail };
    let parsed = url::Url::parse(url)
        .map_err(|e| refused(format!("wharf does not send credentials to {url:?}, which is not a URL ({e})")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if parsed.host().is_some_and(|h| is_loopback(&h)) => Ok(()),
        "http" => Err(refused(format!(
            "wharf does not send credentials over plain HTTP to {}; serve the registry (and its token server) \
             over TLS, or reach it on a loopback address",
            parsed.host_str().unwrap_or_default()
        ))),
        other => Err(refused(format!(
            "wharf sends credentials over https (or http to loopback) only, not to a {other}: URL"
        ))),
    }
}

/// Whether `host` is on the loopback interface: `localhost`, `127.0.0.0/8`, `::1`.
pub fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// What to send to a registry with `challenge` at `base` (`scheme://host`),
/// for `scopes` (`repository:NAME:pull[,push]`): fetches a token where the
/// challenge asks for one. Credentials go over TLS or to loopback only.
pub async fn authorization(
    client: &reqwest::Client,
    registry: &str,
    base: &str,
    challenge: &Challenge,
    secret: &Secret,
    scopes: &[String],
) -> Result<Grant> {
    match (challenge, secret) {
        (Challenge::Basic, Secret::Password(_)) => refuse_plain_http_secret(base, registry, secret)?,
        (Challenge::Bearer { realm, .. }, _) => refuse_plain_http_secret(realm, registry, secret)?,
        _ => {}
    }
    match (challenge, secret) {
        (Challenge::Open, _) | (Challenge::Basic, Secret::Anonymous) => Ok(Grant::None),
        (Challenge::Basic, Secret::Password(c)) => Ok(Grant::Basic(c.clone())),
        (Challenge::Basic, Secret::IdentityToken(_)) => Err(Error::Unauthorized {
            registry: registry.to_string(),
            detail: "the registry wants a user name and password, but the docker config holds an identity token \
                     for it"
                .into(),
        }),
        (Challenge::Bearer { realm, service }, secret) => {
            let token = fetch_token(client, registry, realm, service.as_deref(), secret, scopes).await?;
            if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                return Err(Error::Registry {
                    registry: registry.to_string(),
                    status: "an unusable token".into(),
                    message: "the token server's token is not a valid header value".into(),
                });
            }
            Ok(Grant::Bearer(token))
        }
    }
}

/// Checks `credentials` against `registry` as `docker login` does, sending
/// them only where a push or pull would: `GET /v2/` without them first, then
/// for a basic challenge the same request with them, for a bearer challenge a
/// token request (no scope) to the realm it names; either only over TLS or
/// to loopback ([`refuse_plain_http_secret`]). An open registry needs none:
/// the login succeeds, as docker's does.
///
/// These requests do not go through a registry session, so each one is retried
/// here under the same policy ([`RetryPolicy::send`]).
pub async fn check_login(registry: &str, options: &TransportOptions, credentials: &Credentials) -> Result<()> {
    let scheme = options.scheme_for(registry).await?;
    let client = options.probe_client()?;
    let base = format!("{}://{}", scheme.as_str(), api_host(registry));
    let ping = format!("{base}/v2/");
    let failed = |e: reqwest::Error| match certificate_problem(&e) {
        Some(detail) => Error::Certificate { registry: registry.to_string(), detail },
        None => Error::Unreachable { registry: registry.to_string(), detail: describe_request_error(&e) },
    };
    let unexpected = |status: reqwest::StatusCode| Error::Registry {
        registry: registry.to_string(),
        status: format!("HTTP {}", status.as_u16()),
        message: "unexpected answer to GET /v2/".into(),
    };
    let response = RetryPolicy::default().send(|| client.get(&ping), failed).await?;
    let challenge = match response.status() {
        status if status.is_success() => return Ok(()),
        reqwest::StatusCode::UNAUTHORIZED => Challenge::from_headers(response.headers()),
        status => return Err(unexpected(status)),
    };
    let secret = Secret::Password(credentials.clone());
    if let Challenge::Bearer { .. } = challenge {
        let grant = || authorization(&client, registry, &base, &challenge, &secret, &[]);
        return RetryPolicy::default().run(grant).await.map(|_| ());
    }
    refuse_plain_http_secret(&base, registry, &secret)?;
    let with_password = || client.get(&ping).basic_auth(&credentials.username, Some(&credentials.password));
    let response = RetryPolicy::default().send(with_password, failed).await?;
    match response.status() {
        status if status.is_success() => Ok(()),
        reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Err(Error::Unauthorized {
            registry: registry.to_string(),
            detail: "the registry refused the user name or password".into(),
        }),
        status => Err(unexpected(status)),
    }
}

/// Asks the token server at `realm` for a token: `GET` with the scopes (and
/// basic credentials if any), or for an identity token the OAuth2
/// `refresh_token` grant as a form `POST`.
async fn fetch_token(
    client: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    secret: &Secret,
    scopes: &[String],
) -> Result<String> {
    let realm_url =
        url::Url::parse(realm).ok().filter(|u| matches!(u.scheme(), "https" | "http")).ok_or_else(|| {
            Error::Registry {
                registry: registry.to_string(),
                status: "an unusable auth challenge".into(),
                message: format!("its token server (realm) {realm:?} is not an http(s) URL"),
            }
        })?;
    let request = match secret {
        Secret::IdentityToken(refresh_token) => {
            let mut form: Vec<(&str, &str)> = vec![
                ("grant_type", "refresh_token"),
                ("client_id", "wharf"),
                ("refresh_token", refresh_token.as_str()),
            ];
            if let Some(service) = service {
                form.push(("service", service));
            }
            let scope = scopes.join(" ");
            if !scope.is_empty() {
                form.push(("scope", &scope));
            }
            client.post(realm_url).form(&form)
        }
        Secret::Password(_) | Secret::Anonymous => {
            let mut query: Vec<(&str, &str)> = service.map(|s| ("service", s)).into_iter().collect();
            query.extend(scopes.iter().map(|s| ("scope", s.as_str())));
            // docker names the account along with basic credentials.
            if let Secret::Password(c) = secret {
                query.push(("account", &c.username));
            }
            let request = client.get(realm_url).query(&query);
            match secret {
                Secret::Password(c) => request.basic_auth(&c.username, Some(&c.password)),
                _ => request,
            }
        }
    };
    // A certificate that does not verify is the token server's answer, reported as the
    // registry's own would be (`Session::request_error`), never as a server that could
    // not be reached: the admission webhook's fail mode tells the two apart.
    let unreachable = |e: reqwest::Error| {
        let registry = format!("{registry}'s token server {}", without_query(realm));
        match certificate_problem(&e) {
            Some(detail) => Error::Certificate { registry, detail },
            None => Error::Unreachable { registry, detail: describe_request_error(&e) },
        }
    };
    let answer = request.send().await.map_err(unreachable)?;
    let status = answer.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let detail = match secret {
            Secret::Anonymous => format!("the token server refused an anonymous token ({status})"),
            Secret::Password(_) => format!("the token server refused the user name and password ({status})"),
            Secret::IdentityToken(_) => format!("the token server refused the identity token ({status})"),
        };
        return Err(Error::Unauthorized { registry: registry.to_string(), detail });
    }
    if !status.is_success() {
        let (status, message) =
            (format!("HTTP {}", status.as_u16()), format!("from the token server {}", without_query(realm)));
        let registry = registry.to_string();
        // A busy token server is waited for as a busy registry is (the session's retry policy).
        return Err(match retry_after(answer.headers()) {
            Some(after) if crate::retry::is_transient_status(answer.status()) => {
                Error::RetryLater { registry, status, after, message }
            }
            _ => Error::Registry { registry, status, message },
        });
    }
    let what = format!("token server answer from {}", without_query(realm));
    let body = read_capped(answer, MAX_TOKEN_ANSWER).await.map_err(|e| match e {
        CappedError::TooLarge(_) => {
            Error::malformed(&what, format!("it is over {MAX_TOKEN_ANSWER} bytes, more than wharf reads for a token"))
        }
        CappedError::Request(e) => unreachable(e),
    })?;
    let parsed: TokenAnswer = serde_json::from_slice(&body).map_err(|e| Error::malformed(&what, e))?;
    parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::malformed(what, "it holds no token"))
}

fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(u, _)| u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportOptions;

    fn bearer(realm: &str, service: Option<&str>) -> Challenge {
        Challenge::Bearer { realm: realm.into(), service: service.map(str::to_string) }
    }

    fn challenge_of(values: &[&'static str]) -> Challenge {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        Challenge::from_headers(&headers)
    }

    #[test]
    fn bearer_challenges_are_parsed() {
        assert_eq!(
            challenge_of(&[
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull,push""#
            ]),
            bearer("https://auth.example/token", Some("registry.example"))
        );
    }

    #[test]
    fn a_header_with_basic_and_bearer_challenges_and_an_escaped_quote_is_read_right() {
        // Two challenges in one header; the service holds an escaped quote and a comma.
        let header = r#"Basic realm="Registry \"main\", west", Bearer realm="https://auth.example/token", service="reg\"istry, eu""#;
        assert_eq!(challenge_of(&[header]), bearer("https://auth.example/token", Some(r#"reg"istry, eu"#)));
        // The same two as two headers, Bearer second; names in any case.
        assert_eq!(
            challenge_of(&[r#"Basic realm="r""#, r#"bearer REALM="https://t/token""#]),
            bearer("https://t/token", None)
        );
        // A basic challenge whose quoted realm looks like a bearer one is basic.
        assert_eq!(challenge_of(&[r#"Basic realm="Bearer realm=\"https://evil/\"""#]), Challenge::Basic);
        // A bearer challenge without a realm cannot be followed: basic.
        assert_eq!(challenge_of(&[r#"Bearer service="s""#]), Challenge::Basic);
    }

    #[test]
    fn challenges_are_classified() {
        let mut headers = HeaderMap::new();
        assert_eq!(Challenge::from_headers(&headers), Challenge::Open);
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="Registry Realm""#));
        assert_eq!(Challenge::from_headers(&headers), Challenge::Basic);
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="https://t/token",service="r""#));
        assert_eq!(
            Challenge::from_headers(&headers),
            Challenge::Bearer { realm: "https://t/token".into(), service: Some("r".into()) }
        );
    }

    #[test]
    fn credentials_go_over_plain_http_to_loopback_only() {
        let secret = Secret::Password(Credentials { username: "u".into(), password: "p".into() });
        for ok in [
            "https://registry.example",
            "http://127.0.0.1:5000",
            "http://localhost:5000/token",
            "http://[::1]:80",
            "http://LOCALHOST/token",
            "https://evil.example#@127.0.0.1/",
        ] {
            assert!(refuse_plain_http_secret(ok, "r", &secret).is_ok(), "{ok}");
        }
        for refused in [
            "http://registry.example:5000",
            "http://10.0.0.7/token?x=1",
            "http://user@evil.example/",
            "ftp://127.0.0.1/token",
            "not a url",
        ] {
            assert!(refuse_plain_http_secret(refused, "r", &secret).is_err(), "{refused}");
        }
        assert!(refuse_plain_http_secret("http://registry.example", "r", &Secret::Anonymous).is_ok());
    }

    #[test]
    fn a_url_whose_fragment_or_userinfo_names_loopback_is_not_loopback() {
        let secret = Secret::Password(Credentials { username: "u".into(), password: "p".into() });
        for evil in [
            "http://evil.example#@127.0.0.1/",
            "http://evil.example?@127.0.0.1/",
            "http://127.0.0.1@evil.example/token",
            "http://127.0.0.1:5000@evil.example/",
            "http://evil.example\\@127.0.0.1/",
            "http://localhost.evil.example/",
        ] {
            let error = refuse_plain_http_secret(evil, "r", &secret).expect_err(evil);
            let text = error.to_string();
            assert!(text.contains("over plain HTTP to") && text.contains("evil.example"), "{evil}: {text}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let secret = Secret::Password(Credentials { username: "u".into(), password: "hunter2".into() });
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{:?}", Secret::IdentityToken("refresh-me".into())).contains("refresh-me"));
    }

    #[test]
    fn command_line_credentials_go_to_their_registry_only() {
        let credentials = Credentials { username: "ci".into(), password: "bound-secret".into() };
        let options = TransportOptions::default().with_credentials("Registry.Example:5000", credentials);
        let password = |registry: &str| match options.secret_for(registry) {
            Secret::Password(c) => Some(c.password),
            _ => None,
        };
        assert_eq!(password("registry.example:5000").as_deref(), Some("bound-secret"));
        for other in ["registry.example", "registry.example:5001", "other.example:5000", "127.0.0.1:5000"] {
            assert_ne!(password(other).as_deref(), Some("bound-secret"), "{other}");
        }
        let hub = TransportOptions::default()
            .with_credentials("docker.io", Credentials { username: "me".into(), password: "hub".into() });
        assert!(matches!(hub.secret_for("index.docker.io"), Secret::Password(c) if c.password == "hub"));
    }

    #[test]
    fn each_registry_gets_its_first_binding() {
        let bind = |password: &str| Credentials { username: "u".into(), password: password.into() };
        let options = TransportOptions::default()
            .with_credentials("a.example", bind("own"))
            .with_credentials("b.example", bind("b"))
            .with_credentials("a.example", bind("fallback"));
        assert!(matches!(options.secret_for("a.example"), Secret::Password(c) if c.password == "own"));
        assert!(matches!(options.secret_for("b.example"), Secret::Password(c) if c.password == "b"));
    }
}
