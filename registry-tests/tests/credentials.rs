//! Where credentials go: each registry gets its own (command-line
//! credentials are bound to one registry, the docker config serves the
//! others), a token realm gets only the credentials of the registry whose
//! challenge named it, and nothing secret crosses a network in the clear,
//! whatever URL a hostile registry writes into its challenge. Real
//! registries (htpasswd, bearer tokens) where the registry is honest; a
//! scripted server (`registry_tests::scripted`) that records every request
//! where it is the attacker.

use std::net::{IpAddr, Ipv4Addr};

use registry_tests::scripted::{Answer, ScriptedServer, non_loopback_ip};
use registry_tests::{TestEnv, wharf_stdin};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A token realm that hands out a token to anyone (and records who asked).
fn generous_realm(ip: IpAddr) -> ScriptedServer {
    ScriptedServer::start(ip, |_| Answer::Full(200, Vec::new(), br#"{"token":"t0k3n"}"#.to_vec()))
}

/// A registry on loopback that answers every request `401` with `challenge`.
fn challenging_registry(challenge: String) -> ScriptedServer {
    ScriptedServer::start(LOOPBACK, move |_| Answer::challenge(&challenge))
}

/// Asserts that no request `server` received carried an `Authorization` header.
#[track_caller]
fn assert_no_credentials(server: &ScriptedServer, what: &str) {
    let requests = server.requests();
    assert!(requests.iter().all(|r| r.authorization().is_none()), "{what} received credentials: {requests:#?}");
}

/// A realm URL whose fragment names loopback (`http://HOST:PORT#@127.0.0.1/token`)
/// is a URL of HOST, off loopback: the credentials are refused before any
/// request, and the realm hears nothing.
#[test]
fn a_realm_whose_fragment_names_loopback_is_not_loopback() {
    let ip = non_loopback_ip();
    let realm = generous_realm(ip);
    let registry = challenging_registry(format!(r#"Bearer realm="{}#@127.0.0.1/token",service="s""#, realm.url()));
    let env = TestEnv::new();
    let out = env.path("out.wasm");
    let args = ["pull", &format!("{}/app:1", registry.host()), "-o", out.to_str().unwrap_or_default()];
    let pulled = wharf_stdin(&[&args[..], &["-u", "ci", "--password-stdin"]].concat(), &env, "s3cret\n");
    pulled.assert_failed_cleanly(&format!("over plain HTTP to {ip}"));
    assert_no_credentials(&realm, "the realm off loopback");
    assert!(!out.exists());
}

/// `login --plain-http` to a registry off loopback that asks for basic auth:
/// the password is refused before it is sent, and nothing is stored.
#[test]
fn login_refuses_basic_auth_over_plain_http_off_loopback() {
    let ip = non_loopback_ip();
    let registry = ScriptedServer::start(ip, |_| Answer::challenge(r#"Basic realm="registry""#));
    let env = TestEnv::new();
    let args = ["login", &registry.host(), "--plain-http", "-u", "ci", "--password-stdin"];
    let login = wharf_stdin(&args, &env, "s3cret\n");
    login.assert_failed_cleanly(&format!("over plain HTTP to {ip}"));
    assert!(!registry.requests().is_empty(), "login asked the registry for its challenge");
    assert_no_credentials(&registry, "the plain-HTTP registry off loopback");
    assert!(!env.docker_config_dir().join("config.json").exists(), "a refused login stores nothing");
}

/// A registry on loopback whose bearer challenge names a plain-HTTP realm off
/// loopback: `login` does not send the password there.
#[test]
fn login_refuses_a_plain_http_realm_off_loopback() {
    let ip = non_loopback_ip();
    let realm = generous_realm(ip);
    let registry = challenging_registry(format!(r#"Bearer realm="{}/token",service="s""#, realm.url()));
    let env = TestEnv::new();
    let login = wharf_stdin(&["login", &registry.host(), "-u", "ci", "--password-stdin"], &env, "s3cret\n");
    login.assert_failed_cleanly(&format!("over plain HTTP to {ip}"));
    assert!(realm.requests().is_empty(), "the realm heard nothing: {:#?}", realm.requests());
    assert!(!env.docker_config_dir().join("config.json").exists(), "a refused login stores nothing");
}
