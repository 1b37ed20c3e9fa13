//! The Wasm OCI artifact: building the CNCF TAG Runtime layout
//! (config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//! layer) reproducibly, and recognising it, and the legacy shapes, when reading.

use serde::{Deserialize, Serialize};

pub mod build;
pub mod read;

pub use build::{Artifact, BuildOptions, IndexedArtifact, build, build_bytes, build_scanned, build_tapped};
pub use read::{
    MAX_WASM_IN_MEMORY, Resolved, WasmLayout, config_lists_layer, fetch_wasm, fetch_wasm_within, parse_config,
    pick_from_index, resolve_artifact, wasm_layout, within_limit,
};

/// The config document, field for field as the CNCF spec and the `oci-wasm`
/// crate write it (including explicit `null`s), so wkg, wash and Spin read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 creation time.
    #[serde(default)]
    pub created: Option<String>,
    /// Author, when known.
    #[serde(default)]
    pub author: Option<String>,
    /// Always `wasm`.
    #[serde(default)]
    pub architecture: String,
    /// `wasip2` for components, `wasip1` for core modules.
    #[serde(default)]
    pub os: String,
    /// Digests of the layers, in order.
    #[serde(default)]
    pub layer_digests: Vec<String>,
    /// The component's world; absent for core modules.
    #[serde(default)]
    pub component: Option<ComponentWorld>,
}

/// The `component` field of the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentWorld {
    /// Exports, sorted.
    #[serde(default)]
    pub exports: Vec<String>,
    /// Imports, sorted.
    #[serde(default)]
    pub imports: Vec<String>,
    /// The declared target world (`ns:pkg/world@version`), when known.
    #[serde(default)]
    pub target: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bytes_match_oci_wasm_field_order_and_nulls() {
        let c = WasmConfig {
            created: Some("1970-01-01T00:00:00Z".into()),
            author: None,
            architecture: "wasm".into(),
            os: "wasip1".into(),
            layer_digests: vec!["sha256:aa".into()],
            component: None,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap_or_default(),
            r#"{"created":"1970-01-01T00:00:00Z","author":null,"architecture":"wasm","os":"wasip1","layerDigests":["sha256:aa"],"component":null}"#
        );
    }
}
