//! wharf-sign: cosign-compatible keys and signatures, and the one Sigstore verifier.
//!
//! - [`keys`]: cosign's key files (encrypted PEM, scrypt + nacl/secretbox; ECDSA P-256, Ed25519;
//!   RSA public keys).
//! - [`payload`]: the signed documents (simple signing; in-toto statement, DSSE, bundle v0.3).
//! - [`sigstore`]: the verification procedure, bundles, trusted roots, certificate chains,
//!   transparency logs and timestamps; [`sigstore::blob`] verifies a file against a bundle.
//! - [`cosign`]: signatures of an OCI artifact, written beside it ([`cosign::sign`]) and found and
//!   judged ([`cosign::verify_with`]), in both of cosign's formats; what `copy --with-signatures`
//!   carries ([`cosign::copy_filter`]).
//! - [`media`]: the media types of signature layers.
//!
//! Depends on wharf-oci only: nothing here knows WebAssembly or Kubernetes.

pub mod cosign;
pub mod error;
pub mod keys;
pub mod media;
pub mod payload;
pub mod sigstore;

pub use error::{Error, KeyFix, Result};
pub use keys::{PrivateKey, PublicKey, read_private_key, read_public_key};
pub use sigstore::{Problem, Trust, read_trusted_root};
