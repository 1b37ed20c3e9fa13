//! The errors of WebAssembly binaries, WIT, artifacts and compositions. Registry
//! and content errors are wharf-oci's, carried as [`Error::Oci`].

pub use wharf_oci::ErrorKind;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with a binary, a WIT package, an artifact or a composition.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file is not a valid WebAssembly binary.
    #[error("{path} is not a valid WebAssembly binary: {reason} (at byte offset {offset})")]
    InvalidWasm {
        /// The file.
        path: String,
        /// The parser's reason.
        reason: String,
        /// Byte offset of the problem.
        offset: usize,
    },
    /// A WIT package could not be read, parsed or encoded.
    #[error("cannot use the WIT at {location}: {reason}")]
    InvalidWit {
        /// The path or reference given.
        location: String,
        /// What is wrong, with the parser's position where it gave one.
        reason: String,
    },
    /// No world, or no single world, matches what was asked for.
    #[error("{}", world_selection_message(package, requested.as_deref(), available))]
    WorldSelection {
        /// The WIT package (`ns:pkg@version`).
        package: String,
        /// The world asked for, if any.
        requested: Option<String>,
        /// The worlds the package defines (`ns:pkg/world@version`).
        available: Vec<String>,
    },
    /// The world an artifact declares (`component.target`) cannot be used:
    /// there is none, or its WIT package cannot be mapped or fetched.
    #[error("{reason}")]
    DeclaredTarget {
        /// What is wrong.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// Components could not be composed: an import no part satisfies with a
    /// matching type, a plug that satisfies nothing, a cycle.
    #[error("cannot compose: {reason}")]
    Composition {
        /// What is wrong, naming the import, the parts and the types as WIT.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// The content is not a Wasm artifact, or uses a shape wharf cannot read.
    #[error("{0}")]
    NotWasmArtifact(String),
    /// A usage problem (a part that is a core module, a limit exceeded, an unknown shape).
    #[error("{0}")]
    Usage(String),
    /// Reading content, files or registries failed.
    #[error(transparent)]
    Oci(#[from] wharf_oci::Error),
}

/// The words of [`Error::WorldSelection`].
fn world_selection_message(package: &str, requested: Option<&str>, available: &[String]) -> String {
    let list = available.join(", ");
    match (requested, available.len()) {
        (Some(world), 0) => format!("the WIT package {package} has no world {world:?}; it defines no worlds"),
        (Some(world), _) => format!("the WIT package {package} has no world {world:?}; its worlds are {list}"),
        (None, 0) => format!("the WIT package {package} defines no world to check against"),
        (None, _) => {
            format!("the WIT package {package} defines several worlds ({list}); say which one to check against")
        }
    }
}

/// `filter-plugin` for `acme:plugins/filter-plugin@0.1.0`.
fn plain_world_name(world: &str) -> &str {
    let name = world.rsplit_once('/').map_or(world, |(_, n)| n);
    name.split_once('@').map_or(name, |(n, _)| n)
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidWasm { .. }
            | Error::InvalidWit { .. }
            | Error::WorldSelection { .. }
            | Error::DeclaredTarget { .. }
            | Error::Composition { .. }
            | Error::Usage(_) => ErrorKind::Usage,
            Error::NotWasmArtifact(_) => ErrorKind::Unsupported,
            Error::Oci(e) => e.kind(),
        }
    }

    /// A one-line suggestion for fixing the problem, where there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::InvalidWasm { .. } => "build the component again, or check that the file is the .wasm output and not a .wat text or an archive".into(),
            Error::InvalidWit { .. } => "give a WIT directory (with its dependencies in deps/), a single .wit file, a binary WIT package (.wasm), or a reference to one".into(),
            Error::WorldSelection { available, .. } => match available.first() {
                Some(world) => format!("choose one with --world, for example --world {}", plain_world_name(world)),
                None => "use a WIT package that defines a world, or name a world of its dependencies as ns:pkg/world@version".into(),
            },
            Error::Composition { fix, .. } | Error::DeclaredTarget { fix, .. } => fix.clone(),
            Error::Oci(e) => return e.hint(),
            Error::NotWasmArtifact(_) | Error::Usage(_) => return None,
        })
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
