//! wharf-wasm: WebAssembly components as OCI artifacts.
//!
//! The artifact:
//! - [`artifact`]: the CNCF TAG Runtime artifact, built reproducibly from a file, and read back
//!   ([`artifact::read`]: which manifest and layer hold the Wasm, in any shape wharf reads).
//! - [`media`]: the media types of Wasm artifacts, legacy shapes and runtime shapes.
//! - [`inspect`]: a binary validated and described (component or module, WIT world, metadata),
//!   in one bounded pass over a file; [`scan_cache`] remembers the pass for unchanged files.
//!
//! Runtimes:
//! - [`entry_point`]: how a runtime starts a binary, from what it exports.
//! - [`runtimes`]: runwasi's, crun's and Spin's shapes ([`runtimes::convert`]), and the files a
//!   runtime runs locally ([`runtimes::local_files`]).
//!
//! WIT (features `check` and `compose`):
//! - [`check`]: whether a component fits a WIT world; every problem written as WIT.
//! - [`compose`]: plugging components into each other, and `.wac` documents.
//! - [`wkg`]: package names to OCI references, as wkg maps them; [`source`]: a file or a reference.
//!
//! SBOMs (feature `sbom`):
//! - [`sbom`]: a component's SBOM from its own bytes (CycloneDX, SPDX).
//!
//! Depends on wharf-oci for content and registries; knows nothing of signatures or Kubernetes.

pub mod artifact;
pub mod entry_point;
pub mod error;
pub mod inspect;
pub mod media;
pub mod runtimes;
pub mod scan_cache;
pub mod source;

#[cfg(feature = "check")]
mod guard;

#[cfg(feature = "check")]
pub mod check;
#[cfg(feature = "compose")]
pub mod compose;
#[cfg(feature = "sbom")]
pub mod sbom;
#[cfg(feature = "check")]
pub mod wkg;

pub use error::{Error, Result};
