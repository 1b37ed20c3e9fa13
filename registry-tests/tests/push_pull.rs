//! Push and pull components and core modules against a real registry, and
//! check the manifest and config bytes against the Wasm OCI artifact spec.

use registry_tests::{Registry, TestEnv, python_peer, registry_get, registry_get_json, sha256_digest, wharf};
use serde_json::Value;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn component(env: &TestEnv) -> (std::path::PathBuf, Vec<u8>) {
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    (env.write("hello.wasm", &bytes), bytes)
}

fn module(env: &TestEnv) -> (std::path::PathBuf, Vec<u8>) {
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    (env.write("add.wasm", &bytes), bytes)
}

#[test]
fn a_component_round_trips_byte_identical_and_runs() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let reference = registry.reference("wasm/hello:0.1.0");

    let pushed = wharf(&["push", file.to_str().unwrap_or_default(), &reference, "--format", "json"], &env);
    pushed.assert_ok();
    let report = pushed.json();
    let digest = report["digest"].as_str().unwrap_or_default().to_string();
    assert!(digest.starts_with("sha256:"), "{report}");
    assert_eq!(report["reference"], format!("{}/wasm/hello@{digest}", registry.host()));

    // The manifest as the registry stores it.
    let (manifest_bytes, manifest) = registry_get_json(&registry.host(), "/v2/wasm/hello/manifests/0.1.0", MANIFEST);
    assert_eq!(sha256_digest(&manifest_bytes), digest);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(layers[0]["digest"], sha256_digest(&bytes));
    assert_eq!(layers[0]["size"], bytes.len());
    assert_eq!(layers[0]["annotations"]["org.opencontainers.image.title"], "hello.wasm");
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.description"], wharf_examples::HELLO_DESCRIPTION);
    assert_eq!(annotations["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(annotations["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(annotations["org.opencontainers.image.url"], wharf_examples::HELLO_HOMEPAGE);
    assert_eq!(annotations["org.opencontainers.image.source"], wharf_examples::HELLO_SOURCE);
    assert_eq!(annotations["org.opencontainers.image.created"], "1970-01-01T00:00:00Z");

    // The config: field order and explicit nulls as the CNCF spec and oci-wasm write them.
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    let (status, _, config_bytes) =
        registry_get(&registry.host(), &format!("/v2/wasm/hello/blobs/{config_digest}"), "*/*");
    assert_eq!(status, 200);
    let expected = format!(
        r#"{{"created":"1970-01-01T00:00:00Z","author":"{}","architecture":"wasm","os":"wasip2","layerDigests":["{}"],"component":{{"exports":["greet"],"imports":[],"target":null}}}}"#,
        wharf_examples::HELLO_AUTHORS,
        sha256_digest(&bytes)
    );
    assert_eq!(String::from_utf8_lossy(&config_bytes), expected);

    // Pull it back: identical bytes, and it runs.
    let out = env.path("pulled.wasm");
    let pulled = wharf(&["pull", &reference, "-o", out.to_str().unwrap_or_default(), "--format", "json"], &env);
    pulled.assert_ok();
    assert_eq!(pulled.json()["shape"], "cncf-wasm-v0");
    assert_eq!(std::fs::read(&out).expect("pulled file"), bytes);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).expect("pulled file metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "a pulled file is readable like any downloaded file");
    let ran = python_peer("run_component.py", &[out.to_str().unwrap_or_default(), "greet", "Alice"]);
    ran.assert_ok();
    assert_eq!(ran.stdout.trim(), "Hello, Alice!");
}

#[test]
fn a_core_module_is_pushed_as_wasip1_without_a_component_field() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = module(&env);
    let reference = registry.reference("wasm/add:1");
    wharf(&["push", file.to_str().unwrap_or_default(), &reference], &env).assert_ok();
    let (_, manifest) = registry_get_json(&registry.host(), "/v2/wasm/add/manifests/1", MANIFEST);
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    let (_, config) = registry_get_json(&registry.host(), &format!("/v2/wasm/add/blobs/{config_digest}"), "*/*");
    assert_eq!(config["os"], "wasip1");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["component"], Value::Null);
    assert_eq!(config["layerDigests"][0], sha256_digest(&bytes));

    let pulled = wharf(&["pull", &reference], &env);
    pulled.assert_ok();
    // Default output name: the layer title.
    assert_eq!(pulled.stdout.trim(), "add.wasm");
    let ran = python_peer("run_component.py", &[env.path("add.wasm").to_str().unwrap_or_default(), "add", "2", "3"]);
    ran.assert_ok();
    assert_eq!(ran.stdout.trim(), "5");
}

#[test]
fn pushes_are_reproducible_and_source_date_epoch_is_honoured() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let (file, _) = component(&env);
    let file = file.to_str().unwrap_or_default().to_string();
    let digest_of = |env: &TestEnv, repo: &str, extra: &[&str]| {
        let reference = registry.reference(repo);
        let mut args = vec!["push", file.as_str(), reference.as_str(), "--format", "json"];
        args.extend_from_slice(extra);
        let run = wharf(&args, env);
        run.assert_ok();
        run.json()["digest"].as_str().unwrap_or_default().to_string()
    };
    let first = digest_of(&env, "a/one:1", &[]);
    let second = digest_of(&env, "b/two:1", &[]);
    assert_eq!(first, second, "same input, same manifest digest");
    // The layout store gives the same digest as the registry.
    let layout = wharf(&["push", &file, "oci:store:x", "--format", "json"], &env);
    layout.assert_ok();
    assert_eq!(layout.json()["digest"], first);

    env.set_var("SOURCE_DATE_EPOCH", "1700000000");
    let dated = wharf(&["push", &file, &registry.reference("c/three:1"), "--format", "json"], &env);
    dated.assert_ok();
    assert_ne!(dated.json()["digest"], first);
    assert_eq!(dated.json()["config"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(dated.json()["annotations"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
    let now = digest_of(&env, "d/four:1", &["--created", "now"]);
    assert_ne!(now, first);
}

#[test]
fn re_pushing_sends_no_blob_and_extra_tags_and_annotations_land() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, _) = component(&env);
    let file = file.to_str().unwrap_or_default();
    let reference = registry.reference("wasm/hello:0.1.0");
    let first = wharf(&["push", file, &reference, "--format", "json"], &env);
    first.assert_ok();
    assert_eq!(first.json()["transfer"]["copied"].as_array().map(Vec::len), Some(3));

    // The same push again: the tag already points at the digest, so nothing is sent or re-checked.
    let unchanged = wharf(&["push", file, &reference, "--format", "json"], &env);
    unchanged.assert_ok();
    let transfer = &unchanged.json()["transfer"];
    assert_eq!(transfer["copied"].as_array().map(Vec::len), Some(0), "{transfer}");
    assert_eq!(transfer["skipped"].as_array().map(Vec::len), Some(1), "{transfer}");
    assert_eq!(transfer["skipped"][0], first.json()["digest"]);

    let again = wharf(
        &["push", file, &reference, "--tag", "latest", "--annotation", "org.example/team=web", "--format", "json"],
        &env,
    );
    again.assert_ok();
    let report = again.json();
    assert_eq!(report["transfer"]["bytesCopied"], 0, "{report}");
    assert_eq!(report["transfer"]["skipped"].as_array().map(Vec::len), Some(2), "{report}");
    let (_, manifest) = registry_get_json(&registry.host(), "/v2/wasm/hello/manifests/latest", MANIFEST);
    assert_eq!(manifest["annotations"]["org.example/team"], "web");
    let (_, tags) = registry_get_json(&registry.host(), "/v2/wasm/hello/tags/list", "application/json");
    let mut tags: Vec<&str> = tags["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    tags.sort();
    assert_eq!(tags, ["0.1.0", "latest"]);
}

#[test]
fn inspect_reads_manifest_and_config_only() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let reference = registry.reference("wasm/hello:0.1.0");
    wharf(&["push", file.to_str().unwrap_or_default(), &reference], &env).assert_ok();
    // Delete the layer blob: inspect must still work, since it never reads it.
    let layer = sha256_digest(&bytes);
    let blob_dir = registry.storage_dir().join("docker/registry/v2/blobs/sha256").join(&layer[7..9]).join(&layer[7..]);
    std::fs::remove_dir_all(&blob_dir).expect("remove the layer blob from storage");

    let inspected = wharf(&["inspect", &reference, "--format", "json"], &env);
    inspected.assert_ok();
    let doc = inspected.json();
    assert_eq!(doc["config"]["component"]["exports"][0], "greet");
    assert_eq!(doc["layer"]["digest"], layer);
    assert_eq!(doc["config"]["os"], "wasip2");
    let text = wharf(&["inspect", &reference], &env);
    text.assert_ok();
    assert!(text.stdout.contains("greet") && text.stdout.contains("wasip2"), "{}", text.stdout);

    // And a local file shows the digest a push would produce.
    let local = wharf(&["inspect", file.to_str().unwrap_or_default(), "--format", "json"], &env);
    local.assert_ok();
    assert_eq!(local.json()["digest"], doc["digest"]);
    assert_eq!(local.json()["wasm"]["kind"], "component");
}

#[test]
fn a_large_component_is_described_like_a_small_one() {
    let env = TestEnv::new();
    // Over wharf's full-decode limit (4 MiB): the world comes from the top-level names.
    let big = wharf_examples::build_sized_component(6 << 20).expect("build a 6 MiB component");
    let file = env.write("big.wasm", &big);
    let run = wharf(&["push", file.to_str().unwrap_or_default(), "oci:store:big", "--format", "json"], &env);
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["config"]["component"]["exports"], serde_json::json!(["greet"]), "{report}");
    assert_eq!(report["config"]["component"]["imports"], serde_json::json!([]), "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
}

#[test]
fn a_large_component_is_pushed_with_the_digest_of_its_bytes_and_pulled_back_identical() {
    // 6 MiB: its data section (over 1 MiB) and the whole file (over 4 MiB) are
    // streamed; the layer digest comes from the same pass as validation.
    let registry = Registry::start();
    let env = TestEnv::new();
    let big = wharf_examples::build_sized_component(6 << 20).expect("build a 6 MiB component");
    let file = env.write("big.wasm", &big);
    let reference = registry.reference("wasm/big:1");
    let pushed = wharf(&["push", file.to_str().unwrap_or_default(), &reference, "--format", "json"], &env);
    pushed.assert_ok();

    let (_, manifest) = registry_get_json(&registry.host(), "/v2/wasm/big/manifests/1", MANIFEST);
    let layer = &manifest["layers"][0];
    assert_eq!(layer["digest"], sha256_digest(&big), "{manifest}");
    assert_eq!(layer["size"], big.len(), "{manifest}");
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.licenses"], "Apache-2.0", "{manifest}");
    let (status, _, blob) =
        registry_get(&registry.host(), &format!("/v2/wasm/big/blobs/{}", sha256_digest(&big)), "*/*");
    assert_eq!(status, 200);
    assert!(blob == big, "the registry holds the pushed bytes");

    // Cut inside its data section: refused with the offset of the section,
    // as for a file read whole.
    let cut = env.write("cut.wasm", &big[..big.len() - (1 << 20)]);
    let refused = wharf(&["push", cut.to_str().unwrap_or_default(), &registry.reference("wasm/cut:1")], &env);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("unexpected end-of-file (at byte offset"), "{refused}");
}

/// Runs `wharf push FILE REF --format json` with `WHARF_LOG=debug` and the extra environment.
fn push_logged(env: &TestEnv, file: &str, reference: &str, extra: &[(&str, &str)]) -> registry_tests::Run {
    let mut cmd = env.command(registry_tests::wharf_bin());
    cmd.args(["push", file, reference, "--format", "json"]).env("WHARF_LOG", "debug");
    for (key, value) in extra {
        cmd.env(key, value);
    }
    registry_tests::run(cmd)
}

#[test]
fn an_unchanged_file_is_not_scanned_again_and_a_changed_one_is() {
    const FROM_CACHE: &str = "scan taken from the cache";
    let registry = Registry::start();
    let env = TestEnv::new();
    let cache = env.path(".cache/wharf/scans");
    let (file, _) = component(&env);
    let file = file.to_str().unwrap_or_default();
    // Only files that last changed at least a second before the scan are remembered.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let off = push_logged(&env, file, &registry.reference("wasm/a:1"), &[("WHARF_NO_CACHE", "1")]);
    off.assert_ok();
    assert!(!cache.exists(), "WHARF_NO_CACHE=1 wrote a cache entry");

    let first = push_logged(&env, file, &registry.reference("wasm/a:1"), &[]);
    first.assert_ok();
    assert!(!first.stderr.contains(FROM_CACHE), "{}", first.stderr);
    assert_eq!(std::fs::read_dir(&cache).map(Iterator::count).unwrap_or(0), 1, "one entry stored");

    let again = push_logged(&env, file, &registry.reference("wasm/b:1"), &[]);
    again.assert_ok();
    assert!(again.stderr.contains(FROM_CACHE), "{}", again.stderr);
    assert_eq!(again.json()["digest"], first.json()["digest"]);
    let layer = &again.json()["config"]["layerDigests"][0];
    assert_eq!(layer, &first.json()["config"]["layerDigests"][0]);
    // The cached digest is the real one: the registry accepted the layer under it.
    let (status, _, _) =
        registry_get(&registry.host(), &format!("/v2/wasm/b/blobs/{}", layer.as_str().unwrap_or_default()), "*/*");
    assert_eq!(status, 200);

    // New content in the same file (same inode): scanned again, pushed with its own digest.
    let (_, module) = module(&env);
    std::fs::write(file, &module).expect("rewrite the file");
    let changed = push_logged(&env, file, &registry.reference("wasm/c:1"), &[]);
    changed.assert_ok();
    assert!(!changed.stderr.contains(FROM_CACHE), "{}", changed.stderr);
    assert_eq!(changed.json()["config"]["layerDigests"][0], sha256_digest(&module).as_str());
    assert_eq!(changed.json()["config"]["os"], "wasip1");
}

/// Staged content is sent without a second SHA-256 pass (the registry checks
/// the digest on arrival); content that no longer matches its digest, as a
/// file changed after it was scanned, is refused and nothing is stored.
#[tokio::test]
async fn staged_content_that_no_longer_matches_its_digest_is_refused_by_the_registry_check() {
    use wharf::oci::manifest::Descriptor;
    use wharf::oci::store::registry::{Access, RegistryStore};
    use wharf::oci::store::{MemoryStore, ReadStore, Store};

    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let mut other = bytes.clone();
    if let Some(last) = other.last_mut() {
        *last ^= 1;
    }
    let claimed = Descriptor::of_bytes("application/wasm", &other);
    let staged = MemoryStore::new();
    staged.add_file(&claimed, file);
    assert!(staged.vouches_for_content());

    let wharf::Reference::Registry(reference) =
        wharf::Reference::parse(&registry.reference("wasm/changed:1")).expect("reference")
    else {
        panic!("not a registry reference");
    };
    let options = wharf::oci::transport::TransportOptions::default();
    let dst = RegistryStore::connect(&reference, &options, Access::Write).await.expect("connect");
    let content = staged.fetch(&claimed).await.expect("staged content");
    let err = dst.push_vouched(&claimed, content).await.expect_err("the registry refuses it");
    assert!(matches!(err, wharf::oci::Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(claimed.digest.as_str()), "{err}");

    let path = format!("/v2/wasm/changed/blobs/{}", claimed.digest);
    let (status, _, _) = registry_get(&registry.host(), &path, "*/*");
    assert_eq!(status, 404, "nothing stored under the claimed digest");
}
