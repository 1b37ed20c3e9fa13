//! Composition: plugging components into each other, like `wac plug`, on
//! wac-graph.
//!
//! [`plug`] instantiates a *socket* and its *plugs*; each import of the socket
//! (and of every plug) is satisfied by the first plug exporting the same name,
//! else by one exporting a semver-compatible name (`a:b/c@1.2.0` for
//! `a:b/c@1.0.0`). Unlike `wac plug`, plugs may satisfy each other's imports.
//! What nobody satisfies becomes an import of the result, whose exports are the
//! socket's. The result is validated, and the same inputs give the same bytes.
//!
//! [`compose_wac`] composes a `.wac` document (wac-parser) with packages
//! given explicitly; [`compose_with_registries`] also finds the packages it
//! names (`ns:pkg@1.2.3`) through wkg's mapping ([`crate::wkg`]). Both are
//! pinned by a [`Lock`].
//!
//! [`load_part`] reads a part from a file or any reference wharf can pull.

mod lock;
mod mismatch;
mod named;
mod package;
mod wac;

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use wac_graph::types::{ItemKind, Package, SubtypeChecker, Types, WorldId, are_semver_compatible};
use wac_graph::{CompositionGraph, EncodeError, EncodeOptions, NodeId, Processor};

use crate::artifact::read::fetch_wasm;
use crate::error::{Error, Fix, Result};
use crate::guard::unpanicked;
use crate::source::looks_like_path;
pub use lock::{Lock, Locked};
pub use package::{Dependency, parse_dep};
pub use wac::{compose as compose_wac, compose_with_registries};
use wharf_oci::digest::Digest;
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;

/// What a part's types are called when wac-types gives up on them (see [`crate::guard`]).
const PART_TYPES: &str = "its types";

/// The manifest annotation recording the parts of a pushed composition: a
/// JSON list of `{role, source, digest}` (see [`PartRecord`]).
pub const PARTS_ANNOTATION: &str = "dev.wharf.composed.parts";

/// The `processed-by` entry wharf adds to a composed component. The version is
/// wharf's own, so output depends only on the inputs and the wharf release.
pub const PROCESSOR: Processor<'static> = Processor { name: "wharf", version: env!("CARGO_PKG_VERSION") };

/// What a part is in a composition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The component whose exports the result has.
    Socket,
    /// A component whose exports satisfy imports of the socket or other plugs.
    Plug,
    /// A package a `.wac` document uses.
    Package,
}

/// One part of a composition, as recorded in [`PARTS_ANNOTATION`] and reports.
#[derive(Debug, Clone, Serialize)]
pub struct PartRecord {
    /// Socket, plug or package.
    pub role: Role,
    /// For a package of a `.wac` document: its name there (`ns:pkg[@version]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the user named: a path or a reference (`location@digest` for references).
    pub source: String,
    /// The digest of the part's Wasm bytes.
    pub digest: Digest,
}

/// A part read by [`load_part`].
#[derive(Debug, Clone)]
pub struct LoadedPart {
    /// A path, or `location@manifest-digest` for a reference.
    pub source: String,
    /// The Wasm bytes.
    pub bytes: Vec<u8>,
    /// Their SHA-256, computed once when first asked for (the lock and the
    /// report both need it).
    digest: std::sync::OnceLock<Digest>,
}

impl LoadedPart {
    /// A part read from `source`.
    pub fn new(source: String, bytes: Vec<u8>) -> Self {
        LoadedPart { source, bytes, digest: std::sync::OnceLock::new() }
    }

    /// The SHA-256 of the bytes.
    pub fn digest(&self) -> &Digest {
        self.digest.get_or_init(|| Digest::of(&self.bytes))
    }

    /// The record of this part in the given role.
    pub fn record(&self, role: Role) -> PartRecord {
        PartRecord { role, name: None, source: self.source.clone(), digest: self.digest().clone() }
    }
}

impl PartRecord {
    /// This record with the package name `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
}

/// Reads a part: an existing file (or anything that looks like a path), else a
/// reference to a Wasm artifact in a registry or OCI layout, verified.
pub async fn load_part(input: &str, transport: &TransportOptions) -> Result<LoadedPart> {
    let path = Path::new(input);
    if path.is_file() || looks_like_path(input) {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        return Ok(LoadedPart::new(input.to_string(), bytes));
    }
    let reference = Reference::parse(input)?;
    let (resolved, bytes) = fetch_wasm(&reference, transport).await?;
    Ok(LoadedPart::new(reference.pinned(&resolved.manifest_descriptor.digest), bytes))
}

/// One satisfied import: `importer`'s `import` is `exporter`'s `export`.
#[derive(Debug, Clone, Serialize)]
pub struct Wire {
    /// The import's name.
    pub import: String,
    /// The importing part: `socket`, or `plug N` (1-based, in the order given).
    pub importer: String,
    /// The export satisfying it (the import's name, or a semver-compatible one).
    pub export: String,
    /// The exporting part: `plug N`.
    pub exporter: String,
    /// Where the exporting part came from (its path, or `location@digest`).
    #[serde(skip)]
    pub exporter_source: String,
}

/// A composed component.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Composed {
    /// The component's bytes (their digest: [`Composed::digest`]).
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Their size.
    pub size: u64,
    /// How imports were satisfied, socket first, then each plug.
    pub wires: Vec<Wire>,
    /// What the result still imports (unsatisfied imports of any part).
    pub imports: Vec<String>,
    /// What the result exports (the socket's exports).
    pub exports: Vec<String>,
}

impl Composed {
    /// The digest of the component's bytes, computed on demand: a plain
    /// `compose plug -o OUT` hashes nothing.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.bytes)
    }
}

/// A part during composition.
struct Part<'a> {
    /// `socket` or `plug N`.
    label: String,
    /// Where it came from.
    source: &'a str,
    world: WorldId,
}

impl Part<'_> {
    /// `the socket` or `plug 2`.
    fn named(&self) -> String {
        if self.label == "socket" { "the socket".to_string() } else { self.label.clone() }
    }

    /// `the socket (greeter.wasm)`, `plug 2 (name.wasm)`.
    fn describe(&self) -> String {
        format!("{} ({})", self.named(), self.source)
    }
}

/// Text from wac or wasmparser, unless it carries arena ids or debug output.
fn plain(text: String) -> Option<String> {
    const DEBUG: [&str; 6] = ["Id {", "idx", "InterfaceId", "ResourceId", "NodeId", "DefinedTypeId"];
    (!DEBUG.iter().any(|d| text.contains(d))).then_some(text)
}

/// Plugs `plugs` into `socket`, each given as `(source, bytes)` where `source`
/// names the part in messages. See the [module documentation](self).
///
/// Errors ([`Error::Composition`]) name the import that could not be
/// satisfied, both types as WIT and the parts they came from; a plug that
/// satisfies no import is an error too. Parts that are not valid components
/// give [`Error::InvalidWasm`] or [`Error::Usage`].
pub fn plug(socket: (&str, Vec<u8>), plugs: Vec<(&str, Vec<u8>)>) -> Result<Composed> {
    if plugs.is_empty() {
        return Err(Error::Usage("compose plug needs at least one plug".into()));
    }
    let inputs: Vec<(String, &str, Vec<u8>)> = std::iter::once(("socket".to_string(), socket.0, socket.1))
        .chain(plugs.into_iter().enumerate().map(|(i, (source, bytes))| (format!("plug {}", i + 1), source, bytes)))
        .collect();

    let mut graph = CompositionGraph::new();
    let mut parts = Vec::with_capacity(inputs.len());
    let mut packages = Vec::with_capacity(inputs.len());
    for (i, (label, source, bytes)) in inputs.into_iter().enumerate() {
        if bytes.starts_with(b"\0asm\x01\0\0\0") {
            return Err(Error::Usage(format!(
                "{} ({source}) is a core module, not a component: only components can be composed",
                if label == "socket" { "the socket" } else { label.as_str() }
            )));
        }
        let package = load_package(&format!("wharf:part{i}"), source, bytes, graph.types_mut())?;
        parts.push(Part { label: label.clone(), source, world: package.ty() });
        let id =
            graph.register_package(package).map_err(|e| Error::Usage(format!("cannot use {label} ({source}): {e}")))?;
        packages.push(id);
    }

    let wires = wire(&graph, &parts)?;
    let instances: Vec<NodeId> = packages.iter().map(|p| graph.instantiate(*p)).collect();
    let graph_error = |e: &dyn std::fmt::Display| Error::Composition {
        reason: format!("wac-graph refused the wiring: {e}"),
        fix: "this is a bug in wharf; please report it with the parts used".into(),
    };
    for w in &wires {
        let node = graph.alias_instance_export(instances[w.exporter], &w.export).map_err(|e| graph_error(&e))?;
        graph.set_instantiation_argument(instances[w.importer], &w.import, node).map_err(|e| graph_error(&e))?;
    }
    let socket_exports: Vec<String> = graph.types()[parts[0].world].exports.keys().cloned().collect();
    for name in &socket_exports {
        let node = graph.alias_instance_export(instances[0], name).map_err(|e| graph_error(&e))?;
        graph.export(node, name).map_err(|e| graph_error(&e))?;
    }

    let bytes = graph.encode(ENCODE).map_err(|e| encode_error(e, &parts))?;
    validate_composed(&bytes, parts.iter().zip(&packages).map(|(part, id)| (part.source, graph[*id].bytes())))?;
    let (imports, exports) = world_names(&bytes)?;
    Ok(Composed {
        size: bytes.len() as u64,
        wires: wires
            .iter()
            .map(|w| Wire {
                import: w.import.clone(),
                importer: parts[w.importer].label.clone(),
                export: w.export.clone(),
                exporter: parts[w.exporter].label.clone(),
                exporter_source: parts[w.exporter].source.to_string(),
            })
            .collect(),
        imports,
        exports,
        bytes,
    })
}

/// How compositions are encoded: every part embedded, wharf as the processor,
/// and no validation by wac-graph, since [`validate_composed`] validates once
/// with the features runtimes accept (wac-graph would use all features).
const ENCODE: EncodeOptions<'static> =
    EncodeOptions { define_components: true, validate: false, processor: Some(PROCESSOR) };

/// Loads a part's types into `types`, validated once (by wac-types, which
/// takes the bytes without a copy); its validator's error is passed on with
/// its offset.
fn load_package(name: &str, source: &str, bytes: Vec<u8>, types: &mut Types) -> Result<Package> {
    let invalid = |reason: String, offset: usize| Error::InvalidWasm { path: source.to_string(), reason, offset };
    match unpanicked(PART_TYPES, || Package::from_bytes(name, None, bytes, types)) {
        Ok(Ok(package)) => Ok(package),
        Ok(Err(e)) => Err(match e.downcast_ref::<wasmparser::BinaryReaderError>() {
            Some(e) => invalid(e.message().to_string(), usize::try_from(e.offset()).unwrap_or(usize::MAX)),
            None => invalid(format!("{e:#}"), 0),
        }),
        Err(reason) => Err(invalid(reason, 0)),
    }
}

/// Validates a composed component with the features runtimes accept. When it
/// is not valid, the first of `parts` (`(source, bytes)`) that is not valid on
/// its own is named instead, since the result embeds every part.
fn validate_composed<'p>(bytes: &[u8], mut parts: impl Iterator<Item = (&'p str, &'p [u8])>) -> Result<()> {
    crate::inspect::validate("the composed component", bytes)
        .map_err(|error| parts.find_map(|(source, part)| crate::inspect::validate(source, part).err()).unwrap_or(error))
}

/// The names of a (validated) component's own imports and exports, read
/// without validating it again: nested modules and components are skipped.
fn world_names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
    let malformed = |e: wasmparser::BinaryReaderError| Error::InvalidWasm {
        path: "the composed component".into(),
        reason: e.message().to_string(),
        offset: e.offset() as usize,
    };
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut parser = wasmparser::Parser::new(0);
    let mut rest = bytes;
    while let wasmparser::Chunk::Parsed { payload, consumed } = parser.parse(rest, true).map_err(malformed)? {
        rest = &rest[consumed..];
        match payload {
            wasmparser::Payload::ModuleSection { unchecked_range, .. }
            | wasmparser::Payload::ComponentSection { unchecked_range, .. } => {
                rest = bytes.get(unchecked_range.end as usize..).unwrap_or_default();
            }
            wasmparser::Payload::ComponentImportSection(section) => {
                for import in section {
                    imports.push(import.map_err(malformed)?.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(section) => {
                for export in section {
                    exports.push(export.map_err(malformed)?.name.name.to_string());
                }
            }
            wasmparser::Payload::End(_) => break,
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// A planned wire, by part index.
struct Planned {
    import: String,
    importer: usize,
    export: String,
    exporter: usize,
}

/// Finds, for each import of each part, the plug satisfying it; checks the
/// types; requires every plug to satisfy something.
fn wire(graph: &CompositionGraph, parts: &[Part<'_>]) -> Result<Vec<Planned>> {
    let types = graph.types();
    let mut wires = Vec::new();
    let mut used = vec![false; parts.len()];
    for (importer, part) in parts.iter().enumerate() {
        for (import, import_kind) in &types[part.world].imports {
            let providers = || (1..parts.len()).filter(|p| *p != importer);
            let exact = providers().find_map(|p| types[parts[p].world].exports.get(import).map(|k| (p, import, *k)));
            let found = exact.or_else(|| {
                providers().find_map(|p| {
                    types[parts[p].world]
                        .exports
                        .iter()
                        .find(|(name, _)| are_semver_compatible(name, import))
                        .map(|(name, k)| (p, name, *k))
                })
            });
            let Some((exporter, export, export_kind)) = found else {
                continue;
            };
            let mut cache = HashSet::new();
            let mut checker = SubtypeChecker::new(&mut cache);
            if let Err(e) = checker.is_subtype(export_kind, types, *import_kind, types) {
                return Err(mismatch(graph, (part, import, *import_kind), (&parts[exporter], export, export_kind), e));
            }
            used[exporter] = true;
            wires.push(Planned { import: import.clone(), importer, export: export.clone(), exporter });
        }
    }
    if let Some(unused) = (1..parts.len()).find(|p| !used[*p]) {
        let part = &parts[unused];
        let exports: Vec<&str> = types[part.world].exports.keys().map(String::as_str).collect();
        let imports: Vec<&str> = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != unused)
            .flat_map(|(_, p)| types[p.world].imports.keys().map(String::as_str))
            .collect();
        let list = |names: &[&str]| if names.is_empty() { "nothing".to_string() } else { names.join(", ") };
        return Err(Error::Composition {
            reason: format!(
                "{} satisfies no import: it exports {}, and the socket and the other plugs import {}",
                part.describe(),
                list(&exports),
                list(&imports)
            ),
            fix: "leave this plug out, or give a plug exporting an interface the socket imports (the same name, or a \
                  semver-compatible version of it)"
                .into(),
        });
    }
    Ok(wires)
}

/// The error for an export whose type does not fit the import it matched.
fn mismatch(
    graph: &CompositionGraph,
    (importer, import, import_kind): (&Part<'_>, &str, ItemKind),
    (exporter, export, export_kind): (&Part<'_>, &str, ItemKind),
    error: anyhow::Error,
) -> Error {
    let types = graph.types();
    let roots = [importer.world, exporter.world];
    let expected = crate::check::render_wit(types, &roots, import_kind);
    let found = crate::check::render_wit(types, &roots, export_kind);
    let by = if export == import { String::new() } else { format!(" (as {export}, a semver-compatible version)") };
    let detail = plain(format!("{error:#}")).map_or_else(String::new, |d| format!(" ({d})"));
    Error::Composition {
        reason: format!(
            "the import {import} of {} cannot be satisfied by {}{by}: {} expects `{expected}`, {} exports \
             `{found}`{detail}",
            importer.describe(),
            exporter.describe(),
            importer.named(),
            exporter.named(),
        ),
        fix: format!(
            "build {} and {} against the same WIT for {import}, or leave {} out to keep {import} an import of \
             the result",
            exporter.named(),
            importer.named(),
            exporter.named()
        )
        .into(),
    }
}

/// Words for wac-graph's encoding errors, without its node ids.
fn encode_error(error: EncodeError, parts: &[Part<'_>]) -> Error {
    let (reason, fix) = match error {
        EncodeError::GraphContainsCycle { .. } => (
            "the plugs satisfy each other's imports in a cycle, so no instantiation order exists".to_string(),
            "break the cycle: leave out one of the plugs that import from each other".into(),
        ),
        EncodeError::ImportTypeMergeConflict { import, source, .. } => (
            format!(
                "{import} is left unsatisfied and several parts import it with different types{}",
                plain(format!("{source:#}")).map_or_else(String::new, |d| format!(" ({d})"))
            ),
            format!("give a plug exporting {import}, or build the parts against the same WIT for it").into(),
        ),
        EncodeError::ImplicitImportConflict { name, .. } => (
            format!("{name} is left unsatisfied and conflicts with another import of the same name"),
            format!("give a plug exporting {name}").into(),
        ),
        EncodeError::ValidationFailure { source } => (
            format!(
                "the composed component does not validate{}",
                plain(source.message().to_string()).map_or_else(String::new, |d| format!(": {d}"))
            ),
            Fix::InspectParts { parts: parts.iter().map(Part::describe).collect::<Vec<_>>().join(", ") },
        ),
    };
    Error::Composition { reason, fix }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_text_is_never_passed_on() {
        assert_eq!(plain("expected `u32`".into()).as_deref(), Some("expected `u32`"));
        assert_eq!(plain("ResourceId { globally_unique_id: 2 }".into()), None);
    }

    #[test]
    fn no_plug_is_a_usage_error() {
        let err = plug(("socket.wasm", b"\0asm\x0d\0\x01\0".to_vec()), Vec::new()).err();
        assert!(matches!(err, Some(Error::Usage(_))));
    }
}
