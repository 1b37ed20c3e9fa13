//! The packages of a `.wac` document: as given (`NAME=SOURCE`), as the document
//! names them, and where the document names them (`FILE:LINE:COLUMN`).

use semver::Version;

use super::LoadedPart;
use crate::error::{Error, Fix, PackageProblem, Result};

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

/// Splits `NAME=SOURCE` (how a package is given), checking that NAME is `ns:pkg` or
/// `ns:pkg@version`.
pub fn parse_dep(text: &str) -> Result<(String, String)> {
    let usage = |why: &str| Error::package(PackageProblem::BadSpec { text: text.to_string(), why: why.to_string() });
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
    pub(super) fn not_given(&self, file: &str, text: &str, deps: &[Dependency]) -> Error {
        Error::Composition {
            reason: format!("{}: unknown package `{self}`", place(file, text, self.offset)),
            fix: Fix::GiveEveryPackage { given: given(deps) },
        }
    }

    /// Refuses a `--dep` of this package at another version (or without
    /// one): the user meant it, and a lookup by name would silently win.
    pub(super) fn check_no_other_version(&self, file: &str, text: &str, deps: &[Dependency]) -> Result<()> {
        let other = deps.iter().find(|d| split_name(&d.name).is_ok_and(|(name, _)| name == self.name));
        match other {
            Some(dep) => Err(Error::package(PackageProblem::OtherVersion {
                place: place(file, text, self.offset),
                used: self.to_string(),
                given: dep.name.clone(),
                source: dep.input.clone(),
            })),
            None => Ok(()),
        }
    }
}

/// `FILE:LINE:COLUMN` of the byte `offset` of `text`.
pub(super) fn place(file: &str, text: &str, offset: usize) -> String {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{file}:{line}:{column}")
}

/// The names of the given packages, for hints.
pub(super) fn given(deps: &[Dependency]) -> String {
    if deps.is_empty() {
        "none".to_string()
    } else {
        deps.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
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
}
