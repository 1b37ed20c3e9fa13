//! Does a component fit a WIT world? The check behind `wharf check`.
//!
//! A component fits a world when
//! - every export of the world is exported by the component with a compatible
//!   type (extra exports are fine), and
//! - every import of the component is provided by the world (its own imports,
//!   plus the interfaces they and its exports `use`) with a compatible type.
//!
//! Names are matched semver-aware: `a:b/c@0.2.0` and `a:b/c@0.2.3` are on the
//! same track (`0.2`), so they match when their types are compatible and the
//! versions go the safe way: a component may **import an older** version than
//! the world provides (the newer host still has everything), and may **export
//! a newer** version than the world requires (the newer interface still has
//! everything). The other way round is a [`ProblemKind::VersionMismatch`].
//! `0.0.x` versions and pre-releases match only exactly.
//!
//! wac-types decides whether two items are compatible (its subtype checker);
//! this module then walks the two items itself to say where they differ, and
//! writes everything as WIT. Every problem is collected; nothing stops at the
//! first.
//!
//! The rooms:
//! - [`wit`]: WIT packages loaded from files or bytes, and the world chosen from them.
//! - [`walk`]: the check itself, a component against a world (and from names alone).
//! - [`report`]: what a check finds: problems, where they are, semver matches.
//! - `semver`: matching names across versions of one semver track.
//! - [`fetch`]: components, WIT packages and declared worlds read from registries and layouts.
//! - [`batch`]: many components (files, references, whole repositories) against one world.
//! - `diff` and `render`: where two types differ, and types written as WIT.

pub mod batch;
mod diff;
pub mod fetch;
mod render;
pub mod report;
mod semver;
pub mod walk;
pub mod wit;

pub use fetch::{
    Component, DeclaredPackage, DeclaredTarget, check_input, check_reference, fetch_component, fetch_declared_package,
    load_declared_target, load_wit_input,
};
pub use report::{CheckReport, Problem, ProblemKind, Segment, SegmentKind, SemverBasis, SemverMatch, Side};
pub use semver::semver_track;
pub use walk::render_wit;
pub use wit::{Wit, World};

#[cfg(test)]
mod tests;
