//! The one Sigstore verification procedure (client specification §4), for
//! bundles and for cosign's legacy `.sig` signatures alike:
//!
//! - `verifier`: the procedure, on the pieces below, judging against a [`Trust`]
//!   and answering with a [`Problem`] and words when it refuses.
//! - `bundle`: strict bundle reading (v0.1 to v0.3); `trust_root`: strict trusted
//!   roots, the public-good root built in.
//! - `tlog`: transparency-log entries (Rekor v1 and v2); `inclusion`: Merkle
//!   proofs and checkpoints.
//! - `chain`: Fulcio certificate paths; `sct`: certificate transparency;
//!   `timestamp`: RFC 3161 timestamps.
//! - [`keyless`]: the identity a keyless signature must carry, and what a verified one proves;
//!   [`legacy`]: cosign's legacy keyless `.sig` signature, read as a bundle.
//! - `encoding`: the base64 and PEM fields of Sigstore's JSON.
//! - [`blob`]: `verify-blob`: a file or a digest against a bundle.
//!
//! Nothing here reads a registry: [`crate::cosign`] finds signatures, this judges them.

use serde::Serialize;
use wharf_oci::Error as OciError;

use crate::error::Result;
use crate::keys::PublicKey;

pub mod blob;
pub(crate) mod bundle;
mod chain;
mod encoding;
mod inclusion;
pub mod keyless;
pub mod legacy;
mod sct;
#[cfg(feature = "fuzzing")]
pub mod timestamp;
#[cfg(not(feature = "fuzzing"))]
mod timestamp;
mod tlog;
mod trust_root;
pub(crate) mod verifier;

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// The signature does not verify with the key (another signer, or altered content).
    WrongKey,
    /// It signs another digest than the reference's.
    DigestMismatch,
    /// A required annotation is missing or different.
    MissingAnnotation,
    /// The signature material cannot be read.
    Malformed,
    /// A form wharf does not check (a log entry of another kind or version, a key
    /// type it does not verify).
    Unsupported,
    /// A keyless signature (Fulcio certificate) checked against a key: it verifies
    /// only against a signer identity and OIDC issuer.
    NeedsIdentity,
    /// A signature made with a key checked against an identity: it verifies only
    /// against its public key.
    NeedsKey,
    /// An attestation, not a signature.
    NotASignature,
    /// A keyless certificate that does not chain to a CA of the trusted root
    /// (or was not valid when the log recorded the signature).
    UntrustedCertificate,
    /// A keyless certificate for another identity (subject alternative name).
    WrongIdentity,
    /// A keyless certificate from another OIDC issuer.
    WrongIssuer,
    /// The transparency-log entry is missing, names an unknown log, does not
    /// match the signature, or its inclusion promise (SET), inclusion proof or
    /// checkpoint does not verify.
    InvalidLogEntry,
    /// An RFC 3161 timestamp does not verify with a timestamp authority of the
    /// trusted root, or does not cover the signature.
    InvalidTimestamp,
    /// An attestation of another predicate type than the one asked for (not checked further).
    OtherPredicateType,
}

/// What signatures are checked against.
#[derive(Clone)]
pub enum Trust {
    /// A public key.
    Key(PublicKey),
    /// Keyless: a Fulcio certificate for `expected`, chaining to a CA of
    /// `root`, logged in one of its transparency logs (checked offline).
    Keyless {
        /// The Sigstore trusted root (`trusted_root.json`).
        root: keyless::TrustedRoot,
        /// The identity and OIDC issuer the certificate must name.
        expected: keyless::ExpectedIdentity,
    },
    /// A public key, and the trusted root whose transparency logs (and
    /// timestamp authorities) must have recorded the signature: what Sigstore
    /// calls a managed key.
    ManagedKey {
        /// The key.
        key: PublicKey,
        /// The trusted root.
        root: keyless::TrustedRoot,
    },
}

/// Why a bundle was not accepted: a kind and a reason in words.
pub(crate) type Rejection = (Problem, String);

/// Why a keyless signature is refused when a key was given (the reason of
/// [`Problem::NeedsIdentity`]; the command line adds what to verify it with).
pub const WANTS_IDENTITY: &str =
    "a keyless signature (Fulcio certificate): it verifies against a signer identity and OIDC issuer, not a key";
/// Why a key-made signature is refused when an identity was given (the reason of
/// [`Problem::NeedsKey`]).
pub const WANTS_KEY: &str =
    "signed with a key, not a Fulcio certificate: it verifies against its public key, not an identity";

/// The current time, Unix seconds (integrated times later than this are refused).
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads a Sigstore trusted root (`trusted_root.json`).
pub fn read_trusted_root(path: &std::path::Path) -> Result<keyless::TrustedRoot> {
    let text = std::fs::read(path).map_err(|e| OciError::io("cannot read the trusted root", path, e))?;
    keyless::TrustedRoot::from_json(&path.display().to_string(), &text)
}
