//! The errors of keys and signatures. Registry and content errors are
//! wharf-oci's, carried as [`Error::Oci`].

pub use wharf_oci::ErrorKind;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with keys or signatures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A signing or verification key (or certificate material) cannot be used.
    /// Never carries a password or private key material.
    #[error("cannot use the key {what}: {reason}")]
    InvalidKey {
        /// Where the key came from (a path, or a description).
        what: String,
        /// What is wrong.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// A usage problem (a pattern that is not a regular expression, a key file that exists).
    #[error("{0}")]
    Usage(String),
    /// Reading content, files or registries failed.
    #[error(transparent)]
    Oci(#[from] wharf_oci::Error),
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidKey { .. } | Error::Usage(_) => ErrorKind::Usage,
            Error::Oci(e) => e.kind(),
        }
    }

    /// A one-line suggestion for fixing the problem, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidKey { fix, .. } => Some(fix.clone()),
            Error::Usage(_) => None,
            Error::Oci(e) => e.hint(),
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(action: &'static str, path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Oci(wharf_oci::Error::io(action, path, source))
    }

    /// Shorthand for a malformed document.
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Self {
        Error::Oci(wharf_oci::Error::malformed(what, reason))
    }
}
