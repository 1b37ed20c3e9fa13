//! What wharf proves who it is with ([`Credentials`], [`Secret`]), and where it keeps it:
//! registry credentials in the docker config (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`): reading through `docker_credential`
//! (`auths`, `credsStore`, `credHelpers`), and `login`/`logout` writing the
//! file as docker does.

use std::path::PathBuf;

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fs::{Mode, write_atomic};

/// A user name and password (or token).
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ username: {:?}, password: <redacted> }}", self.username)
    }
}

/// What wharf has to prove who it is.
#[derive(Clone, Default)]
pub enum Secret {
    /// Nothing.
    #[default]
    Anonymous,
    /// A user name and password (or a personal access token as password).
    Password(Credentials),
    /// An OAuth2 refresh token from `docker login` (the docker config's `identitytoken`).
    IdentityToken(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Anonymous => f.write_str("Anonymous"),
            Secret::Password(c) => write!(f, "Password({c:?})"),
            Secret::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// The key docker uses for Docker Hub in `auths`.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The key a registry host has in `auths`.
pub fn config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        other => other.to_string(),
    }
}

/// The docker config file wharf reads and writes.
pub fn config_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| Error::Usage("neither DOCKER_CONFIG nor HOME is set: cannot find the docker config".into()))?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

/// What the docker config holds for `registry`: a user name and password, an
/// identity token (exchanged for registry tokens with the OAuth2
/// `refresh_token` grant), or nothing.
pub fn lookup(registry: &str) -> Secret {
    match docker_credential::get_credential(&config_key(registry)) {
        Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
            Secret::Password(Credentials { username, password })
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => Secret::IdentityToken(token),
        Err(_) => Secret::Anonymous,
    }
}

fn read_config(path: &PathBuf) -> Result<Map<String, Value>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Error::malformed(path.display().to_string(), "it is not a JSON object")),
            Err(e) => Err(Error::malformed(path.display().to_string(), e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

fn write_config(path: &std::path::Path, config: Map<String, Value>) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let mut bytes =
        serde_json::to_vec_pretty(&Value::Object(config)).map_err(|e| Error::malformed("docker config", e))?;
    bytes.push(b'\n');
    // Mode 0600: the file holds passwords (base64 is no protection).
    write_atomic(path, &bytes, Mode::Private)
}

/// The credential helper the docker config names for `registry`
/// (`credHelpers[registry]`, else `credsStore`), if any.
fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let key = config_key(registry);
    config
        .get("credHelpers")
        .and_then(|h| h.get(&key))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin, as docker does.
fn run_helper(helper: &str, action: &str, input: &str) -> Result<()> {
    use std::io::Write as _;
    let program = format!("docker-credential-{helper}");
    let mut child = std::process::Command::new(&program)
        .arg(action)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Usage(format!("the docker config names the credential helper {program}, which cannot be run: {e}"))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|e| Error::io("cannot write to", &program, e))?;
    }
    let output = child.wait_with_output().map_err(|e| Error::io("cannot run", &program, e))?;
    if output.status.success() {
        Ok(())
    } else {
        let said =
            String::from_utf8_lossy(&output.stdout).trim().to_string() + String::from_utf8_lossy(&output.stderr).trim();
        Err(Error::Usage(format!("{program} {action} failed: {said}")))
    }
}

/// Where a login was stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Stored {
    /// In the config file's `auths`.
    ConfigFile {
        /// The file.
        path: PathBuf,
    },
    /// Through a credential helper (`docker-credential-NAME`).
    Helper {
        /// The helper's name.
        name: String,
    },
}

/// Stores credentials for `registry` as docker does: through the credential
/// helper the config names, else in the config file's `auths` (keeping every
/// other entry and setting as it was).
pub fn store(registry: &str, credentials: &Credentials) -> Result<Stored> {
    let path = config_path()?;
    let mut config = read_config(&path)?;
    if let Some(helper) = helper_for(&config, registry) {
        let input = serde_json::json!({
            "ServerURL": config_key(registry),
            "Username": credentials.username,
            "Secret": credentials.password,
        });
        run_helper(&helper, "store", &input.to_string())?;
        return Ok(Stored::Helper { name: helper });
    }
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", credentials.username, credentials.password));
    let auths = config.entry("auths").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        return Err(Error::malformed(path.display().to_string(), "`auths` is not an object"));
    };
    auths.insert(config_key(registry), serde_json::json!({ "auth": auth }));
    write_config(&path, config)?;
    Ok(Stored::ConfigFile { path })
}

/// Removes the credentials for `registry` (from the helper too, when one is
/// configured). Returns false if the config file had none.
pub fn remove(registry: &str) -> Result<bool> {
    let path = config_path()?;
    let mut config = read_config(&path)?;
    if let Some(helper) = helper_for(&config, registry) {
        run_helper(&helper, "erase", &config_key(registry))?;
    }
    let removed = match config.get_mut("auths") {
        Some(Value::Object(auths)) => auths.remove(&config_key(registry)).is_some(),
        _ => false,
    };
    if removed {
        write_config(&path, config)?;
    }
    Ok(removed)
}
