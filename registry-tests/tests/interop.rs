//! wharf against independent implementations, over a real registry: the
//! `wkg` CLI, oci-wasm (the crate wkg is built on, via `oci-wasm-peer`),
//! oras-py, skopeo, and a real Wasm runtime (wasmtime-py) running what was pulled.

use std::path::{Path, PathBuf};

use registry_tests::{
    Registry, Run, TestEnv, python_peer, python_peer_in, run_in, sha256_digest, skopeo, wharf, workspace_dir,
};

// ---------------------------------------------------------------------------
// Local helpers (each test binary builds what it needs itself)
// ---------------------------------------------------------------------------

/// `$CARGO_TARGET_DIR` (relative to the workspace) or `<workspace>/target`.
fn target_dir() -> PathBuf {
    let ws = workspace_dir();
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|s| !s.is_empty())
        .map(|t| ws.join(t))
        .unwrap_or_else(|| ws.join("target"))
}

/// The example component and core module as files (see `wharf_examples::built_examples_dir`).
fn examples_dir() -> &'static Path {
    wharf_examples::built_examples_dir().expect("build the example Wasm files")
}

/// The example component (exports `greet`).
fn component() -> PathBuf {
    examples_dir().join("hello.wasm")
}

/// The example core module (exports `add`).
fn module() -> PathBuf {
    examples_dir().join("hello-module.wasm")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The `oci-wasm-peer` binary: `$OCI_WASM_PEER`, else
/// `<target>/peers/debug/oci-wasm-peer`. Never skipped: a missing peer fails
/// the test with the command that builds it.
fn oci_wasm_peer() -> PathBuf {
    let path = std::env::var_os("OCI_WASM_PEER")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("peers").join("debug").join("oci-wasm-peer"));
    assert!(
        path.is_file(),
        "the oci-wasm-peer binary is missing at {}; build it from the workspace root with\n  \
         CARGO_TARGET_DIR=target/peers cargo build --manifest-path registry-tests/peers/oci-wasm-peer/Cargo.toml\n\
         (scripts/test does this and exports OCI_WASM_PEER)",
        path.display()
    );
    path
}

fn peer(args: &[&str], env: &TestEnv) -> Run {
    run_in(oci_wasm_peer(), args, env)
}

/// `wharf push FILE REF --format json`, asserting success; returns the report.
fn wharf_push(file: &Path, reference: &str, env: &TestEnv) -> serde_json::Value {
    let r = wharf(&["push", s(file), reference, "--format", "json"], env);
    r.assert_ok();
    let report = r.json();
    let digest = report["digest"].as_str().expect("push report has a digest");
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{r}");
    report
}

/// `wharf pull REF -o OUT --format json`, asserting success; returns the report.
fn wharf_pull(reference: &str, out: &Path, env: &TestEnv) -> serde_json::Value {
    let r = wharf(&["pull", reference, "-o", s(out), "--format", "json"], env);
    r.assert_ok();
    r.json()
}

// ---------------------------------------------------------------------------
// (a) wharf push -> oci-wasm pull
// ---------------------------------------------------------------------------

#[test]
fn oci_wasm_pulls_a_component_wharf_pushed() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let reference = reg.reference("interop/wharf-to-oci-wasm/hello:0.1.0");
    let pushed = wharf_push(&component(), &reference, &env);

    let out = env.path("peer.wasm");
    let r = peer(&["pull", &reference, s(&out)], &env);
    r.assert_ok();
    let report = r.json();
    assert_eq!(read(&out), read(&component()), "oci-wasm pulled different bytes\n{r}");
    assert_eq!(report["manifestDigest"], pushed["digest"], "{r}");
    assert_eq!(report["layerMediaType"], "application/wasm");
    assert_eq!(report["layerDigest"], sha256_digest(&read(&component())));
    assert_eq!(report["size"], read(&component()).len());

    let config = &report["config"];
    assert_eq!(config["architecture"], "wasm", "{r}");
    assert_eq!(config["os"], "wasip2", "{r}");
    assert_eq!(config["component"]["exports"], serde_json::json!(["greet"]), "{r}");
    assert_eq!(config["layerDigests"], serde_json::json!([sha256_digest(&read(&component()))]), "{r}");
    // oci-wasm re-serialises the config it parsed: it saw what wharf wrote.
    assert_eq!(config, &pushed["config"], "{r}");
}

#[test]
fn oci_wasm_pulls_a_core_module_wharf_pushed() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let reference = reg.reference("interop/wharf-to-oci-wasm/module:1");
    let pushed = wharf_push(&module(), &reference, &env);

    let out = env.path("peer-module.wasm");
    let r = peer(&["pull", &reference, s(&out)], &env);
    r.assert_ok();
    let report = r.json();
    assert_eq!(read(&out), read(&module()), "oci-wasm pulled different bytes\n{r}");
    assert_eq!(report["manifestDigest"], pushed["digest"], "{r}");
    assert_eq!(report["layerMediaType"], "application/wasm");
    let config = &report["config"];
    assert_eq!(config["architecture"], "wasm", "{r}");
    assert_eq!(config["os"], "wasip1", "{r}");
    assert!(config["component"].is_null(), "a core module has no component world\n{r}");
}

// ---------------------------------------------------------------------------
// (b) oci-wasm push -> wharf pull / inspect
// ---------------------------------------------------------------------------

#[test]
fn wharf_pulls_and_inspects_a_component_oci_wasm_pushed() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let reference = reg.reference("interop/oci-wasm-to-wharf/hello:v1");
    let r = peer(&["push", s(&component()), &reference], &env);
    r.assert_ok();
    let peer_digest = r.json()["manifestDigest"].as_str().expect("peer prints manifestDigest").to_owned();
    assert_eq!(r.json()["os"], "wasip2", "{r}");

    let out = env.path("from-oci-wasm.wasm");
    let report = wharf_pull(&reference, &out, &env);
    assert_eq!(read(&out), read(&component()), "wharf pulled different bytes");
    assert_eq!(report["shape"], "cncf-wasm-v0", "{report:#}");
    assert_eq!(report["digest"], peer_digest.as_str(), "{report:#}");
    assert_eq!(report["layerDigest"], sha256_digest(&read(&component())));
    assert_eq!(report["size"], read(&component()).len());
    assert_eq!(report["warnings"], serde_json::json!([]), "{report:#}");

    // By digest too.
    let by_digest = format!("{}@{peer_digest}", reg.reference("interop/oci-wasm-to-wharf/hello"));
    let out2 = env.path("by-digest.wasm");
    wharf_pull(&by_digest, &out2, &env);
    assert_eq!(read(&out2), read(&component()));

    // inspect, JSON and text, shows the component's exports from the config.
    let r = wharf(&["inspect", &reference, "--format", "json"], &env);
    r.assert_ok();
    let inspection = r.json();
    assert_eq!(inspection["shape"], "cncf-wasm-v0", "{r}");
    assert_eq!(inspection["digest"], peer_digest.as_str(), "{r}");
    assert_eq!(inspection["configMediaType"], "application/vnd.wasm.config.v0+json", "{r}");
    assert_eq!(inspection["config"]["os"], "wasip2", "{r}");
    assert_eq!(inspection["config"]["component"]["exports"], serde_json::json!(["greet"]), "{r}");

    let r = wharf(&["inspect", &reference], &env);
    r.assert_ok();
    assert!(r.stdout.contains("exports") && r.stdout.contains("greet"), "text inspect shows the exports\n{r}");
    assert!(r.stdout.contains("cncf-wasm-v0"), "{r}");
}

#[test]
fn wharf_pulls_a_core_module_oci_wasm_pushed() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let reference = reg.reference("interop/oci-wasm-to-wharf/module:v1");
    let r = peer(&["push", s(&module()), &reference], &env);
    r.assert_ok();
    assert_eq!(r.json()["os"], "wasip1", "{r}");

    let out = env.path("module.wasm");
    let report = wharf_pull(&reference, &out, &env);
    assert_eq!(read(&out), read(&module()));
    assert_eq!(report["shape"], "cncf-wasm-v0", "{report:#}");

    let r = wharf(&["inspect", &reference, "--format", "json"], &env);
    r.assert_ok();
    assert_eq!(r.json()["config"]["os"], "wasip1", "{r}");
    assert!(r.json()["config"]["component"].is_null(), "{r}");
}

// ---------------------------------------------------------------------------
// wharf push -> wkg oci pull ; wkg oci push -> wharf pull and inspect
// ---------------------------------------------------------------------------

/// The wkg version these tests were written against (scripts/test installs it).
const WKG_VERSION: &str = "0.16.1";

/// The `wkg` CLI ([`registry_tests::pinned_tool`], `$WKG`).
fn wkg() -> PathBuf {
    let install = format!("cargo install wkg --version {WKG_VERSION} --locked");
    registry_tests::pinned_tool("wkg", "WKG", WKG_VERSION, &install)
}

/// `wkg oci ARGS... --insecure HOST` (the test registries speak plain HTTP).
fn wkg_oci(args: &[&str], registry: &Registry, env: &TestEnv) -> Run {
    let mut cmd = env.command(wkg());
    cmd.arg("oci").args(args).args(["--insecure", &registry.host(), "--color", "never"]);
    registry_tests::run(cmd)
}

#[test]
fn wkg_pulls_the_component_and_the_module_wharf_pushed() {
    let reg = Registry::start();
    let env = TestEnv::new();
    for (file, name) in [(component(), "hello"), (module(), "module")] {
        let reference = reg.reference(&format!("interop/wharf-to-wkg/{name}:0.1.0"));
        wharf_push(&file, &reference, &env);
        let out = env.path(&format!("{name}-from-wkg.wasm"));
        wkg_oci(&["pull", &reference, "-o", s(&out)], &reg, &env).assert_ok();
        assert_eq!(read(&out), read(&file), "wkg pulled different bytes for {name}");
    }
}

#[test]
fn wharf_pulls_and_inspects_what_wkg_pushed() {
    let reg = Registry::start();
    let env = TestEnv::new();
    // wkg 0.16.1 writes `os: wasip2` and an empty `component` for a core module
    // too; wharf reports the config as written, and its pull warns.
    for (file, name, os) in [(component(), "hello", "wasip2"), (module(), "module", "wasip2")] {
        let reference = reg.reference(&format!("interop/wkg-to-wharf/{name}:0.1.0"));
        let pushed = wkg_oci(&["push", &reference, s(&file)], &reg, &env);
        pushed.assert_ok();

        let out = env.path(&format!("{name}.wasm"));
        let report = wharf_pull(&reference, &out, &env);
        assert_eq!(read(&out), read(&file), "wharf pulled different bytes for {name}");
        assert_eq!(report["shape"], "cncf-wasm-v0", "{report:#}");
        let warnings = report["warnings"].as_array().cloned().unwrap_or_default();
        if name == "hello" {
            assert!(warnings.is_empty(), "{report:#}");
        } else {
            assert_eq!(warnings.len(), 1, "{report:#}");
            let warning = warnings[0].as_str().unwrap_or_default();
            assert!(warning.contains("os \"wasip2\", but the layer holds a core module"), "{warning}");
        }
        let digest = report["digest"].as_str().unwrap_or_default();
        assert!(pushed.stdout.contains(digest), "wkg printed another digest than wharf pulled:\n{pushed}");

        let r = wharf(&["inspect", &reference, "--format", "json"], &env);
        r.assert_ok();
        let inspection = r.json();
        assert_eq!(inspection["configMediaType"], "application/vnd.wasm.config.v0+json", "{r}");
        assert_eq!(inspection["config"]["os"], os, "{r}");
        assert_eq!(inspection["config"]["layerDigests"], serde_json::json!([sha256_digest(&read(&file))]), "{r}");
        let exports = if name == "hello" { serde_json::json!(["greet"]) } else { serde_json::json!([]) };
        assert_eq!(inspection["config"]["component"]["exports"], exports, "{r}");
    }
}

// ---------------------------------------------------------------------------
// (c) wharf push -> oras pull ; (d) oras push -> wharf pull
// ---------------------------------------------------------------------------

#[test]
fn oras_pulls_what_wharf_pushed_under_the_layer_title() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let reference = reg.reference("interop/wharf-to-oras/greeter:1.0");
    wharf_push(&component(), &reference, &env);

    let outdir = env.path("oras-out");
    let r = python_peer("oras_peer.py", &["pull", &reference, s(&outdir)]);
    r.assert_ok();
    let expected = outdir.join("hello.wasm");
    assert_eq!(r.stdout.trim(), s(&expected), "oras names the file after the layer title\n{r}");
    let files: Vec<_> =
        std::fs::read_dir(&outdir).expect("oras output dir").map(|e| e.expect("dir entry").file_name()).collect();
    assert_eq!(files, ["hello.wasm"], "exactly one file, named after the title");
    assert_eq!(read(&expected), read(&component()));
}

#[test]
fn wharf_pulls_what_oras_pushed_as_application_wasm() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let reference = reg.reference("interop/oras-to-wharf/hello:v2");
    let r = python_peer_in(
        "oras_peer.py",
        &["push", &reference, s(&component()), "--media-type", "application/wasm"],
        &env,
    );
    r.assert_ok();
    let oras_digest = r.stdout.trim().to_owned();

    let outdir = env.path("out");
    std::fs::create_dir_all(&outdir).expect("mkdir out");
    let report = wharf_pull(&reference, &outdir, &env);
    // oras-py titles the layer with the file's basename: wharf uses it.
    let pulled = outdir.join("hello.wasm");
    assert_eq!(report["path"], s(&pulled), "{report:#}");
    assert_eq!(read(&pulled), read(&component()));
    assert_eq!(report["digest"], oras_digest.as_str(), "{report:#}");
    // oras-py writes an empty `{}` config of type application/vnd.unknown.config.v1+json
    // around the application/wasm layer: not the CNCF shape, read as an image
    // that carries a Wasm layer.
    assert_eq!(report["shape"], "image with a Wasm layer", "{report:#}");
}

// ---------------------------------------------------------------------------
// (e) skopeo
// ---------------------------------------------------------------------------

#[test]
fn skopeo_sees_the_exact_manifest_and_copies_it_to_a_layout_wharf_reads() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let reference = reg.reference("interop/skopeo/hello:v3");
    let pushed = wharf_push(&component(), &reference, &env);
    let digest = pushed["digest"].as_str().expect("digest").to_owned();

    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")]);
    raw.assert_ok();
    assert_eq!(sha256_digest(raw.stdout.as_bytes()), digest, "skopeo got other manifest bytes\n{raw}");
    assert_eq!(raw.stdout.len() as u64, pushed["size"].as_u64().expect("size"), "{raw}");

    let layout = env.path("layout");
    let copy = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{}:v3", s(&layout)),
    ]);
    copy.assert_ok();

    let out = env.path("from-layout.wasm");
    let report = wharf_pull(&format!("oci:{}:v3", s(&layout)), &out, &env);
    assert_eq!(read(&out), read(&component()));
    assert_eq!(report["digest"], digest.as_str(), "skopeo kept the manifest digest\n{report:#}");
    assert_eq!(report["shape"], "cncf-wasm-v0", "{report:#}");
}

// ---------------------------------------------------------------------------
// (f) what was pulled runs
// ---------------------------------------------------------------------------

#[test]
fn a_pulled_component_and_module_run() {
    let reg = Registry::start();
    let env = TestEnv::new();

    // The component through wharf push + wharf pull.
    let reference = reg.reference("interop/run/hello:1");
    wharf_push(&component(), &reference, &env);
    let pulled = env.path("pulled.wasm");
    wharf_pull(&reference, &pulled, &env);
    let r = python_peer("run_component.py", &[s(&pulled), "greet", "Alice"]);
    r.assert_ok();
    assert_eq!(r.stdout.trim_end(), "Hello, Alice!", "{r}");

    // The component through oci-wasm push + wharf pull.
    let reference = reg.reference("interop/run/from-peer:1");
    peer(&["push", s(&component()), &reference], &env).assert_ok();
    let pulled = env.path("pulled-from-peer.wasm");
    wharf_pull(&reference, &pulled, &env);
    let r = python_peer("run_component.py", &[s(&pulled), "greet", "Bob"]);
    r.assert_ok();
    assert_eq!(r.stdout.trim_end(), "Hello, Bob!", "{r}");

    // The core module.
    let reference = reg.reference("interop/run/module:1");
    wharf_push(&module(), &reference, &env);
    let pulled = env.path("pulled-module.wasm");
    wharf_pull(&reference, &pulled, &env);
    let r = python_peer("run_component.py", &[s(&pulled), "add", "2", "3"]);
    r.assert_ok();
    assert_eq!(r.stdout.trim_end(), "5", "{r}");
}
