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

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

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
            sent: Vec::new(),
            tags_current: None,
        }
    }
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
        futures::stream::iter(blobs.iter().map(|b| self.blob(b)))
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

    async fn blob(&self, desc: &Descriptor) -> Result<()> {
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
        // Opened again for each attempt the destination makes; it verifies digest and size as it reads.
        let open = || -> futures::future::BoxFuture<'_, Result<ByteStream>> {
            Box::pin(async { Ok(self.with_progress(desc, self.src.fetch(desc).await?)) })
        };
        self.dst.push_reopening(desc, &open, self.src.vouches_for_content()).await?;
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
