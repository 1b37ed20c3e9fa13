//! The OCI distribution API for one repository, on reqwest: manifests, blobs
//! (existence, download, upload, mount) and the referrers API.
//!
//! This replaces oci-client 0.18, which wharf used first, because it falls
//! short on what a CI tool and an admission webhook need (each point is
//! tested in registry-tests):
//! - against a registry that sends no auth challenge it repeats `GET /v2/`
//!   before every request (10 of the 17 requests of a push);
//! - it hides response headers, so `Retry-After` (rate limits), `OCI-Subject`
//!   (whether the registry indexed a referrer) and the upload `Location`
//!   are out of reach;
//! - it has no identity-token (OAuth2 refresh token) exchange, and swallows
//!   token errors, sending the request anonymously instead;
//! - its pulls and its referrers fallback read bodies without a size limit.
//!
//! Digest checks stay where they were: every stream is verified against its
//! descriptor by [`crate::digest::VerifyingStream`] before anything is kept.
//!
//! Authentication follows the registry's challenge ([`crate::auth`]): the
//! first `401` brings it, and a later one (an expired token) fetches a new
//! token once; the request is repeated when its body can be sent again.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::sync::RwLock;

use crate::auth::{Challenge, Grant, Secret, authorization};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::MAX_DOCUMENT_SIZE;
use crate::transport::{Scheme, api_host};
use crate::transport::{certificate_problem, describe_request_error};

/// The longest `Retry-After` wharf honours by waiting; a registry asking for
/// more gets an error that says so.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A connection to one repository of one registry.
///
/// There is no separate `GET /v2/` probe: the first real request picks the
/// scheme (TLS, or on loopback plain HTTP when the server does not speak TLS)
/// and, if it is answered `401`, brings the auth challenge; wharf then gets
/// what the challenge asks for and repeats the request. So a re-push of an
/// unchanged artifact to an open registry is one round trip.
pub struct Session {
    http: reqwest::Client,
    registry: String,
    repository: String,
    /// Schemes to try for the first request, in order.
    schemes: Vec<Scheme>,
    secret: Secret,
    scopes: Vec<String>,
    link: RwLock<Link>,
}

/// What the session learnt from the registry's answers.
#[derive(Default)]
struct Link {
    /// `scheme://host[:port]`, once a request got through.
    base: Option<String>,
    /// Whether a request was answered `401` with a challenge yet.
    challenged: bool,
    grant: Grant,
}

/// A request body that can be sent again (after a token refresh or a scheme fallback).
pub enum Body {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
}

/// Most pages of a tag list read (a registry pages by 100 or 1000 tags).
pub const MAX_TAG_PAGES: usize = 100;

/// Where a request goes.
pub enum Target<'a> {
    /// A path under the repository's API root, `/v2/NAME/` + this.
    Api(String),
    /// An absolute URL the registry gave (an upload `Location`).
    Url(&'a str),
}

impl Session {
    /// A session for `repository` at `registry`, trying `schemes` in order
    /// for the first request, authenticating for `scopes`
    /// (`repository:NAME:ACTIONS`) when the registry asks.
    pub fn new(
        http: reqwest::Client,
        registry: &str,
        repository: &str,
        schemes: Vec<Scheme>,
        secret: Secret,
        scopes: Vec<String>,
    ) -> Session {
        Session {
            http,
            registry: registry.to_string(),
            repository: repository.to_string(),
            schemes,
            secret,
            scopes,
            link: RwLock::new(Link::default()),
        }
    }

    /// The scheme in use, once a request got through.
    pub async fn scheme(&self) -> Option<Scheme> {
        let base = self.link.read().await.base.clone()?;
        Some(if base.starts_with("https://") { Scheme::Https } else { Scheme::Http })
    }

    /// The base in use, or before any request got through, the first one to try.
    async fn base(&self) -> String {
        match self.link.read().await.base.clone() {
            Some(base) => base,
            None => self.base_for(self.schemes.first().copied().unwrap_or(Scheme::Https)),
        }
    }

    fn base_for(&self, scheme: Scheme) -> String {
        format!("{}://{}", scheme.as_str(), api_host(&self.registry))
    }

    fn url(&self, base: &str, target: &Target<'_>) -> String {
        match target {
            Target::Api(tail) => format!("{base}/v2/{}/{tail}", self.repository),
            Target::Url(url) => url.to_string(),
        }
    }

    /// Sends a request with a replayable body. The first request of the
    /// session settles the scheme; a `401` brings (or refreshes) the
    /// authorization, and the request is sent once more.
    pub async fn send(&self, method: Method, target: Target<'_>, headers: HeaderMap, body: Body) -> Result<Response> {
        let mut authorized_again = false;
        loop {
            let response = self.send_once(&method, &target, &headers, &body).await?;
            if response.status() == StatusCode::UNAUTHORIZED && !authorized_again && self.reauthorize(&response).await?
            {
                authorized_again = true;
                continue;
            }
            return Ok(response);
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        target: &Target<'_>,
        headers: &HeaderMap,
        body: &Body,
    ) -> Result<Response> {
        let known = self.link.read().await.base.clone();
        let candidates: Vec<String> = match known {
            Some(base) => vec![base],
            None => self.schemes.iter().map(|s| self.base_for(*s)).collect(),
        };
        let mut last_error = None;
        for (i, base) in candidates.iter().enumerate() {
            let url = self.url(base, target);
            let mut request = self.http.request(method.clone(), &url).headers(headers.clone());
            if let Some(value) = self.authorization_for(base, &url).await {
                request = request.header(AUTHORIZATION, value);
            }
            request = match body {
                Body::Empty => request.header(CONTENT_LENGTH, 0),
                Body::Bytes(b) => request.body(b.clone()),
            };
            match request.send().await {
                Ok(response) => {
                    self.link.write().await.base.get_or_insert_with(|| base.clone());
                    return Ok(response);
                }
                // A certificate problem is reported, never passed over; any other
                // failure to speak TLS on loopback means: try plain HTTP.
                Err(e) if certificate_problem(&e).is_none() && i + 1 < candidates.len() => last_error = Some(e),
                Err(e) => return Err(self.request_error(e)),
            }
        }
        Err(match last_error {
            Some(e) => self.request_error(e),
            None => Error::Unreachable { registry: self.registry.clone(), detail: "no scheme to try".into() },
        })
    }

    /// Sends a request whose body is a stream (sent once: no retry on 401;
    /// an earlier request of the session has settled scheme and auth).
    pub async fn send_stream(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: reqwest::Body,
    ) -> Result<Response> {
        let base = self.base().await;
        let mut request = self.http.request(method, url).headers(headers).body(body);
        if let Some(value) = self.authorization_for(&base, url).await {
            request = request.header(AUTHORIZATION, value);
        }
        request.send().await.map_err(|e| body_error(&e).unwrap_or_else(|| self.request_error(e)))
    }

    /// The header for `url`: none for another origin (an upload `Location` may
    /// point at blob storage elsewhere; credentials stay with the registry).
    async fn authorization_for(&self, base: &str, url: &str) -> Option<HeaderValue> {
        if !same_origin(base, url) {
            return None;
        }
        self.link.read().await.grant.header()
    }

    /// After a `401`: learns the challenge and gets what it asks for. False
    /// when that cannot change the answer (basic auth already sent, or nothing to send).
    async fn reauthorize(&self, response: &Response) -> Result<bool> {
        let challenge = match Challenge::from_headers(response.headers()) {
            Challenge::Open => Challenge::Basic,
            other => other,
        };
        let base = self.base().await;
        let first_time = !self.link.read().await.challenged;
        let retry = match (&challenge, &self.secret) {
            (Challenge::Bearer { .. }, _) => true,
            (_, Secret::Anonymous) => false,
            _ => first_time,
        };
        if !retry {
            return Ok(false);
        }
        let grant = authorization(&self.http, &self.registry, &base, &challenge, &self.secret, &self.scopes).await?;
        let mut link = self.link.write().await;
        link.challenged = true;
        link.grant = grant;
        Ok(true)
    }

    fn request_error(&self, e: reqwest::Error) -> Error {
        match certificate_problem(&e) {
            Some(detail) => Error::Certificate { registry: self.registry.clone(), detail },
            None => Error::Unreachable { registry: self.registry.clone(), detail: describe_request_error(&e) },
        }
    }

    /// Turns a non-success answer into a wharf error about `what`.
    pub async fn failure(&self, response: Response, what: &str) -> Error {
        self.failure_and_code(response, what).await.0
    }

    /// A non-success answer to an upload's final request. The registry checks
    /// the digest of what arrived; its `DIGEST_INVALID` is a digest mismatch,
    /// as wharf's own check on the way out would have reported it.
    async fn upload_failure(&self, response: Response, digest: &Digest) -> Error {
        let (error, code) = self.failure_and_code(response, &format!("the upload of blob {digest}")).await;
        if code.as_deref() == Some("DIGEST_INVALID") {
            return Error::DigestMismatch {
                expected: digest.to_string(),
                actual: "other content, by the registry's own check (did the source change while it was sent?)".into(),
            };
        }
        error
    }

    /// [`Session::failure`], with the registry's error code when it sent one.
    async fn failure_and_code(&self, response: Response, what: &str) -> (Error, Option<String>) {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = read_capped(response, 64 << 10).await.unwrap_or_default();
        let (code, message) = error_envelope(&body);
        let registry = self.registry.clone();
        let error = match status.as_u16() {
            404 => Error::NotFound { what: format!("{what} in {}/{}", self.registry, self.repository) },
            401 | 403 => Error::Unauthorized {
                registry,
                detail: match message {
                    Some(m) => format!("{m} ({what})"),
                    None => format!("the registry answered {status} to a request for {what}"),
                },
            },
            429 | 503 if retry_after.is_some() => Error::RetryLater {
                registry,
                status: format!("HTTP {}", status.as_u16()),
                after: retry_after.unwrap_or_default(),
                message: message.unwrap_or_else(|| format!("while handling {what}")),
            },
            code_num => Error::Registry {
                registry,
                status: format!("HTTP {code_num}"),
                message: match (&code, message) {
                    (Some(c), Some(m)) => format!("{c}: {m} (while handling {what})"),
                    (_, Some(m)) => format!("{m} (while handling {what})"),
                    _ => format!("while handling {what}"),
                },
            },
        };
        (error, code)
    }

    /// `GET` (or `HEAD`) a manifest by tag or digest, accepting `accept`.
    /// Returns the answer when it is a success; 404 becomes `NotFound`.
    pub async fn manifest(&self, method: Method, reference: &str, accept: &[&str], what: &str) -> Result<Response> {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&accept.join(", ")) {
            headers.insert(reqwest::header::ACCEPT, value);
        }
        let response = self.send(method, Target::Api(format!("manifests/{reference}")), headers, Body::Empty).await?;
        if response.status().is_success() { Ok(response) } else { Err(self.failure(response, what).await) }
    }

    /// `PUT` a manifest under `reference` (tag or digest). Returns the
    /// registry's `OCI-Subject` header, if it sent one.
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: Bytes) -> Result<Option<String>> {
        let mut headers = HeaderMap::new();
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            Error::malformed("manifest", format!("media type {media_type:?} is not a valid header value"))
        })?;
        headers.insert(CONTENT_TYPE, content_type);
        let target = Target::Api(format!("manifests/{reference}"));
        let response = self.send(Method::PUT, target, headers, Body::Bytes(bytes)).await?;
        if !response.status().is_success() {
            return Err(self.failure(response, &format!("manifest {reference}")).await);
        }
        Ok(response.headers().get("OCI-Subject").and_then(|v| v.to_str().ok()).map(str::to_string))
    }

    /// `GET` a blob: the answer, ready to stream (redirects to blob storage are
    /// followed without the `Authorization` header, reqwest's rule for another host).
    pub async fn blob(&self, digest: &Digest) -> Result<Response> {
        let response =
            self.send(Method::GET, Target::Api(format!("blobs/{digest}")), HeaderMap::new(), Body::Empty).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.failure(response, &format!("blob {digest}")).await)
        }
    }

    /// `HEAD` a blob: true if the repository has it.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        let response =
            self.send(Method::HEAD, Target::Api(format!("blobs/{digest}")), HeaderMap::new(), Body::Empty).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.failure(response, &format!("blob {digest}")).await),
        }
    }

    /// Starts an upload session (`POST .../blobs/uploads/`); returns its URL.
    pub async fn start_upload(&self, digest: &Digest) -> Result<String> {
        let response =
            self.send(Method::POST, Target::Api("blobs/uploads/".into()), HeaderMap::new(), Body::Empty).await?;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(self.failure(response, &format!("the upload of blob {digest}")).await);
        }
        self.location(&response, digest).await
    }

    /// The upload URL an answer's `Location` names, resolved against the
    /// request's URL as RFC 3986 says: registries send absolute URLs, absolute
    /// paths, and paths relative to the request (`UUID?_state=...`, `../uploads/...`).
    async fn location(&self, response: &Response, digest: &Digest) -> Result<String> {
        let problem = |message: String| Error::Registry {
            registry: self.registry.clone(),
            status: format!("HTTP {}", response.status().as_u16()),
            message,
        };
        let Some(location) = response.headers().get(LOCATION) else {
            return Err(problem(format!("the upload of blob {digest} got no Location to send it to")));
        };
        let resolved = location.to_str().ok().and_then(|text| resolve(response.url(), text));
        resolved.map(String::from).ok_or_else(|| {
            problem(format!("the upload of blob {digest} got a Location that is not a URL: {location:?}"))
        })
    }

    /// Sends `body` (all `size` bytes) to the upload at `location` in one
    /// streamed `PUT ?digest=` (a monolithic upload: the fewest round trips).
    pub async fn finish_upload(&self, location: &str, digest: &Digest, size: u64, body: reqwest::Body) -> Result<()> {
        let url = with_digest(location, digest);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
        let response = self.send_stream(Method::PUT, &url, headers, body).await?;
        if response.status().is_success() { Ok(()) } else { Err(self.upload_failure(response, digest).await) }
    }

    /// Sends `chunk` (the bytes at `offset` of the blob) with a `PATCH`;
    /// returns the upload's next URL. Replayable, so a token refresh may repeat it.
    pub async fn patch_chunk(&self, location: &str, offset: u64, chunk: Bytes, digest: &Digest) -> Result<String> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        let end = offset + chunk.len() as u64 - 1;
        if let Ok(range) = HeaderValue::from_str(&format!("{offset}-{end}")) {
            headers.insert(reqwest::header::CONTENT_RANGE, range);
        }
        let response = self.send(Method::PATCH, Target::Url(location), headers, Body::Bytes(chunk)).await?;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(self.failure(response, &format!("the upload of blob {digest}")).await);
        }
        self.location(&response, digest).await
    }

    /// The upload's state after an interrupted request: how many bytes the
    /// registry holds (from its `Range: 0-LAST`) and the URL to continue at.
    pub async fn upload_status(&self, location: &str, digest: &Digest) -> Result<(u64, String)> {
        let response = self.send(Method::GET, Target::Url(location), HeaderMap::new(), Body::Empty).await?;
        if response.status() != StatusCode::NO_CONTENT && !response.status().is_success() {
            return Err(self.failure(response, &format!("the upload of blob {digest}")).await);
        }
        let received = response
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.trim().split_once('-'))
            .and_then(|(_, last)| last.parse::<u64>().ok())
            .map_or(0, |last| last + 1);
        let next = self.location(&response, digest).await.unwrap_or_else(|_| location.to_string());
        Ok((received, next))
    }

    /// Completes a chunked upload (`PUT ?digest=` with no body).
    pub async fn close_upload(&self, location: &str, digest: &Digest) -> Result<()> {
        let url = with_digest(location, digest);
        let response = self.send(Method::PUT, Target::Url(&url), HeaderMap::new(), Body::Empty).await?;
        if response.status().is_success() { Ok(()) } else { Err(self.upload_failure(response, digest).await) }
    }

    /// Asks the registry to mount `digest` from repository `from` (same
    /// registry). True when it did (201); any other answer means: upload.
    pub async fn mount(&self, digest: &Digest, from: &str) -> Result<bool> {
        let target = Target::Api(format!("blobs/uploads/?mount={digest}&from={from}"));
        let response = self.send(Method::POST, target, HeaderMap::new(), Body::Empty).await?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// The referrers API's index for `subject`, or `None` when the registry
    /// has no referrers API (404, as distribution 2.8 answers).
    pub async fn referrers(&self, subject: &Digest) -> Result<Option<Bytes>> {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(crate::media::OCI_INDEX));
        let target = Target::Api(format!("referrers/{subject}"));
        let response = self.send(Method::GET, target, headers, Body::Empty).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let what = format!("referrers of {subject}");
                read_capped(response, MAX_DOCUMENT_SIZE).await.map(Some).map_err(|e| self.document_error(e, &what))
            }
            _ => Err(self.failure(response, &format!("referrers of {subject}")).await),
        }
    }

    /// The repository's tags (`GET tags/list`), following the registry's
    /// `Link: <...>; rel="next"` pages, at most [`MAX_TAG_PAGES`] of them.
    pub async fn tags(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let what = format!("the tag list of {}/{}", self.registry, self.repository);
        let mut tags = Vec::new();
        let mut next = Some("tags/list".to_string());
        for _ in 0..MAX_TAG_PAGES {
            let Some(page) = next.take() else { break };
            let target = if page.starts_with("http") { Target::Url(&page) } else { Target::Api(page.clone()) };
            let response = self.send(Method::GET, target, HeaderMap::new(), Body::Empty).await?;
            if !response.status().is_success() {
                return Err(self.failure(response, &what).await);
            }
            next = next_page(response.url(), response.headers());
            let bytes = self.document(response, &what).await?;
            let list: TagList = serde_json::from_slice(&bytes).map_err(|e| Error::malformed(what.clone(), e))?;
            tags.extend(list.tags.unwrap_or_default());
        }
        Ok(tags)
    }

    /// Reads a document answer (manifest, index), refusing more than [`MAX_DOCUMENT_SIZE`].
    pub async fn document(&self, response: Response, what: &str) -> Result<Bytes> {
        read_capped(response, MAX_DOCUMENT_SIZE).await.map_err(|e| self.document_error(e, what))
    }

    fn document_error(&self, e: CappedError, what: &str) -> Error {
        match e {
            CappedError::TooLarge => Error::malformed(
                what,
                format!(
                    "the registry sent more than {MAX_DOCUMENT_SIZE} bytes; wharf reads at most that for a document"
                ),
            ),
            CappedError::Request(e) => self.request_error(e),
        }
    }
}

/// The absolute URL of the next page a `Link: <URL>; rel="next"` header names,
/// if any, resolved against the URL of the page that named it.
fn next_page(page: &Url, headers: &HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    let (target, params) = link.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    resolve(page, target).map(String::from)
}

/// `reference` (a `Location` or `Link` target) resolved against `base`, the
/// URL of the request it answered; only `http` and `https` results count.
fn resolve(base: &Url, reference: &str) -> Option<Url> {
    base.join(reference).ok().filter(|url| matches!(url.scheme(), "http" | "https"))
}

/// Whether `url` has the origin (scheme, host, port) of `base`.
fn same_origin(base: &str, url: &str) -> bool {
    match (Url::parse(base), Url::parse(url)) {
        (Ok(base), Ok(url)) => base.origin() == url.origin(),
        _ => false,
    }
}

/// The upload URL `location` with `digest=` added to its query, as the last
/// request of an upload needs it.
fn with_digest(location: &str, digest: &Digest) -> String {
    match Url::parse(location) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("digest", digest.as_str());
            url.into()
        }
        // Every upload URL went through `resolve`; kept whole for an error to name otherwise.
        Err(_) => format!("{location}{}digest={digest}", if location.contains('?') { '&' } else { '?' }),
    }
}

/// The integrity error a request body's [`crate::digest::VerifyingStream`]
/// raised, if that is why the request failed (it travels inside hyper's
/// "error from the body stream").
fn body_error(e: &reqwest::Error) -> Option<Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(ours) = io.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
        {
            return Some(match ours {
                Error::DigestMismatch { expected, actual } => {
                    Error::DigestMismatch { expected: expected.clone(), actual: actual.clone() }
                }
                Error::SizeMismatch { digest, expected, actual } => {
                    Error::SizeMismatch { digest: digest.clone(), expected: *expected, actual: *actual }
                }
                other => Error::Transfer { what: "an upload".into(), source: std::io::Error::other(other.to_string()) },
            });
        }
        source = err.source();
    }
    None
}

enum CappedError {
    TooLarge,
    Request(reqwest::Error),
}

/// Reads a response body, refusing more than `cap` bytes (whatever the headers claim).
async fn read_capped(mut response: Response, cap: u64) -> std::result::Result<Bytes, CappedError> {
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(CappedError::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CappedError::Request)? {
        if (out.len() + chunk.len()) as u64 > cap {
            return Err(CappedError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// The `Retry-After` of an answer, in seconds (an HTTP date counts as "soon":
/// one second, since clocks may disagree).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) if !text.is_empty() => Some(Duration::from_secs(1)),
        Err(_) => None,
    }
}

/// The first error code and message of a distribution error body, if it is one.
fn error_envelope(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { errors }) => match errors.into_iter().next() {
            Some(e) => (Some(e.code).filter(|c| !c.is_empty()), Some(e.message).filter(|m| !m.is_empty())),
            None => (None, None),
        },
        Err(_) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_request() {
        let request = Url::parse("http://r.example:5000/v2/a/b/blobs/uploads/").expect("url");
        let resolved = |l: &str| resolve(&request, l).map(String::from);
        assert_eq!(resolved("u1?_state=x").as_deref(), Some("http://r.example:5000/v2/a/b/blobs/uploads/u1?_state=x"));
        assert_eq!(resolved("../uploads/u2").as_deref(), Some("http://r.example:5000/v2/a/b/blobs/uploads/u2"));
        assert_eq!(
            resolved("/v2/a/b/blobs/uploads/u3").as_deref(),
            Some("http://r.example:5000/v2/a/b/blobs/uploads/u3")
        );
        assert_eq!(resolved("https://blobs.example/u4").as_deref(), Some("https://blobs.example/u4"));
        assert_eq!(resolved("//blobs.example/u5").as_deref(), Some("http://blobs.example/u5"));
        assert_eq!(resolved("file:///etc/passwd"), None);
        assert_eq!(resolved("http://[::1"), None);
    }

    #[test]
    fn only_the_same_origin_gets_credentials() {
        let base = "https://r.example";
        assert!(same_origin(base, "https://r.example/v2/x"));
        assert!(same_origin(base, "https://r.example:443/v2/x"));
        assert!(!same_origin(base, "http://r.example/v2/x"));
        assert!(!same_origin(base, "https://r.example.evil/v2/x"));
        assert!(!same_origin(base, "https://r.example@evil.example/v2/x"));
        assert!(!same_origin(base, "not a url"));
    }

    #[test]
    fn digests_join_the_upload_query() {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().expect("digest");
        let joined = with_digest("http://r/v2/x/blobs/uploads/u?_state=s", &digest);
        assert_eq!(joined, format!("http://r/v2/x/blobs/uploads/u?_state=s&digest=sha256%3A{}", "a".repeat(64)));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(1)));
    }

    #[test]
    fn error_envelopes_give_code_and_message() {
        let body = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert_eq!(
            error_envelope(body),
            (Some("DENIED".into()), Some("requested access to the resource is denied".into()))
        );
        assert_eq!(error_envelope(b"<html>"), (None, None));
    }
}
