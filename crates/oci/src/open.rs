//! A reference opened as a store: a registry repository (connected with the
//! access it needs) or an OCI layout directory. What each command does first.

use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::registry::Access;
use crate::store::{LayoutStore, ReadStore, RegistryStore, Store};
use crate::transport::TransportOptions;

/// Opens `reference` for reading.
pub async fn open_source(reference: &Reference, transport: &TransportOptions) -> Result<Box<dyn ReadStore>> {
    Ok(match reference {
        Reference::Registry(r) => Box::new(RegistryStore::connect(r, transport, Access::Read).await?),
        Reference::Layout(l) => Box::new(LayoutStore::open(&l.path)?),
    })
}

/// Opens `reference` for writing (creating a layout if needed).
pub async fn open_destination(reference: &Reference, transport: &TransportOptions) -> Result<Box<dyn Store>> {
    Ok(match reference {
        Reference::Registry(r) => Box::new(RegistryStore::connect(r, transport, Access::Write).await?),
        Reference::Layout(l) => Box::new(LayoutStore::create(&l.path)?),
    })
}

/// Opens `reference` for writing next to what it holds: a registry repository
/// with push access, or an existing layout (never created: there is nothing to
/// add to in a new one, a signature for example).
pub async fn open_existing(reference: &Reference, transport: &TransportOptions) -> Result<Box<dyn Store>> {
    Ok(match reference {
        Reference::Registry(r) => Box::new(RegistryStore::connect(r, transport, Access::Write).await?),
        Reference::Layout(l) => Box::new(LayoutStore::open(&l.path)?),
    })
}

/// The tags a push or copy writes: the reference's tag (or `fallback`), then `extra`.
pub fn destination_tags(reference: &Reference, fallback: Option<&str>, extra: &[String]) -> Result<Vec<String>> {
    if reference.digest().is_some() {
        return Err(Error::Usage(format!(
            "cannot push to {reference}: a destination is named by tag, not by digest (the digest is computed from the content)"
        )));
    }
    let mut tags: Vec<String> = reference.tag().or(fallback).map(str::to_string).into_iter().collect();
    for t in extra {
        Reference::parse(&format!("oci:x:{t}"))?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(tags)
}
