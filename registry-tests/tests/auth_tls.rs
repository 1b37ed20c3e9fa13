//! wharf against registries that need credentials (htpasswd) and/or speak TLS
//! with a certificate from a private CA: login/logout and the docker config,
//! explicit credentials, --ca-file and --insecure.

use std::path::{Path, PathBuf};

use registry_tests::{Registry, RegistryOptions, Run, TestEnv, base64, wharf, wharf_stdin};
use serde_json::Value;

const USER: &str = "wharfie";
const PASSWORD: &str = "c0rrect horse:battery";

// ---------------------------------------------------------------------------
// Local helpers (each test binary builds what it needs itself)
// ---------------------------------------------------------------------------

/// The example component and core module as files (see `wharf_examples::built_examples_dir`).
fn examples_dir() -> &'static Path {
    wharf_examples::built_examples_dir().expect("build the example Wasm files")
}

/// The example component, as a path string.
fn component() -> String {
    examples_dir().join("hello.wasm").to_str().expect("utf-8 path").to_owned()
}

fn component_bytes() -> Vec<u8> {
    read(&examples_dir().join("hello.wasm"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn config_path(env: &TestEnv) -> PathBuf {
    env.docker_config_dir().join("config.json")
}

fn docker_config(env: &TestEnv) -> Value {
    let path = config_path(env);
    let bytes = read(&path);
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn auth_registry(tls: bool) -> Registry {
    Registry::start_with(RegistryOptions { htpasswd: Some((USER.into(), PASSWORD.into())), tls })
}

/// Asserts `r` is an access-denied failure for `host`, with the login hint.
#[track_caller]
fn assert_denied(r: &Run, host: &str) {
    r.assert_code(2);
    let lower = r.stderr.to_lowercase();
    assert!(lower.contains("error:") && (lower.contains("denied") || lower.contains("401")), "{r}");
    assert!(r.stderr.contains(host), "the message names the registry\n{r}");
    assert!(r.stderr.contains(&format!("hint: log in with `wharf login {host}`")), "{r}");
}

/// Asserts `r` failed because the registry refused access (exit 2, a 401 or
/// "denied" in the message), whatever the hint. Used for pushes in the flows
/// below: the exact wording and hint of a refused push are checked by
/// [`refused_pushes_are_reported_as_denied_with_the_login_hint`].
#[track_caller]
fn assert_refused(r: &Run) {
    r.assert_code(2);
    let lower = r.stderr.to_lowercase();
    assert!(lower.contains("denied") || lower.contains("401"), "{r}");
}

// ---------------------------------------------------------------------------
// htpasswd
// ---------------------------------------------------------------------------

/// A push without credentials, or with a wrong password, is an access problem
/// ("denied", kind `auth`) whose hint names `wharf login`, exactly like a pull.
#[test]
fn refused_pushes_are_reported_as_denied_with_the_login_hint() {
    let reg = auth_registry(false);
    let host = reg.host();
    let env = TestEnv::new();
    let reference = reg.reference("auth/refused:1");

    // Pull and push of the same reference, anonymously: same kind of failure.
    let r = wharf(&["pull", &reference, "--format", "json"], &env);
    r.assert_code(2);
    assert_eq!(r.json()["error"]["kind"], "auth", "pull: {r}");

    let r = wharf(&["push", &component(), &reference], &env);
    assert_denied(&r, &host);
    let r = wharf(&["push", &component(), &reference, "--format", "json"], &env);
    r.assert_code(2);
    assert_eq!(r.json()["error"]["kind"], "auth", "push: {r}");
    assert!(r.json()["error"]["hint"].as_str().unwrap_or_default().contains("wharf login"), "{r}");

    let r = wharf_stdin(&["push", &component(), &reference, "-u", USER, "--password-stdin"], &env, "wrong\n");
    assert_denied(&r, &host);
}

#[test]
fn base64_helper_matches_rfc4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
}

#[test]
fn login_push_pull_logout_with_the_docker_config() {
    let reg = auth_registry(false);
    let host = reg.host();
    let env = TestEnv::new();
    let reference = reg.reference("auth/hello:1");

    // Anonymous: refused (a pull with the hint naming `wharf login`).
    let r = wharf(&["push", &component(), &reference], &env);
    assert_refused(&r);
    let r = wharf(&["pull", &reference, "-o", env.path("anon.wasm").to_str().expect("utf-8")], &env);
    assert_denied(&r, &host);
    let r = wharf(&["pull", &reference, "--format", "json"], &env);
    r.assert_code(2);
    assert_eq!(r.json()["error"]["kind"], "auth", "{r}");
    assert!(r.json()["error"]["hint"].as_str().expect("hint").contains("wharf login"), "{r}");

    // Wrong password: refused, and nothing written.
    let r = wharf_stdin(&["login", &host, "-u", USER, "--password-stdin"], &env, "not-the-password\n");
    r.assert_code(2);
    assert!(r.stderr.to_lowercase().contains("denied"), "{r}");
    assert!(!config_path(&env).exists(), "a refused login must not write {}", config_path(&env).display());
    let r = wharf_stdin(&["login", &host, "-u", "nobody", "--password-stdin"], &env, &format!("{PASSWORD}\n"));
    r.assert_code(2);
    assert!(!config_path(&env).exists());

    // Right password: stored as docker does.
    let r = wharf_stdin(&["login", &host, "-u", USER, "--password-stdin"], &env, &format!("{PASSWORD}\n"));
    r.assert_ok();
    let config = docker_config(&env);
    assert_eq!(
        config["auths"][host.as_str()]["auth"],
        base64(format!("{USER}:{PASSWORD}").as_bytes()).as_str(),
        "{config:#}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config_path(&env)).expect("config.json metadata").permissions().mode();
        assert_eq!(mode & 0o077, 0, "config.json holds a password: not readable by others ({mode:o})");
    }

    // Push and pull with no flags: the credentials come from the config.
    let r = wharf(&["push", &component(), &reference, "--format", "json"], &env);
    r.assert_ok();
    let digest = r.json()["digest"].as_str().expect("digest").to_owned();
    let out = env.path("pulled.wasm");
    let r = wharf(&["pull", &reference, "-o", out.to_str().expect("utf-8"), "--format", "json"], &env);
    r.assert_ok();
    assert_eq!(r.json()["digest"], digest.as_str());
    assert_eq!(read(&out), component_bytes());
    wharf(&["inspect", &reference], &env).assert_ok();

    // Logout removes exactly that entry; then pushing is refused again.
    let r = wharf(&["logout", &host], &env);
    r.assert_ok();
    let config = docker_config(&env);
    assert!(config["auths"].get(host.as_str()).is_none(), "{config:#}");
    let r = wharf(&["push", &component(), &reg.reference("auth/hello:2")], &env);
    assert_refused(&r);
    let r = wharf(&["pull", &reference, "-o", env.path("again.wasm").to_str().expect("utf-8")], &env);
    assert_denied(&r, &host);
    assert!(!env.path("again.wasm").exists());

    // Logging out twice is fine.
    wharf(&["logout", &host], &env).assert_ok();
}

#[test]
fn login_keeps_other_entries_of_the_docker_config() {
    let reg = auth_registry(false);
    let host = reg.host();
    let env = TestEnv::new();
    env.write(
        "docker/config.json",
        r#"{"auths":{"other.example":{"auth":"b3RoZXI6c2VjcmV0"}},"psFormat":"table {{.ID}}"}"#,
    );
    wharf_stdin(&["login", &host, "-u", USER, "--password-stdin"], &env, PASSWORD).assert_ok();
    let config = docker_config(&env);
    assert_eq!(config["auths"]["other.example"]["auth"], "b3RoZXI6c2VjcmV0", "{config:#}");
    assert_eq!(config["psFormat"], "table {{.ID}}", "{config:#}");
    assert!(config["auths"][host.as_str()]["auth"].is_string(), "{config:#}");

    wharf(&["logout", &host], &env).assert_ok();
    let config = docker_config(&env);
    assert_eq!(config["auths"]["other.example"]["auth"], "b3RoZXI6c2VjcmV0", "{config:#}");
    assert!(config["auths"].get(host.as_str()).is_none(), "{config:#}");
}

#[test]
fn explicit_credentials_on_push_and_pull() {
    let reg = auth_registry(false);
    let host = reg.host();
    let env = TestEnv::new();
    let reference = reg.reference("auth/direct:1");

    let r = wharf_stdin(&["push", &component(), &reference, "-u", USER, "--password-stdin"], &env, PASSWORD);
    r.assert_ok();
    assert!(!config_path(&env).exists(), "explicit credentials are not stored");

    let r = wharf_stdin(
        &["push", &component(), &reference, "--username", USER, "--password-stdin"],
        &env,
        "wrong-password\n",
    );
    assert_refused(&r);

    let out = env.path("direct.wasm");
    let r = wharf_stdin(
        &["pull", &reference, "-o", out.to_str().expect("utf-8"), "-u", USER, "--password-stdin"],
        &env,
        &format!("{PASSWORD}\n"),
    );
    r.assert_ok();
    assert_eq!(read(&out), component_bytes());

    // Still anonymous without them.
    let r = wharf(&["pull", &reference, "-o", env.path("anon.wasm").to_str().expect("utf-8")], &env);
    assert_denied(&r, &host);
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

#[test]
fn tls_registry_needs_its_ca_or_insecure() {
    let reg = Registry::start_with(RegistryOptions { htpasswd: None, tls: true });
    let host = reg.host();
    let env = TestEnv::new();
    let ca = reg.ca_file();
    let ca = ca.to_str().expect("utf-8 path");
    let reference = reg.reference("tls/hello:1");

    // No CA: the certificate is not accepted, never silently ignored, and
    // wharf does not fall back to plain HTTP.
    let r = wharf(&["push", &component(), &reference], &env);
    r.assert_code(2);
    assert!(r.stderr.contains(&format!("TLS certificate of {host} was not accepted")), "{r}");
    assert!(r.stderr.contains("--ca-file"), "the hint names --ca-file\n{r}");
    let r = wharf(&["push", &component(), &reference, "--format", "json"], &env);
    r.assert_code(2);
    assert_eq!(r.json()["error"]["kind"], "network", "{r}");
    assert!(r.json()["error"]["hint"].as_str().expect("hint").contains("--ca-file"), "{r}");
    let r = wharf(&["inspect", &reference], &env);
    r.assert_code(2);
    assert!(r.stderr.contains("TLS certificate"), "{r}");

    // With the CA.
    let r = wharf(&["push", &component(), &reference, "--ca-file", ca, "--format", "json"], &env);
    r.assert_ok();
    let digest = r.json()["digest"].as_str().expect("digest").to_owned();
    let out = env.path("tls.wasm");
    let r = wharf(&["pull", &reference, "-o", out.to_str().expect("utf-8"), "--ca-file", ca, "--format", "json"], &env);
    r.assert_ok();
    assert_eq!(r.json()["digest"], digest.as_str());
    assert_eq!(read(&out), component_bytes());

    // SSL_CERT_FILE, as curl, skopeo and oras honour it, works like --ca-file.
    let out_env = env.path("ssl-cert-file.wasm");
    let mut cmd = env.command(registry_tests::wharf_bin());
    cmd.args(["pull", &reference, "-o", out_env.to_str().expect("utf-8")]).env("SSL_CERT_FILE", ca);
    registry_tests::run(cmd).assert_ok();
    assert_eq!(read(&out_env), component_bytes());

    // Pull without the CA fails the same way, and writes nothing.
    let out2 = env.path("no-ca.wasm");
    let r = wharf(&["pull", &reference, "-o", out2.to_str().expect("utf-8")], &env);
    r.assert_code(2);
    assert!(r.stderr.contains("TLS certificate"), "{r}");
    assert!(!out2.exists());

    // --insecure: no verification.
    let r = wharf(&["push", &component(), &reg.reference("tls/insecure:1"), "--insecure"], &env);
    r.assert_ok();
    let out3 = env.path("insecure.wasm");
    let r = wharf(&["pull", &reg.reference("tls/insecure:1"), "-o", out3.to_str().expect("utf-8"), "--insecure"], &env);
    r.assert_ok();
    assert_eq!(read(&out3), component_bytes());

    // A CA file that is not the registry's does not help.
    let other = Registry::start_with(RegistryOptions { htpasswd: None, tls: true });
    let wrong_ca = other.ca_file();
    let r = wharf(&["push", &component(), &reference, "--ca-file", wrong_ca.to_str().expect("utf-8")], &env);
    r.assert_code(2);
    assert!(r.stderr.contains("TLS certificate"), "{r}");
}

#[test]
fn tls_registry_with_htpasswd_and_login() {
    let reg = auth_registry(true);
    let host = reg.host();
    let env = TestEnv::new();
    let ca = reg.ca_file();
    let ca = ca.to_str().expect("utf-8 path");
    let reference = reg.reference("secure/hello:1");

    // login without the CA: a certificate error, nothing stored.
    let r = wharf_stdin(&["login", &host, "-u", USER, "--password-stdin"], &env, PASSWORD);
    r.assert_code(2);
    assert!(r.stderr.contains("TLS certificate"), "{r}");
    assert!(!config_path(&env).exists());

    // Wrong password over TLS: refused, nothing stored.
    let r = wharf_stdin(&["login", &host, "-u", USER, "--password-stdin", "--ca-file", ca], &env, "nope");
    r.assert_code(2);
    assert!(r.stderr.to_lowercase().contains("denied"), "{r}");
    assert!(!config_path(&env).exists());

    // Anonymous with the CA: refused.
    let r = wharf(&["push", &component(), &reference, "--ca-file", ca], &env);
    assert_refused(&r);

    let r = wharf_stdin(&["login", &host, "-u", USER, "--password-stdin", "--ca-file", ca], &env, PASSWORD);
    r.assert_ok();
    assert_eq!(
        docker_config(&env)["auths"][host.as_str()]["auth"],
        base64(format!("{USER}:{PASSWORD}").as_bytes()).as_str()
    );

    let r = wharf(&["push", &component(), &reference, "--ca-file", ca], &env);
    r.assert_ok();
    let out = env.path("secure.wasm");
    let r = wharf(&["pull", &reference, "-o", out.to_str().expect("utf-8"), "--ca-file", ca], &env);
    r.assert_ok();
    assert_eq!(read(&out), component_bytes());

    // Explicit credentials over TLS work too (with a fresh, empty config).
    let fresh = TestEnv::new();
    let out = fresh.path("explicit.wasm");
    let r = wharf_stdin(
        &["pull", &reference, "-o", out.to_str().expect("utf-8"), "--ca-file", ca, "-u", USER, "--password-stdin"],
        &fresh,
        PASSWORD,
    );
    r.assert_ok();
    assert_eq!(read(&out), component_bytes());

    wharf(&["logout", &host], &env).assert_ok();
    let r = wharf(&["push", &component(), &reference, "--ca-file", ca], &env);
    assert_refused(&r);
    let r = wharf(&["pull", &reference, "--ca-file", ca], &env);
    assert_denied(&r, &host);
}

// ---------------------------------------------------------------------------
// Self-signed certificates, as docker's documentation makes them
// ---------------------------------------------------------------------------

fn openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A self-signed certificate and its key made as docker's "test an insecure
/// registry" page shows: `openssl req -x509 -newkey rsa:4096 -nodes ...
/// -addext subjectAltName=...`. openssl marks such a certificate `CA:TRUE`.
fn docker_docs_certificate(env: &TestEnv, name: &str, subject_alt_name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (env.path(&format!("{name}.crt")), env.path(&format!("{name}.key")));
    let cn = subject_alt_name.split(',').next().and_then(|n| n.split_once(':')).map_or("localhost", |(_, v)| v);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:4096",
        "-nodes",
        "-keyout",
        key.to_str().expect("utf-8"),
        "-out",
        cert.to_str().expect("utf-8"),
        "-days",
        "365",
        "-subj",
        &format!("/CN={cn}"),
        "-addext",
        &format!("subjectAltName={subject_alt_name}"),
    ]);
    (cert, key)
}

/// `cert` signed again with `key` so that it expired yesterday (openssl 3.0
/// has no `-not_after`; `x509 -days -1` sets the end a day before now).
fn expired_copy(env: &TestEnv, cert: &Path, key: &Path) -> PathBuf {
    let out = env.path("expired.crt");
    let arg = |p: &Path| p.to_str().expect("utf-8").to_string();
    openssl(&["x509", "-in", &arg(cert), "-signkey", &arg(key), "-days", "-1", "-out", &arg(&out)]);
    out
}

#[test]
fn a_self_signed_ca_certificate_given_with_ca_file_is_accepted_with_its_name_and_dates_checked() {
    let env = TestEnv::new();
    let (cert, key) = docker_docs_certificate(&env, "registry", "DNS:localhost,IP:127.0.0.1");
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "basicConstraints", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl x509");
    assert!(String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"), "the recipe makes a CA certificate");
    let registry = Registry::start_with_certificate(&cert, &key);
    let ca = cert.to_str().expect("utf-8");
    let reference = registry.reference("selfsigned/app:1");

    // Without --ca-file: refused, as any unknown certificate.
    wharf(&["push", &component(), &reference], &env).assert_failed_cleanly("certificate");

    // With it: the certificate is the server's own, byte for byte; accepted, by address and by name.
    wharf(&["push", &component(), &reference, "--ca-file", ca], &env).assert_ok();
    let out = env.path("pulled.wasm");
    let by_name = reference.replace("127.0.0.1", "localhost");
    wharf(&["pull", &by_name, "-o", out.to_str().expect("utf-8"), "--ca-file", ca], &env).assert_ok();
    assert_eq!(read(&out), component_bytes());

    // The name is still checked: a certificate for another host, given as --ca-file, is refused.
    let (elsewhere, elsewhere_key) = docker_docs_certificate(&env, "elsewhere", "DNS:registry.example,IP:10.9.9.9");
    let misnamed = Registry::start_with_certificate(&elsewhere, &elsewhere_key);
    let r = wharf(
        &["pull", &misnamed.reference("selfsigned/app:1"), "--ca-file", elsewhere.to_str().expect("utf-8")],
        &env,
    );
    r.assert_failed_cleanly("not valid for name");

    // The dates are still checked: the same certificate, expired, is refused.
    let expired = expired_copy(&env, &cert, &key);
    let stale = Registry::start_with_certificate(&expired, &key);
    let r = wharf(&["pull", &stale.reference("selfsigned/app:1"), "--ca-file", expired.to_str().expect("utf-8")], &env);
    r.assert_failed_cleanly("expired");
}
