//! Media types wharf writes and reads.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest (read only).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (read only).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// CNCF TAG Runtime Wasm config.
pub const WASM_CONFIG_V0: &str = "application/vnd.wasm.config.v0+json";
/// CNCF TAG Runtime Wasm layer.
pub const WASM_LAYER: &str = "application/wasm";
/// The empty JSON descriptor's media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Every manifest media type a registry may answer with; sent as `Accept`.
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// True if the media type names a manifest or an index (a node with children).
pub fn is_manifest(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

/// True if the media type names an index (children are manifests).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// A Wasm artifact shape wharf can read, named after where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmShape {
    /// Short name printed to users.
    pub name: &'static str,
    /// Config media type.
    pub config: &'static str,
    /// Layer media types accepted with that config.
    pub layers: &'static [&'static str],
}

/// The layer media types of the legacy shapes that are still in registries.
const LEGACY_LAYERS: &[&str] = &[
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
    WASM_LAYER,
];

/// Known shapes: the CNCF one first, then the legacy ones.
pub const WASM_SHAPES: &[WasmShape] = &[
    WasmShape { name: "cncf-wasm-v0", config: WASM_CONFIG_V0, layers: &[WASM_LAYER] },
    WasmShape { name: "wasm-to-oci-v1 (legacy)", config: "application/vnd.wasm.config.v1+json", layers: LEGACY_LAYERS },
    WasmShape {
        name: "solo-io-module-v1 (legacy)",
        config: "application/vnd.module.wasm.config.v1+json",
        layers: LEGACY_LAYERS,
    },
];

/// Wasm layer media types recognised inside images with a non-Wasm config
/// (for example runwasi's OCI-layer form, whose config is an image config).
pub const WASM_LAYER_TYPES: &[&str] = LEGACY_LAYERS;
