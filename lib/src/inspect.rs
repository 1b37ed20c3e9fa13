//! `inspect`: what an artifact holds, from its manifest and config only, or
//! what a push would make of a local file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use wharf_oci::digest::Digest;
use wharf_oci::manifest::Descriptor;
use wharf_oci::media;
use wharf_oci::open::open_source;
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;
use wharf_wasm::artifact::{self, BuildOptions, WasmConfig, resolve_artifact};
use wharf_wasm::inspect::{self as binary, WasmInfo};
use wharf_wasm::runtimes::convert;

use crate::error::Result;

/// What `inspect` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// What was inspected.
    pub source: String,
    /// The manifest digest (for a file: the digest a push would produce now).
    pub digest: Digest,
    /// The root media type (manifest or index).
    pub media_type: String,
    /// Manifest size.
    pub size: u64,
    /// The image index the reference named, when it named one (the manifest
    /// shown is its Wasm entry, see [`artifact::pick_from_index`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<Descriptor>,
    /// The shape found.
    pub shape: String,
    /// The runtime shape (`cncf-wasm-v0`, `runwasi-oci`), when it is one
    /// `wharf convert` writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_shape: Option<String>,
    /// The runtimes that read this shape ([`convert::runtimes_for`]).
    pub runtimes: Vec<String>,
    /// Config media type.
    pub config_media_type: String,
    /// The Wasm layer.
    pub layer: Descriptor,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The config, when it is a Wasm config.
    pub config: Option<WasmConfig>,
    /// For a file: what inspection of the binary found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmInfo>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Inspects a reference from its manifest and config only.
pub async fn inspect_reference(reference: &Reference, transport: &TransportOptions) -> Result<Inspection> {
    let store = open_source(reference, transport).await?;
    let selector = reference.selector();
    let r = match resolve_artifact(store.as_ref(), &selector).await {
        Ok(r) => r,
        // A crun image holds its Wasm inside a tar layer: named, with the tar as its layer.
        Err(wharf_wasm::Error::NotWasmArtifact(reason)) => {
            match convert::resolve_crun_manifest(store.as_ref(), &selector).await? {
                Some(r) => r,
                None => return Err(wharf_wasm::Error::NotWasmArtifact(reason).into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Inspection {
        source: reference.pinned(&r.manifest_descriptor.digest),
        digest: r.manifest_descriptor.digest.clone(),
        media_type: r.root.media_type.clone(),
        size: r.manifest_descriptor.size,
        index: media::is_index(&r.root.media_type).then(|| r.root.clone()),
        runtime_shape: convert::runtime_shape(&r.manifest).map(str::to_string),
        runtimes: convert::runtime_shape(&r.manifest)
            .map(|s| convert::runtimes_for(s).iter().map(|r| r.to_string()).collect())
            .unwrap_or_default(),
        shape: r.shape,
        config_media_type: r.manifest.config.media_type.clone(),
        layer: r.layer,
        annotations: r.manifest.annotations,
        config: r.config,
        wasm: None,
        warnings: r.warnings,
    })
}

/// Inspects a local Wasm file, showing the artifact a push would make of it.
pub fn inspect_file(path: &Path, build: &BuildOptions) -> Result<Inspection> {
    let built = artifact::build(path, build)?;
    let mut info = built.info;
    let warnings = std::mem::take(&mut info.warnings);
    Ok(Inspection {
        source: path.display().to_string(),
        digest: built.root.digest.clone(),
        media_type: built.root.media_type.clone(),
        size: built.root.size,
        index: None,
        runtime_shape: Some("cncf-wasm-v0".into()),
        runtimes: convert::runtimes_for("cncf-wasm-v0").iter().map(|r| r.to_string()).collect(),
        shape: "cncf-wasm-v0".into(),
        config_media_type: built.manifest.config.media_type.clone(),
        layer: built.manifest.layers.first().cloned().unwrap_or_else(|| built.manifest.config.clone()),
        annotations: built.manifest.annotations,
        config: Some(built.config),
        wasm: Some(info),
        warnings,
    })
}

/// Describes a file without building anything: kind, world, metadata.
pub fn describe_file(path: &Path) -> Result<WasmInfo> {
    let bytes = std::fs::read(path).map_err(|e| crate::Error::io("cannot read", path, e))?;
    Ok(binary::inspect(&path.display().to_string(), &bytes)?)
}
