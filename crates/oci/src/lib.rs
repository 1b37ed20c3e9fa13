//! wharf-oci: OCI content, and moving it. What wharf's other crates build on; it knows nothing of
//! WebAssembly, signatures or Kubernetes.
//!
//! Naming and checking content:
//! - [`digest`]: `sha256:` digests, strict parsing, and the stream that verifies size and digest as bytes pass.
//! - [`mod@reference`]: registry references (`host/repo:tag@digest`) and OCI layout references (`oci:PATH:TAG`).
//! - [`media`]: the OCI and Docker media types; [`annotations`]: the OCI annotation keys, creation times.
//! - [`manifest`]: descriptors, manifests and indexes, byte-reproducible.
//!
//! Storing and moving it:
//! - [`store`]: one pair of traits over a registry, an OCI layout and memory.
//! - [`open`]: a reference opened as a source or a destination store.
//! - [`copy`]: the one graph walk behind push, pull and copy; referrers travel when a filter says so.
//! - [`fs`]: the one atomic file writer (temp file, fsync, rename).
//! - [`chunks`]: chunk indexes of layers, attached beside artifacts as referrers.
//!
//! Reaching registries (feature `remote`, on by default):
//! - [`transport`]: schemes, TLS and timeouts; [`auth`]: challenges, basic auth and bearer tokens;
//!   [`credentials`]: the docker config and credential helpers.
//! - [`distribution`]: the OCI distribution API for one repository; [`retry`]: one retry policy for
//!   every request; [`body`]: the capped reader for every body kept in memory.
//!
//! Errors are typed ([`Error`], with an [`ErrorKind`]); nothing here prints.

pub mod annotations;
pub mod chunks;
pub mod copy;
pub mod digest;
pub mod error;
pub mod fs;
pub mod manifest;
pub mod media;
pub mod reference;
pub mod store;

#[cfg(feature = "remote")]
pub mod auth;
#[cfg(feature = "remote")]
pub mod body;
#[cfg(feature = "remote")]
pub mod credentials;
#[cfg(feature = "remote")]
pub mod distribution;
#[cfg(feature = "remote")]
pub mod open;
#[cfg(feature = "remote")]
pub mod retry;
#[cfg(feature = "remote")]
pub mod transport;

pub use digest::Digest;
pub use error::{Error, ErrorKind, Result};
pub use manifest::Descriptor;
pub use reference::Reference;
