//! A real CNCF distribution registry (`docker-registry`) on a free loopback port, with
//! temporary storage, optional htpasswd, TLS (openssl-made certificates) or bearer tokens;
//! killed on drop.

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

use crate::*;

/// How long the registry may take to become ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at finding a free port when the registry loses the race for it.
const PORT_ATTEMPTS: usize = 5;

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

pub(crate) fn yaml_str(p: &Path) -> String {
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

pub(crate) fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `openssl` (apt-get install openssl): {e}"));
    assert!(out.status.success(), "openssl {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}
