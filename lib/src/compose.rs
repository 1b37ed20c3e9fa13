//! Delivering a composition: the composed component written to a file, pushed as
//! a Wasm OCI artifact recording its parts, or both.

use std::path::Path;

use wharf_oci::reference::Reference;
use wharf_wasm::compose::{PARTS_ANNOTATION, PartRecord};

use crate::error::{Error, Result};
use crate::push::{PushOptions, PushReport};

/// Pushes a composed component to `reference` as a Wasm OCI artifact, with
/// [`PARTS_ANNOTATION`] recording `parts`. The layer is titled `file_name`.
pub async fn push_composed(
    bytes: &[u8],
    file_name: &str,
    parts: &[PartRecord],
    reference: &Reference,
    options: &PushOptions,
) -> Result<PushReport> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary directory in", "/tmp", e))?;
    let name = Path::new(file_name).file_name().map_or_else(|| "composed.wasm".into(), |n| n.to_os_string());
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).map_err(|e| Error::io("cannot write", &path, e))?;
    let mut options = PushOptions {
        build: options.build.clone(),
        extra_tags: options.extra_tags.clone(),
        index: options.index,
        transport: options.transport.clone(),
        progress: options.progress.clone(),
    };
    let record = serde_json::to_string(parts).map_err(|e| Error::usage(format!("cannot record the parts: {e}")))?;
    options.build.annotations.insert(PARTS_ANNOTATION.to_string(), record);
    crate::push::push(&path, reference, &options).await
}
