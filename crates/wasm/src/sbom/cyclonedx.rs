//! CycloneDX 1.5 JSON of an [`Inventory`], built with the `cyclonedx-bom` crate's models.
//!
//! - `metadata.component`: the binary itself (`application`), with its SHA-256,
//!   wasm-metadata fields (name, version, description, authors, licenses as an SPDX
//!   expression, source as a `vcs` and homepage as a `website` reference, revision as
//!   a property) and, when read from a registry or layout, its `pkg:oci` package URL.
//! - `components`: its inner components and core modules (`library`), nested as they
//!   nest, each with digest, size, offset and producers; a part's crates (`.dep-v0`)
//!   nested in it, with `pkg:cargo` package URLs for crates.io's.
//! - `services`: one per WIT import and export (`wharf:wit:direction`).
//! - `dependencies`: the binary on its imports, each part on the crate it was built
//!   from, each crate on its dependencies.
//!
//! Properties wharf adds are named `wharf:…` (CycloneDX reserves `cdx:` for its own
//! taxonomy; `cdx:rustc:dependency_kind`, registered there, marks build-only crates
//! as cargo-cyclonedx and auditable-cyclonedx write it).
//!
//! The `.dep-v0` crates are converted here rather than by `auditable-cyclonedx` 0.1:
//! it takes auditable-serde 0.8 (wasm-metadata reads the section with 0.9), writes a
//! BOM of its own rather than parts of one, and unwraps and asserts on what it
//! reads, which a hostile component must not be able to turn into a crash.

use cyclonedx_bom::external_models::normalized_string::NormalizedString;
use cyclonedx_bom::external_models::spdx::SpdxExpression;
use cyclonedx_bom::external_models::uri::{Purl, Uri};
use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::external_reference::{
    ExternalReference, ExternalReferenceType, ExternalReferences, Uri as ReferenceUrl,
};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{LicenseChoice, Licenses};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::service::{Service, Services};
use cyclonedx_bom::models::tool::Tools;

use super::inventory::{Inventory, Part, ROOT_PATH};
use super::{Subject, TOOL_VERSION, oci_purl, part_name};
use crate::error::{Error, Result};
use crate::inspect::WasmKind;

/// The CycloneDX document of `inventory`, JSON (CycloneDX 1.5), deterministic.
pub fn write(inventory: &Inventory, subject: &Subject) -> Result<Vec<u8>> {
    let bom = bom(inventory, subject);
    let mut out = Vec::new();
    bom.output_as_json(&mut out, SpecVersion::V1_5)
        .map_err(|e| Error::Usage(format!("internal: the CycloneDX document cannot be written: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

/// The document's model.
fn bom(inventory: &Inventory, subject: &Subject) -> Bom {
    let mut root = component(&inventory.root, subject, Classification::Application);
    if let Some(origin) = &subject.oci {
        root.purl = oci_purl(origin).parse::<Purl>().ok();
    }
    // The root's inner parts and crates are the document's components; the root is the metadata's.
    let inventory_list = root.components.take();
    let mut dependencies = vec![Dependency {
        dependency_ref: ROOT_PATH.to_string(),
        dependencies: inventory.imports.iter().map(|name| service_ref("import", name)).collect(),
    }];
    for part in inventory.parts() {
        dependencies.extend(crate_dependencies(part));
    }
    Bom {
        version: 1,
        serial_number: None,
        metadata: Some(Metadata {
            tools: Some(Tools::Object { services: None, components: Some(Components(vec![wharf_tool()])) }),
            component: Some(root),
            ..Metadata::default()
        }),
        components: inventory_list,
        services: services(inventory),
        dependencies: Some(Dependencies(dependencies)),
        ..Bom::default()
    }
}

/// wharf, as the tool that wrote the document.
fn wharf_tool() -> Component {
    let mut tool = Component::new(Classification::Application, "wharf", TOOL_VERSION, None);
    tool.description = Some(NormalizedString::new("SBOMs of WebAssembly components, read from their own bytes"));
    tool
}

/// A part as a component, with its inner parts and crates nested.
fn component(part: &Part, subject: &Subject, classification: Classification) -> Component {
    let m = &part.metadata;
    let mut c = Component::new(classification, &part_name(part, subject), "", Some(part.path.clone()));
    c.version = m.version.as_deref().map(NormalizedString::new);
    c.description = m.description.as_deref().map(NormalizedString::new);
    c.author = m.authors.as_deref().map(NormalizedString::new);
    c.licenses = m.licenses.as_deref().map(|e| Licenses(vec![LicenseChoice::Expression(SpdxExpression::new(e))]));
    c.hashes =
        Some(Hashes(vec![Hash { alg: HashAlgorithm::SHA_256, content: HashValue(part.digest.hex().to_string()) }]));
    let references: Vec<ExternalReference> =
        [(ExternalReferenceType::Vcs, m.source.as_deref()), (ExternalReferenceType::Website, m.homepage.as_deref())]
            .into_iter()
            .filter_map(|(kind, url)| {
                url.map(|url| ExternalReference {
                    external_reference_type: kind,
                    url: ReferenceUrl::Url(Uri::new(url)),
                    comment: None,
                    hashes: None,
                })
            })
            .collect();
    c.external_references = (!references.is_empty()).then_some(ExternalReferences(references));
    c.properties = Some(Properties(part_properties(part)));
    let mut inner: Vec<Component> =
        part.children.iter().map(|child| component(child, subject, Classification::Library)).collect();
    inner.extend(part.crates.iter().enumerate().map(|(i, krate)| crate_component(part, i, krate)));
    c.components = (!inner.is_empty()).then_some(Components(inner));
    c
}

/// What a part is, in `wharf:wasm:…` properties: kind, size, offset, revision, producers.
fn part_properties(part: &Part) -> Vec<Property> {
    let kind = match part.kind {
        WasmKind::Component => "component",
        WasmKind::Module => "module",
    };
    let mut properties = vec![
        Property::new("wharf:wasm:kind", kind),
        Property::new("wharf:wasm:size", &part.size.to_string()),
        Property::new("wharf:wasm:offset", &part.offset.to_string()),
    ];
    if let Some(revision) = &part.metadata.revision {
        properties.push(Property::new("wharf:wasm:revision", revision));
    }
    for p in &part.producers {
        let value = if p.version.is_empty() { p.name.clone() } else { format!("{} {}", p.name, p.version) };
        properties.push(Property::new(format!("wharf:wasm:producers:{}", p.field), &value));
    }
    properties
}

/// The bom-ref of crate `index` of `part`.
fn crate_ref(part: &Part, index: usize) -> String {
    format!("{}/crate-{index}", part.path)
}

/// A `.dep-v0` crate as a `library` component: `pkg:cargo` for crates.io's (the only
/// source a cargo package URL names without qualifiers), the source as a property
/// for the others.
fn crate_component(part: &Part, index: usize, krate: &super::Crate) -> Component {
    let mut c = Component::new(Classification::Library, &krate.name, &krate.version, Some(crate_ref(part, index)));
    if krate.source == "crates.io" {
        c.purl = Purl::new("cargo", &krate.name, &krate.version).ok();
    }
    let mut properties = vec![Property::new("wharf:cargo:source", &krate.source)];
    if krate.build_only {
        properties.push(Property::new("cdx:rustc:dependency_kind", "build"));
    }
    if krate.root {
        properties.push(Property::new("wharf:cargo:root", "true"));
    }
    c.properties = Some(Properties(properties));
    c
}

/// The part on the crate it was built from, and every crate on its dependencies.
fn crate_dependencies(part: &Part) -> Vec<Dependency> {
    let mut out = Vec::new();
    if let Some(root) = part.crates.iter().position(|c| c.root) {
        out.push(Dependency { dependency_ref: part.path.clone(), dependencies: vec![crate_ref(part, root)] });
    }
    for (i, krate) in part.crates.iter().enumerate() {
        out.push(Dependency {
            dependency_ref: crate_ref(part, i),
            dependencies: krate.dependencies.iter().map(|d| crate_ref(part, *d)).collect(),
        });
    }
    out
}

/// The bom-ref of a WIT import or export.
fn service_ref(direction: &str, name: &str) -> String {
    format!("wit:{direction}:{name}")
}

/// Each WIT import and export as a service: `wasi:http/incoming-handler@0.2.0` is named
/// `wasi:http/incoming-handler`, version `0.2.0`.
fn services(inventory: &Inventory) -> Option<Services> {
    let one = |direction: &str, name: &String| {
        let (bare, version) = match name.rsplit_once('@') {
            Some((bare, version)) => (bare, Some(version)),
            None => (name.as_str(), None),
        };
        let mut service = Service::new(bare, Some(service_ref(direction, name)));
        service.version = version.map(NormalizedString::new);
        service.properties = Some(Properties(vec![Property::new("wharf:wit:direction", direction)]));
        service
    };
    let all: Vec<Service> = inventory
        .imports
        .iter()
        .map(|name| one("import", name))
        .chain(inventory.exports.iter().map(|name| one("export", name)))
        .collect();
    (!all.is_empty()).then_some(Services(all))
}
