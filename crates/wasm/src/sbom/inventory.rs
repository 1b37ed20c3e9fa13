//! What a component holds, read from its own bytes: the tree of the component,
//! its nested components and core modules (each with its digest, size, name,
//! `producers` section and wasm-metadata fields), the crates cargo-auditable
//! listed in a module's `.dep-v0` section, and the WIT world it imports and
//! exports. Both SBOM formats are written from this one reading.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use wharf_oci::digest::Digest;

use crate::error::{Error, Result};
use crate::inspect::{self, Metadata, WasmKind};

/// The path of the root part.
pub const ROOT_PATH: &str = "component";

/// Deepest nesting of components read: the tree is walked recursively, and real
/// components nest two or three levels.
const MAX_DEPTH: usize = 64;

/// A component (or core module) and everything inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The binary itself, with its inner components and modules.
    pub root: Part,
    /// The WIT world's imports (`ns:pkg/iface@ver`, or plain names), sorted.
    pub imports: Vec<String>,
    /// The WIT world's exports, sorted.
    pub exports: Vec<String>,
    /// What could not be read but did not stop the reading.
    pub warnings: Vec<String>,
}

/// One component or core module of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Component or module.
    pub kind: WasmKind,
    /// Where it is: `component` for the root, then `/module-N` or `/component-N` per level
    /// (N counts the parts of that kind in their parent, from 0). Unique in the tree.
    pub path: String,
    /// SHA-256 of its bytes (for an inner one, the bytes of its section's contents: a binary of its own).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its offset in the root binary.
    pub offset: u64,
    /// Its wasm-metadata fields; `name` from the name section (`component-name` for a component).
    pub metadata: Metadata,
    /// Its `producers` section: (field, tool or language, version), in the section's order.
    pub producers: Vec<Producer>,
    /// The crates cargo-auditable embedded (`.dep-v0`), if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crates: Vec<Crate>,
    /// Its inner components and modules, in the order they appear.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Part>,
}

/// One entry of a `producers` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Producer {
    /// `language`, `processed-by` or `sdk`.
    pub field: String,
    /// The language or tool.
    pub name: String,
    /// Its version (may be empty).
    pub version: String,
}

/// One crate of a `.dep-v0` dependency list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Crate {
    /// The crate's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it came from: `crates.io`, `git`, `local`, `registry`, or another word.
    pub source: String,
    /// True for a build-time dependency only (build scripts, proc macros).
    pub build_only: bool,
    /// True for the crate that was built (the package of the module).
    pub root: bool,
    /// Indexes (into the same list) of the crates it depends on.
    pub dependencies: Vec<usize>,
}

/// Reads `bytes` (a file or layer named `name` in errors): validated as runtimes
/// validate it, then its tree, metadata and world.
pub fn read(name: &str, bytes: &[u8]) -> Result<Inventory> {
    let info = inspect::inspect(name, bytes)?;
    let payload = catch_unwind(AssertUnwindSafe(|| wasm_metadata::Payload::from_binary(bytes)))
        .map_err(|_| unreadable(name, "wasm-metadata gave up on it".into()))?
        .map_err(|e| unreadable(name, format!("{e:#}")))?;
    let root = part(bytes, &payload, ROOT_PATH.into(), 0).map_err(|reason| unreadable(name, reason))?;
    Ok(Inventory { root, imports: info.imports, exports: info.exports, warnings: info.warnings })
}

fn unreadable(name: &str, reason: String) -> Error {
    Error::InvalidWasm { path: name.to_string(), reason: format!("its metadata cannot be read: {reason}"), offset: 0 }
}

/// One node of wasm-metadata's tree, with the bytes of its range hashed.
fn part(
    bytes: &[u8],
    payload: &wasm_metadata::Payload,
    path: String,
    depth: usize,
) -> std::result::Result<Part, String> {
    if depth > MAX_DEPTH {
        return Err(format!("components nest more than {MAX_DEPTH} levels deep"));
    }
    let (kind, metadata, children) = match payload {
        wasm_metadata::Payload::Component { metadata, children } => {
            (WasmKind::Component, metadata, children.as_slice())
        }
        wasm_metadata::Payload::Module(metadata) => (WasmKind::Module, metadata, &[][..]),
    };
    let range = usize::try_from(metadata.range.start).ok().zip(usize::try_from(metadata.range.end).ok());
    let content = range
        .and_then(|(start, end)| bytes.get(start..end))
        .ok_or_else(|| format!("{path} lies outside the binary ({:?})", metadata.range))?;
    let (mut modules, mut components) = (0, 0);
    let mut inner = Vec::with_capacity(children.len());
    for child in children {
        let child_path = match child {
            wasm_metadata::Payload::Module(_) => {
                modules += 1;
                format!("{path}/module-{}", modules - 1)
            }
            wasm_metadata::Payload::Component { .. } => {
                components += 1;
                format!("{path}/component-{}", components - 1)
            }
        };
        inner.push(part(bytes, child, child_path, depth + 1)?);
    }
    Ok(Part {
        kind,
        path,
        digest: Digest::of(content),
        size: content.len() as u64,
        offset: metadata.range.start,
        metadata: Metadata::from(metadata),
        producers: producers(metadata),
        crates: metadata.dependencies.as_ref().map(|d| crates(d.version_info())).unwrap_or_default(),
        children: inner,
    })
}

fn producers(m: &wasm_metadata::Metadata) -> Vec<Producer> {
    let Some(producers) = &m.producers else { return Vec::new() };
    let mut out = Vec::new();
    for (field, values) in producers.iter() {
        for (name, version) in values.iter() {
            out.push(Producer { field: field.clone(), name: name.clone(), version: version.clone() });
        }
    }
    out
}

/// The crates of a `.dep-v0` list as auditable-serde read it (wasm-metadata
/// decompresses the section, at most 2 MiB; auditable-serde refuses two roots and
/// cycles). Dependency indexes are not checked there: one out of range is dropped.
fn crates(info: &auditable_serde::VersionInfo) -> Vec<Crate> {
    let count = info.packages.len();
    info.packages
        .iter()
        .map(|p| Crate {
            name: p.name.clone(),
            version: p.version.to_string(),
            source: match &p.source {
                auditable_serde::Source::CratesIo => "crates.io".into(),
                auditable_serde::Source::Git => "git".into(),
                auditable_serde::Source::Local => "local".into(),
                auditable_serde::Source::Registry => "registry".into(),
                auditable_serde::Source::Other(other) => other.clone(),
                // `Source` is non-exhaustive: a later auditable-serde may name more.
                other => format!("{other:?}").to_lowercase(),
            },
            build_only: matches!(p.kind, auditable_serde::DependencyKind::Build),
            root: p.root,
            dependencies: p.dependencies.iter().copied().filter(|d| *d < count).collect(),
        })
        .collect()
}

impl Inventory {
    /// Every part of the tree, the root first, depth first in binary order.
    pub fn parts(&self) -> Vec<&Part> {
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(part) = stack.pop() {
            out.push(part);
            stack.extend(part.children.iter().rev());
        }
        out
    }
}
