//! The token server behind a registry started with bearer-token auth: it signs
//! tokens for the scopes asked, and logs every request for the tests to read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::*;

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
    pub(crate) fn from_json(v: &serde_json::Value) -> TokenRequest {
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
pub(crate) struct TokenServer {
    pub(crate) child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) cert: PathBuf,
    /// JSON lines, one per request.
    pub(crate) requests: PathBuf,
    /// Its stdout and stderr.
    pub(crate) output: PathBuf,
}

impl TokenServer {
    pub(crate) fn start(registry_dir: &Path, user: &str, password: &str) -> TokenServer {
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

    pub(crate) fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The `auth:` section of the registry config.
    pub(crate) fn registry_auth_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            serde_json::to_string(&self.realm()).expect("string to json"),
            TOKEN_SERVICE,
            TOKEN_ISSUER,
            yaml_str(&self.cert),
        )
    }

    pub(crate) fn requests(&self) -> Vec<TokenRequest> {
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
