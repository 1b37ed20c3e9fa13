//! wharf against a registry with bearer-token auth (the flow of Docker Hub,
//! GHCR, Harbor...): the real `docker-registry` answers `401` with a
//! `Bearer realm=...,service=...` challenge, and a token server we run
//! (`peers/token_server.py`) trades HTTP basic credentials for signed JWTs.
//!
//! Token server policy (see `Registry::start_with_token_auth`): the right
//! user and password get every requested action, anonymous requests only
//! `pull`, wrong credentials a `401`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use registry_tests::{
    Registry, Run, TOKEN_SERVICE, TestEnv, TokenRequest, basic_auth, http_request, wharf, wharf_stdin,
};
use serde_json::Value;

const USER: &str = "tokenuser";
const PASSWORD: &str = "s3cret:with spaces";

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

fn registry() -> Registry {
    Registry::start_with_token_auth(USER, PASSWORD)
}

/// The example component's bytes, built once per test binary.
fn component_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| wharf_examples::build_hello_component().expect("build the hello component"))
}

/// Writes the example component into `env` and returns its path as a string.
fn component(env: &TestEnv) -> String {
    let path = env.write("hello.wasm", component_bytes());
    path.to_str().expect("utf-8 path").to_owned()
}

fn config_path(env: &TestEnv) -> PathBuf {
    env.docker_config_dir().join("config.json")
}

fn docker_config(env: &TestEnv) -> Value {
    let path = config_path(env);
    let bytes = read(&path);
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The `auth` value docker stores for `user:pass` (standard base64).
fn docker_auth(user: &str, pass: &str) -> String {
    basic_auth(user, pass).strip_prefix("Basic ").expect("Basic prefix").to_owned()
}

/// `(repository, actions)` of a `repository:NAME:a,b` scope.
fn repository_scope(scope: &str) -> Option<(&str, Vec<&str>)> {
    let rest = scope.strip_prefix("repository:")?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some((name, actions.split(',').filter(|a| !a.is_empty()).collect()))
}

/// Whether `r` asked for (at least) `actions` on `repo`.
fn asks_for(r: &TokenRequest, repo: &str, actions: &[&str]) -> bool {
    r.scopes
        .iter()
        .filter_map(|s| repository_scope(s))
        .any(|(name, have)| name == repo && actions.iter().all(|a| have.contains(a)))
}

/// Whether `r` was granted (at least) `actions` on `repo`.
fn grants(r: &TokenRequest, repo: &str, actions: &[&str]) -> bool {
    r.granted
        .iter()
        .any(|g| g.kind == "repository" && g.name == repo && actions.iter().all(|a| g.actions.iter().any(|x| x == a)))
}

fn show(requests: &[TokenRequest]) -> String {
    requests.iter().map(|r| format!("  {r:?}\n")).collect()
}

/// Asserts `r` is an access-denied failure for `host`, with the login hint.
#[track_caller]
fn assert_denied(r: &Run, host: &str) {
    r.assert_code(2);
    assert!(r.stderr.contains("error:"), "{r}");
    assert!(r.stderr.to_lowercase().contains("denied"), "{r}");
    assert!(r.stderr.contains(host), "the message names the registry\n{r}");
    assert!(r.stderr.contains("hint:") && r.stderr.contains(&format!("wharf login {host}")), "{r}");
}

// ---------------------------------------------------------------------------
// The harness itself
// ---------------------------------------------------------------------------

/// Without wharf: the registry challenges with our realm, the token server
/// hands out tokens by its policy, and the registry honours exactly what
/// they grant. Failures here are harness problems, not wharf bugs.
#[test]
fn token_server_tokens_are_accepted_by_the_registry() {
    let reg = registry();
    let host = reg.host();
    let token_host = reg.token_host();
    assert_eq!(reg.token_credentials(), Some((USER, PASSWORD)));

    let r = http_request("GET", &host, "/v2/", &[], &[]).expect("GET /v2/");
    assert_eq!(r.status, 401, "{r:?}");
    let challenge = r.header("www-authenticate").expect("a WWW-Authenticate challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&format!("realm=\"{}\"", reg.token_realm())), "{challenge}");
    assert!(challenge.contains(&format!("service=\"{TOKEN_SERVICE}\"")), "{challenge}");

    let token_for = |auth: Option<&str>, scope: &str| -> (u16, Value) {
        let path = format!("/token?service={TOKEN_SERVICE}&scope={scope}");
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let r = http_request("GET", &token_host, &path, &headers, &[]).expect("GET /token");
        let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, body)
    };
    let auth = basic_auth(USER, PASSWORD);

    // The right credentials: a push token that works.
    let (status, body) = token_for(Some(&auth), "repository:h/one:pull,push");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 300, "{body}");
    assert!(body["issued_at"].as_str().is_some_and(|s| s.ends_with('Z')), "{body}");
    let token = body["token"].as_str().expect("token").to_owned();
    assert_eq!(body["access_token"].as_str(), Some(token.as_str()), "{body}");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let bearer = format!("Bearer {token}");
    let r = http_request("GET", &host, "/v2/", &[("Authorization", &bearer)], &[]).expect("GET /v2/ with token");
    assert_eq!(r.status, 200, "the registry accepts the token: {r:?}\n{}", reg.log());
    let r = http_request("POST", &host, "/v2/h/one/blobs/uploads/", &[("Authorization", &bearer)], &[])
        .expect("POST upload");
    assert_eq!(r.status, 202, "the token grants push: {r:?}\n{}", reg.log());
    // ...for that repository only.
    let r = http_request("POST", &host, "/v2/h/other/blobs/uploads/", &[("Authorization", &bearer)], &[])
        .expect("POST upload elsewhere");
    assert_eq!(r.status, 401, "{r:?}");

    // Anonymous: pull only, and the registry refuses a push with it.
    let (status, body) = token_for(None, "repository:h/one:pull,push");
    assert_eq!(status, 200, "{body}");
    let bearer = format!("Bearer {}", body["token"].as_str().expect("token"));
    let r = http_request("POST", &host, "/v2/h/one/blobs/uploads/", &[("Authorization", &bearer)], &[])
        .expect("anonymous POST upload");
    assert_eq!(r.status, 401, "{r:?}");
    let r = http_request("GET", &host, "/v2/h/one/tags/list", &[("Authorization", &bearer)], &[]).expect("tags");
    assert_eq!(r.status, 404, "pull is granted (the repository just does not exist): {r:?}");

    // Wrong password, unknown user, not basic auth: 401, no token.
    for bad in [basic_auth(USER, "nope"), basic_auth("nobody", PASSWORD), "Bearer abc".to_owned()] {
        let (status, body) = token_for(Some(&bad), "repository:h/one:pull");
        assert_eq!(status, 401, "{bad}: {body}");
        assert!(body.get("token").is_none(), "{body}");
    }

    let log = reg.token_requests();
    assert_eq!(log.len(), 5, "every request is logged:\n{}", show(&log));
    assert_eq!(log[0].user.as_deref(), Some(USER));
    assert_eq!(log[0].service.as_deref(), Some(TOKEN_SERVICE));
    assert!(grants(&log[0], "h/one", &["pull", "push"]), "{:?}", log[0]);
    assert_eq!((log[1].user.as_deref(), log[1].status), (None, 200));
    assert!(grants(&log[1], "h/one", &["pull"]) && !grants(&log[1], "h/one", &["push"]), "{:?}", log[1]);
    assert_eq!((log[2].user.as_deref(), log[2].status), (Some(USER), 401));
    assert_eq!((log[3].user.as_deref(), log[3].status), (Some("nobody"), 401));
    assert!(log[2..].iter().all(|r| r.status == 401 && r.granted.is_empty()), "{}", show(&log));
}

// ---------------------------------------------------------------------------
// wharf
// ---------------------------------------------------------------------------

/// (a) An anonymous push gets a pull-only token, which the registry refuses
/// for the upload: wharf reports access denied and points at `wharf login`.
#[test]
fn anonymous_push_is_denied_with_the_login_hint() {
    let reg = registry();
    let host = reg.host();
    let env = TestEnv::new();
    let file = component(&env);
    let reference = reg.reference("bearer/anon:1");

    let r = wharf(&["push", &file, &reference], &env);
    assert_denied(&r, &host);
    let r = wharf(&["push", &file, &reference, "--format", "json"], &env);
    r.assert_code(2);
    assert_eq!(r.json()["error"]["kind"], "auth", "{r}");
    assert!(r.json()["error"]["hint"].as_str().unwrap_or_default().contains("wharf login"), "{r}");

    let log = reg.token_requests();
    assert!(!log.is_empty(), "wharf went through the token server\n{}", reg.token_server_log());
    assert!(log.iter().all(|t| t.user.is_none()), "anonymous requests only:\n{}", show(&log));
    assert!(
        log.iter()
            .any(|t| t.status == 200 && asks_for(t, "bearer/anon", &["push"]) && !grants(t, "bearer/anon", &["push"])),
        "a push scope was asked for and not granted:\n{}",
        show(&log)
    );
    assert!(!config_path(&env).exists(), "nothing written to the docker config");
}

/// (b) `wharf login` checks the password with the token server: a wrong
/// one (or an unknown user) is refused and nothing is written; the right
/// one is stored as docker stores it.
#[test]
fn login_checks_credentials_with_the_token_server() {
    let reg = registry();
    let host = reg.host();
    let env = TestEnv::new();

    let r = wharf_stdin(&["login", &host, "-u", USER, "--password-stdin"], &env, "not-the-password\n");
    r.assert_code(2);
    assert!(r.stderr.contains("error:") && r.stderr.to_lowercase().contains("denied"), "{r}");
    assert!(r.stderr.contains(&format!("wharf login {host}")), "{r}");
    assert!(!config_path(&env).exists(), "a refused login must not write {}", config_path(&env).display());
    let r = wharf_stdin(&["login", &host, "-u", "nobody", "--password-stdin"], &env, &format!("{PASSWORD}\n"));
    r.assert_code(2);
    assert!(!config_path(&env).exists(), "a refused login must not write {}", config_path(&env).display());

    let refused = reg.token_requests();
    assert_eq!(refused.len(), 2, "one token request per login:\n{}", show(&refused));
    assert_eq!((refused[0].user.as_deref(), refused[0].status), (Some(USER), 401), "{}", show(&refused));
    assert_eq!((refused[1].user.as_deref(), refused[1].status), (Some("nobody"), 401), "{}", show(&refused));

    let r = wharf_stdin(&["login", &host, "-u", USER, "--password-stdin"], &env, &format!("{PASSWORD}\n"));
    r.assert_ok();
    let config = docker_config(&env);
    assert_eq!(config["auths"][host.as_str()]["auth"], docker_auth(USER, PASSWORD).as_str(), "{config:#}");

    let log = reg.token_requests();
    let ok = log.last().expect("the login asked for a token");
    assert_eq!(ok.status, 200, "{}", show(&log));
    assert_eq!(ok.user.as_deref(), Some(USER), "{ok:?}");
    assert_eq!(ok.service.as_deref(), Some(TOKEN_SERVICE), "{ok:?}");
    assert_eq!(ok.path, "/token", "{ok:?}");
}

/// (c) After `wharf login`, push and pull trade the stored credentials for
/// tokens scoped to the repository; after `wharf logout` pushes are refused
/// again while anonymous pulls (pull-only tokens) still work.
#[test]
fn login_then_push_and_pull_use_scoped_tokens() {
    let reg = registry();
    let host = reg.host();
    let env = TestEnv::new();
    let file = component(&env);
    let repo = "bearer/hello";
    let reference = reg.reference(&format!("{repo}:1"));

    wharf_stdin(&["login", &host, "-u", USER, "--password-stdin"], &env, &format!("{PASSWORD}\n")).assert_ok();

    let before_push = reg.token_requests().len();
    wharf(&["push", &file, &reference], &env).assert_ok();
    let log = reg.token_requests();
    let push_requests = &log[before_push..];
    assert!(!push_requests.is_empty(), "the push asked for a token\n{}", reg.token_server_log());
    assert!(
        push_requests.iter().all(|t| t.user.as_deref() == Some(USER) && t.status == 200),
        "every token request of the push carries the stored credentials:\n{}",
        show(push_requests)
    );
    assert!(
        push_requests.iter().any(|t| asks_for(t, repo, &["pull", "push"]) && grants(t, repo, &["pull", "push"])),
        "a pull,push token for {repo}:\n{}",
        show(push_requests)
    );
    assert!(push_requests.iter().all(|t| t.service.as_deref() == Some(TOKEN_SERVICE)), "{}", show(push_requests));

    let out = env.path("pulled.wasm");
    let before_pull = reg.token_requests().len();
    wharf(&["pull", &reference, "-o", out.to_str().expect("utf-8")], &env).assert_ok();
    assert_eq!(read(&out), component_bytes(), "the pulled component is the pushed one");
    let log = reg.token_requests();
    let pull_requests = &log[before_pull..];
    assert!(
        !pull_requests.is_empty() && pull_requests.iter().all(|t| t.user.as_deref() == Some(USER) && t.status == 200),
        "{}",
        show(pull_requests)
    );
    assert!(
        pull_requests.iter().any(|t| asks_for(t, repo, &["pull"]) && grants(t, repo, &["pull"])),
        "a pull token for {repo}:\n{}",
        show(pull_requests)
    );

    // Logged out: anonymous again.
    wharf(&["logout", &host], &env).assert_ok();
    let config = docker_config(&env);
    assert!(config["auths"].get(host.as_str()).is_none(), "{config:#}");
    let before = reg.token_requests().len();
    let r = wharf(&["push", &file, &reg.reference(&format!("{repo}:2"))], &env);
    assert_denied(&r, &host);
    let anon = env.path("anon.wasm");
    wharf(&["pull", &reference, "-o", anon.to_str().expect("utf-8")], &env).assert_ok();
    assert_eq!(read(&anon), component_bytes());
    let log = reg.token_requests();
    assert!(log[before..].iter().all(|t| t.user.is_none()), "{}", show(&log[before..]));
}

/// (d) `-u USER --password-stdin` on push and pull works without a login
/// and leaves the docker config alone; a wrong password is denied.
#[test]
fn explicit_credentials_on_stdin_work_without_login() {
    let reg = registry();
    let host = reg.host();
    let env = TestEnv::new();
    let file = component(&env);
    let repo = "bearer/explicit";
    let reference = reg.reference(&format!("{repo}:1"));

    let r = wharf_stdin(&["push", &file, &reference, "-u", USER, "--password-stdin"], &env, &format!("{PASSWORD}\n"));
    r.assert_ok();
    assert!(!config_path(&env).exists(), "explicit credentials are not stored");
    let log = reg.token_requests();
    assert!(
        log.iter().any(|t| t.user.as_deref() == Some(USER) && grants(t, repo, &["pull", "push"])),
        "{}",
        show(&log)
    );
    assert!(log.iter().all(|t| t.user.as_deref() == Some(USER)), "{}", show(&log));

    let out = env.path("pulled.wasm");
    let args = ["pull", &reference, "-o", out.to_str().expect("utf-8"), "-u", USER, "--password-stdin"];
    wharf_stdin(&args, &env, &format!("{PASSWORD}\n")).assert_ok();
    assert_eq!(read(&out), component_bytes());

    let before = reg.token_requests().len();
    let r = wharf_stdin(
        &["push", &file, &reg.reference(&format!("{repo}:2")), "-u", USER, "--password-stdin"],
        &env,
        "wrong\n",
    );
    assert_denied(&r, &host);
    let log = reg.token_requests();
    assert!(log[before..].iter().any(|t| t.user.as_deref() == Some(USER) && t.status == 401), "{}", show(&log));
    assert!(!config_path(&env).exists(), "explicit credentials are not stored");
}

/// Identity tokens (what `docker login` stores for Azure ACR): the docker
/// config's `identitytoken` is traded with the OAuth2 `refresh_token` grant
/// (a form `POST` to the realm); a token the server refuses gives the usual
/// denial, and the token itself appears in no output.
#[test]
fn identity_tokens_in_the_docker_config_are_exchanged_for_registry_tokens() {
    let reg = registry();
    let host = reg.host();
    let env = TestEnv::new();
    let file = component(&env);
    let identity = format!("identity-{PASSWORD}");
    let write_config = |token: &str| {
        let config = serde_json::json!({
            "auths": { host.as_str(): { "auth": docker_auth("<token>", ""), "identitytoken": token } }
        });
        std::fs::create_dir_all(env.docker_config_dir()).expect("config dir");
        std::fs::write(config_path(&env), serde_json::to_vec_pretty(&config).expect("json")).expect("write config");
    };

    write_config(&identity);
    let before = reg.token_requests().len();
    let reference = reg.reference("identity/hello:1");
    // With every log on: the identity token and the tokens it buys stay out of the output.
    let mut traced = env.command(registry_tests::wharf_bin());
    traced.args(["push", &file, &reference]).env("WHARF_LOG", "trace");
    let pushed = registry_tests::run(traced);
    pushed.assert_ok();
    assert!(!pushed.stderr.contains(&identity) && !pushed.stderr.contains("Bearer ey"), "{pushed}");
    let log = reg.token_requests();
    let requests = &log[before..];
    assert!(
        requests.iter().any(|t| t.method == "POST"
            && t.grant.as_deref() == Some("refresh_token")
            && t.status == 200
            && grants(t, "identity/hello", &["pull", "push"])),
        "a refresh-token grant for pull,push:\n{}",
        show(requests)
    );
    assert!(requests.iter().all(|t| t.method == "POST"), "no basic-auth token request:\n{}", show(requests));

    let out = env.path("pulled.wasm");
    wharf(&["pull", &reference, "-o", out.to_str().expect("utf-8")], &env).assert_ok();
    assert_eq!(read(&out), component_bytes());

    write_config("identity-wrong");
    let refused = wharf(&["push", &file, &reg.reference("identity/hello:2"), "--format", "json"], &env);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("refused the identity token") || refused.stdout.contains("refused the identity token"),
        "{refused}"
    );
    for text in [&refused.stdout, &refused.stderr] {
        assert!(!text.contains("identity-wrong") && !text.contains(&identity), "the token leaked:\n{refused}");
    }
}
