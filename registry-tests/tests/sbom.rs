//! `wharf sbom` on real components: one componentize-py builds (CPython and its
//! libraries as inner core modules) and one carrying cargo-auditable's `.dep-v0`
//! section (written with the auditable-serde crate, as no wasm32 Rust target can
//! be installed here). Every document is checked against the CycloneDX 1.5 (or
//! SPDX 2.3) JSON schema by the `jsonschema` PyPI package, and each listed core
//! module against the bytes at the offset the SBOM gives.

use std::path::{Path, PathBuf};

use registry_tests::{Registry, Run, TestEnv, python_peer, run_in, sha256_digest, wharf};
use serde_json::Value;

fn schema(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/schemas").join(name)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Validates `document` against the schema file `schema_name` (python `jsonschema`).
#[track_caller]
fn assert_valid(schema_name: &str, document: &Path) {
    python_peer("validate_schema.py", &[s(&schema(schema_name)), s(document)]).assert_ok();
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The component named `name` among `components` and their nested components.
fn find_component<'a>(components: &'a Value, name: &str) -> Option<&'a Value> {
    components
        .as_array()?
        .iter()
        .find_map(|c| if c["name"] == name { Some(c) } else { find_component(&c["components"], name) })
}

fn property<'a>(component: &'a Value, name: &str) -> Option<&'a str> {
    component["properties"].as_array()?.iter().find(|p| p["name"] == name)?["value"].as_str()
}

/// The components the SBOM lists as core modules, each checked against the
/// component's bytes: at its offset, `size` bytes that start like a core module
/// and hash to its SHA-256. Returns their names.
#[track_caller]
fn checked_modules(sbom: &Value, wasm: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for part in sbom["components"].as_array().expect("components") {
        if property(part, "wharf:wasm:kind") != Some("module") {
            continue;
        }
        let number = |name| property(part, name).and_then(|v| v.parse::<usize>().ok()).expect(name);
        let (offset, size) = (number("wharf:wasm:offset"), number("wharf:wasm:size"));
        let bytes = &wasm[offset..offset + size];
        assert_eq!(&bytes[..8], b"\0asm\x01\0\0\0", "{part}");
        let hash = part["hashes"][0]["content"].as_str().expect("a hash");
        assert_eq!(sha256_digest(bytes), format!("sha256:{hash}"), "{part}");
        names.push(part["name"].as_str().expect("a name").to_string());
    }
    names
}

/// Builds the componentize-py fixture (a Python `greet`) into `env`'s directory,
/// through the PyPI package's own entry point (`componentize-py componentize`).
fn componentize_py(env: &TestEnv) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/componentize-py");
    let out = env.path("greeter.wasm");
    let entry_point =
        "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())";
    let wit = fixture.join("wit");
    let args =
        ["-c", entry_point, "-d", s(&wit), "-w", "greeter", "componentize", "app", "-p", s(&fixture), "-o", s(&out)];
    let built: Run = run_in("python3", &args, env);
    built.assert_ok();
    out
}

#[test]
fn sbom_of_a_componentize_py_component_lists_its_inner_modules_and_is_valid_cyclonedx_and_spdx() {
    let env = TestEnv::new();
    let wasm_path = componentize_py(&env);
    let wasm = std::fs::read(&wasm_path).expect("the component");
    let out = env.path("greeter.cdx.json");
    wharf(&["sbom", s(&wasm_path), "-o", s(&out)], &env).assert_ok();
    assert_valid("bom-1.5.schema.json", &out);

    let sbom = read_json(&out);
    assert_eq!(sbom["metadata"]["component"]["hashes"][0]["content"], sha256_digest(&wasm)["sha256:".len()..]);
    let modules = checked_modules(&sbom, &wasm);
    assert!(modules.len() >= 5, "CPython, libc and the runtime are separate modules: {modules:?}");
    for expected in ["libc.so", "componentize_py_runtime.wasm"] {
        assert!(modules.iter().any(|m| m == expected), "{expected} missing from {modules:?}");
    }
    assert!(modules.iter().any(|m| m.starts_with("libpython3")), "no libpython in {modules:?}");
    let services: Vec<&str> =
        sbom["services"].as_array().expect("services").iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(services.contains(&"greet") && services.contains(&"wasi:cli/stdout"), "{services:?}");

    let spdx = env.path("greeter.spdx.json");
    wharf(&["sbom", s(&wasm_path), "--format", "spdx", "-o", s(&spdx)], &env).assert_ok();
    assert_valid("spdx-2.3.schema.json", &spdx);
    let packages = read_json(&spdx)["packages"].as_array().expect("packages").len();
    assert!(packages > modules.len(), "the component and each module are packages: {packages}");
}

#[test]
fn sbom_of_a_component_with_cargo_auditable_data_lists_its_crates_and_is_valid_cyclonedx() {
    let env = TestEnv::new();
    let wasm = wharf_examples::build_auditable_component().expect("the auditable example");
    let wasm_path = env.write("auditable.wasm", &wasm);
    let out = env.path("auditable.cdx.json");
    wharf(&["sbom", s(&wasm_path), "--format", "cyclonedx", "-o", s(&out)], &env).assert_ok();
    assert_valid("bom-1.5.schema.json", &out);

    let sbom = read_json(&out);
    let modules = checked_modules(&sbom, &wasm);
    assert_eq!(modules.len(), 1, "{modules:?}");
    let crates: Value = serde_json::from_str(wharf_examples::AUDITABLE_CRATES).expect("the example's crate list");
    for krate in crates["packages"].as_array().expect("packages") {
        let (name, version) =
            (krate["name"].as_str().unwrap_or_default(), krate["version"].as_str().unwrap_or_default());
        let found = find_component(&sbom["components"], name).unwrap_or_else(|| panic!("{name} missing from the SBOM"));
        assert_eq!(found["version"], version, "{found}");
        if krate["source"] == "crates.io" {
            assert_eq!(found["purl"], format!("pkg:cargo/{name}@{version}"), "{found}");
        }
    }
}

#[test]
fn the_same_component_gives_the_same_bytes_from_a_file_stdout_and_a_registry() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let wasm_path = env.write("auditable.wasm", wharf_examples::build_auditable_component().expect("the example"));
    for format in ["cyclonedx", "spdx"] {
        let first = env.path(&format!("first.{format}.json"));
        let second = env.path(&format!("second.{format}.json"));
        wharf(&["sbom", s(&wasm_path), "--format", format, "-o", s(&first)], &env).assert_ok();
        wharf(&["sbom", s(&wasm_path), "--format", format, "-o", s(&second)], &env).assert_ok();
        let stdout = wharf(&["sbom", s(&wasm_path), "--format", format], &env);
        stdout.assert_ok();
        let first = std::fs::read(&first).expect("written");
        assert_eq!(first, std::fs::read(&second).expect("written"), "{format}");
        assert_eq!(first, stdout.stdout.as_bytes(), "{format}: stdout and -o differ");
    }

    // From a registry: the package URL pins the manifest digest; the modules are the file's.
    let reference = registry.reference("wasm/auditable:1");
    let pushed = wharf(&["push", s(&wasm_path), &reference, "--format", "json"], &env);
    pushed.assert_ok();
    let digest = pushed.json()["digest"].as_str().expect("a digest").to_string();
    let out = env.path("remote.cdx.json");
    wharf(&["sbom", &reference, "-o", s(&out)], &env).assert_ok();
    assert_valid("bom-1.5.schema.json", &out);
    let remote = read_json(&out);
    let purl = remote["metadata"]["component"]["purl"].as_str().expect("a purl");
    assert!(purl.contains(&digest.replace(':', "%3A")), "{purl} does not pin {digest}");
    let local = read_json(&env.path("first.cyclonedx.json"));
    assert_eq!(remote["components"], local["components"]);
}

#[test]
fn a_failed_sbom_leaves_the_output_file_as_it_was() {
    let env = TestEnv::new();
    let not_wasm = env.write("notes.wasm", "not a component");
    let out = env.write("out.json", "previous SBOM");
    wharf(&["sbom", s(&not_wasm), "-o", s(&out)], &env).assert_failed_cleanly("notes.wasm");
    assert_eq!(std::fs::read_to_string(&out).expect("still there"), "previous SBOM");
    let left: Vec<_> = std::fs::read_dir(env.dir()).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".tmp")), "a temporary file was left: {left:?}");
    wharf(&["sbom", "./missing.wasm"], &env).assert_failed_cleanly("missing.wasm");
}
