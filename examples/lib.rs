//! Builds wharf's example WebAssembly binaries from the WAT and WIT sources
//! kept next to this file.
//!
//! * [`build_hello_component`] – `hello/hello.wat` + `hello/wit/`, wrapped into
//!   a component exporting `greet: func(name: string) -> string`, with OCI
//!   metadata (name, description, licenses, …) embedded by `wasm-metadata`.
//! * [`build_hello_module`] – `hello-module/module.wat`, a plain core module
//!   exporting `add: (i32, i32) -> i32` and `memory`.
//! * [`build_check_component`] – the `wharf check` cases in `check/`, built
//!   with [`build_component`] (any WAT + WIT world); [`build_wit_package`]
//!   encodes a WIT package as a binary one.
//! * [`build_compose_component`] – the `wharf compose` parts in `compose/`.
//! * [`build_auditable_component`] – the `hello` component whose core module
//!   carries the `.dep-v0` crate list `cargo auditable` embeds (written with
//!   auditable-serde) and a Rust `producers` section, as a wasm32 Rust build would.
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

    let component =
        componentize(parse_wat(&wat_path)?, &wit_dir, HELLO_WORLD).context("building the hello component")?;

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

/// Directory of the `wharf check` examples: platform worlds and one
/// directory per case (`component.wat`, and `wit/` unless the case is built
/// from the platform's WIT).
pub fn check_dir() -> PathBuf {
    examples_dir().join("check")
}

/// Builds a component from a hand-written core module (`wat`) and a WIT world
/// (`wit`: a directory with optional `deps/`, a `.wit` file, or a binary WIT
/// package), with `world` selected as `Resolve::select_world` accepts it.
/// Deterministic; no metadata is added.
pub fn build_component(wat: &Path, wit: &Path, world: &str) -> Result<Vec<u8>> {
    componentize(parse_wat(wat)?, wit, world).with_context(|| format!("building a component from {}", wat.display()))
}

/// Embeds `world` of the WIT at `wit` (a directory with optional `deps/`, a
/// `.wit` file, or a binary WIT package) into the core `module` and encodes the
/// component, validated. Deterministic.
fn componentize(mut module: Vec<u8>, wit: &Path, world: &str) -> Result<Vec<u8>> {
    let mut resolve = Resolve::default();
    let (pkg, _sources) =
        resolve.push_path(wit).with_context(|| format!("failed to load WIT from {}", wit.display()))?;
    let world_id =
        resolve.select_world(&[pkg], Some(world)).with_context(|| format!("failed to select world `{world}`"))?;
    wit_component::embed_component_metadata(&mut module, &resolve, world_id, StringEncoding::UTF8)
        .context("failed to embed component metadata in the core module")?;
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("failed to load the core module into the component encoder")?
        .encode()
        .context("failed to encode the component")
}

/// Builds the component of the check example `case`: `check/<case>/component.wat`
/// with the case's own `wit/`, or the platform's `check/platform/wit` when the
/// case has none; `world` is the world to build against.
pub fn build_check_component(case: &str, world: &str) -> Result<Vec<u8>> {
    let dir = check_dir().join(case);
    let own_wit = dir.join("wit");
    let wit = if own_wit.is_dir() { own_wit } else { check_platform_wit() };
    build_component(&dir.join("component.wat"), &wit, world)
}

/// The check examples' platform WIT (`check/platform/wit`).
pub fn check_platform_wit() -> PathBuf {
    check_dir().join("platform").join("wit")
}

/// The check examples' semver platform WIT (`check/platform-semver/wit`:
/// worlds service, service-lts and service-next, `deps/` beside).
pub fn check_semver_platform_wit() -> PathBuf {
    check_dir().join("platform-semver").join("wit")
}

/// Builds the check example `case` against `world` ([`build_check_component`])
/// into `<dir>/<case>.wasm` and returns that path.
pub fn write_check_component(dir: &Path, case: &str, world: &str) -> Result<PathBuf> {
    let bytes = build_check_component(case, world).with_context(|| format!("building the {case} example"))?;
    let path = dir.join(format!("{case}.wasm"));
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Directory of the `wharf compose` examples: `greeter.wat` (imports
/// `wharf:compose/name-source`, exports `greet: func() -> string`),
/// `name-source.wat` (exports the interface; the name is "World") and
/// `name-source-u32.wat` (the interface with `get-name: func() -> u32`, from
/// `wit-u32/`, which does not fit the greeter), `name-source-next.wat`
/// (0.1.1, `wit-next/`), `relay.wat` and `base-name.wat` (a plug needing a plug).
pub fn compose_dir() -> PathBuf {
    examples_dir().join("compose")
}

/// Builds the compose example `name`: `greeter`, `name-source`,
/// `name-source-u32`, `name-source-next` (the interface at 0.1.1, returning
/// "Next"), `relay` (exports name-source by importing `base-name`) or
/// `base-name` (exports `base-name`, returning "Wharf") or `loop` (imports
/// name-source, exports base-name: a cycle with `relay`). Deterministic; no
/// metadata is added.
pub fn build_compose_component(name: &str) -> Result<Vec<u8>> {
    let dir = compose_dir();
    let (wit, world) = match name {
        "greeter" => ("wit", "wharf:compose/greeter@0.1.0"),
        "name-source" => ("wit", "wharf:compose/name-provider@0.1.0"),
        "name-source-u32" => ("wit-u32", "wharf:compose/name-provider@0.1.0"),
        "name-source-next" => ("wit-next", "wharf:compose/name-provider@0.1.1"),
        "relay" => ("wit", "wharf:compose/relay@0.1.0"),
        "base-name" => ("wit", "wharf:compose/base-provider@0.1.0"),
        "loop" => ("wit", "wharf:compose/loop@0.1.0"),
        other => anyhow::bail!(
            "no compose example named {other:?} (greeter, name-source, name-source-u32, name-source-next, relay, base-name, \
             loop)"
        ),
    };
    build_component(&dir.join(format!("{name}.wat")), &dir.join(wit), world)
}

/// Encodes the WIT package at `wit` (directory, `.wit` file) as a binary WIT
/// package, the `.wasm` form `wasm-tools component wit --wasm` writes.
pub fn build_wit_package(wit: &Path) -> Result<Vec<u8>> {
    let mut resolve = Resolve::default();
    let (pkg, _sources) =
        resolve.push_path(wit).with_context(|| format!("failed to load WIT from {}", wit.display()))?;
    wit_component::encode(&resolve, pkg).with_context(|| format!("failed to encode the WIT package {}", wit.display()))
}

/// Builds a valid component of `bytes` bytes (or, for a request smaller than
/// the plain `hello` component, that component): the `hello` component whose
/// core module carries one extra passive data segment of deterministic
/// pseudo-random (incompressible) bytes. Used to benchmark pushing and pulling
/// large artifacts. Deterministic: the same `bytes` gives the same component.
pub fn build_sized_component(bytes: usize) -> Result<Vec<u8>> {
    let base = build_hello_component()?;
    if bytes <= base.len() {
        return Ok(base);
    }
    // Encode once with a first guess, then correct the payload by the
    // difference (metadata and LEB128 lengths make the overhead hard to
    // predict exactly; a second pass lands on the size, a third is a backstop
    // for a length prefix that changed width).
    let mut payload_len = bytes - base.len();
    let mut component = sized_component_with_payload(bytes, payload_len)?;
    for _ in 0..3 {
        if component.len() == bytes {
            break;
        }
        payload_len = (payload_len + bytes).saturating_sub(component.len());
        component = sized_component_with_payload(bytes, payload_len)?;
    }
    Ok(component)
}

fn sized_component_with_payload(requested: usize, payload_len: usize) -> Result<Vec<u8>> {
    let payload = pseudo_random_bytes(payload_len, 0x5eed_0f3a_770c_u64);
    let dir = examples_dir().join("hello");
    let wit_dir = dir.join("wit");
    let module = parse_wat(&dir.join("hello.wat"))?;
    let module = append_passive_data_segment(&module, &payload)?;
    drop(payload);
    let component = componentize(module, &wit_dir, HELLO_WORLD).context("building the sized component")?;

    let mut add = AddMetadata::default();
    add.name = AddMetadataField::Set(format!("{HELLO_NAME}-sized-{requested}"));
    add.description = AddMetadataField::Set(Description::new(format!(
        "{HELLO_DESCRIPTION}; padded with pseudo-random data for benchmarks"
    )));
    add.licenses = AddMetadataField::Set(Licenses::new(HELLO_LICENSES).context("invalid SPDX license expression")?);
    add.version = AddMetadataField::Set(Version::new(HELLO_VERSION));
    add.to_wasm(&component).context("failed to add metadata to the sized component")
}

/// xorshift64* stream: cheap, deterministic, and incompressible enough that
/// no transport can shortcut it.
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write_leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *bytes.get(*pos).context("truncated LEB128 in core module")?;
        *pos += 1;
        anyhow::ensure!(shift < 64, "LEB128 too long in core module");
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// Rewrites a core module so its data section (id 11) ends with one more,
/// passive, segment holding `payload`; keeps a data count section (id 12), if
/// any, in step. The module must already have a data section.
fn append_passive_data_segment(module: &[u8], payload: &[u8]) -> Result<Vec<u8>> {
    const DATA: u8 = 11;
    const DATA_COUNT: u8 = 12;
    anyhow::ensure!(module.len() >= 8 && &module[..8] == b"\0asm\x01\x00\x00\x00", "not a core module");
    let mut out = Vec::with_capacity(module.len() + payload.len() + 16);
    out.extend_from_slice(&module[..8]);
    let mut pos = 8;
    let mut found = false;
    while pos < module.len() {
        let id = module[pos];
        pos += 1;
        let size = usize::try_from(read_leb128(module, &mut pos)?)?;
        let body = module.get(pos..pos + size).context("truncated section in core module")?;
        pos += size;
        let mut new_body;
        match id {
            DATA => {
                let mut p = 0;
                let count = read_leb128(body, &mut p)?;
                new_body = Vec::with_capacity(body.len() + payload.len() + 16);
                write_leb128(&mut new_body, count + 1);
                new_body.extend_from_slice(&body[p..]);
                new_body.push(0x01); // passive segment
                write_leb128(&mut new_body, payload.len() as u64);
                new_body.extend_from_slice(payload);
                found = true;
            }
            DATA_COUNT => {
                let mut p = 0;
                let count = read_leb128(body, &mut p)?;
                new_body = Vec::new();
                write_leb128(&mut new_body, count + 1);
            }
            _ => new_body = body.to_vec(),
        }
        out.push(id);
        write_leb128(&mut out, new_body.len() as u64);
        out.extend_from_slice(&new_body);
    }
    anyhow::ensure!(found, "core module has no data section to extend");
    Ok(out)
}

/// A directory holding `hello.wasm` and `hello-module.wasm`, written once per
/// process (for tests that pass file paths to commands and peer tools).
pub fn built_examples_dir() -> Result<&'static Path> {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir);
    }
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-examples").join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in [("hello.wasm", build_hello_component()?), ("hello-module.wasm", build_hello_module()?)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(DIR.get_or_init(|| dir))
}

/// The crates [`build_auditable_component`] lists in its `.dep-v0` section, in
/// cargo-auditable's JSON (format 1): the root crate, two runtime dependencies
/// (one of them from git), and a build-only proc macro.
pub const AUDITABLE_CRATES: &str = r#"{"format":1,"packages":[
  {"name":"hello-auditable","version":"0.1.0","source":"local","dependencies":[1,3],"root":true},
  {"name":"wit-bindgen","version":"0.41.0","source":"crates.io","dependencies":[2,4]},
  {"name":"bitflags","version":"2.9.0","source":"crates.io"},
  {"name":"greeting-table","version":"0.3.1","source":"git"},
  {"name":"wit-bindgen-rust-macro","version":"0.41.0","source":"crates.io","kind":"build"}
]}"#;

/// The `rustc` version the auditable example's `producers` section names.
pub const AUDITABLE_RUSTC: &str = "1.89.0";

/// Builds the `hello` component as a wasm32 Rust build under `cargo auditable` would
/// leave it: its core module carries a `producers` section (language Rust,
/// processed by rustc) and the `.dep-v0` custom section holding
/// [`AUDITABLE_CRATES`], read and written back by auditable-serde (which checks it)
/// and zlib-compressed by wasm-metadata's `Dependencies`, the section's reader.
/// Deterministic.
pub fn build_auditable_component() -> Result<Vec<u8>> {
    use wasm_encoder::Section as _;
    let dir = examples_dir().join("hello");
    let mut rust = AddMetadata::default();
    rust.language = vec![("Rust".to_owned(), String::new())];
    rust.processed_by = vec![("rustc".to_owned(), AUDITABLE_RUSTC.to_owned())];
    let mut module = rust.to_wasm(&parse_wat(&dir.join("hello.wat"))?).context("adding the producers section")?;
    let crates: auditable_serde::VersionInfo =
        AUDITABLE_CRATES.parse().map_err(|e| anyhow::anyhow!("the example crate list: {e}"))?;
    wasm_metadata::Dependencies::new(crates).context("encoding .dep-v0")?.append_to(&mut module);
    let component = componentize(module, &dir.join("wit"), HELLO_WORLD).context("building the auditable component")?;
    let mut add = AddMetadata::default();
    add.name = AddMetadataField::Set("hello-auditable".to_owned());
    add.version = AddMetadataField::Set(Version::new(HELLO_VERSION));
    add.licenses = AddMetadataField::Set(Licenses::new(HELLO_LICENSES).context("invalid SPDX license expression")?);
    add.to_wasm(&component).context("failed to add metadata to the auditable component")
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
    fn sized_component_has_the_requested_size_and_is_deterministic() {
        for want in [300_000, 2_000_003] {
            assert_eq!(build_sized_component(want).unwrap().len(), want);
        }
        let want = 300_000;
        let a = build_sized_component(want).unwrap();
        assert_eq!(&a[..8], b"\0asm\x0d\x00\x01\x00");
        assert_eq!(a, build_sized_component(want).unwrap());
        // Too small a request gives the plain hello component.
        assert_eq!(build_sized_component(0).unwrap(), build_hello_component().unwrap());
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

    #[test]
    fn every_check_case_builds() {
        let cases = [
            ("fits", "acme:plugins/filter-plugin"),
            ("storage", "acme:plugins/storage-plugin"),
            ("missing-export", "acme:meter/meter"),
            ("extra-import", "acme:plugins/filter-plugin"),
            ("signature-mismatch", "acme:plugins/filter-plugin"),
            ("record-mismatch", "acme:plugins/filter-plugin"),
            ("resource-mismatch", "acme:plugins/storage-plugin"),
            ("semver-safe", "acme:semver-safe/component"),
            ("semver-unsafe", "acme:semver-unsafe/component"),
            ("prerelease", "acme:prerelease/component"),
        ];
        for (case, world) in cases {
            let bytes = build_check_component(case, world).unwrap_or_else(|e| panic!("{case}: {e:#}"));
            assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "{case}");
        }
        for platform in ["platform", "platform-semver"] {
            let wit = build_wit_package(&check_dir().join(platform).join("wit")).unwrap();
            assert_eq!(&wit[..4], b"\0asm", "{platform}");
        }
    }
}
