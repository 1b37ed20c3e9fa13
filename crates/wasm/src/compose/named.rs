//! Packages of a `.wac` document found by name: `ns:pkg@1.2.3` mapped to an
//! OCI reference the way wkg maps it ([`crate::wkg`]), then fetched as a Wasm
//! artifact and verified like any other part.

use std::path::Path;

use super::LoadedPart;
use super::lock::Lock;
use super::package::{Dependency, Missing, place};
use crate::artifact::read::fetch_wasm;
use crate::error::{Error, Fix, PackageProblem, Result};
use crate::wkg::{self, Config, PackageName};
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;

/// Finds `missing` (named at its offset in `file`, whose text is `text`)
/// through `config` (read from `config_path`, if any) and fetches it.
///
/// A name nothing maps, or a package absent where the mapping points, is an
/// [`Error::Composition`] naming the document's place, the mapping and the fix.
pub(super) async fn fetch(
    missing: &Missing,
    file: &str,
    text: &str,
    (config, config_path): (&Config, Option<&Path>),
    lock: &Lock,
    transport: &TransportOptions,
) -> Result<Dependency> {
    let at = place(file, text, missing.offset);
    let name = missing.to_string();
    let config_name = config_path.map_or_else(
        || Config::default_path().map_or_else(|| "wasm-pkg/config.toml".into(), |p| p.display().to_string()),
        |p| p.display().to_string(),
    );
    let package = PackageName::parse(&name)?;
    let pinned = lock.packages.iter().find(|l| l.name == name).map(|l| l.source.as_str());
    let resolution = wkg::resolve_pinned(config, &package, pinned, transport).await.map_err(|e| {
        Error::package(PackageProblem::Unmapped {
            place: at.clone(),
            name: name.clone(),
            namespace: package.namespace.clone(),
            cause: lowercase_first(&e),
            config: config_name.clone(),
        })
    })?;
    let unavailable = |e: Error| Error::Composition {
        reason: format!(
            "{at}: the package `{name}` cannot be fetched from {}, where {config_name} maps it (registry {}): {e}",
            resolution.reference, resolution.registry
        ),
        fix: Fix::PushPackageOrGiveIt {
            name: name.clone(),
            reference: resolution.reference.clone(),
            config: config_name.clone(),
        },
    };
    let reference = Reference::parse(&resolution.reference).map_err(|e| unavailable(e.into()))?;
    let (resolved, bytes) = fetch_wasm(&reference, transport).await.map_err(unavailable)?;
    let part = LoadedPart::new(reference.pinned(&resolved.manifest_descriptor.digest), bytes);
    Ok(Dependency { name, input: resolution.reference, part, registry: Some(resolution.registry) })
}

/// An error's message with its first letter in lower case, to go after a comma.
fn lowercase_first(error: &Error) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
}
