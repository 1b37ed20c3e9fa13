//! `push`: a `.wasm` file validated, staged as a Wasm OCI artifact and copied to a
//! registry or layout; with a WIT world given, refused unless it fits, checking
//! and pushing the bytes of one read.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use wharf_oci::chunks::CHUNKED_ABOVE;
use wharf_oci::chunks::referrer::{Attached, attach, prepare};
use wharf_oci::copy::{CopyOptions, CopyReport, Progress, copy};
use wharf_oci::digest::Digest;
use wharf_oci::open::{destination_tags, open_destination};
use wharf_oci::reference::Reference;
use wharf_oci::store::Store;
use wharf_oci::transport::TransportOptions;
use wharf_wasm::artifact::{self, Artifact, BuildOptions, WasmConfig};
#[cfg(feature = "check")]
use wharf_wasm::check::{CheckReport, World};

use crate::error::Result;

mod streamed;

/// Options for [`push`].
pub struct PushOptions {
    /// How the artifact is built.
    pub build: BuildOptions,
    /// Extra tags.
    pub extra_tags: Vec<String>,
    /// Also push an OCI image index over the manifest (one entry, platform
    /// `wasm`/`wasip2` or `wasm`/`wasip1`) and point the tags at the index.
    pub index: bool,
    /// Attach a chunk index of the layer beside the artifact (a referrer),
    /// when the layer is at least [`CHUNKED_ABOVE`] bytes: later pulls then
    /// fetch only the chunks they lack. The artifact itself is the same.
    pub chunk_index: bool,
    /// Transport settings.
    pub transport: TransportOptions,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
}

/// The image index a `push --index` wrote.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushedIndex {
    /// Index digest (what the tags point at).
    pub digest: Digest,
    /// Index media type.
    pub media_type: String,
    /// Index size.
    pub size: u64,
    /// The platform of its single entry.
    pub platform: wharf_oci::manifest::Platform,
}

/// What a push did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushReport {
    /// `location@digest` of what the tags point at (the index with `--index`,
    /// else the manifest).
    pub reference: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Manifest media type.
    pub media_type: String,
    /// Manifest size.
    pub size: u64,
    /// Tags written.
    pub tags: Vec<String>,
    /// The config that was pushed.
    pub config: WasmConfig,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The index over the manifest, when pushed with `--index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<PushedIndex>,
    /// Blob transfer summary.
    pub transfer: CopyReport,
    /// The chunk index attached beside the manifest, when one was (none
    /// below [`CHUNKED_ABOVE`], or when the registry already had one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_index: Option<Attached>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Validates `file`, builds its artifact and copies it to `reference`
/// (with [`PushOptions::index`], under an image index that the tags name).
///
/// To a registry, a file the scan cache does not know is uploaded while it is
/// validated and hashed: its one read feeds both, and the upload
/// is completed once the file proves valid, or cancelled.
pub async fn push(file: &Path, reference: &Reference, options: &PushOptions) -> Result<PushReport> {
    let tags = destination_tags(reference, Some("latest"), &options.extra_tags)?;
    let built = match streamed::route(file, reference, options) {
        streamed::Route::Streamed(size) => return streamed::push(file, size, tags, reference, options).await,
        streamed::Route::Cached(scanned) => artifact::build_scanned(file, *scanned, &options.build)?,
        streamed::Route::Walk => artifact::build(file, &options.build)?,
    };
    publish(built, tags, reference, options).await
}

/// What [`push_checked`] did.
#[cfg(feature = "check")]
#[derive(Debug)]
pub enum Checked {
    /// The component fits the world, and was pushed.
    Pushed(Box<PushReport>),
    /// It does not fit: nothing was pushed.
    DoesNotFit(CheckReport),
}

/// [`push`] of a component that must fit `world`: the file is read once, checked,
/// and the same bytes are pushed (nothing is pushed unless it fits), with the
/// world recorded as the config's `component.target`.
#[cfg(feature = "check")]
pub async fn push_checked(file: &Path, reference: &Reference, world: &World, options: &PushOptions) -> Result<Checked> {
    let bytes = std::fs::read(file).map_err(|e| crate::Error::io("cannot read", file, e))?;
    let report = world.check(&file.display().to_string(), bytes.clone())?;
    if !report.fits {
        return Ok(Checked::DoesNotFit(report));
    }
    let tags = destination_tags(reference, Some("latest"), &options.extra_tags)?;
    let build = BuildOptions { target: Some(world.name().to_string()), ..options.build.clone() };
    let built = artifact::build_bytes(file, bytes::Bytes::from(bytes), &build)?;
    Ok(Checked::Pushed(Box::new(publish(built, tags, reference, options).await?)))
}

/// Copies a built artifact to `reference`, pointing `tags` at it (at its index,
/// with [`PushOptions::index`]).
pub(crate) async fn publish(
    built: Artifact,
    tags: Vec<String>,
    reference: &Reference,
    options: &PushOptions,
) -> Result<PushReport> {
    let dst = open_destination(reference, &options.transport).await?;
    publish_to(dst.as_ref(), built, tags, reference, options, Known::default()).await
}

/// What a push learnt of the destination before the walk (a streamed push).
#[derive(Default)]
struct Known {
    /// Blobs already there (a streamed layer): the walk neither checks nor sends them.
    sent: Vec<Digest>,
    /// What the first tag pointed at when looked up (`Some(None)`: nothing).
    first_tag: Option<Option<Digest>>,
}

/// [`publish`] to the store `dst` opened for `reference`, knowing `known`.
async fn publish_to(
    dst: &dyn Store,
    built: Artifact,
    tags: Vec<String>,
    reference: &Reference,
    options: &PushOptions,
    known: Known,
) -> Result<PushReport> {
    let indexed = options.index.then(|| built.with_index());
    let root = indexed.as_ref().map_or(&built.root, |i| &i.root);
    // One tag found at the root: current; found elsewhere: not; more tags: the walk looks.
    let tags_current = known.first_tag.and_then(|found| match found.as_ref() == Some(&root.digest) {
        true if tags.len() > 1 => None,
        same => Some(same),
    });
    let copy_options = CopyOptions {
        tags: tags.clone(),
        progress: options.progress.clone(),
        sent: known.sent,
        tags_current,
        ..CopyOptions::default()
    };
    let layer = &built.manifest.layers[0];
    // The layer is cut into chunks while it uploads (the cutting is a task of its own).
    let cutting = async {
        if options.chunk_index && layer.size >= CHUNKED_ABOVE {
            prepare(dst, &built.store, &built.root, layer).await
        } else {
            Ok(None)
        }
    };
    let (transfer, cut) = futures::join!(copy(&built.store, root, dst, &copy_options), cutting);
    let transfer = transfer?;
    // The artifact is pushed and tagged by now: an index that cannot be made
    // or attached (a registry that refuses its media type, say) costs later
    // pulls their savings, not this push.
    let mut warnings = built.info.warnings;
    let attached = match cut {
        Ok(Some(index)) => attach(dst, &built.root, &index).await.map(Some),
        other => other.map(|_| None),
    };
    let chunk_index = attached.unwrap_or_else(|e| {
        warnings.push(format!("no chunk index was attached ({e}): pulls of later versions will be whole"));
        None
    });
    let index = indexed.map(|i| PushedIndex {
        digest: i.root.digest,
        media_type: i.root.media_type,
        size: i.root.size,
        platform: i.platform,
    });
    let tagged = index.as_ref().map_or(&built.root.digest, |i| &i.digest);
    Ok(PushReport {
        reference: reference.pinned(tagged),
        digest: built.root.digest.clone(),
        media_type: built.root.media_type.clone(),
        size: built.root.size,
        tags,
        config: built.config,
        annotations: built.manifest.annotations,
        index,
        transfer,
        chunk_index,
        warnings,
    })
}
