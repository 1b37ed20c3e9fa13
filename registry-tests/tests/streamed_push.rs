//! A fresh push uploads the file while it validates and hashes it (issue 18):
//! the layer goes by one streamed `PATCH` before the closing `PUT ?digest=`; a
//! file that turns out invalid late has its upload cancelled and nothing
//! tagged; a failed `PATCH` falls back to the upload after validation.

use registry_tests::fault_proxy::{Fault, FaultProxy, Rule};
use registry_tests::{Registry, TestEnv, registry_get, sha256_digest, wharf};

/// Requests only: on loopback wharf first tries TLS, which the plain proxy logs as an error.
fn requests(proxy: &FaultProxy) -> Vec<String> {
    proxy.log().into_iter().filter(|l| !l.starts_with("proxy error")).collect()
}

/// A valid component of `size` bytes, written to `name`.
fn component(env: &TestEnv, name: &str, size: usize) -> (String, Vec<u8>) {
    let bytes = wharf_examples::build_sized_component(size).expect("build a sized component");
    (env.write(name, &bytes).to_string_lossy().into_owned(), bytes)
}

/// `component` followed by a core module section holding a module whose one
/// function body does not validate (`i64.const 0` where an `i32` is returned):
/// the file is well-formed up to its last bytes, and invalid only there.
fn invalid_at_the_end(mut component: Vec<u8>) -> Vec<u8> {
    let module: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
        0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // types: [] -> [i32]
        0x03, 0x02, 0x01, 0x00, // functions: one of type 0
        0x0a, 0x06, 0x01, 0x04, 0x00, 0x42, 0x00, 0x0b, // code: i64.const 0, end
    ];
    component.push(0x01); // a component's core module section
    component.push(module.len() as u8);
    component.extend_from_slice(module);
    component
}

fn pull_bytes(env: &TestEnv, reference: &str) -> Vec<u8> {
    let out = env.path("pulled.wasm");
    let _ = std::fs::remove_file(&out);
    wharf(&["pull", reference, "-o", out.to_str().unwrap_or_default()], env).assert_ok();
    std::fs::read(&out).expect("pulled")
}

fn index_of(log: &[String], prefix: &str) -> Option<usize> {
    log.iter().position(|l| l.starts_with(prefix))
}

#[test]
fn a_fresh_push_streams_the_layer_by_patch_before_the_closing_put() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env, "big.wasm", 6 << 20);
    let digest = sha256_digest(&bytes);
    let hex = digest.trim_start_matches("sha256:");

    let pushed = wharf(&["push", &file, &format!("{}/streamed/app:1", proxy.host()), "--format", "json"], &env);
    pushed.assert_ok();
    let log = requests(&proxy);
    let patch = index_of(&log, "PATCH /v2/streamed/app/blobs/uploads/").expect("the layer went by PATCH");
    let close = log
        .iter()
        .position(|l| {
            l.starts_with("PUT /v2/streamed/app/blobs/uploads/") && l.contains("digest=sha256") && l.contains(hex)
        })
        .unwrap_or_else(|| panic!("the upload was closed with PUT ?digest= of the layer: {log:#?}"));
    assert!(patch < close, "{log:#?}");
    assert_eq!(log.iter().filter(|l| l.starts_with("PATCH ")).count(), 1, "one streamed PATCH: {log:#?}");
    // Not sent again, nor checked: no HEAD or second upload of the layer.
    assert!(!log.iter().any(|l| l.contains("/blobs/sha256") && l.contains(hex)), "{log:#?}");
    let transfer = &pushed.json()["transfer"];
    assert!(
        transfer["copied"].as_array().is_some_and(|c| c.iter().any(|d| d == &digest)),
        "reported as copied: {pushed}"
    );
    assert!(transfer["bytesCopied"].as_u64() > Some(bytes.len() as u64), "{pushed}");
    assert_eq!(pull_bytes(&env, &registry.reference("streamed/app:1")), bytes);

    // The same artifact as without streaming (a layout push never streams).
    let layout = env.path("layout");
    let local = wharf(&["push", &file, &format!("oci:{}:1", layout.display()), "--format", "json"], &env);
    local.assert_ok();
    assert_eq!(local.json()["digest"], pushed.json()["digest"], "{local}\n{pushed}");
}

#[test]
fn a_file_invalid_late_cancels_its_upload_and_tags_nothing() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let bytes = invalid_at_the_end(wharf_examples::build_sized_component(6 << 20).expect("build"));
    let file = env.write("late.wasm", &bytes).to_string_lossy().into_owned();

    let run = wharf(&["push", &file, &format!("{}/invalid/app:1", proxy.host())], &env);
    // The error a push without streaming gives (a layout push never streams), and its exit code.
    let layout = env.path("layout");
    let today = wharf(&["push", &file, &format!("oci:{}:1", layout.display())], &env);
    today.assert_failed_at_once("type mismatch");
    run.assert_failed_at_once("type mismatch");
    assert_eq!(run.stderr, today.stderr.replace(&layout.display().to_string(), ""), "{run}\n{today}");

    let log = requests(&proxy);
    assert!(index_of(&log, "POST /v2/invalid/app/blobs/uploads/").is_some(), "the upload had begun: {log:#?}");
    let cancel = index_of(&log, "DELETE /v2/invalid/app/blobs/uploads/").expect("the upload session was cancelled");
    assert!(log[cancel].contains("forwarded"), "{log:#?}");
    assert!(!log.iter().any(|l| l.starts_with("PUT ")), "nothing closed or tagged: {log:#?}");
    let (status, _, _) = registry_get(&registry.host(), "/v2/invalid/app/manifests/1", "*/*");
    assert_eq!(status, 404, "no tag");
    let (status, _, _) =
        registry_get(&registry.host(), &format!("/v2/invalid/app/blobs/{}", sha256_digest(&bytes)), "*/*");
    assert_eq!(status, 404, "no blob of the file's digest");
}

#[test]
fn a_patch_answered_503_falls_back_and_the_push_is_exact() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env, "big.wasm", 6 << 20);
    proxy.add(Rule { method: Some("PATCH".into()), path: "/blobs/uploads/".into(), times: 1, fault: status(503) });

    wharf(&["push", &file, &format!("{}/fallback/app:1", proxy.host())], &env).assert_ok();
    let log = requests(&proxy);
    assert_eq!(proxy.faults_served(), 1, "the streamed PATCH met the 503: {log:#?}");
    assert!(
        index_of(&log, "DELETE /v2/fallback/app/blobs/uploads/").is_some(),
        "the failed upload is cancelled: {log:#?}"
    );
    assert_eq!(pull_bytes(&env, &registry.reference("fallback/app:1")), bytes);
}

/// Below 4 MiB a file is validated first, then sent (its scan costs less than a `PATCH`).
#[test]
fn a_small_file_is_validated_then_sent_in_one_put() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env, "small.wasm", 1 << 20);
    wharf(&["push", &file, &format!("{}/small/app:1", proxy.host())], &env).assert_ok();
    let log = requests(&proxy);
    assert!(!log.iter().any(|l| l.starts_with("PATCH ")), "{log:#?}");
    assert_eq!(pull_bytes(&env, &registry.reference("small/app:1")), bytes);
}

#[test]
fn a_cut_streamed_upload_falls_back_and_the_push_is_exact() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env, "big.wasm", 6 << 20);
    // The registry's answer to the PATCH never arrives whole: the connection is reset.
    let cut =
        Rule { method: Some("PATCH".into()), path: "/blobs/uploads/".into(), times: 1, fault: Fault::CutBodyAfter(0) };
    proxy.add(cut);

    wharf(&["push", &file, &format!("{}/cut/app:1", proxy.host())], &env).assert_ok();
    assert_eq!(proxy.faults_served(), 1, "{:#?}", proxy.log());
    assert_eq!(pull_bytes(&env, &registry.reference("cut/app:1")), bytes);
}

fn status(code: u16) -> Fault {
    Fault::Status(code, Vec::new())
}

/// A push with `--chunk-index` streams too: the index is cut from the staged file once the layer
/// is up, and attached; the artifact is the same as without the flag.
#[test]
fn a_fresh_push_with_a_chunk_index_streams_and_attaches_the_index() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env, "big.wasm", 6 << 20);
    let args = ["push", &file, &format!("{}/indexed/app:1", proxy.host()), "--chunk-index", "--format", "json"];
    let pushed = wharf(&args, &env);
    pushed.assert_ok();
    let log = requests(&proxy);
    assert_eq!(log.iter().filter(|l| l.starts_with("PATCH ")).count(), 1, "one streamed PATCH: {log:#?}");
    let report = pushed.json();
    assert!(report["chunkIndex"]["digest"].is_string(), "the index is attached: {report}");
    assert_eq!(pull_bytes(&env, &registry.reference("indexed/app:1")), bytes);
    let plain = wharf(&["push", &file, &registry.reference("plain/app:1"), "--format", "json"], &env);
    plain.assert_ok();
    assert_eq!(plain.json()["digest"], report["digest"], "the same artifact with and without the index");
}

/// A lying registry names an upload `Location` on another origin: the streamed `PATCH` goes there
/// without the registry's credentials (they stay with the registry's origin), and so does the
/// fallback upload. The registry is a scripted server asking for basic auth; the other origin
/// records what it hears and refuses it.
#[test]
fn a_streamed_upload_sent_to_another_origin_carries_no_credentials() {
    use registry_tests::scripted::{Answer, ScriptedServer};
    use registry_tests::wharf_stdin;
    let loopback = "127.0.0.1".parse().expect("loopback");
    let elsewhere = ScriptedServer::start(loopback, |_| Answer::status(500, &[]));
    let upload = format!("{}/uploads/1", elsewhere.url());
    let registry = ScriptedServer::start(loopback, move |r| match (r.method.as_str(), r.authorization()) {
        (_, None) => Answer::challenge("Basic realm=\"registry\""),
        ("GET", _) if r.path == "/v2/" => Answer::status(200, &[]),
        ("POST", _) if r.path.contains("/blobs/uploads/") => Answer::status(202, &[("Location", upload.as_str())]),
        _ => Answer::status(404, &[]),
    });
    let env = TestEnv::new();
    let (file, _) = component(&env, "big.wasm", 6 << 20);
    let args = ["push", &file, &format!("{}/lying/app:1", registry.host()), "-u", "ci", "--password-stdin"];
    let pushed = wharf_stdin(&args, &env, "s3cret\n");
    assert!(!pushed.success(), "{pushed}");
    assert!(
        registry.requests().iter().any(|r| r.authorization().is_some()),
        "the registry itself got the credentials: {:#?}",
        registry.requests()
    );
    let heard = elsewhere.requests();
    assert!(heard.iter().any(|r| r.method == "PATCH"), "the streamed PATCH went to the Location: {heard:#?}");
    let leaked: Vec<_> = heard.iter().filter(|r| r.authorization().is_some()).collect();
    assert!(leaked.is_empty(), "the other origin got the registry's credentials: {leaked:#?}");
}
