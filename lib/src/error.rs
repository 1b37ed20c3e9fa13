//! The one error of the verbs: each crate's error in its place, with one place
//! for every OCI error (a Wasm or signature error that is an OCI error is
//! [`Error::Oci`]), so a front end matches each failure once.

pub use wharf_oci::ErrorKind;

/// Result alias of the façade.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any failure of a verb.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Content, files, references or registries.
    #[error(transparent)]
    Oci(#[from] wharf_oci::Error),
    /// Wasm binaries, WIT, artifacts and compositions.
    #[error(transparent)]
    Wasm(wharf_wasm::Error),
    /// Keys and signatures.
    #[cfg(feature = "sign")]
    #[error(transparent)]
    Sign(wharf_sign::Error),
    /// The admission webhook's policies and TLS files.
    #[cfg(feature = "admission")]
    #[error(transparent)]
    Admission(wharf_admission::Error),
}

impl From<wharf_wasm::Error> for Error {
    fn from(e: wharf_wasm::Error) -> Self {
        match e {
            wharf_wasm::Error::Oci(e) => Error::Oci(e),
            other => Error::Wasm(other),
        }
    }
}

#[cfg(feature = "sign")]
impl From<wharf_sign::Error> for Error {
    fn from(e: wharf_sign::Error) -> Self {
        match e {
            wharf_sign::Error::Oci(e) => Error::Oci(e),
            other => Error::Sign(other),
        }
    }
}

#[cfg(feature = "admission")]
impl From<wharf_admission::Error> for Error {
    fn from(e: wharf_admission::Error) -> Self {
        match e {
            wharf_admission::Error::Oci(e) => Error::Oci(e),
            wharf_admission::Error::Wasm(e) => Error::Wasm(e),
            wharf_admission::Error::Sign(e) => Error::Sign(e),
            other => Error::Admission(other),
        }
    }
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Oci(e) => e.kind(),
            Error::Wasm(e) => e.kind(),
            #[cfg(feature = "sign")]
            Error::Sign(e) => e.kind(),
            #[cfg(feature = "admission")]
            Error::Admission(e) => e.kind(),
        }
    }

    /// A one-line suggestion for fixing the problem, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Oci(e) => e.hint(),
            Error::Wasm(e) => e.hint(),
            #[cfg(feature = "sign")]
            Error::Sign(e) => e.hint(),
            #[cfg(feature = "admission")]
            Error::Admission(e) => e.hint(),
        }
    }

    /// A usage error in a front end's own words (conflicting flags, missing values).
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Oci(wharf_oci::Error::Usage(message.into()))
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(action: &'static str, path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Oci(wharf_oci::Error::io(action, path, source))
    }
}
