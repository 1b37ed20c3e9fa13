//! A repository in an OCI registry, through wharf's distribution client
//! ([`crate::distribution`]): one `GET /v2/` and one token exchange per
//! store, then only the requests the walk needs.
//!
//! Retries: the session retries every request it can send again and resumes
//! downloads. What it cannot do is left here: a streamed upload whose body
//! failed is started over from a fresh opening of its source
//! ([`Store::push_reopening`]; content already in memory can always be opened
//! again), and a failed chunk resumes from the offset the registry reports.
//! Both spend the session's one retry policy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;

use super::{
    ByteStream, RangeAnswer, ReadStore, ReferrerIndexing, Reopen, RepoLocation, Store, StreamedUpload, bytes_stream,
    collect_document, collect_verified,
};
use crate::digest::{Digest, VerifyingStream};
use crate::distribution::Session;
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Index, MAX_DOCUMENT_SIZE, declared_media_type};
use crate::media;
use crate::reference::{RegistryRef, Selector};
use crate::transport::{Scheme, TransportOptions};

/// Whether a store will be written to (decides the token scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Pull only.
    Read,
    /// Pull and push.
    Write,
}

/// At most this many bytes of manifests a [`RegistryStore`] keeps for a later `fetch`
/// (two documents at the 4 MiB cap): enough for a resolve then a fetch of one image.
const REMEMBERED_BYTES: usize = 8 << 20;

/// One repository of one registry.
pub struct RegistryStore {
    session: Arc<Session>,
    registry: String,
    repository: String,
    /// Blobs larger than this are uploaded in chunks of `chunk_size`.
    chunked_above: u64,
    /// The size of an upload chunk.
    chunk_size: u64,
    /// Manifests already read during `resolve`, so `fetch` need not ask twice.
    manifests: Mutex<HashMap<Digest, Bytes>>,
}

impl RegistryStore {
    /// A store for the repository of `reference`. Nothing is sent yet: the
    /// first request settles the scheme and, when the registry asks, the
    /// authorization for `access`.
    pub async fn connect(reference: &RegistryRef, options: &TransportOptions, access: Access) -> Result<Self> {
        let actions = match access {
            Access::Read => "pull",
            Access::Write => "pull,push",
        };
        let session = Arc::new(Session::new(
            options.http_client()?,
            &reference.registry,
            &reference.repository,
            options.schemes_to_try(&reference.registry),
            options.secret_for(&reference.registry),
            vec![format!("repository:{}:{actions}", reference.repository)],
        ));
        Ok(RegistryStore {
            session,
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            chunked_above: options.upload_chunk_size.unwrap_or(crate::transport::CHUNKED_ABOVE),
            chunk_size: options.upload_chunk_size.unwrap_or(crate::transport::DEFAULT_UPLOAD_CHUNK_SIZE).max(1),
            manifests: Mutex::new(HashMap::new()),
        })
    }

    /// The repository's tags, every page of the registry's tag list.
    pub async fn tags(&self) -> Result<Vec<String>> {
        self.session.tags().await
    }

    /// The scheme in use, once a request got through.
    pub async fn scheme(&self) -> Option<Scheme> {
        self.session.scheme().await
    }

    fn cached(&self, digest: &Digest) -> Option<Bytes> {
        self.manifests.lock().ok()?.get(digest).cloned()
    }

    /// Keeps `bytes` for a later `fetch` while the store holds less than
    /// [`REMEMBERED_BYTES`]: a store kept open (the admission webhook's tag
    /// resolvers) must not hold every manifest it ever read. Past that, `fetch` asks again.
    fn remember(&self, digest: &Digest, bytes: &Bytes) {
        if let Ok(mut m) = self.manifests.lock() {
            let held: usize = m.values().map(Bytes::len).sum();
            if held + bytes.len() <= REMEMBERED_BYTES {
                m.insert(digest.clone(), bytes.clone());
            }
        }
    }

    /// Reads the manifest `reference` (tag or digest) names. A digest
    /// reference is checked against the bytes; a tag's digest is computed from
    /// them (never taken from a header).
    async fn pull_manifest(&self, reference: &str, what: &str) -> Result<(Bytes, Digest)> {
        let bytes = self.session.manifest_bytes(reference, media::MANIFEST_TYPES, what).await?;
        let digest = match reference.parse::<Digest>() {
            Ok(expected) => {
                crate::digest::verify_bytes(&bytes, &expected, bytes.len() as u64)?;
                expected
            }
            Err(_) => Digest::of(&bytes),
        };
        self.remember(&digest, &bytes);
        Ok((bytes, digest))
    }
}

/// Why one upload attempt failed.
enum UploadFailure {
    /// Another attempt may succeed: on the upload session named (when a
    /// streamed `PUT` failed), if it turns out to hold nothing, else on a new one.
    Retry(Error, Option<String>),
    /// It will not: the session already retried the request, the source
    /// failed (it retries itself where it can), or the content is wrong.
    Final(Error),
}

impl UploadFailure {
    fn into_error(self) -> Error {
        match self {
            UploadFailure::Retry(e, _) | UploadFailure::Final(e) => e,
        }
    }
}

impl RegistryStore {
    /// Uploads `desc` from `open` under the session's retry policy. When an
    /// upload's body failed for a transient reason, the source is opened
    /// again and sent again: to the same upload session when the registry
    /// says it holds nothing of it (the request was refused whole, as a
    /// 503 or 429 is), else to a new session. Never into a half-written one.
    async fn upload_reopening(&self, desc: &Descriptor, open: &Reopen<'_>, vouched: bool) -> Result<()> {
        let mut attempts = self.session.retry().attempts();
        let mut empty_session = None;
        loop {
            let (error, location) = match self.upload(desc, open().await?, vouched, empty_session.take()).await {
                Ok(()) => return Ok(()),
                Err(UploadFailure::Retry(error, location)) => (error, location),
                Err(failure) => return Err(failure.into_error()),
            };
            if !attempts.again(&error).await {
                return Err(error);
            }
            if let Some(location) = location {
                empty_session = self.session.upload_if_empty(&location, &desc.digest).await;
            }
            let how = if empty_session.is_some() { "on the same upload session" } else { "on a new upload session" };
            tracing::warn!(digest = %desc.digest, "sending the blob again {how}");
        }
    }

    /// One upload of `content`, on `session` (an upload URL) or a new upload
    /// session: a streamed `PUT`, or over the chunked threshold `PATCH`
    /// chunks (each resumed from the registry's offset). Unless `vouched`,
    /// the content goes through a digest check on the way.
    async fn upload(
        &self,
        desc: &Descriptor,
        content: ByteStream,
        vouched: bool,
        session: Option<String>,
    ) -> Result<(), UploadFailure> {
        let source_failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&source_failed);
        let content: ByteStream = Box::pin(content.inspect_err(move |_| flag.store(true, Ordering::SeqCst)));
        let classify = |e: Error, location: Option<&str>| {
            if source_failed.load(Ordering::SeqCst) || !crate::retry::is_transient(&e) {
                UploadFailure::Final(e)
            } else {
                UploadFailure::Retry(e, location.map(str::to_string))
            }
        };
        let location = match session {
            Some(location) => location,
            None => self.session.start_upload(&desc.digest).await.map_err(UploadFailure::Final)?,
        };
        if desc.size > self.chunked_above {
            let verified = VerifyingStream::new(content, desc.digest.clone(), desc.size);
            let location = self.push_chunks(desc, verified, location).await.map_err(|e| classify(e, None))?;
            return self.session.close_upload(&location, &desc.digest).await.map_err(UploadFailure::Final);
        }
        let body = if vouched {
            reqwest::Body::wrap_stream(content)
        } else {
            reqwest::Body::wrap_stream(VerifyingStream::new(content, desc.digest.clone(), desc.size))
        };
        let sent = self.session.finish_upload(&location, &desc.digest, desc.size, body).await;
        sent.map_err(|e| classify(e, Some(&location)))
    }

    /// A blob small enough to hold ([`MAX_DOCUMENT_SIZE`]) is read into memory
    /// first, so that its upload can start over; a larger one is uploaded
    /// once, as its source cannot be opened again.
    async fn upload_stream(&self, desc: &Descriptor, content: ByteStream, vouched: bool) -> Result<()> {
        if desc.size > MAX_DOCUMENT_SIZE {
            return self.upload(desc, content, vouched, None).await.map_err(UploadFailure::into_error);
        }
        let bytes = Bytes::from(collect_verified(content, desc).await?);
        let open = || -> futures::future::BoxFuture<'_, Result<ByteStream>> {
            let bytes = bytes.clone();
            Box::pin(async move { Ok(bytes_stream(bytes)) })
        };
        self.upload_reopening(desc, &open, true).await
    }

    /// Sends `content` in chunks of `chunk_size` bytes to the upload at
    /// `location`; returns the URL to close it at. A chunk that fails for a
    /// transient reason is retried from the offset the registry reports (the
    /// chunk is still in memory, so the source is not read again).
    async fn push_chunks(
        &self,
        desc: &Descriptor,
        content: VerifyingStream<ByteStream>,
        location: String,
    ) -> Result<String> {
        let mut content = content;
        let mut location = location;
        let mut offset = 0u64;
        let limit = usize::try_from(self.chunk_size).unwrap_or(usize::MAX);
        let mut chunk = bytes::BytesMut::with_capacity(limit);
        loop {
            let next = content.next().await.transpose().map_err(|e| super::transfer_error(&desc.digest, e))?;
            if let Some(bytes) = &next {
                chunk.extend_from_slice(bytes);
            }
            // Send full chunks; at the end, whatever is left.
            while chunk.len() >= limit || (next.is_none() && !chunk.is_empty()) {
                let take = chunk.len().min(limit);
                let piece = chunk.split_to(take).freeze();
                (location, offset) = self.send_chunk(desc, location, offset, piece).await?;
                chunk.reserve(limit);
            }
            if next.is_none() {
                return Ok(location);
            }
        }
    }

    /// Sends one chunk at `offset`; on a transient failure asks the registry
    /// how much it holds and sends the rest of the chunk from there.
    async fn send_chunk(
        &self,
        desc: &Descriptor,
        location: String,
        offset: u64,
        piece: Bytes,
    ) -> Result<(String, u64)> {
        let end = offset + piece.len() as u64;
        let (mut location, mut offset) = (location, offset);
        let mut attempts = self.session.retry().attempts();
        loop {
            let start = usize::try_from(offset + piece.len() as u64 - end).unwrap_or(0);
            match self.session.patch_chunk(&location, offset, piece.slice(start..), &desc.digest).await {
                Ok(next) => return Ok((next, end)),
                Err(e) if attempts.again(&e).await => {
                    tracing::warn!(error = %e, offset, "chunk upload failed; asking the registry where to resume");
                    // A registry that cannot say (distribution answers BLOB_UPLOAD_INVALID once
                    // it holds part of the failed chunk) leaves the whole blob to a new upload.
                    let Ok((held, next)) = self.session.upload_status(&location, &desc.digest).await else {
                        return Err(e);
                    };
                    let first = end - piece.len() as u64;
                    // distribution answers `Range: 0-0` for an upload holding nothing as for one
                    // holding one byte; a failed first chunk most likely left nothing, so it is
                    // sent again from 0 (if one byte did land, the registry refuses the resent
                    // range and the push fails: nothing wrong is stored).
                    let held = if first == 0 && held == 1 { 0 } else { held };
                    if held < first || held > end {
                        return Err(e);
                    }
                    tracing::info!(held, "resuming the upload");
                    (location, offset) = (next, held);
                    if held == end {
                        return Ok((location, end));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn selector_reference(selector: &Selector) -> String {
    match selector {
        Selector::Digest(d) => d.to_string(),
        Selector::Tag(t) => t.clone(),
        Selector::Default => "latest".into(),
    }
}

#[async_trait]
impl ReadStore for RegistryStore {
    async fn resolve(&self, selector: &Selector) -> Result<Descriptor> {
        let what = match selector {
            Selector::Tag(t) => format!("tag {t:?}"),
            Selector::Digest(d) => format!("manifest {d}"),
            Selector::Default => "tag \"latest\"".into(),
        };
        let (bytes, digest) = self.pull_manifest(&selector_reference(selector), &what).await?;
        let media_type = declared_media_type(&bytes)?;
        // Not `Descriptor::of_bytes`: the digest was just computed or checked.
        Ok(Descriptor::of(&media_type, digest, bytes.len() as u64))
    }

    async fn fetch(&self, desc: &Descriptor) -> Result<ByteStream> {
        if let Some(bytes) = self.cached(&desc.digest) {
            return Ok(bytes_stream(bytes));
        }
        if desc.is_manifest() {
            let (bytes, _) = self.pull_manifest(desc.digest.as_str(), &format!("manifest {}", desc.digest)).await?;
            return Ok(bytes_stream(bytes));
        }
        self.session.blob_stream(&desc.digest).await
    }

    /// Manifests as [`ReadStore::fetch`] reads them; other small documents
    /// (configs, signature payloads) read whole, the request and the read
    /// retried together, then checked against the descriptor.
    async fn fetch_bytes(&self, desc: &Descriptor) -> Result<Bytes> {
        if desc.is_manifest() || desc.size > MAX_DOCUMENT_SIZE {
            return collect_document(self, desc).await;
        }
        let bytes = self.session.blob_bytes(&desc.digest, MAX_DOCUMENT_SIZE).await?;
        crate::digest::verify_bytes(&bytes, &desc.digest, desc.size)?;
        Ok(bytes)
    }

    async fn exists(&self, desc: &Descriptor) -> Result<bool> {
        if !desc.is_manifest() {
            return self.session.blob_exists(&desc.digest).await;
        }
        let what = format!("manifest {}", desc.digest);
        match self.session.manifest(Method::HEAD, desc.digest.as_str(), media::MANIFEST_TYPES, &what).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn location(&self) -> Option<RepoLocation> {
        Some(RepoLocation { registry: self.registry.clone(), repository: self.repository.clone() })
    }

    /// One `Range` request under the retry policy ([`Session::blob_range`]).
    async fn fetch_range(&self, desc: &Descriptor, range: std::ops::Range<u64>) -> Result<RangeAnswer> {
        Ok(match self.session.blob_range(&desc.digest, range).await? {
            crate::distribution::BlobRange::Part(bytes) => RangeAnswer::Part(bytes),
            crate::distribution::BlobRange::Whole(stream) => RangeAnswer::Whole(stream),
        })
    }

    /// The referrers API; where the registry has none (404), the fallback tag's index.
    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>> {
        match self.session.referrers(subject).await? {
            Some(bytes) => Ok(Index::parse(&bytes)?.manifests),
            None => super::fallback_referrers(self, subject)
                .await
                .map(|found| found.map(|(_, index)| index.manifests).unwrap_or_default()),
        }
    }
}

#[async_trait]
impl Store for RegistryStore {
    /// One streamed `PUT` (the fewest round trips, and reading overlaps
    /// sending); blobs over the chunked threshold go in `PATCH` chunks, so an
    /// interrupted upload resumes from what the registry reports holding
    /// instead of starting over. One chunk is held in memory at a time. A
    /// blob of at most [`MAX_DOCUMENT_SIZE`] is held whole, so that a failed
    /// upload can start over; a larger one is sent once (the caller that can
    /// open its source again uses [`Store::push_reopening`]).
    async fn push(&self, desc: &Descriptor, content: ByteStream) -> Result<()> {
        self.upload_stream(desc, content, false).await
    }

    /// Without wharf's own digest check on the way out, for content wharf
    /// hashed while staging it (a pushed file is hashed in its validation
    /// pass): the registry checks the digest of what arrives before it
    /// accepts the blob, so a second SHA-256 pass here would only cost CPU
    /// (about 50 ms per 100 MiB); a mismatch it finds is reported as a digest
    /// mismatch ([`Session::finish_upload`]). Chunked uploads keep the check,
    /// which also guards the chunk held for a resume.
    async fn push_vouched(&self, desc: &Descriptor, content: ByteStream) -> Result<()> {
        self.upload_stream(desc, content, true).await
    }

    /// Uploads under the session's retry policy, starting over from a fresh
    /// opening of the source when the upload's body failed for a transient
    /// reason.
    async fn push_reopening(&self, desc: &Descriptor, open: &Reopen<'_>, vouched: bool) -> Result<()> {
        self.upload_reopening(desc, open, vouched).await
    }

    /// An upload session (`POST`), sent to by one streamed `PATCH` and closed
    /// by `PUT ?digest=` ([`RegistryUpload`]).
    async fn start_streamed(&self) -> Result<Option<Box<dyn StreamedUpload>>> {
        let location = self.session.start_upload(&NEW_BLOB).await?;
        Ok(Some(Box::new(RegistryUpload { session: Arc::clone(&self.session), location, sent: 0 })))
    }

    async fn push_manifest(&self, desc: &Descriptor, bytes: Bytes, tags: &[String]) -> Result<()> {
        crate::digest::verify_bytes(&bytes, &desc.digest, desc.size)?;
        let targets: Vec<String> = if tags.is_empty() { vec![desc.digest.to_string()] } else { tags.to_vec() };
        for target in targets {
            self.session.put_manifest(&target, &desc.media_type, bytes.clone()).await?;
        }
        self.remember(&desc.digest, &bytes);
        Ok(())
    }

    /// Pushes a manifest with a `subject`: a registry with the referrers API
    /// says so with an `OCI-Subject` header on the push; without one, the
    /// manifest goes into the fallback tag's index (distribution-spec v1.1).
    async fn push_referrer(&self, desc: &Descriptor, bytes: Bytes, subject: &Digest) -> Result<ReferrerIndexing> {
        crate::digest::verify_bytes(&bytes, &desc.digest, desc.size)?;
        let indexed = self.session.put_manifest(desc.digest.as_str(), &desc.media_type, bytes.clone()).await?;
        self.remember(&desc.digest, &bytes);
        if indexed.is_some() {
            return Ok(ReferrerIndexing::ReferrersApi);
        }
        super::add_to_fallback_index(self, desc, subject).await
    }

    async fn mount(&self, desc: &Descriptor, from: &RepoLocation) -> Result<bool> {
        if from.registry != self.registry || from.repository == self.repository {
            return Ok(false);
        }
        // Any failure (no mount support, no pull scope on the source) means: upload instead.
        Ok(self.session.mount(&desc.digest, &from.repository).await.unwrap_or(false))
    }
}

/// How errors name a blob whose digest is not known yet.
const NEW_BLOB: &str = "being read (its digest not known yet)";

/// A registry upload of a blob whose digest is learnt at its end
/// ([`Store::start_streamed`]): one streamed `PATCH` while the content is
/// read, then `PUT ?digest=` (the registry checks the digest of what it
/// holds before it keeps the blob), or `DELETE` to cancel. The distribution
/// spec needs no digest before that last request.
pub struct RegistryUpload {
    session: Arc<Session>,
    /// The upload's URL (the next one the registry gave).
    location: String,
    /// Bytes the registry accepted.
    sent: u64,
}

#[async_trait]
impl StreamedUpload for RegistryUpload {
    async fn send(&mut self, content: ByteStream) -> Result<()> {
        let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&counted);
        let content = content.inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        });
        let body = reqwest::Body::wrap_stream(content);
        self.location = self.session.patch_stream(&self.location, body, &NEW_BLOB).await?;
        self.sent += counted.load(Ordering::Relaxed);
        Ok(())
    }

    async fn finish(self: Box<Self>, desc: &Descriptor) -> Result<()> {
        if self.sent != desc.size {
            let _ = self.session.cancel_upload(&self.location).await;
            return Err(Error::SizeMismatch {
                digest: desc.digest.to_string(),
                expected: desc.size,
                actual: self.sent,
            });
        }
        self.session.close_upload(&self.location, &desc.digest).await
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        self.session.cancel_upload(&self.location).await
    }
}
