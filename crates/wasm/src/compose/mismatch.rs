//! A `.wac` argument whose type does not fit the import it is given for,
//! explained as `compose plug` does: the import, both types as WIT, and the
//! package each came from.
//!
//! wac-parser reports only the argument's name and place; this module finds
//! the `new` expression with that argument in the document, the importing
//! package, and (following `let` bindings, `...spreads` and `.export`
//! accesses) the package whose export was given, then loads both packages'
//! types to write them out.

use wac_graph::types::{Package, Types, WorldId, are_semver_compatible};
use wac_parser::{Document, Expr, InstantiationArgument, NewExpr, PostfixExpr, PrimaryExpr, Statement};

use super::package::{Dependency, place, split_name};
use super::plain;
use crate::error::Error;
use crate::guard::guarded;

/// A document and its packages, where a mismatch happened.
pub(super) struct Site<'s> {
    pub file: &'s str,
    pub text: &'s str,
    pub document: &'s Document<'s>,
    pub deps: &'s [Dependency],
}

/// A package's world, loaded into the site's types.
struct Loaded<'s> {
    dep: &'s Dependency,
    world: WorldId,
}

/// What an expression of the document evaluates to, as far as it is followed.
enum Value<'s> {
    /// An instance of a package.
    Instance(&'s Dependency),
    /// An export of an instance of a package.
    Export(&'s Dependency, String),
}

impl<'s> Site<'s> {
    /// The error for the argument `import` at byte `offset`, whose type
    /// wac-types refused with `source`.
    pub fn explain(&self, import: &str, offset: usize, source: &anyhow::Error) -> Error {
        let at = place(self.file, self.text, offset);
        let detail = plain(format!("{source:#}")).map_or_else(String::new, |d| format!(" ({d})"));
        let fallback = || Error::Composition {
            reason: format!("{at}: the argument for the import {import} does not fit its type{detail}"),
            fix: "build the packages against the same WIT for it, or give a package that fits".into(),
        };
        let Some((new, argument)) = self.argument_at(offset) else {
            return fallback();
        };
        let Some(importer) = self.package(new.package.name, new.package.version.as_ref()) else {
            return fallback();
        };
        let mut types = Types::default();
        let Some(importer) = load(importer, &mut types) else {
            return fallback();
        };
        let Some(import_kind) = types[importer.world].imports.get(import).copied() else {
            return fallback();
        };
        let roots = |others: &[WorldId]| [&[importer.world][..], others].concat();
        let expected = crate::check::render_wit(&types, &roots(&[]), import_kind);
        let provided = self.provider(argument, import).and_then(|(dep, export)| {
            let loaded = load(dep, &mut types)?;
            let kind = types[loaded.world].exports.get(&export).copied()?;
            Some((loaded, export, kind))
        });
        let Some((exporter, export, export_kind)) = provided else {
            return Error::Composition {
                reason: format!(
                    "{at}: the argument for the import {import} of {} does not fit: {} expects `{expected}`{detail}",
                    describe(importer.dep),
                    importer.dep.name
                ),
                fix: format!("give an argument of that type, or build {} against the WIT used", importer.dep.name)
                    .into(),
            };
        };
        let found = crate::check::render_wit(&types, &roots(&[exporter.world]), export_kind);
        let by = if export == import { String::new() } else { format!(" (as {export}, a semver-compatible version)") };
        let (importer, exporter) = (importer.dep, exporter.dep);
        Error::Composition {
            reason: format!(
                "{at}: the import {import} of {} cannot be satisfied by the export {export} of {}{by}: {} expects \
                 `{expected}`, {} exports `{found}`{detail}",
                describe(importer),
                describe(exporter),
                importer.name,
                exporter.name,
            ),
            fix: format!(
                "build {} and {} against the same WIT for {import}, or give a package that fits",
                exporter.name, importer.name
            )
            .into(),
        }
    }

    /// The `new` expression holding the argument at `offset`, and the argument.
    fn argument_at(&self, offset: usize) -> Option<(&'s NewExpr<'s>, &'s InstantiationArgument<'s>)> {
        self.document.statements.iter().find_map(|statement| match statement {
            Statement::Let(s) => argument_in(&s.expr, offset),
            Statement::Export(s) => argument_in(&s.expr, offset),
            Statement::Import(_) | Statement::Type(_) => None,
        })
    }

    /// The given package `name` at `version`.
    fn package(&self, name: &str, version: Option<&semver::Version>) -> Option<&'s Dependency> {
        self.deps.iter().find(|d| split_name(&d.name).is_ok_and(|(n, v)| n == name && v.as_ref() == version))
    }

    /// The package and export name given by `argument` for `import`.
    fn provider(&self, argument: &'s InstantiationArgument<'s>, import: &str) -> Option<(&'s Dependency, String)> {
        let value = match argument {
            InstantiationArgument::Spread(id) => match self.local(id.string, id.span.offset())? {
                Value::Instance(dep) => {
                    return Some((dep, self.export_named(dep, import, |e| are_semver_compatible(e, import))?));
                }
                Value::Export(..) => return None,
            },
            InstantiationArgument::Inferred(id) => self.local(id.string, id.span.offset())?,
            InstantiationArgument::Named(named) => self.evaluate(&named.expr)?,
            InstantiationArgument::Fill(_) => return None,
        };
        match value {
            Value::Export(dep, export) => Some((dep, export)),
            Value::Instance(_) => None,
        }
    }

    /// What `expr` evaluates to, following bindings and accesses.
    fn evaluate(&self, expr: &'s Expr<'s>) -> Option<Value<'s>> {
        let mut value = match &expr.primary {
            PrimaryExpr::New(new) => Value::Instance(self.package(new.package.name, new.package.version.as_ref())?),
            PrimaryExpr::Nested(nested) => self.evaluate(&nested.inner)?,
            PrimaryExpr::Ident(id) => self.local(id.string, id.span.offset())?,
        };
        for postfix in &expr.postfix {
            let Value::Instance(dep) = value else {
                return None;
            };
            let export = match postfix {
                PostfixExpr::Access(access) => self.export_named(dep, access.id.string, |e| {
                    e.rsplit_once('/').is_some_and(|(_, item)| item.split('@').next() == Some(access.id.string))
                })?,
                PostfixExpr::NamedAccess(access) => access.string.value.to_string(),
            };
            value = Value::Export(dep, export);
        }
        Some(value)
    }

    /// The value bound to `name` by the last `let` before `offset`.
    fn local(&self, name: &str, offset: usize) -> Option<Value<'s>> {
        let binding = self.document.statements.iter().rev().find_map(|statement| match statement {
            Statement::Let(s) if s.id.string == name && s.id.span.offset() < offset => Some(&s.expr),
            _ => None,
        })?;
        self.evaluate(binding)
    }

    /// The export of `dep` named `name`, else the only one `matches` accepts.
    fn export_named(&self, dep: &Dependency, name: &str, matches: impl Fn(&str) -> bool) -> Option<String> {
        let mut types = Types::default();
        let world = load(dep, &mut types)?.world;
        let world = &types[world];
        if world.exports.contains_key(name) {
            return Some(name.to_string());
        }
        let mut candidates = world.exports.keys().filter(|e| matches(e));
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }
}

/// The `new` expression in `expr` (or nested in it) with an argument at `offset`.
fn argument_in<'s>(expr: &'s Expr<'s>, offset: usize) -> Option<(&'s NewExpr<'s>, &'s InstantiationArgument<'s>)> {
    match &expr.primary {
        PrimaryExpr::New(new) => new.arguments.iter().find_map(|argument| {
            let span = match argument {
                InstantiationArgument::Inferred(id) | InstantiationArgument::Spread(id) => id.span,
                InstantiationArgument::Named(named) => {
                    if let Some(found) = argument_in(&named.expr, offset) {
                        return Some(found);
                    }
                    named.name.span()
                }
                InstantiationArgument::Fill(span) => *span,
            };
            (span.offset() == offset).then_some((new, argument))
        }),
        PrimaryExpr::Nested(nested) => argument_in(&nested.inner, offset),
        PrimaryExpr::Ident(_) => None,
    }
}

/// Loads `dep`'s types into `types`.
fn load<'s>(dep: &'s Dependency, types: &mut Types) -> Option<Loaded<'s>> {
    let package =
        guarded(super::PART_TYPES, || Package::from_bytes(&dep.name, None, dep.part.bytes.clone(), types)).ok()?;
    Some(Loaded { dep, world: package.ty() })
}

/// `wharf:greeter (greeter.wasm)`.
fn describe(dep: &Dependency) -> String {
    format!("{} ({})", dep.name, dep.input)
}
