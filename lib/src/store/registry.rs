//! A repository in an OCI registry, through oci-client.
//!
//! oci-client does the protocol (auth challenges, token cache, streamed
//! monolithic uploads, digest-checked downloads). Two pieces are wrapped:
//! tokens are fetched up front with `Client::auth`, because oci-client
//! swallows token errors inside requests and sends them anonymously; and
//! manifests are pushed with `push_manifest_raw`, so the bytes stored are
//! exactly the bytes wharf built (and hashed).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use reqwest::header::HeaderValue;

use super::{ByteStream, ReadStore, RepoLocation, Store, bytes_stream};
use crate::digest::{Digest, VerifyingStream};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, declared_media_type};
use crate::media;
use crate::reference::{RegistryRef, Selector};
use crate::transport::{Scheme, TransportOptions, certificate_problem, describe_request_error};

/// Whether a store will be written to (decides the token scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Pull only.
    Read,
    /// Pull and push.
    Write,
}

/// One repository of one registry.
pub struct RegistryStore {
    client: Client,
    registry: String,
    repository: String,
    scheme: Scheme,
    /// Manifests already read during `resolve`, so `fetch` need not ask twice.
    manifests: Mutex<HashMap<Digest, Bytes>>,
}

impl RegistryStore {
    /// Connects to the repository of `reference`, picking the scheme and
    /// authenticating for `access` now, so credential problems surface here.
    pub async fn connect(reference: &RegistryRef, options: &TransportOptions, access: Access) -> Result<Self> {
        let (client, scheme) = options.client_for(&reference.registry).await?;
        let store = RegistryStore {
            client,
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            scheme,
            manifests: Mutex::new(HashMap::new()),
        };
        let auth = options.auth_for(&reference.registry);
        // Known cost: oci-client keeps no token for a registry that answers `GET /v2/`
        // without a challenge, so against such open registries it repeats that GET
        // before each request (one extra loopback round trip each; see docs/benchmarks.md).
        store.authenticate(&auth, access).await?;
        Ok(store)
    }

    /// The scheme in use.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Fetches the tokens the walk will need now: oci-client caches tokens per
    /// operation, so a writer (which also checks what exists) gets both scopes.
    async fn authenticate(&self, auth: &RegistryAuth, access: Access) -> Result<()> {
        let ops: &[RegistryOperation] = match access {
            Access::Read => &[RegistryOperation::Pull],
            Access::Write => &[RegistryOperation::Push, RegistryOperation::Pull],
        };
        for op in ops {
            self.client.auth(&self.tag_ref("latest"), auth, *op).await.map_err(|e| self.error(e, "the registry"))?;
        }
        Ok(())
    }

    fn tag_ref(&self, tag: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), tag.to_string())
    }

    fn digest_ref(&self, digest: &Digest) -> oci_client::Reference {
        oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), digest.to_string())
    }

    fn selector_ref(&self, selector: &Selector) -> oci_client::Reference {
        match selector {
            Selector::Digest(d) => self.digest_ref(d),
            Selector::Tag(t) => self.tag_ref(t),
            Selector::Default => self.tag_ref("latest"),
        }
    }

    fn cached(&self, digest: &Digest) -> Option<Bytes> {
        self.manifests.lock().ok()?.get(digest).cloned()
    }

    fn remember(&self, digest: &Digest, bytes: &Bytes) {
        if let Ok(mut m) = self.manifests.lock() {
            m.insert(digest.clone(), bytes.clone());
        }
    }

    async fn pull_manifest(&self, reference: &oci_client::Reference, what: &str) -> Result<(Bytes, Digest)> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(reference, &RegistryAuth::Anonymous, media::MANIFEST_TYPES)
            .await
            .map_err(|e| self.error(e, what))?;
        let digest: Digest = digest.parse()?;
        self.remember(&digest, &bytes);
        Ok((bytes, digest))
    }

    /// Translates an oci-client error into a wharf error about `what`.
    fn error(&self, e: OciDistributionError, what: &str) -> Error {
        let registry = self.registry.clone();
        let not_found = || Error::NotFound { what: format!("{what} in {}/{}", self.registry, self.repository) };
        match e {
            OciDistributionError::UnauthorizedError { .. } => {
                Error::Unauthorized { registry, detail: "the registry answered 401 Unauthorized".into() }
            }
            OciDistributionError::AuthenticationFailure(reason) => {
                Error::Unauthorized { registry, detail: one_line(&reason) }
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                let first = envelope.errors.first();
                match first.map(|e| &e.code) {
                    Some(
                        OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound,
                    ) => not_found(),
                    Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => {
                        Error::Unauthorized { registry, detail: first.map(|e| e.message.clone()).unwrap_or_default() }
                    }
                    _ => Error::Registry {
                        registry,
                        status: first.map(|e| format!("{:?}", e.code)).unwrap_or_else(|| "an error".into()),
                        message: first.map(|e| e.message.clone()).unwrap_or_default(),
                    },
                }
            }
            OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
            OciDistributionError::ServerError { code: 404, .. } => not_found(),
            OciDistributionError::ServerError { code: 401 | 403, message, .. } => {
                Error::Unauthorized { registry, detail: one_line(&message) }
            }
            OciDistributionError::ServerError { code, message, .. } => {
                Error::Registry { registry, status: format!("HTTP {code}"), message: one_line(&message) }
            }
            OciDistributionError::RequestError(e) => match (e.status().map(|s| s.as_u16()), certificate_problem(&e)) {
                (Some(401 | 403), _) => Error::Unauthorized {
                    registry,
                    detail: format!("the registry answered {}", e.status().map_or_else(String::new, |s| s.to_string())),
                },
                (Some(404), _) => not_found(),
                (Some(code), _) => Error::Registry {
                    registry,
                    status: format!("HTTP {code}"),
                    message: format!("while handling {what}"),
                },
                (None, Some(detail)) => Error::Certificate { registry, detail },
                (None, None) => Error::Unreachable { registry, detail: describe_request_error(&e) },
            },
            OciDistributionError::DigestError(e) => {
                Error::DigestMismatch { expected: what.to_string(), actual: e.to_string() }
            }
            OciDistributionError::IoError(e) => transfer_error_for(what, e),
            other => Error::Registry {
                registry,
                status: "an unexpected answer".into(),
                message: one_line(&other.to_string()),
            },
        }
    }
}

/// A download stream's error with its causes ("error decoding response body" alone says nothing).
/// oci-client's own digest check is turned into wharf's integrity error, which is never retried.
fn stream_error(e: std::io::Error) -> std::io::Error {
    let inner = e.get_ref();
    if let Some(request_error) = inner.and_then(|i| i.downcast_ref::<reqwest::Error>()) {
        return std::io::Error::new(e.kind(), describe_request_error(request_error));
    }
    if let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) =
        inner.and_then(|i| i.downcast_ref::<oci_client::errors::DigestError>())
    {
        let mismatch = Error::DigestMismatch { expected: expected.clone(), actual: actual.clone() };
        return std::io::Error::new(std::io::ErrorKind::InvalidData, mismatch);
    }
    e
}

fn transfer_error_for(what: &str, e: std::io::Error) -> Error {
    crate::digest::unwrap_io_error(e, |source| Error::Transfer { what: what.to_string(), source })
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 300 { format!("{}...", &line[..line.floor_char_boundary(300)]) } else { line }
}

fn oci_descriptor(desc: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: desc.media_type.clone(),
        digest: desc.digest.to_string(),
        size: i64::try_from(desc.size).unwrap_or(i64::MAX),
        ..OciDescriptor::default()
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
        let (bytes, digest) = self.pull_manifest(&self.selector_ref(selector), &what).await?;
        let media_type = declared_media_type(&bytes)?;
        let mut desc = Descriptor::of_bytes(&media_type, &bytes);
        desc.digest = digest;
        Ok(desc)
    }

    async fn fetch(&self, desc: &Descriptor) -> Result<ByteStream> {
        if let Some(bytes) = self.cached(&desc.digest) {
            return Ok(bytes_stream(bytes));
        }
        if desc.is_manifest() {
            let (bytes, _) =
                self.pull_manifest(&self.digest_ref(&desc.digest), &format!("manifest {}", desc.digest)).await?;
            return Ok(bytes_stream(bytes));
        }
        let sized = self
            .client
            .pull_blob_stream(&self.digest_ref(&desc.digest), &oci_descriptor(desc))
            .await
            .map_err(|e| self.error(e, &format!("blob {}", desc.digest)))?;
        Ok(Box::pin(sized.stream.map_err(stream_error)))
    }

    async fn exists(&self, desc: &Descriptor) -> Result<bool> {
        let what = format!("{} {}", if desc.is_manifest() { "manifest" } else { "blob" }, desc.digest);
        let result = if desc.is_manifest() {
            self.client
                .fetch_manifest_digest(&self.digest_ref(&desc.digest), &RegistryAuth::Anonymous)
                .await
                .map(|_| true)
        } else {
            self.client.blob_exists(&self.digest_ref(&desc.digest), desc.digest.as_str()).await
        };
        match result.map_err(|e| self.error(e, &what)) {
            Ok(found) => Ok(found),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn location(&self) -> Option<RepoLocation> {
        Some(RepoLocation { registry: self.registry.clone(), repository: self.repository.clone() })
    }

    /// The referrers API; on a 404 from it, oci-client reads the fallback tag's index instead.
    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>> {
        let index = self
            .client
            .pull_referrers(&self.digest_ref(subject), None)
            .await
            .map_err(|e| self.error(e, &format!("referrers of {subject}")))?;
        index.manifests.into_iter().map(index_entry).collect()
    }
}

/// An oci-client index entry as a wharf descriptor (digest checked).
fn index_entry(entry: oci_client::manifest::ImageIndexEntry) -> Result<Descriptor> {
    Ok(Descriptor {
        media_type: entry.media_type,
        digest: entry.digest.parse()?,
        size: u64::try_from(entry.size)
            .map_err(|_| Error::malformed("referrers index", format!("entry {} has a negative size", entry.digest)))?,
        urls: None,
        annotations: entry.annotations.unwrap_or_default().into_iter().collect(),
        artifact_type: entry.artifact_type,
        platform: None,
    })
}

#[async_trait]
impl Store for RegistryStore {
    async fn push(&self, desc: &Descriptor, content: ByteStream) -> Result<()> {
        let what = format!("blob {}", desc.digest);
        let verified =
            VerifyingStream::new(content, desc.digest.clone(), desc.size).map_err(OciDistributionError::IoError);
        self.client
            .push_blob_stream(&self.digest_ref(&desc.digest), verified, desc.digest.as_str(), Some(desc.size))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, &what))
    }

    async fn push_manifest(&self, desc: &Descriptor, bytes: Bytes, tags: &[String]) -> Result<()> {
        crate::digest::verify_bytes(&bytes, &desc.digest, desc.size)?;
        let content_type = HeaderValue::from_str(&desc.media_type).map_err(|_| {
            Error::malformed("manifest", format!("media type {:?} is not a valid header value", desc.media_type))
        })?;
        let what = format!("manifest {}", desc.digest);
        let targets: Vec<oci_client::Reference> = if tags.is_empty() {
            vec![self.digest_ref(&desc.digest)]
        } else {
            tags.iter().map(|t| self.tag_ref(t)).collect()
        };
        for target in targets {
            self.client
                .push_manifest_raw(&target, bytes.clone(), content_type.clone())
                .await
                .map_err(|e| self.error(e, &what))?;
        }
        self.remember(&desc.digest, &bytes);
        Ok(())
    }

    async fn mount(&self, desc: &Descriptor, from: &RepoLocation) -> Result<bool> {
        if from.registry != self.registry || from.repository == self.repository {
            return Ok(false);
        }
        let source =
            oci_client::Reference::with_digest(from.registry.clone(), from.repository.clone(), desc.digest.to_string());
        // Any failure (no mount support, no pull scope on the source) means: upload instead.
        Ok(self.client.mount_blob(&self.digest_ref(&desc.digest), &source, desc.digest.as_str()).await.is_ok())
    }
}
