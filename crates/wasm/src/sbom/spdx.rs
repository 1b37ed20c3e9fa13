//! SPDX 2.3 JSON of an [`Inventory`]: one package per part (the binary, its inner
//! components and core modules) and per `.dep-v0` crate, with relationships.
//!
//! - The binary `DESCRIBES`-ed by the document (`APPLICATION`); each part `CONTAINS`
//!   its inner parts (`LIBRARY`) and its crates, and `DEPENDS_ON` the crate it was built
//!   from; each crate `DEPENDS_ON` its dependencies (a build-only one is
//!   `BUILD_DEPENDENCY_OF` it instead).
//! - Digests as `SHA256` checksums; licenses as `licenseDeclared`; homepage; source
//!   and revision as `sourceInfo`; package URLs (`pkg:oci`, `pkg:cargo`) as external
//!   references; WIT imports and exports as external references of category `OTHER`
//!   and type `wit-import` / `wit-export`.
//! - What SPDX 2.3 has no field for (kind, size, offset, producers, authors) as
//!   annotations of type `OTHER` by the tool, `wharf:…=value`, the names CycloneDX's
//!   properties carry.
//!
//! Written with serde structs: the one SPDX crate for Rust, `spdx-rs`, models SPDX
//! 2.2.1 and brings chrono, nom and a second thiserror for what is a flat document.

use serde::Serialize;

use super::inventory::{Crate, Inventory, Part};
use super::{Subject, TOOL_VERSION, oci_purl, part_name};
use crate::error::{Error, Result};
use crate::inspect::WasmKind;
use wharf_oci::annotations::Created;

const NOASSERTION: &str = "NOASSERTION";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<Package>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    homepage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    primary_package_purpose: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<Annotation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Annotation {
    annotation_date: String,
    annotation_type: &'static str,
    annotator: String,
    comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

/// The SPDX document of `inventory`, JSON (SPDX 2.3), deterministic.
pub fn write(inventory: &Inventory, subject: &Subject) -> Result<Vec<u8>> {
    let created =
        Created::reproducible().map_err(|e| Error::Usage(format!("cannot date the SPDX document: {e}")))?.rfc3339();
    let root = &inventory.root;
    let writer = Writer { subject, created: created.clone(), tool: format!("Tool: wharf-{TOOL_VERSION}") };
    let mut packages = Vec::new();
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: spdx_id(&root.path),
    }];
    for part in inventory.parts() {
        let mut package = writer.part(part);
        if part.path == root.path {
            package.external_refs.extend(wit_refs(inventory));
        }
        packages.push(package);
        relationships.extend(part.children.iter().map(|child| Relationship {
            spdx_element_id: spdx_id(&part.path),
            relationship_type: "CONTAINS",
            related_spdx_element: spdx_id(&child.path),
        }));
        packages.extend(part.crates.iter().enumerate().map(|(i, krate)| crate_package(part, i, krate)));
        relationships.extend(crate_relationships(part));
    }
    let document = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: part_name(root, subject),
        document_namespace: format!("urn:wharf:sbom:spdx:{}", root.digest),
        creation_info: CreationInfo { created, creators: vec![writer.tool.clone()] },
        packages,
        relationships,
    };
    let mut out = serde_json::to_vec_pretty(&document)
        .map_err(|e| Error::Usage(format!("internal: the SPDX document cannot be written: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

/// What every package of one document shares.
struct Writer<'a> {
    subject: &'a Subject,
    created: String,
    tool: String,
}

impl Writer<'_> {
    /// A part as a package.
    fn part(&self, part: &Part) -> Package {
        let m = &part.metadata;
        let is_root = part.path == super::inventory::ROOT_PATH;
        let mut external_refs = Vec::new();
        if let (true, Some(origin)) = (is_root, &self.subject.oci) {
            external_refs.push(purl_ref(oci_purl(origin)));
        }
        let source_info = match (&m.source, &m.revision) {
            (Some(source), Some(revision)) => Some(format!("built from {source} at revision {revision}")),
            (Some(source), None) => Some(format!("built from {source}")),
            (None, Some(revision)) => Some(format!("built at revision {revision}")),
            (None, None) => None,
        };
        Package {
            spdx_id: spdx_id(&part.path),
            name: part_name(part, self.subject),
            version_info: m.version.clone(),
            download_location: NOASSERTION,
            files_analyzed: false,
            checksums: vec![Checksum { algorithm: "SHA256", checksum_value: part.digest.hex().to_string() }],
            license_concluded: NOASSERTION,
            license_declared: m.licenses.clone().unwrap_or_else(|| NOASSERTION.into()),
            copyright_text: NOASSERTION,
            description: m.description.clone(),
            homepage: m.homepage.clone(),
            source_info,
            primary_package_purpose: if is_root { "APPLICATION" } else { "LIBRARY" },
            external_refs,
            annotations: self.annotations(part),
        }
    }

    /// Kind, size, offset, authors and producers, as `wharf:…=value` annotations.
    fn annotations(&self, part: &Part) -> Vec<Annotation> {
        let kind = match part.kind {
            WasmKind::Component => "component",
            WasmKind::Module => "module",
        };
        let mut notes = vec![
            format!("wharf:wasm:kind={kind}"),
            format!("wharf:wasm:size={}", part.size),
            format!("wharf:wasm:offset={}", part.offset),
        ];
        if let Some(authors) = &part.metadata.authors {
            notes.push(format!("wharf:wasm:authors={authors}"));
        }
        for p in &part.producers {
            let value = if p.version.is_empty() { p.name.clone() } else { format!("{} {}", p.name, p.version) };
            notes.push(format!("wharf:wasm:producers:{}={value}", p.field));
        }
        notes
            .into_iter()
            .map(|comment| Annotation {
                annotation_date: self.created.clone(),
                annotation_type: "OTHER",
                annotator: self.tool.clone(),
                comment,
            })
            .collect()
    }
}

/// The SPDX identifier of a bom path: `SPDXRef-` and the path with `/` as `-`
/// (paths hold only letters, digits and `-` besides).
fn spdx_id(path: &str) -> String {
    format!("SPDXRef-{}", path.replace('/', "-"))
}

fn crate_id(part: &Part, index: usize) -> String {
    spdx_id(&format!("{}/crate-{index}", part.path))
}

fn purl_ref(locator: String) -> ExternalRef {
    ExternalRef { reference_category: "PACKAGE-MANAGER", reference_type: "purl", reference_locator: locator }
}

/// A `.dep-v0` crate as a package (`pkg:cargo` for crates.io's).
fn crate_package(part: &Part, index: usize, krate: &Crate) -> Package {
    let purl = (krate.source == "crates.io")
        .then(|| cyclonedx_bom::external_models::uri::Purl::new("cargo", &krate.name, &krate.version).ok())
        .flatten();
    Package {
        spdx_id: crate_id(part, index),
        name: krate.name.clone(),
        version_info: Some(krate.version.clone()),
        download_location: NOASSERTION,
        files_analyzed: false,
        checksums: Vec::new(),
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION,
        description: None,
        homepage: None,
        source_info: Some(format!("cargo-auditable: source {}", krate.source)),
        primary_package_purpose: "LIBRARY",
        external_refs: purl.map(|p| purl_ref(p.to_string())).into_iter().collect(),
        annotations: Vec::new(),
    }
}

/// A part `CONTAINS` its crates and `DEPENDS_ON` its root crate; crate edges.
fn crate_relationships(part: &Part) -> Vec<Relationship> {
    let relation = |from: String, kind: &'static str, to: String| Relationship {
        spdx_element_id: from,
        relationship_type: kind,
        related_spdx_element: to,
    };
    let mut out: Vec<Relationship> =
        (0..part.crates.len()).map(|i| relation(spdx_id(&part.path), "CONTAINS", crate_id(part, i))).collect();
    if let Some(root) = part.crates.iter().position(|c| c.root) {
        out.push(relation(spdx_id(&part.path), "DEPENDS_ON", crate_id(part, root)));
    }
    for (i, krate) in part.crates.iter().enumerate() {
        for &dep in &krate.dependencies {
            out.push(if part.crates.get(dep).is_some_and(|d| d.build_only) {
                relation(crate_id(part, dep), "BUILD_DEPENDENCY_OF", crate_id(part, i))
            } else {
                relation(crate_id(part, i), "DEPENDS_ON", crate_id(part, dep))
            });
        }
    }
    out
}

/// WIT imports and exports as `OTHER` external references (`wit-import`, `wit-export`).
fn wit_refs(inventory: &Inventory) -> Vec<ExternalRef> {
    let one = |kind: &'static str, name: &String| ExternalRef {
        reference_category: "OTHER",
        reference_type: kind,
        reference_locator: name.clone(),
    };
    inventory
        .imports
        .iter()
        .map(|n| one("wit-import", n))
        .chain(inventory.exports.iter().map(|n| one("wit-export", n)))
        .collect()
}
