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

mod diff;
mod render;

use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use semver::Version;
use serde::Serialize;
use wac_types::{ItemKind, Package, SubtypeChecker, Type, Types, WorldId};
use wit_parser::{PackageId, Resolve};

use crate::artifact::{MAX_WASM_IN_MEMORY, fetch_wasm, fetch_wasm_within, resolve_artifact, within_limit};
use crate::error::{Error, Fix, Result};
use diff::{Differ, Difference, Mismatch};
use render::{Names, Render};
use wharf_oci::open::open_source;
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;

/// A loaded WIT package: the package itself and its dependencies.
pub struct Wit {
    resolve: Resolve,
    package: PackageId,
    location: String,
}

impl Wit {
    /// Loads WIT from `path`: a directory of `.wit` files (dependencies in
    /// `deps/`), a single `.wit` file, or a binary WIT package (`.wasm`).
    pub fn load(path: &Path) -> Result<Wit> {
        let location = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
        if meta.is_file() {
            let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
            if bytes.starts_with(b"\0asm") {
                return Wit::from_wasm(&location, &bytes);
            }
        }
        let mut resolve = Resolve::default();
        let (package, _sources) = resolve
            .push_path(path)
            .map_err(|e| Error::InvalidWit { location: location.clone(), reason: resolve.render_error(&e) })?;
        Ok(Wit { resolve, package, location })
    }

    /// Reads a binary WIT package (for example one pulled from a registry);
    /// `location` names it in messages.
    pub fn from_wasm(location: &str, bytes: &[u8]) -> Result<Wit> {
        // Validate first: wit-parser's decoder preallocates each section's
        // declared size, so a few bytes declaring a 4 GiB section would
        // allocate 4 GiB before finding the input short.
        crate::inspect::validate(location, bytes)
            .map_err(|e| Error::InvalidWit { location: location.to_string(), reason: e.to_string() })?;
        // wit-parser panics on some valid but inconsistent packages.
        match guarded(location, || wit_component::decode(bytes)) {
            Ok(wit_component::DecodedWasm::WitPackage(resolve, package)) => {
                Ok(Wit { resolve, package, location: location.to_string() })
            }
            Ok(wit_component::DecodedWasm::Component(..)) => Err(Error::InvalidWit {
                location: location.to_string(),
                reason: "it holds a component, not a WIT package".into(),
            }),
            Err(reason) => Err(Error::InvalidWit { location: location.to_string(), reason }),
        }
    }

    /// The package name, `ns:pkg@version`.
    pub fn package_name(&self) -> String {
        self.resolve.packages[self.package].name.to_string()
    }

    /// The worlds the package defines, as `ns:pkg/world@version`.
    pub fn worlds(&self) -> Vec<String> {
        self.resolve.packages[self.package]
            .worlds
            .keys()
            .map(|name| self.resolve.id_of_name(self.package, name))
            .collect()
    }

    /// Chooses the world to check against: `world` (a plain name of one of
    /// the package's worlds, or `ns:pkg/world[@version]` of any loaded
    /// package), or the package's only world when `world` is `None`.
    pub fn target(&self, world: Option<&str>) -> Result<Target> {
        let world_id = self.select_world(world)?;
        let world = &self.resolve.worlds[world_id];
        let package = world.package.ok_or_else(|| self.selection_error(Some(&world.name)))?;
        let name = self.resolve.id_of_name(package, &world.name);
        // wit-component panics on some packages wit-parser decoded.
        let bytes = guarded(&self.location, || wit_component::encode(&self.resolve, package))
            .map_err(|reason| Error::InvalidWit { location: self.location.clone(), reason })?;
        let mut types = Types::default();
        let encoded = guarded(&self.location, || Package::from_bytes("wit", None, bytes, &mut types))
            .map_err(|reason| Error::InvalidWit { location: self.location.clone(), reason })?;
        let world = wit_world(&types, encoded.ty(), &world.name).ok_or_else(|| Error::InvalidWit {
            location: self.location.clone(),
            reason: format!("the world {name} did not survive encoding (please report this)"),
        })?;
        Ok(Target { types, world, name })
    }

    fn select_world(&self, world: Option<&str>) -> Result<wit_parser::WorldId> {
        let worlds = &self.resolve.packages[self.package].worlds;
        let found = match world {
            None if worlds.len() == 1 => worlds.values().next().copied(),
            None => None,
            Some(name) if !name.contains(':') => worlds.get(name).copied(),
            Some(name) => self.resolve.select_world(&[self.package], Some(name)).ok(),
        };
        found.ok_or_else(|| self.selection_error(world))
    }

    fn selection_error(&self, requested: Option<&str>) -> Error {
        Error::WorldSelection {
            package: self.package_name(),
            requested: requested.map(str::to_string),
            available: self.worlds(),
        }
    }
}

/// The world a WIT package encodes under the plain name `world`: the package
/// component exports it as a type whose only export is the world's component type.
fn wit_world(types: &Types, package: WorldId, world: &str) -> Option<WorldId> {
    let ItemKind::Type(Type::World(wrapper)) = types[package].exports.get(world)? else {
        return None;
    };
    match types[*wrapper].exports.values().next()? {
        ItemKind::Component(id) => Some(*id),
        _ => None,
    }
}

/// Runs wac-types on input it may not expect (it panics on a few shapes of
/// component it cannot represent), turning a panic into an error message.
fn guarded<T>(what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("the types of {what} could not be read (wac-types gave up on them)")),
    }
}

/// A world, ready to check components against.
pub struct Target {
    types: Types,
    world: WorldId,
    name: String,
}

impl Target {
    /// The world's name, `ns:pkg/world@version`.
    pub fn name(&self) -> &str {
        &self.name
    }

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
    /// `exports`): missing exports, imports the world does not provide and
    /// versions in the unsafe direction. Types are not compared
    /// (`types_checked` is false); when this finds no problem, only
    /// [`Target::check`] on the component itself can say that it fits.
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
                Some((world_name, _)) => {
                    semver_step(Side::Import, world_name, name, &mut semver_matches, &mut problems);
                }
            }
        }
        let offered: Vec<(&str, ())> = exports.iter().map(|n| (n.as_str(), ())).collect();
        for (name, kind) in &world_exports {
            match lookup(&offered, name) {
                None => problems.push(missing_export(name, *kind, &offered, &render)),
                Some((component_name, _)) => {
                    semver_step(Side::Export, name, component_name, &mut semver_matches, &mut problems);
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

/// Loads the WIT named by `input`: an existing path ([`Wit::load`]), else a
/// reference to a binary WIT package in a registry or layout.
pub async fn load_wit_input(input: &str, transport: &TransportOptions) -> Result<Wit> {
    let path = Path::new(input);
    if path.exists() || looks_like_path(input) {
        return Wit::load(path);
    }
    let reference = Reference::parse(input)?;
    let (_, bytes) = fetch_wasm(&reference, transport).await?;
    Wit::from_wasm(&reference.to_string(), &bytes)
}

/// The world a component artifact declares (its config's `component.target`),
/// loaded from the WIT package wkg's name mapping leads to.
pub struct DeclaredTarget {
    /// The declared world, `ns:pkg/world@version`.
    pub world: String,
    /// Where its WIT package was fetched from (`HOST/REPO:TAG`).
    pub package_reference: String,
    /// The world, ready to check against.
    pub target: Target,
}

/// The WIT package of a declared world, fetched but not parsed yet
/// ([`fetch_declared_package`]): parsing is CPU work, which a server does on a
/// blocking thread ([`DeclaredPackage::load`]).
pub struct DeclaredPackage {
    /// The declared world, `ns:pkg/world@version`.
    pub world: String,
    /// Where its WIT package was fetched from (`HOST/REPO:TAG`).
    pub package_reference: String,
    bytes: Vec<u8>,
}

impl DeclaredPackage {
    /// Parses the package and selects the declared world from it.
    pub fn load(self) -> Result<DeclaredTarget> {
        let wit = Wit::from_wasm(&self.package_reference, &self.bytes)?;
        let target = wit.target(Some(&self.world))?;
        Ok(DeclaredTarget { world: self.world, package_reference: self.package_reference, target })
    }
}

/// Loads the world the artifact at `input` declares in its config
/// (`component.target`, recorded by `wharf push --wit`): the world's package
/// is mapped to an OCI reference the way wkg maps names ([`crate::wkg`]),
/// fetched as a binary WIT package, and the world selected from it.
///
/// A local file, an artifact with no declared target, or a package that
/// cannot be mapped or fetched is an error naming the fix.
pub async fn load_declared_target(input: &str, transport: &TransportOptions) -> Result<DeclaredTarget> {
    fetch_declared_package(input, transport, MAX_WASM_IN_MEMORY).await?.load()
}

/// The network half of [`load_declared_target`]: finds and fetches the WIT
/// package of the world `input` declares, refusing a package over `max_bytes`.
pub async fn fetch_declared_package(
    input: &str,
    transport: &TransportOptions,
    max_bytes: u64,
) -> Result<DeclaredPackage> {
    let path = Path::new(input);
    if path.is_file() || looks_like_path(input) {
        return Err(Error::DeclaredTarget {
            reason: format!(
                "{input} is a local path, and only an artifact in a registry or layout declares a target world"
            ),
            fix: Fix::GiveWorld,
        });
    }
    let reference = Reference::parse(input)?;
    let store = open_source(&reference, transport).await?;
    let resolved = resolve_artifact(store.as_ref(), &reference.selector()).await?;
    let world = resolved.config.as_ref().and_then(|c| c.component.as_ref()).and_then(|c| c.target.clone());
    let Some(world) = world else {
        return Err(Error::DeclaredTarget {
            reason: format!("{reference} declares no target world (its config has no component.target)"),
            fix: Fix::GiveWorldOrRecord { reference: reference.to_string() },
        });
    };
    let package = crate::wkg::PackageName::of_item(&world).map_err(|e| Error::DeclaredTarget {
        reason: format!("{reference} declares the target world {world:?}, which is not a world name: {e}"),
        fix: Fix::GiveWorld,
    })?;
    let (config, config_path) = crate::wkg::Config::load()?;
    let config_name = config_path.map_or_else(|| "wkg's config (none found)".to_string(), |p| p.display().to_string());
    let resolution = crate::wkg::resolve(&config, &package, transport).await.map_err(|e| Error::DeclaredTarget {
        reason: format!("cannot find the WIT package {package} of {reference}'s target world {world}: {e}"),
        fix: Fix::MapPackageOrGiveWorld { config: config_name.clone() },
    })?;
    let unavailable = |e: Error| Error::DeclaredTarget {
        reason: format!(
            "cannot fetch the WIT package {package} of {reference}'s target world {world} from {} \
             (where {config_name} maps it, through the registry {}): {e}",
            resolution.reference, resolution.registry
        ),
        fix: Fix::PushPackageOrGiveWorld { reference: resolution.reference.clone(), config: config_name.clone() },
    };
    let package_reference = Reference::parse(&resolution.reference).map_err(|e| unavailable(e.into()))?;
    let (_, bytes) = fetch_wasm_within(&package_reference, transport, max_bytes).await.map_err(unavailable)?;
    Ok(DeclaredPackage { world, package_reference: resolution.reference, bytes })
}

/// Checks the component named by `input`: an existing file, else a reference.
pub async fn check_input(input: &str, target: &Target, transport: &TransportOptions) -> Result<CheckReport> {
    let path = Path::new(input);
    if path.is_file() || looks_like_path(input) {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        return target.check(input, bytes);
    }
    check_reference(&Reference::parse(input)?, target, transport).await
}

/// Checks the component at `reference`. When the artifact's config lists the
/// component's imports and exports and those names alone already show that
/// it does not fit, that answer is returned without downloading the layer
/// (`types_checked: false`); otherwise the layer is fetched, verified and
/// fully checked.
pub async fn check_reference(
    reference: &Reference,
    target: &Target,
    transport: &TransportOptions,
) -> Result<CheckReport> {
    match fetch_component(reference, target, transport, MAX_WASM_IN_MEMORY).await? {
        Component::Decided(report) => Ok(report),
        Component::Fetched { source, bytes } => target.check(&source, bytes),
    }
}

/// What [`fetch_component`] found.
pub enum Component {
    /// The names in the artifact's config already show that it does not fit.
    Decided(CheckReport),
    /// The component, verified against its digest, for [`Target::check`].
    Fetched {
        /// `location@digest`, naming the component in the report.
        source: String,
        /// The component binary.
        bytes: Vec<u8>,
    },
}

/// The network half of [`check_reference`]: the answer from the config's
/// names where they suffice, else the component itself, refusing a layer over
/// `max_bytes` before reading any of it.
pub async fn fetch_component(
    reference: &Reference,
    target: &Target,
    transport: &TransportOptions,
    max_bytes: u64,
) -> Result<Component> {
    let store = open_source(reference, transport).await?;
    let resolved = resolve_artifact(store.as_ref(), &reference.selector()).await?;
    let source = reference.pinned(&resolved.manifest_descriptor.digest);
    if let Some(world) = resolved.config.as_ref().and_then(|c| c.component.as_ref()) {
        let first = target.check_names(&source, &world.imports, &world.exports);
        if !first.fits {
            return Ok(Component::Decided(first));
        }
    }
    let layer = &resolved.layer;
    within_limit(&format!("the Wasm layer of {reference}"), layer.size, max_bytes, Some("checks"))?;
    let bytes = wharf_oci::store::collect_verified(store.fetch(layer).await?, layer).await?;
    Ok(Component::Fetched { source, bytes })
}

/// Whether `input` is clearly meant as a local path (so a typo reports a
/// missing file instead of a registry lookup).
pub fn looks_like_path(input: &str) -> bool {
    if input.starts_with("oci:") {
        return false;
    }
    input.starts_with('.')
        || input.starts_with('/')
        || input.starts_with('~')
        || [".wit", ".wasm", ".wat"].iter().any(|ext| input.ends_with(ext))
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
    guarded(source, || Package::from_bytes("component", None, bytes, types))
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
    /// ([`Target::check_names`]).
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
    /// Matched across versions of one semver track, in the unsafe direction.
    VersionMismatch,
}

impl ProblemKind {
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

fn function_segment(name: &str) -> Segment {
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
    /// Whether the versions go the safe way (an older import, a newer export).
    pub safe: bool,
    /// The match in a sentence.
    pub message: String,
}

/// Which way two versions on one track go, or `None` when they are not
/// comparable (no version on one side).
fn is_safe(side: Side, world: &str, component: &str) -> Option<bool> {
    let (world, component) = (version_of(world)?, version_of(component)?);
    Some(match side {
        Side::Import => component <= world,
        Side::Export => component >= world,
    })
}

fn semver_match(side: Side, world: &str, component: &str, safe: bool) -> SemverMatch {
    let message = match (side, safe) {
        (Side::Import, true) => format!(
            "import {component} matched the world's {world}: the component asks for an older version than the world provides, which is safe"
        ),
        (Side::Import, false) => format!(
            "import {component} matched the world's {world}: the component asks for a newer version than the world provides, which is not safe"
        ),
        (Side::Export, true) => format!(
            "export {component} matched the world's {world}: the component provides a newer version than the world requires, which is safe"
        ),
        (Side::Export, false) => format!(
            "export {component} matched the world's {world}: the component provides an older version than the world requires, which is not safe"
        ),
    };
    SemverMatch { side, world: world.to_string(), component: component.to_string(), safe, message }
}

/// Records a cross-version match, and a problem when it goes the unsafe way.
fn semver_step(side: Side, world: &str, component: &str, matches: &mut Vec<SemverMatch>, problems: &mut Vec<Problem>) {
    if world == component {
        return;
    }
    let safe = is_safe(side, world, component).unwrap_or(false);
    matches.push(semver_match(side, world, component, safe));
    if !safe {
        problems.push(version_mismatch(side, world, component));
    }
}

fn version_mismatch(side: Side, world: &str, component: &str) -> Problem {
    let (item, message) = match side {
        Side::Import => (
            component,
            format!(
                "version mismatch: the component imports {component}, but the world provides only the older {world}; \
                 semver lets a newer version add to an older one, so the component may need what the world lacks"
            ),
        ),
        Side::Export => (
            world,
            format!(
                "version mismatch: the world requires the export {world}, but the component provides only the older {component}; \
                 semver lets a newer version add to an older one, so the component may lack what the world needs"
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

fn version_of(name: &str) -> Option<Version> {
    Version::parse(name.split_once('@')?.1).ok()
}

/// Looks `name` up among `entries`: exactly, else the highest version on
/// the same semver track.
fn lookup<'e, V: Copy>(entries: &[(&'e str, V)], name: &str) -> Option<(&'e str, V)> {
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
fn near_misses<V>(entries: &[(&str, V)], name: &str, whose: &str) -> String {
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
fn why_no_match(a: &str, b: &str) -> &'static str {
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
                Some((world_name, expected)) => {
                    semver_step(Side::Import, world_name, name, &mut self.semver_matches, &mut self.problems);
                    self.compare(Side::Import, name, expected, *kind);
                }
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
                Some((component_name, found)) => {
                    semver_step(Side::Export, name, component_name, &mut self.semver_matches, &mut self.problems);
                    self.compare(Side::Export, name, *expected, found);
                }
            }
        }
    }

    /// Asks wac-types whether `found` (the component's) is compatible with
    /// `expected` (the world's) and, when not, finds out where they differ.
    fn compare(&mut self, side: Side, item: &str, expected: ItemKind, found: ItemKind) {
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
            return;
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

#[cfg(test)]
mod tests;
