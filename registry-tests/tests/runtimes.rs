//! One artifact for every runtime: `push --index` against a real registry,
//! read back raw and through wharf and skopeo.

use registry_tests::{Registry, TestEnv, python_peer, registry_get, registry_get_json, sha256_digest, skopeo, wharf};
use serde_json::{Value, json};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[test]
fn push_index_tags_an_index_with_one_wasm_entry_that_pulls_and_runs() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    let file = env.write("hello.wasm", &bytes);
    let file = file.to_str().unwrap_or_default();
    let reference = registry.reference("wasm/hello:0.1.0");

    let pushed = wharf(&["push", file, &reference, "--index", "--format", "json"], &env);
    pushed.assert_ok();
    let report = pushed.json();
    let manifest_digest = report["digest"].as_str().unwrap_or_default().to_string();
    let index_digest = report["index"]["digest"].as_str().unwrap_or_default().to_string();
    assert!(manifest_digest.starts_with("sha256:") && index_digest.starts_with("sha256:"), "{report}");
    assert_ne!(manifest_digest, index_digest);
    assert_eq!(report["reference"], format!("{}/wasm/hello@{index_digest}", registry.host()));
    assert_eq!(report["index"]["platform"], json!({"architecture": "wasm", "os": "wasip2"}));

    // The manifest is the one a plain push makes: same digest.
    let plain = wharf(&["push", file, "oci:plain:x", "--format", "json"], &env);
    plain.assert_ok();
    assert_eq!(plain.json()["digest"], manifest_digest.as_str());

    // The tag names the index; raw bytes field by field.
    let (index_bytes, index) =
        registry_get_json(&registry.host(), "/v2/wasm/hello/manifests/0.1.0", &format!("{INDEX}, {MANIFEST}"));
    assert_eq!(sha256_digest(&index_bytes), index_digest);
    let (manifest_bytes, _) =
        registry_get_json(&registry.host(), &format!("/v2/wasm/hello/manifests/{manifest_digest}"), MANIFEST);
    let expected = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{manifest_digest}","size":{},"platform":{{"architecture":"wasm","os":"wasip2"}}}}]}}"#,
        manifest_bytes.len()
    );
    assert_eq!(String::from_utf8_lossy(&index_bytes), expected, "deterministic index bytes");
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], INDEX);
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(index["manifests"][0]["digest"], manifest_digest.as_str());

    // A second push gives the same index digest (reproducible).
    let again = wharf(&["push", file, &registry.reference("other/hello:1"), "--index", "--format", "json"], &env);
    again.assert_ok();
    assert_eq!(again.json()["index"]["digest"], index_digest.as_str());

    // wharf pull resolves the index to its wasm entry: identical bytes that run.
    let out = env.path("pulled.wasm");
    let pulled = wharf(&["pull", &reference, "-o", out.to_str().unwrap_or_default(), "--format", "json"], &env);
    pulled.assert_ok();
    assert_eq!(pulled.json()["digest"], manifest_digest.as_str());
    assert_eq!(std::fs::read(&out).expect("pulled file"), bytes);
    let ran = python_peer("run_component.py", &[out.to_str().unwrap_or_default(), "greet", "Alice"]);
    ran.assert_ok();
    assert_eq!(ran.stdout.trim(), "Hello, Alice!");

    // inspect says it read an index.
    let inspected = wharf(&["inspect", &reference, "--format", "json"], &env);
    inspected.assert_ok();
    let doc = inspected.json();
    assert_eq!(doc["index"]["digest"], index_digest.as_str(), "{doc}");
    assert_eq!(doc["digest"], manifest_digest.as_str());
    let text = wharf(&["inspect", &reference], &env);
    text.assert_ok();
    assert!(text.stdout.contains(&format!("index:      {index_digest}")), "{}", text.stdout);

    // skopeo reads the index raw, and resolves the platform entry.
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")]);
    raw.assert_ok();
    assert_eq!(raw.stdout.as_bytes(), index_bytes.as_slice());
    let dir = env.path("skopeo-out");
    let copied = skopeo(&[
        "copy",
        "--override-os",
        "wasip2",
        "--override-arch",
        "wasm",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{}:t", dir.display()),
    ]);
    copied.assert_ok();
    let (_, layout_index) = {
        let bytes = std::fs::read(dir.join("index.json")).expect("skopeo wrote index.json");
        let value: Value = serde_json::from_slice(&bytes).expect("index.json is JSON");
        (bytes, value)
    };
    // skopeo copied the platform entry's manifest, byte for byte.
    assert_eq!(layout_index["manifests"][0]["digest"], manifest_digest.as_str(), "{layout_index}");
}

#[test]
fn push_index_of_a_core_module_uses_wasip1() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    let file = env.write("add.wasm", &bytes);
    let reference = registry.reference("wasm/add:1");
    let pushed = wharf(&["push", file.to_str().unwrap_or_default(), &reference, "--index", "--format", "json"], &env);
    pushed.assert_ok();
    let (_, index) = registry_get_json(&registry.host(), "/v2/wasm/add/manifests/1", INDEX);
    assert_eq!(index["manifests"][0]["platform"], json!({"architecture": "wasm", "os": "wasip1"}));
    assert_eq!(index["manifests"][0]["digest"], pushed.json()["digest"]);
    let out = env.path("add.wasm.out");
    wharf(&["pull", &reference, "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled file"), bytes);
}

const RUNWASI_LAYER: &str = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";

/// `wharf convert SRC DST --to SHAPE --format json`, which must succeed; its report.
fn convert(env: &TestEnv, src: &str, dst: &str, shape: &str) -> Value {
    let run = wharf(&["convert", src, dst, "--to", shape, "--format", "json"], env);
    run.assert_ok();
    run.json()
}

/// Converts `src` to the CNCF form at `dst` (any references) and checks that the original
/// manifest digest comes back.
fn assert_back_to_cncf(env: &TestEnv, src: &str, dst: &str, original_digest: &str) {
    let back = convert(env, src, dst, "cncf");
    assert_eq!(back["digest"], original_digest, "{back}");
}

/// Pushes `file` as CNCF to `repo:tag`, converts it to runwasi's form and
/// back, checking every field and that the Wasm blob is reused.
fn convert_round_trip(registry: &Registry, env: &TestEnv, file: &str, bytes: &[u8], repo: &str) {
    let wasm_digest = sha256_digest(bytes);
    let title = std::path::Path::new(file).file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let original = wharf(&["push", file, &registry.reference(&format!("{repo}:cncf")), "--format", "json"], env);
    original.assert_ok();
    let original_digest = original.json()["digest"].as_str().unwrap_or_default().to_string();
    let (_, original_manifest) = registry_get_json(&registry.host(), &format!("/v2/{repo}/manifests/cncf"), MANIFEST);

    // To runwasi's OCI-layer form, in the same repository: the Wasm blob is not sent again.
    let report = convert(
        env,
        &registry.reference(&format!("{repo}:cncf")),
        &registry.reference(&format!("{repo}:runwasi")),
        "runwasi",
    );
    assert_eq!(report["shape"], "runwasi-oci", "{report}");
    assert_eq!(report["wasmDigest"], wasm_digest.as_str());
    let copied: Vec<&str> =
        report["transfer"]["copied"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(!copied.contains(&wasm_digest.as_str()), "the wasm blob was re-sent: {report}");

    let (manifest_bytes, manifest) =
        registry_get_json(&registry.host(), &format!("/v2/{repo}/manifests/runwasi"), MANIFEST);
    assert_eq!(sha256_digest(&manifest_bytes), report["digest"].as_str().unwrap_or_default());
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], RUNWASI_LAYER);
    assert_eq!(layers[0]["digest"], wasm_digest.as_str(), "same wasm blob digest");
    assert_eq!(layers[0]["size"], bytes.len());
    // The original CNCF facts ride along for the way back.
    let carried = &manifest["annotations"];
    assert_eq!(carried["org.opencontainers.image.created"], "1970-01-01T00:00:00Z");
    assert_eq!(carried["dev.wharf.cncf.title"], title.as_str());
    let carried_annotations: Value =
        serde_json::from_str(carried["dev.wharf.cncf.annotations"].as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(carried_annotations, original_manifest["annotations"]);

    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    let (config_bytes, config) =
        registry_get_json(&registry.host(), &format!("/v2/{repo}/blobs/{config_digest}"), "*/*");
    assert_eq!(sha256_digest(&config_bytes), config_digest);
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip1");
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["config"]["Entrypoint"], json!([title]));
    // runwasi's oci-tar-builder: sha256 hex of the concatenated layer digest hexes.
    let unique = registry_tests::sha256_hex(wasm_digest.trim_start_matches("sha256:").as_bytes());
    assert_eq!(config["config"]["Labels"]["containerd.runwasi.layers"], unique.as_str());
    assert_eq!(config["rootfs"], json!({"type": "layers", "diff_ids": []}));

    // wharf pull reads it: identical bytes.
    let out = env.path(&format!("{title}.runwasi"));
    wharf(&["pull", &registry.reference(&format!("{repo}:runwasi")), "-o", out.to_str().unwrap_or_default()], env)
        .assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);

    // inspect names the shape and the runtimes that read it.
    let inspected = wharf(&["inspect", &registry.reference(&format!("{repo}:runwasi")), "--format", "json"], env);
    inspected.assert_ok();
    assert_eq!(inspected.json()["runtimeShape"], "runwasi-oci");
    assert_eq!(inspected.json()["runtimes"], json!(["runwasi (containerd shims, OCI-layer mode)"]));
    let inspected = wharf(&["inspect", &registry.reference(&format!("{repo}:cncf")), "--format", "json"], env);
    assert_eq!(inspected.json()["runtimeShape"], "cncf-wasm-v0");
    assert!(inspected.json()["runtimes"].as_array().is_some_and(|r| r.len() > 1), "{}", inspected.json());

    // Into another repository of the same registry: mounted, not sent.
    let across = convert(
        env,
        &registry.reference(&format!("{repo}:cncf")),
        &registry.reference(&format!("{repo}-rw:1")),
        "runwasi",
    );
    let mounted: Vec<&str> =
        across["transfer"]["mounted"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(mounted.contains(&wasm_digest.as_str()), "{across}");
    assert_eq!(across["transfer"]["bytesCopied"], 0, "{across}");

    // Back to CNCF: the original manifest digest, byte for byte.
    assert_back_to_cncf(
        env,
        &registry.reference(&format!("{repo}:runwasi")),
        &registry.reference(&format!("{repo}:back")),
        &original_digest,
    );
    let (back_bytes, _) = registry_get_json(&registry.host(), &format!("/v2/{repo}/manifests/back"), MANIFEST);
    assert_eq!(sha256_digest(&back_bytes), original_digest);
    // And from a layout, too (registry -> layout -> registry).
    let layout = format!("oci:{}:rw", env.path("layout").display());
    wharf(&["copy", &registry.reference(&format!("{repo}-rw:1")), &layout], env).assert_ok();
    assert_back_to_cncf(env, &layout, &registry.reference(&format!("{repo}:back2")), &original_digest);
}

#[test]
fn convert_a_component_to_runwasi_and_back_reuses_the_blob_and_restores_the_digest() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    let file = env.write("hello.wasm", &bytes);
    convert_round_trip(&registry, &env, file.to_str().unwrap_or_default(), &bytes, "wasm/hello");
}

#[test]
fn convert_a_core_module_to_runwasi_and_back() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    let file = env.write("add.wasm", &bytes);
    convert_round_trip(&registry, &env, file.to_str().unwrap_or_default(), &bytes, "wasm/add");
}

#[test]
fn convert_refuses_an_unknown_shape_and_a_foreign_image_back_to_cncf() {
    let env = TestEnv::new();
    let bad = wharf(&["convert", "oci:a:x", "oci:b:x", "--to", "wasmedge"], &env);
    bad.assert_code(2);
    assert!(bad.stderr.contains("cncf"), "{bad}");

    // A runwasi-shaped image wharf did not make carries no CNCF config: refused, naming the fix.
    let registry = Registry::start();
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    let host = registry.host();
    let layer = registry_tests::push_blob(&host, "foreign/app", &bytes);
    let config = br#"{"architecture":"wasm","os":"wasip1","config":{"Entrypoint":["app.wasm"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = registry_tests::push_blob(&host, "foreign/app", config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{RUNWASI_LAYER}","digest":"{layer}","size":{}}}]}}"#,
        config.len(),
        bytes.len()
    );
    registry_tests::push_manifest(&host, "foreign/app", "1", MANIFEST, manifest.as_bytes());
    let inspected = wharf(&["inspect", &registry.reference("foreign/app:1"), "--format", "json"], &env);
    inspected.assert_ok();
    assert_eq!(inspected.json()["runtimeShape"], "runwasi-oci");
    let refused = wharf(
        &["convert", &registry.reference("foreign/app:1"), &registry.reference("foreign/app:cncf"), "--to", "cncf"],
        &env,
    );
    refused.assert_code(2);
    assert!(refused.stderr.contains("wharf push"), "{refused}");
    // It still converts to the other shapes.
    wharf(
        &["convert", &registry.reference("foreign/app:1"), &registry.reference("foreign/app:crun"), "--to", "crun"],
        &env,
    )
    .assert_ok();
}

#[test]
fn convert_to_a_crun_image_and_back() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    let file = env.write("hello.wasm", &bytes);
    let file = file.to_str().unwrap_or_default();
    let original = wharf(&["push", file, &registry.reference("wasm/hello:cncf"), "--format", "json"], &env);
    original.assert_ok();
    let original_digest = original.json()["digest"].as_str().unwrap_or_default().to_string();

    let cncf = registry.reference("wasm/hello:cncf");
    let report = convert(&env, &cncf, &registry.reference("wasm/hello:crun"), "crun");
    assert_eq!(report["shape"], "crun-image", "{report}");
    // Deterministic: a second conversion gives the same digest.
    assert_eq!(convert(&env, &cncf, &registry.reference("wasm/hello:crun2"), "crun")["digest"], report["digest"]);

    let (_, manifest) = registry_get_json(&registry.host(), "/v2/wasm/hello/manifests/crun", MANIFEST);
    assert_eq!(manifest["mediaType"], MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    assert_eq!(manifest["annotations"]["module.wasm.image/variant"], "compat-smart");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    let tar_digest = layers[0]["digest"].as_str().unwrap_or_default().to_string();
    assert_ne!(tar_digest, sha256_digest(&bytes), "the tar is not the wasm blob");

    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    let (_, config) = registry_get_json(&registry.host(), &format!("/v2/wasm/hello/blobs/{config_digest}"), "*/*");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasi");
    assert_eq!(config["config"]["Entrypoint"], json!(["/app.wasm"]));
    assert_eq!(config["config"]["Labels"]["module.wasm.image/variant"], "compat-smart");
    assert_eq!(config["rootfs"], json!({"type": "layers", "diff_ids": [tar_digest]}));

    // The tar holds app.wasm, byte for byte, with fixed owner, mode and mtime (GNU tar reads it).
    let (status, _, tar) = registry_get(&registry.host(), &format!("/v2/wasm/hello/blobs/{tar_digest}"), "*/*");
    assert_eq!(status, 200);
    let tar_file = env.write("layer.tar", &tar);
    let listed = registry_tests::run_in("tar", &["-tvf", tar_file.to_str().unwrap_or_default()], &env);
    listed.assert_ok();
    assert!(
        listed.stdout.contains("-rw-r--r-- 0/0")
            && listed.stdout.contains("1970-01-01")
            && listed.stdout.trim_end().ends_with("app.wasm"),
        "{listed}"
    );
    let out = env.path("extracted");
    std::fs::create_dir_all(&out).expect("mkdir");
    registry_tests::run_in(
        "tar",
        &["-xf", tar_file.to_str().unwrap_or_default(), "-C", out.to_str().unwrap_or_default()],
        &env,
    )
    .assert_ok();
    assert_eq!(std::fs::read(out.join("app.wasm")).expect("extracted app.wasm"), bytes);

    // Back to CNCF: the wasm comes out of the tar, and the original digest is restored.
    assert_back_to_cncf(
        &env,
        &registry.reference("wasm/hello:crun"),
        &registry.reference("wasm/back:1"),
        &original_digest,
    );
    let pulled = env.path("back.wasm");
    wharf(&["pull", &registry.reference("wasm/back:1"), "-o", pulled.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&pulled).expect("pulled"), bytes);
    let inspected = wharf(&["inspect", &registry.reference("wasm/hello:crun"), "--format", "json"], &env);
    inspected.assert_ok();
    assert_eq!(inspected.json()["runtimeShape"], "crun-image");
    assert_eq!(inspected.json()["runtimes"], json!(["crun with a Wasm handler", "Docker+Wasm (deprecated by Docker)"]));
    assert_eq!(inspected.json()["layer"]["digest"], tar_digest.as_str());
}

const SPIN_WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const SPIN_LOCKED_LAYER: &str = "application/vnd.fermyon.spin.application.v1+config";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A minimal `wasi:http/proxy` world (the names Spin's HTTP trigger looks
/// for; only the types the handler's signature needs).
const PROXY_WIT: &str = "package wasi:http@0.2.0;

interface types {
  resource incoming-request;
  resource response-outparam;
}

interface incoming-handler {
  use types.{incoming-request, response-outparam};
  handle: func(request: incoming-request, response-out: response-outparam);
}

world proxy {
  export incoming-handler;
}
";

/// A component exporting `wasi:http/incoming-handler@0.2.0` (its handler does nothing).
fn build_http_component(env: &TestEnv) -> Vec<u8> {
    let wit = env.write("proxy/proxy.wit", PROXY_WIT);
    let wat = env.write(
        "proxy/handler.wat",
        r#"(module (func (export "wasi:http/incoming-handler@0.2.0#handle") (param i32 i32)))"#,
    );
    wharf_examples::build_component(&wat, &wit, "wasi:http/proxy@0.2.0").expect("build the wasi:http component")
}

/// `(module (func (export "_start")) (func (export "add")))`: a WASI command module, 46 bytes.
const COMMAND_MODULE: &[u8] = &[
    0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 3, 2, 0, 0, 7, 16, 2, 6, 95, 115, 116, 97, 114, 116, 0, 0, 3,
    97, 100, 100, 0, 1, 10, 7, 2, 2, 0, 11, 2, 0, 11,
];

/// Fetches the manifest at `repo:tag`, its config and its locked-app layer (raw bytes and JSON).
fn spin_documents(host: &str, repo: &str, tag: &str) -> (Value, Vec<u8>, Vec<u8>) {
    let (_, manifest) = registry_get_json(host, &format!("/v2/{repo}/manifests/{tag}"), MANIFEST);
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default().to_string();
    let (config, _) = registry_get_json(host, &format!("/v2/{repo}/blobs/{config_digest}"), "*/*");
    let locked_digest = manifest["layers"][1]["digest"].as_str().unwrap_or_default().to_string();
    let (locked, _) = registry_get_json(host, &format!("/v2/{repo}/blobs/{locked_digest}"), "*/*");
    (manifest, config, locked)
}

/// The expected bytes follow spinframework/spin (snapshot 94a8fc8):
/// `crates/oci/src/client.rs` (`push_locked_core`: the image config built from
/// oci-client's `ConfigFile` with `Architecture::Wasm`, `Os::Other("Wasip1")` and
/// the `com.fermyon.spin.lockedAppDigest` label; one
/// `application/vnd.wasm.content.layer.v1+wasm` layer per component, then the
/// locked app as an `application/vnd.fermyon.spin.application.v1+config` layer;
/// `all_annotations`: title/description/version/authors/created), and
/// `crates/locked-app/src/locked.rs` (`LockedApp`'s serialisation, field order,
/// `ContentRef { inline, digest }`), `crates/loader/src/local.rs`
/// (`locked_metadata`: `triggers {}` and `trigger {type}`), and
/// `crates/manifest/src/normalize.rs` (trigger id `<component>-<type>-trigger`).
#[test]
fn convert_a_wasi_http_component_to_a_spin_app_and_back() {
    let registry = Registry::start();
    let host = registry.host();
    let env = TestEnv::new();
    let bytes = build_http_component(&env);
    let wasm_digest = sha256_digest(&bytes);
    let file = env.write("api.wasm", &bytes);
    let original = wharf(
        &[
            "push",
            file.to_str().unwrap_or_default(),
            &registry.reference("wasm/api:cncf"),
            "-a",
            "org.opencontainers.image.version=1.2.0",
            "-a",
            "org.opencontainers.image.description=An HTTP API",
            "-a",
            "org.opencontainers.image.authors=Ada, Grace",
            "--format",
            "json",
        ],
        &env,
    );
    original.assert_ok();
    let original_digest = original.json()["digest"].as_str().unwrap_or_default().to_string();
    assert_eq!(original.json()["config"]["component"]["exports"], json!(["wasi:http/incoming-handler@0.2.0"]));

    let report = convert(&env, &registry.reference("wasm/api:cncf"), &registry.reference("wasm/api:spin"), "spin");
    assert_eq!(report["shape"], "spin-app", "{report}");
    assert_eq!(report["wasmDigest"], wasm_digest.as_str());
    assert_eq!(report["spin"]["component"], "api");
    assert_eq!(report["spin"]["trigger"], "http");
    let copied: Vec<&str> =
        report["transfer"]["copied"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(!copied.contains(&wasm_digest.as_str()), "the wasm blob was re-sent: {report}");

    let (manifest, config, locked) = spin_documents(&host, "wasm/api", "spin");
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "{manifest}");
    // The component layer: the same blob, Spin's type, no annotations (ImageLayer::new(.., None)).
    assert_eq!(layers[0], json!({"mediaType": SPIN_WASM_LAYER, "digest": wasm_digest, "size": bytes.len()}));
    // The locked app is the last layer, without annotations either.
    let locked_digest = sha256_digest(&locked);
    assert_eq!(layers[1], json!({"mediaType": SPIN_LOCKED_LAYER, "digest": locked_digest, "size": locked.len()}));
    // The image config, byte for byte as oci-client serialises Spin's ConfigFile.
    assert_eq!(
        String::from_utf8_lossy(&config),
        format!(
            r#"{{"architecture":"wasm","os":"Wasip1","config":{{"Labels":{{"com.fermyon.spin.lockedAppDigest":"{locked_digest}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        )
    );
    // The locked app, compact, in LockedApp's field order; metadata and trigger config keys sorted.
    assert_eq!(
        String::from_utf8_lossy(&locked),
        format!(
            r#"{{"spin_lock_version":0,"metadata":{{"authors":["Ada, Grace"],"description":"An HTTP API","name":"api","trigger":{{"type":"http"}},"triggers":{{}},"version":"1.2.0"}},"triggers":[{{"id":"api-http-trigger","trigger_type":"http","trigger_config":{{"component":"api","route":"/..."}}}}],"components":[{{"id":"api","source":{{"content_type":"application/wasm","digest":"{wasm_digest}"}}}}]}}"#
        )
    );
    // all_annotations: the explicit ones win; title is the app name; created is reproducible.
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "api");
    assert_eq!(annotations["org.opencontainers.image.version"], "1.2.0");
    assert_eq!(annotations["org.opencontainers.image.description"], "An HTTP API");
    assert_eq!(annotations["org.opencontainers.image.authors"], "Ada, Grace");
    assert_eq!(annotations["org.opencontainers.image.created"], "1970-01-01T00:00:00Z");

    // Deterministic: converting again gives the same digest.
    let again_report =
        convert(&env, &registry.reference("wasm/api:cncf"), &registry.reference("wasm/api:spin2"), "spin");
    assert_eq!(again_report["digest"], report["digest"]);

    // inspect names the shape; pull reads the component out of it.
    let inspected = wharf(&["inspect", &registry.reference("wasm/api:spin"), "--format", "json"], &env);
    inspected.assert_ok();
    assert_eq!(inspected.json()["runtimeShape"], "spin-app");
    assert_eq!(inspected.json()["runtimes"], json!(["Spin (`spin up --from`)", "containerd-shim-spin"]));
    let out = env.path("from-spin.wasm");
    wharf(&["pull", &registry.reference("wasm/api:spin"), "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);

    // Into another repository of the same registry: the wasm blob is mounted, not sent.
    let across_report = convert(&env, &registry.reference("wasm/api:cncf"), &registry.reference("spin/api:1"), "spin");
    let mounted: Vec<String> = across_report["transfer"]["mounted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(mounted.contains(&wasm_digest), "{}", across_report);

    // Back to CNCF: the original manifest digest.
    assert_back_to_cncf(
        &env,
        &registry.reference("wasm/api:spin"),
        &registry.reference("wasm/api:back"),
        &original_digest,
    );
    let (back_bytes, _) = registry_get_json(&host, "/v2/wasm/api/manifests/back", MANIFEST);
    assert_eq!(sha256_digest(&back_bytes), original_digest);
    // And through the other shapes: spin -> runwasi -> spin gives the same Spin app.
    wharf(
        &["convert", &registry.reference("wasm/api:spin"), &registry.reference("wasm/api:rw"), "--to", "runwasi"],
        &env,
    )
    .assert_ok();
    let respun_report =
        convert(&env, &registry.reference("wasm/api:rw"), &registry.reference("wasm/api:spin3"), "spin");
    assert_eq!(respun_report["digest"], report["digest"], "{}", respun_report);
}

#[test]
fn convert_to_spin_runs_commands_through_wagi_and_refuses_plain_functions() {
    let registry = Registry::start();
    let host = registry.host();
    let env = TestEnv::new();
    let file = env.write("tool.wasm", COMMAND_MODULE);
    wharf(&["push", file.to_str().unwrap_or_default(), &registry.reference("wasm/tool:1")], &env).assert_ok();
    let converted_report =
        convert(&env, &registry.reference("wasm/tool:1"), &registry.reference("wasm/tool:spin"), "spin");
    assert_eq!(converted_report["spin"]["trigger"], "wagi");
    let (manifest, _, locked) = spin_documents(&host, "wasm/tool", "spin");
    assert_eq!(manifest["layers"][0]["digest"], sha256_digest(COMMAND_MODULE));
    let locked: Value = serde_json::from_slice(&locked).expect("locked app JSON");
    assert_eq!(
        locked["triggers"][0],
        json!({"id": "tool-http-trigger", "trigger_type": "http", "trigger_config": {"component": "tool", "executor": {"type": "wagi"}, "route": "/..."}})
    );
    // Content of at most 128 bytes is also inlined, unpadded standard base64 (spin_serde::base64).
    use base64::Engine;
    let inline = base64::engine::general_purpose::STANDARD_NO_PAD.encode(COMMAND_MODULE);
    assert_eq!(
        locked["components"][0]["source"],
        json!({"content_type": "application/wasm", "inline": inline, "digest": sha256_digest(COMMAND_MODULE)})
    );

    // A component exporting only functions, and a core module without _start: Spin cannot run them.
    let hello = wharf_examples::build_hello_component().expect("build the example component");
    let module = wharf_examples::build_hello_module().expect("build the example module");
    for (name, bytes) in [("hello.wasm", hello), ("add.wasm", module)] {
        let file = env.write(name, &bytes);
        let reference = registry.reference(&format!("wasm/{}:1", name.trim_end_matches(".wasm")));
        wharf(&["push", file.to_str().unwrap_or_default(), &reference], &env).assert_ok();
        let target = registry.reference(&format!("wasm/{}:spin", name.trim_end_matches(".wasm")));
        let refused = wharf(&["convert", &reference, &target, "--to", "spin"], &env);
        refused.assert_code(2);
        assert!(refused.stderr.contains("wasi:http") && refused.stderr.contains("--for wasmtime"), "{refused}");
        let (status, _, _) =
            registry_get(&host, &format!("/v2/wasm/{}/manifests/spin", name.trim_end_matches(".wasm")), MANIFEST);
        assert_eq!(status, 404, "nothing was written for {name}");
    }
}

/// `pull --for RUNTIME -o DIR --format json`, asserting success.
fn pull_for(env: &TestEnv, reference: &str, runtime: &str, dir: &std::path::Path) -> Value {
    let run =
        wharf(&["pull", reference, "--for", runtime, "-o", dir.to_str().unwrap_or_default(), "--format", "json"], env);
    run.assert_ok();
    run.json()
}

#[test]
fn pull_for_wasmtime_from_every_shape_writes_a_component_that_runs() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    let file = env.write("hello.wasm", &bytes);
    let file = file.to_str().unwrap_or_default();
    wharf(&["push", file, &registry.reference("wasm/hello:1")], &env).assert_ok();
    wharf(&["push", file, &registry.reference("wasm/hello-index:1"), "--index"], &env).assert_ok();
    for shape in ["runwasi", "crun"] {
        let dst = registry.reference(&format!("wasm/hello:{shape}"));
        wharf(&["convert", &registry.reference("wasm/hello:1"), &dst, "--to", shape], &env).assert_ok();
    }
    let sources = [
        ("cncf", "wasm/hello:1"),
        ("index", "wasm/hello-index:1"),
        ("runwasi", "wasm/hello:runwasi"),
        ("crun", "wasm/hello:crun"),
    ];
    for (shape, repo_tag) in sources {
        let dir = env.path(&format!("for-wasmtime-{shape}"));
        let report = pull_for(&env, &registry.reference(repo_tag), "wasmtime", &dir);
        let wasm = dir.join("hello.wasm");
        assert_eq!(report["files"], json!(["hello.wasm"]), "{shape}: {report}");
        assert_eq!(report["wasmDigest"], sha256_digest(&bytes));
        assert_eq!(std::fs::read(&wasm).expect("the component"), bytes, "{shape}");
        // A component exporting functions only: `wasmtime run --invoke`, with the export named.
        assert_eq!(report["entry"], json!({"kind": "functions", "names": ["greet"]}), "{shape}");
        assert_eq!(
            report["commands"],
            json!([["wasmtime", "run", "--invoke", "greet(…)", wasm.display().to_string()]]),
            "{shape}"
        );
        let ran = python_peer("run_component.py", &[wasm.to_str().unwrap_or_default(), "greet", "Alice"]);
        ran.assert_ok();
        assert_eq!(ran.stdout.trim(), "Hello, Alice!", "{shape}");
    }

    // Text output: the command line on stdout.
    let dir = env.path("text");
    let text = wharf(
        &["pull", &registry.reference("wasm/hello:1"), "--for", "wasmtime", "-o", dir.to_str().unwrap_or_default()],
        &env,
    );
    text.assert_ok();
    assert_eq!(text.stdout.trim(), format!("wasmtime run --invoke 'greet(…)' {}", dir.join("hello.wasm").display()));

    // A core module: `wasmtime run --invoke add FILE ARGS`, and it runs.
    let module = wharf_examples::build_hello_module().expect("build the example module");
    let module_file = env.write("add.wasm", &module);
    wharf(&["push", module_file.to_str().unwrap_or_default(), &registry.reference("wasm/add:1")], &env).assert_ok();
    let dir = env.path("for-wasmtime-module");
    let report = pull_for(&env, &registry.reference("wasm/add:1"), "wasmtime", &dir);
    let wasm = dir.join("add.wasm");
    assert_eq!(report["commands"], json!([["wasmtime", "run", "--invoke", "add", wasm.display().to_string()]]));
    let ran = python_peer("run_component.py", &[wasm.to_str().unwrap_or_default(), "add", "2", "3"]);
    ran.assert_ok();
    assert_eq!(ran.stdout.trim(), "5");

    // A wasi:http handler, read from Spin's shape: `wasmtime serve`.
    let api = build_http_component(&env);
    let api_file = env.write("api.wasm", &api);
    wharf(&["push", api_file.to_str().unwrap_or_default(), &registry.reference("wasm/api:1")], &env).assert_ok();
    wharf(&["convert", &registry.reference("wasm/api:1"), &registry.reference("wasm/api:spin"), "--to", "spin"], &env)
        .assert_ok();
    let dir = env.path("for-wasmtime-spin");
    let report = pull_for(&env, &registry.reference("wasm/api:spin"), "wasmtime", &dir);
    assert_eq!(report["shape"], "image with a Wasm layer", "{report}");
    assert_eq!(report["warnings"], json!([]), "a Spin app's locked-app layer is expected: {report}");
    let inspected = wharf(&["inspect", &registry.reference("wasm/api:spin"), "--format", "json"], &env);
    inspected.assert_ok();
    let inspected = inspected.json();
    assert_eq!(inspected["runtimeShape"], "spin-app", "{inspected}");
    assert_eq!(inspected["warnings"], json!([]), "inspect counts no extra layer either: {inspected}");
    assert_eq!(std::fs::read(dir.join("api.wasm")).expect("the component"), api);
    assert_eq!(report["entry"], json!({"kind": "http", "export": "wasi:http/incoming-handler@0.2.0"}));
    assert_eq!(report["commands"], json!([["wasmtime", "serve", dir.join("api.wasm").display().to_string()]]));
}

#[test]
fn pull_for_spin_writes_a_spin_toml_beside_the_component() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let api = build_http_component(&env);
    let api_file = env.write("api.wasm", &api);
    wharf(
        &[
            "push",
            api_file.to_str().unwrap_or_default(),
            &registry.reference("wasm/api:1"),
            "-a",
            "org.opencontainers.image.version=1.2.0",
            "-a",
            "org.opencontainers.image.description=An HTTP API",
        ],
        &env,
    )
    .assert_ok();
    // The manifest format of spinframework/spin `crates/manifest/src/schema/v2.rs`: [application],
    // [[trigger.http]] with route and component, [component.<id>] with source.
    let expected = "spin_manifest_version = 2\n\n[application]\nname = \"api\"\nversion = \"1.2.0\"\ndescription = \"An HTTP API\"\n\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"api\"\n\n[component.api]\nsource = \"api.wasm\"\n";
    let dir = env.path("for-spin");
    let report = pull_for(&env, &registry.reference("wasm/api:1"), "spin", &dir);
    assert_eq!(report["files"], json!(["api.wasm", "spin.toml"]), "{report}");
    assert_eq!(std::fs::read_to_string(dir.join("spin.toml")).expect("spin.toml"), expected);
    assert_eq!(std::fs::read(dir.join("api.wasm")).expect("the component"), api);
    assert_eq!(report["commands"], json!([["spin", "up", "--from", dir.join("spin.toml").display().to_string()]]));
    assert_eq!(report["spin"]["trigger"], "http");

    // From Spin's OCI form the same app comes back.
    wharf(&["convert", &registry.reference("wasm/api:1"), &registry.reference("wasm/api:spin"), "--to", "spin"], &env)
        .assert_ok();
    let from_spin = env.path("for-spin-from-spin");
    pull_for(&env, &registry.reference("wasm/api:spin"), "spin", &from_spin);
    assert_eq!(std::fs::read_to_string(from_spin.join("spin.toml")).expect("spin.toml"), expected);

    // A command module runs through the WAGI executor.
    let tool = env.write("tool.wasm", COMMAND_MODULE);
    wharf(&["push", tool.to_str().unwrap_or_default(), &registry.reference("wasm/tool:1")], &env).assert_ok();
    let dir = env.path("for-spin-tool");
    pull_for(&env, &registry.reference("wasm/tool:1"), "spin", &dir);
    let toml = std::fs::read_to_string(dir.join("spin.toml")).expect("spin.toml");
    assert!(
        toml.contains("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"tool\"\nexecutor = { type = \"wagi\" }\n"),
        "{toml}"
    );

    // A component Spin cannot run: exit 2, and the directory is not created.
    let hello = wharf_examples::build_hello_component().expect("build the example component");
    let hello_file = env.write("hello.wasm", &hello);
    wharf(&["push", hello_file.to_str().unwrap_or_default(), &registry.reference("wasm/hello:1")], &env).assert_ok();
    let refused_dir = env.path("for-spin-hello");
    let refused = wharf(
        &["pull", &registry.reference("wasm/hello:1"), "--for", "spin", "-o", refused_dir.to_str().unwrap_or_default()],
        &env,
    );
    refused.assert_code(2);
    assert!(refused.stderr.contains("Spin cannot run this component"), "{refused}");
    assert!(!refused_dir.exists(), "nothing is written");
    assert_no_staging_left(env.dir());
}

/// No `.wharf-pull-*` staging directory is left in `dir`.
fn assert_no_staging_left(dir: &std::path::Path) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".wharf-pull-"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}

/// Reads the entries of an uncompressed tar with GNU tar: names, and each file's bytes.
fn untar(env: &TestEnv, archive: &std::path::Path, into: &str) -> (Vec<String>, std::path::PathBuf) {
    let listed = registry_tests::run_in("tar", &["-tf", archive.to_str().unwrap_or_default()], env);
    listed.assert_ok();
    let out = env.path(into);
    std::fs::create_dir_all(&out).expect("mkdir");
    registry_tests::run_in(
        "tar",
        &["-xf", archive.to_str().unwrap_or_default(), "-C", out.to_str().unwrap_or_default()],
        env,
    )
    .assert_ok();
    (listed.stdout.lines().map(str::to_string).collect(), out)
}

/// The expected layout follows runwasi's oci-tar-builder (`crates/oci-tar-builder/src/lib.rs`,
/// snapshot eb9967a): the blobs under `blobs/sha256/`, `index.json` with one manifest entry carrying
/// the platform and the `io.containerd.image.name` and `org.opencontainers.image.ref.name`
/// annotations, `oci-layout` `{"imageLayoutVersion":"1.0.0"}`, and Docker's `manifest.json`
/// (`Config`, `RepoTags`, `Layers`).
#[test]
fn pull_for_runwasi_writes_the_oci_archive_ctr_imports() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    let wasm_digest = sha256_digest(&bytes);
    let file = env.write("hello.wasm", &bytes);
    wharf(&["push", file.to_str().unwrap_or_default(), &registry.reference("wasm/hello:1")], &env).assert_ok();
    // The manifest in the archive is the one `convert --to runwasi` writes: same digest.
    let converted_report =
        convert(&env, &registry.reference("wasm/hello:1"), &registry.reference("wasm/hello:rw"), "runwasi");
    let runwasi_digest = converted_report["digest"].as_str().unwrap_or_default().to_string();

    for (case, source) in [("cncf", "wasm/hello:1"), ("runwasi", "wasm/hello:rw")] {
        let dir = env.path(&format!("for-runwasi-{case}"));
        let report = pull_for(&env, &registry.reference(source), "runwasi", &dir);
        let archive = dir.join("hello.tar");
        assert_eq!(report["files"], json!(["hello.tar"]), "{report}");
        let image = format!(
            "{}:{}",
            registry.reference(source).rsplit_once(':').map_or("", |(r, _)| r),
            source.rsplit(':').next().unwrap_or_default()
        );
        assert_eq!(
            report["commands"],
            json!([
                ["ctr", "images", "import", "--all-platforms", archive.display().to_string()],
                ["ctr", "run", "--rm", "--runtime=io.containerd.wasmtime.v1", image, "hello"]
            ])
        );
        let (names, out) = untar(&env, &archive, &format!("untarred-{case}"));
        let index: Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index.json")).expect("JSON");
        assert_eq!(index["schemaVersion"], 2);
        assert_eq!(index["mediaType"], INDEX);
        let entry = &index["manifests"][0];
        assert_eq!(index["manifests"].as_array().map(Vec::len), Some(1));
        assert_eq!(entry["mediaType"], MANIFEST);
        assert_eq!(entry["digest"], runwasi_digest.as_str(), "{case}");
        assert_eq!(entry["platform"], json!({"architecture": "wasm", "os": "wasip1"}));
        assert_eq!(
            entry["annotations"],
            json!({"io.containerd.image.name": image, "org.opencontainers.image.ref.name": source.rsplit(':').next().unwrap_or_default()})
        );
        assert_eq!(
            std::fs::read_to_string(out.join("oci-layout")).expect("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
        // Every blob is named by its digest; the manifest's layer is the wasm, byte for byte.
        let manifest_path = out.join("blobs/sha256").join(runwasi_digest.trim_start_matches("sha256:"));
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest blob")).expect("JSON");
        for name in names.iter().filter(|n| n.starts_with("blobs/sha256/")) {
            let blob = std::fs::read(out.join(name)).expect("blob");
            assert_eq!(sha256_digest(&blob).trim_start_matches("sha256:"), name.trim_start_matches("blobs/sha256/"));
        }
        assert_eq!(manifest["layers"][0]["mediaType"], RUNWASI_LAYER);
        assert_eq!(manifest["layers"][0]["digest"], wasm_digest.as_str());
        assert_eq!(
            std::fs::read(out.join("blobs/sha256").join(wasm_digest.trim_start_matches("sha256:"))).expect("wasm"),
            bytes
        );
        let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
        let docker: Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest.json")).expect("JSON");
        assert_eq!(
            docker,
            json!([{
                "Config": format!("blobs/sha256/{}", config_digest.trim_start_matches("sha256:")),
                "RepoTags": [image],
                "Layers": [format!("blobs/sha256/{}", wasm_digest.trim_start_matches("sha256:"))]
            }])
        );
        let mut sorted = names.clone();
        sorted.sort();
        let mut expected = vec![
            "index.json".to_string(),
            "manifest.json".to_string(),
            "oci-layout".to_string(),
            format!("blobs/sha256/{}", wasm_digest.trim_start_matches("sha256:")),
            format!("blobs/sha256/{}", config_digest.trim_start_matches("sha256:")),
            format!("blobs/sha256/{}", runwasi_digest.trim_start_matches("sha256:")),
        ];
        expected.sort();
        assert_eq!(sorted, expected);
        // skopeo reads the archive as an OCI layout and finds the same manifest.
        let raw = skopeo(&["inspect", "--raw", &format!("oci-archive:{}", archive.display())]);
        raw.assert_ok();
        assert_eq!(sha256_digest(raw.stdout.as_bytes()), runwasi_digest);
    }
}

#[test]
fn pull_for_refuses_bad_output_and_unknown_runtimes_writing_nothing() {
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    let file = env.write("hello.wasm", &bytes);
    let layout = format!("oci:{}:1", env.path("store").display());
    wharf(&["push", file.to_str().unwrap_or_default(), &layout], &env).assert_ok();

    // -o names a file: exit 2, the file untouched.
    let taken = env.write("taken", b"keep me");
    let refused = wharf(&["pull", &layout, "--for", "wasmtime", "-o", taken.to_str().unwrap_or_default()], &env);
    refused.assert_code(2);
    assert!(refused.stderr.contains("is a file") && refused.stderr.contains("directory"), "{refused}");
    assert_eq!(std::fs::read(&taken).expect("taken"), b"keep me");

    // An unknown runtime: exit 2, naming the choices, nothing created.
    let dir = env.path("out");
    let unknown = wharf(&["pull", &layout, "--for", "docker", "-o", dir.to_str().unwrap_or_default()], &env);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("wasmtime, spin or runwasi"), "{unknown}");
    assert!(!dir.exists());

    // A missing parent directory: exit 2.
    let deep = env.path("no/such/dir");
    wharf(&["pull", &layout, "--for", "wasmtime", "-o", deep.to_str().unwrap_or_default()], &env).assert_code(2);
    assert!(!env.path("no").exists());

    // Into an existing directory: the files are added beside what is there, no staging left.
    let existing = env.path("existing");
    std::fs::create_dir_all(&existing).expect("mkdir");
    std::fs::write(existing.join("other.txt"), b"other").expect("write");
    pull_for(&env, &layout, "wasmtime", &existing);
    assert_eq!(std::fs::read(existing.join("hello.wasm")).expect("pulled"), bytes);
    assert_eq!(std::fs::read(existing.join("other.txt")).expect("kept"), b"other");
    assert_no_staging_left(&existing);
    assert_no_staging_left(env.dir());
}

/// A containerd daemon of our own (root, state and socket in a temp dir, CRI off), stopped on drop.
struct Containerd {
    child: std::process::Child,
    socket: String,
    dir: tempfile::TempDir,
}

impl Containerd {
    fn start(env: &TestEnv) -> Containerd {
        let dir = tempfile::Builder::new().prefix("ctd").tempdir_in("/tmp").expect("temp dir");
        let d = dir.path().display().to_string();
        let socket = format!("{d}/c.sock");
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n"
        );
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).expect("write the containerd config");
        let log = std::fs::File::create(dir.path().join("log")).expect("log file");
        let mut cmd = env.command("containerd");
        cmd.arg("--config").arg(&config_path).stdout(log.try_clone().expect("log")).stderr(log);
        let child = cmd.spawn().expect("start containerd (Debian package `containerd`)");
        let daemon = Containerd { child, socket, dir };
        for _ in 0..200 {
            if daemon.ctr(env, &["version"]).success() {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "containerd did not come up: {}",
            std::fs::read_to_string(daemon.dir.path().join("log")).unwrap_or_default()
        );
    }

    fn ctr(&self, env: &TestEnv, args: &[&str]) -> registry_tests::Run {
        let mut all = vec!["-a", self.socket.as_str()];
        all.extend_from_slice(args);
        registry_tests::run_in("ctr", &all, env)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// containerd itself (Debian 12's 1.6.20) imports the archive: the image is named and
/// platformed from index.json, and its content is the same wasm blob. Unpacking is left out:
/// containerd before 1.6.25 / 1.7.7 rejects an image whose rootfs lists no layers ("mismatched
/// image rootfs and manifest layers", runwasi `docs/src/getting-started/demos.md`), and no
/// runwasi shim is installable here to run it.
#[test]
fn pull_for_runwasi_archive_imports_into_containerd() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    let wasm_digest = sha256_digest(&bytes);
    let file = env.write("hello.wasm", &bytes);
    let reference = registry.reference("wasm/hello:1");
    wharf(&["push", file.to_str().unwrap_or_default(), &reference], &env).assert_ok();
    let dir = env.path("img");
    pull_for(&env, &reference, "runwasi", &dir);
    let archive = dir.join("hello.tar");
    let converted_report = convert(&env, &reference, &registry.reference("wasm/hello:rw"), "runwasi");
    let runwasi_digest = converted_report["digest"].as_str().unwrap_or_default().to_string();

    let containerd = Containerd::start(&env);
    let imported = containerd
        .ctr(&env, &["images", "import", "--all-platforms", "--no-unpack", archive.to_str().unwrap_or_default()]);
    imported.assert_ok();
    let listed = containerd.ctr(&env, &["images", "ls"]);
    listed.assert_ok();
    let row = listed.stdout.lines().find(|l| l.starts_with(&format!("{reference} "))).unwrap_or_default().to_string();
    assert!(
        row.contains(&runwasi_digest) && row.contains("wasip1/wasm") && row.contains(MANIFEST),
        "the image, named from index.json, with the runwasi manifest and its platform: {listed}"
    );
    let content = containerd.ctr(&env, &["content", "ls"]);
    content.assert_ok();
    // containerd verifies each blob against its digest on import: the same wasm blob is in its store.
    assert!(content.stdout.lines().any(|l| l.starts_with(&wasm_digest)), "{content}");
}
