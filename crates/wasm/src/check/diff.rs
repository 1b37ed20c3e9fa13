//! A structural comparison of a world's item with a component's, collecting
//! every difference with its path (function, parameter, field...) instead of
//! stopping at the first. It explains what wac-types' subtype checker decided;
//! it does not decide on its own.

use std::collections::HashSet;

use wac_types::{DefinedType, DefinedTypeId, FuncTypeId, InterfaceId, ItemKind, Type, Types, ValueType};

use super::render::Render;
use super::report::{Segment, SegmentKind, Side, member_segment};

/// What is wrong at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Difference {
    /// Both sides have the item, with different types.
    Different,
    /// The world requires a member that the component's export lacks.
    Missing,
    /// The component's import needs a member that the world does not provide.
    NotProvided,
}

/// One difference found.
#[derive(Debug, Clone)]
pub(super) struct Mismatch {
    /// Where, below the top-level import or export.
    pub path: Vec<Segment>,
    /// What.
    pub difference: Difference,
    /// The world's side, as WIT.
    pub expected: Option<String>,
    /// The component's side, as WIT.
    pub found: Option<String>,
    /// What the other side has instead, when that helps (its other resources).
    pub note: Option<String>,
}

/// Walks two items side by side. `expected` is always the world's side,
/// `found` the component's.
pub(super) struct Differ<'a> {
    types: &'a Types,
    render: Render<'a>,
    side: Side,
    path: Vec<Segment>,
    out: Vec<Mismatch>,
    /// Named types already reported (by their two definitions), so a record
    /// used in ten signatures is reported once, where it is first met.
    reported: &'a mut HashSet<(String, String)>,
    suppressed: usize,
}

impl<'a> Differ<'a> {
    /// A differ for one top-level item on `side`.
    pub(super) fn new(
        types: &'a Types,
        render: Render<'a>,
        side: Side,
        reported: &'a mut HashSet<(String, String)>,
    ) -> Self {
        Differ { types, render, side, path: Vec::new(), out: Vec::new(), reported, suppressed: 0 }
    }

    /// Compares the world's `expected` with the component's `found` and
    /// returns the differences, and whether some were left out because they
    /// had already been reported under another item.
    pub(super) fn run(mut self, expected: ItemKind, found: ItemKind) -> (Vec<Mismatch>, bool) {
        self.item(expected, found);
        (self.out, self.suppressed > 0)
    }

    fn push(&mut self, difference: Difference, expected: Option<String>, found: Option<String>) {
        self.out.push(Mismatch { path: self.path.clone(), difference, expected, found, note: None });
    }

    fn different(&mut self, expected: String, found: String) {
        self.push(Difference::Different, Some(expected), Some(found));
    }

    fn within(&mut self, segment: Segment, f: impl FnOnce(&mut Self)) {
        self.path.push(segment);
        f(self);
        self.path.pop();
    }

    fn item(&mut self, expected: ItemKind, found: ItemKind) {
        match (expected.promote(), found.promote()) {
            (ItemKind::Instance(e), ItemKind::Instance(f)) => self.interface(e, f),
            (ItemKind::Func(e), ItemKind::Func(f)) => self.func(e, f),
            (ItemKind::Type(Type::Value(e)), ItemKind::Type(Type::Value(f))) => self.value(e, f),
            (ItemKind::Value(e), ItemKind::Value(f)) => self.value(e, f),
            (ItemKind::Type(Type::Resource(e)), ItemKind::Type(Type::Resource(f))) => {
                let (e, f) = (self.render.resource(e), self.render.resource(f));
                if e != f {
                    self.different(format!("resource {e}"), format!("resource {f}"));
                }
            }
            (e, f) => {
                let (e, f) = (self.render.item(e), self.render.item(f));
                if e != f {
                    self.different(e, f);
                }
            }
        }
    }

    /// Members of two instances. For an export every member the world lists
    /// must be there; for an import every member the component uses must be
    /// provided by the world. Methods of a missing resource are not listed
    /// separately: the resource's line covers them.
    fn interface(&mut self, expected: InterfaceId, found: InterfaceId) {
        if expected == found {
            return;
        }
        let types = self.types;
        let (e, f) = (&types[expected].exports, &types[found].exports);
        let (required, offered, difference) = match self.side {
            Side::Export => (e, f, Difference::Missing),
            Side::Import => (f, e, Difference::NotProvided),
        };
        let absent_resources: Vec<&str> = required
            .iter()
            .filter(|(name, kind)| matches!(kind, ItemKind::Type(Type::Resource(_))) && !offered.contains_key(*name))
            .map(|(name, _)| name.as_str())
            .collect();
        for (name, kind) in required {
            let segment = member_segment(name, *kind);
            match offered.get(name) {
                None if segment.resource().is_some_and(|r| absent_resources.contains(&r)) => {}
                None => {
                    let wit = Some(self.render.member(name, *kind));
                    let (expected, found) = match self.side {
                        Side::Export => (wit, None),
                        Side::Import => (None, wit),
                    };
                    let is_resource = segment.kind == SegmentKind::Resource;
                    self.within(segment, |d| d.push(difference, expected, found));
                    if is_resource && let Some(last) = self.out.last_mut() {
                        last.note = other_resources(offered, &|n| required.contains_key(n));
                    }
                }
                Some(other) => {
                    let (expected, found) = match self.side {
                        Side::Export => (*kind, *other),
                        Side::Import => (*other, *kind),
                    };
                    self.within(segment, |d| d.item(expected, found));
                }
            }
        }
    }

    fn func(&mut self, expected: FuncTypeId, found: FuncTypeId) {
        if expected == found {
            return;
        }
        let types = self.types;
        let (e, f) = (&types[expected], &types[found]);
        let same_shape = e.is_async == f.is_async
            && e.params.len() == f.params.len()
            && e.params.keys().zip(f.params.keys()).all(|(a, b)| a == b)
            && e.result.is_some() == f.result.is_some();
        if !same_shape {
            self.different(self.render.func(expected), self.render.func(found));
            return;
        }
        for ((name, e), f) in e.params.iter().zip(f.params.values()) {
            self.within(Segment::new(SegmentKind::Parameter, name), |d| d.value(*e, *f));
        }
        if let (Some(e), Some(f)) = (e.result, f.result) {
            self.within(Segment::new(SegmentKind::Result, ""), |d| d.value(e, f));
        }
    }

    fn value(&mut self, expected: ValueType, found: ValueType) {
        let types = self.types;
        let (e, f) = (types.resolve_value_type(expected), types.resolve_value_type(found));
        match (e, f) {
            (ValueType::Primitive(a), ValueType::Primitive(b)) if a == b => {}
            (ValueType::Own(a), ValueType::Own(b)) | (ValueType::Borrow(a), ValueType::Borrow(b))
                if self.render.resource(types.resolve_resource(a))
                    == self.render.resource(types.resolve_resource(b)) => {}
            (ValueType::Defined(a), ValueType::Defined(b)) => self.defined(expected, found, a, b),
            _ => self.different(self.render.value(expected), self.render.value(found)),
        }
    }

    /// Two defined types. `expected`/`found` are the unresolved types, for
    /// their names; `e`/`f` the resolved definitions. A named type whose
    /// difference was already reported elsewhere is not reported again.
    fn defined(&mut self, expected: ValueType, found: ValueType, e: DefinedTypeId, f: DefinedTypeId) {
        if e == f {
            return;
        }
        let (e_def, f_def) = (self.render.definition(expected), self.render.definition(found));
        let name = match expected {
            ValueType::Defined(id) => self.render.name(id),
            _ => None,
        };
        let Some(name) = name else {
            return self.structure(e, f, e_def, f_def);
        };
        let key = (e_def.clone(), f_def.clone());
        if self.reported.contains(&key) {
            self.suppressed += 1;
            return;
        }
        let before = self.out.len();
        let segment = Segment::new(SegmentKind::Type, name);
        if self.path.last() == Some(&segment) {
            self.structure(e, f, e_def, f_def);
        } else {
            self.within(segment, |d| d.structure(e, f, e_def, f_def));
        }
        if self.out.len() > before {
            self.reported.insert(key);
        }
    }

    fn structure(&mut self, e: DefinedTypeId, f: DefinedTypeId, e_def: String, f_def: String) {
        let types = self.types;
        match (&types[e], &types[f]) {
            (DefinedType::Record(a), DefinedType::Record(b))
                if a.fields.len() == b.fields.len() && a.fields.keys().zip(b.fields.keys()).all(|(x, y)| x == y) =>
            {
                for ((name, a), b) in a.fields.iter().zip(b.fields.values()) {
                    self.within(Segment::new(SegmentKind::Field, name), |d| d.value(*a, *b));
                }
            }
            (DefinedType::Variant(a), DefinedType::Variant(b))
                if a.cases.len() == b.cases.len()
                    && a.cases
                        .iter()
                        .zip(b.cases.iter())
                        .all(|((x, p), (y, q))| x == y && p.is_some() == q.is_some()) =>
            {
                for ((name, a), b) in a.cases.iter().zip(b.cases.values()) {
                    if let (Some(a), Some(b)) = (a, b) {
                        self.within(Segment::new(SegmentKind::Case, name), |d| d.value(*a, *b));
                    }
                }
            }
            (DefinedType::Tuple(a), DefinedType::Tuple(b)) if a.len() == b.len() => {
                for (i, (a, b)) in a.iter().zip(b.iter()).enumerate() {
                    self.within(Segment::new(SegmentKind::TupleItem, &i.to_string()), |d| d.value(*a, *b));
                }
            }
            (DefinedType::List(a), DefinedType::List(b)) => {
                self.within(Segment::new(SegmentKind::Element, ""), |d| d.value(*a, *b));
            }
            (DefinedType::FixedSizeList(a, n), DefinedType::FixedSizeList(b, m)) if n == m => {
                self.within(Segment::new(SegmentKind::Element, ""), |d| d.value(*a, *b));
            }
            (DefinedType::Map(ak, av), DefinedType::Map(bk, bv)) => {
                self.within(Segment::new(SegmentKind::Key, ""), |d| d.value(*ak, *bk));
                self.within(Segment::new(SegmentKind::Value, ""), |d| d.value(*av, *bv));
            }
            (DefinedType::Option(a), DefinedType::Option(b)) => {
                self.within(Segment::new(SegmentKind::Payload, "option"), |d| d.value(*a, *b));
            }
            (DefinedType::Result { ok: ao, err: ae }, DefinedType::Result { ok: bo, err: be })
                if ao.is_some() == bo.is_some() && ae.is_some() == be.is_some() =>
            {
                if let (Some(a), Some(b)) = (ao, bo) {
                    self.within(Segment::new(SegmentKind::Ok, ""), |d| d.value(*a, *b));
                }
                if let (Some(a), Some(b)) = (ae, be) {
                    self.within(Segment::new(SegmentKind::Err, ""), |d| d.value(*a, *b));
                }
            }
            (DefinedType::Stream(Some(a)), DefinedType::Stream(Some(b))) => {
                self.within(Segment::new(SegmentKind::Payload, "stream"), |d| d.value(*a, *b));
            }
            (DefinedType::Future(Some(a)), DefinedType::Future(Some(b))) => {
                self.within(Segment::new(SegmentKind::Payload, "future"), |d| d.value(*a, *b));
            }
            (DefinedType::Stream(None), DefinedType::Stream(None))
            | (DefinedType::Future(None), DefinedType::Future(None)) => {}
            (DefinedType::Enum(a), DefinedType::Enum(b)) if a.0.iter().eq(b.0.iter()) => {}
            (DefinedType::Flags(a), DefinedType::Flags(b)) if a.0.iter().eq(b.0.iter()) => {}
            _ => self.different(e_def, f_def),
        }
    }
}

/// The resources in `offered` that `required` lacks: ``resource `blob`, resource `file` ``.
fn other_resources<'x>(
    offered: impl IntoIterator<Item = (&'x String, &'x ItemKind)>,
    required: &impl Fn(&str) -> bool,
) -> Option<String> {
    let names: Vec<String> = offered
        .into_iter()
        .filter(|(name, kind)| matches!(kind, ItemKind::Type(Type::Resource(_))) && !required(name.as_str()))
        .map(|(name, _)| format!("resource `{name}`"))
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}
