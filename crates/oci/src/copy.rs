//! The one graph walk behind push, pull and copy: children before parents,
//! blobs the destination has are skipped, same-registry blobs are mounted,
//! everything else is streamed through a digest check, and the root goes last.
//!
//! Each node is visited once per walk, however many parents list it: a
//! hostile (or merely generous) graph of indexes that share children, a
//! diamond, would otherwise cost work exponential in its depth. The root's
//! referrers share the record, so blobs they have in common with the
//! artifact are not checked twice either.
//!
//! Retries are the stores' business (a registry store retries every request
//! under one policy); the walk hands a destination a way to open a blob again,
//! so an upload can start over.
//!
//! Referrers of the root (signatures, SBOMs) travel only when the caller says
//! which ([`ReferrerFilter`]): the walk knows no artifact type of its own.
//!
//! Into a local store (an `oci:` layout) from a registry, the layers the
//! caller names ([`ChunkedLayers`]) come through the chunk cache, by chunks
//! where the registry has a chunk index ([`crate::chunks::pull_layer`]): a
//! layout that holds several versions does not download their shared bytes
//! again. The same walk decides everything else; only where a blob's bytes
//! come from changes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::chunks::{CHUNKED_ABOVE, ChunkCache, LayerTransfer, pull_layer};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, successors};
use crate::reference::Selector;
use crate::store::{ByteStream, ReadStore, ReferrerIndexing, Store};

/// Receives transfer events; the CLI draws progress bars from them.
pub trait Progress: Send + Sync {
    /// A blob transfer starts.
    fn started(&self, _desc: &Descriptor) {}
    /// `bytes` more bytes of `desc` were read.
    fn advanced(&self, _desc: &Descriptor, _bytes: u64) {}
    /// A blob is done (copied, skipped or mounted).
    fn finished(&self, _desc: &Descriptor, _outcome: Outcome) {}
}

/// What happened to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Sent to the destination.
    Copied,
    /// The destination already had it.
    Skipped,
    /// Mounted from another repository of the same registry.
    Mounted,
}

/// Options for [`copy`].
#[derive(Clone)]
pub struct CopyOptions {
    /// Tags to point at the root in the destination (none: by digest only).
    pub tags: Vec<String>,
    /// How many blobs move at once.
    pub concurrency: usize,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
    /// Also copy the root's referrers that this filter keeps (made findable at
    /// the destination through its referrers API or a rebuilt fallback tag
    /// index), and the manifests under the tags it names after the root.
    pub referrers: Option<ReferrerFilter>,
    /// Pull these layers through the chunk cache when copying from a
    /// registry into a local store.
    pub chunked: Option<ChunkedLayers>,
    /// Blobs the caller has already put at the destination (a streamed
    /// upload it completed): recorded as copied, neither checked nor sent.
    pub sent: Vec<Digest>,
    /// Whether every tag points at the root already, when the caller has just
    /// read them (a push that looked before it chose how to upload): the walk
    /// then does not ask again. `None`: the walk asks.
    pub tags_current: Option<bool>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            tags: Vec::new(),
            concurrency: 4,
            progress: None,
            referrers: None,
            chunked: None,
            sent: Vec::new(),
            tags_current: None,
        }
    }
}

/// Layers a copy from a registry into a local store pulls through the chunk
/// cache ([`CopyOptions::chunked`]), as `wharf pull` does.
#[derive(Clone)]
pub struct ChunkedLayers {
    /// The chunk cache.
    pub cache: Arc<ChunkCache>,
    /// Which blobs are such layers (the caller's artifact type: wharf's Wasm
    /// layers); only those of [`CHUNKED_ABOVE`] bytes and more look for an index.
    pub layers: fn(&Descriptor) -> bool,
}

/// Which referrers of the root travel with it ([`CopyOptions::referrers`]).
/// wharf-sign supplies cosign's: Sigstore bundles, and the legacy `.sig` tag.
#[derive(Debug, Clone, Copy)]
pub struct ReferrerFilter {
    /// Whether a referrer manifest travels, given its children (config and
    /// layers): decided on the content, since old clients wrote index entries
    /// without an `artifactType`.
    pub keep: fn(&[Descriptor]) -> bool,
    /// Tags named after the root's digest whose manifests travel too (cosign's
    /// `.sig` and `.att`), each when the source has it.
    pub tags_of: &'static [fn(&Digest) -> String],
}

/// The referrers a copy carried along ([`CopyOptions::referrers`]); in reports,
/// `signatures`, since that is what they are today.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrersCopied {
    /// Referrers copied, with how the destination lists each.
    pub referrers: Vec<ReferrerCopied>,
    /// The tags named after the root ([`ReferrerFilter::tags_of`]) the source had, copied.
    #[serde(rename = "legacyTags")]
    pub tags: Vec<String>,
    /// Referrers of the root the filter left behind (SBOMs, other artifacts).
    pub other_referrers_skipped: usize,
}

/// One referrer copied.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerCopied {
    /// The referrer manifest's digest (the same on both sides).
    pub digest: Digest,
    /// How the destination makes it findable from the root.
    pub indexed: ReferrerIndexing,
}

/// What a copy did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    /// Nodes sent.
    pub copied: Vec<Digest>,
    /// Nodes the destination had.
    pub skipped: Vec<Digest>,
    /// Blobs mounted.
    pub mounted: Vec<Digest>,
    /// Blob bytes sent.
    pub bytes_copied: u64,
    /// The referrers carried along, when asked for.
    #[serde(rename = "signatures", skip_serializing_if = "Option::is_none")]
    pub referrers: Option<ReferrersCopied>,
    /// How each layer pulled through the chunk cache came ([`CopyOptions::chunked`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerCopied>,
}

/// One layer a copy pulled through the chunk cache.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerCopied {
    /// The layer.
    pub digest: Digest,
    /// How its bytes came.
    pub transfer: LayerTransfer,
}

/// How deep indexes may nest below the root (real ones nest one level:
/// an index of manifests).
pub const MAX_NESTING: usize = 8;

struct Walk<'a> {
    src: &'a dyn ReadStore,
    dst: &'a dyn Store,
    options: &'a CopyOptions,
    report: Mutex<CopyReport>,
    /// The nodes this walk has taken on, by digest and by kind (a registry
    /// keeps manifests and blobs apart, so the same bytes as both are two nodes).
    visited: Mutex<HashSet<(Digest, bool)>>,
}

/// Copies the graph under `root` from `src` to `dst` and tags the root.
pub async fn copy(
    src: &dyn ReadStore,
    root: &Descriptor,
    dst: &dyn Store,
    options: &CopyOptions,
) -> Result<CopyReport> {
    let walk =
        Walk { src, dst, options, report: Mutex::new(CopyReport::default()), visited: Mutex::new(HashSet::new()) };
    walk.root(root, &options.tags).await?;
    let referrers = match options.referrers {
        Some(filter) => Some(walk.referrers(root, filter).await?),
        None => None,
    };
    let mut report = walk.report.into_inner().unwrap_or_default();
    report.referrers = referrers;
    Ok(report)
}

impl Walk<'_> {
    /// True the first time the walk meets `desc`; false when it has taken it on before.
    fn first_visit(&self, desc: &Descriptor) -> bool {
        match self.visited.lock() {
            Ok(mut visited) => visited.insert((desc.digest.clone(), desc.is_manifest())),
            // A poisoned lock only means another task panicked; visiting again is safe.
            Err(_) => true,
        }
    }

    /// Copies the graph under `root` and points `tags` at it, unless they point at it already.
    async fn root(&self, root: &Descriptor, tags: &[String]) -> Result<()> {
        if self.root_is_current(root, tags).await {
            self.first_visit(root);
            self.record(root, Outcome::Skipped);
            return Ok(());
        }
        self.node(root, tags, 0).await
    }

    fn record(&self, desc: &Descriptor, outcome: Outcome) {
        if let Ok(mut r) = self.report.lock() {
            let list = match outcome {
                Outcome::Copied => &mut r.copied,
                Outcome::Skipped => &mut r.skipped,
                Outcome::Mounted => &mut r.mounted,
            };
            list.push(desc.digest.clone());
            if outcome == Outcome::Copied && !desc.is_manifest() {
                r.bytes_copied += desc.size;
            }
        }
        if let Some(p) = &self.options.progress {
            p.finished(desc, outcome);
        }
    }

    /// True when every tag already points at `root` in the destination: a
    /// registry accepts a manifest only once its blobs are there, so nothing
    /// below it needs checking, and a re-push costs one lookup per tag.
    async fn root_is_current(&self, root: &Descriptor, tags: &[String]) -> bool {
        if tags.is_empty() {
            return false;
        }
        if let Some(known) = self.options.tags_current.filter(|_| tags == self.options.tags.as_slice()) {
            return known;
        }
        for tag in tags {
            match self.dst.resolve(&Selector::Tag(tag.clone())).await {
                Ok(found) if found.digest == root.digest => {}
                _ => return false,
            }
        }
        true
    }

    /// Copies a manifest or index at nesting `depth` (0 for a root), pointing
    /// `tags` at it: children first (always checked, even when the manifest
    /// exists, so a half-copied graph heals), then the node. A node the walk
    /// has taken on before is done (a root still gets its tags).
    async fn node(&self, desc: &Descriptor, tags: &[String], depth: usize) -> Result<()> {
        if depth > MAX_NESTING {
            return Err(Error::malformed(
                format!("index {}", desc.digest),
                format!(
                    "indexes nest more than {MAX_NESTING} levels deep; wharf stops there (a hostile or broken graph)"
                ),
            ));
        }
        if !self.first_visit(desc) && tags.is_empty() {
            return Ok(());
        }
        let bytes = self.src.fetch_bytes(desc).await?;
        self.children(desc, &bytes, depth).await?;
        let is_root = depth == 0;
        if !is_root && self.dst.exists(desc).await? {
            self.record(desc, Outcome::Skipped);
            return Ok(());
        }
        self.dst.push_manifest(desc, bytes, tags).await?;
        self.record(desc, Outcome::Copied);
        Ok(())
    }

    /// Copies the children of the manifest or index `desc` (its `bytes`):
    /// blobs concurrently, then child manifests, each with the same walk.
    async fn children(&self, desc: &Descriptor, bytes: &[u8], depth: usize) -> Result<()> {
        let mut children = successors(&desc.media_type, bytes)?;
        // The same child listed many times is copied once.
        let mut seen = std::collections::HashSet::new();
        children.retain(|c| seen.insert(c.digest.clone()));
        let (manifests, blobs): (Vec<_>, Vec<_>) = children.into_iter().partition(Descriptor::is_manifest);
        futures::stream::iter(blobs.iter().map(|b| self.blob(b, &desc.digest)))
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        for child in &manifests {
            Box::pin(self.node(child, &[], depth + 1)).await?;
        }
        Ok(())
    }

    /// Copies the root's referrers that `filter` keeps, as the source lists
    /// them (referrers API or fallback tag), each pushed as a referrer at the
    /// destination (which lists it through its referrers API or adds it to its
    /// own fallback index), then the manifest under the filter's tag. All are
    /// walked as part of this walk: what the artifact's graph already covered
    /// is not visited again.
    async fn referrers(&self, root: &Descriptor, filter: ReferrerFilter) -> Result<ReferrersCopied> {
        let mut out = ReferrersCopied::default();
        for entry in self.src.referrers(&root.digest).await? {
            if !entry.is_manifest() {
                out.other_referrers_skipped += 1;
                continue;
            }
            if !self.first_visit(&entry) {
                continue;
            }
            let bytes = self.src.fetch_bytes(&entry).await?;
            if !(filter.keep)(&successors(&entry.media_type, &bytes)?) {
                out.other_referrers_skipped += 1;
                continue;
            }
            self.children(&entry, &bytes, 1).await?;
            let existed = self.dst.exists(&entry).await?;
            // Pushed even when present, so a missing fallback index entry is added.
            let indexed = self.dst.push_referrer(&entry, bytes, &root.digest).await?;
            self.record(&entry, if existed { Outcome::Skipped } else { Outcome::Copied });
            out.referrers.push(ReferrerCopied { digest: entry.digest.clone(), indexed });
        }
        for tag_of in filter.tags_of {
            let tag = tag_of(&root.digest);
            match self.src.resolve(&Selector::Tag(tag.clone())).await {
                Ok(desc) => {
                    Box::pin(self.root(&desc, std::slice::from_ref(&tag))).await?;
                    out.tags.push(tag);
                }
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Copies the blob `desc`, a child of the manifest `parent`.
    async fn blob(&self, desc: &Descriptor, parent: &Digest) -> Result<()> {
        if !self.first_visit(desc) {
            return Ok(());
        }
        if self.options.sent.contains(&desc.digest) {
            self.record(desc, Outcome::Copied);
            return Ok(());
        }
        if self.dst.exists(desc).await? {
            self.record(desc, Outcome::Skipped);
            return Ok(());
        }
        if let Some(from) = self.src.location()
            && self.dst.mount(desc, &from).await?
        {
            self.record(desc, Outcome::Mounted);
            return Ok(());
        }
        if let Some(p) = &self.options.progress {
            p.started(desc);
        }
        if let Some(chunked) = self.chunked_for(desc)
            && let Some(temp) = temp_dir_in(&chunked.cache)
        {
            return self.blob_through_cache(desc, parent, &chunked.cache, &temp).await;
        }
        // Opened again for each attempt the destination makes; it verifies digest and size as it reads.
        let open = || -> futures::future::BoxFuture<'_, Result<ByteStream>> {
            Box::pin(async { Ok(self.with_progress(desc, self.src.fetch(desc).await?)) })
        };
        self.dst.push_reopening(desc, &open, self.src.vouches_for_content()).await?;
        self.record(desc, Outcome::Copied);
        Ok(())
    }

    /// The chunk cache `desc` comes through, if any: one of the caller's
    /// layers, large enough, from a registry into a local store.
    fn chunked_for(&self, desc: &Descriptor) -> Option<&ChunkedLayers> {
        let chunked = self.options.chunked.as_ref()?;
        let wanted = (chunked.layers)(desc) && desc.size >= CHUNKED_ABOVE;
        (wanted && self.src.location().is_some() && self.dst.location().is_none()).then_some(chunked)
    }

    /// Pulls `desc` (a layer of `parent`) through the chunk cache into a temp
    /// file in the cache's directory (verified against its digest there, as
    /// `wharf pull` does), then stores it at the destination from that file.
    async fn blob_through_cache(
        &self,
        desc: &Descriptor,
        parent: &Digest,
        cache: &ChunkCache,
        temp: &tempfile::TempDir,
    ) -> Result<()> {
        let path = temp.path().join("layer");
        let progress = self.options.progress.clone();
        let mut inspect = |_: u64, piece: &bytes::Bytes| -> Result<()> {
            if let Some(p) = &progress {
                p.advanced(desc, piece.len() as u64);
            }
            Ok(())
        };
        let transfer = pull_layer(self.src, parent, desc, &path, Some(cache), &mut inspect).await?;
        let open = || -> futures::future::BoxFuture<'_, Result<ByteStream>> {
            Box::pin(async { crate::store::file_stream(&path).await })
        };
        // Vouched: the file was checked against the digest as it was written.
        self.dst.push_reopening(desc, &open, true).await?;
        if let Ok(mut r) = self.report.lock() {
            r.layers.push(LayerCopied { digest: desc.digest.clone(), transfer });
        }
        self.record(desc, Outcome::Copied);
        Ok(())
    }

    fn with_progress(&self, desc: &Descriptor, stream: ByteStream) -> ByteStream {
        match &self.options.progress {
            None => stream,
            Some(p) => {
                let (p, desc) = (Arc::clone(p), desc.clone());
                Box::pin(stream.inspect_ok(move |chunk| p.advanced(&desc, chunk.len() as u64)))
            }
        }
    }
}

/// A temp directory in the chunk cache's directory (the pulled layer is hard-linked
/// into the cache from there); `None` when it cannot be made: the blob is then
/// copied as any other, since a cache that fails only means bytes fetched.
fn temp_dir_in(cache: &ChunkCache) -> Option<tempfile::TempDir> {
    let made = cache.create_dirs().and_then(|()| tempfile::Builder::new().prefix(".copy-").tempdir_in(cache.dir()));
    match made {
        Ok(temp) => Some(temp),
        Err(e) => {
            tracing::warn!(cache = %cache.dir().display(), "the chunk cache cannot hold a temp directory ({e}); copying whole");
            None
        }
    }
}
