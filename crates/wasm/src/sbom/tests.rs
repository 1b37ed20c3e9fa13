use serde_json::Value;
use wasmparser::{Parser, Payload};

use super::*;
use crate::error::Error;

fn hello() -> Vec<u8> {
    wharf_examples::build_hello_component().expect("the hello example builds")
}

fn auditable() -> Vec<u8> {
    wharf_examples::build_auditable_component().expect("the auditable example builds")
}

fn subject() -> Subject {
    Subject { name: "fallback-name".into(), oci: None }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the SBOM is JSON")
}

/// The digest and size of each core module of `component`, found by wasmparser
/// independently of the SBOM's reading.
fn modules_of(component: &[u8]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(component) {
        if let Ok(Payload::ModuleSection { unchecked_range, .. }) = payload {
            let bytes = &component[unchecked_range.start as usize..unchecked_range.end as usize];
            out.push((Digest::of(bytes).hex().to_string(), bytes.len() as u64));
        }
    }
    out
}

fn property<'a>(component: &'a Value, name: &str) -> Vec<&'a str> {
    component["properties"]
        .as_array()
        .map(|ps| ps.iter().filter(|p| p["name"] == name).filter_map(|p| p["value"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn cyclonedx_lists_the_component_its_core_module_and_its_exports() {
    let bytes = hello();
    let doc = json(&generate("hello.wasm", &bytes, &subject(), Format::CycloneDx).expect("an SBOM"));
    assert_eq!((doc["bomFormat"].as_str(), doc["specVersion"].as_str()), (Some("CycloneDX"), Some("1.5")));
    let root = &doc["metadata"]["component"];
    assert_eq!(root["name"], "hello", "the component-name section names it");
    assert_eq!(root["version"], wharf_examples::HELLO_VERSION);
    assert_eq!(root["hashes"][0]["content"], Digest::of(&bytes).hex());
    assert_eq!(root["licenses"][0]["expression"], wharf_examples::HELLO_LICENSES);
    assert_eq!(root["author"], wharf_examples::HELLO_AUTHORS);
    assert_eq!(property(root, "wharf:wasm:revision"), [wharf_examples::HELLO_REVISION]);
    let modules = modules_of(&bytes);
    assert_eq!(modules.len(), 1);
    let inner = &doc["components"][0];
    assert_eq!(inner["hashes"][0]["content"], modules[0].0.as_str());
    assert_eq!(property(inner, "wharf:wasm:size"), [modules[0].1.to_string()]);
    assert_eq!(property(inner, "wharf:wasm:kind"), ["module"]);
    let services = doc["services"].as_array().expect("services");
    assert_eq!(services.len(), 1);
    assert_eq!(
        (services[0]["name"].as_str(), property(&services[0], "wharf:wit:direction")),
        (Some("greet"), vec!["export"])
    );
}

#[test]
fn the_same_bytes_give_the_same_document() {
    let bytes = auditable();
    for format in [Format::CycloneDx, Format::Spdx] {
        let first = generate("a.wasm", &bytes, &subject(), format).expect("an SBOM");
        let second = generate("a.wasm", &bytes, &subject(), format).expect("an SBOM");
        assert_eq!(first, second, "{format:?}");
    }
}

#[test]
fn cargo_auditable_crates_are_components_of_their_module_with_their_graph() {
    let bytes = auditable();
    let doc = json(&generate("a.wasm", &bytes, &subject(), Format::CycloneDx).expect("an SBOM"));
    assert_eq!(doc["metadata"]["component"]["name"], "hello-auditable");
    let module = &doc["components"][0];
    assert_eq!(property(module, "wharf:wasm:producers:language"), ["Rust"]);
    assert!(
        property(module, "wharf:wasm:producers:processed-by")
            .contains(&format!("rustc {}", wharf_examples::AUDITABLE_RUSTC).as_str()),
        "{module}"
    );
    let crates = module["components"].as_array().expect("the module's crates");
    let named: Vec<(&str, &str, Option<&str>)> = crates
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or(""), c["version"].as_str().unwrap_or(""), c["purl"].as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("hello-auditable", "0.1.0", None),
            ("wit-bindgen", "0.41.0", Some("pkg:cargo/wit-bindgen@0.41.0")),
            ("bitflags", "2.9.0", Some("pkg:cargo/bitflags@2.9.0")),
            ("greeting-table", "0.3.1", None),
            ("wit-bindgen-rust-macro", "0.41.0", Some("pkg:cargo/wit-bindgen-rust-macro@0.41.0")),
        ]
    );
    assert_eq!(property(&crates[3], "wharf:cargo:source"), ["git"]);
    assert_eq!(property(&crates[4], "cdx:rustc:dependency_kind"), ["build"]);
    let deps = doc["dependencies"].as_array().expect("dependencies");
    let of = |r: &str| deps.iter().find(|d| d["ref"] == r).map(|d| d["dependsOn"].clone());
    let module_ref = module["bom-ref"].as_str().expect("a bom-ref");
    assert_eq!(of(module_ref), Some(serde_json::json!([format!("{module_ref}/crate-0")])));
    assert_eq!(
        of(&format!("{module_ref}/crate-1")),
        Some(serde_json::json!([format!("{module_ref}/crate-2"), format!("{module_ref}/crate-4")]))
    );
}

#[test]
fn spdx_has_a_package_per_part_and_crate_and_their_relationships() {
    let bytes = auditable();
    let doc = json(&generate("a.wasm", &bytes, &subject(), Format::Spdx).expect("an SBOM"));
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["documentNamespace"], format!("urn:wharf:sbom:spdx:{}", Digest::of(&bytes)));
    let packages = doc["packages"].as_array().expect("packages");
    assert_eq!(packages.len(), 1 + 1 + 5, "the component, its module, five crates");
    assert_eq!(packages[0]["checksums"][0]["checksumValue"], Digest::of(&bytes).hex());
    assert_eq!(packages[0]["licenseDeclared"], wharf_examples::HELLO_LICENSES);
    let exports: Vec<&Value> = packages[0]["externalRefs"]
        .as_array()
        .expect("refs")
        .iter()
        .filter(|r| r["referenceType"] == "wit-export")
        .collect();
    assert_eq!(exports.len(), 1);
    assert_eq!(packages[1]["checksums"][0]["checksumValue"], modules_of(&bytes)[0].0.as_str());
    let has = |from: &str, kind: &str, to: &str| {
        doc["relationships"]
            .as_array()
            .expect("relationships")
            .iter()
            .any(|r| r["spdxElementId"] == from && r["relationshipType"] == kind && r["relatedSpdxElement"] == to)
    };
    assert!(has("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-component"));
    assert!(has("SPDXRef-component", "CONTAINS", "SPDXRef-component-module-0"));
    assert!(has("SPDXRef-component-module-0", "DEPENDS_ON", "SPDXRef-component-module-0-crate-0"));
    assert!(has("SPDXRef-component-module-0-crate-4", "BUILD_DEPENDENCY_OF", "SPDXRef-component-module-0-crate-1"));
}

#[test]
fn a_package_url_names_the_oci_artifact_it_was_read_from() {
    let origin = OciOrigin {
        repository: "127.0.0.1:5000/wasm/Hello".into(),
        manifest: Digest::of(b"manifest"),
        tag: Some("1.0".into()),
    };
    let purl = oci_purl(&origin);
    assert_eq!(
        purl,
        format!(
            "pkg:oci/hello@sha256%3A{}?repository_url=127.0.0.1%3A5000/wasm/Hello&tag=1.0",
            Digest::of(b"manifest").hex()
        )
    );
    let subject = Subject { name: "x".into(), oci: Some(origin) };
    let doc = json(&generate("h.wasm", &hello(), &subject, Format::CycloneDx).expect("an SBOM"));
    assert_eq!(doc["metadata"]["component"]["purl"], purl.as_str());
}

/// A core module with a `.dep-v0` custom section holding `payload` as is.
fn module_with_dep_v0(payload: &[u8]) -> Vec<u8> {
    let mut module = wat::parse_str("(module)").expect("wat");
    let name = b".dep-v0";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(payload);
    module.push(0);
    module.push(u8::try_from(body.len()).expect("a short section"));
    module.extend_from_slice(&body);
    module
}

#[test]
fn a_corrupt_dep_v0_section_is_refused_naming_the_metadata() {
    let module = module_with_dep_v0(b"not zlib at all");
    match generate("m.wasm", &module, &subject(), Format::CycloneDx) {
        Err(Error::InvalidWasm { reason, .. }) => assert!(reason.contains("metadata"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dependency_indexes_out_of_range_are_dropped() {
    let crates: auditable_serde::VersionInfo =
        r#"{"packages":[{"name":"a","version":"1.0.0","source":"crates.io","dependencies":[7],"root":true}]}"#
            .parse()
            .expect("auditable-serde accepts it: it checks roots and cycles only");
    let mut module = wat::parse_str("(module)").expect("wat");
    wasm_encoder::Section::append_to(&wasm_metadata::Dependencies::new(crates).expect("encodes"), &mut module);
    let inventory = inventory::read("m.wasm", &module).expect("readable");
    assert_eq!(inventory.root.crates.len(), 1);
    assert!(inventory.root.crates[0].dependencies.is_empty());
    let doc = json(&generate("m.wasm", &module, &subject(), Format::CycloneDx).expect("an SBOM"));
    assert_eq!(doc["metadata"]["component"]["name"], "fallback-name");
}

#[test]
fn what_is_not_wasm_is_refused() {
    match generate("x.wasm", b"PK\x03\x04", &subject(), Format::Spdx) {
        Err(Error::InvalidWasm { reason, .. }) => assert!(reason.contains("magic"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
