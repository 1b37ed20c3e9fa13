//! Attestations of an OCI artifact, in cosign's formats: an in-toto Statement v1
//! about the artifact's manifest digest, carrying a predicate (SLSA provenance, an
//! SBOM, anything with a type URI), signed in a DSSE envelope.
//!
//! - Bundle format (`cosign attest --new-bundle-format`, cosign v3): a Sigstore
//!   bundle v0.3 referrer of the digest, exactly as signatures are stored, with
//!   `dev.sigstore.bundle.predicateType` naming the predicate type.
//! - Legacy format (`cosign attest`, cosign v2): the DSSE envelope as a layer
//!   (`application/vnd.dsse.envelope.v1+json`, annotation `predicateType`) of the
//!   manifest under the tag `sha256-<hex>.att` ([`legacy_tag`]), appended to.
//!
//! [`attest()`] writes; [`verify()`] finds every attestation of the digest in
//! both formats and judges each with the one Sigstore verifier
//! ([`crate::sigstore`]), then its statement: the predicate type asked for and
//! the digest among its subjects. What verified is returned, predicate and all.

use std::io::Read as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use wharf_oci::digest::Digest;
use wharf_oci::open::{open_existing, open_source};
use wharf_oci::reference::Reference;
use wharf_oci::store::ReadStore;
use wharf_oci::transport::TransportOptions;

use super::{Format, Mode, Written, docker_reference};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::sigstore::{Problem, Trust, keyless};

mod find;
mod write;

/// Media type of a legacy attestation layer: its blob is the DSSE envelope.
pub const LEGACY_LAYER: &str = "application/vnd.dsse.envelope.v1+json";
/// The legacy layer annotation naming the predicate type (unsigned: a hint).
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// cosign's legacy attestation tag for `digest`: `sha256-<hex>.att`.
pub fn legacy_tag(digest: &Digest) -> String {
    format!("sha256-{}.att", digest.hex())
}

/// cosign's short names of predicate types (`cosign attest --type`), and the URIs
/// they stand for (cosign's `options.PredicateTypeMap`, in-toto-golang's constants).
pub const PREDICATE_TYPES: [(&str, &str); 10] = [
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("spdx", "https://spdx.dev/Document"),
    ("link", "https://in-toto.io/Link/v1"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
    ("custom", "https://cosign.sigstore.dev/attestation/v1"),
];

/// The predicate type URI of a short name, or a URI given as is (absolute, with a
/// scheme, as cosign's `url.ParseRequestURI` takes it; read by the url crate).
pub fn predicate_type(name: &str) -> Result<String> {
    if let Some((_, uri)) = PREDICATE_TYPES.iter().find(|(short, _)| *short == name) {
        return Ok((*uri).to_string());
    }
    if url::Url::parse(name).is_ok() && !name.chars().any(char::is_whitespace) {
        return Ok(name.to_string());
    }
    let names: Vec<&str> = PREDICATE_TYPES.iter().map(|(short, _)| *short).collect();
    Err(Error::Usage(format!("predicate type {name:?} is neither a name wharf knows ({}) nor a URI", names.join(", "))))
}

/// The short name of a predicate type URI, if it has one (the first, for display).
pub fn short_name(uri: &str) -> Option<&'static str> {
    PREDICATE_TYPES.iter().find(|(_, u)| *u == uri).map(|(short, _)| *short)
}

/// The largest predicate file read: with base64 twice over (DSSE payload, bundle), its
/// bundle stays under the 4 MiB wharf and registries read as a document.
pub const MAX_PREDICATE: u64 = 2 << 20;

/// Reads a predicate file: a JSON object (an SLSA provenance, a CycloneDX or SPDX
/// document, ...), at most [`MAX_PREDICATE`] bytes.
pub fn read_predicate(path: &Path) -> Result<Value> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read the predicate", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PREDICATE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read the predicate", path, e))?;
    if bytes.len() as u64 > MAX_PREDICATE {
        return Err(Error::malformed(
            path.display().to_string(),
            format!("it is larger than {MAX_PREDICATE} bytes, more than an attestation carries"),
        ));
    }
    predicate_of(&path.display().to_string(), &bytes)
}

/// Parses a predicate: a JSON object.
pub fn predicate_of(what: &str, bytes: &[u8]) -> Result<Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Error::malformed(what, "a predicate is a JSON object, and this is another JSON value")),
        Err(e) => Err(Error::malformed(what, format!("it is not JSON ({e})"))),
    }
}

/// Options for [`attest()`].
pub struct AttestOptions {
    /// The predicate type URI ([`predicate_type`]).
    pub predicate_type: String,
    /// The predicate (a JSON object).
    pub predicate: Value,
    /// Which formats to write ([`Mode::Bundle`] by default, as cosign v3).
    pub mode: Mode,
    /// Transport settings.
    pub transport: TransportOptions,
}

/// What [`attest()`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestReport {
    /// `location@digest` of what was attested.
    pub reference: String,
    /// The attested digest (the statement's subject).
    pub digest: Digest,
    /// The predicate type.
    pub predicate_type: String,
    /// The attestations written (`signaturesInManifest` counts the `.att` manifest's layers).
    pub attestations: Vec<Written>,
}

/// Resolves `reference` to its manifest digest and attests that digest (never the tag)
/// with `key`: a statement of `options.predicate_type` carrying `options.predicate`,
/// in the formats `options.mode` names. Earlier attestations are kept.
pub async fn attest(reference: &Reference, key: &PrivateKey, options: &AttestOptions) -> Result<AttestReport> {
    let store = open_existing(reference, &options.transport).await?;
    let subject = store.resolve(&reference.selector()).await?;
    let statement =
        write::statement(&docker_reference(reference), &subject.digest, &options.predicate_type, &options.predicate);
    write::fits_a_document(&statement)?;
    let mut attestations = Vec::new();
    if matches!(options.mode, Mode::Bundle | Mode::Both) {
        attestations.push(write::bundle(store.as_ref(), &subject, &statement, &options.predicate_type, key).await?);
    }
    if matches!(options.mode, Mode::Legacy | Mode::Both) {
        attestations.push(write::legacy(store.as_ref(), &subject, &statement, &options.predicate_type, key).await?);
    }
    Ok(AttestReport {
        reference: reference.pinned(&subject.digest),
        digest: subject.digest,
        predicate_type: options.predicate_type.clone(),
        attestations,
    })
}

/// Options for [`verify()`].
pub struct VerifyOptions {
    /// The predicate type URI an accepted attestation must carry ([`predicate_type`]).
    pub predicate_type: String,
    /// Transport settings.
    pub transport: TransportOptions,
}

/// The verdict on one attestation found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationVerdict {
    /// Its format.
    pub format: Format,
    /// Where it was found.
    pub location: String,
    /// The predicate type its statement names (verified when `verified`; a claim otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// True if it is of the type asked for, signed by the trust given, about the digest.
    pub verified: bool,
    /// Why not, as a kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Why not, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who signed, for a verified keyless attestation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<keyless::KeylessVerified>,
    /// The predicate, of a verified attestation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Value>,
}

/// What [`verify()`] found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// `location@digest` of what was checked.
    pub reference: String,
    /// The digest the reference resolved to.
    pub digest: Digest,
    /// The predicate type asked for.
    pub predicate_type: String,
    /// True if at least one attestation verified.
    pub verified: bool,
    /// Every attestation found (image signatures are not listed), with its verdict.
    pub attestations: Vec<AttestationVerdict>,
}

impl VerifyReport {
    /// The predicates that verified, in the order found.
    pub fn predicates(&self) -> Vec<&Value> {
        self.attestations.iter().filter(|a| a.verified).filter_map(|a| a.predicate.as_ref()).collect()
    }
}

/// Resolves `reference` to a digest and checks every attestation of it, in both
/// formats, against `trust` and the predicate type asked for. None verifying is
/// not an error: the report says why for each.
pub async fn verify(reference: &Reference, trust: &Trust, options: &VerifyOptions) -> Result<VerifyReport> {
    let store: Box<dyn ReadStore> = open_source(reference, &options.transport).await?;
    let subject = store.resolve(&reference.selector()).await?;
    let policy = find::Policy { trust, digest: &subject.digest, predicate_type: &options.predicate_type };
    let mut attestations = find::bundles(store.as_ref(), &policy).await?;
    attestations.extend(find::legacy(store.as_ref(), &policy).await?);
    Ok(VerifyReport {
        reference: reference.pinned(&subject.digest),
        verified: attestations.iter().any(|a| a.verified),
        digest: subject.digest,
        predicate_type: options.predicate_type.clone(),
        attestations,
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
