//! Inspecting a WebAssembly binary: validation, kind, WIT world and metadata.
//! Pure functions over bytes or a reader; nothing here touches the network,
//! and [`stream`] reads a file once, in bounded chunks.

use serde::{Deserialize, Serialize};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

use crate::error::{Error, Result};

mod bodies;
pub mod stream;

pub use stream::{Scanned, inspect_reader, inspect_reader_inline};

/// Whether a binary is a component or a core module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WasmKind {
    /// A component (component model), `os: wasip2`.
    Component,
    /// A core module, `os: wasip1`.
    Module,
}

impl WasmKind {
    /// The OCI `os` value for this kind.
    pub fn os(self) -> &'static str {
        match self {
            WasmKind::Component => "wasip2",
            WasmKind::Module => "wasip1",
        }
    }
}

/// What the first 8 bytes of a WebAssembly binary say it is (wasmparser's
/// header checks: a core module's version 1, or the component encoding).
pub fn kind_of_header(bytes: &[u8]) -> Option<WasmKind> {
    if Parser::is_component(bytes) {
        Some(WasmKind::Component)
    } else if Parser::is_core_wasm(bytes) {
        Some(WasmKind::Module)
    } else {
        None
    }
}

/// Metadata embedded by wasm-metadata (and so by wkg, cargo-component, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SPDX license expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<String>,
    /// Source repository URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Homepage URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Authors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authors: Option<String>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Source revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// What wharf knows about a binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmInfo {
    /// Component or module.
    pub kind: WasmKind,
    /// World imports as `ns:pkg/iface@ver` or plain names, sorted (components only).
    pub imports: Vec<String>,
    /// World exports, sorted (components only).
    pub exports: Vec<String>,
    /// Embedded metadata.
    pub metadata: Metadata,
    /// Things that could not be decoded but did not stop the inspection.
    pub warnings: Vec<String>,
}

/// Above this size a component's world is read from its top-level import and
/// export names (the names wit-component gives the world's items) instead of a
/// full WIT decode, which holds a second copy of the binary. WIT packages, the
/// one kind of component where the two differ, are far smaller than this.
const FULL_DECODE_LIMIT: usize = 4 << 20;

/// Validates `bytes` and describes them. `name` is used in error messages.
///
/// Validation uses wasmparser's default features (the stable proposals plus
/// the component model), not `WasmFeatures::all()`: a registry tool should
/// refuse what runtimes would refuse.
pub fn inspect(name: &str, bytes: &[u8]) -> Result<WasmInfo> {
    validate(name, bytes)?;
    let kind = if Parser::is_component(bytes) { WasmKind::Component } else { WasmKind::Module };
    Ok(describe(kind, bytes))
}

/// The world and metadata of validated `bytes` of the given kind.
fn describe(kind: WasmKind, bytes: &[u8]) -> WasmInfo {
    let mut warnings = Vec::new();
    let (imports, exports) = match kind {
        WasmKind::Module => (Vec::new(), Vec::new()),
        WasmKind::Component if bytes.len() > FULL_DECODE_LIMIT => top_level_names(bytes),
        WasmKind::Component => world_names(bytes).unwrap_or_else(|reason| {
            warnings.push(format!(
                "could not decode the WIT world ({reason}); using the component's top-level import and export names"
            ));
            top_level_names(bytes)
        }),
    };
    let metadata = metadata(bytes).unwrap_or_else(|reason| {
        warnings.push(format!("could not read the embedded metadata: {reason}"));
        Metadata::default()
    });
    WasmInfo { kind, imports, exports, metadata, warnings }
}

/// Validates `bytes` with the default features (what runtimes accept), naming `name` in the error.
pub(crate) fn validate(name: &str, bytes: &[u8]) -> Result<()> {
    let invalid = |reason: String, offset: usize| Error::InvalidWasm { path: name.to_string(), reason, offset };
    if let Some(reason) = not_wasm(bytes) {
        return Err(invalid(reason, 0));
    }
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| invalid(e.message().to_string(), usize::try_from(e.offset()).unwrap_or(usize::MAX)))
}

/// Why a file starting with `start` (its first bytes, at least 4 when it has
/// them) is not a WebAssembly binary at all, if it is not.
fn not_wasm(start: &[u8]) -> Option<String> {
    if start.is_empty() {
        return Some("the file is empty".into());
    }
    if !start.starts_with(b"\0asm") {
        let hint = if start.starts_with(b"(") { "; it looks like WAT text, not a binary" } else { "" };
        return Some(format!("it does not start with the \\0asm magic number{hint}"));
    }
    None
}

/// Import and export names of the component's world, as `name_world_key` writes them.
fn world_names(bytes: &[u8]) -> std::result::Result<(Vec<String>, Vec<String>), String> {
    // wit-parser panics on some valid but inconsistent packages: fall back to the top-level names.
    let decoded = std::panic::catch_unwind(|| wit_component::decode(bytes))
        .map_err(|_| "the WIT decoder gave up on it".to_string())?
        .map_err(|e| format!("{e:#}"))?;
    match decoded {
        wit_component::DecodedWasm::Component(resolve, world) => {
            let world = &resolve.worlds[world];
            let mut imports: Vec<String> = world.imports.keys().map(|k| resolve.name_world_key(k)).collect();
            let mut exports: Vec<String> = world.exports.keys().map(|k| resolve.name_world_key(k)).collect();
            imports.sort();
            exports.sort();
            Ok((imports, exports))
        }
        wit_component::DecodedWasm::WitPackage(resolve, package) => {
            // A WIT package published as a component: list what it defines.
            let pkg = &resolve.packages[package];
            let mut exports: Vec<String> = pkg
                .worlds
                .values()
                .map(|w| resolve.id_of_name(package, &resolve.worlds[*w].name))
                .chain(pkg.interfaces.values().filter_map(|i| resolve.id_of(*i)))
                .collect();
            exports.sort();
            Ok((Vec::new(), exports))
        }
    }
}

/// The component's own top-level import and export names (no WIT decoding).
fn top_level_names(bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::ComponentImportSection(s)) => {
                imports.extend(s.into_iter().flatten().map(|i| i.name.name.to_string()))
            }
            Ok(Payload::ComponentExportSection(s)) => {
                exports.extend(s.into_iter().flatten().map(|e| e.name.name.to_string()))
            }
            // Nested modules and components are skipped: only the outer names matter.
            Ok(Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) => {}
            Ok(_) => {}
            Err(_) => break,
        }
    }
    imports.sort();
    exports.sort();
    (imports, exports)
}

fn metadata(bytes: &[u8]) -> std::result::Result<Metadata, String> {
    let payload = wasm_metadata::Payload::from_binary(bytes).map_err(|e| format!("{e:#}"))?;
    Ok(Metadata::from(payload.metadata()))
}

impl From<&wasm_metadata::Metadata> for Metadata {
    fn from(m: &wasm_metadata::Metadata) -> Self {
        Metadata {
            name: m.name.clone(),
            description: m.description.as_ref().map(ToString::to_string),
            licenses: m.licenses.as_ref().map(ToString::to_string),
            source: m.source.as_ref().map(ToString::to_string),
            homepage: m.homepage.as_ref().map(ToString::to_string),
            authors: m.authors.as_ref().map(ToString::to_string),
            version: m.version.as_ref().map(ToString::to_string),
            revision: m.revision.as_ref().map(ToString::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_that_makes_wit_parser_panic_falls_back_to_top_level_names() -> Result<()> {
        // Found by the wasm_inspect fuzz target: valid Wasm on which wit-parser 0.258 panics.
        let bytes = include_bytes!("../../../fuzz/seeds/wasm_inspect/crash-wit-parser-panic.wasm");
        let info = inspect("crash.wasm", bytes)?;
        assert_eq!(info.kind, WasmKind::Component);
        assert!(info.warnings.iter().any(|w| w.contains("gave up")), "{:?}", info.warnings);
        Ok(())
    }

    #[test]
    fn headers_tell_components_from_core_modules() {
        assert_eq!(kind_of_header(b"\0asm\x01\0\0\0rest"), Some(WasmKind::Module));
        assert_eq!(kind_of_header(b"\0asm\x0d\0\x01\0"), Some(WasmKind::Component));
        assert_eq!(kind_of_header(b"\0asm\x0c\0\x01\0"), None);
        assert_eq!(kind_of_header(b"\0asm"), None);
    }

    #[test]
    fn core_modules_are_wasip1_without_a_world() -> Result<()> {
        let module = wat::parse_str(
            "(module (func (export \"add\") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))",
        )
        .map_err(|e| Error::Usage(e.to_string()))?;
        let info = inspect("m.wasm", &module)?;
        assert_eq!((info.kind, info.kind.os()), (WasmKind::Module, "wasip1"));
        assert!(info.imports.is_empty() && info.exports.is_empty());
        Ok(())
    }

    #[test]
    fn invalid_binaries_are_refused_with_reason_and_offset() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "empty"),
            (b"(module)", "WAT text"),
            (b"\0asm\x01\0\0\0\x01\x05", "unexpected end"),
            (b"PK\x03\x04 random", "magic"),
        ];
        for (bytes, expect) in cases {
            match inspect("x.wasm", bytes) {
                Err(Error::InvalidWasm { reason, .. }) => assert!(reason.contains(expect), "{reason}"),
                other => panic!("{expect}: {other:?}"),
            }
        }
    }
}
