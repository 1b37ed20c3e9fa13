//! Faults between wharf and a real registry, injected by the harness's proxy:
//! transient ones are retried and the result is exact; persistent ones end
//! with a clear error and nothing written at the destination.

use registry_tests::fault_proxy::{Fault, FaultProxy, Relative, Rule};
use registry_tests::{
    Registry, RegistryOptions, TestEnv, registry_get, registry_get_json, sha256_digest, wharf, wharf_stdin,
};

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
    wharf(&["pull", &via_proxy, "-o", &out_arg], &env).assert_failed_cleanly("transfer of");
    let tries = proxy.faults_served();
    assert!((2..=6).contains(&tries), "retries are bounded: {tries}");
    assert!(!out.exists());

    // Bytes that do not match the digest are never retried into success and never written.
    proxy.clear();
    proxy.add(rule("GET", &format!("/blobs/{layer}"), 100, Fault::CorruptBody));
    wharf(&["pull", &via_proxy, "-o", &out_arg], &env).assert_failed_cleanly("does not match its digest");
    assert!(!out.exists());

    // A registry that keeps failing the manifest PUT: the push fails and no tag appears.
    proxy.clear();
    proxy.add(rule("PUT", "/manifests/", 100, status(500)));
    let push = wharf(&["push", &file, &format!("{}/broken/other:1", proxy.host())], &env);
    push.assert_failed_cleanly("HTTP 500");
    let (status_code, _, _) = registry_get(&registry.host(), "/v2/broken/other/manifests/1", "*/*");
    assert_eq!(status_code, 404, "no tag may be created");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn retry_after_is_waited_for_and_a_long_one_fails_at_once() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, _) = component(&env);
    let target = format!("{}/throttled/app:1", proxy.host());

    // 429 with Retry-After: 2 on the manifest PUT: wharf waits (at least) that long, then succeeds.
    proxy.add(rule("PUT", "/manifests/", 1, Fault::Status(429, vec![("Retry-After".into(), "2".into())])));
    let started = std::time::Instant::now();
    wharf(&["push", &file, &target], &env).assert_ok();
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "Retry-After was not honoured");
    assert_eq!(proxy.faults_served(), 1, "{:#?}", proxy.log());

    // A registry asking for an hour: no retry, a clear error naming the wait, nothing tagged.
    proxy.clear();
    proxy.add(rule("PUT", "/manifests/", 100, Fault::Status(503, vec![("Retry-After".into(), "3600".into())])));
    let push = wharf(&["push", &file, &format!("{}/throttled/other:1", proxy.host())], &env);
    push.assert_failed_cleanly("asks to retry after 3600 s");
    assert_eq!(proxy.faults_served(), 2, "one try only after the first test's fault: {:#?}", proxy.log());
    let (status_code, _, _) = registry_get(&registry.host(), "/v2/throttled/other/manifests/1", "*/*");
    assert_eq!(status_code, 404);
}

#[test]
fn a_stalled_download_times_out_and_is_retried() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    wharf(&["push", &file, &registry.reference("stall/app:1")], &env).assert_ok();
    let proxy = FaultProxy::start(&registry.host());
    let layer = sha256_digest(&bytes);
    let out = env.path("pulled.wasm");
    let out_arg = out.to_str().unwrap_or_default().to_string();
    let via_proxy = format!("{}/stall/app:1", proxy.host());

    // One stall of 30 s: with --read-timeout 1 the first attempt is abandoned and the retry succeeds.
    proxy.add(rule("GET", &format!("/blobs/{layer}"), 1, Fault::Stall(std::time::Duration::from_secs(30))));
    wharf(&["pull", &via_proxy, "-o", &out_arg, "--read-timeout", "1"], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);

    // Stalls every time: a bounded number of attempts, then an error that says it timed out.
    std::fs::remove_file(&out).expect("remove");
    proxy.clear();
    proxy.add(rule("GET", &format!("/blobs/{layer}"), 100, Fault::Stall(std::time::Duration::from_secs(30))));
    let stalled = wharf(&["pull", &via_proxy, "-o", &out_arg, "--read-timeout", "0.5"], &env);
    stalled.assert_failed_cleanly("timed out");
    assert!(!out.exists());

    // A bad value is a usage error.
    let bad = wharf(&["pull", &via_proxy, "-o", &out_arg, "--read-timeout", "soon"], &env);
    bad.assert_code(2);
    assert!(bad.stderr.contains("not a number of seconds"), "{bad}");
}

#[test]
fn no_probe_requests_and_a_repush_is_one_round_trip() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, _) = component(&env);
    let target = format!("{}/counted/app:1", proxy.host());

    // Requests only: on loopback wharf first tries TLS, which the plain proxy logs as an error.
    let requests = |proxy: &FaultProxy| -> Vec<String> {
        proxy.log().into_iter().filter(|l| !l.starts_with("proxy error")).collect()
    };
    wharf(&["push", &file, &target], &env).assert_ok();
    let log = requests(&proxy);
    assert!(log.iter().all(|l| !l.starts_with("GET /v2/ ")), "no separate GET /v2/ probe: {log:#?}");
    // tag lookup, 2 x (HEAD, POST, PUT) for config and layer, manifest PUT.
    assert_eq!(log.len(), 8, "{log:#?}");

    proxy.clear_log();
    wharf(&["push", &file, &target], &env).assert_ok();
    let log = requests(&proxy);
    assert_eq!(log.len(), 1, "a re-push is the tag lookup alone: {log:#?}");
    assert!(log[0].starts_with("GET /v2/counted/app/manifests/1"), "{log:#?}");
}

#[test]
fn credentials_are_not_sent_along_a_redirect_to_another_host() {
    // The registry with credentials, and an open one holding the same blob:
    // blob storage behind a redirect (S3-style) answers without credentials.
    let secured = Registry::start_with(RegistryOptions { htpasswd: Some(("ci".into(), "s3cret".into())), tls: false });
    let storage = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let pushed = wharf_stdin(
        &["push", &file, &secured.reference("redirect/app:1"), "-u", "ci", "--password-stdin"],
        &env,
        "s3cret\n",
    );
    pushed.assert_ok();
    wharf(&["push", &file, &storage.reference("redirect/app:1")], &env).assert_ok();

    let front = FaultProxy::start(&secured.host());
    let blob_store = FaultProxy::start(&storage.host());
    let layer = sha256_digest(&bytes);
    let other_host = blob_store.host().replace("127.0.0.1", "localhost");
    front.add(rule("GET", &format!("/blobs/{layer}"), 1, Fault::Redirect(other_host)));

    let out = env.path("pulled.wasm");
    let pulled = wharf_stdin(
        &[
            "pull",
            &format!("{}/redirect/app:1", front.host()),
            "-o",
            out.to_str().unwrap_or_default(),
            "-u",
            "ci",
            "--password-stdin",
        ],
        &env,
        "s3cret\n",
    );
    pulled.assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
    let front_log = front.log();
    assert!(
        front_log.iter().any(|l| l.contains("/manifests/") && l.contains("[Authorization]")),
        "the registry itself gets the credentials: {front_log:#?}"
    );
    let storage_log = blob_store.log();
    assert_eq!(storage_log.len(), 1, "{storage_log:#?}");
    assert!(!storage_log[0].contains("[Authorization]"), "credentials leaked to another host: {storage_log:#?}");
}

#[test]
fn a_failed_chunk_resumes_from_the_offset_the_registry_reports() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let target = format!("{}/chunked/app:1", proxy.host());

    // 256 KiB chunks: the 1 MiB layer goes in 5 PATCHes; the third one fails.
    proxy.add(rule("PATCH", "/blobs/uploads/", 1, Fault::After(2, Box::new(status(503)))));
    wharf(&["push", &file, &target, "--upload-chunk-size", "262144"], &env).assert_ok();
    let log = proxy.log();
    assert_eq!(proxy.faults_served(), 1, "{log:#?}");
    let count = |prefix: &str| log.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("GET /v2/chunked/app/blobs/uploads/"), 1, "one status query: {log:#?}");
    // One upload session for the layer (plus one for the config): resumed, not restarted.
    assert_eq!(count("POST /v2/chunked/app/blobs/uploads/"), 2, "{log:#?}");
    let chunks = bytes.len().div_ceil(262_144);
    assert_eq!(count("PATCH "), chunks + 1, "every chunk once, the failed one twice: {log:#?}");

    let out = env.path("back.wasm");
    wharf(&["pull", &registry.reference("chunked/app:1"), "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
}

/// Review of issue 14's fixes, finding 9 (b): a `401` from another origin (blob storage behind a
/// redirect) is that origin's business: its challenge must not send the registry's password to
/// the token server it names.
#[test]
fn a_challenge_from_blob_storage_gets_no_credentials_of_the_registry() {
    use registry_tests::scripted::{Answer, ScriptedServer};
    let secured = Registry::start_with(RegistryOptions { htpasswd: Some(("ci".into(), "s3cret".into())), tls: false });
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    wharf_stdin(
        &["push", &file, &secured.reference("redirect/app:1"), "-u", "ci", "--password-stdin"],
        &env,
        "s3cret\n",
    )
    .assert_ok();
    let loopback = "127.0.0.1".parse().expect("loopback");
    let realm = ScriptedServer::start(loopback, |_| Answer::Full(200, Vec::new(), br#"{"token":"t"}"#.to_vec()));
    let challenge = format!("Bearer realm=\"{}/token\",service=\"storage\"", realm.url());
    let storage = ScriptedServer::start(loopback, move |_| Answer::challenge(&challenge));
    let front = FaultProxy::start(&secured.host());
    front.add(rule("GET", &format!("/blobs/{}", sha256_digest(&bytes)), usize::MAX, Fault::Redirect(storage.host())));

    let out = env.path("pulled.wasm");
    let args = ["pull", &format!("{}/redirect/app:1", front.host()), "-o", out.to_str().unwrap_or_default()];
    let pulled = wharf_stdin(&[&args[..], &["-u", "ci", "--password-stdin"]].concat(), &env, "s3cret\n");
    assert!(!pulled.success(), "{pulled}");
    assert!(!storage.requests().is_empty(), "the blob storage was asked: {:#?}", front.log());
    let heard: Vec<_> = realm.requests().into_iter().filter(|r| r.authorization().is_some()).collect();
    assert!(heard.is_empty(), "the storage's token server got the registry's credentials: {heard:#?}");
}

/// Review of issue 14's fixes, finding 7: distribution answers `Range: 0-0` for an upload that
/// holds nothing (and for one of one byte); a failed first chunk must not resume at byte 1.
#[test]
fn a_failed_first_chunk_is_sent_again_from_the_start() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let target = format!("{}/chunked/first:1", proxy.host());

    proxy.add(rule("PATCH", "/blobs/uploads/", 1, status(503)));
    wharf(&["push", &file, &target, "--upload-chunk-size", "262144"], &env).assert_ok();
    let log = proxy.log();
    assert_eq!(proxy.faults_served(), 1, "{log:#?}");
    let chunks = bytes.len().div_ceil(262_144);
    let patches = log.iter().filter(|l| l.starts_with("PATCH ")).count();
    assert_eq!(patches, chunks + 1, "every chunk once, the failed first one twice: {log:#?}");

    let out = env.path("back.wasm");
    wharf(&["pull", &registry.reference("chunked/first:1"), "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
}

#[test]
fn relative_upload_locations_are_resolved_against_the_request() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    let rewritten = |proxy: &FaultProxy| -> Vec<String> {
        proxy
            .log()
            .into_iter()
            .filter_map(|l| l.split_once("Location rewritten to ").map(|(_, r)| r.to_string()))
            .collect()
    };

    // Upload sessions answered with `UUID?_state=...`: no `/`, no `v2/`, relative to `.../blobs/uploads/`.
    proxy.add(rule("POST", "/blobs/uploads/", 100, Fault::RelativeLocation(Relative::SameDirectory)));
    wharf(&["push", &file, &format!("{}/relative/app:1", proxy.host())], &env).assert_ok();
    let locations = rewritten(&proxy);
    assert_eq!(locations.len(), 2, "config and layer: {:#?}", proxy.log());
    assert!(locations.iter().all(|l| !l.starts_with('/') && !l.contains("v2/")), "{locations:#?}");
    let out = env.path("back.wasm");
    wharf(&["pull", &registry.reference("relative/app:1"), "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);

    // Chunked: the session through `../uploads/UUID?...`, every chunk's answer relative to the chunk's URL.
    proxy.clear();
    proxy.clear_log();
    proxy.add(rule("POST", "/blobs/uploads/", 100, Fault::RelativeLocation(Relative::ParentDirectory)));
    proxy.add(rule("PATCH", "/blobs/uploads/", 100, Fault::RelativeLocation(Relative::SameDirectory)));
    let target = format!("{}/relative/chunked:1", proxy.host());
    wharf(&["push", &file, &target, "--upload-chunk-size", "262144"], &env).assert_ok();
    let locations = rewritten(&proxy);
    assert!(locations.iter().any(|l| l.starts_with("../uploads/")), "{locations:#?}");
    // Two upload sessions; the layer's chunks (the config fits in one `PUT`).
    assert_eq!(locations.len(), 2 + bytes.len().div_ceil(262_144), "{:#?}", proxy.log());
    std::fs::remove_file(&out).expect("remove");
    wharf(&["pull", &registry.reference("relative/chunked:1"), "-o", out.to_str().unwrap_or_default()], &env)
        .assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);

    // A blob download redirected with a relative `Location` (`./` keeps `sha256:` from reading as a scheme).
    proxy.clear();
    let layer = sha256_digest(&bytes);
    proxy.add(rule("GET", &format!("/blobs/{layer}"), 1, Fault::RedirectTo(format!("../blobs/./{layer}?moved=1"))));
    std::fs::remove_file(&out).expect("remove");
    let via_proxy = format!("{}/relative/app:1", proxy.host());
    wharf(&["pull", &via_proxy, "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
    assert!(proxy.log().iter().any(|l| l.contains("?moved=1 -> forwarded")), "{:#?}", proxy.log());
}

/// 503 with `Retry-After: SECONDS` on the first, third, ... request to each
/// path: every request wharf makes meets one.
fn every_other_request_fails(proxy: &FaultProxy, seconds: u32) {
    let busy = Fault::Status(503, vec![("Retry-After".into(), seconds.to_string())]);
    proxy.add(Rule { method: None, path: "/".into(), times: usize::MAX, fault: Fault::every_other(busy) });
}

/// The requests of `log` that met a fault, by method: `(GET, HEAD, POST, PUT)`.
fn faulted_methods(log: &[String]) -> (usize, usize, usize, usize) {
    let count = |m: &str| log.iter().filter(|l| l.starts_with(&format!("{m} ")) && l.contains("-> fault")).count();
    (count("GET"), count("HEAD"), count("POST"), count("PUT"))
}

#[test]
fn push_pull_and_inspect_retry_every_request_when_every_other_answer_is_503() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    every_other_request_fails(&proxy, 1);
    let reference = format!("{}/busy/app:1", proxy.host());

    // Tag lookup, blob checks, upload sessions, blob uploads, manifest upload: each one 503 first.
    let pushed = wharf(&["push", &file, &reference, "--format", "json"], &env);
    pushed.assert_ok();
    let (get, head, post, put) = faulted_methods(&proxy.log());
    assert!(get >= 1 && head >= 2 && post >= 1 && put >= 3, "{:#?}", proxy.log());

    // Tag, config, layer.
    proxy.clear_log();
    let out = env.path("pulled.wasm");
    wharf(&["pull", &reference, "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
    assert!(faulted_methods(&proxy.log()).0 >= 3, "{:#?}", proxy.log());

    proxy.clear_log();
    let inspected = wharf(&["inspect", &reference, "--format", "json"], &env);
    inspected.assert_ok();
    assert_eq!(inspected.json()["digest"], pushed.json()["digest"], "{inspected}");
    assert!(faulted_methods(&proxy.log()).0 >= 2, "{:#?}", proxy.log());
}

/// A registry holding `busy/app:1`, signed with both signature forms (a
/// bundle referrer and the legacy `.sig` tag); returns it, the environment,
/// the key pair's path prefix and the component's bytes.
fn signed_artifact() -> (Registry, TestEnv, String, Vec<u8>) {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "busy signer");
    let (file, bytes) = component(&env);
    wharf(&["push", &file, &registry.reference("busy/app:1")], &env).assert_ok();
    let key = env.path("signer").to_string_lossy().into_owned();
    wharf(&["key", "generate", "--output", &key], &env).assert_ok();
    wharf(&["sign", &registry.reference("busy/app:1"), "--key", &format!("{key}.key"), "--mode", "both"], &env)
        .assert_ok();
    (registry, env, key, bytes)
}

#[test]
fn copy_retries_every_request_when_every_other_answer_is_503() {
    let (registry, env, _, bytes) = signed_artifact();
    let proxy = FaultProxy::start(&registry.host());
    // `Retry-After: 0`: the copy makes some twenty requests one after the other, and
    // the waits the registry asks for are shown by the other tests.
    every_other_request_fails(&proxy, 0);
    let via_proxy = |repo: &str| format!("{}/{repo}", proxy.host());
    // Signatures too: the referrers query, the fallback tag, the legacy tag, their blobs; mounts.
    let copied = wharf(&["copy", &via_proxy("busy/app:1"), &via_proxy("busy/copy:1"), "--with-signatures"], &env);
    copied.assert_ok();
    let (get, head, post, put) = faulted_methods(&proxy.log());
    assert!(get >= 3 && head >= 3 && post >= 1 && put >= 2, "{:#?}", proxy.log());
    let out = env.path("copied.wasm");
    wharf(&["pull", &registry.reference("busy/copy:1"), "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
}

#[test]
fn verify_retries_every_request_when_every_other_answer_is_503() {
    let (registry, env, key, _) = signed_artifact();
    let proxy = FaultProxy::start(&registry.host());
    every_other_request_fails(&proxy, 1);
    let verified = wharf(&["verify", &format!("{}/busy/app:1", proxy.host()), "--key", &format!("{key}.pub")], &env);
    verified.assert_ok();
    assert!(faulted_methods(&proxy.log()).0 >= 3, "{:#?}", proxy.log());
}

#[test]
fn token_requests_are_retried_when_every_other_answer_is_503() {
    let registry = Registry::start_with_token_auth("ci", "s3cret");
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    // The token server behind its own proxy, named in the challenges the registry's proxy passes on.
    let token_proxy = FaultProxy::start(&registry.token_host());
    every_other_request_fails(&token_proxy, 1);
    let front = FaultProxy::start(&registry.host());
    let to_token_proxy = Fault::ReplaceInHead(registry.token_host(), token_proxy.host());
    front.add(Rule { method: None, path: "/v2/".into(), times: usize::MAX, fault: to_token_proxy });
    let reference = format!("{}/tokens/app:1", front.host());

    let login = ["-u", "ci", "--password-stdin"];
    wharf_stdin(&[&["push", &file, &reference][..], &login].concat(), &env, "s3cret\n").assert_ok();
    let out = env.path("pulled.wasm");
    let pull = [&["pull", &reference, "-o", out.to_str().unwrap_or_default()][..], &login].concat();
    wharf_stdin(&pull, &env, "s3cret\n").assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
    let log = token_proxy.log();
    let (met_503, answered) = (token_proxy.faults_served(), log.iter().filter(|l| l.contains("-> forwarded")).count());
    assert!(met_503 >= 2 && answered >= 2, "each command's token request met a 503, then got through: {log:#?}");
}

#[test]
fn login_is_retried_when_every_other_answer_is_503() {
    // Basic auth straight to the registry, and a bearer token from its token server, each
    // behind a proxy that answers every other request with 503 and `Retry-After: 1`.
    let basic = Registry::start_with(RegistryOptions { htpasswd: Some(("ci".into(), "s3cret".into())), tls: false });
    let proxy = FaultProxy::start(&basic.host());
    every_other_request_fails(&proxy, 1);
    let env = TestEnv::new();
    wharf_stdin(&["login", &proxy.host(), "-u", "ci", "--password-stdin"], &env, "s3cret\n").assert_ok();
    assert!(proxy.faults_served() >= 1, "the login met a 503: {:#?}", proxy.log());

    let bearer = Registry::start_with_token_auth("ci", "s3cret");
    let token_proxy = FaultProxy::start(&bearer.token_host());
    every_other_request_fails(&token_proxy, 1);
    let front = FaultProxy::start(&bearer.host());
    let to_token_proxy = Fault::ReplaceInHead(bearer.token_host(), token_proxy.host());
    front.add(Rule { method: None, path: "/v2/".into(), times: usize::MAX, fault: to_token_proxy });
    wharf_stdin(&["login", &front.host(), "-u", "ci", "--password-stdin"], &env, "s3cret\n").assert_ok();
    assert!(token_proxy.faults_served() >= 1, "the token request met a 503: {:#?}", token_proxy.log());
}

#[test]
fn a_connection_cut_mid_manifest_or_config_is_retried() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    wharf(&["push", &file, &registry.reference("cut/app:1")], &env).assert_ok();
    let (_, manifest) =
        registry_get_json(&registry.host(), "/v2/cut/app/manifests/1", "application/vnd.oci.image.manifest.v1+json");
    let config = manifest["config"]["digest"].as_str().expect("config digest").to_string();
    let proxy = FaultProxy::start(&registry.host());
    proxy.add(rule("GET", "/manifests/1", 1, Fault::CutBodyAfter(40)));
    proxy.add(rule("GET", &format!("/blobs/{config}"), 1, Fault::CutBodyAfter(20)));

    let out = env.path("pulled.wasm");
    let via_proxy = format!("{}/cut/app:1", proxy.host());
    wharf(&["pull", &via_proxy, "-o", out.to_str().unwrap_or_default()], &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);
    assert_eq!(proxy.faults_served(), 2, "{:#?}", proxy.log());

    proxy.add(rule("GET", &format!("/blobs/{config}"), 1, Fault::CutBodyAfter(20)));
    wharf(&["inspect", &via_proxy], &env).assert_ok();
    assert_eq!(proxy.faults_served(), 3, "{:#?}", proxy.log());
}
