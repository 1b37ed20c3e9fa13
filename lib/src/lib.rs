//! wharf: ship WebAssembly components through OCI registries and local OCI layouts.
//!
//! The library holds all behaviour; the `wharf` binary is a thin layer over it.
//! - [`reference`]: registry and layout references.
//! - [`digest`]: digests and the verifying stream.
//! - [`manifest`], [`media`]: OCI documents and media types.
//! - [`store`]: the content-store traits and their registry, layout and memory implementations.
//! - [`copy`]: the one graph walk behind push, pull and copy.
//! - [`convert`]: the artifact in the shape a given runtime reads (runwasi, crun, Spin, CNCF);
//!   [`spin`]: Spin's locked app; [`entry`]: how a runtime starts a binary.
//! - [`artifact`], [`wasm`]: the Wasm OCI artifact format and binary inspection.
//! - [`transport`], [`auth`], [`credentials`]: schemes, TLS, auth challenges and tokens, registry credentials.
//! - [`distribution`]: the OCI distribution API (wharf's own client; why: see the module).
//! - [`admission`]: the Kubernetes admission webhook (AdmissionReview in, verdicts out).
//! - [`policy`]: admission policies (which images must be signed by whom).
//! - [`ops`]: the commands as library calls returning reports; [`runtime_pull`]: `pull --for RUNTIME`.
//! - [`retry`]: retries with backoff for transient failures.
//! - [`sign`]: cosign-compatible keys, signing and verification.
//! - [`compose`]: plugging components into each other (`wharf compose plug`).
//! - [`check`]: whether a component fits a WIT world; [`wkg`]: package names to OCI references, as wkg maps them.
//!
//! Nothing here prints; errors are typed ([`Error`], with a kind and a hint).

pub mod admission;
pub mod artifact;
pub mod auth;
pub mod check;
pub mod compose;
pub mod convert;
pub mod copy;
pub mod credentials;
pub mod digest;
pub mod distribution;
pub mod entry;
pub mod error;
pub mod manifest;
pub mod media;
pub mod ops;
pub mod policy;
pub mod reference;
pub mod retry;
pub mod runtime_pull;
pub mod scan_cache;
pub mod sign;
pub mod spin;
pub mod store;
pub mod transport;
pub mod wasm;
pub mod wkg;

pub use error::{Error, ErrorKind, Result};
pub use reference::Reference;
