//! The check: a component's imports and exports against a world's, each pair of
//! items compared by wac-types' subtype checker and, where they differ, walked to
//! say where (`diff`); every problem is collected, written as WIT.

use std::collections::HashSet;

use wac_types::{ItemKind, Package, SubtypeChecker, Type, Types, WorldId};

use super::diff::{Differ, Difference, Mismatch};
use super::render::{Names, Render};
use super::report::{CheckReport, Problem, ProblemKind, SemverMatch, Side};
use super::semver::{Outcome, is_safe, lookup, near_misses, semver_match, semver_step_by_names, version_mismatch};
use super::wit::World;
use crate::error::{Error, Result};
use crate::guard::guarded;

impl World {
    /// Checks the component in `bytes` (`source` names it in messages).
    /// Errors are for input that cannot be read (not a component, invalid);
    /// a component that does not fit gives a report with `fits: false`.
    /// Takes the bytes by value: wac's loader keeps them, and a copy of a
    /// large component costs more than the whole check.
    pub fn check(&self, source: &str, bytes: Vec<u8>) -> Result<CheckReport> {
        let mut types = self.types.clone();
        let component = load_component(source, bytes, &mut types)?;
        let names = Names::collect(&types, &[self.world, component]);
        let mut run = Run::new(&types, Render::new(&types, &names), self.world, component);
        run.imports();
        run.exports();
        Ok(run.report(source, &self.name))
    }

    /// A first answer from names alone (an artifact config's `imports` and
    /// `exports`): missing exports and imports the world does not provide.
    /// Types are not compared (`types_checked` is false), so a match across
    /// versions the way only types can settle (a newer import, an older
    /// export) is left undecided, not a problem; when this finds no problem,
    /// only [`World::check`] on the component itself can say that it fits.
    pub fn check_names(&self, component: &str, imports: &[String], exports: &[String]) -> CheckReport {
        let world = &self.types[self.world];
        let world_imports = all_imports(&self.types, self.world);
        let world_exports: Vec<(&str, ItemKind)> = world.exports.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let names = Names::collect(&self.types, &[self.world]);
        let render = Render::new(&self.types, &names);
        let mut problems = Vec::new();
        let mut semver_matches = Vec::new();
        for name in imports {
            match lookup(&world_imports, name) {
                None => problems.push(import_not_allowed(name, None, &world_imports, &render)),
                Some((world_name, _)) => semver_step_by_names(Side::Import, world_name, name, &mut semver_matches),
            }
        }
        let offered: Vec<(&str, ())> = exports.iter().map(|n| (n.as_str(), ())).collect();
        for (name, kind) in &world_exports {
            match lookup(&offered, name) {
                None => problems.push(missing_export(name, *kind, &offered, &render)),
                Some((component_name, _)) => {
                    semver_step_by_names(Side::Export, name, component_name, &mut semver_matches);
                }
            }
        }
        CheckReport {
            fits: problems.is_empty(),
            component: component.to_string(),
            world: self.name.clone(),
            types_checked: false,
            problems,
            semver_matches,
        }
    }
}

/// An item's type written as WIT (`func() -> string`, `interface { ... }`),
/// naming defined types as the worlds in `roots` name them. For messages
/// outside the checker (composition).
pub fn render_wit(types: &Types, roots: &[WorldId], kind: ItemKind) -> String {
    let names = Names::collect(types, roots);
    Render::new(types, &names).item(kind)
}

/// Validates and loads a component's types into `types`.
fn load_component(source: &str, bytes: Vec<u8>, types: &mut Types) -> Result<WorldId> {
    if bytes.starts_with(b"\0asm\x01\0\0\0") {
        return Err(Error::Usage(format!(
            "{source} is a core module, not a component: only a component has a WIT world to check"
        )));
    }
    crate::inspect::validate(source, &bytes)?;
    guarded(&format!("the types of {source}"), || Package::from_bytes("component", None, bytes, types))
        .map(|package| package.ty())
        .map_err(|reason| Error::InvalidWasm { path: source.to_string(), reason, offset: 0 })
}

/// The world's imports: its own, then the interfaces its imports and
/// exports use (implicit imports), the explicit ones winning.
fn all_imports(types: &Types, world: WorldId) -> Vec<(&str, ItemKind)> {
    let world = &types[world];
    let mut imports: Vec<(&str, ItemKind)> = world.imports.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    for (name, kind) in world.implicit_imported_interfaces(types) {
        if !imports.iter().any(|(n, _)| *n == name) {
            imports.push((name, kind));
        }
    }
    imports
}

/// The article and word for an item's kind: `an interface`, `a function`.
fn kind_words(kind: ItemKind) -> &'static str {
    match kind.promote() {
        ItemKind::Instance(_) | ItemKind::Type(Type::Interface(_)) => "interface",
        ItemKind::Func(_) | ItemKind::Type(Type::Func(_)) => "function",
        ItemKind::Type(Type::Resource(_)) => "resource",
        ItemKind::Type(_) => "type",
        ItemKind::Component(_) => "component",
        ItemKind::Module(_) => "core module",
        ItemKind::Value(_) => "value",
    }
}

/// An item's WIT for a one-line message: an interface's members, a
/// function's signature, a type's definition.
fn item_summary(render: &Render<'_>, kind: ItemKind) -> String {
    match kind.promote() {
        ItemKind::Instance(id) => render.members(id),
        other => render.item(other),
    }
}

fn missing_export<V>(name: &str, kind: ItemKind, component: &[(&str, V)], render: &Render<'_>) -> Problem {
    let summary = item_summary(render, kind);
    let note = near_misses(component, name, "the component");
    Problem {
        kind: ProblemKind::MissingExport,
        side: Side::Export,
        item: name.to_string(),
        path: Vec::new(),
        expected: Some(render.item(kind)),
        found: None,
        message: format!(
            "missing export {name}: the world requires this {} (`{summary}`), and the component does not export it{note}",
            kind_words(kind)
        ),
    }
}

fn import_not_allowed(name: &str, kind: Option<ItemKind>, world: &[(&str, ItemKind)], render: &Render<'_>) -> Problem {
    let note = near_misses(world, name, "the world");
    let what = match kind {
        Some(kind) => format!("the {} {name} (`{}`)", kind_words(kind), item_summary(render, kind)),
        None => name.to_string(),
    };
    Problem {
        kind: ProblemKind::ImportNotAllowed,
        side: Side::Import,
        item: name.to_string(),
        path: Vec::new(),
        expected: None,
        found: kind.map(|k| render.item(k)),
        message: format!("import not allowed: the component imports {what}, and the world does not provide it{note}"),
    }
}

/// One pass over a component and a world.
struct Run<'a> {
    types: &'a Types,
    render: Render<'a>,
    world: WorldId,
    component: WorldId,
    problems: Vec<Problem>,
    semver_matches: Vec<SemverMatch>,
    reported: HashSet<(String, String)>,
}

impl<'a> Run<'a> {
    fn new(types: &'a Types, render: Render<'a>, world: WorldId, component: WorldId) -> Self {
        Run {
            types,
            render,
            world,
            component,
            problems: Vec::new(),
            semver_matches: Vec::new(),
            reported: HashSet::new(),
        }
    }

    fn imports(&mut self) {
        let types = self.types;
        let world_imports = all_imports(types, self.world);
        for (name, kind) in &types[self.component].imports {
            match lookup(&world_imports, name) {
                None => self.problems.push(import_not_allowed(name, Some(*kind), &world_imports, &self.render)),
                Some((world_name, expected)) => self.matched(Side::Import, world_name, name, expected, *kind),
            }
        }
    }

    fn exports(&mut self) {
        let types = self.types;
        let offered: Vec<(&str, ItemKind)> =
            types[self.component].exports.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        for (name, expected) in &types[self.world].exports {
            match lookup(&offered, name) {
                None => self.problems.push(missing_export(name, *expected, &offered, &self.render)),
                Some((component_name, found)) => self.matched(Side::Export, name, component_name, *expected, found),
            }
        }
    }

    /// Compares a pair matched by name: the world's `world_name` (of kind
    /// `expected`) with the component's `component_name` (`found`). Across
    /// versions in order (an older import, a newer export) it is safe by
    /// semver's promise and only the types are compared. The other way round
    /// the types decide: when nothing is missing or different the match is
    /// safe, else it is a version mismatch followed by what differs.
    fn matched(&mut self, side: Side, world_name: &str, component_name: &str, expected: ItemKind, found: ItemKind) {
        let item = match side {
            Side::Import => component_name,
            Side::Export => world_name,
        };
        if world_name == component_name {
            self.compare(side, item, expected, found);
            return;
        }
        if is_safe(side, world_name, component_name).unwrap_or(false) {
            self.semver_matches.push(semver_match(side, world_name, component_name, Outcome::InOrder));
            self.compare(side, item, expected, found);
            return;
        }
        let before = self.problems.len();
        let compatible = self.compare(side, item, expected, found);
        let outcome = if compatible { Outcome::TypesAgree } else { Outcome::TypesDiffer };
        self.semver_matches.push(semver_match(side, world_name, component_name, outcome));
        if !compatible {
            self.problems.insert(before, version_mismatch(side, world_name, component_name));
        }
    }

    /// Asks wac-types whether `found` (the component's) is compatible with
    /// `expected` (the world's) and, when not, finds out where they differ.
    /// Returns whether they are compatible.
    fn compare(&mut self, side: Side, item: &str, expected: ItemKind, found: ItemKind) -> bool {
        let mut cache = HashSet::new();
        let mut checker = SubtypeChecker::new(&mut cache);
        let verdict = match side {
            // What the world provides must be usable where the component's import is.
            Side::Import => {
                checker.invert();
                let verdict = checker.is_subtype(expected.promote(), self.types, found, self.types);
                checker.revert();
                verdict
            }
            Side::Export => checker.is_subtype(found, self.types, expected.promote(), self.types),
        };
        let Err(error) = verdict else {
            return true;
        };
        let (mismatches, already_reported) =
            Differ::new(self.types, self.render, side, &mut self.reported).run(expected, found);
        if mismatches.is_empty() && !already_reported {
            let message = format!("type mismatch in {side} {item}: {error:#}");
            self.problems.push(Problem {
                kind: ProblemKind::TypeMismatch,
                side,
                item: item.to_string(),
                path: Vec::new(),
                expected: Some(self.render.item(expected)),
                found: Some(self.render.item(found)),
                message,
            });
        }
        for mismatch in mismatches {
            self.problems.push(type_mismatch(side, item, mismatch));
        }
        false
    }

    fn report(self, component: &str, world: &str) -> CheckReport {
        CheckReport {
            fits: self.problems.is_empty(),
            component: component.to_string(),
            world: world.to_string(),
            types_checked: true,
            problems: self.problems,
            semver_matches: self.semver_matches,
        }
    }
}

fn type_mismatch(side: Side, item: &str, m: Mismatch) -> Problem {
    let place: String = m.path.iter().map(|s| format!(", {s}")).collect();
    let e = m.expected.as_deref().unwrap_or_default();
    let f = m.found.as_deref().unwrap_or_default();
    let detail = match (m.difference, side) {
        (Difference::Different, Side::Export) => format!("the world expects `{e}`, the component has `{f}`"),
        (Difference::Different, Side::Import) => format!("the world provides `{e}`, the component expects `{f}`"),
        (Difference::Missing, _) => format!("the component does not have it; the world expects `{e}`"),
        (Difference::NotProvided, _) => format!("the world does not provide it; the component expects `{f}`"),
    };
    let note = match (&m.note, side) {
        (Some(other), Side::Import) => format!(" (the world's interface has {other})"),
        (Some(other), Side::Export) => format!(" (the component's interface has {other})"),
        (None, _) => String::new(),
    };
    Problem {
        kind: ProblemKind::TypeMismatch,
        side,
        item: item.to_string(),
        message: format!("type mismatch in {side} {item}{place}: {detail}{note}"),
        path: m.path,
        expected: m.expected,
        found: m.found,
    }
}
