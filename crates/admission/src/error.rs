//! The errors of the admission webhook's own domain (policies, its TLS
//! files). The errors of content and registries, signatures and Wasm are the
//! other crates', carried as [`Error::Oci`], [`Error::Sign`] and [`Error::Wasm`].

pub use wharf_oci::ErrorKind;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong starting or running the webhook.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An admission policy cannot be used (refused at start).
    #[error("invalid policy {origin}{}: {reason}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    InvalidPolicy {
        /// The policy file.
        origin: String,
        /// The 1-based line of the problem, where known.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// The server's certificate, its key or the client CA cannot be used.
    #[error("cannot use the key {what}: {reason}")]
    InvalidTls {
        /// The file.
        what: String,
        /// What is wrong.
        reason: String,
        /// Which of the server's files it is.
        file: TlsFile,
    },
    /// An option of the install manifests that Kubernetes would refuse.
    #[error("the {} {value} {reason}", option.words())]
    InstallOption {
        /// Which option.
        option: InstallOption,
        /// Its value, as written in the message (numbers bare, text quoted).
        value: String,
        /// What is wrong with it, and how to write it.
        reason: &'static str,
    },
    /// A usage problem (an image that is not in a registry, a manifest file that does not parse).
    #[error("{0}")]
    Usage(String),
    /// Reading content or registries failed.
    #[error(transparent)]
    Oci(#[from] wharf_oci::Error),
    /// Keys, trusted roots or signatures.
    #[error(transparent)]
    Sign(wharf_sign::Error),
    /// Wasm artifacts, WIT and world checks.
    #[error(transparent)]
    Wasm(wharf_wasm::Error),
}

/// The TLS files of the webhook's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// Its certificate chain or its private key.
    ServerCertificate,
    /// The CA that client certificates must chain to.
    ClientCa,
    /// That CA, to be put into the cluster (`manifests`): its certificate only, never its key.
    ClientCaToInstall,
}

/// The options of the install manifests ([`crate::manifests::InstallOptions`]) that are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOption {
    /// How many webhook pods.
    Replicas,
    /// The webhook's image.
    Image,
    /// The Secret with registry credentials.
    RegistrySecret,
    /// An address range the API server calls from.
    ApiserverCidr,
}

impl InstallOption {
    /// The option in words.
    pub fn words(self) -> &'static str {
        match self {
            InstallOption::Replicas => "replica count",
            InstallOption::Image => "webhook image",
            InstallOption::RegistrySecret => "registry Secret",
            InstallOption::ApiserverCidr => "API server address range",
        }
    }
}

/// Keeps one place for each OCI error: a signature error that is an OCI error becomes [`Error::Oci`].
impl From<wharf_sign::Error> for Error {
    fn from(e: wharf_sign::Error) -> Self {
        match e {
            wharf_sign::Error::Oci(e) => Error::Oci(e),
            other => Error::Sign(other),
        }
    }
}

/// Keeps one place for each OCI error: a Wasm error that is an OCI error becomes [`Error::Oci`].
impl From<wharf_wasm::Error> for Error {
    fn from(e: wharf_wasm::Error) -> Self {
        match e {
            wharf_wasm::Error::Oci(e) => Error::Oci(e),
            other => Error::Wasm(other),
        }
    }
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidPolicy { .. } | Error::InvalidTls { .. } | Error::InstallOption { .. } | Error::Usage(_) => {
                ErrorKind::Usage
            }
            Error::Oci(e) => e.kind(),
            Error::Sign(e) => e.kind(),
            Error::Wasm(e) => e.kind(),
        }
    }

    /// A one-line suggestion for fixing the problem, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidPolicy { .. } => Some("see docs/admission.md for the policy format".into()),
            Error::InvalidTls { file: TlsFile::ServerCertificate, .. } => {
                Some("give a PEM certificate chain and its PEM private key".into())
            }
            Error::InvalidTls { file: TlsFile::ClientCa, .. } => {
                Some("give the PEM certificate of the CA that issued the API server's client certificate".into())
            }
            Error::InvalidTls { file: TlsFile::ClientCaToInstall, .. } => Some(
                "give the PEM certificate of the CA that issued the API server's client certificate (its certificate \
                 only, never its key)"
                    .into(),
            ),
            Error::InstallOption { .. } | Error::Usage(_) => None,
            Error::Oci(e) => e.hint(),
            Error::Sign(e) => e.hint(),
            Error::Wasm(e) => e.hint(),
        }
    }

    /// The OCI error underneath, if this is one.
    pub fn oci(&self) -> Option<&wharf_oci::Error> {
        match self {
            Error::Oci(e) => Some(e),
            _ => None,
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(action: &'static str, path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Oci(wharf_oci::Error::io(action, path, source))
    }
}
