//! `login` and `logout`: registry credentials checked, then kept in the docker
//! config as docker keeps them.

use wharf_oci::credentials::{self, Credentials, Stored};
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;

use crate::error::{Error, Result};

/// Checks `credentials` against `registry` (a host, with port if any; a
/// pasted `https://` prefix or trailing `/` is tolerated) and returns the
/// normalised host to store them under.
pub async fn login(registry: &str, transport: &TransportOptions, credentials: &Credentials) -> Result<String> {
    let host = registry.trim().trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let parsed = Reference::parse(&format!("{host}/x"))?;
    let Reference::Registry(r) = parsed else {
        return Err(Error::usage(format!("{registry:?} is not a registry host")));
    };
    if r.registry != host && !(host == "docker.io" || host.ends_with("docker.io")) {
        return Err(Error::usage(format!("{registry:?} is not a registry host name (HOST[:PORT])")));
    }
    wharf_oci::auth::check_login(&r.registry, transport, credentials).await?;
    Ok(r.registry)
}

/// Stores `credentials` for `registry` in the docker config (or its credential helper).
pub fn store(registry: &str, credentials: &Credentials) -> Result<Stored> {
    Ok(credentials::store(registry, credentials)?)
}

/// Removes `registry`'s credentials from the docker config (and its helper);
/// false when it had none.
pub fn logout(registry: &str) -> Result<bool> {
    Ok(credentials::remove(registry)?)
}
