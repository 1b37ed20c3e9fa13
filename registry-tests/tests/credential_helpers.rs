//! Credentials through docker credential helpers (`credsStore`, `credHelpers`):
//! a real `docker-credential-*` program on PATH, speaking docker's protocol,
//! against a real registry with htpasswd auth.

use registry_tests::{Registry, RegistryOptions, Run, TestEnv, wharf, wharf_stdin};

const USER: &str = "carol";
const PASSWORD: &str = "helper-secret";

/// A credential helper that keeps credentials in a JSON file beside it and logs every call.
const HELPER: &str = r#"#!/usr/bin/env python3
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
store = os.path.join(here, "store.json")
data = json.load(open(store)) if os.path.exists(store) else {}
action = sys.argv[1]
payload = sys.stdin.read()
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(action + " " + (payload.strip() if action != "store" else json.loads(payload)["ServerURL"]) + "\n")
if action == "get":
    entry = data.get(payload.strip())
    if entry is None:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps({"ServerURL": payload.strip(), "Username": entry[0], "Secret": entry[1]}))
elif action == "store":
    req = json.loads(payload); data[req["ServerURL"]] = [req["Username"], req["Secret"]]
    json.dump(data, open(store, "w"))
elif action == "erase":
    data.pop(payload.strip(), None); json.dump(data, open(store, "w"))
elif action == "list":
    print(json.dumps({k: v[0] for k, v in data.items()}))
"#;

fn env_with_helper(config: &str) -> TestEnv {
    let mut env = TestEnv::new();
    let helper = env.write("bin/docker-credential-wharftest", HELPER);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod helper");
    let path = format!("{}:{}", env.path("bin").display(), std::env::var("PATH").unwrap_or_default());
    env.set_var("PATH", path);
    env.write("docker/config.json", config);
    env
}

fn login(env: &TestEnv, host: &str, password: &str) -> Run {
    wharf_stdin(&["login", host, "-u", USER, "--password-stdin"], env, password)
}

fn component(env: &TestEnv) -> String {
    let bytes = wharf_examples::build_hello_component().expect("build the example component");
    env.write("hello.wasm", bytes).to_string_lossy().into_owned()
}

#[test]
fn creds_store_is_used_for_login_push_pull_and_logout() {
    let registry = Registry::start_with(RegistryOptions { htpasswd: Some((USER.into(), PASSWORD.into())), tls: false });
    let host = registry.host();
    let env = env_with_helper(r#"{"credsStore": "wharftest"}"#);
    let file = component(&env);
    let reference = registry.reference("helped/hello:1");

    login(&env, &host, "wrong").assert_code(2);
    let ok = login(&env, &host, PASSWORD);
    ok.assert_ok();
    assert!(ok.stdout.contains("docker-credential-wharftest"), "{ok}");
    let config = std::fs::read_to_string(env.path("docker/config.json")).expect("config");
    assert!(!config.contains("auths"), "the password went to the helper, not the file: {config}");

    wharf(&["push", &file, &reference], &env).assert_ok();
    wharf(&["pull", &reference, "-o", "back.wasm"], &env).assert_ok();
    let calls = std::fs::read_to_string(env.path("bin/calls.log")).expect("helper log");
    assert!(calls.lines().any(|l| l == format!("store {host}")), "{calls}");
    assert!(calls.lines().any(|l| l == format!("get {host}")), "{calls}");

    wharf(&["logout", &host], &env).assert_ok();
    let calls = std::fs::read_to_string(env.path("bin/calls.log")).expect("helper log");
    assert!(calls.lines().any(|l| l == format!("erase {host}")), "{calls}");
    let denied = wharf(&["push", &file, &registry.reference("helped/hello:2")], &env);
    denied.assert_code(2);
    assert!(denied.stderr.contains("denied"), "{denied}");
}

#[test]
fn cred_helpers_per_registry_take_precedence() {
    let registry = Registry::start_with(RegistryOptions { htpasswd: Some((USER.into(), PASSWORD.into())), tls: false });
    let host = registry.host();
    let config = format!(r#"{{"credsStore": "does-not-exist", "credHelpers": {{"{host}": "wharftest"}}}}"#);
    let env = env_with_helper(&config);
    std::fs::write(env.path("bin/store.json"), format!(r#"{{"{host}": ["{USER}", "{PASSWORD}"]}}"#))
        .expect("seed helper");
    let file = component(&env);
    wharf(&["push", &file, &registry.reference("per-registry/hello:1")], &env).assert_ok();
}
