//! `copy`: an artifact from any store to any store, digests preserved, with its
//! cosign signatures when asked.

use std::sync::Arc;

use serde::Serialize;
use wharf_oci::chunks::ChunkCache;
use wharf_oci::copy::{ChunkedLayers, CopyOptions, CopyReport, Progress};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::Descriptor;
use wharf_oci::open::{destination_tags, open_destination, open_source};
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;

use crate::error::Result;

/// What a copy did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyResult {
    /// Source `location@digest`.
    pub source: String,
    /// Destination `location@digest`.
    pub destination: String,
    /// Root digest (the same on both sides).
    pub digest: Digest,
    /// Tags written.
    pub tags: Vec<String>,
    /// Transfer summary.
    pub transfer: CopyReport,
}

/// Options for [`copy()`].
pub struct CopyRequest {
    /// How the source is reached (its own credentials).
    pub src_transport: TransportOptions,
    /// How the destination is reached (its own credentials).
    pub dst_transport: TransportOptions,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
    /// Also copy the cosign signatures (bundle referrers and the legacy
    /// `.sig` tag, as `wharf_sign::cosign::copy_filter` picks them).
    pub with_signatures: bool,
    /// From a registry into an `oci:` layout, Wasm layers come through this
    /// cache, by chunks where the registry has a chunk index, as `pull`
    /// fetches them.
    pub chunk_cache: Option<ChunkCache>,
}

/// Copies the artifact at `src` to `dst`, any store to any store, digests
/// preserved, as `request` says.
pub async fn copy(src: &Reference, dst: &Reference, request: CopyRequest) -> Result<CopyResult> {
    let CopyRequest { src_transport, dst_transport, progress, with_signatures, chunk_cache } = request;
    let tags = destination_tags(dst, src.tag(), &[])?;
    let source = open_source(src, &src_transport).await?;
    let root = source.resolve(&src.selector()).await?;
    let destination = open_destination(dst, &dst_transport).await?;
    let referrers = if with_signatures { Some(signature_filter()?) } else { None };
    let chunked = chunk_cache.map(|cache| ChunkedLayers { cache: Arc::new(cache), layers: is_wasm_layer });
    let options = CopyOptions { tags: tags.clone(), progress, referrers, chunked, ..CopyOptions::default() };
    let transfer = wharf_oci::copy::copy(source.as_ref(), &root, destination.as_ref(), &options).await?;
    Ok(CopyResult {
        source: src.pinned(&root.digest),
        destination: dst.pinned(&root.digest),
        digest: root.digest,
        tags,
        transfer,
    })
}

/// The layers a copy pulls through the chunk cache: Wasm ones.
fn is_wasm_layer(desc: &Descriptor) -> bool {
    desc.media_type == wharf_wasm::media::WASM_LAYER
}

/// The referrers `copy --with-signatures` carries: cosign's.
#[cfg(feature = "sign")]
fn signature_filter() -> Result<wharf_oci::copy::ReferrerFilter> {
    Ok(wharf_sign::cosign::copy_filter())
}

/// Without the `sign` feature, wharf cannot tell signatures from other referrers.
#[cfg(not(feature = "sign"))]
fn signature_filter() -> Result<wharf_oci::copy::ReferrerFilter> {
    Err(crate::Error::usage("copying signatures needs wharf's `sign` feature"))
}
