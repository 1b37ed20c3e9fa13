//! Typed errors of OCI content and registries. Every error knows its kind (which
//! decides a front end's exit code and wording) and, where one exists, a hint naming the fix.
//! wharf's other crates wrap this error in theirs (`Oci(..)`) and add their own domains.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Broad classes of failure, used by front ends to pick exit codes and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The user's input is wrong: a malformed reference, a flag, an invalid file.
    Usage,
    /// A file or directory could not be read or written.
    Io,
    /// The thing asked for does not exist (tag, manifest, blob).
    NotFound,
    /// Credentials are missing or were refused.
    Auth,
    /// The registry could not be reached or the connection failed.
    Network,
    /// Content did not match its digest or declared size.
    Integrity,
    /// The registry or layout answered with something unexpected.
    Protocol,
    /// The content exists but is not what the command can handle (not a Wasm artifact).
    Unsupported,
}

/// The error type of the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference string could not be parsed.
    #[error("invalid reference {input:?}: {reason}")]
    InvalidReference {
        /// What the user typed.
        input: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A digest string could not be parsed.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// What was given.
        input: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest, tag or blob does not exist.
    #[error("{what} not found")]
    NotFound {
        /// A description of what was looked for.
        what: String,
    },
    /// The registry refused our credentials, or needs some.
    #[error("access to {registry} was denied: {detail}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The registry's or token server's words.
        detail: String,
    },
    /// The registry could not be reached.
    #[error("cannot reach registry {registry}: {detail}")]
    Unreachable {
        /// The registry host.
        registry: String,
        /// What went wrong.
        detail: String,
    },
    /// A TLS certificate could not be verified.
    #[error("TLS certificate of {registry} was not accepted: {detail}")]
    Certificate {
        /// The registry host.
        registry: String,
        /// The verification failure.
        detail: String,
    },
    /// Content did not hash to its digest.
    #[error("content of {expected} does not match its digest (got {actual})")]
    DigestMismatch {
        /// The digest the descriptor promised.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// Content was shorter or longer than its descriptor said.
    #[error("content of {digest} has the wrong size: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest being read.
        digest: String,
        /// Size in the descriptor.
        expected: u64,
        /// Bytes seen.
        actual: u64,
    },
    /// The registry answered with an error.
    #[error("registry {registry} answered {status}: {message}")]
    Registry {
        /// The registry host.
        registry: String,
        /// HTTP status or error code.
        status: String,
        /// The message.
        message: String,
    },
    /// The registry asked to be asked again later (429 or 503 with `Retry-After`).
    #[error("registry {registry} answered {status} and asks to retry after {} s: {message}", after.as_secs())]
    RetryLater {
        /// The registry host.
        registry: String,
        /// HTTP status.
        status: String,
        /// How long the registry asked to wait.
        after: std::time::Duration,
        /// The message.
        message: String,
    },
    /// Malformed JSON or an unexpected document.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The document kind ("manifest", "index.json", ...).
        what: String,
        /// Why.
        reason: String,
    },
    /// Reading or sending content failed part-way.
    #[error("transfer of {what} failed: {source}")]
    Transfer {
        /// What was being moved (a digest).
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A generic usage problem (conflicting flags, missing values).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidReference { .. } | Error::InvalidDigest { .. } | Error::Usage(_) => ErrorKind::Usage,
            Error::Io { .. } => ErrorKind::Io,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Unauthorized { .. } => ErrorKind::Auth,
            Error::Unreachable { .. } | Error::Certificate { .. } | Error::Transfer { .. } => ErrorKind::Network,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => ErrorKind::Integrity,
            Error::Registry { .. } | Error::RetryLater { .. } | Error::Malformed { .. } => ErrorKind::Protocol,
        }
    }

    /// A one-line suggestion for fixing the problem, where there is one that needs
    /// no front end's words (a fix that names a command or a flag is the front end's).
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::InvalidReference { .. } => "write a registry reference as HOST[:PORT]/REPO[:TAG][@sha256:HEX] (for example 127.0.0.1:5000/hello:0.1.0), or a local layout as oci:PATH[:TAG]".into(),
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => "the source holds corrupt or tampered content; nothing was written".into(),
            _ => return None,
        })
    }

    /// The HTTP status of a registry's error answer ([`Error::Registry`],
    /// [`Error::RetryLater`]), which wharf writes as `HTTP NNN`; `None` for
    /// other errors and for failures that were no HTTP answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Registry { status, .. } | Error::RetryLater { status, .. } => {
                status.strip_prefix("HTTP ")?.parse().ok()
            }
            _ => None,
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    /// Shorthand for a malformed document.
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Self {
        Error::Malformed { what: what.into(), reason: reason.to_string() }
    }
}
