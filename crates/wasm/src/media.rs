//! The media types of Wasm artifacts: the CNCF TAG Runtime shape wharf writes, the
//! legacy shapes still in registries, and the runtime shapes `convert` writes
//! (runwasi's layer, Spin's layers). OCI's own types are `wharf_oci::media`'s.

/// CNCF TAG Runtime Wasm config.
pub const WASM_CONFIG_V0: &str = "application/vnd.wasm.config.v0+json";
/// CNCF TAG Runtime Wasm layer.
pub const WASM_LAYER: &str = "application/wasm";
/// runwasi's Wasm layer media type (`oci_tar_builder::WASM_LAYER_MEDIA_TYPE`), also a legacy shape's.
pub const RUNWASI_LAYER: &str = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
/// The media type of Spin's Wasm layers (also wasm-to-oci's).
pub const SPIN_WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Spin's locked-app layer.
pub const SPIN_APPLICATION_LAYER: &str = "application/vnd.fermyon.spin.application.v1+config";

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
const LEGACY_LAYERS: &[&str] =
    &[SPIN_WASM_LAYER, "application/vnd.module.wasm.content.layer.v1+wasm", RUNWASI_LAYER, WASM_LAYER];

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
