//! Harness for wharf's integration tests: a real CNCF distribution registry
//! (`docker-registry`, v2.8), the `wharf` binary run in an isolated
//! environment, peer tools (skopeo, oras-py) and a tiny raw HTTP client.
//!
//! Everything here panics with a descriptive message on failure: it is only
//! ever used from tests.

pub mod fault_proxy;
pub mod scripted;

use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// How long the registry may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit for one external command (wharf, skopeo, a peer); override
/// with `WHARF_TEST_TIMEOUT_SECS`.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// Attempts at finding a free port when the registry loses the race for it.
const PORT_ATTEMPTS: usize = 5;

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

/// How to start a [`Registry`].
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Require HTTP basic auth with this `(user, password)` (htpasswd, bcrypt).
    pub htpasswd: Option<(String, String)>,
    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost` signed by
    /// a freshly generated CA (see [`Registry::ca_file`]).
    pub tls: bool,
}

/// A real `docker-registry serve` process on a free loopback port, storing
/// into its own temporary directory. Killed on drop.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    opts: RegistryOptions,
    config: PathBuf,
    log: PathBuf,
    ca: Option<PathBuf>,
    /// The token server of a registry with bearer-token auth (killed on drop,
    /// after the registry).
    token: Option<TokenServer>,
    // Dropped last: the process is killed in `Drop` before the files go.
    dir: TempDir,
}

impl Registry {
    /// Plain HTTP, anonymous access.
    pub fn start() -> Registry {
        Registry::start_with(RegistryOptions::default())
    }

    /// Start with the given options; panics (with the registry's log) if it
    /// does not become ready within ~10 s.
    pub fn start_with(opts: RegistryOptions) -> Registry {
        let dir = tempfile::Builder::new().prefix("wharf-registry-").tempdir().expect("create registry tempdir");
        Registry::start_in(dir, opts, None, None)
    }

    /// Plain HTTP with bearer-token auth, the flow of Docker Hub, GHCR and
    /// friends: the registry (`auth.token`) answers `401` with a challenge
    /// naming a token server we run alongside it
    /// (`registry-tests/peers/token_server.py`, on its own loopback port,
    /// killed on drop with the registry). The token server signs ES256 JWTs
    /// with a freshly generated key whose self-signed certificate is the
    /// registry's `rootcertbundle`, and grants:
    ///
    /// * `user` with `password` (HTTP basic auth): every requested action;
    /// * anonymous requests: only `pull`;
    /// * wrong credentials: nothing (`401`).
    ///
    /// Every token request is recorded, see [`token_requests`](Self::token_requests).
    pub fn start_with_token_auth(user: &str, password: &str) -> Registry {
        let dir = tempfile::Builder::new().prefix("wharf-registry-").tempdir().expect("create registry tempdir");
        let token = TokenServer::start(dir.path(), user, password);
        Registry::start_in(dir, RegistryOptions::default(), Some(token), None)
    }

    /// HTTPS with a certificate and key the caller made (PEM files), anonymous
    /// access: for certificates as users make them, which may be ones wharf
    /// must refuse. [`ca_file`](Self::ca_file) returns `cert`.
    pub fn start_with_certificate(cert: &Path, key: &Path) -> Registry {
        let dir = tempfile::Builder::new().prefix("wharf-registry-").tempdir().expect("create registry tempdir");
        let tls = Tls { ca: cert.to_path_buf(), cert: cert.to_path_buf(), key: key.to_path_buf() };
        Registry::start_in(dir, RegistryOptions { htpasswd: None, tls: true }, None, Some(tls))
    }

    fn start_in(dir: TempDir, opts: RegistryOptions, token: Option<TokenServer>, given_tls: Option<Tls>) -> Registry {
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("create registry storage dir");

        let htpasswd = opts.htpasswd.as_ref().map(|(user, pass)| write_htpasswd(dir.path(), user, pass));
        let tls = given_tls.or_else(|| opts.tls.then(|| generate_tls(dir.path())));

        let config = dir.path().join("config.yml");
        let log = dir.path().join("registry.log");
        let ca = tls.as_ref().map(|t| t.ca.clone());
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut yaml = registry_config(port, &storage, htpasswd.as_deref(), tls.as_ref());
            if let Some(token) = &token {
                yaml.push_str(&token.registry_auth_config());
            }
            std::fs::write(&config, yaml).expect("write registry config");
            match spawn_registry(&config, &log, port, ca.as_deref()) {
                Ok(child) => {
                    return Registry { child: Some(child), port, opts, config, log, ca, token, dir };
                }
                Err(StartError::PortTaken(l)) => last_log = l,
                Err(StartError::Failed(msg)) => {
                    panic!("docker-registry failed to start: {msg}")
                }
            }
        }
        panic!(
            "docker-registry could not bind a free port after {PORT_ATTEMPTS} attempts; \
             last log:\n{last_log}"
        );
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// `HOST/REPO:TAG`-style reference prefix helper: `reference("a/b:1")`
    /// returns `127.0.0.1:PORT/a/b:1`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.host())
    }

    /// The options it was started with.
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// The configured `(user, password)`, if htpasswd auth is on.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.opts.htpasswd.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The `(user, password)` the token server accepts, if the registry was
    /// started with [`start_with_token_auth`](Self::start_with_token_auth).
    pub fn token_credentials(&self) -> Option<(&str, &str)> {
        self.token.as_ref().map(|t| (t.user.as_str(), t.password.as_str()))
    }

    /// `127.0.0.1:PORT` of the token server. Panics without token auth.
    pub fn token_host(&self) -> String {
        format!("127.0.0.1:{}", self.token_server().port)
    }

    /// The realm of the registry's bearer challenge,
    /// `http://127.0.0.1:PORT/token`. Panics without token auth.
    pub fn token_realm(&self) -> String {
        self.token_server().realm()
    }

    /// Every request the token server answered so far, oldest first. Panics
    /// without token auth.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token_server().requests()
    }

    /// The token server's own output (start-up and access log lines, Python
    /// tracebacks). Panics without token auth.
    pub fn token_server_log(&self) -> String {
        std::fs::read_to_string(&self.token_server().output).unwrap_or_default()
    }

    fn token_server(&self) -> &TokenServer {
        self.token.as_ref().expect("this registry was not started with Registry::start_with_token_auth")
    }

    /// PEM file of the CA that signed the server certificate. Panics if the
    /// registry was not started with `tls: true`.
    pub fn ca_file(&self) -> PathBuf {
        self.ca.clone().expect("Registry::ca_file: registry was started without tls")
    }

    /// A directory holding only `ca.crt` (the file [`ca_file`](Self::ca_file)
    /// returns), for skopeo's `--cert-dir`/`--src-cert-dir`/`--dest-cert-dir`.
    /// Panics if the registry was not started with `tls: true`.
    pub fn ca_dir(&self) -> PathBuf {
        self.ca_file().parent().expect("ca file has a parent").to_path_buf()
    }

    /// The filesystem storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's combined stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is (still) running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kill the registry (simulates "registry is down"). Idempotent. The
    /// token server of a token-auth registry keeps running.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Start it again after [`stop`](Self::stop): same port, same storage,
    /// same credentials and certificate.
    pub fn restart(&mut self) {
        self.kill();
        match spawn_registry(&self.config, &self.log, self.port, self.ca.as_deref()) {
            Ok(child) => self.child = Some(child),
            Err(StartError::PortTaken(l)) => {
                panic!("docker-registry cannot restart: port {} was taken meanwhile:\n{l}", self.port)
            }
            Err(StartError::Failed(m)) => panic!("docker-registry failed to restart: {m}"),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url())
            .field("htpasswd", &self.opts.htpasswd.is_some())
            .field("token_auth", &self.token.as_ref().map(|t| t.realm()))
            .field("storage", &self.storage_dir())
            .finish()
    }
}

enum StartError {
    PortTaken(String),
    Failed(String),
}

/// Spawn `docker-registry serve CONFIG` (output appended to `log`) and wait
/// until `GET /v2/` answers on `port`.
fn spawn_registry(config: &Path, log: &Path, port: u16, ca: Option<&Path>) -> Result<Child, StartError> {
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open registry log");
    let log_start = log_file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut cmd = Command::new("docker-registry");
    cmd.arg("serve").arg(config).stdin(Stdio::null());
    cmd.stdout(log_file.try_clone().expect("clone log handle"));
    cmd.stderr(log_file);
    // REGISTRY_* environment variables would override the config file.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(k);
        }
    }
    let mut child =
        cmd.spawn().unwrap_or_else(|e| panic!("cannot run `docker-registry` (apt-get install docker-registry): {e}"));
    let new_log = || -> String {
        let all = std::fs::read(log).unwrap_or_default();
        let start = usize::try_from(log_start).unwrap_or(0).min(all.len());
        String::from_utf8_lossy(&all[start..]).into_owned()
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let l = new_log();
            if l.contains("address already in use") {
                return Err(StartError::PortTaken(l));
            }
            return Err(StartError::Failed(format!("docker-registry exited early ({status}); log:\n{l}")));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::Failed(format!(
                "docker-registry on 127.0.0.1:{port} not ready after {READY_TIMEOUT:?}; log:\n{}",
                new_log()
            )));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() && probe_ready(port, ca) {
            return Ok(child);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `GET /v2/` answers (200, or 401 when auth is on). With TLS (`ca`
/// given) the certificate is not checked: this asks whether the registry is
/// up, and a test's certificate may be one that clients must refuse.
fn probe_ready(port: u16, ca: Option<&Path>) -> bool {
    let host = format!("127.0.0.1:{port}");
    match ca {
        Some(_) => {
            let out = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "--insecure"])
                .arg(format!("https://{host}/v2/"))
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) => matches!(o.stdout.as_slice(), b"200" | b"401"),
                // No curl: the TCP connect has to do (plus a short grace).
                Err(_) => {
                    thread::sleep(Duration::from_millis(300));
                    true
                }
            }
        }
        None => match http_request("GET", &host, "/v2/", &[], &[]) {
            Ok(r) => r.status == 200 || r.status == 401,
            Err(_) => false,
        },
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

fn registry_config(port: u16, storage: &Path, htpasswd: Option<&Path>, tls: Option<&Tls>) -> String {
    let mut y = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: wharf-registry-tests\n",
        storage = yaml_str(storage),
    );
    if let Some(tls) = tls {
        y.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", yaml_str(&tls.cert), yaml_str(&tls.key)));
    }
    if let Some(path) = htpasswd {
        y.push_str(&format!("auth:\n  htpasswd:\n    realm: wharf-registry-tests\n    path: {}\n", yaml_str(path)));
    }
    y
}

fn yaml_str(p: &Path) -> String {
    serde_json::to_string(&p.to_string_lossy()).expect("string to json")
}

fn write_htpasswd(dir: &Path, user: &str, pass: &str) -> PathBuf {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `htpasswd` (apt-get install apache2-utils): {e}"));
    assert!(out.status.success(), "htpasswd -Bbn failed: {}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join("htpasswd");
    std::fs::write(&path, &out.stdout).expect("write htpasswd file");
    path
}

struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn generate_tls(dir: &Path) -> Tls {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).expect("create tls dir");
    let cnf = tls.join("openssl.cnf");
    std::fs::write(
        &cnf,
        "[req]\n\
         distinguished_name = dn\n\
         prompt = no\n\
         [dn]\n\
         CN = wharf registry-tests CA\n\
         [server_dn]\n\
         CN = 127.0.0.1\n\
         [v3_ca]\n\
         basicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [v3_server]\n\
         basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = IP:127.0.0.1,DNS:localhost\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid,issuer\n",
    )
    .expect("write openssl.cnf");
    // The CA certificate alone in its own directory, usable as a
    // containers-style `--cert-dir` (which would also load any other .crt
    // and choke on a .key without a .cert).
    let ca_dir = tls.join("ca");
    std::fs::create_dir_all(&ca_dir).expect("create ca dir");
    let ca = ca_dir.join("ca.crt");
    let ca_key = tls.join("ca.key");
    let cert = tls.join("server.crt");
    let key = tls.join("server.key");
    let csr = tls.join("server.csr");
    let p = |p: &Path| p.to_string_lossy().into_owned();
    let cnf_s = p(&cnf);
    openssl(&[
        "req",
        "-x509",
        "-config",
        &cnf_s,
        "-extensions",
        "v3_ca",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
        "-days",
        "7",
    ]);
    openssl(&[
        "req",
        "-new",
        "-config",
        &cnf_s,
        "-subj",
        "/CN=127.0.0.1",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
    ]);
    let serial = format!("0x{}", &sha256_hex(format!("{:?}{:?}", SystemTime::now(), dir).as_bytes())[..16]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-set_serial",
        &serial,
        "-days",
        "7",
        "-extfile",
        &cnf_s,
        "-extensions",
        "v3_server",
        "-out",
        &p(&cert),
    ]);
    Tls { ca, cert, key }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `openssl` (apt-get install openssl): {e}"));
    assert!(out.status.success(), "openssl {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

// ---------------------------------------------------------------------------
// Token server (bearer-token auth)
// ---------------------------------------------------------------------------

/// The `service` of the bearer challenge (and the `aud` of the tokens) of a
/// registry started with [`Registry::start_with_token_auth`].
pub const TOKEN_SERVICE: &str = "wharf-test-registry";
/// The `iss` of the tokens the test token server signs.
pub const TOKEN_ISSUER: &str = "wharf-test-issuer";

/// One request the token server answered (a line of its JSON log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` (or `HEAD`).
    pub method: String,
    /// The URL path, `/token` for token requests.
    pub path: String,
    /// The HTTP basic-auth user name; `None` for an anonymous request.
    pub user: Option<String>,
    /// The `account` query parameter (sent by `docker login`-style checks).
    pub account: Option<String>,
    /// The `service` query parameter.
    pub service: Option<String>,
    /// The requested scopes, e.g. `repository:a/b:pull,push`.
    pub scopes: Vec<String>,
    /// What the token grants (empty unless `status` is 200).
    pub granted: Vec<TokenGrant>,
    /// The HTTP status of the answer: 200, 401 (wrong credentials), 404, 500.
    pub status: u16,
    /// The OAuth2 `grant_type` of a `POST` (identity tokens: `refresh_token`).
    pub grant: Option<String>,
}

/// One `access` entry of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    /// `repository` (or `registry` for the catalog).
    pub kind: String,
    /// The repository name.
    pub name: String,
    /// The granted actions (`pull`, `push`, ...).
    pub actions: Vec<String>,
}

impl TokenRequest {
    fn from_json(v: &serde_json::Value) -> TokenRequest {
        let s = |k: &str| v[k].as_str().map(str::to_owned);
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
        };
        let granted = v["granted"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|g| TokenGrant {
                        kind: g["type"].as_str().unwrap_or_default().to_owned(),
                        name: g["name"].as_str().unwrap_or_default().to_owned(),
                        actions: strings(&g["actions"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        TokenRequest {
            method: s("method").unwrap_or_default(),
            path: s("path").unwrap_or_default(),
            user: s("user"),
            account: s("account"),
            service: s("service"),
            scopes: strings(&v["scopes"]),
            grant: s("grant"),
            granted,
            status: v["status"].as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
        }
    }
}

/// `python3 peers/token_server.py` on a free loopback port (it binds port 0
/// and reports the port through a file, so there is no race for it).
struct TokenServer {
    child: Option<Child>,
    port: u16,
    user: String,
    password: String,
    cert: PathBuf,
    /// JSON lines, one per request.
    requests: PathBuf,
    /// Its stdout and stderr.
    output: PathBuf,
}

impl TokenServer {
    fn start(registry_dir: &Path, user: &str, password: &str) -> TokenServer {
        let dir = registry_dir.join("token");
        std::fs::create_dir_all(&dir).expect("create token server dir");
        let (key, cert) = generate_token_signing_key(&dir);
        let requests = dir.join("requests.jsonl");
        let output = dir.join("token-server.log");
        let port_file = dir.join("port");
        let script = peers_dir().join("token_server.py");
        assert!(script.is_file(), "no token server script {}", script.display());
        let out = std::fs::File::create(&output).expect("create token server log");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg("--key")
            .arg(&key)
            .arg("--cert")
            .arg(&cert)
            .args(["--issuer", TOKEN_ISSUER, "--service", TOKEN_SERVICE, "--user", user])
            .arg("--log")
            .arg(&requests)
            .arg("--port-file")
            .arg(&port_file)
            .env("WHARF_TOKEN_PASSWORD", password)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone token server log handle"))
            .stderr(out);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run `python3` for the token server: {e}"));
        let mut server = TokenServer {
            child: Some(child),
            port: 0,
            user: user.to_owned(),
            password: password.to_owned(),
            cert,
            requests,
            output,
        };
        // Python start-up plus a signing self-test; generous on busy machines.
        let deadline = Instant::now() + READY_TIMEOUT * 3;
        loop {
            if let Some(port) = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse().ok()) {
                server.port = port;
                return server;
            }
            let exited = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "the token server exited early ({status}); output:\n{}",
                    std::fs::read_to_string(&server.output).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the token server did not start within {:?}; output:\n{}",
                    READY_TIMEOUT * 3,
                    std::fs::read_to_string(&server.output).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The `auth:` section of the registry config.
    fn registry_auth_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            serde_json::to_string(&self.realm()).expect("string to json"),
            TOKEN_SERVICE,
            TOKEN_ISSUER,
            yaml_str(&self.cert),
        )
    }

    fn requests(&self) -> Vec<TokenRequest> {
        let text = std::fs::read_to_string(&self.requests).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("bad token server log line {l:?} ({e})"));
                TokenRequest::from_json(&v)
            })
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An EC P-256 key and its self-signed certificate for signing tokens:
/// `(key.pem, cert.pem)` in `dir`.
fn generate_token_signing_key(dir: &Path) -> (PathBuf, PathBuf) {
    let cnf = dir.join("openssl.cnf");
    std::fs::write(
        &cnf,
        "[req]\n\
         distinguished_name = dn\n\
         prompt = no\n\
         [dn]\n\
         CN = wharf registry-tests token issuer\n\
         [v3_signer]\n\
         basicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,digitalSignature,keyCertSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .expect("write token openssl.cnf");
    let key = dir.join("signing.key");
    let cert = dir.join("signing.crt");
    let p = |p: &Path| p.to_string_lossy().into_owned();
    openssl(&[
        "req",
        "-x509",
        "-config",
        &p(&cnf),
        "-extensions",
        "v3_signer",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p(&key),
        "-out",
        &p(&cert),
        "-days",
        "7",
    ]);
    (key, cert)
}

// ---------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------

/// The outcome of one external command.
#[derive(Clone)]
pub struct Run {
    /// Exit code; `128 + signal` if killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panics (showing stdout and stderr) unless the exit code was 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        self.assert_code(0)
    }

    /// Panics (showing stdout and stderr) unless the exit code was `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert!(self.code == code, "expected exit code {code}, got {}\n{self}", self.code);
        self
    }

    /// Panics (showing the output) if the exit code was 0.
    #[track_caller]
    pub fn assert_failure(&self) -> &Run {
        assert!(self.code != 0, "expected a failure, got exit code 0\n{self}");
        self
    }

    /// Panics (showing the output) unless the run failed cleanly: exit code 2, an `error: ` line
    /// (warnings, such as announced retries, may come before it), `needle` in stderr, no panic.
    #[track_caller]
    pub fn assert_failed_cleanly(&self, needle: &str) -> &Run {
        self.assert_code(2);
        assert!(self.stderr.lines().any(|l| l.starts_with("error: ")), "expected an `error: ` line\n{self}");
        assert!(self.stderr.contains(needle), "expected {needle:?}:\n{self}");
        assert!(!self.stderr.contains("panicked"), "{self}");
        self
    }

    /// [`Run::assert_failed_cleanly`], and the `error: ` line is stderr's first: no warning before it.
    #[track_caller]
    pub fn assert_failed_at_once(&self, needle: &str) -> &Run {
        self.assert_failed_cleanly(needle);
        let first = self.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "expected stderr to start with the `error: ` line\n{self}");
        self
    }

    /// stdout parsed as JSON; panics (showing the output) if it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not JSON ({e})\n{self}"),
        }
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--- exit code: {}\n--- stdout:\n{}\n--- stderr:\n{}\n---", self.code, self.stdout, self.stderr)
    }
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An isolated environment for one test: a temp directory that is `HOME`
/// and the working directory, with `DOCKER_CONFIG=<tmp>/docker` so nothing
/// touches `~/.docker`.
pub struct TestEnv {
    dir: TempDir,
    vars: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new().prefix("wharf-test-").tempdir().expect("create test tempdir");
        std::fs::create_dir_all(dir.path().join("docker")).expect("create docker config dir");
        let run_dir = dir.path().join(".run");
        std::fs::create_dir_all(&run_dir).expect("create XDG_RUNTIME_DIR");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod XDG_RUNTIME_DIR");
        }
        TestEnv { dir, vars: Vec::new() }
    }

    /// The temp directory (also `HOME` and the working directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<tmp>/<name>` (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `DOCKER_CONFIG` directory, `<tmp>/docker`.
    pub fn docker_config_dir(&self) -> PathBuf {
        self.path("docker")
    }

    /// Write `<tmp>/<name>` (creating parent directories) and return its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    /// Set an extra environment variable for every command run in this env.
    pub fn set_var(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut TestEnv {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_owned(), value));
        self
    }

    /// Writes wkg's config where wkg looks by default (`$XDG_CONFIG_HOME/wasm-pkg/config.toml`),
    /// and makes sure an outer `WKG_CONFIG_FILE` cannot take over.
    pub fn write_wkg_config(&mut self, toml: &str) -> &mut TestEnv {
        self.write(".config/wasm-pkg/config.toml", toml);
        self.set_var("WKG_CONFIG_FILE", "")
    }

    /// A `Command` for `program` with this environment applied (`HOME`,
    /// `DOCKER_CONFIG`, `XDG_*`, `NO_COLOR=1`, cwd, extra vars, null stdin).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let d = self.dir.path();
        cmd.current_dir(d)
            .stdin(Stdio::null())
            .env("HOME", d)
            .env("DOCKER_CONFIG", d.join("docker"))
            .env("XDG_CONFIG_HOME", d.join(".config"))
            .env("XDG_CACHE_HOME", d.join(".cache"))
            .env("XDG_DATA_HOME", d.join(".local/share"))
            .env("XDG_RUNTIME_DIR", d.join(".run"))
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("REGISTRY_AUTH_FILE");
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

/// Run `cmd` to completion (bounded by `WHARF_TEST_TIMEOUT_SECS`, default
/// 300 s; panics on timeout) and capture its output.
pub fn run(mut cmd: Command) -> Run {
    let desc = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    let read_all = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read_all(Box::new(out));
    let err = read_all(Box::new(err));
    let timeout = std::env::var("WHARF_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_COMMAND_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let run =
                    Run { code: -1, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() };
                panic!("{desc} timed out after {timeout:?}\n{run}");
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {desc}: {e}"),
        }
    };
    Run { code: exit_code(status), stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
}

/// Run the `wharf` binary with `args` in `env`.
pub fn wharf(args: &[&str], env: &TestEnv) -> Run {
    let mut cmd = env.command(wharf_bin());
    cmd.args(args);
    run(cmd)
}

/// Run `program` with `args` in `env` (like [`wharf`], for any binary).
/// Runs wharf in `env` with `stdin` fed through a pipe (for `--password-stdin`).
pub fn wharf_stdin(args: &[&str], env: &TestEnv, stdin: &str) -> Run {
    let (reader, mut writer) = std::io::pipe().expect("create stdin pipe");
    // Passwords are far below the pipe buffer: write everything, then close
    // our end so wharf sees EOF.
    writer.write_all(stdin.as_bytes()).expect("write to stdin pipe");
    drop(writer);
    let mut cmd = env.command(wharf_bin());
    cmd.args(args).stdin(reader);
    run(cmd)
}

pub fn run_in(program: impl AsRef<OsStr>, args: &[&str], env: &TestEnv) -> Run {
    let mut cmd = env.command(program);
    cmd.args(args);
    run(cmd)
}

/// Builds the check example `case` against `world` into `<env>/<case>.wasm`
/// (see `wharf_examples::build_check_component`) and returns the path.
pub fn check_example(env: &TestEnv, case: &str, world: &str) -> String {
    let path = wharf_examples::write_check_component(env.dir(), case, world).unwrap_or_else(|e| panic!("{e:#}"));
    path.to_string_lossy().into_owned()
}

/// A peer tool pinned to `version`: `$ENV_VAR`, else `name` on `PATH`, else
/// `~/.cargo/bin/NAME` (where `cargo install` puts it). Never skipped: a
/// missing tool, or another version, fails with the `install` command
/// (scripts/test installs every pinned tool).
pub fn pinned_tool(name: &str, env_var: &str, version: &str, install: &str) -> PathBuf {
    let candidates = std::env::var_os(env_var)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .chain(Some(PathBuf::from(name)))
        .chain(std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin").join(name)));
    for candidate in candidates {
        let Ok(output) = Command::new(&candidate).arg("--version").output() else { continue };
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.split_whitespace().nth(1) == Some(version),
            "{} is {}, these tests need {name} {version}: {install}",
            candidate.display(),
            printed.trim()
        );
        return candidate;
    }
    panic!("{name} is not installed (scripts/test installs it): {install}");
}

/// `<workspace>` (the parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("registry-tests has a parent directory").to_path_buf()
}

/// The `wharf` binary: `$WHARF_BIN` if set; otherwise
/// `<target>/debug/wharf`, built once per test process with
/// `cargo build -p wharf-cli --bin wharf` if it is missing, older than a
/// source file of `lib/` or `cli/` (or `Cargo.lock`), or `WHARF_REBUILD` is set.
/// `<target>` is `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn wharf_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WHARF_BIN").filter(|s| !s.is_empty()) {
        return PathBuf::from(bin);
    }
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let ws = workspace_dir();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .filter(|s| !s.is_empty())
            .map(|t| ws.join(t))
            .unwrap_or_else(|| ws.join("target"));
        let bin = target.join("debug").join("wharf");
        if std::env::var_os("WHARF_REBUILD").is_some() || is_stale(&bin, &ws) {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "wharf-cli", "--bin", "wharf"])
                .current_dir(&ws)
                .stdin(Stdio::null())
                .status()
                .expect("run cargo build -p wharf-cli");
            assert!(status.success(), "cargo build -p wharf-cli --bin wharf failed");
        }
        assert!(bin.is_file(), "wharf binary not found at {}", bin.display());
        bin
    })
    .clone()
}

fn is_stale(bin: &Path, ws: &Path) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return true;
    };
    fn newer(p: &Path, than: SystemTime) -> bool {
        let Ok(meta) = std::fs::metadata(p) else {
            return false;
        };
        if meta.is_dir() {
            let Ok(rd) = std::fs::read_dir(p) else {
                return false;
            };
            rd.flatten().any(|e| newer(&e.path(), than))
        } else {
            let relevant = p.extension().is_some_and(|e| e == "rs" || e == "wit")
                || p.file_name().is_some_and(|n| n == "Cargo.toml");
            relevant && meta.modified().is_ok_and(|m| m > than)
        }
    }
    ["lib", "cli"].iter().any(|d| newer(&ws.join(d), built))
        || std::fs::metadata(ws.join("Cargo.lock")).and_then(|m| m.modified()).is_ok_and(|m| m > built)
}

/// Run `skopeo` with `args` (isolated `HOME`, so no stray auth files).
pub fn skopeo(args: &[&str]) -> Run {
    let env = TestEnv::new();
    run_in("skopeo", args, &env)
}

/// Run `python3 registry-tests/peers/<script> args...`.
pub fn python_peer(script: &str, args: &[&str]) -> Run {
    let env = TestEnv::new();
    python_peer_in(script, args, &env)
}

/// Like [`python_peer`], in a given environment.
pub fn python_peer_in(script: &str, args: &[&str], env: &TestEnv) -> Run {
    let path = peers_dir().join(script);
    assert!(path.is_file(), "no peer script {}", path.display());
    let mut cmd = env.command("python3");
    cmd.arg(path).args(args).env("PYTHONUNBUFFERED", "1");
    // HOME is the test's tempdir; keep packages pip installed with --user
    // (under the real ~/.local) importable.
    if std::env::var_os("PYTHONUSERBASE").is_none()
        && let Some(home) = std::env::var_os("HOME")
    {
        cmd.env("PYTHONUSERBASE", Path::new(&home).join(".local"));
    }
    run(cmd)
}

/// `registry-tests/peers`.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

// ---------------------------------------------------------------------------
// Hashing and raw HTTP
// ---------------------------------------------------------------------------

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// A raw HTTP response. Header names are lowercased.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// First header named `name` (case-insensitive) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `GET http://HOST/PATH` with the given `Accept` header (empty: none);
/// returns `(status, headers, body)`. Panics on I/O errors.
pub fn registry_get(host: &str, path: &str, accept: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    if !accept.is_empty() {
        headers.push(("Accept", accept));
    }
    let r = http_request("GET", host, path, &headers, &[]).unwrap_or_else(|e| panic!("GET http://{host}{path}: {e}"));
    (r.status, r.headers, r.body)
}

/// [`registry_get`] of a JSON document that must exist: its bytes and the parsed JSON.
pub fn registry_get_json(host: &str, path: &str, accept: &str) -> (Vec<u8>, serde_json::Value) {
    let (status, _, body) = registry_get(host, path, accept);
    assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    let value = serde_json::from_slice(&body).expect("JSON body");
    (body, value)
}

/// Upload `bytes` as a blob of `repo` on the plain-HTTP, anonymous registry
/// `host` (monolithic POST + PUT); returns its `sha256:` digest.
pub fn push_blob(host: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let r = http_request("POST", host, &format!("/v2/{repo}/blobs/uploads/"), &[], &[])
        .unwrap_or_else(|e| panic!("POST upload to {host}/{repo}: {e}"));
    assert_eq!(r.status, 202, "starting a blob upload: {r:?}");
    let location = r.header("location").expect("upload Location header");
    let location = location.strip_prefix(&format!("http://{host}")).unwrap_or(location);
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{sep}digest={digest}");
    let r = http_request("PUT", host, &url, &[("Content-Type", "application/octet-stream")], bytes)
        .unwrap_or_else(|e| panic!("PUT blob to {host}/{repo}: {e}"));
    assert_eq!(r.status, 201, "finishing a blob upload: {r:?}");
    digest
}

/// PUT `bytes` as manifest `reference` (tag or digest) of `repo` with the
/// given `Content-Type`; returns the registry's `Docker-Content-Digest`.
pub fn push_manifest(host: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
    let r =
        http_request("PUT", host, &format!("/v2/{repo}/manifests/{reference}"), &[("Content-Type", media_type)], bytes)
            .unwrap_or_else(|e| panic!("PUT manifest {host}/{repo}:{reference}: {e}"));
    assert_eq!(r.status, 201, "PUT manifest: {} {}", r.status, String::from_utf8_lossy(&r.body));
    r.header("docker-content-digest").expect("Docker-Content-Digest header").to_owned()
}

/// `Authorization` header value for HTTP basic auth.
pub fn basic_auth(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

/// Standard base64 (RFC 4648, with padding), as docker writes `auths[...].auth`.
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A minimal plain-HTTP/1.1 client over `std::net::TcpStream`
/// (`Connection: close`; handles `Content-Length`, chunked and
/// read-to-EOF bodies; no body for `HEAD`, 1xx, 204 and 304).
pub fn http_request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    read_response(BufReader::new(stream), method == "HEAD")
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed mid-response"));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| bad("non-UTF-8 header line"))
}

fn read_response(mut r: impl BufRead, head: bool) -> std::io::Result<HttpResponse> {
    let (status, headers) = loop {
        let status_line = read_line(&mut r)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/") {
            return Err(bad(format!("bad status line {status_line:?}")));
        }
        let status: u16 =
            parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut r)?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        // Skip interim responses (100 Continue and friends).
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        break (status, headers);
    };
    let mut body = Vec::new();
    let no_body = head || status == 204 || status == 304;
    let chunked = header(&headers, "transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if no_body {
    } else if chunked {
        loop {
            let line = read_line(&mut r)?;
            let size_str = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers until an empty line (or EOF).
                while let Ok(l) = read_line(&mut r) {
                    if l.is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let crlf = read_line(&mut r)?;
            if !crlf.is_empty() {
                return Err(bad("missing CRLF after chunk"));
            }
        }
    } else if let Some(len) = header(&headers, "content-length") {
        let len: usize = len.parse().map_err(|_| bad(format!("bad content-length {len:?}")))?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(HttpResponse { status, headers, body })
}

/// python's `http.server` on a free loopback port, serving `dir` (a registry's `.well-known`
/// metadata, which docker-registry cannot serve); killed on drop.
pub struct StaticServer {
    child: Child,
    port: u16,
}

impl StaticServer {
    /// Starts it; panics if it does not listen within 10 s.
    pub fn start(dir: &Path) -> StaticServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("find a free loopback port");
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server (is python3 installed? scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "python3 -m http.server did not listen on port {port} within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        StaticServer { child, port }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o, "base64({i:?})");
        }
    }

    #[test]
    fn sha256_of_empty_and_abc() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_digest(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn parses_chunked_and_content_length_bodies() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\nTrailer: x\r\n\r\n";
        let r = read_response(&raw[..], false).expect("chunked parses");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"Wikipedia ");
        assert_eq!(r.header("x-a"), Some("b"));

        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcEXTRA";
        let r = read_response(&raw[..], false).expect("content-length parses");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abc"[..]));

        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let r = read_response(&raw[..], true).expect("HEAD parses");
        assert!(r.body.is_empty());
    }
}
