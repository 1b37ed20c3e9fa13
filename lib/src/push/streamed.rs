//! A fresh push to a registry at the speed of its bytes: the file is read
//! once, on a blocking thread, and every block read goes both to the scan
//! (validation, inspection, SHA-256: `artifact::build_tapped`) and, through a
//! bounded channel, to an upload already under way (`Store::start_streamed`:
//! one `POST`, one streamed `PATCH`). A distribution upload needs its digest
//! only in the closing `PUT ?digest=`, so validating and uploading overlap,
//! where the walk alone would validate and hash first and send after.
//!
//! - The file proves valid: the upload is closed under the digest the scan
//!   computed (the registry checks it), and the walk pushes config, manifest
//!   and tags, told that the layer is there already.
//! - It does not: the upload is cancelled (`DELETE`), nothing is tagged, and
//!   the error is the scan's, the one a push without streaming gives.
//! - The upload fails (a refused `POST` or `PATCH`, a cut): it is cancelled
//!   as far as the registry still answers, and the push goes on as it does
//!   without streaming, reading the file again: the walk, with its retries.
//!
//! A push with a chunk index streams too: the index is cut from the staged
//! file once the layer is up (182 ms fell to 153 ms for an 18 MiB
//! componentize-py component), beside the walk that sends config and manifest.
//!
//! Not streamed: a small file (its scan costs less than the streamed upload
//! adds), a file the scan cache knows (no read at all), layouts (content goes
//! under its digest), and a re-push to a tag whose artifact has a layer of the
//! file's size: a rebuilt, identical file is one manifest lookup today, and an
//! upload of its bytes would cost more than the lookup.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use wharf_oci::digest::Digest;
use wharf_oci::manifest::{Descriptor, Manifest};
use wharf_oci::open::open_destination;
use wharf_oci::reference::{Reference, Selector};
use wharf_oci::store::{ByteStream, Store, StreamedUpload};
use wharf_oci::transport::CHUNKED_ABOVE;
use wharf_wasm::artifact::{self, Artifact, BuildOptions};
use wharf_wasm::inspect::Scanned;

use super::{Known, PushOptions, PushReport, publish_to};
use crate::error::{Error, Result};

/// Blocks (of about 1 MiB, the scan's reads) waiting between the scan and
/// the upload: what a slow registry makes the read wait for, and the most
/// memory the stream holds.
const BLOCKS_IN_FLIGHT: usize = 4;

/// Files smaller than this are validated, then sent: their scan takes a few
/// milliseconds, less than the registry spends on a `PATCH` and its close
/// (50 pushes of a 1 KiB component streamed took 1.37 s against 0.71 s).
pub(super) const STREAMED_FROM: u64 = 4 << 20;

/// How a push of a file goes.
pub(super) enum Route {
    /// Validated, then sent by the walk.
    Walk,
    /// The scan cache knows the file: its scan, read from the cache once.
    Cached(Box<Scanned>),
    /// Uploaded while it is validated ([`push`]); the file's size when routed.
    Streamed(u64),
}

/// The route of a push of `file` to `reference`: streamed to a registry, for
/// a file of [`STREAMED_FROM`] bytes or more that the scan cache does not know.
pub(super) fn route(file: &Path, reference: &Reference, options: &PushOptions) -> Route {
    // A chunk size asked for (a proxy that limits bodies, say) or a blob that
    // big goes in the walk's chunks.
    if !matches!(reference, Reference::Registry(_)) || options.transport.upload_chunk_size.is_some() {
        return Route::Walk;
    }
    match (&options.build.scan_cache, std::fs::metadata(file)) {
        (_, Err(_)) => Route::Walk, // the ordinary path says what is wrong with it
        (_, Ok(meta)) if meta.len() < STREAMED_FROM || meta.len() > CHUNKED_ABOVE => Route::Walk,
        (Some(cache), Ok(meta)) => match cache.lookup(&meta) {
            Some(scanned) => Route::Cached(Box::new(scanned)),
            None => Route::Streamed(meta.len()),
        },
        (None, Ok(meta)) => Route::Streamed(meta.len()),
    }
}

/// Pushes `file` (of `size` bytes when routed) to the registry `reference`,
/// uploading while the file is scanned, and points `tags` at it.
pub(super) async fn push(
    file: &Path,
    size: u64,
    tags: Vec<String>,
    reference: &Reference,
    options: &PushOptions,
) -> Result<PushReport> {
    let dst = open_destination(reference, &options.transport).await?;
    let (blocks, scan) = start_scan(file.to_path_buf(), options.build.clone());
    let at_tag = match tags.first() {
        Some(tag) => look_at_tag(dst.as_ref(), tag, size).await,
        None => None,
    };
    let first_tag = at_tag.as_ref().map(|found| found.root.clone());
    let upload = match at_tag {
        Some(AtTag { same_size: true, .. }) => None,
        _ => start_upload(dst.as_ref()).await,
    };
    let Some(mut upload) = upload else {
        drop(blocks); // the scan reads on without sending
        let built = finish_scan(scan).await?;
        let known = Known { sent: Vec::new(), first_tag };
        return publish_to(dst.as_ref(), built, tags, reference, options, known).await;
    };
    let (sent, scanned) = futures::join!(upload.send(stream_of(blocks)), finish_scan(scan));
    let built = match scanned {
        Ok(built) => built,
        Err(invalid) => {
            if let Err(e) = upload.cancel().await {
                tracing::warn!(error = %e, "the upload of an invalid file could not be cancelled");
            }
            return Err(invalid);
        }
    };
    let layer = built.manifest.layers[0].clone();
    let streamed = match sent {
        Ok(()) => upload.finish(&layer).await,
        Err(e) => {
            let _ = upload.cancel().await;
            Err(e)
        }
    };
    let sent = match streamed {
        Ok(()) => vec![layer.digest],
        Err(e) => {
            tracing::warn!(error = %e, "the streamed upload failed; sending the file again");
            Vec::new()
        }
    };
    publish_to(dst.as_ref(), built, tags, reference, options, Known { sent, first_tag }).await
}

/// Opens the streamed upload; `None` when the store has none, or the registry
/// refused to open one (the walk then pushes, and reports what it meets).
async fn start_upload(dst: &dyn Store) -> Option<Box<dyn StreamedUpload>> {
    match dst.start_streamed().await {
        Ok(upload) => upload,
        Err(e) => {
            // Said once, by the walk, if its own upload meets the same answer.
            tracing::debug!(error = %e, "no streamed upload; the file is sent once validated");
            None
        }
    }
}

/// What a tag of the destination pointed at before the push.
struct AtTag {
    /// Its manifest or index (`None`: no such tag).
    root: Option<Digest>,
    /// True when that is an index, or a manifest with a layer of the file's
    /// size: most likely a re-push of the same file, which the walk settles
    /// with no upload once the digest is known.
    same_size: bool,
}

/// What `tag` points at; `None` when the registry could not say (the walk asks again).
async fn look_at_tag(dst: &dyn Store, tag: &str, size: u64) -> Option<AtTag> {
    let found = match dst.resolve(&Selector::Tag(tag.to_string())).await {
        Ok(found) => found,
        Err(wharf_oci::Error::NotFound { .. }) => return Some(AtTag { root: None, same_size: false }),
        Err(_) => return None,
    };
    let same_size = wharf_oci::media::is_index(&found.media_type)
        || dst.fetch_bytes(&found).await.is_ok_and(|bytes| {
            Manifest::parse(&bytes).is_ok_and(|m| m.layers.iter().any(|l: &Descriptor| l.size == size))
        });
    Some(AtTag { root: Some(found.digest), same_size })
}

/// What the scan thread sends: blocks of the file in order, then, if the file
/// proved invalid, an error that aborts the upload.
type Block = std::io::Result<Bytes>;

/// Starts reading and scanning `file` on a blocking thread; every block read
/// goes to the returned channel while its receiver is there.
fn start_scan(
    file: PathBuf,
    options: BuildOptions,
) -> (tokio::sync::mpsc::Receiver<Block>, tokio::task::JoinHandle<Result<Artifact>>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Block>(BLOCKS_IN_FLIGHT);
    let scan = tokio::task::spawn_blocking(move || {
        let mut open = true;
        let tap = |block: &[u8]| {
            // A receiver gone (the upload failed or was not started) leaves the scan alone.
            open = open && tx.blocking_send(Ok(Bytes::copy_from_slice(block))).is_ok();
        };
        let built = artifact::build_tapped(&file, &options, tap);
        if built.is_err() {
            let _ = tx.blocking_send(Err(std::io::Error::other("the file is not valid WebAssembly")));
        }
        built.map_err(Error::from)
    });
    (rx, scan)
}

/// The scan's artifact, or its error.
async fn finish_scan(scan: tokio::task::JoinHandle<Result<Artifact>>) -> Result<Artifact> {
    match scan.await {
        Ok(built) => built,
        Err(e) => Err(Error::from(wharf_oci::Error::Transfer {
            what: "the file being validated".into(),
            source: std::io::Error::other(e.to_string()),
        })),
    }
}

/// The channel's blocks as the upload's body.
fn stream_of(blocks: tokio::sync::mpsc::Receiver<Block>) -> ByteStream {
    Box::pin(futures::stream::unfold(blocks, |mut blocks| async move { blocks.recv().await.map(|b| (b, blocks)) }))
}
