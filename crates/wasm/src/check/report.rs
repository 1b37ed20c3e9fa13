//! What a check finds: each problem with its kind, side and place inside the item
//! ([`Segment`]s), both sides written as WIT, and the matches made across
//! versions of one semver track.

use std::fmt;

use serde::Serialize;
use wac_types::{ItemKind, Type};

/// Whether a problem or a match concerns an import or an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Something the component imports.
    Import,
    /// Something the component exports.
    Export,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Import => "import",
            Side::Export => "export",
        })
    }
}

/// The result of a check.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// Whether the component fits the world (no problems).
    pub fits: bool,
    /// The component checked (a file, or `location@digest`).
    pub component: String,
    /// The world checked against, `ns:pkg/world@version`.
    pub world: String,
    /// Whether types were compared; false for an answer from names alone
    /// ([`super::World::check_names`]).
    pub types_checked: bool,
    /// Every problem found.
    pub problems: Vec<Problem>,
    /// Imports and exports matched across versions on one semver track.
    pub semver_matches: Vec<SemverMatch>,
}

/// What kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The world requires an export the component does not have.
    MissingExport,
    /// The component imports something the world does not provide.
    ImportNotAllowed,
    /// Both have the item, with incompatible types.
    TypeMismatch,
    /// Matched across versions of one semver track, the older side on the
    /// side that must have everything, and its types show something missing
    /// or different (the type mismatches that come with it say what).
    VersionMismatch,
}

impl ProblemKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [ProblemKind; 4] = [
        ProblemKind::MissingExport,
        ProblemKind::ImportNotAllowed,
        ProblemKind::TypeMismatch,
        ProblemKind::VersionMismatch,
    ];

    /// How to fix problems of this kind, in a sentence.
    pub fn hint(self) -> &'static str {
        match self {
            ProblemKind::MissingExport => {
                "implement and export what the world requires (generate the bindings from the world's WIT)"
            }
            ProblemKind::ImportNotAllowed => {
                "remove the import from the component, or have the platform add it to the world"
            }
            ProblemKind::TypeMismatch => {
                "rebuild the component against the world's WIT, so both sides use the same definitions"
            }
            ProblemKind::VersionMismatch => {
                "build the component against the version the world declares, or move the world to the newer version"
            }
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::MissingExport => "missing export",
            ProblemKind::ImportNotAllowed => "import not allowed",
            ProblemKind::TypeMismatch => "type mismatch",
            ProblemKind::VersionMismatch => "version mismatch",
        })
    }
}

/// One reason the component does not fit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// An import or an export.
    pub side: Side,
    /// The top-level import or export: the world's name for an export, the
    /// component's for an import.
    pub item: String,
    /// Where inside the item (function, parameter, field...); empty for the item itself.
    pub path: Vec<Segment>,
    /// What the world has, as WIT.
    pub expected: Option<String>,
    /// What the component has, as WIT.
    pub found: Option<String>,
    /// The problem in a sentence.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One step of a path into an import or export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// What the step enters.
    pub kind: SegmentKind,
    /// Its name (empty, and left out of JSON, for unnamed steps such as a result).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Segment {
    /// A step of `kind` named `name`.
    pub fn new(kind: SegmentKind, name: &str) -> Self {
        Segment { kind, name: name.to_string() }
    }

    /// For a method, constructor or static function: the resource it belongs to.
    pub fn resource(&self) -> Option<&str> {
        match self.kind {
            SegmentKind::Method | SegmentKind::StaticFunction => self.name.split_once('.').map(|(r, _)| r),
            SegmentKind::Constructor => Some(&self.name),
            _ => None,
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = &self.name;
        match self.kind {
            SegmentKind::Function => write!(f, "function `{n}`"),
            SegmentKind::Method => write!(f, "method `{n}`"),
            SegmentKind::Constructor => write!(f, "constructor of `{n}`"),
            SegmentKind::StaticFunction => write!(f, "static function `{n}`"),
            SegmentKind::Resource => write!(f, "resource `{n}`"),
            SegmentKind::Type => write!(f, "type `{n}`"),
            SegmentKind::Instance => write!(f, "instance `{n}`"),
            SegmentKind::Parameter => write!(f, "parameter `{n}`"),
            SegmentKind::Result => f.write_str("result"),
            SegmentKind::Field => write!(f, "field `{n}`"),
            SegmentKind::Case => write!(f, "case `{n}`"),
            SegmentKind::TupleItem => write!(f, "tuple item {n}"),
            SegmentKind::Element => f.write_str("list element"),
            SegmentKind::Key => f.write_str("map key"),
            SegmentKind::Value => f.write_str("map value"),
            SegmentKind::Payload => write!(f, "{n} payload"),
            SegmentKind::Ok => f.write_str("ok type"),
            SegmentKind::Err => f.write_str("error type"),
        }
    }
}

/// The kinds of [`Segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentKind {
    /// A function of an interface or world.
    Function,
    /// A resource method (`blob.size`).
    Method,
    /// A resource constructor (named by its resource).
    Constructor,
    /// A static function of a resource (`blob.open`).
    StaticFunction,
    /// A resource.
    Resource,
    /// A named type.
    Type,
    /// A nested instance.
    Instance,
    /// A function parameter.
    Parameter,
    /// A function result.
    Result,
    /// A record field.
    Field,
    /// A variant case.
    Case,
    /// A tuple item, by index.
    TupleItem,
    /// A list element.
    Element,
    /// A map key.
    Key,
    /// A map value.
    Value,
    /// The payload of an option, stream or future (named by which).
    Payload,
    /// The ok type of a result.
    Ok,
    /// The error type of a result.
    Err,
}

/// The path step for member `name` of an interface: resource functions
/// (`[method]blob.size`) are named as WIT writes them (`blob.size`).
pub(crate) fn member_segment(name: &str, kind: ItemKind) -> Segment {
    match kind.promote() {
        ItemKind::Type(Type::Resource(_)) => Segment::new(SegmentKind::Resource, name),
        ItemKind::Type(_) => Segment::new(SegmentKind::Type, name),
        ItemKind::Instance(_) => Segment::new(SegmentKind::Instance, name),
        _ => function_segment(name),
    }
}

pub(crate) fn function_segment(name: &str) -> Segment {
    let Some((prefix, rest)) = name.strip_prefix('[').and_then(|n| n.split_once(']')) else {
        return Segment::new(SegmentKind::Function, name);
    };
    let kind = match prefix.trim_start_matches("async").trim() {
        "method" => SegmentKind::Method,
        "constructor" => SegmentKind::Constructor,
        "static" => SegmentKind::StaticFunction,
        _ => SegmentKind::Function,
    };
    Segment::new(kind, rest)
}

/// An import or export matched across versions of one semver track.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SemverMatch {
    /// An import or an export.
    pub side: Side,
    /// The name in the world.
    pub world: String,
    /// The name in the component.
    pub component: String,
    /// Whether the match is accepted: the versions go the safe way (an older
    /// import, a newer export), or they go the other way and the types show
    /// that the older side has everything the other needs. `None` when only
    /// names were compared and the versions alone do not settle it.
    pub safe: Option<bool>,
    /// What decided `safe`.
    pub decided_by: SemverBasis,
    /// The match in a sentence.
    pub message: String,
}

/// What decided whether a match across versions is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SemverBasis {
    /// The order of the versions: an older import, a newer export (semver
    /// promises that a newer version keeps what an older one had).
    VersionOrder,
    /// The types: the versions go the other way, and the items were compared
    /// member by member.
    Types,
    /// Nothing yet: only names were compared (an artifact's config), and the
    /// versions go the way only the types can settle.
    Undecided,
}
