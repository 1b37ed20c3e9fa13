//! A chunk index travels beside its artifact as an OCI 1.1 referrer: a
//! manifest whose `subject` is the artifact's manifest, `artifactType`
//! [`CHUNK_INDEX`], the empty config, and one layer holding the index. The
//! artifact itself is not touched, so it stays the standard one-layer artifact
//! every other tool reads, byte for byte. A registry without the referrers API
//! (docker-registry 2.8) lists it in the fallback tag's index.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt;

use super::index::{CHUNK_INDEX, ChunkIndex, Chunking, IndexBuilder, MAX_INDEX_SIZE};
use crate::digest::{Digest, VerifyingStream};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Manifest};
use crate::media;
use crate::store::{ByteStream, ReadStore, ReferrerIndexing, Store, bytes_stream, collect_verified, transfer_error};

/// The annotation of the referrer (and its index entry) that names the layer
/// the index describes, so a reader picks the right one without fetching it.
pub const LAYER_ANNOTATION: &str = "dev.wharf.chunk-index.layer";

/// Most referrer entries that claim to be an index of the layer a reader tries.
const MAX_CANDIDATES: usize = 4;

/// What [`attach`] pushed.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attached {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// How the store lists it.
    pub indexed: ReferrerIndexing,
    /// Chunks in the index.
    pub chunks: usize,
    /// The index document's size in bytes.
    pub size: u64,
}

/// A chunk index read from a store, and how many bytes that took.
#[derive(Debug)]
pub struct Found {
    /// The index, checked against the layer.
    pub index: ChunkIndex,
    /// Bytes of documents read for it (the referrer manifest and the index).
    pub bytes_read: u64,
}

/// Pushes `index` as a referrer of the manifest `subject` (blobs first, then
/// the manifest, listed through the referrers API or the fallback tag).
pub async fn attach(store: &dyn Store, subject: &Descriptor, index: &ChunkIndex) -> Result<Attached> {
    let bytes = Bytes::from(index.to_bytes());
    let layer = Descriptor::of_bytes(CHUNK_INDEX, &bytes);
    put_blob(store, &layer, bytes.clone()).await?;
    let config = Descriptor::of_bytes(media::OCI_EMPTY, b"{}");
    put_blob(store, &config, Bytes::from_static(b"{}")).await?;
    let annotations = BTreeMap::from([(LAYER_ANNOTATION.to_string(), index.layer.digest.to_string())]);
    let manifest = Manifest {
        subject: Some(Descriptor::of(&subject.media_type, subject.digest.clone(), subject.size)),
        artifact_type: Some(CHUNK_INDEX.into()),
        ..Manifest::image(config, vec![layer], annotations.clone())
    };
    let manifest_bytes = Bytes::from(manifest.to_bytes());
    let mut entry = Descriptor::of_bytes(media::OCI_MANIFEST, &manifest_bytes);
    entry.artifact_type = Some(CHUNK_INDEX.into());
    entry.annotations = annotations;
    let indexed = store.push_referrer(&entry, manifest_bytes, &subject.digest).await?;
    Ok(Attached { digest: entry.digest, indexed, chunks: index.chunks.len(), size: bytes.len() as u64 })
}

/// Cuts the blob `layer` of `source` into chunks with `chunking`, checking
/// its size and digest as it streams (an index is only ever made of the
/// layer's true bytes).
pub async fn index_blob(source: &dyn ReadStore, layer: &Descriptor, chunking: Chunking) -> Result<ChunkIndex> {
    index_stream(source.fetch(layer).await?, layer, chunking).await
}

/// [`index_blob`] of the layer's bytes `content`.
async fn index_stream(content: ByteStream, layer: &Descriptor, chunking: Chunking) -> Result<ChunkIndex> {
    let mut builder = IndexBuilder::new(chunking)?;
    let mut verified = VerifyingStream::new(content, layer.digest.clone(), layer.size);
    while let Some(piece) = verified.next().await {
        builder.update(&piece.map_err(|e| transfer_error(&layer.digest, e))?);
    }
    builder.finish(layer)
}

/// The chunk index of `layer` (read from `source`) to attach to the manifest
/// `subject` in `store`, or `None` when a referrer there already claims to be
/// one ([`listed`]). The cutting runs as a task of its own (on another worker
/// thread of a multi-threaded runtime), so that a push cuts the layer while
/// it uploads it.
pub async fn prepare(
    store: &dyn ReadStore,
    source: &dyn ReadStore,
    subject: &Descriptor,
    layer: &Descriptor,
) -> Result<Option<ChunkIndex>> {
    if listed(store, &subject.digest, layer).await? {
        return Ok(None);
    }
    let (content, owned) = (source.fetch(layer).await?, layer.clone());
    let cutting = tokio::spawn(async move { index_stream(content, &owned, Chunking::default()).await });
    match cutting.await {
        Ok(index) => index.map(Some),
        Err(e) => Err(Error::Transfer {
            what: format!("the chunks of {}", layer.digest),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// Attaches a chunk index of `layer` (read from `source`) to the manifest
/// `subject` in `store`, unless one is there already ([`prepare`]): `None`
/// then. `wharf index` reads the layer from the registry it indexes.
pub async fn ensure(
    store: &dyn Store,
    source: &dyn ReadStore,
    subject: &Descriptor,
    layer: &Descriptor,
) -> Result<Option<Attached>> {
    match prepare(store, source, subject, layer).await? {
        Some(index) => attach(store, subject, &index).await.map(Some),
        None => Ok(None),
    }
}

/// The referrers of `subject` that claim to be a chunk index of `layer`
/// (by their listing alone: none is read).
fn candidates(referrers: Vec<Descriptor>, layer: &Descriptor) -> Vec<Descriptor> {
    referrers
        .into_iter()
        .filter(|d| d.artifact_type.as_deref() == Some(CHUNK_INDEX) && d.is_manifest())
        .filter(|d| d.annotations.get(LAYER_ANNOTATION).is_none_or(|l| l == layer.digest.as_str()))
        .take(MAX_CANDIDATES)
        .collect()
}

/// True when a referrer of `subject` claims to be a chunk index of `layer`.
pub async fn listed(store: &dyn ReadStore, subject: &Digest, layer: &Descriptor) -> Result<bool> {
    Ok(!candidates(store.referrers(subject).await?, layer).is_empty())
}

async fn put_blob(store: &dyn Store, desc: &Descriptor, bytes: Bytes) -> Result<()> {
    if !store.exists(desc).await? {
        store.push(desc, bytes_stream(bytes)).await?;
    }
    Ok(())
}

/// The chunk index of `layer` among the referrers of the manifest `subject`,
/// if one is there and holds up ([`ChunkIndex::parse`]); `None` when there is
/// none. Referrers that are not what they claim are passed over.
pub async fn find(store: &dyn ReadStore, subject: &Digest, layer: &Descriptor) -> Result<Option<Found>> {
    for candidate in candidates(store.referrers(subject).await?, layer) {
        match read(store, &candidate, subject, layer).await {
            Ok(found) => return Ok(Some(found)),
            Err(e) => tracing::warn!(referrer = %candidate.digest, error = %e, "a chunk index was passed over"),
        }
    }
    Ok(None)
}

/// Reads one candidate referrer and the index it holds.
async fn read(store: &dyn ReadStore, entry: &Descriptor, subject: &Digest, layer: &Descriptor) -> Result<Found> {
    let what = format!("chunk index {}", entry.digest);
    let manifest_bytes = store.fetch_bytes(entry).await?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    if manifest.artifact_type.as_deref() != Some(CHUNK_INDEX)
        || manifest.subject.as_ref().map(|s| &s.digest) != Some(subject)
    {
        return Err(Error::malformed(what, "it is not a chunk index of this manifest"));
    }
    let [blob] = manifest.layers.as_slice() else {
        return Err(Error::malformed(what, "it does not have exactly one layer"));
    };
    if blob.media_type != CHUNK_INDEX || blob.size > MAX_INDEX_SIZE {
        return Err(Error::malformed(
            what,
            format!("its layer is a {} of {} bytes (at most {MAX_INDEX_SIZE})", blob.media_type, blob.size),
        ));
    }
    let bytes = collect_verified(store.fetch(blob).await?, blob).await?;
    let index = ChunkIndex::parse(&bytes, layer, &what)?;
    Ok(Found { index, bytes_read: (manifest_bytes.len() + bytes.len()) as u64 })
}
