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
//!
//! Every request goes through [`Session::send`], which applies the one retry
//! policy ([`crate::retry`]) to all of them: manifests, configs, blobs,
//! existence checks, referrers, tag lists, upload sessions, mounts, and the
//! token requests an attempt makes on the way. A document is fetched and read
//! as one attempt ([`Session::get_document`]), so a connection cut mid-body is
//! retried like a refused one; a blob download resumes where the cut came
//! ([`Session::blob_stream`]). Two kinds of request are left to their caller:
//! a chunk `PATCH`, which may have landed in part (the store asks the registry
//! where to go on), and a streamed upload, whose body cannot be sent again (the
//! store opens its source again and sends it to the same upload session when
//! the registry holds nothing of it, else to a new one).

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::sync::RwLock;

use crate::auth::{Challenge, Grant, authorization};
use crate::body::{CappedError, read_capped};
use crate::credentials::Secret;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::MAX_DOCUMENT_SIZE;
use crate::retry::{Attempts, RetryPolicy, retry_after};
use crate::transport::{Scheme, api_host};
use crate::transport::{certificate_problem, describe_request_error};

mod ranges;
pub use ranges::BlobRange;

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
    retry: RetryPolicy,
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
pub enum Endpoint<'a> {
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
            retry: RetryPolicy::default(),
            link: RwLock::new(Link::default()),
        }
    }

    /// The retry policy every request of the session follows.
    pub fn retry(&self) -> RetryPolicy {
        self.retry
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

    fn url(&self, base: &str, target: &Endpoint<'_>) -> String {
        match target {
            Endpoint::Api(tail) => format!("{base}/v2/{}/{tail}", self.repository),
            Endpoint::Url(url) => url.to_string(),
        }
    }

    /// Sends a request with a replayable body under the session's retry
    /// policy: a failure to connect, a connection that broke, or an answer
    /// that means "not now" (5xx, 408, 429, waiting as its `Retry-After`
    /// asks) is tried again until the attempts run out; then the last answer
    /// (or error) is returned. A chunk `PATCH` is sent once: it may have
    /// landed in part, and the store resumes it from the registry's offset.
    pub async fn send(&self, method: Method, target: Endpoint<'_>, headers: HeaderMap, body: Body) -> Result<Response> {
        let policy = if method == Method::PATCH { RetryPolicy::once() } else { self.retry };
        let mut attempts = policy.attempts();
        loop {
            let result = self.attempt(&method, &target, &headers, &body).await;
            let again = match &result {
                Ok(response) => attempts.again_after_answer(response.status(), retry_after(response.headers())).await,
                Err(error) => self.again(&mut attempts, error).await,
            };
            if !again {
                return result;
            }
        }
    }

    /// One attempt at a request. The first request of the session settles the
    /// scheme; a `401` brings (or refreshes) the authorization (a token request,
    /// part of this attempt), and the request is sent once more.
    async fn attempt(
        &self,
        method: &Method,
        target: &Endpoint<'_>,
        headers: &HeaderMap,
        body: &Body,
    ) -> Result<Response> {
        let mut authorized_again = false;
        loop {
            let response = self.send_once(method, target, headers, body).await?;
            if response.status() == StatusCode::UNAUTHORIZED && !authorized_again && self.reauthorize(&response).await?
            {
                authorized_again = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// `GET`s `target` and reads the whole answer, at most `cap` bytes. The
    /// request and the read are one attempt under the retry policy, so a
    /// connection cut mid-body is retried like a refused one. A non-success
    /// answer becomes an error about `what` (404: not found).
    pub async fn get_document(
        &self,
        target: Endpoint<'_>,
        headers: HeaderMap,
        what: &str,
        cap: u64,
    ) -> Result<Document> {
        let mut attempts = self.retry.attempts();
        loop {
            let result = match self.attempt(&Method::GET, &target, &headers, &Body::Empty).await {
                Ok(response) if response.status().is_success() => self.read_document(response, what, cap).await,
                Ok(response) => {
                    if attempts.again_after_answer(response.status(), retry_after(response.headers())).await {
                        continue;
                    }
                    return Err(self.failure(response, what).await);
                }
                Err(e) => Err(e),
            };
            match result {
                Err(e) if self.again(&mut attempts, &e).await => {}
                other => return other,
            }
        }
    }

    /// [`Attempts::again`], except for a registry that has not answered once
    /// in this session and cannot be reached: it is down, or the address is
    /// wrong, and that is said at once. Once it has answered, a connection
    /// that fails is a transient failure (a restart, a load balancer).
    async fn again(&self, attempts: &mut Attempts, error: &Error) -> bool {
        if matches!(error, Error::Unreachable { .. }) && self.link.read().await.base.is_none() {
            return false;
        }
        attempts.again(error).await
    }

    async fn read_document(&self, response: Response, what: &str, cap: u64) -> Result<Document> {
        let (url, headers) = (response.url().clone(), response.headers().clone());
        let bytes = read_capped(response, cap).await.map_err(|e| self.document_error(e, what))?;
        Ok(Document { url, headers, bytes })
    }

    async fn send_once(
        &self,
        method: &Method,
        target: &Endpoint<'_>,
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
    /// when that cannot change the answer (basic auth already sent, or nothing to send),
    /// or when another origin answered (blob storage behind a redirect, an upload
    /// `Location` elsewhere): its challenge is its own, and the registry's credentials
    /// never go to the realm it names.
    async fn reauthorize(&self, response: &Response) -> Result<bool> {
        let base = self.base().await;
        if !same_origin(&base, response.url().as_str()) {
            return Ok(false);
        }
        let challenge = match Challenge::from_headers(response.headers()) {
            Challenge::Open => Challenge::Basic,
            other => other,
        };
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
        let response = self.send(method, Endpoint::Api(format!("manifests/{reference}")), headers, Body::Empty).await?;
        if response.status().is_success() { Ok(response) } else { Err(self.failure(response, what).await) }
    }

    /// `GET` a manifest by tag or digest, accepting `accept`, read whole
    /// (at most [`MAX_DOCUMENT_SIZE`]) under the retry policy.
    pub async fn manifest_bytes(&self, reference: &str, accept: &[&str], what: &str) -> Result<Bytes> {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&accept.join(", ")) {
            headers.insert(reqwest::header::ACCEPT, value);
        }
        let target = Endpoint::Api(format!("manifests/{reference}"));
        Ok(self.get_document(target, headers, what, MAX_DOCUMENT_SIZE).await?.bytes)
    }

    /// `PUT` a manifest under `reference` (tag or digest). Returns the
    /// registry's `OCI-Subject` header, if it sent one.
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: Bytes) -> Result<Option<String>> {
        let mut headers = HeaderMap::new();
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            Error::malformed("manifest", format!("media type {media_type:?} is not a valid header value"))
        })?;
        headers.insert(CONTENT_TYPE, content_type);
        let target = Endpoint::Api(format!("manifests/{reference}"));
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
            self.send(Method::GET, Endpoint::Api(format!("blobs/{digest}")), HeaderMap::new(), Body::Empty).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.failure(response, &format!("blob {digest}")).await)
        }
    }

    /// A small blob (a config, a signature's payload) read whole, at most
    /// `cap` bytes, under the retry policy. Not checked against its digest here.
    pub async fn blob_bytes(&self, digest: &Digest, cap: u64) -> Result<Bytes> {
        let target = Endpoint::Api(format!("blobs/{digest}"));
        Ok(self.get_document(target, HeaderMap::new(), &format!("blob {digest}"), cap).await?.bytes)
    }

    /// A blob's content as a stream that outlives broken connections: when
    /// the body fails part-way (a reset, a read that timed out), the rest is
    /// asked for with `Range: bytes=N-` and the stream goes on, within one
    /// budget of the retry policy; a registry that answers the range with the
    /// whole blob has what was already read skipped. Not checked against its
    /// digest here (callers wrap it in [`crate::digest::VerifyingStream`], which
    /// also catches a registry that serves other bytes the second time).
    pub async fn blob_stream(self: &Arc<Self>, digest: &Digest) -> Result<ResumingStream> {
        let response = self.blob(digest).await?;
        Ok(self.stream_from(digest, response))
    }

    /// The blob `digest` from `response` (a whole-blob answer) on, as
    /// [`Session::blob_stream`] reads it: resumed when it breaks off.
    fn stream_from(self: &Arc<Self>, digest: &Digest, response: Response) -> ResumingStream {
        let state = Resume {
            session: Arc::clone(self),
            digest: digest.clone(),
            response: Some(response),
            received: 0,
            skip: 0,
            attempts: self.retry.attempts(),
            done: false,
        };
        Box::pin(futures::stream::unfold(state, Resume::next))
    }

    /// Asks again for `digest` from byte `from` on. Returns the answer and
    /// how many of its first bytes to skip (all of `from` when the registry
    /// sent the whole blob).
    async fn resume_blob(&self, digest: &Digest, from: u64) -> Result<(Response, u64)> {
        let what = format!("blob {digest}");
        let mut headers = HeaderMap::new();
        if let Ok(range) = HeaderValue::from_str(&format!("bytes={from}-")) {
            headers.insert(reqwest::header::RANGE, range);
        }
        let target = Endpoint::Api(format!("blobs/{digest}"));
        let response = self.attempt(&Method::GET, &target, &headers, &Body::Empty).await?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let range = response.headers().get(reqwest::header::CONTENT_RANGE).and_then(|v| v.to_str().ok());
                if range_start(range) == Some(from) {
                    return Ok((response, 0));
                }
                Err(Error::Registry {
                    registry: self.registry.clone(),
                    status: "HTTP 206".into(),
                    message: format!("asked for {what} from byte {from} on, it sent the range {range:?}"),
                })
            }
            status if status.is_success() => Ok((response, from)),
            _ => Err(self.failure(response, &what).await),
        }
    }

    /// `HEAD` a blob: true if the repository has it.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        let response =
            self.send(Method::HEAD, Endpoint::Api(format!("blobs/{digest}")), HeaderMap::new(), Body::Empty).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.failure(response, &format!("blob {digest}")).await),
        }
    }

    /// Starts an upload session (`POST .../blobs/uploads/`) for `blob` (a
    /// digest, or words for a blob whose digest is not known yet); returns its URL.
    pub async fn start_upload(&self, blob: &(dyn std::fmt::Display + Sync)) -> Result<String> {
        let response =
            self.send(Method::POST, Endpoint::Api("blobs/uploads/".into()), HeaderMap::new(), Body::Empty).await?;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(self.failure(response, &format!("the upload of blob {blob}")).await);
        }
        self.location(&response, blob).await
    }

    /// The upload URL an answer's `Location` names, resolved against the
    /// request's URL as RFC 3986 says: registries send absolute URLs, absolute
    /// paths, and paths relative to the request (`UUID?_state=...`, `../uploads/...`).
    async fn location(&self, response: &Response, digest: &(dyn std::fmt::Display + Sync)) -> Result<String> {
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
        let response = self.send(Method::PATCH, Endpoint::Url(location), headers, Body::Bytes(chunk)).await?;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(self.failure(response, &format!("the upload of blob {digest}")).await);
        }
        self.location(&response, digest).await
    }

    /// Sends the bytes of `body` to the upload at `location` in one streamed
    /// `PATCH` (chunked transfer, no `Content-Range`) as they come: for a blob
    /// whose digest is learnt only at its end (`blob` names it in errors).
    /// Returns the upload's next URL. Sent once, like every streamed body; an
    /// error in `body` aborts the request.
    pub async fn patch_stream(
        &self,
        location: &str,
        body: reqwest::Body,
        blob: &(dyn std::fmt::Display + Sync),
    ) -> Result<String> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        let response = self.send_stream(Method::PATCH, location, headers, body).await?;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(self.failure(response, &format!("the upload of blob {blob}")).await);
        }
        self.location(&response, blob).await
    }

    /// Cancels the upload at `location` (`DELETE`): the registry drops what it
    /// received. An upload that is gone already (404) counts as cancelled.
    pub async fn cancel_upload(&self, location: &str) -> Result<()> {
        let response = self.send(Method::DELETE, Endpoint::Url(location), HeaderMap::new(), Body::Empty).await?;
        match response.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(self.failure(response, "the cancelled upload").await),
        }
    }

    /// The upload's state after an interrupted request: how many bytes the
    /// registry holds (from its `Range: 0-LAST`) and the URL to continue at.
    pub async fn upload_status(&self, location: &str, digest: &Digest) -> Result<(u64, String)> {
        let response = self.send(Method::GET, Endpoint::Url(location), HeaderMap::new(), Body::Empty).await?;
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

    /// The URL to send the upload at `location` to again, if the registry
    /// says it holds nothing of it yet; `None` when it holds some, cannot say,
    /// or the session is gone. distribution answers `Range: 0-0` for an empty
    /// upload (and, ambiguously, for one of a single byte: a registry holding
    /// that byte refuses the resent blob by its digest check, which wharf
    /// reports as a digest mismatch; nothing wrong is ever stored).
    pub async fn upload_if_empty(&self, location: &str, digest: &Digest) -> Option<String> {
        let response = self.send(Method::GET, Endpoint::Url(location), HeaderMap::new(), Body::Empty).await.ok()?;
        if response.status() != StatusCode::NO_CONTENT && !response.status().is_success() {
            return None;
        }
        let range = response.headers().get(reqwest::header::RANGE)?.to_str().ok()?.trim();
        if !matches!(range, "0-0" | "0--1" | "bytes=0-0") {
            return None;
        }
        self.location(&response, digest).await.ok()
    }

    /// Completes a chunked upload (`PUT ?digest=` with no body).
    pub async fn close_upload(&self, location: &str, digest: &Digest) -> Result<()> {
        let url = with_digest(location, digest);
        let response = self.send(Method::PUT, Endpoint::Url(&url), HeaderMap::new(), Body::Empty).await?;
        if response.status().is_success() { Ok(()) } else { Err(self.upload_failure(response, digest).await) }
    }

    /// Asks the registry to mount `digest` from repository `from` (same
    /// registry). True when it did (201); any other answer means: upload.
    pub async fn mount(&self, digest: &Digest, from: &str) -> Result<bool> {
        let target = Endpoint::Api(format!("blobs/uploads/?mount={digest}&from={from}"));
        let response = self.send(Method::POST, target, HeaderMap::new(), Body::Empty).await?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// The referrers API's index for `subject`, or `None` when the registry
    /// has no referrers API (404, as distribution 2.8 answers).
    pub async fn referrers(&self, subject: &Digest) -> Result<Option<Bytes>> {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(crate::media::OCI_INDEX));
        let target = Endpoint::Api(format!("referrers/{subject}"));
        match self.get_document(target, headers, &format!("referrers of {subject}"), MAX_DOCUMENT_SIZE).await {
            Ok(document) => Ok(Some(document.bytes)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
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
            let target = if page.starts_with("http") { Endpoint::Url(&page) } else { Endpoint::Api(page.clone()) };
            let document = self.get_document(target, HeaderMap::new(), &what, MAX_DOCUMENT_SIZE).await?;
            next = next_page(&document.url, &document.headers);
            let list: TagList =
                serde_json::from_slice(&document.bytes).map_err(|e| Error::malformed(what.clone(), e))?;
            tags.extend(list.tags.unwrap_or_default());
        }
        Ok(tags)
    }

    fn document_error(&self, e: CappedError, what: &str) -> Error {
        match e {
            CappedError::TooLarge(cap) => Error::malformed(
                what,
                format!("the registry sent more than {cap} bytes; wharf reads at most that for a document"),
            ),
            CappedError::Request(e) if certificate_problem(&e).is_some() => self.request_error(e),
            // The body broke off: a transfer failure, retried like a refused connection.
            CappedError::Request(e) => {
                Error::Transfer { what: what.to_string(), source: std::io::Error::other(describe_request_error(&e)) }
            }
        }
    }
}

/// A whole answer: where it came from (after redirects), its headers and body.
pub struct Document {
    /// The URL that answered.
    pub url: Url,
    /// The answer's headers.
    pub headers: HeaderMap,
    /// The body.
    pub bytes: Bytes,
}

/// The stream [`Session::blob_stream`] returns (the same type as a store's `ByteStream`).
pub type ResumingStream = std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The state of a [`Session::blob_stream`].
struct Resume {
    session: Arc<Session>,
    digest: Digest,
    /// The answer being read; none after a failure, until the rest is asked for.
    response: Option<Response>,
    /// Bytes passed on so far.
    received: u64,
    /// Bytes of the current answer to drop (already passed on from an earlier one).
    skip: u64,
    attempts: Attempts,
    done: bool,
}

impl Resume {
    /// The next chunk of the blob, resuming after failures while the budget lasts.
    async fn next(mut self) -> Option<(std::io::Result<Bytes>, Resume)> {
        loop {
            if self.done {
                return None;
            }
            let Some(response) = self.response.as_mut() else {
                match self.session.resume_blob(&self.digest, self.received).await {
                    Ok((response, skip)) => (self.response, self.skip) = (Some(response), skip),
                    Err(e) if self.attempts.again(&e).await => {}
                    // Wharf's own error, recovered by the reader (`unwrap_io_error`).
                    Err(e) => return self.fail(std::io::Error::other(e)),
                }
                continue;
            };
            match response.chunk().await {
                Ok(Some(mut chunk)) => {
                    let drop = usize::try_from(self.skip).unwrap_or(usize::MAX).min(chunk.len());
                    self.skip -= drop as u64;
                    let chunk = chunk.split_off(drop);
                    if chunk.is_empty() {
                        continue;
                    }
                    self.received += chunk.len() as u64;
                    return Some((Ok(chunk), self));
                }
                // Shorter than what was already read: the size check downstream names it.
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.response = None;
                    let detail = describe_request_error(&e);
                    let error = Error::Transfer {
                        what: format!("blob {}", self.digest),
                        source: std::io::Error::other(detail.clone()),
                    };
                    if !self.attempts.again(&error).await {
                        return self.fail(std::io::Error::other(detail));
                    }
                    tracing::info!(digest = %self.digest, from = self.received, "resuming the download");
                }
            }
        }
    }

    fn fail(mut self, error: std::io::Error) -> Option<(std::io::Result<Bytes>, Resume)> {
        self.done = true;
        Some((Err(error), self))
    }
}

/// The first byte of a `Content-Range: bytes FIRST-LAST/SIZE` value.
fn range_start(value: Option<&str>) -> Option<u64> {
    value?.trim().strip_prefix("bytes ")?.split_once('-')?.0.trim().parse().ok()
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
    fn content_ranges_give_their_start() {
        assert_eq!(range_start(Some("bytes 300-999/1000")), Some(300));
        assert_eq!(range_start(Some("bytes */1000")), None);
        assert_eq!(range_start(None), None);
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
