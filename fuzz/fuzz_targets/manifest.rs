//! Manifest and image index documents, as a registry or an `index.json` could
//! serve them: `Manifest::parse`, `Index::parse`, `declared_media_type`,
//! `successors`, and the Wasm-artifact readers that run on what they return.
//!
//! Invariants: every failure is `Error::Malformed` (or `NotWasmArtifact` for
//! a manifest that is not a Wasm artifact); a parsed document serialises to
//! bytes that parse back to the same document and serialise identically
//! (wharf's manifests must be byte-reproducible); a declared `mediaType` is
//! what `declared_media_type` reports; `successors` lists exactly the config
//! and layers, or the index entries; the Wasm layer and the picked index
//! entry are among the document's own descriptors. Deeply nested JSON must
//! end in an error, not a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::oci::Error;
use wharf::oci::manifest::{Descriptor, Index, MAX_DOCUMENT_SIZE, Manifest, declared_media_type, successors};
use wharf::oci::media;
use wharf::wasm::artifact::{parse_config, pick_from_index, wasm_layout};
use wharf::wasm::media::WASM_CONFIG_V0;

fuzz_target!(|data: &[u8]| {
    // wharf refuses larger documents before reading them (the fetch cap).
    if data.len() as u64 > MAX_DOCUMENT_SIZE {
        return;
    }
    let manifest = check_manifest(data);
    let index = check_index(data);
    match declared_media_type(data) {
        Ok(declared) => check_declared(data, &declared, manifest.as_ref(), index.as_ref()),
        Err(e) => assert_malformed(&e, "manifest"),
    }
    let _ = parse_config(WASM_CONFIG_V0, data);
});

fn assert_malformed(error: &Error, what: &str) {
    match error {
        Error::Malformed { what: named, reason } => {
            assert_eq!(named, what);
            assert!(!reason.is_empty(), "a malformed-{what} error says why");
        }
        other => panic!("not a Malformed error: {other:?}"),
    }
}

fn check_manifest(data: &[u8]) -> Option<Manifest> {
    let manifest = match Manifest::parse(data) {
        Ok(m) => m,
        Err(e) => {
            assert_malformed(&e, "manifest");
            return None;
        }
    };
    let bytes = manifest.to_bytes();
    let again = Manifest::parse(&bytes).unwrap_or_else(|e| panic!("a serialised manifest does not parse: {e}"));
    assert_eq!(again, manifest, "manifest round trip changed the document");
    assert_eq!(again.to_bytes(), bytes, "manifest serialisation is not reproducible");
    for d in std::iter::once(&manifest.config).chain(&manifest.layers).chain(&manifest.subject) {
        check_descriptor(d);
    }
    match wasm_layout(&manifest) {
        Ok(layout) => assert!(manifest.layers.contains(&layout.layer), "the Wasm layer is not one of the layers"),
        Err(wharf::wasm::Error::NotWasmArtifact(reason)) => assert!(!reason.is_empty()),
        Err(other) => panic!("wasm_layout: unexpected error {other:?}"),
    }
    Some(manifest)
}

fn check_index(data: &[u8]) -> Option<Index> {
    let index = match Index::parse(data) {
        Ok(i) => i,
        Err(e) => {
            assert_malformed(&e, "image index");
            return None;
        }
    };
    let bytes = index.to_bytes();
    let again = Index::parse(&bytes).unwrap_or_else(|e| panic!("a serialised index does not parse: {e}"));
    assert_eq!(again, index, "index round trip changed the document");
    assert_eq!(again.to_bytes(), bytes, "index serialisation is not reproducible");
    for d in index.manifests.iter().chain(&index.subject) {
        check_descriptor(d);
    }
    match pick_from_index(&index.manifests) {
        Ok(entry) => assert!(index.manifests.contains(&entry), "the picked entry is not in the index"),
        Err(wharf::wasm::Error::NotWasmArtifact(reason)) => assert!(!reason.is_empty()),
        Err(other) => panic!("pick_from_index: unexpected error {other:?}"),
    }
    Some(index)
}

/// A parsed descriptor's digest is a valid sha256 digest that prints as read.
fn check_descriptor(d: &Descriptor) {
    let text = d.digest.to_string();
    assert_eq!(text.parse::<wharf::oci::digest::Digest>().ok().as_ref(), Some(&d.digest));
    assert_eq!(d.digest.hex().len(), 64);
}

fn check_declared(data: &[u8], declared: &str, manifest: Option<&Manifest>, index: Option<&Index>) {
    if let Some(t) = manifest.and_then(|m| m.media_type.as_deref()) {
        assert_eq!(declared, t, "declared_media_type disagrees with the manifest's mediaType");
    }
    if let Some(t) = index.and_then(|i| i.media_type.as_deref()) {
        assert_eq!(declared, t, "declared_media_type disagrees with the index's mediaType");
    }
    match successors(declared, data) {
        Ok(children) if media::is_index(declared) => {
            assert_eq!(Some(&children), index.map(|i| &i.manifests), "index successors are not its entries");
        }
        Ok(children) if media::is_manifest(declared) => {
            let expected: Option<Vec<Descriptor>> =
                manifest.map(|m| std::iter::once(m.config.clone()).chain(m.layers.clone()).collect());
            assert_eq!(Some(children), expected, "manifest successors are not config + layers");
        }
        Ok(children) => assert!(children.is_empty(), "a blob of type {declared:?} has successors"),
        Err(e) if media::is_index(declared) => {
            assert!(index.is_none());
            assert_malformed(&e, "image index");
        }
        Err(e) => {
            assert!(manifest.is_none());
            assert_malformed(&e, "manifest");
        }
    }
}
