//! `index`: a chunk index attached beside an artifact already in a registry or
//! layout (pushed by another tool, or by wharf before it attached them), so
//! that pulls of its later versions fetch only the chunks that changed. The
//! artifact is not touched: the index is a referrer of its manifest.

use serde::Serialize;
use wharf_oci::chunks::referrer::{Attached, ensure};
use wharf_oci::digest::Digest;
use wharf_oci::open::open_existing;
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;
use wharf_wasm::artifact::read::resolve_artifact;

use crate::error::Result;

/// What [`index`] did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexReport {
    /// `location@digest` of the manifest indexed.
    pub reference: String,
    /// The manifest's digest (the index's subject).
    pub digest: Digest,
    /// The layer indexed.
    pub layer_digest: Digest,
    /// Its size.
    pub layer_size: u64,
    /// The index attached; none when the store already had one for this layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached: Option<Attached>,
}

/// Reads the Wasm layer of `reference` (checked against its digest as it
/// streams), cuts it into chunks and attaches the index as a referrer of the
/// manifest, unless one is there already. Layers of any size are indexed.
pub async fn index(reference: &Reference, transport: &TransportOptions) -> Result<IndexReport> {
    let store = open_existing(reference, transport).await?;
    let resolved = resolve_artifact(store.as_ref(), &reference.selector()).await?;
    let subject = &resolved.manifest_descriptor;
    let attached = ensure(store.as_ref(), store.as_ref(), subject, &resolved.layer).await?;
    Ok(IndexReport {
        reference: reference.pinned(&subject.digest),
        digest: subject.digest.clone(),
        layer_digest: resolved.layer.digest.clone(),
        layer_size: resolved.layer.size,
        attached,
    })
}
