//! Content stores. One pair of traits covers registries, local OCI layouts and
//! in-memory staging, so push, pull and copy are the same graph walk over any
//! pair of stores.

use std::io;
use std::path::Path;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::digest::{Digest, VerifyingStream, unwrap_io_error};
use crate::error::{Error, Result};
use crate::fs::{AtomicFile, Mode};
use crate::manifest::{Descriptor, Index, MAX_DOCUMENT_SIZE};
use crate::reference::Selector;

pub mod layout;
pub mod memory;
#[cfg(feature = "remote")]
pub mod registry;

pub use layout::LayoutStore;
pub use memory::MemoryStore;
#[cfg(feature = "remote")]
pub use registry::RegistryStore;

/// A stream of content bytes. Errors that wharf raised itself (digest or size
/// mismatches) travel inside `io::Error` and are recovered with
/// [`crate::digest::unwrap_io_error`].
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A repository location, used to decide whether a cross-repository mount is possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLocation {
    /// Registry host.
    pub registry: String,
    /// Repository path.
    pub repository: String,
}

/// What a store can be read for.
#[async_trait]
pub trait ReadStore: Send + Sync {
    /// Resolves a tag or digest to the descriptor of a manifest or index.
    async fn resolve(&self, selector: &Selector) -> Result<Descriptor>;

    /// Streams the content of `desc`. The stream is not verified here: callers
    /// wrap it in [`crate::digest::VerifyingStream`].
    async fn fetch(&self, desc: &Descriptor) -> Result<ByteStream>;

    /// True if the store holds `desc`.
    async fn exists(&self, desc: &Descriptor) -> Result<bool>;

    /// True when what [`ReadStore::fetch`] streams was hashed by wharf when it
    /// entered this store (staged content), so a destination that checks
    /// digests itself need not hash it again ([`Store::push_vouched`]).
    fn vouches_for_content(&self) -> bool {
        false
    }

    /// The registry repository behind this store, if it is one.
    fn location(&self) -> Option<RepoLocation> {
        None
    }

    /// Reads a small document (manifest, config) into memory, verified against
    /// its descriptor, refusing anything over [`MAX_DOCUMENT_SIZE`].
    async fn fetch_bytes(&self, desc: &Descriptor) -> Result<Bytes> {
        collect_document(self, desc).await
    }

    /// The bytes `range` of the blob `desc`, for a pull that fetches only the
    /// chunks it lacks. Not verified here (the caller checks every chunk). By
    /// default [`RangeAnswer::Unsupported`]: a local store is read whole.
    async fn fetch_range(&self, _desc: &Descriptor, _range: std::ops::Range<u64>) -> Result<RangeAnswer> {
        Ok(RangeAnswer::Unsupported)
    }

    /// The manifests that name `subject` as their `subject` (OCI 1.1 referrers):
    /// the referrers API where the store has one, else the index under the
    /// referrers tag schema's fallback tag ([`referrers_tag`]). No fallback
    /// index means no referrers.
    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>> {
        fallback_referrers(self, subject).await.map(|found| found.map(|(_, index)| index.manifests).unwrap_or_default())
    }
}

/// What a store sent for a byte range of a blob ([`ReadStore::fetch_range`]).
pub enum RangeAnswer {
    /// Exactly the bytes asked for.
    Part(Bytes),
    /// The whole blob instead (a registry that ignores `Range`), from its start.
    Whole(ByteStream),
    /// The store does not fetch parts of blobs.
    Unsupported,
}

/// [`ReadStore::fetch_bytes`] through [`ReadStore::fetch`].
pub async fn collect_document<S: ReadStore + ?Sized>(store: &S, desc: &Descriptor) -> Result<Bytes> {
    if desc.size > MAX_DOCUMENT_SIZE {
        return Err(Error::malformed(
            format!("document {}", desc.digest),
            format!(
                "it declares {} bytes; wharf reads at most {MAX_DOCUMENT_SIZE} for a manifest or config",
                desc.size
            ),
        ));
    }
    collect_verified(store.fetch(desc).await?, desc).await.map(Bytes::from)
}

/// Opens a blob's content from its start; called once per upload attempt
/// by a store that can start a failed upload over ([`Store::push_reopening`]).
pub type Reopen<'a> = dyn Fn() -> futures::future::BoxFuture<'a, Result<ByteStream>> + Send + Sync + 'a;

/// The referrers tag schema's tag for `subject` (distribution-spec v1.1): the
/// algorithm and the hex joined by `-` (`sha256-<64 hex>`, within the spec's
/// 32- and 64-character limits).
pub fn referrers_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The fallback index of `subject` and its descriptor, if the tag exists.
async fn fallback_referrers<S: ReadStore + ?Sized>(store: &S, subject: &Digest) -> Result<Option<(Descriptor, Index)>> {
    let desc = match store.resolve(&Selector::Tag(referrers_tag(subject))).await {
        Ok(desc) => desc,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !crate::media::is_index(&desc.media_type) {
        return Err(Error::malformed(
            format!("referrers tag {}", referrers_tag(subject)),
            format!("it holds a {}, not an image index", desc.media_type),
        ));
    }
    let index = Index::parse(&store.fetch_bytes(&desc).await?)?;
    Ok(Some((desc, index)))
}

/// How a pushed referrer was made findable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferrerIndexing {
    /// The store lists it through its referrers API.
    ReferrersApi,
    /// It was added to the fallback tag's index.
    FallbackTag,
    /// The fallback tag's index already listed it.
    AlreadyListed,
}

/// What a store can be written with.
#[async_trait]
pub trait Store: ReadStore {
    /// Stores a blob. The content must match `desc` (size and digest); a store
    /// that already holds it may return without reading the stream.
    async fn push(&self, desc: &Descriptor, content: ByteStream) -> Result<()>;

    /// [`Store::push`] for content whose digest wharf computed itself from
    /// these bytes ([`ReadStore::vouches_for_content`]). A store whose other
    /// end checks the digest on arrival (a registry must) may skip hashing it
    /// again; by default the same as `push`.
    async fn push_vouched(&self, desc: &Descriptor, content: ByteStream) -> Result<()> {
        self.push(desc, content).await
    }

    /// [`Store::push`] (or with `vouched`, [`Store::push_vouched`]) of content
    /// that `open` can stream again from its start: a store that can start a
    /// failed upload over (a registry: a streamed body cannot be rewound)
    /// opens it once per attempt. By default, one push of one opening.
    async fn push_reopening(&self, desc: &Descriptor, open: &Reopen<'_>, vouched: bool) -> Result<()> {
        let content = open().await?;
        if vouched { self.push_vouched(desc, content).await } else { self.push(desc, content).await }
    }

    /// Opens an upload of a blob whose digest is learnt only after its last
    /// byte (content hashed while it is sent: a file being validated). `None`
    /// when the store has no such upload (a layout or memory store writes
    /// content under its digest, so the caller pushes once it knows it).
    async fn start_streamed(&self) -> Result<Option<Box<dyn StreamedUpload>>> {
        Ok(None)
    }

    /// Stores a manifest or index and points each tag at it (none: by digest only).
    async fn push_manifest(&self, desc: &Descriptor, bytes: Bytes, tags: &[String]) -> Result<()>;

    /// Makes a blob of another repository on the same registry available here
    /// without copying it. Returns false when the store cannot (the caller then copies).
    async fn mount(&self, _desc: &Descriptor, _from: &RepoLocation) -> Result<bool> {
        Ok(false)
    }

    /// Pushes a manifest that has a `subject` (by digest, no tag) and makes it
    /// findable from the subject. If the store's referrers listing shows it
    /// (a registry with the referrers API), nothing else is needed; otherwise
    /// it is added to the fallback tag's index as the distribution spec says:
    /// read the index (or start an empty one), append the descriptor unless it
    /// is listed, push the index to the tag. `desc` carries what the index
    /// entry needs: `artifactType` (or the config media type) and the manifest's
    /// annotations. The update is read-modify-write, so two concurrent writers
    /// can lose an entry, as with every client of the tag schema.
    async fn push_referrer(&self, desc: &Descriptor, bytes: Bytes, subject: &Digest) -> Result<ReferrerIndexing> {
        self.push_manifest(desc, bytes, &[]).await?;
        if self.referrers(subject).await?.iter().any(|d| d.digest == desc.digest) {
            return Ok(if fallback_lists(self, subject, &desc.digest).await? {
                ReferrerIndexing::AlreadyListed
            } else {
                ReferrerIndexing::ReferrersApi
            });
        }
        add_to_fallback_index(self, desc, subject).await
    }
}

/// An upload of a blob whose digest is not known when it starts
/// ([`Store::start_streamed`]): the bytes are sent as they are read, and the
/// upload is completed under the digest once it is known, or cancelled.
#[async_trait]
pub trait StreamedUpload: Send {
    /// Sends `content`, the blob from its first byte to its last. An error
    /// in the stream aborts the send (and fails it).
    async fn send(&mut self, content: ByteStream) -> Result<()>;

    /// Completes the upload as the blob `desc`: the store keeps it only if
    /// what arrived has `desc`'s size and digest.
    async fn finish(self: Box<Self>, desc: &Descriptor) -> Result<()>;

    /// Abandons the upload: nothing of it is kept.
    async fn cancel(self: Box<Self>) -> Result<()>;
}

/// Adds `desc` to the fallback tag's index of `subject` as the distribution
/// spec says: read the index (or start an empty one), append the descriptor
/// unless it is listed, push the index to the tag.
pub(crate) async fn add_to_fallback_index<S: Store + ?Sized>(
    store: &S,
    desc: &Descriptor,
    subject: &Digest,
) -> Result<ReferrerIndexing> {
    let mut index = match fallback_referrers(store, subject).await? {
        Some((_, index)) => index,
        None => Index::image_index(Vec::new()),
    };
    if index.manifests.iter().any(|d| d.digest == desc.digest) {
        return Ok(ReferrerIndexing::AlreadyListed);
    }
    index.manifests.push(desc.clone());
    let bytes = Bytes::from(index.to_bytes());
    let index_desc = Descriptor::of_bytes(crate::media::OCI_INDEX, &bytes);
    store.push_manifest(&index_desc, bytes, &[referrers_tag(subject)]).await?;
    Ok(ReferrerIndexing::FallbackTag)
}

/// True if the fallback index of `subject` lists `digest`.
async fn fallback_lists<S: ReadStore + ?Sized>(store: &S, subject: &Digest, digest: &Digest) -> Result<bool> {
    Ok(fallback_referrers(store, subject)
        .await?
        .is_some_and(|(_, index)| index.manifests.iter().any(|d| &d.digest == digest)))
}

/// Streams a local file in chunks.
pub async fn file_stream(path: &Path) -> Result<ByteStream> {
    use tokio::io::AsyncReadExt;
    const CHUNK: usize = 1 << 20;
    let file = tokio::fs::File::open(path).await.map_err(|e| Error::io("cannot open", path, e))?;
    let stream = futures::stream::try_unfold(file, |mut file| async move {
        // `read_buf` fills spare capacity: no zeroing of each chunk first.
        let mut buf = BytesMut::with_capacity(CHUNK);
        let n = file.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some((buf.freeze(), file)))
    });
    Ok(Box::pin(stream))
}

/// A stream of one in-memory buffer.
pub fn bytes_stream(bytes: Bytes) -> ByteStream {
    Box::pin(futures::stream::once(async move { Ok(bytes) }))
}

/// Turns a stream error into a wharf error, recovering integrity errors raised by wharf itself.
pub fn transfer_error(digest: &Digest, e: io::Error) -> Error {
    unwrap_io_error(e, |source| Error::Transfer { what: digest.to_string(), source })
}

/// Reads `content` into memory through a size and digest check against `desc`.
pub async fn collect_verified(content: ByteStream, desc: &Descriptor) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0).min(1 << 26));
    let mut verified = VerifyingStream::new(content, desc.digest.clone(), desc.size);
    while let Some(chunk) = verified.next().await {
        out.extend_from_slice(&chunk.map_err(|e| transfer_error(&desc.digest, e))?);
    }
    Ok(out)
}

/// Streams `content` into the file at `path` through a size and digest check
/// against `desc`, atomically ([`crate::fs::AtomicFile`]): a failure leaves
/// nothing at `path`. `inspect` sees each chunk before it is written and may refuse it.
pub async fn write_file_verified<E: From<Error>>(
    content: ByteStream,
    desc: &Descriptor,
    path: &Path,
    mut inspect: impl FnMut(&Bytes) -> std::result::Result<(), E> + Send,
) -> std::result::Result<(), E> {
    let mut file = AtomicFile::create(path, Mode::Shared)?;
    let verified = VerifyingStream::new(content, desc.digest.clone(), desc.size);
    let checked = verified.map(|chunk| -> std::result::Result<Bytes, E> {
        let chunk = chunk.map_err(|e| transfer_error(&desc.digest, e))?;
        inspect(&chunk)?;
        Ok(chunk)
    });
    file.write_stream(checked).await?;
    Ok(file.commit().map(|_| ())?)
}
