//! Proves the harness itself against the real `docker-registry` and the real
//! peer tools, before any wharf test relies on it.

use std::net::TcpStream;
use std::process::Command;

use registry_tests::{
    Registry, RegistryOptions, TestEnv, basic_auth, http_request, push_blob, push_manifest, python_peer,
    python_peer_in, registry_get, run, run_in, sha256_digest, sha256_hex, skopeo, wharf, wharf_bin,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn curl(args: &[&str]) -> registry_tests::Run {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"]).args(args);
    run(cmd)
}

#[test]
fn plain_registry_answers_v2() {
    let reg = Registry::start();
    assert!(reg.host().starts_with("127.0.0.1:"), "{}", reg.host());
    assert_eq!(reg.url(), format!("http://{}", reg.host()));
    assert!(reg.storage_dir().is_dir());

    let (status, headers, body) = registry_get(&reg.host(), "/v2/", "");
    assert_eq!(status, 200, "body: {}", String::from_utf8_lossy(&body));
    assert_eq!(registry_tests::header(&headers, "Docker-Distribution-API-Version"), Some("registry/2.0"));
    assert_eq!(body, b"{}");

    // Unknown manifests are a proper OCI error, not a harness problem.
    let (status, _, body) = registry_get(&reg.host(), "/v2/nope/manifests/latest", OCI_MANIFEST);
    assert_eq!(status, 404);
    let err: serde_json::Value = serde_json::from_slice(&body).expect("error body is JSON");
    assert_eq!(err["errors"][0]["code"], "MANIFEST_UNKNOWN");
}

#[test]
fn raw_http_client_pushes_and_reads_back_a_blob_and_manifest() {
    let reg = Registry::start();
    let host = reg.host();
    let blob = b"hello wasm".to_vec();
    let digest = sha256_digest(&blob);

    // Monolithic blob upload: POST then PUT ?digest=.
    assert_eq!(push_blob(&host, "demo", &blob), digest);
    let config = b"{}".to_vec();
    let config_digest = push_blob(&host, "demo", &config);
    assert_eq!(config_digest, sha256_digest(&config));

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.unknown.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [{"mediaType": "application/wasm", "digest": digest, "size": blob.len()}],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("serialize");
    assert_eq!(push_manifest(&host, "demo", "v1", OCI_MANIFEST, &manifest_bytes), sha256_digest(&manifest_bytes));

    // The registry returns the exact bytes we pushed, with our media type.
    let (status, headers, body) = registry_get(&host, "/v2/demo/manifests/v1", OCI_MANIFEST);
    assert_eq!(status, 200);
    assert_eq!(body, manifest_bytes);
    assert_eq!(registry_tests::header(&headers, "content-type"), Some(OCI_MANIFEST));
    let (status, _, body) = registry_get(&host, &format!("/v2/demo/blobs/{digest}"), "");
    assert_eq!(status, 200);
    assert_eq!(body, blob);
    assert_eq!(format!("sha256:{}", sha256_hex(&body)), digest);

    // HEAD has a Content-Length but no body; the client must not wait for one.
    let r = http_request("HEAD", &host, &format!("/v2/demo/blobs/{digest}"), &[], &[]).expect("HEAD");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(r.body.is_empty());

    // delete.enabled: true lets manifests be deleted by digest.
    let r = http_request("DELETE", &host, &format!("/v2/demo/manifests/{}", sha256_digest(&manifest_bytes)), &[], &[])
        .expect("DELETE");
    assert_eq!(r.status, 202, "{r:?}");
    let (status, _, _) = registry_get(&host, "/v2/demo/manifests/v1", OCI_MANIFEST);
    assert_eq!(status, 404);
}

#[test]
fn htpasswd_registry_requires_credentials() {
    let reg = Registry::start_with(RegistryOptions { htpasswd: Some(("alice".into(), "s3cret".into())), tls: false });
    assert_eq!(reg.credentials(), Some(("alice", "s3cret")));

    let (status, headers, _) = registry_get(&reg.host(), "/v2/", "");
    assert_eq!(status, 401);
    let challenge = registry_tests::header(&headers, "www-authenticate").expect("challenge");
    assert!(challenge.starts_with("Basic "), "{challenge}");

    let ok = http_request("GET", &reg.host(), "/v2/", &[("Authorization", &basic_auth("alice", "s3cret"))], &[])
        .expect("GET with creds");
    assert_eq!(ok.status, 200);
    let wrong = http_request("GET", &reg.host(), "/v2/", &[("Authorization", &basic_auth("alice", "nope"))], &[])
        .expect("GET with wrong creds");
    assert_eq!(wrong.status, 401);
}

#[test]
fn tls_registry_is_trusted_only_with_its_ca() {
    let reg = Registry::start_with(RegistryOptions { htpasswd: None, tls: true });
    assert_eq!(reg.url(), format!("https://{}", reg.host()));
    let ca = reg.ca_file();
    assert!(ca.is_file());
    let ca = ca.to_str().expect("utf-8 path");

    let url = format!("{}/v2/", reg.url());
    let r = curl(&["--cacert", ca, &url]);
    r.assert_ok();
    assert_eq!(r.stdout, "200");

    // The certificate also names localhost.
    let r = curl(&["--cacert", ca, &format!("https://localhost:{}/v2/", reg.port())]);
    r.assert_ok();
    assert_eq!(r.stdout, "200");

    // Without the CA (an empty trust store, so the machine's CAs don't count
    // either) verification fails: curl exit 60 = peer certificate not trusted.
    let env = TestEnv::new();
    let empty = env.write("empty.pem", "");
    let r = curl(&["--cacert", empty.to_str().expect("utf-8"), &url]);
    assert_ne!(r.code, 0, "{r}");
    let r = run_in("curl", &["-sS", "--max-time", "10", "-o", "/dev/null", &url], &env);
    assert_eq!(r.code, 60, "{r}");

    // Plain HTTP to the TLS port is refused by the server (HTTP 400).
    let r = http_request("GET", &reg.host(), "/v2/", &[], &[]).expect("plain GET to TLS port");
    assert_eq!(r.status, 400);
}

#[test]
fn tls_registry_with_htpasswd() {
    let reg = Registry::start_with(RegistryOptions { htpasswd: Some(("bob".into(), "pw".into())), tls: true });
    let ca = reg.ca_file();
    let ca = ca.to_str().expect("utf-8 path");
    let url = format!("{}/v2/", reg.url());
    assert_eq!(curl(&["--cacert", ca, &url]).stdout, "401");
    assert_eq!(curl(&["--cacert", ca, "-u", "bob:pw", &url]).stdout, "200");
}

#[test]
fn stop_makes_connections_fail_and_restart_keeps_content() {
    let mut reg = Registry::start();
    let host = reg.host();
    let storage = reg.storage_dir();
    let digest = push_blob(&host, "keep", b"survives a restart");
    assert!(reg.is_running());

    reg.stop();
    assert!(!reg.is_running());
    let err = TcpStream::connect(&host).expect_err("registry is down");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(http_request("GET", &host, "/v2/", &[], &[]).is_err());
    reg.stop(); // idempotent

    reg.restart();
    assert_eq!(reg.host(), host);
    assert_eq!(reg.storage_dir(), storage);
    let (status, _, body) = registry_get(&host, &format!("/v2/keep/blobs/{digest}"), "");
    assert_eq!(status, 200);
    assert_eq!(body, b"survives a restart");
}

#[test]
fn registries_get_distinct_ports_and_storage() {
    let a = Registry::start();
    let b = Registry::start();
    assert_ne!(a.host(), b.host());
    assert_ne!(a.storage_dir(), b.storage_dir());
    let dir = a.storage_dir();
    drop(a);
    assert!(!dir.exists(), "storage is removed on drop");
    assert_eq!(registry_get(&b.host(), "/v2/", "").0, 200);
}

#[test]
fn test_env_isolates_home_and_docker_config() {
    let mut env = TestEnv::new();
    env.set_var("WHARF_EXTRA", "x y");
    let r = run_in(
        "sh",
        &[
            "-c",
            "printf '%s\\n' \"$HOME\" \"$DOCKER_CONFIG\" \"$NO_COLOR\" \"$PWD\" \"$WHARF_EXTRA\"; \
             echo oops >&2; exit 3",
        ],
        &env,
    );
    r.assert_code(3);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let home = env.dir().to_str().expect("utf-8");
    assert_eq!(lines, [home, env.path("docker").to_str().expect("utf-8"), "1", home, "x y"]);
    assert!(env.docker_config_dir().is_dir());
    assert_eq!(r.stderr, "oops\n");
    assert!(
        std::panic::catch_unwind(|| {
            r.assert_ok();
        })
        .is_err()
    );

    let r = run_in("sh", &["-c", "echo '{\"a\": [1, 2]}'"], &env);
    assert_eq!(r.assert_ok().json()["a"][1], 2);
    let r = run_in("sh", &["-c", "kill -TERM $$"], &env);
    assert_eq!(r.code, 128 + 15);
}

#[test]
fn wharf_binary_is_built_and_runs() {
    let bin = wharf_bin();
    assert!(bin.is_file(), "{}", bin.display());
    assert_eq!(wharf_bin(), bin, "resolved once");
    let env = TestEnv::new();
    wharf(&["--help"], &env).assert_ok();
}

#[test]
fn oras_peer_push_pull_round_trip() {
    let reg = Registry::start();
    let env = TestEnv::new();
    let wasm = env.write("component.wasm", b"\0asm\x0d\0\x01\0");
    let config = env.write("config.json", br#"{"architecture":"wasm","os":"wasip2"}"#);
    let reference = reg.reference("peer/oras:v1");

    let push = python_peer_in(
        "oras_peer.py",
        &[
            "push",
            &reference,
            wasm.to_str().expect("utf-8"),
            "--media-type",
            "application/wasm",
            "--config",
            config.to_str().expect("utf-8"),
            "--config-media-type",
            "application/vnd.wasm.config.v0+json",
        ],
        &env,
    );
    push.assert_ok();
    let digest = push.stdout.trim().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{push}");

    // What oras-py wrote, byte for byte.
    let (status, headers, body) = registry_get(&reg.host(), "/v2/peer/oras/manifests/v1", OCI_MANIFEST);
    assert_eq!(status, 200);
    assert_eq!(sha256_digest(&body), digest);
    assert_eq!(registry_tests::header(&headers, "docker-content-digest"), Some(digest.as_str()));
    let m: serde_json::Value = serde_json::from_slice(&body).expect("manifest JSON");
    assert_eq!(m["mediaType"], OCI_MANIFEST);
    assert_eq!(m["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(m["layers"][0]["annotations"]["org.opencontainers.image.title"], "component.wasm");
    let layer_digest = m["layers"][0]["digest"].as_str().expect("digest");
    let (_, _, blob) = registry_get(&reg.host(), &format!("/v2/peer/oras/blobs/{layer_digest}"), "");
    assert_eq!(blob, std::fs::read(&wasm).expect("read wasm"));

    // skopeo sees the same manifest.
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")]);
    raw.assert_ok();
    assert_eq!(sha256_digest(raw.stdout.as_bytes()), digest);

    let out = env.path("pulled");
    let pull = python_peer("oras_peer.py", &["pull", &reference, out.to_str().expect("utf-8")]);
    pull.assert_ok();
    let pulled = out.join("component.wasm");
    assert_eq!(pull.stdout.trim(), pulled.to_str().expect("utf-8"));
    assert_eq!(std::fs::read(&pulled).expect("pulled file"), std::fs::read(&wasm).expect("wasm"));

    // Errors are exit code 2 with a message.
    let missing =
        python_peer("oras_peer.py", &["pull", &reg.reference("peer/oras:nope"), out.to_str().expect("utf-8")]);
    missing.assert_code(2);
    assert!(missing.stderr.contains("oras_peer"), "{missing}");
}

#[test]
fn tls_and_auth_registry_works_with_oras_peer_and_skopeo() {
    let reg = Registry::start_with(RegistryOptions { htpasswd: Some(("carol".into(), "pw".into())), tls: true });
    let env = TestEnv::new();
    let wasm = env.write("m.wasm", b"\0asm\x01\0\0\0");
    let reference = reg.reference("sec/mod:1");
    let ca = reg.ca_file();
    let ca = ca.to_str().expect("utf-8");
    let wasm = wasm.to_str().expect("utf-8");

    // Wrong password, then no CA: both refused.
    let r = python_peer_in(
        "oras_peer.py",
        &["push", "--ca-file", ca, "--user", "carol", "--password", "bad", &reference, wasm],
        &env,
    );
    r.assert_code(2);
    let r = python_peer_in("oras_peer.py", &["push", "--user", "carol", "--password", "pw", &reference, wasm], &env);
    r.assert_code(2);

    let push = python_peer_in(
        "oras_peer.py",
        &[
            "push",
            "--ca-file",
            ca,
            "--user",
            "carol",
            "--password",
            "pw",
            &reference,
            wasm,
            "--media-type",
            "application/wasm",
        ],
        &env,
    );
    push.assert_ok();
    let digest = push.stdout.trim();

    let cert_dir = reg.ca_dir();
    let entries: Vec<_> =
        std::fs::read_dir(&cert_dir).expect("ca dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(entries, ["ca.crt"]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        cert_dir.to_str().expect("utf-8"),
        "--creds",
        "carol:pw",
        &format!("docker://{reference}"),
    ]);
    raw.assert_ok();
    assert_eq!(sha256_digest(raw.stdout.as_bytes()), digest);

    // skopeo does not trust it without the CA.
    let untrusted = skopeo(&["inspect", "--raw", "--creds", "carol:pw", &format!("docker://{reference}")]);
    untrusted.assert_failure();
    assert!(untrusted.stderr.contains("certificate"), "{untrusted}");
}
