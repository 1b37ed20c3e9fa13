//! Names matched across versions of one semver track (`a:b/c@0.2.0` and
//! `a:b/c@0.2.3`), and whether a match is accepted. A component may import an
//! older version than the world provides and export a newer one than it requires:
//! semver promises that a newer version keeps what an older one had. The other
//! way round, the older side may lack what the newer one added; whether it does
//! is a question for the types (the walk compares them, member by member), so
//! from names alone such a match is undecided, and with types it is accepted
//! exactly when nothing is missing or different: the rule of wasmtime's
//! semver-compatible linking and of wac, which link by name along the track and
//! then type-check.

use semver::Version;

use super::report::{Problem, ProblemKind, SemverBasis, SemverMatch, Side};

/// Which way two versions on one track go: whether the older side is the
/// one semver lets be older (an import older than the world's, an export
/// newer than the world's). `None` when they are not comparable (no version
/// on one side).
pub(crate) fn is_safe(side: Side, world: &str, component: &str) -> Option<bool> {
    let (world, component) = (version_of(world)?, version_of(component)?);
    Some(match side {
        Side::Import => component <= world,
        Side::Export => component >= world,
    })
}

/// How a match across versions came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The versions go the safe way.
    InOrder,
    /// They go the other way, and the types show nothing missing or different.
    TypesAgree,
    /// They go the other way, and the types differ.
    TypesDiffer,
    /// They go the other way, and only names were compared.
    Undecided,
}

/// The sentence and verdict for a match of the component's name `component`
/// with the world's `world` on `side`.
pub(crate) fn semver_match(side: Side, world: &str, component: &str, outcome: Outcome) -> SemverMatch {
    let order = match side {
        Side::Import if outcome == Outcome::InOrder => "asks for an older version than the world provides",
        Side::Import => "asks for a newer version than the world provides",
        Side::Export if outcome == Outcome::InOrder => "provides a newer version than the world requires",
        Side::Export => "provides an older version than the world requires",
    };
    let verdict = match (side, outcome) {
        (_, Outcome::InOrder) => "which is safe",
        (_, Outcome::TypesDiffer) => "which is not safe",
        (Side::Import, Outcome::TypesAgree) => {
            "and the world's version has everything the component imports from it, with compatible types, which is safe"
        }
        (Side::Export, Outcome::TypesAgree) => {
            "and it has every function, type and resource the world's version requires, with compatible types, which is safe"
        }
        (Side::Import, Outcome::Undecided) => {
            "whether the world's version has everything the component imports from it takes the component's types, \
             which the artifact's config does not list"
        }
        (Side::Export, Outcome::Undecided) => {
            "whether it has everything the world's version requires takes the component's types, \
             which the artifact's config does not list"
        }
    };
    let separator = if outcome == Outcome::Undecided { ";" } else { "," };
    let message = format!("{side} {component} matched the world's {world}: the component {order}{separator} {verdict}");
    let (safe, decided_by) = match outcome {
        Outcome::InOrder => (Some(true), SemverBasis::VersionOrder),
        Outcome::TypesAgree => (Some(true), SemverBasis::Types),
        Outcome::TypesDiffer => (Some(false), SemverBasis::Types),
        Outcome::Undecided => (None, SemverBasis::Undecided),
    };
    SemverMatch { side, world: world.to_string(), component: component.to_string(), safe, decided_by, message }
}

/// Records a match across versions judged from names alone: in order, it is
/// safe; the other way round, only the types can tell (undecided, no problem).
pub(crate) fn semver_step_by_names(side: Side, world: &str, component: &str, matches: &mut Vec<SemverMatch>) {
    if world == component {
        return;
    }
    let outcome = if is_safe(side, world, component).unwrap_or(false) { Outcome::InOrder } else { Outcome::Undecided };
    matches.push(semver_match(side, world, component, outcome));
}

/// The problem of a match across versions the other way round whose types
/// differ; the type mismatches that follow it say where.
pub(crate) fn version_mismatch(side: Side, world: &str, component: &str) -> Problem {
    let (item, message) = match side {
        Side::Import => (
            component,
            format!(
                "version mismatch: the component imports {component}, but the world provides only the older {world}, \
                 which lacks or changes what the component uses of it"
            ),
        ),
        Side::Export => (
            world,
            format!(
                "version mismatch: the world requires the export {world}, but the component provides only the older {component}, \
                 which lacks or changes what the world requires of it"
            ),
        ),
    };
    Problem {
        kind: ProblemKind::VersionMismatch,
        side,
        item: item.to_string(),
        path: Vec::new(),
        expected: Some(world.to_string()),
        found: Some(component.to_string()),
        message,
    }
}

/// The semver track of `name` (`a:b/c@0.2` for `a:b/c@0.2.3`, `a:b/c@1` for
/// `a:b/c@1.4.0`), with its version. `0.0.x` and pre-releases have none:
/// they match only exactly. The rule of wasmtime and wac.
pub fn semver_track(name: &str) -> Option<(&str, Version)> {
    let (base, version_text) = name.split_once('@')?;
    let version = Version::parse(version_text).ok()?;
    if !version.pre.is_empty() {
        return None;
    }
    let end = if version.major != 0 {
        version_text.find('.')?
    } else if version.minor != 0 {
        let first = version_text.find('.')?;
        first + 1 + version_text[first + 1..].find('.')?
    } else {
        return None;
    };
    Some((&name[..base.len() + 1 + end], version))
}

pub(crate) fn version_of(name: &str) -> Option<Version> {
    Version::parse(name.split_once('@')?.1).ok()
}

/// Looks `name` up among `entries`: exactly, else the highest version on
/// the same semver track.
pub(crate) fn lookup<'e, V: Copy>(entries: &[(&'e str, V)], name: &str) -> Option<(&'e str, V)> {
    if let Some(exact) = entries.iter().find(|(n, _)| *n == name) {
        return Some(*exact);
    }
    let (track, _) = semver_track(name)?;
    entries
        .iter()
        .filter_map(|(n, v)| semver_track(n).filter(|(t, _)| *t == track).map(|(_, version)| (version, *n, *v)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, n, v)| (n, v))
}

/// Why `name` found no match when other versions of it exist: `; the world
/// has X, ...`. Empty when there is nothing to add.
pub(crate) fn near_misses<V>(entries: &[(&str, V)], name: &str, whose: &str) -> String {
    let base = name.split_once('@').map_or(name, |(b, _)| b);
    let others: Vec<&str> = entries
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.split_once('@').is_some_and(|(b, _)| b == base) && *n != name)
        .collect();
    let Some(first) = others.first() else {
        return String::new();
    };
    format!(" ({whose} has {}; {})", others.join(", "), why_no_match(name, first))
}

/// Why two versions of one name do not match.
pub(crate) fn why_no_match(a: &str, b: &str) -> &'static str {
    let (a, b) = (version_of(a), version_of(b));
    let pre = |v: &Option<Version>| v.as_ref().is_some_and(|v| !v.pre.is_empty());
    let zero = |v: &Option<Version>| v.as_ref().is_some_and(|v| v.major == 0 && v.minor == 0);
    if pre(&a) || pre(&b) {
        "pre-release versions match only exactly"
    } else if zero(&a) || zero(&b) {
        "0.0.x versions match only exactly"
    } else if a.is_none() || b.is_none() {
        "a versioned and an unversioned name do not match"
    } else {
        "the versions are on different semver tracks"
    }
}
