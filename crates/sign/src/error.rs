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
        fix: KeyFix,
    },
    /// A key file to be written exists already: wharf never overwrites one.
    #[error("{} already exists; wharf never overwrites a key file (remove it, or choose another prefix)", path.display())]
    KeyFileExists {
        /// The file.
        path: std::path::PathBuf,
    },
    /// A usage problem (a pattern that is not a regular expression).
    #[error("{0}")]
    Usage(String),
    /// Reading content, files or registries failed.
    #[error(transparent)]
    Oci(#[from] wharf_oci::Error),
}

/// How to fix a key that cannot be used: what to give instead. The kinds that
/// a front end words in its own commands are typed; the rest are advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFix {
    /// Give a private key file in cosign's format (as a key generator writes it).
    GivePrivateKey,
    /// Sign with the private key of the pair; the public key is for verifying.
    SignWithPrivateKey,
    /// Sign with an ECDSA P-256 or Ed25519 key (RSA keys only verify).
    SignWithSupportedKey,
    /// Generate an ECDSA P-256 key pair.
    GenerateP256,
    /// Anything else, in words.
    Advice(String),
}

impl std::fmt::Display for KeyFix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyFix::GivePrivateKey => {
                "give a private key file in cosign's format (cosign generate-key-pair writes one)"
            }
            KeyFix::SignWithPrivateKey => "sign with the private key (the .key file); the .pub file is for verifying",
            KeyFix::SignWithSupportedKey => {
                "sign with an ECDSA P-256 or Ed25519 key; verify RSA signatures with the .pub file"
            }
            KeyFix::GenerateP256 => "generate an ECDSA P-256 pair (cosign generate-key-pair)",
            KeyFix::Advice(words) => words,
        })
    }
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidKey { .. } | Error::KeyFileExists { .. } | Error::Usage(_) => ErrorKind::Usage,
            Error::Oci(e) => e.kind(),
        }
    }

    /// A one-line suggestion for fixing the problem, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidKey { fix, .. } => Some(fix.to_string()),
            Error::KeyFileExists { .. } | Error::Usage(_) => None,
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
