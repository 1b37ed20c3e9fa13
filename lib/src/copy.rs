//! The one graph walk behind push, pull and copy: children before parents,
//! blobs the destination has are skipped, same-registry blobs are mounted,
//! everything else is streamed through a digest check, and the root goes last.

use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::Result;
use crate::manifest::{Descriptor, successors};
use crate::reference::Selector;
use crate::store::{ByteStream, ReadStore, Store};

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
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions { tags: Vec::new(), concurrency: 4, progress: None }
    }
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
}

struct Walk<'a> {
    src: &'a dyn ReadStore,
    dst: &'a dyn Store,
    options: &'a CopyOptions,
    report: Mutex<CopyReport>,
}

/// Copies the graph under `root` from `src` to `dst` and tags the root.
pub async fn copy(
    src: &dyn ReadStore,
    root: &Descriptor,
    dst: &dyn Store,
    options: &CopyOptions,
) -> Result<CopyReport> {
    let walk = Walk { src, dst, options, report: Mutex::new(CopyReport::default()) };
    if walk.root_is_current(root).await {
        walk.record(root, Outcome::Skipped);
    } else {
        walk.manifest(root, true).await?;
    }
    Ok(walk.report.into_inner().unwrap_or_default())
}

impl Walk<'_> {
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
    async fn root_is_current(&self, root: &Descriptor) -> bool {
        if self.options.tags.is_empty() {
            return false;
        }
        for tag in &self.options.tags {
            match self.dst.resolve(&Selector::Tag(tag.clone())).await {
                Ok(found) if found.digest == root.digest => {}
                _ => return false,
            }
        }
        true
    }

    /// Copies a manifest or index: children first (always checked, even when
    /// the manifest exists, so a half-copied graph heals), then the node.
    async fn manifest(&self, desc: &Descriptor, is_root: bool) -> Result<()> {
        let bytes = self.src.fetch_bytes(desc).await?;
        let children = successors(&desc.media_type, &bytes)?;
        let (manifests, blobs): (Vec<_>, Vec<_>) = children.into_iter().partition(Descriptor::is_manifest);
        futures::stream::iter(blobs.iter().map(|b| self.blob(b)))
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        for child in &manifests {
            Box::pin(self.manifest(child, false)).await?;
        }
        if is_root {
            self.dst.push_manifest(desc, bytes, &self.options.tags).await?;
            self.record(desc, Outcome::Copied);
        } else if self.dst.exists(desc).await? {
            self.record(desc, Outcome::Skipped);
        } else {
            self.dst.push_manifest(desc, bytes, &[]).await?;
            self.record(desc, Outcome::Copied);
        }
        Ok(())
    }

    async fn blob(&self, desc: &Descriptor) -> Result<()> {
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
        let stream = self.src.fetch(desc).await?;
        // The destination verifies digest and size as it reads.
        self.dst.push(desc, self.with_progress(desc, stream)).await?;
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
