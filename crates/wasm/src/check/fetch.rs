//! The registry side of checks: the WIT a check names (a path or a reference),
//! the world an artifact declares (its config's `component.target`, its package
//! found through wkg's mapping), and the component itself, each read within a
//! size limit and verified.

use std::path::Path;

use wharf_oci::manifest::Descriptor;
use wharf_oci::open::open_source;
use wharf_oci::reference::Reference;
use wharf_oci::store::ReadStore;
use wharf_oci::transport::TransportOptions;

use super::report::CheckReport;
use super::wit::{Wit, World};
use crate::artifact::{MAX_WASM_IN_MEMORY, fetch_wasm, fetch_wasm_within, resolve_artifact, within_limit};
use crate::error::{Error, Fix, Result};
use crate::source::looks_like_path;

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
    pub target: World,
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
        let target = wit.world(Some(&self.world))?;
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
pub async fn check_input(input: &str, target: &World, transport: &TransportOptions) -> Result<CheckReport> {
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
    target: &World,
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
    /// The component, verified against its digest, for [`World::check`].
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
    target: &World,
    transport: &TransportOptions,
    max_bytes: u64,
) -> Result<Component> {
    let store = open_source(reference, transport).await?;
    match look(store.as_ref(), reference, target, max_bytes).await? {
        Looked::Decided(report) => Ok(Component::Decided(report)),
        Looked::Layer { source, layer } => {
            let bytes = wharf_oci::store::collect_verified(store.fetch(&layer).await?, &layer).await?;
            Ok(Component::Fetched { source, bytes })
        }
    }
}

/// What the manifest and config of a component artifact say, before its layer.
pub(crate) enum Looked {
    /// The names in the config already show that it does not fit.
    Decided(CheckReport),
    /// Only the component itself can tell: its layer, within the size limit.
    Layer {
        /// `location@digest`, naming the component in the report.
        source: String,
        /// The Wasm layer to fetch.
        layer: Descriptor,
    },
}

/// Resolves `reference` in `store` (manifest and config, never the layer) and
/// checks the config's names; when they do not settle it, returns the layer,
/// refused over `max_bytes` before any of it is read.
pub(crate) async fn look(
    store: &dyn ReadStore,
    reference: &Reference,
    target: &World,
    max_bytes: u64,
) -> Result<Looked> {
    let resolved = resolve_artifact(store, &reference.selector()).await?;
    let source = reference.pinned(&resolved.manifest_descriptor.digest);
    if let Some(world) = resolved.config.as_ref().and_then(|c| c.component.as_ref()) {
        let first = target.check_names(&source, &world.imports, &world.exports);
        if !first.fits {
            return Ok(Looked::Decided(first));
        }
    }
    let layer = resolved.layer;
    within_limit(&format!("the Wasm layer of {reference}"), layer.size, max_bytes, Some("checks"))?;
    Ok(Looked::Layer { source, layer })
}
