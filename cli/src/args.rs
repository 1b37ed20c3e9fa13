//! Flag groups shared by several commands.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use wharf::transport::{Credentials, TransportOptions};

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
    /// User name for the registry (with --password-stdin); otherwise the docker config is used.
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password (or token) from standard input.
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
    /// The library's transport options, reading the password from stdin if asked.
    pub fn options(&self) -> Result<TransportOptions, wharf::Error> {
        let credentials = match (&self.username, self.password_stdin) {
            (Some(username), true) => {
                Some(Credentials { username: username.clone(), password: read_password_stdin()? })
            }
            (Some(_), false) => {
                return Err(wharf::Error::Usage(
                    "--username needs --password-stdin (the password is read from standard input)".into(),
                ));
            }
            (None, true) => return Err(wharf::Error::Usage("--password-stdin needs --username".into())),
            (None, false) => None,
        };
        Ok(TransportOptions {
            plain_http: self.plain_http,
            insecure: self.insecure,
            ca_files: self.ca_files.clone(),
            credentials,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            upload_chunk_size: self.upload_chunk_size.map(std::num::NonZeroU64::get),
            ..TransportOptions::default()
        })
    }
}

/// Reads a password from stdin, without its trailing newline.
pub fn read_password_stdin() -> Result<String, wharf::Error> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| wharf::Error::io("cannot read the password from", "standard input", e))?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(wharf::Error::Usage("the password read from standard input is empty".into()));
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
