//! wharf: ship WebAssembly components through OCI registries and local OCI layouts.
//!
//! This crate is the verbs, as crane is to go-containerregistry: each a short composition
//! of the crates below, returning a report; nothing prints, errors are typed ([`Error`]).
//!
//! The verbs:
//! - [`push()`]: a `.wasm` file as a Wasm OCI artifact (checked against a WIT world first, if
//!   given); [`pull()`]: its Wasm into a file; [`inspect`]: what an artifact or file holds.
//! - [`index::index`]: a chunk index attached beside an artifact another tool pushed.
//! - [`copy()`]: any store to any store, with signatures when asked (feature `sign`).
//! - [`login()`], [`logout`]: registry credentials in the docker config.
//! - [`compose`]: components plugged together or composed from a `.wac` document, written and
//!   pushed (feature `compose`).
//! - [`sbom`]: a component's SBOM (CycloneDX or SPDX) from its own bytes, written atomically
//!   (feature `sbom`).
//! - Signing and verifying are [`sign::cosign`]'s ([`sign::cosign::sign`], [`sign::cosign::verify_with`]);
//!   runtime shapes are [`wasm::runtimes`]'s; checks are [`wasm::check`]'s.
//!
//! The crates, re-exported (take fewer with `default-features = false`):
//! - [`oci`] (wharf-oci): digests, references, manifests, stores, the copy walk, registries.
//! - [`wasm`] (wharf-wasm): the Wasm artifact, inspection, runtime shapes; WIT checks (feature
//!   `check`) and composition (feature `compose`).
//! - [`sign`] (wharf-sign, feature `sign`): cosign-compatible keys and signatures, Sigstore verification.
//! - [`admission`] (wharf-admission, feature `admission`): the Kubernetes admission webhook.

#[cfg(feature = "compose")]
pub mod compose;
pub mod copy;
pub mod error;
pub mod index;
pub mod inspect;
pub mod login;
pub mod pull;
pub mod push;
#[cfg(feature = "sbom")]
pub mod sbom;

#[cfg(feature = "admission")]
pub use wharf_admission as admission;
pub use wharf_oci as oci;
#[cfg(feature = "sign")]
pub use wharf_sign as sign;
pub use wharf_wasm as wasm;

pub use copy::{CopyRequest, copy};
pub use error::{Error, ErrorKind, Result};
pub use login::{login, logout};
pub use pull::pull;
pub use push::push;
pub use wharf_oci::Reference;
