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
        fix: Fix,
    },
    /// Components could not be composed: an import no part satisfies with a
    /// matching type, a plug that satisfies nothing, a cycle.
    #[error("cannot compose: {reason}")]
    Composition {
        /// What is wrong, naming the import, the parts and the types as WIT.
        reason: String,
        /// How to fix it.
        fix: Fix,
    },
    /// The packages of a composition, as given, do not do (boxed: the error stays small).
    #[error("{0}")]
    Package(Box<PackageProblem>),
    /// A runtime shape that cannot be converted back: it does not carry its CNCF config.
    #[error(
        "this {shape} artifact was not made by wharf's conversion, so its CNCF config is unknown; pull the Wasm \
         and push it to make the CNCF form"
    )]
    UnknownCncfConfig {
        /// The shape read.
        shape: String,
    },
    /// A binary Spin cannot start: neither an HTTP handler nor a command.
    #[error(
        "Spin cannot run this {kind}: Spin starts a component through its HTTP trigger, which needs a wasi:http \
         handler export (wasi:http/incoming-handler@0.2) or a command (wasi:cli/run, or _start in a core module, run \
         through the WAGI executor), and this one exports only [{}]; run it with wasmtime instead",
        exports.join(", ")
    )]
    SpinCannotRun {
        /// `component` or `core module`.
        kind: String,
        /// What it exports.
        exports: Vec<String>,
    },
    /// A directory was asked for, and a file is there.
    #[error("{} is a file: a runtime's files are written into a directory (it is created if missing)", path.display())]
    NotADirectory {
        /// The path.
        path: std::path::PathBuf,
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

/// How to fix a declared target or a composition: what to give or do. The kinds
/// a front end words with its own arguments are typed; the rest are advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Anything else, in words.
    Advice(String),
    /// Give the WIT world to check against.
    GiveWorld,
    /// Give the world, or push the component at `reference` with the world it fits recorded.
    GiveWorldOrRecord {
        /// The artifact's reference.
        reference: String,
    },
    /// Map the package to a registry in wkg's `config`, or give the world.
    MapPackageOrGiveWorld {
        /// wkg's config file (or how it was not found).
        config: String,
    },
    /// Push the package to `reference` (where wkg's `config` maps it), fix the mapping, or give the world.
    PushPackageOrGiveWorld {
        /// Where the mapping points.
        reference: String,
        /// wkg's config file.
        config: String,
    },
    /// Give every package the `.wac` document uses; `given` names those given.
    GiveEveryPackage {
        /// The packages given (`none`, or names joined with `, `).
        given: String,
    },
    /// Check each part of the composition; `parts` describes them.
    InspectParts {
        /// The parts, described.
        parts: String,
    },
    /// Push the package `name` to `reference` (where wkg's `config` maps it), fix the mapping, or give it.
    PushPackageOrGiveIt {
        /// The package, as the document names it.
        name: String,
        /// Where the mapping points.
        reference: String,
        /// wkg's config file.
        config: String,
    },
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fix::Advice(words) => f.write_str(words),
            Fix::GiveWorld => f.write_str("give the WIT world to check against"),
            Fix::GiveWorldOrRecord { reference } => write!(
                f,
                "give the WIT world to check against, or push the component to {reference} with the world it fits recorded"
            ),
            Fix::MapPackageOrGiveWorld { config } => write!(
                f,
                "map the package to a registry in {config} (default_registry, [namespace_registries] or \
                 [package_registry_overrides]), or give the WIT world"
            ),
            Fix::PushPackageOrGiveWorld { reference, config } => {
                write!(f, "push the package to {reference}, fix the mapping in {config}, or give the WIT world")
            }
            Fix::GiveEveryPackage { given } => {
                write!(f, "give every package the file uses (a .wasm file or a reference); given: {given}")
            }
            Fix::InspectParts { parts } => write!(f, "check each part; parts: {parts}"),
            Fix::PushPackageOrGiveIt { name, reference, config } => {
                write!(f, "push it to {reference}, fix the mapping in {config}, or give {name} itself")
            }
        }
    }
}

impl From<&str> for Fix {
    fn from(advice: &str) -> Fix {
        Fix::Advice(advice.to_string())
    }
}

impl From<String> for Fix {
    fn from(advice: String) -> Fix {
        Fix::Advice(advice)
    }
}

/// What is wrong with the packages of a composition as they were given (by a
/// front end's arguments: a `NAME=SOURCE` list, a locked mode), typed so that a
/// front end can name its own arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageProblem {
    /// A `NAME=SOURCE` that is not one.
    BadSpec {
        /// What was given.
        text: String,
        /// Why it is not `NAME=SOURCE`.
        why: String,
    },
    /// The same package given twice.
    GivenTwice {
        /// Its name.
        name: String,
    },
    /// A package name that is not `ns:pkg` or `ns:pkg@version`.
    BadName {
        /// The name.
        name: String,
        /// Why.
        why: String,
    },
    /// The document uses `used`, and `given` is given instead (another version).
    OtherVersion {
        /// Where the document names it (`FILE:LINE:COLUMN`).
        place: String,
        /// The package as the document names it.
        used: String,
        /// The package as given.
        given: String,
        /// Its source as given.
        source: String,
    },
    /// A package nothing gives, and wkg's mapping does not find.
    Unmapped {
        /// Where the document names it.
        place: String,
        /// The package as the document names it.
        name: String,
        /// Its namespace.
        namespace: String,
        /// Why the mapping does not find it (starting in lower case).
        cause: String,
        /// wkg's config file.
        config: String,
    },
    /// The lock does not pin these packages as composed (a composition that must not change the lock).
    NotPinned {
        /// The lock file.
        lock: std::path::PathBuf,
        /// The packages, `NAME (SOURCE)`.
        unpinned: Vec<String>,
    },
}

impl std::fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackageProblem::BadSpec { text, why } => write!(
                f,
                "{text:?}: {why}; write NAME=SOURCE, for example wharf:greeter=greeter.wasm or \
                 wharf:greeter@0.1.0=127.0.0.1:5000/greeter:0.1.0"
            ),
            PackageProblem::GivenTwice { name } => write!(f, "the package {name} is given twice"),
            PackageProblem::BadName { name, why } => write!(f, "the package name {name}: {why}"),
            PackageProblem::OtherVersion { place, used, given, .. } => {
                write!(f, "cannot compose: {place}: the document uses `{used}`, and {given} is given instead")
            }
            PackageProblem::Unmapped { place, name, cause, .. } => {
                write!(f, "cannot compose: {place}: unknown package `{name}`: it is not given, and {cause}")
            }
            PackageProblem::NotPinned { lock, unpinned } => {
                write!(f, "cannot compose: {} does not pin {}", lock.display(), unpinned.join(", "))
            }
        }
    }
}

impl PackageProblem {
    /// How to fix it, in words that name no front end's arguments.
    pub fn hint(&self) -> Option<String> {
        match self {
            PackageProblem::BadSpec { .. } | PackageProblem::GivenTwice { .. } | PackageProblem::BadName { .. } => None,
            PackageProblem::OtherVersion { used, source, .. } => {
                Some(format!("name it as the document does: {used}={source}"))
            }
            PackageProblem::Unmapped { name, namespace, config, .. } => Some(format!(
                "give it ({name}=SOURCE, a .wasm file or a reference), or map the namespace {namespace} to a registry \
                 in {config} (default_registry or [namespace_registries])"
            )),
            PackageProblem::NotPinned { lock, .. } => Some(format!(
                "compose once without requiring the pins, to pin them, and keep {} with the document",
                lock.display()
            )),
        }
    }
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

/// `filter-plugin` for `acme:plugins/filter-plugin@0.1.0`: the plain name a world is chosen by.
pub fn plain_world_name(world: &str) -> &str {
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
            | Error::Package(_)
            | Error::UnknownCncfConfig { .. }
            | Error::SpinCannotRun { .. }
            | Error::NotADirectory { .. }
            | Error::Usage(_) => ErrorKind::Usage,
            Error::NotWasmArtifact(_) => ErrorKind::Unsupported,
            Error::Oci(e) => e.kind(),
        }
    }

    /// A one-line suggestion for fixing the problem, where there is one, in
    /// words that name no front end's commands or flags (a front end words its own).
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::InvalidWasm { .. } => "build the component again, or check that the file is the .wasm output and not a .wat text or an archive".into(),
            Error::InvalidWit { .. } => "give a WIT directory (with its dependencies in deps/), a single .wit file, a binary WIT package (.wasm), or a reference to one".into(),
            Error::WorldSelection { available, .. } => match available.first() {
                Some(world) => format!("choose one of them, for example {}", plain_world_name(world)),
                None => "use a WIT package that defines a world, or name a world of its dependencies as ns:pkg/world@version".into(),
            },
            Error::Composition { fix, .. } | Error::DeclaredTarget { fix, .. } => fix.to_string(),
            Error::Package(problem) => return problem.hint(),
            Error::Oci(e) => return e.hint(),
            Error::NotWasmArtifact(_)
            | Error::Usage(_)
            | Error::UnknownCncfConfig { .. }
            | Error::SpinCannotRun { .. }
            | Error::NotADirectory { .. } => return None,
        })
    }

    /// Shorthand for [`Error::Package`].
    pub fn package(problem: PackageProblem) -> Self {
        Error::Package(Box::new(problem))
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
