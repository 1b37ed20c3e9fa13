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
use registry_tests::{Registry, RegistryOptions, Run, TestEnv, TokenRequest, check_example, wharf_stdin};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The source side's account (registry A) and the destination's (registry B).
const SRC: (&str, &str) = ("alice", "a-pass:word");
const DST: (&str, &str) = ("bob", "b-pass word");

fn htpasswd_registry((user, password): (&str, &str)) -> Registry {
    Registry::start_with(RegistryOptions { htpasswd: Some((user.into(), password.into())), tls: false })
}

/// The example component, written into `env`.
fn component(env: &TestEnv) -> (String, Vec<u8>) {
    let bytes = wharf_examples::build_hello_component().expect("build the hello component");
    (env.write("hello.wasm", &bytes).to_string_lossy().into_owned(), bytes)
}

/// Runs wharf with `args` and `(user, password)` bound with `-u USER --password-stdin`.
fn wharf_as(args: &[&str], (user, password): (&str, &str), env: &TestEnv) -> Run {
    wharf_stdin(&[args, &["-u", user, "--password-stdin"]].concat(), env, &format!("{password}\n"))
}

/// The token requests `registry`'s token server received after the first `since`.
fn token_requests_since(registry: &Registry, since: usize) -> Vec<TokenRequest> {
    registry.token_requests().into_iter().skip(since).collect()
}

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

/// Two htpasswd registries with different passwords: `copy` sends the
/// source's credentials to the source and the destination's to the
/// destination, whether both come from the command line or one from the
/// docker config (before, `-u` went to both, and the source refused it).
#[test]
fn copy_sends_each_registry_only_its_own_credentials() {
    let (a, b) = (htpasswd_registry(SRC), htpasswd_registry(DST));
    let env = TestEnv::new();
    let (file, bytes) = component(&env);
    wharf_as(&["push", &file, &a.reference("app/hello:1")], SRC, &env).assert_ok();

    // Both sides on the command line: two lines of stdin, the source's password first.
    let copy = [
        "copy",
        &a.reference("app/hello:1"),
        &b.reference("app/hello:1"),
        "--src-username",
        SRC.0,
        "--src-password-stdin",
        "--dest-username",
        DST.0,
        "--dest-password-stdin",
    ];
    wharf_stdin(&copy, &env, &format!("{}\n{}\n", SRC.1, DST.1)).assert_ok();
    let out = env.path("back.wasm");
    wharf_as(&["pull", &b.reference("app/hello:1"), "-o", out.to_str().unwrap_or_default()], DST, &env).assert_ok();
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);

    // The source's login in the docker config, the destination's with -u: each gets its own.
    wharf_as(&["login", &a.host()], SRC, &env).assert_ok();
    wharf_as(&["copy", &a.reference("app/hello:1"), &b.reference("app/hello:2")], DST, &env).assert_ok();

    // Swapped, each registry gets what was given for it (and refuses it), never the other side's.
    std::fs::remove_file(env.docker_config_dir().join("config.json")).expect("log out");
    let swapped =
        [&copy[..4], &[DST.0, "--src-password-stdin", "--dest-username", SRC.0, "--dest-password-stdin"]].concat();
    let refused = wharf_stdin(&swapped, &env, &format!("{}\n{}\n", DST.1, SRC.1));
    refused.assert_failed_cleanly(&format!("access to {} was denied", a.host()));
}

/// A registry whose token realm records what it receives is the source of a
/// copy whose `-u` is for the destination: the realm hears anonymous token
/// requests only (before, it got the destination's user and password), and
/// with `--src-username` exactly the source's account.
#[test]
fn a_token_realm_gets_only_the_credentials_of_the_registry_that_named_it() {
    let source = Registry::start_with_token_auth(SRC.0, SRC.1);
    let destination = htpasswd_registry(DST);
    let env = TestEnv::new();
    let (file, _) = component(&env);
    wharf_as(&["push", &file, &source.reference("app/hello:1")], SRC, &env).assert_ok();

    let before = source.token_requests().len();
    let copy = ["copy", &source.reference("app/hello:1"), &destination.reference("app/hello:1")];
    wharf_as(&copy, DST, &env).assert_ok();
    let heard = token_requests_since(&source, before);
    assert!(!heard.is_empty() && heard.iter().all(|t| t.user.is_none()), "anonymous only: {heard:#?}");

    let before = source.token_requests().len();
    let both = [
        &copy[..],
        &["--src-username", SRC.0, "--src-password-stdin", "--dest-username", DST.0, "--dest-password-stdin"],
    ]
    .concat();
    wharf_stdin(&both, &env, &format!("{}\n{}\n", SRC.1, DST.1)).assert_ok();
    let heard = token_requests_since(&source, before);
    assert!(!heard.is_empty() && heard.iter().all(|t| t.user.as_deref() == Some(SRC.0)), "{heard:#?}");
}

/// Compose parts and WIT packages read from another registry while pushing
/// with `-u` get that registry's own credentials (none here), never the
/// destination's: its token realm hears only anonymous requests.
#[test]
fn parts_and_wit_packages_from_another_registry_never_get_the_destinations_credentials() {
    let other = Registry::start_with_token_auth(SRC.0, SRC.1);
    let destination = htpasswd_registry(DST);
    let env = TestEnv::new();
    let filter = "acme:plugins/filter-plugin";
    let wit = env.write(
        "acme-plugins.wasm",
        wharf_examples::build_wit_package(&wharf_examples::check_platform_wit()).expect("encode the WIT package"),
    );
    let wit_ref = other.reference("acme/plugins:0.1.0");
    wharf_as(&["push", wit.to_str().unwrap_or_default(), &wit_ref], SRC, &env).assert_ok();
    let greeter = env.write(
        "greeter.wasm",
        wharf_examples::build_compose_component("greeter").expect("build the greeter component"),
    );
    let name = env.write(
        "name-source.wasm",
        wharf_examples::build_compose_component("name-source").expect("build the name-source component"),
    );
    let greeter_ref = other.reference("compose/greeter:0.1.0");
    wharf_as(&["push", greeter.to_str().unwrap_or_default(), &greeter_ref], SRC, &env).assert_ok();
    let before = other.token_requests().len();

    // A WIT fetch during a push.
    let fits = check_example(&env, "fits", filter);
    let push =
        ["push", &fits, &destination.reference("plugins/filter:1"), "--wit", &wit_ref, "--world", "filter-plugin"];
    wharf_as(&push, DST, &env).assert_ok();
    // A compose part during a compose --push.
    let app = destination.reference("compose/app:0.1.0");
    let compose = ["compose", "plug", &greeter_ref, "--plug", name.to_str().unwrap_or_default(), "--push", &app];
    wharf_as(&compose, DST, &env).assert_ok();

    let heard = token_requests_since(&other, before);
    assert!(heard.len() >= 2 && heard.iter().all(|t| t.user.is_none()), "anonymous only: {heard:#?}");
}

/// Credentials for a side that is not in a registry are refused with the
/// fix, rather than sent somewhere else or dropped.
#[test]
fn credentials_for_a_layout_are_a_usage_error() {
    let env = TestEnv::new();
    let (file, _) = component(&env);
    let pushed = wharf_as(&["push", &file, "oci:store:hello-1"], DST, &env);
    pushed.assert_failed_cleanly("--username is for the registry of the destination");
    assert!(pushed.stderr.contains("local OCI layout"), "{pushed}");
    let copy = ["copy", "oci:store:hello-1", "oci:mirror:hello-1", "--src-username", "x", "--src-password-stdin"];
    wharf_stdin(&copy, &env, "p\n").assert_failed_cleanly("--src-username is for the registry of the source");
}
