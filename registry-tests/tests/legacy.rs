//! wharf reading what older tools left in registries (the legacy Wasm shapes),
//! refusing what is not Wasm, and refusing tampered content, with raw
//! manifests written straight to a real registry or an OCI layout on disk.

use std::path::{Path, PathBuf};

use registry_tests::{Registry, TestEnv, push_blob, push_manifest, run_in, sha256_digest, wharf};
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const TITLE: &str = "org.opencontainers.image.title";

// ---------------------------------------------------------------------------
// Local helpers (each test binary builds what it needs itself)
// ---------------------------------------------------------------------------

/// The example component and core module as files (see `wharf_examples::built_examples_dir`).
fn examples_dir() -> &'static Path {
    wharf_examples::built_examples_dir().expect("build the example Wasm files")
}

fn component_bytes() -> Vec<u8> {
    read(&examples_dir().join("hello.wasm"))
}

fn module_bytes() -> Vec<u8> {
    read(&examples_dir().join("hello-module.wasm"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialize JSON")
}

/// Names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Uploads config and layer blobs to `repo` on `host` and tags a manifest
/// naming them `tag`; returns the manifest digest.
fn push_artifact(
    host: &str,
    repo: &str,
    tag: &str,
    (config_type, config): (&str, &[u8]),
    layers: &[(&str, &[u8], Option<&str>)],
) -> String {
    let config_digest = push_blob(host, repo, config);
    let mut layer_descs = Vec::new();
    for (media_type, bytes, title) in layers {
        let digest = push_blob(host, repo, bytes);
        let mut d = json!({"mediaType": media_type, "digest": digest, "size": bytes.len()});
        if let Some(t) = title {
            d["annotations"] = json!({ TITLE: t });
        }
        layer_descs.push(d);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layer_descs,
    });
    let bytes = to_vec(&manifest);
    let digest = push_manifest(host, repo, tag, OCI_MANIFEST, &bytes);
    assert_eq!(digest, sha256_digest(&bytes));
    digest
}

/// `wharf pull REF -o OUT --format json`, asserting success; returns the report.
fn wharf_pull(reference: &str, out: &Path, env: &TestEnv) -> Value {
    let r = wharf(&["pull", reference, "-o", s(out), "--format", "json"], env);
    r.assert_ok();
    r.json()
}

// ---------------------------------------------------------------------------
// Legacy shapes in a registry
// ---------------------------------------------------------------------------

/// One legacy shape: pushed raw, pulled by wharf into a directory.
struct Case {
    repo: &'static str,
    config_type: &'static str,
    config: Vec<u8>,
    layer_type: &'static str,
    layer: Vec<u8>,
    shape: &'static str,
    default_name: &'static str,
}

fn check_legacy_case(reg: &Registry, env: &TestEnv, case: &Case) {
    let host = reg.host();
    let digest = push_artifact(
        &host,
        case.repo,
        "v1",
        (case.config_type, &case.config),
        &[(case.layer_type, &case.layer, None)],
    );
    let reference = reg.reference(&format!("{}:v1", case.repo));

    // -o a directory: no layer title, so the file is named after the last
    // repository segment.
    let outdir = env.path(&format!("out-{}", case.default_name));
    std::fs::create_dir_all(&outdir).expect("mkdir");
    let report = wharf_pull(&reference, &outdir, env);
    let expected = outdir.join(case.default_name);
    assert_eq!(report["shape"], case.shape, "{}: {report:#}", case.repo);
    assert_eq!(report["path"], s(&expected), "{}: {report:#}", case.repo);
    assert_eq!(report["digest"], digest.as_str(), "{report:#}");
    assert_eq!(report["layerDigest"], sha256_digest(&case.layer), "{report:#}");
    assert_eq!(report["size"], case.layer.len(), "{report:#}");
    assert_eq!(read(&expected), case.layer, "{}: pulled bytes differ", case.repo);
    assert_eq!(entries(&outdir), [case.default_name], "{}: only the pulled file, no temp files", case.repo);

    // The same by digest, and to an explicit file.
    let by_digest = format!("{}@{digest}", reg.reference(case.repo));
    let file = env.path(&format!("by-digest-{}", case.default_name));
    let report = wharf_pull(&by_digest, &file, env);
    assert_eq!(report["shape"], case.shape, "{report:#}");
    assert_eq!(read(&file), case.layer);

    // inspect names the shape too.
    let r = wharf(&["inspect", &reference, "--format", "json"], env);
    r.assert_ok();
    assert_eq!(r.json()["shape"], case.shape, "{r}");
    assert_eq!(r.json()["layer"]["mediaType"], case.layer_type, "{r}");
}

#[test]
fn wasm_to_oci_v1_artifacts_are_pulled() {
    let reg = Registry::start();
    let env = TestEnv::new();
    check_legacy_case(
        &reg,
        &env,
        &Case {
            repo: "legacy/wasm-to-oci/greeter",
            config_type: "application/vnd.wasm.config.v1+json",
            config: b"{}".to_vec(),
            layer_type: "application/vnd.wasm.content.layer.v1+wasm",
            layer: component_bytes(),
            shape: "wasm-to-oci-v1 (legacy)",
            default_name: "greeter.wasm",
        },
    );
}

#[test]
fn solo_io_module_v1_artifacts_are_pulled() {
    let reg = Registry::start();
    let env = TestEnv::new();
    check_legacy_case(
        &reg,
        &env,
        &Case {
            repo: "legacy/solo-io/filter",
            config_type: "application/vnd.module.wasm.config.v1+json",
            // What WebAssembly Hub's `wasme` wrote.
            config: to_vec(
                &json!({"type": "envoy_proxy", "abiVersions": ["v0-4689a30309abf31aee9ae36e73d34b1bb182685f"]}),
            ),
            layer_type: "application/vnd.module.wasm.content.layer.v1+wasm",
            layer: module_bytes(),
            shape: "solo-io-module-v1 (legacy)",
            default_name: "filter.wasm",
        },
    );
}

#[test]
fn images_with_a_bytecodealliance_component_layer_are_pulled() {
    let reg = Registry::start();
    let env = TestEnv::new();
    check_legacy_case(
        &reg,
        &env,
        &Case {
            repo: "legacy/runwasi/app",
            config_type: "application/vnd.oci.image.config.v1+json",
            config: to_vec(&json!({
                "architecture": "wasm",
                "os": "wasip1",
                "rootfs": {"type": "layers", "diff_ids": []},
                "config": {"Entrypoint": ["app.wasm"]},
            })),
            layer_type: "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
            layer: component_bytes(),
            shape: "image with a Wasm layer",
            default_name: "app.wasm",
        },
    );
}

#[test]
fn a_layer_title_names_the_file_in_a_legacy_artifact_too() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let layer = component_bytes();
    push_artifact(
        &reg.host(),
        "legacy/titled/repo-name",
        "v1",
        ("application/vnd.wasm.config.v1+json", b"{}"),
        &[("application/vnd.wasm.content.layer.v1+wasm", &layer, Some("titled.wasm"))],
    );
    let outdir = env.path("out");
    std::fs::create_dir_all(&outdir).expect("mkdir");
    let report = wharf_pull(&reg.reference("legacy/titled/repo-name:v1"), &outdir, &env);
    assert_eq!(report["path"], s(&outdir.join("titled.wasm")), "{report:#}");
    assert_eq!(read(&outdir.join("titled.wasm")), layer);
    assert_eq!(entries(&outdir), ["titled.wasm"]);

    // No -o at all: the current directory (the env's tempdir).
    let r = wharf(&["pull", &reg.reference("legacy/titled/repo-name:v1")], &env);
    r.assert_ok();
    assert_eq!(read(&env.path("titled.wasm")), layer, "{r}");
}

// ---------------------------------------------------------------------------
// Not Wasm
// ---------------------------------------------------------------------------

#[test]
fn a_container_image_is_not_a_wasm_artifact() {
    let reg = Registry::start();
    let env = TestEnv::new();

    // A real (tiny) container image: a tar+gzip rootfs layer and an image config.
    env.write("rootfs/etc/hostname", "container\n");
    run_in("tar", &["-czf", "layer.tar.gz", "-C", "rootfs", "."], &env).assert_ok();
    let layer = read(&env.path("layer.tar.gz"));
    let diff_id = sha256_digest(&read_gunzipped(&env.path("layer.tar.gz"), &env));
    let config = to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {"Cmd": ["/bin/sh"]},
    }));
    push_artifact(
        &reg.host(),
        "library/busybox",
        "latest",
        ("application/vnd.oci.image.config.v1+json", &config),
        &[("application/vnd.oci.image.layer.v1.tar+gzip", &layer, None)],
    );
    let reference = reg.reference("library/busybox:latest");

    let outdir = env.path("out");
    std::fs::create_dir_all(&outdir).expect("mkdir");
    let out = outdir.join("image.wasm");
    let r = wharf(&["pull", &reference, "-o", s(&out)], &env);
    r.assert_code(2);
    assert!(r.stderr.starts_with("error: this is not a Wasm artifact"), "{r}");
    assert!(r.stderr.contains("tar+gzip"), "the message names the layer type\n{r}");
    assert!(!out.exists(), "no output file");
    assert_eq!(entries(&outdir), Vec::<String>::new(), "nothing written, not even a temp file");

    // Into a directory, default name: nothing either.
    let r = wharf(&["pull", &reference, "-o", s(&outdir)], &env);
    r.assert_code(2);
    assert_eq!(entries(&outdir), Vec::<String>::new());

    // JSON: an error document on stdout.
    let r = wharf(&["pull", &reference, "-o", s(&out), "--format", "json"], &env);
    r.assert_code(2);
    let doc = r.json();
    assert_eq!(doc["error"]["kind"], "unsupported", "{r}");
    assert!(doc["error"]["message"].as_str().expect("message").starts_with("this is not a Wasm artifact"), "{r}");
    assert!(!out.exists());

    // inspect refuses it the same way.
    let r = wharf(&["inspect", &reference], &env);
    r.assert_code(2);
    assert!(r.stderr.contains("this is not a Wasm artifact"), "{r}");
}

fn read_gunzipped(path: &Path, env: &TestEnv) -> Vec<u8> {
    let mut cmd = env.command("gzip");
    cmd.args(["-dc"]).arg(path);
    let out = cmd.output().expect("run gzip -dc");
    assert!(out.status.success(), "gzip -dc failed");
    out.stdout
}

// ---------------------------------------------------------------------------
// Tampered content in an OCI layout
// ---------------------------------------------------------------------------

/// Writes an OCI image layout by hand: `oci-layout`, `index.json` with one
/// manifest tagged `tag`, and the blobs. Returns (manifest digest, layer digest).
fn write_layout(dir: &Path, tag: &str, layer: &[u8]) -> (String, String) {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir blobs");
    let put = |bytes: &[u8]| -> String {
        let digest = sha256_digest(bytes);
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::write(blobs.join(hex), bytes).expect("write blob");
        digest
    };
    let config = to_vec(&json!({
        "created": "1970-01-01T00:00:00Z",
        "author": null,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [sha256_digest(layer)],
        "component": {"exports": ["greet"], "imports": [], "target": null},
    }));
    let config_digest = put(&config);
    let layer_digest = put(layer);
    let manifest = to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": layer_digest, "size": layer.len()}],
    }));
    let manifest_digest = put(&manifest);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("write oci-layout");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), to_vec(&index)).expect("write index.json");
    (manifest_digest, layer_digest)
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs").join("sha256").join(digest.strip_prefix("sha256:").expect("sha256 digest"))
}

#[test]
fn a_hand_written_layout_is_pulled() {
    // The control for the tampering test below: the same layout, untouched, pulls fine.
    let env = TestEnv::new();
    let layout = env.path("layout");
    let layer = component_bytes();
    let (manifest_digest, _) = write_layout(&layout, "v1", &layer);
    let out = env.path("ok.wasm");
    let report = wharf_pull(&format!("oci:{}:v1", s(&layout)), &out, &env);
    assert_eq!(report["shape"], "cncf-wasm-v0", "{report:#}");
    assert_eq!(report["digest"], manifest_digest.as_str(), "{report:#}");
    assert_eq!(read(&out), layer);
}

#[test]
fn a_tampered_layer_blob_is_refused_and_nothing_is_written() {
    let env = TestEnv::new();
    let layout = env.path("layout");
    let layer = component_bytes();
    let (_, layer_digest) = write_layout(&layout, "v1", &layer);

    // Same size, last byte flipped (the \0asm header stays, so only the digest can tell).
    let mut tampered = layer.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(blob_path(&layout, &layer_digest), &tampered).expect("tamper with the layer blob");

    let outdir = env.path("out");
    std::fs::create_dir_all(&outdir).expect("mkdir out");
    let out = outdir.join("out.wasm");
    let reference = format!("oci:{}:v1", s(&layout));
    let r = wharf(&["pull", &reference, "-o", s(&out)], &env);
    r.assert_code(2);
    assert!(r.stderr.contains("does not match its digest"), "{r}");
    assert!(r.stderr.contains(&layer_digest), "the message names the layer digest\n{r}");
    assert!(r.stderr.contains(&sha256_digest(&tampered)), "and what the content hashes to\n{r}");
    assert!(!out.exists(), "out.wasm must not exist after a failed pull");
    assert_eq!(entries(&outdir), Vec::<String>::new(), "no temp files left behind");

    // JSON: kind integrity.
    let r = wharf(&["pull", &reference, "-o", s(&out), "--format", "json"], &env);
    r.assert_code(2);
    assert_eq!(r.json()["error"]["kind"], "integrity", "{r}");
    assert!(!out.exists());

    // A pre-existing file at the output path is left as it was.
    std::fs::write(&out, b"previous contents").expect("write previous");
    let r = wharf(&["pull", &reference, "-o", s(&out)], &env);
    r.assert_code(2);
    assert_eq!(read(&out), b"previous contents", "a failed pull must not touch the existing file\n{r}");
    assert_eq!(entries(&outdir), ["out.wasm"], "no temp files left behind");

    // Pulling into the current directory (default name) leaves nothing there either.
    let before = entries(env.dir());
    let r = wharf(&["pull", &reference], &env);
    r.assert_code(2);
    assert_eq!(entries(env.dir()), before, "no file or temp file in the working directory\n{r}");
}

#[test]
fn a_truncated_layer_blob_is_refused_and_nothing_is_written() {
    let env = TestEnv::new();
    let layout = env.path("layout");
    let layer = component_bytes();
    let (_, layer_digest) = write_layout(&layout, "v1", &layer);
    std::fs::write(blob_path(&layout, &layer_digest), &layer[..layer.len() / 2]).expect("truncate the layer blob");

    let outdir = env.path("out");
    std::fs::create_dir_all(&outdir).expect("mkdir out");
    let out = outdir.join("out.wasm");
    let r = wharf(&["pull", &format!("oci:{}:v1", s(&layout)), "-o", s(&out), "--format", "json"], &env);
    r.assert_code(2);
    assert_eq!(r.json()["error"]["kind"], "integrity", "{r}");
    assert!(!out.exists());
    assert_eq!(entries(&outdir), Vec::<String>::new(), "no temp files left behind");
}
