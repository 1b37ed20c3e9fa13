//! `.wac` documents: parsed and resolved by wac-parser, with packages given
//! explicitly (`--dep NAME=SOURCE`) or found by name through wkg's mapping,
//! and pinned in a lock file.

use std::path::Path;

use indexmap::IndexMap;
use semver::Version;
use serde::{Deserialize, Serialize};
use wac_graph::types::BorrowedPackageKey;
use wac_parser::Document;
use wac_parser::resolution::Error as ResolutionError;

use super::{Composed, ENCODE, LoadedPart, Staged, guarded, plain, validate_composed, world_names};
use crate::error::{Error, Result};
use wharf_oci::transport::TransportOptions;

/// A package a `.wac` document uses: its name as the document writes it
/// (`ns:pkg`, or `ns:pkg@version`), where it came from, and the part.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// `ns:pkg` or `ns:pkg@version`.
    pub name: String,
    /// The SOURCE of `--dep NAME=SOURCE` as typed, or the reference wkg's
    /// mapping gave for the name.
    pub input: String,
    /// The part read from it.
    pub part: LoadedPart,
    /// For a package found by name: the registry wkg's mapping chose.
    pub registry: Option<String>,
}

/// Splits `NAME=SOURCE` (a `--dep` value), checking that NAME is `ns:pkg` or
/// `ns:pkg@version`.
pub fn parse_dep(text: &str) -> Result<(String, String)> {
    let usage = |why: &str| {
        Error::Usage(format!(
            "--dep {text:?}: {why}; write NAME=SOURCE, for example --dep wharf:greeter=greeter.wasm or --dep \
             wharf:greeter@0.1.0=127.0.0.1:5000/greeter:0.1.0"
        ))
    };
    let (name, source) = text.split_once('=').ok_or_else(|| usage("there is no `=`"))?;
    let (name, source) = (name.trim(), source.trim());
    if source.is_empty() {
        return Err(usage("the SOURCE is empty"));
    }
    split_name(name).map_err(|why| usage(&why))?;
    Ok((name.to_string(), source.to_string()))
}

/// `ns:pkg@1.0.0` into `ns:pkg` and the version.
pub(super) fn split_name(name: &str) -> std::result::Result<(&str, Option<Version>), String> {
    let (package, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(Version::parse(v).map_err(|e| format!("{v:?} is not a semver version ({e})"))?)),
        None => (name, None),
    };
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match package.split_once(':') {
        Some((ns, pkg)) if valid(ns) && valid(pkg) => Ok((package, version)),
        _ => Err(format!("{package:?} is not a package name (ns:pkg, lowercase kebab-case)")),
    }
}

/// Composes the `.wac` document `text` (`file` names it in messages) with the
/// packages in `deps`, which must give every package it uses. The result is
/// validated and deterministic.
pub fn compose(file: &str, text: &str, deps: &[Dependency]) -> Result<Composed> {
    let document = Document::parse(text).map_err(|e| wac_error(file, text, &e, deps))?;
    check_deps(deps)?;
    match attempt(file, text, &document, deps)? {
        Attempt::Composed(composed) => Ok(composed),
        Attempt::Missing(missing) => Err(missing.not_given(file, text, deps)),
    }
}

/// Composes the `.wac` document `text` like [`compose`], finding each package
/// it uses that `deps` does not give by its name through wkg's mapping
/// ([`crate::wkg`]: `ns:pkg@1.2.3` at `REGISTRY/[PREFIX]ns/pkg:1.2.3`). Each
/// package found is checked against `lock` (at `lock_path`) as given ones are.
/// Returns the composition and every package used, the given ones first.
pub async fn compose_with_registries(
    file: &str,
    text: &str,
    mut deps: Vec<Dependency>,
    lock: (&Lock, &Path),
    transport: &TransportOptions,
) -> Result<(Composed, Vec<Dependency>)> {
    let document = Document::parse(text).map_err(|e| wac_error(file, text, &e, &deps))?;
    check_deps(&deps)?;
    let mut config = None;
    loop {
        let missing = match attempt(file, text, &document, &deps)? {
            Attempt::Composed(composed) => return Ok((composed, deps)),
            Attempt::Missing(missing) => missing,
        };
        if deps.iter().any(|d| d.name == missing.to_string()) {
            // wac-parser refuses it although it is given: the document instantiates itself.
            return Err(missing.not_given(file, text, &deps));
        }
        missing.check_no_other_version(file, text, &deps)?;
        if config.is_none() {
            config = Some(crate::wkg::Config::load()?);
        }
        let (config, config_path) = config.as_ref().ok_or_else(|| Error::Usage("no wkg config".into()))?;
        let dep =
            super::named::fetch(&missing, file, text, (config, config_path.as_deref()), lock.0, transport).await?;
        lock.0.verify(&dep, lock.1)?;
        check_dep(&dep)?;
        deps.push(dep);
    }
}

/// Checks that every dependency is a valid component, each given once.
fn check_deps(deps: &[Dependency]) -> Result<()> {
    for (i, dep) in deps.iter().enumerate() {
        check_dep(dep)?;
        if deps[..i].iter().any(|d| d.name == dep.name) {
            return Err(Error::Usage(format!("--dep {} is given twice", dep.name)));
        }
    }
    Ok(())
}

/// Checks that `dep` has a package name and is a component. It is not
/// validated here: wac-types' loader reads its structure, and the composed
/// result (which defines every package) is validated once; only when either
/// fails are the packages validated one by one, to name the one at fault.
fn check_dep(dep: &Dependency) -> Result<()> {
    split_name(&dep.name).map_err(|why| Error::Usage(format!("--dep {}: {why}", dep.name)))?;
    if crate::inspect::kind_of_header(&dep.part.bytes) == Some(crate::inspect::WasmKind::Module) {
        return Err(Error::Usage(format!(
            "the package {} ({}) is a core module, not a component: only components can be composed",
            dep.name, dep.input
        )));
    }
    Ok(())
}

/// The validation error of the first package that is not valid, if any.
fn invalid_package(deps: &[Dependency]) -> Option<Error> {
    deps.iter().find_map(|d| crate::inspect::validate(&d.input, &d.part.bytes).err())
}

/// What resolving a document with some packages gave.
enum Attempt {
    /// The composed component.
    Composed(Composed),
    /// A package the document uses that is not among them.
    Missing(Missing),
}

/// A package a document uses that was not given.
#[derive(Debug, Clone)]
pub(super) struct Missing {
    /// `ns:pkg`.
    pub name: String,
    /// The version the document asks for.
    pub version: Option<Version>,
    /// Where the document names it (a byte offset).
    pub offset: usize,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{}@{version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl Missing {
    /// The error for a package that is neither given nor looked up.
    fn not_given(&self, file: &str, text: &str, deps: &[Dependency]) -> Error {
        Error::Composition {
            reason: format!("{}: unknown package `{self}`", place(file, text, self.offset)),
            fix: format!(
                "give every package the file uses with --dep NAME=SOURCE (a .wasm file or a reference); given: {}",
                given(deps)
            ),
        }
    }

    /// Refuses a `--dep` of this package at another version (or without
    /// one): the user meant it, and a lookup by name would silently win.
    fn check_no_other_version(&self, file: &str, text: &str, deps: &[Dependency]) -> Result<()> {
        let other = deps.iter().find(|d| split_name(&d.name).is_ok_and(|(name, _)| name == self.name));
        match other {
            Some(dep) => Err(Error::Composition {
                reason: format!(
                    "{}: the document uses `{self}`, and --dep gives {} instead",
                    place(file, text, self.offset),
                    dep.name
                ),
                fix: format!("name it as the document does: --dep {self}={}", dep.input),
            }),
            None => Ok(()),
        }
    }
}

/// Resolves and encodes `document` with `deps`, which are checked.
fn attempt(file: &str, text: &str, document: &Document<'_>, deps: &[Dependency]) -> Result<Attempt> {
    let mut packages = IndexMap::new();
    let names: Vec<(&str, Option<Version>)> = deps.iter().filter_map(|d| split_name(&d.name).ok()).collect();
    for ((name, version), dep) in names.iter().zip(deps) {
        packages.insert(BorrowedPackageKey::from_name_and_version(name, version.as_ref()), dep.part.bytes.clone());
    }
    let resolution = match guarded(|| Ok(document.resolve(packages)))
        .map_err(|reason| Error::Composition { reason, fix: "check the .wac file and its packages".into() })?
    {
        Ok(resolution) => resolution,
        Err(ResolutionError::UnknownPackage { name, span }) => {
            let version = text
                .get(span.offset()..span.offset() + span.len())
                .and_then(|written| written.split_once('@'))
                .and_then(|(_, v)| Version::parse(v).ok());
            return Ok(Attempt::Missing(Missing { name, version, offset: span.offset() }));
        }
        Err(ResolutionError::MismatchedInstantiationArg { name, span, source }) => {
            let site = super::mismatch::Site { file, text, document, deps };
            return Err(site.explain(&name, span.offset(), &source));
        }
        Err(e) => return Err(invalid_package(deps).unwrap_or_else(|| wac_error(file, text, &e, deps))),
    };
    let bytes = resolution
        .encode(ENCODE)
        .map_err(|e| invalid_package(deps).unwrap_or_else(|| wac_error(file, text, &e, deps)))?;
    validate_composed(&bytes, deps.iter().map(|d| (d.input.as_str(), d.part.bytes.as_slice())))?;
    let (imports, exports) = world_names(&bytes)?;
    Ok(Attempt::Composed(Composed { size: bytes.len() as u64, wires: Vec::new(), imports, exports, bytes }))
}

/// `FILE:LINE:COLUMN` of the byte `offset` of `text`.
pub(super) fn place(file: &str, text: &str, offset: usize) -> String {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{file}:{line}:{column}")
}

/// The names of the given packages, for hints.
fn given(deps: &[Dependency]) -> String {
    if deps.is_empty() {
        "none".to_string()
    } else {
        deps.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// A wac-parser error in words: `FILE:LINE:COLUMN: message (cause)`, never
/// with arena ids.
fn wac_error(file: &str, text: &str, error: &(dyn miette::Diagnostic + 'static), deps: &[Dependency]) -> Error {
    let place = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map_or_else(|| file.to_string(), |label| place(file, text, label.offset()));
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        if let Some(words) = plain(c.to_string()) {
            message.push_str(&format!(": {words}"));
        }
        cause = c.source();
    }
    let fix = if message.starts_with("unknown package") {
        format!(
            "give every package the file uses with --dep NAME=SOURCE (a .wasm file or a reference); given: {}",
            given(deps)
        )
    } else {
        "fix the .wac file at that place, or give a package that fits it".to_string()
    };
    Error::Composition { reason: format!("{place}: {message}"), fix }
}

/// `wharf.lock`: the digest each `--dep` source resolved to, so a later
/// composition notices when a source changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Lock {
    /// Format version (1).
    pub version: u32,
    /// The pinned packages, sorted by name.
    pub packages: Vec<Locked>,
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    /// `ns:pkg` or `ns:pkg@version`, as given to `--dep`.
    pub name: String,
    /// The source as given to `--dep`.
    pub source: String,
    /// Where it resolved to (`location@manifest-digest` for references).
    pub resolved: String,
    /// The digest of the package's Wasm (`sha256:...`).
    pub digest: String,
}

impl Lock {
    /// Reads the lock at `path`; an absent file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Composition {
                reason: format!("{} is not a wharf lock file: {e}", path.display()),
                fix: format!("delete {} to pin the current sources again", path.display()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock { version: 1, packages: Vec::new() }),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// Fails when `dep` was pinned from the same source to another digest.
    pub fn verify(&self, dep: &Dependency, path: &Path) -> Result<()> {
        let digest = dep.part.digest();
        match self.packages.iter().find(|l| l.name == dep.name && l.source == dep.input) {
            Some(locked) if locked.digest != digest.as_str() => Err(Error::Composition {
                reason: format!(
                    "the package {} from {} changed: {} pins {} (from {}), it is now {} (from {})",
                    dep.name,
                    dep.input,
                    path.display(),
                    locked.digest,
                    locked.resolved,
                    digest,
                    dep.part.source
                ),
                fix: format!(
                    "if the change is expected, delete the entry for {} from {} (or the file) and compose again; \
                     otherwise give the pinned content, e.g. {}",
                    dep.name,
                    path.display(),
                    locked.resolved
                ),
            }),
            _ => Ok(()),
        }
    }

    /// For `--locked`: fails, naming them, when some of `deps` are not pinned
    /// in this lock with the same source and digest (composing would change it).
    pub fn require_pinned(&self, deps: &[Dependency], path: &Path) -> Result<()> {
        let unpinned: Vec<String> = deps
            .iter()
            .filter(|d| {
                let digest = d.part.digest();
                !self.packages.iter().any(|l| l.name == d.name && l.source == d.input && l.digest == digest.as_str())
            })
            .map(|d| format!("{} ({})", d.name, d.input))
            .collect();
        if unpinned.is_empty() {
            return Ok(());
        }
        Err(Error::Composition {
            reason: format!("--locked: {} does not pin {}", path.display(), unpinned.join(", ")),
            fix: format!("compose once without --locked to pin them, and keep {} with the document", path.display()),
        })
    }

    /// This lock with `deps` pinned (entries of other names kept).
    pub fn pinned(&self, deps: &[Dependency]) -> Lock {
        let mut packages: Vec<Locked> =
            self.packages.iter().filter(|l| !deps.iter().any(|d| d.name == l.name)).cloned().collect();
        packages.extend(deps.iter().map(|d| Locked {
            name: d.name.clone(),
            source: d.input.clone(),
            resolved: d.part.source.clone(),
            digest: d.part.digest().as_str().to_string(),
        }));
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Lock { version: 1, packages }
    }

    /// Writes the lock to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Usage(format!("cannot write the lock file {}: {e}", path.display())))?;
        text.push(b'\n');
        Staged::write(path, &text)?.commit().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_values_are_checked() {
        assert_eq!(
            parse_dep("wharf:greeter=greeter.wasm").ok(),
            Some(("wharf:greeter".to_string(), "greeter.wasm".to_string()))
        );
        assert!(parse_dep("wharf:greeter@0.1.0=oci:store:g").is_ok());
        assert!(parse_dep("greeter.wasm").is_err());
        assert!(parse_dep("Greeter=greeter.wasm").is_err());
        assert!(parse_dep("wharf:greeter@x=greeter.wasm").is_err());
        assert!(parse_dep("wharf:greeter=").is_err());
    }

    #[test]
    fn a_parse_error_names_the_line_and_column() {
        let err = compose("app.wac", "package a:b;\nlet x = ;\n", &[]).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("app.wac:2:"), "{err}");
    }
}
