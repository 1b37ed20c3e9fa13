//! Builds wharf's example WebAssembly binaries from the WAT and WIT sources
//! kept next to this file.
//!
//! * [`build_hello_component`] – `hello/hello.wat` + `hello/wit/`, wrapped into
//!   a component exporting `greet: func(name: string) -> string`, with OCI
//!   metadata (name, description, licenses, …) embedded by `wasm-metadata`.
//! * [`build_hello_module`] – `hello-module/module.wat`, a plain core module
//!   exporting `add: (i32, i32) -> i32` and `memory`.
//!
//! Both functions are deterministic: the same sources give the same bytes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasm_metadata::{
    AddMetadata, AddMetadataField, Authors, Description, Homepage, Licenses, Revision, Source, Version,
};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// Name recorded in the component's name section.
pub const HELLO_NAME: &str = "hello";
/// Description embedded in the component.
pub const HELLO_DESCRIPTION: &str = "Greets whoever calls it";
/// SPDX license expression embedded in the component.
pub const HELLO_LICENSES: &str = "Apache-2.0";
/// Source URL embedded in the component.
pub const HELLO_SOURCE: &str = "https://example.com/wharf";
/// Homepage URL embedded in the component.
pub const HELLO_HOMEPAGE: &str = "https://example.com/wharf/hello";
/// Version embedded in the component.
pub const HELLO_VERSION: &str = "0.1.0";
/// Authors embedded in the component.
pub const HELLO_AUTHORS: &str = "The wharf developers";
/// Fixed revision embedded in the component (kept constant for determinism).
pub const HELLO_REVISION: &str = "0000000000000000000000000000000000000000";
/// World selected from the WIT package.
pub const HELLO_WORLD: &str = "wharf:hello/hello@0.1.0";

/// Directory holding the example sources (this crate's manifest directory).
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse_wat(path: &Path) -> Result<Vec<u8>> {
    wat::parse_file(path).with_context(|| format!("failed to parse WAT file {}", path.display()))
}

/// Builds the `hello` component: core module from `hello/hello.wat`, WIT world
/// from `hello/wit/`, encoded with `wit-component` (validated) and decorated
/// with `wasm-metadata`.
pub fn build_hello_component() -> Result<Vec<u8>> {
    let dir = examples_dir().join("hello");
    let wat_path = dir.join("hello.wat");
    let wit_dir = dir.join("wit");

    let mut module = parse_wat(&wat_path)?;

    let mut resolve = Resolve::default();
    let (pkg, _sources) =
        resolve.push_dir(&wit_dir).with_context(|| format!("failed to load WIT package from {}", wit_dir.display()))?;
    let world = resolve
        .select_world(&[pkg], Some(HELLO_WORLD))
        .with_context(|| format!("failed to select world `{HELLO_WORLD}`"))?;

    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .context("failed to embed component metadata in the core module")?;

    let component = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("failed to load the core module into the component encoder")?
        .encode()
        .context("failed to encode the hello component")?;

    let mut add = AddMetadata::default();
    add.name = AddMetadataField::Set(HELLO_NAME.to_owned());
    add.description = AddMetadataField::Set(Description::new(HELLO_DESCRIPTION));
    add.licenses = AddMetadataField::Set(Licenses::new(HELLO_LICENSES).context("invalid SPDX license expression")?);
    add.source = AddMetadataField::Set(Source::new(HELLO_SOURCE).context("invalid source URL")?);
    add.homepage = AddMetadataField::Set(Homepage::new(HELLO_HOMEPAGE).context("invalid homepage URL")?);
    add.version = AddMetadataField::Set(Version::new(HELLO_VERSION));
    add.authors = AddMetadataField::Set(Authors::new(HELLO_AUTHORS));
    add.revision = AddMetadataField::Set(Revision::new(HELLO_REVISION));

    add.to_wasm(&component).context("failed to add metadata to the hello component")
}

/// Builds the plain core module from `hello-module/module.wat`.
pub fn build_hello_module() -> Result<Vec<u8>> {
    parse_wat(&examples_dir().join("hello-module").join("module.wat"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use wasm_metadata::Payload;

    #[test]
    fn component_is_deterministic_and_has_component_header() {
        let a = build_hello_component().unwrap();
        let b = build_hello_component().unwrap();
        assert_eq!(a, b);
        assert_eq!(&a[..8], b"\0asm\x0d\x00\x01\x00");
    }

    #[test]
    fn module_has_core_header() {
        let m = build_hello_module().unwrap();
        assert_eq!(&m[..8], b"\0asm\x01\x00\x00\x00");
    }

    #[test]
    fn component_carries_metadata() {
        let wasm = build_hello_component().unwrap();
        let payload = Payload::from_binary(&wasm).unwrap();
        assert!(matches!(payload, Payload::Component { .. }));
        let m = payload.metadata();
        assert_eq!(m.name.as_deref(), Some(HELLO_NAME));
        let s = |v: Option<String>| v.unwrap_or_default();
        assert_eq!(s(m.description.as_ref().map(|v| v.to_string())), HELLO_DESCRIPTION);
        assert_eq!(s(m.licenses.as_ref().map(|v| v.to_string())), HELLO_LICENSES);
        assert_eq!(s(m.source.as_ref().map(|v| v.to_string())), HELLO_SOURCE);
        assert_eq!(s(m.homepage.as_ref().map(|v| v.to_string())), HELLO_HOMEPAGE);
        assert_eq!(s(m.version.as_ref().map(|v| v.to_string())), HELLO_VERSION);
        assert_eq!(s(m.authors.as_ref().map(|v| v.to_string())), HELLO_AUTHORS);
        assert_eq!(s(m.revision.as_ref().map(|v| v.to_string())), HELLO_REVISION);
    }
}
