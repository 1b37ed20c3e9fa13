//! `pull`: the Wasm binary of an artifact, in any shape wharf reads, into a file,
//! verified while it streams and written atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use wharf_oci::annotations::TITLE;
use wharf_oci::chunks::{ChunkCache, LayerTransfer};
use wharf_oci::copy::{Outcome, Progress};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::Descriptor;
use wharf_oci::open::open_source;
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;
use wharf_wasm::artifact::read::{kind_warning, pull_verified, resolve_artifact};

use crate::error::Result;

/// Options for [`pull`].
pub struct PullOptions {
    /// Output file or directory; default: the layer title, else `<repo>.wasm`, in the current directory.
    pub output: Option<PathBuf>,
    /// Transport settings.
    pub transport: TransportOptions,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
    /// The chunk cache: layers pulled before, whose chunks a pull of a later
    /// version reads instead of fetching them (none: every layer is pulled whole).
    pub chunk_cache: Option<ChunkCache>,
}

/// What a pull did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullReport {
    /// `location@digest` of the manifest.
    pub reference: String,
    /// Manifest digest.
    pub digest: Digest,
    /// The shape read.
    pub shape: String,
    /// Where the Wasm was written.
    pub path: PathBuf,
    /// Layer digest.
    pub layer_digest: Digest,
    /// Bytes written.
    pub size: u64,
    /// How the layer came: whole, by chunks, or from the cache; the bytes moved.
    pub transfer: LayerTransfer,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Pulls the Wasm of `reference` into a file, verifying it while it streams
/// and writing atomically: a failed pull leaves nothing at the output path.
pub async fn pull(reference: &Reference, options: &PullOptions) -> Result<PullReport> {
    let store = open_source(reference, &options.transport).await?;
    let resolved = resolve_artifact(store.as_ref(), &reference.selector()).await?;
    let path = output_path(options.output.as_deref(), &resolved.layer, reference)?;
    if let Some(p) = &options.progress {
        p.started(&resolved.layer);
    }
    // A registry store resumes a download that broke off (retries are the store's).
    let (kind, transfer) = pull_verified(
        store.as_ref(),
        &resolved.manifest_descriptor.digest,
        &resolved.layer,
        &path,
        options.chunk_cache.as_ref(),
        options.progress.as_deref(),
    )
    .await?;
    let mut warnings = resolved.warnings;
    warnings.extend(kind_warning(resolved.config.as_ref(), kind));
    if let Some(p) = &options.progress {
        p.finished(&resolved.layer, Outcome::Copied);
    }
    Ok(PullReport {
        reference: reference.pinned(&resolved.manifest_descriptor.digest),
        digest: resolved.manifest_descriptor.digest.clone(),
        shape: resolved.shape,
        path,
        layer_digest: resolved.layer.digest.clone(),
        size: resolved.layer.size,
        transfer,
        warnings,
    })
}

/// The file a pull writes: `-o` (a file, or a directory to put the default name in),
/// else the default name in the current directory.
fn output_path(output: Option<&Path>, layer: &Descriptor, reference: &Reference) -> Result<PathBuf> {
    let default_name = || {
        layer
            .annotations
            .get(TITLE)
            .and_then(|t| Path::new(t).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .unwrap_or_else(|| format!("{}.wasm", reference.short_name()))
    };
    let path = match output {
        Some(p) if p.is_dir() => p.join(default_name()),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(default_name()),
    };
    wharf_oci::fs::existing_parent_dir(&path)?;
    Ok(path)
}
