//! Signing and verification, byte-compatible with cosign.
//!
//! - [`keys`]: cosign's key files (encrypted PEM, scrypt + nacl/secretbox; ECDSA P-256, Ed25519).
//! - `verifier`: the one Sigstore verification procedure (client specification §4), for
//!   bundles and legacy `.sig` signatures alike, on `bundle` (strict bundle reading),
//!   `trust_root` (strict trusted roots, the public-good root built in), `tlog` (log entries,
//!   Rekor v1 and v2), `inclusion` (Merkle proofs, checkpoints), `chain` (certificate paths),
//!   `sct` (certificate transparency) and `timestamp` (RFC 3161).
//! - [`keyless`]: the identity a keyless signature must carry, and what a verified one proves.
//! - [`blob`]: `wharf verify-blob`: a file or a digest against a bundle.
//! - [`payload`]: the signed documents (simple signing; in-toto statement, DSSE, bundle v0.3).
//! - [`sign()`]: resolves a reference to its digest and signs the digest, in the
//!   bundle format (cosign v3's default: an OCI 1.1 referrer), the legacy
//!   `.sig` format (appended to), or both.
//! - [`verify()`]: finds signatures of both formats and reports a verdict and a
//!   reason for each.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::registry::Access;
use crate::store::{LayoutStore, ReadStore, ReferrerIndexing, RegistryStore, Store};
use crate::transport::TransportOptions;

pub mod blob;
mod bundle;
mod chain;
mod inclusion;
pub mod keyless;
pub mod keys;
pub mod payload;
mod sct;
#[cfg(feature = "fuzzing")]
pub mod timestamp;
#[cfg(not(feature = "fuzzing"))]
mod timestamp;
mod tlog;
mod trust_root;
mod verifier;
mod verify;
mod write;

pub use keys::{PrivateKey, PublicKey};

/// Media type of a legacy signature layer (its blob is the simple-signing payload).
pub const SIMPLE_SIGNING_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding a legacy signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// cosign's legacy signature tag for `digest`: `sha256-<hex>.sig`.
pub fn legacy_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// A signature format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Sigstore bundle v0.3 (DSSE, in-toto statement) as an OCI 1.1 referrer: cosign v3's default.
    Bundle,
    /// Simple signing under the `sha256-<hex>.sig` tag: cosign v2 and older verifiers.
    Legacy,
}

impl Format {
    /// `bundle` or `legacy`, as in JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Bundle => "bundle",
            Format::Legacy => "legacy",
        }
    }
}

/// Which formats `sign` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The bundle format only (the default, as in cosign v3).
    #[default]
    Bundle,
    /// The legacy format only.
    Legacy,
    /// Both.
    Both,
}

/// Options for [`sign()`].
pub struct SignOptions {
    /// Formats to write.
    pub mode: Mode,
    /// Annotations to sign (the `-a k=v` of cosign).
    pub annotations: BTreeMap<String, String>,
    /// Transport settings.
    pub transport: TransportOptions,
}

/// One signature written.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    /// Its format.
    pub format: Format,
    /// The digest of the manifest holding it.
    pub manifest: Digest,
    /// The tag of that manifest (legacy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// How a bundle referrer was made findable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexed: Option<ReferrerIndexing>,
    /// How many signatures the manifest holds now (legacy: earlier ones are kept).
    pub signatures_in_manifest: usize,
    /// False when an identical signature was already there.
    pub appended: bool,
}

/// What [`sign()`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignReport {
    /// `location@digest` of what was signed.
    pub reference: String,
    /// The signed digest.
    pub digest: Digest,
    /// The signatures written.
    pub signatures: Vec<Written>,
}

/// Opens `reference` for writing signatures: a registry repository with push
/// access, or an existing layout (never created: there is nothing to sign in a new one).
async fn open_for_signing(reference: &Reference, transport: &TransportOptions) -> Result<Box<dyn Store>> {
    Ok(match reference {
        Reference::Registry(r) => Box::new(RegistryStore::connect(r, transport, Access::Write).await?),
        Reference::Layout(l) => Box::new(LayoutStore::open(&l.path)?),
    })
}

/// cosign's `docker-reference`: go-containerregistry's `Repository.Name()`
/// (registry and repository, no tag; Docker Hub as `index.docker.io`).
fn docker_reference(reference: &Reference) -> String {
    match reference {
        Reference::Registry(r) if r.registry == "docker.io" => format!("index.docker.io/{}", r.repository),
        other => other.location(),
    }
}

/// Resolves `reference` to a digest and signs that digest (never the tag)
/// with `key`, in the formats `options.mode` names.
pub async fn sign(reference: &Reference, key: &PrivateKey, options: &SignOptions) -> Result<SignReport> {
    let store = open_for_signing(reference, &options.transport).await?;
    let subject = store.resolve(&reference.selector()).await?;
    let mut signatures = Vec::new();
    if matches!(options.mode, Mode::Bundle | Mode::Both) {
        signatures.push(write::bundle(store.as_ref(), &subject, key, &options.annotations).await?);
    }
    if matches!(options.mode, Mode::Legacy | Mode::Both) {
        let docker_reference = docker_reference(reference);
        signatures.push(write::legacy(store.as_ref(), &subject, &docker_reference, key, &options.annotations).await?);
    }
    Ok(SignReport {
        reference: format!("{}@{}", reference.location(), subject.digest),
        digest: subject.digest,
        signatures,
    })
}

/// Options for [`verify()`].
pub struct VerifyOptions {
    /// Annotations every accepted signature must carry.
    pub annotations: BTreeMap<String, String>,
    /// Transport settings.
    pub transport: TransportOptions,
}

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
    /// A kind of signature wharf cannot check with the trust given (a keyless
    /// bundle with `--key`, a key-made one keyless, or a form not supported yet).
    Unsupported,
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
}

/// The verdict on one signature found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerdict {
    /// Its format.
    pub format: Format,
    /// Where it was found.
    pub location: String,
    /// True if it satisfies the request.
    pub verified: bool,
    /// Why not, as a kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Why not, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The signed annotations (of a verified signature).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
    /// Who signed, for a verified keyless signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<keyless::KeylessVerified>,
}

/// What [`verify()`] found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// `location@digest` of what was checked.
    pub reference: String,
    /// The digest the reference resolved to.
    pub digest: Digest,
    /// True if at least one signature satisfies the request.
    pub verified: bool,
    /// Every signature found, with its verdict.
    pub signatures: Vec<SignatureVerdict>,
}

/// What signatures are checked against.
#[derive(Clone)]
pub enum Trust {
    /// A public key (`--key`).
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

/// Resolves `reference` to a digest and checks every signature of it, in both
/// formats, against `key` and the required annotations. A reference whose
/// signatures all fail is not an error: the report says why for each.
pub async fn verify(reference: &Reference, key: &PublicKey, options: &VerifyOptions) -> Result<VerifyReport> {
    verify_with(reference, &Trust::Key(key.clone()), options).await
}

/// [`verify()`] against a key or, keyless, against a trusted root and an identity.
pub async fn verify_with(reference: &Reference, trust: &Trust, options: &VerifyOptions) -> Result<VerifyReport> {
    let store: Box<dyn ReadStore> = crate::ops::open_source(reference, &options.transport).await?;
    let subject = store.resolve(&reference.selector()).await?;
    let policy = verify::Policy { trust, digest: &subject.digest, annotations: &options.annotations };
    let mut signatures = verify::bundles(store.as_ref(), &policy).await?;
    signatures.extend(verify::legacy(store.as_ref(), &policy).await?);
    Ok(VerifyReport {
        reference: format!("{}@{}", reference.location(), subject.digest),
        verified: signatures.iter().any(|s| s.verified),
        digest: subject.digest,
        signatures,
    })
}

/// Reads a password-protected or plain private key file.
pub fn read_private_key(path: &std::path::Path, password: &[u8]) -> Result<PrivateKey> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read the key file", path, e))?;
    PrivateKey::from_pem(&path.display().to_string(), &text, password)
}

/// Reads a Sigstore trusted root (`trusted_root.json`).
pub fn read_trusted_root(path: &std::path::Path) -> Result<keyless::TrustedRoot> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read the trusted root", path, e))?;
    keyless::TrustedRoot::from_json(&path.display().to_string(), &text)
}

/// Reads a public key file.
pub fn read_public_key(path: &std::path::Path) -> Result<PublicKey> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read the key file", path, e))?;
    PublicKey::from_pem(&path.display().to_string(), &text)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
