//! Faults between wharf and a real registry, injected by the harness's proxy:
//! transient ones are retried and the result is exact; persistent ones end
//! with a clear error and nothing written at the destination.

use registry_tests::fault_proxy::{Fault, FaultProxy, Rule};
use registry_tests::{Registry, Run, TestEnv, registry_get, sha256_digest, wharf};

fn rule(method: &str, path: &str, times: usize, fault: Fault) -> Rule {
    Rule { method: Some(method.into()), path: path.into(), times, fault }
}

fn status(code: u16) -> Fault {
    Fault::Status(code, Vec::new())
}

fn component(env: &TestEnv) -> (String, Vec<u8>) {
    // Big enough that a cut body is really mid-stream.
    let bytes = wharf_examples::build_sized_component(1 << 20).expect("build a 1 MiB component");
    (env.write("big.wasm", &bytes).to_string_lossy().into_owned(), bytes)
}

fn assert_failed_cleanly(run: &Run, needle: &str) {
    run.assert_code(2);
    // Retries are announced as warnings first; the outcome is the `error:` line.
    assert!(run.stderr.lines().any(|l| l.starts_with("error: ")), "{run}");
    assert!(run.stderr.contains(needle), "expected {needle:?}:\n{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
}

#[test]
fn transient_5xx_and_429_on_upload_are_retried() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    proxy.add(rule("POST", "/blobs/uploads/", 2, status(503)));
    proxy.add(rule("PUT", "/blobs/uploads/", 1, Fault::Status(429, vec![("Retry-After".into(), "1".into())])));
    proxy.add(rule("PUT", "/manifests/", 1, status(502)));

    let pushed = wharf(&["push", &file, &format!("{}/faulty/app:1", proxy.host()), "--format", "json"], &env);
    pushed.assert_ok();
    assert_eq!(proxy.faults_served(), 4, "{:#?}", proxy.log());

    // What landed is exact: pull straight from the registry, no proxy.
    let out = env.path("back.wasm");
    wharf(&["pull", &registry.reference("faulty/app:1"), "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
}

#[test]
fn a_connection_reset_mid_blob_is_retried_and_the_pull_is_exact() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    wharf(&["push", &file, &registry.reference("reset/app:1")], &env).assert_ok();
    let proxy = FaultProxy::start(&registry.host());
    let layer = sha256_digest(&bytes);
    proxy.add(rule("GET", &format!("/blobs/{layer}"), 2, Fault::CutBodyAfter(300_000)));

    let out = env.path("pulled.wasm");
    let pulled =
        wharf(&["pull", &format!("{}/reset/app:1", proxy.host()), "-o", out.to_str().unwrap_or_default()], &env);
    pulled.assert_ok();
    assert_eq!(proxy.faults_served(), 2, "{:#?}", proxy.log());
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
}

#[test]
fn persistent_faults_fail_clearly_and_write_nothing() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    wharf(&["push", &file, &registry.reference("broken/app:1")], &env).assert_ok();
    let proxy = FaultProxy::start(&registry.host());
    let layer = sha256_digest(&bytes);
    let out = env.path("out.wasm");
    let out_arg = out.to_str().unwrap_or_default().to_string();
    let via_proxy = format!("{}/broken/app:1", proxy.host());

    // Resets on every attempt: a bounded number of tries, then a clear error.
    proxy.add(rule("GET", &format!("/blobs/{layer}"), 100, Fault::CutBodyAfter(1000)));
    assert_failed_cleanly(&wharf(&["pull", &via_proxy, "-o", &out_arg], &env), "transfer of");
    let tries = proxy.faults_served();
    assert!((2..=6).contains(&tries), "retries are bounded: {tries}");
    assert!(!out.exists());

    // Bytes that do not match the digest are never retried into success and never written.
    proxy.clear();
    proxy.add(rule("GET", &format!("/blobs/{layer}"), 100, Fault::CorruptBody));
    assert_failed_cleanly(&wharf(&["pull", &via_proxy, "-o", &out_arg], &env), "does not match its digest");
    assert!(!out.exists());

    // A registry that keeps failing the manifest PUT: the push fails and no tag appears.
    proxy.clear();
    proxy.add(rule("PUT", "/manifests/", 100, status(500)));
    let push = wharf(&["push", &file, &format!("{}/broken/other:1", proxy.host())], &env);
    assert_failed_cleanly(&push, "HTTP 500");
    let (status_code, _, _) = registry_get(&registry.host(), "/v2/broken/other/manifests/1", "*/*");
    assert_eq!(status_code, 404, "no tag may be created");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
