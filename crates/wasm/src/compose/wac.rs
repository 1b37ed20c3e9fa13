//! `.wac` documents: parsed and resolved by wac-parser, with packages given
//! explicitly (`--dep NAME=SOURCE`) or found by name through wkg's mapping,
//! and pinned in a lock file.

use std::path::Path;

use indexmap::IndexMap;
use semver::Version;
use wac_graph::types::BorrowedPackageKey;
use wac_parser::Document;
use wac_parser::resolution::Error as ResolutionError;

use super::lock::Lock;
use super::package::{Dependency, Missing, given, place, split_name};
use super::{Composed, ENCODE, plain, validate_composed, world_names};
use crate::error::{Error, Fix, PackageProblem, Result};
use crate::guard::guarded;
use wharf_oci::transport::TransportOptions;

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
            return Err(Error::package(PackageProblem::GivenTwice { name: dep.name.clone() }));
        }
    }
    Ok(())
}

/// Checks that `dep` has a package name and is a component. It is not
/// validated here: wac-types' loader reads its structure, and the composed
/// result (which defines every package) is validated once; only when either
/// fails are the packages validated one by one, to name the one at fault.
fn check_dep(dep: &Dependency) -> Result<()> {
    split_name(&dep.name).map_err(|why| Error::package(PackageProblem::BadName { name: dep.name.clone(), why }))?;
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

/// Resolves and encodes `document` with `deps`, which are checked.
fn attempt(file: &str, text: &str, document: &Document<'_>, deps: &[Dependency]) -> Result<Attempt> {
    let mut packages = IndexMap::new();
    let names: Vec<(&str, Option<Version>)> = deps.iter().filter_map(|d| split_name(&d.name).ok()).collect();
    for ((name, version), dep) in names.iter().zip(deps) {
        packages.insert(BorrowedPackageKey::from_name_and_version(name, version.as_ref()), dep.part.bytes.clone());
    }
    let resolution = match guarded(super::PART_TYPES, || Ok(document.resolve(packages)))
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
        Fix::GiveEveryPackage { given: given(deps) }
    } else {
        "fix the .wac file at that place, or give a package that fits it".into()
    };
    Error::Composition { reason: format!("{place}: {message}"), fix }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_names_the_line_and_column() {
        let err = compose("app.wac", "package a:b;\nlet x = ;\n", &[]).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("app.wac:2:"), "{err}");
    }
}
