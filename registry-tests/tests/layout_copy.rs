//! The local OCI layout store and `wharf copy` between any pair of stores,
//! checked with skopeo reading what wharf writes and the other way round.

use registry_tests::{Registry, TestEnv, registry_get, sha256_digest, skopeo, wharf};
use serde_json::Value;

fn component(env: &TestEnv) -> (String, Vec<u8>) {
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    (env.write("hello.wasm", &bytes).to_string_lossy().into_owned(), bytes)
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read JSON file")).expect("parse JSON file")
}

#[test]
fn a_layout_follows_the_image_layout_spec_and_skopeo_reads_it() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let pushed = wharf(&["push", &file, "oci:wharf-store:hello-0.1.0", "--format", "json"], &env);
    pushed.assert_ok();
    let digest = pushed.json()["digest"].as_str().unwrap_or_default().to_string();

    let store = env.path("wharf-store");
    assert_eq!(read_json(&store.join("oci-layout")), serde_json::json!({"imageLayoutVersion": "1.0.0"}));
    let index = read_json(&store.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], digest);
    assert_eq!(entry["annotations"]["org.opencontainers.image.ref.name"], "hello-0.1.0");
    let layer = store.join("blobs/sha256").join(&sha256_digest(&bytes)[7..]);
    assert_eq!(std::fs::read(layer).expect("layer blob"), bytes);

    // skopeo copies wharf's layout into the registry, digest preserved.
    let dest = format!("docker://{}/from-skopeo/hello:1", registry.host());
    let src = format!("oci:{}:hello-0.1.0", store.display());
    skopeo(&["copy", "--dest-tls-verify=false", &src, &dest]).assert_ok();
    let (status, headers, _) = registry_get(
        &registry.host(),
        "/v2/from-skopeo/hello/manifests/1",
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(status, 200);
    let served = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("docker-content-digest")).map(|(_, v)| v.clone());
    assert_eq!(served.as_deref(), Some(digest.as_str()));

    // wharf pulls what skopeo stored.
    let out = env.path("back.wasm");
    wharf(&["pull", &registry.reference("from-skopeo/hello:1"), "-o", out.to_str().unwrap_or_default()], &env)
        .assert_ok();
    assert_eq!(std::fs::read(out).expect("pulled"), bytes);
}

#[test]
fn wharf_reads_a_layout_that_skopeo_wrote() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    wharf(&["push", &file, &registry.reference("src/hello:0.1.0")], &env).assert_ok();
    let layout = env.path("skopeo-layout");
    let src = format!("docker://{}/src/hello:0.1.0", registry.host());
    skopeo(&["copy", "--src-tls-verify=false", &src, &format!("oci:{}:v1", layout.display())]).assert_ok();
    let out = env.path("from-skopeo.wasm");
    let pulled =
        wharf(&["pull", &format!("oci:{}:v1", layout.display()), "-o", out.to_str().unwrap_or_default()], &env);
    pulled.assert_ok();
    assert_eq!(std::fs::read(out).expect("pulled"), bytes);
}

#[test]
fn copy_moves_any_store_to_any_store_with_digests_preserved() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let pushed = wharf(&["push", &file, "oci:one:hello-0.1.0", "--format", "json"], &env);
    pushed.assert_ok();
    let digest = pushed.json()["digest"].clone();

    // layout -> registry
    let to_registry =
        wharf(&["copy", "oci:one:hello-0.1.0", &registry.reference("wasm/hello"), "--format", "json"], &env);
    to_registry.assert_ok();
    assert_eq!(to_registry.json()["digest"], digest);
    assert_eq!(to_registry.json()["tags"][0], "hello-0.1.0", "the source tag is kept");

    // registry -> registry on the same registry: blobs are mounted, not sent.
    let mounted = wharf(
        &[
            "copy",
            &registry.reference("wasm/hello:hello-0.1.0"),
            &registry.reference("mirror/hello:1"),
            "--format",
            "json",
        ],
        &env,
    );
    mounted.assert_ok();
    let report = mounted.json();
    assert_eq!(report["digest"], digest);
    assert_eq!(report["transfer"]["mounted"].as_array().map(Vec::len), Some(2), "{report}");
    assert_eq!(report["transfer"]["bytesCopied"], 0);

    // registry -> layout
    let to_layout = wharf(&["copy", &registry.reference("mirror/hello:1"), "oci:two", "--format", "json"], &env);
    to_layout.assert_ok();
    assert_eq!(to_layout.json()["digest"], digest);
    let out = env.path("two.wasm");
    wharf(&["pull", "oci:two:1", "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(out).expect("pulled"), bytes);

    // Copying again: the tag already points at the digest, so only that one lookup is made.
    let again = wharf(&["copy", "oci:one:hello-0.1.0", &registry.reference("wasm/hello"), "--format", "json"], &env);
    again.assert_ok();
    let transfer = &again.json()["transfer"];
    assert_eq!(transfer["skipped"], serde_json::json!([digest]), "{transfer}");
    assert_eq!(transfer["copied"].as_array().map(Vec::len), Some(0), "{transfer}");

    // Under a new tag: the blobs are found present and skipped, only the manifest is sent.
    let retag =
        wharf(&["copy", "oci:one:hello-0.1.0", &registry.reference("wasm/hello:again"), "--format", "json"], &env);
    retag.assert_ok();
    let transfer = &retag.json()["transfer"];
    assert_eq!(transfer["skipped"].as_array().map(Vec::len), Some(2), "{transfer}");
    assert_eq!(transfer["copied"], serde_json::json!([digest]), "{transfer}");
    assert_eq!(transfer["bytesCopied"], 0, "{transfer}");
}

#[test]
fn concurrent_pushes_into_one_layout_keep_every_tag() {
    let env = TestEnv::new();
    let (file, _) = component(&env);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut cmd = env.command(registry_tests::wharf_bin());
            cmd.args(["push", &file, &format!("oci:shared:tag-{i}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cmd.spawn().expect("spawn wharf")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait for wharf").success());
    }
    let index = read_json(&env.path("shared/index.json"));
    let mut names: Vec<String> = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["annotations"]["org.opencontainers.image.ref.name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, (0..8).map(|i| format!("tag-{i}")).collect::<Vec<_>>());
}

/// Every blob under `layout` hashes to its file name, and `index.json` (if there is one) parses.
fn assert_layout_consistent(layout: &std::path::Path) {
    let blobs = layout.join("blobs").join("sha256");
    for entry in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // a temp file a killed writer left: never a blob name
        }
        let bytes = std::fs::read(entry.path()).expect("read blob");
        assert_eq!(sha256_digest(&bytes), format!("sha256:{name}"), "blob {name} is not what its name says");
    }
    if let Ok(text) = std::fs::read(layout.join("index.json")) {
        serde_json::from_slice::<Value>(&text).expect("index.json is whole JSON");
    }
}

#[test]
fn a_push_killed_at_any_moment_leaves_a_valid_layout() {
    let env = TestEnv::new();
    let big = wharf_examples::build_sized_component(24 << 20).expect("a 24 MiB component");
    let file = env.write("big.wasm", &big);
    let layout = env.path("store");
    let target = format!("oci:{}:big", layout.display());
    for delay_ms in [20u64, 60, 120, 250, 500] {
        let mut cmd = env.command(registry_tests::wharf_bin());
        cmd.args(["push", file.to_str().unwrap_or_default(), &target])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().expect("start wharf push");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no cleanup runs
        let _ = child.wait();
        assert_layout_consistent(&layout);
    }
    // After all that, a push completes and the layout serves the exact bytes.
    wharf(&["push", file.to_str().unwrap_or_default(), &target], &env).assert_ok();
    assert_layout_consistent(&layout);
    let out = env.path("back.wasm");
    wharf(&["pull", &target, "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), big);
}
