//! Flag groups shared by several commands.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use wharf::Reference;
use wharf::oci::credentials::Credentials;
use wharf::oci::transport::TransportOptions;
use wharf::sign::{self, sigstore::keyless};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// `--format`.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format: text for people, json for CI (one document on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
}

/// Registry connection flags.
#[derive(Args, Debug, Clone, Default)]
pub struct TransportArgs {
    /// Use plain HTTP (needed for plain-HTTP registries that are not on loopback).
    #[arg(long)]
    pub plain_http: bool,
    /// Do not verify TLS certificates (dangerous).
    #[arg(long)]
    pub insecure: bool,
    /// A PEM CA bundle to trust in addition to the system roots (repeatable).
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// User name for the registry of the command's main reference (with --password-stdin): the destination
    /// of push, copy and sign, the source of pull, inspect and verify. Other registries use the docker config.
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read that registry's password (or token) from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Seconds allowed to connect to a registry (TCP and TLS) [default: 15].
    #[arg(long, value_name = "SECS", env = "WHARF_CONNECT_TIMEOUT", value_parser = parse_seconds)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Seconds a registry connection may stay silent before wharf gives up on it [default: 60].
    #[arg(long, value_name = "SECS", env = "WHARF_READ_TIMEOUT", value_parser = parse_seconds)]
    pub read_timeout: Option<std::time::Duration>,
    /// Upload blobs larger than BYTES in resumable chunks of BYTES [default: chunks of 32 MiB above 1 GiB].
    #[arg(long, value_name = "BYTES", env = "WHARF_UPLOAD_CHUNK_SIZE", hide_short_help = true)]
    pub upload_chunk_size: Option<std::num::NonZeroU64>,
}

/// Parses a positive number of seconds (fractions allowed: `0.5`).
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(std::time::Duration::from_secs_f64(s)),
        _ => Err(format!("{text:?} is not a number of seconds between 0 and 86400 (for example 30 or 0.5)")),
    }
}

impl TransportArgs {
    /// The transport options without command-line credentials, for commands
    /// that reach registries the user does not name one by one (admission):
    /// `--username` is refused there, so that no password goes to a registry
    /// it was not meant for. Those registries use the docker config.
    pub fn options(&self) -> Result<TransportOptions, wharf::Error> {
        if self.username.is_some() || self.password_stdin {
            return Err(wharf::Error::usage(
                "this command takes registry credentials from the docker config only (store them with \
                 `wharf login HOST`): --username and --password-stdin are for commands that name the registry \
                 they are for",
            ));
        }
        Ok(self.base_options())
    }

    /// The transport options with `--username`/`--password-stdin` bound to
    /// the registry of `reference`, the command's main reference (`role`
    /// names it in messages: "the destination"). Every other registry the
    /// command reaches gets what the docker config holds for it.
    pub fn options_for(&self, reference: Option<&Reference>, role: &str) -> Result<TransportOptions, wharf::Error> {
        let flags = self.credential_flags(("--username", "--password-stdin"));
        let base = self.base_options();
        match read_credentials(&[flags])?.pop().flatten() {
            Some(credentials) => {
                Ok(base.with_credentials(&bound_registry(reference, role, "--username")?, credentials))
            }
            None => Ok(base),
        }
    }

    /// `--username`/`--password-stdin`, named `names` in messages.
    pub fn credential_flags(&self, names: (&'static str, &'static str)) -> CredentialFlags<'_> {
        CredentialFlags { username: self.username.as_deref(), password_stdin: self.password_stdin, names }
    }

    /// The transport options, with no credentials bound yet.
    pub fn base_options(&self) -> TransportOptions {
        TransportOptions {
            plain_http: self.plain_http,
            insecure: self.insecure,
            ca_files: self.ca_files.clone(),
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            upload_chunk_size: self.upload_chunk_size.map(std::num::NonZeroU64::get),
            ..TransportOptions::default()
        }
    }
}

/// One registry's user name and password flags, as the user gave them.
pub struct CredentialFlags<'a> {
    /// The user name, if given.
    pub username: Option<&'a str>,
    /// Whether the password is to be read from standard input.
    pub password_stdin: bool,
    /// The flags' names, for messages: (`--username`, `--password-stdin`).
    pub names: (&'static str, &'static str),
}

/// The credentials each of `sides` gives, in order. Passwords come from
/// standard input: all of it (without its trailing newline) when one side
/// reads it, one line each in the order of `sides` when several do.
pub fn read_credentials(sides: &[CredentialFlags<'_>]) -> Result<Vec<Option<Credentials>>, wharf::Error> {
    for side in sides {
        let (user_flag, password_flag) = side.names;
        match (side.username, side.password_stdin) {
            (Some(_), false) => {
                return Err(wharf::Error::usage(format!(
                    "{user_flag} needs {password_flag} (the password is read from standard input)"
                )));
            }
            (None, true) => return Err(wharf::Error::usage(format!("{password_flag} needs {user_flag}"))),
            _ => {}
        }
    }
    let readers: Vec<&str> = sides.iter().filter(|s| s.password_stdin).map(|s| s.names.1).collect();
    let mut passwords = match readers.len() {
        0 => Vec::new(),
        1 => vec![read_password_stdin()?],
        _ => read_password_lines(&readers)?,
    }
    .into_iter();
    Ok(sides
        .iter()
        .map(|side| {
            let username = side.username?.to_string();
            passwords.next().map(|password| Credentials { username, password })
        })
        .collect())
}

/// The registry of `reference`, which credentials given with `flag` are
/// for; a usage error when `role` is not in a registry.
pub fn bound_registry(reference: Option<&Reference>, role: &str, flag: &str) -> Result<String, wharf::Error> {
    let place = match reference {
        Some(Reference::Registry(r)) => return Ok(r.registry.clone()),
        Some(layout) => format!("that is a local OCI layout ({layout})"),
        None => "that is not in a registry".to_string(),
    };
    Err(wharf::Error::usage(format!(
        "{flag} is for the registry of {role}, and {place}; other registries take their credentials from \
         the docker config (`wharf login HOST`)"
    )))
}

/// The reference `input` names, unless it is a local file or looks like one
/// (parts, components and WIT packages may be either; the library reads a
/// file then).
pub fn reference_input(input: &str) -> Option<Reference> {
    if std::path::Path::new(input).exists() || wharf::wasm::source::looks_like_path(input) {
        return None;
    }
    Reference::parse(input).ok()
}

/// Reads one password per line of standard input, for the flags `readers` in order.
fn read_password_lines(readers: &[&str]) -> Result<Vec<String>, wharf::Error> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| wharf::Error::io("cannot read the passwords from", "standard input", e))?;
    let lines: Vec<String> = text.trim_end_matches(['\n', '\r']).lines().map(str::to_string).collect();
    if lines.len() != readers.len() || lines.iter().any(String::is_empty) {
        return Err(wharf::Error::usage(format!(
            "{} read one password per line from standard input, in that order; it held {} line(s), or an empty one",
            readers.join(" and "),
            lines.len()
        )));
    }
    Ok(lines)
}

/// Reads a password from stdin, without its trailing newline.
pub fn read_password_stdin() -> Result<String, wharf::Error> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| wharf::Error::io("cannot read the password from", "standard input", e))?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(wharf::Error::usage("the password read from standard input is empty"));
    }
    Ok(password)
}

/// Parses `K=V` annotation flags.
pub fn parse_annotation(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("annotation {text:?} must be KEY=VALUE")),
    }
}

/// An exact value or an anchored pattern, from the pair of keyless flags that give it
/// (`--certificate-identity` or `-regexp`, `--certificate-oidc-issuer` or `-regexp`).
pub fn identity_matcher(
    exact: Option<String>,
    pattern: Option<String>,
) -> Result<Option<keyless::Matcher>, wharf::Error> {
    match (exact, pattern) {
        (Some(value), _) => Ok(Some(keyless::Matcher::Exact(value))),
        (None, Some(text)) => Ok(Some(keyless::Matcher::pattern(&text)?)),
        (None, None) => Ok(None),
    }
}

/// Whose signatures count, for commands that read signatures from a registry: `--key`, or keyless
/// (`--trusted-root` with an identity and an issuer).
#[derive(Args, Debug, Clone)]
pub struct TrustArgs {
    /// The public key file (PEM PUBLIC KEY, as `cosign.pub`): ECDSA P-256, Ed25519 or RSA. With
    /// --trusted-root, each signature must also carry a log entry of one of its transparency logs.
    #[arg(long, value_name = "FILE", required_unless_present = "trusted_root", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"])]
    key: Option<PathBuf>,
    /// Keyless: the identity the certificate must name (an email or a URI).
    #[arg(long, value_name = "ID", requires = "trusted_root", conflicts_with = "certificate_identity_regexp")]
    certificate_identity: Option<String>,
    /// Keyless: a regular expression the whole identity must match (anchored, unlike cosign's).
    #[arg(long, value_name = "REGEX", requires = "trusted_root")]
    certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer the certificate must name.
    #[arg(long, value_name = "ISSUER", requires = "trusted_root", conflicts_with = "certificate_oidc_issuer_regexp")]
    certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression the whole OIDC issuer must match (anchored).
    #[arg(long, value_name = "REGEX", requires = "trusted_root")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// The Sigstore trusted root (trusted_root.json: Fulcio CAs, Rekor, CT logs, timestamp authorities):
    /// keyless, or with --key to require the signature in one of its transparency logs.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

impl TrustArgs {
    /// The trust the flags give, reading the key and the trusted root.
    pub fn trust(self) -> Result<sign::Trust, wharf::Error> {
        let identity = identity_matcher(self.certificate_identity, self.certificate_identity_regexp)?;
        let issuer = identity_matcher(self.certificate_oidc_issuer, self.certificate_oidc_issuer_regexp)?;
        match (&self.key, &self.trusted_root, identity, issuer) {
            (Some(key), None, _, _) => Ok(sign::Trust::Key(sign::read_public_key(key)?)),
            (Some(key), Some(root), _, _) => {
                Ok(sign::Trust::ManagedKey { key: sign::read_public_key(key)?, root: sign::read_trusted_root(root)? })
            }
            (None, Some(root), Some(identity), Some(issuer)) => Ok(sign::Trust::Keyless {
                root: sign::read_trusted_root(root)?,
                expected: keyless::ExpectedIdentity { identity, issuer },
            }),
            _ => Err(wharf::Error::usage(
                "give --key FILE, or --trusted-root with --certificate-identity[-regexp] and \
                 --certificate-oidc-issuer[-regexp]",
            )),
        }
    }
}

/// `--mode` of `sign` and `attest`: which cosign formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Sigstore bundle v0.3 as an OCI 1.1 referrer (cosign v3).
    Bundle,
    /// The sha256-<hex>.sig (signatures) or .att (attestations) tag (cosign v2).
    Legacy,
    /// Both formats.
    Both,
}

impl From<ModeArg> for sign::cosign::Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Bundle => Self::Bundle,
            ModeArg::Legacy => Self::Legacy,
            ModeArg::Both => Self::Both,
        }
    }
}
