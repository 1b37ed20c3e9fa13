//! WIT text for wac-types types: types by their WIT names where the WIT gave
//! them one (records, variants, resources...), structure otherwise. Never an
//! arena id or a debug dump.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use wac_types::{DefinedType, DefinedTypeId, FuncTypeId, InterfaceId, ItemKind, Type, Types, ValueType, WorldId};

/// How many members of an interface a one-line summary lists.
const SUMMARY_MEMBERS: usize = 3;

/// The WIT names of defined types, found by walking worlds and interfaces.
#[derive(Default)]
pub(super) struct Names {
    defined: HashMap<DefinedTypeId, String>,
}

impl Names {
    /// Collects the names of every type exported or imported (as a type) by
    /// the given worlds, the interfaces they import and export, and so on down.
    pub(super) fn collect(types: &Types, roots: &[WorldId]) -> Names {
        let mut names = Names::default();
        let mut walker =
            Walker { types, names: &mut names, seen_worlds: HashSet::new(), seen_interfaces: HashSet::new() };
        for root in roots {
            walker.world(*root);
        }
        names
    }

    /// The WIT name of `id`, if it has one.
    pub(super) fn get(&self, id: DefinedTypeId) -> Option<&str> {
        self.defined.get(&id).map(String::as_str)
    }
}

struct Walker<'a> {
    types: &'a Types,
    names: &'a mut Names,
    seen_worlds: HashSet<WorldId>,
    seen_interfaces: HashSet<InterfaceId>,
}

impl Walker<'_> {
    fn world(&mut self, id: WorldId) {
        if !self.seen_worlds.insert(id) {
            return;
        }
        let types = self.types;
        let world = &types[id];
        for (name, kind) in world.imports.iter().chain(world.exports.iter()) {
            self.item(name, *kind);
        }
    }

    fn interface(&mut self, id: InterfaceId) {
        if !self.seen_interfaces.insert(id) {
            return;
        }
        let types = self.types;
        for (name, kind) in &types[id].exports {
            self.item(name, *kind);
        }
        for used in types[id].uses.values() {
            self.interface(used.interface);
        }
    }

    fn item(&mut self, name: &str, kind: ItemKind) {
        match kind {
            ItemKind::Type(Type::Value(ValueType::Defined(id))) => {
                self.names.defined.entry(id).or_insert_with(|| name.to_string());
            }
            ItemKind::Instance(id) | ItemKind::Type(Type::Interface(id)) => self.interface(id),
            ItemKind::Component(id) | ItemKind::Type(Type::World(id)) => self.world(id),
            _ => {}
        }
    }
}

/// Writes types as WIT.
#[derive(Clone, Copy)]
pub(super) struct Render<'a> {
    types: &'a Types,
    names: &'a Names,
}

impl<'a> Render<'a> {
    /// A renderer over `types`, naming types with `names`.
    pub(super) fn new(types: &'a Types, names: &'a Names) -> Self {
        Render { types, names }
    }

    /// A value type as it appears in a signature: `u32`, `list<string>`,
    /// `request` (a named record), `blob` (an owned resource), `borrow<blob>`.
    pub(super) fn value(&self, ty: ValueType) -> String {
        match ty {
            ValueType::Primitive(p) => p.desc().to_string(),
            ValueType::Own(r) => self.resource(r),
            ValueType::Borrow(r) => format!("borrow<{}>", self.resource(r)),
            ValueType::Defined(id) => match self.names.get(id) {
                Some(name) => name.to_string(),
                None => self.structure(id),
            },
        }
    }

    /// The WIT name of a defined type, if it has one.
    pub(super) fn name(&self, id: DefinedTypeId) -> Option<&'a str> {
        self.names.get(id)
    }

    /// The name of a resource.
    pub(super) fn resource(&self, id: wac_types::ResourceId) -> String {
        self.types[id].name.clone()
    }

    /// A value type written out in full: a named type as its definition
    /// (`record request { id: u32, size: u32 }`), anything else as [`Self::value`].
    pub(super) fn definition(&self, ty: ValueType) -> String {
        match ty {
            ValueType::Defined(id) => match self.names.get(id) {
                Some(name) => self.named_definition(name, id),
                None => self.structure(id),
            },
            other => self.value(other),
        }
    }

    fn named_definition(&self, name: &str, id: DefinedTypeId) -> String {
        match &self.types[id] {
            DefinedType::Record(r) => {
                let fields: Vec<String> = r.fields.iter().map(|(n, t)| format!("{n}: {}", self.value(*t))).collect();
                format!("record {name} {{ {} }}", fields.join(", "))
            }
            DefinedType::Variant(v) => {
                let cases: Vec<String> = v
                    .cases
                    .iter()
                    .map(|(n, t)| match t {
                        Some(t) => format!("{n}({})", self.value(*t)),
                        None => n.clone(),
                    })
                    .collect();
                format!("variant {name} {{ {} }}", cases.join(", "))
            }
            DefinedType::Enum(e) => format!("enum {name} {{ {} }}", join(e.0.iter())),
            DefinedType::Flags(f) => format!("flags {name} {{ {} }}", join(f.0.iter())),
            _ => format!("type {name} = {}", self.structure(id)),
        }
    }

    /// The structure of a defined type, ignoring its own name.
    fn structure(&self, id: DefinedTypeId) -> String {
        let v = |t: &ValueType| self.value(*t);
        let opt = |t: &Option<ValueType>| t.as_ref().map_or_else(|| "_".to_string(), v);
        match &self.types[id] {
            DefinedType::Tuple(items) => format!("tuple<{}>", items.iter().map(v).collect::<Vec<_>>().join(", ")),
            DefinedType::List(t) => format!("list<{}>", v(t)),
            DefinedType::FixedSizeList(t, n) => format!("list<{}, {n}>", v(t)),
            DefinedType::Map(k, t) => format!("map<{}, {}>", v(k), v(t)),
            DefinedType::Option(t) => format!("option<{}>", v(t)),
            DefinedType::Result { ok: None, err: None } => "result".to_string(),
            DefinedType::Result { ok: Some(ok), err: None } => format!("result<{}>", v(ok)),
            DefinedType::Result { ok, err } => format!("result<{}, {}>", opt(ok), opt(err)),
            DefinedType::Stream(None) => "stream".to_string(),
            DefinedType::Stream(Some(t)) => format!("stream<{}>", v(t)),
            DefinedType::Future(None) => "future".to_string(),
            DefinedType::Future(Some(t)) => format!("future<{}>", v(t)),
            DefinedType::Alias(t) => v(t),
            DefinedType::Record(r) => {
                let fields: Vec<String> = r.fields.iter().map(|(n, t)| format!("{n}: {}", v(t))).collect();
                format!("record {{ {} }}", fields.join(", "))
            }
            DefinedType::Variant(var) => {
                let cases: Vec<String> = var
                    .cases
                    .iter()
                    .map(|(n, t)| t.as_ref().map_or_else(|| n.clone(), |t| format!("{n}({})", v(t))))
                    .collect();
                format!("variant {{ {} }}", cases.join(", "))
            }
            DefinedType::Enum(e) => format!("enum {{ {} }}", join(e.0.iter())),
            DefinedType::Flags(f) => format!("flags {{ {} }}", join(f.0.iter())),
        }
    }

    /// A function type: `func(a: u32, b: string) -> bool`, `async func()`.
    pub(super) fn func(&self, id: FuncTypeId) -> String {
        let f = &self.types[id];
        let mut out = String::new();
        if f.is_async {
            out.push_str("async ");
        }
        let params: Vec<String> = f.params.iter().map(|(n, t)| format!("{n}: {}", self.value(*t))).collect();
        let _ = write!(out, "func({})", params.join(", "));
        if let Some(result) = f.result {
            let _ = write!(out, " -> {}", self.value(result));
        }
        out
    }

    /// An import or export as WIT: a function's signature, a type's
    /// definition, `resource blob`, or an interface with its members.
    pub(super) fn item(&self, kind: ItemKind) -> String {
        match kind.promote() {
            ItemKind::Func(id) | ItemKind::Type(Type::Func(id)) => self.func(id),
            ItemKind::Instance(id) | ItemKind::Type(Type::Interface(id)) => self.interface(id),
            ItemKind::Type(Type::Resource(id)) => format!("resource {}", self.resource(id)),
            ItemKind::Type(Type::Value(ty)) => self.definition(ty),
            ItemKind::Component(_) | ItemKind::Type(Type::World(_)) => "component".to_string(),
            ItemKind::Module(_) | ItemKind::Type(Type::Module(_)) => "core module".to_string(),
            ItemKind::Value(ty) => format!("value of type {}", self.value(ty)),
        }
    }

    /// An interface on one line: `interface { check: func(req: request) -> bool; }`.
    pub(super) fn interface(&self, id: InterfaceId) -> String {
        match self.members(id).as_str() {
            "" => "interface { }".to_string(),
            members => format!("interface {{ {members}; }}"),
        }
    }

    /// An interface's members on one line, at most a few of them:
    /// `check: func(req: request) -> bool; record request { ... }; and 2 more`.
    /// Empty for an interface without members.
    pub(super) fn members(&self, id: InterfaceId) -> String {
        let exports = &self.types[id].exports;
        let mut shown: Vec<String> =
            exports.iter().take(SUMMARY_MEMBERS).map(|(name, kind)| self.member(name, *kind)).collect();
        if exports.len() > SUMMARY_MEMBERS {
            shown.push(format!("and {} more", exports.len() - SUMMARY_MEMBERS));
        }
        shown.join("; ")
    }

    /// One member of an interface as WIT: `check: func(...) -> bool`,
    /// `resource blob`, `record request { ... }`, `blob.size: func() -> u32`.
    pub(super) fn member(&self, name: &str, kind: ItemKind) -> String {
        match kind.promote() {
            ItemKind::Type(Type::Resource(id)) => format!("resource {}", self.resource(id)),
            ItemKind::Type(Type::Value(ty)) => self.definition(ty),
            other => format!("{}: {}", super::report::member_segment(name, other).name, self.item(other)),
        }
    }
}

fn join<'s>(items: impl Iterator<Item = &'s String>) -> String {
    items.map(String::as_str).collect::<Vec<_>>().join(", ")
}
