//! Running `wharf` and the peer tools (skopeo, oras-py, wkg, wasm-tools) in an
//! isolated environment, each within a time limit, and what they printed.

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

/// Default limit for one external command (wharf, skopeo, a peer); override
/// with `WHARF_TEST_TIMEOUT_SECS`.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

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
/// source file of `crates/`, `lib/` or `cli/` (or `Cargo.lock`), or `WHARF_REBUILD` is set.
/// `<target>` is `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn wharf_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WHARF_BIN").filter(|s| !s.is_empty()) {
        return PathBuf::from(bin);
    }
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("wharf-cli", "wharf", &["crates", "lib", "cli"])).clone()
}

/// A program of `examples/library/` (crate `wharf-library-examples`): built
/// once per test process, as [`wharf_bin`] builds wharf, when it is missing or
/// older than a source file of the library or the examples.
pub fn library_example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        built("wharf-library-examples", "push-pull", &["crates", "lib", "examples/library"]);
    });
    let bin = target_dir().join("debug").join(name);
    assert!(bin.is_file(), "{name} not found at {}", bin.display());
    bin
}

/// `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    let ws = workspace_dir();
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|s| !s.is_empty())
        .map(|t| ws.join(t))
        .unwrap_or_else(|| ws.join("target"))
}

/// `<target>/debug/<bin>`, after `cargo build -p <package> --bins` when it is
/// missing, older than a source file under `sources` (or `Cargo.lock`), or
/// `WHARF_REBUILD` is set.
fn built(package: &str, bin: &str, sources: &[&str]) -> PathBuf {
    let ws = workspace_dir();
    let bin = target_dir().join("debug").join(bin);
    if std::env::var_os("WHARF_REBUILD").is_some() || is_stale(&bin, &ws, sources) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", package, "--bins"])
            .current_dir(&ws)
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("run cargo build -p {package}: {e}"));
        assert!(status.success(), "cargo build -p {package} --bins failed");
    }
    assert!(bin.is_file(), "{} not found", bin.display());
    bin
}

fn is_stale(bin: &Path, ws: &Path, sources: &[&str]) -> bool {
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
    sources.iter().any(|d| newer(&ws.join(d), built))
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
