//! Cosign's side of OCI: signatures of an artifact stored beside it, in both of
//! cosign's formats, written ([`sign()`]) and found and judged ([`verify()`]).
//!
//! - Bundle format (cosign v3's default): a Sigstore bundle v0.3 (DSSE, in-toto
//!   statement) in a manifest whose `subject` is the artifact, an OCI 1.1
//!   referrer; found through the referrers API or its fallback tag.
//! - Legacy format: simple-signing payloads as layers of the manifest under
//!   the tag `sha256-<hex>.sig` ([`legacy_tag`]), appended to.
//!
//! Attestations (in-toto statements with a predicate) are kept the same two ways
//! ([`attest`]: the bundle referrer, and the `sha256-<hex>.att` tag).
//!
//! Every signature found goes through the one Sigstore verifier
//! ([`crate::sigstore`]); [`copy_filter`] tells wharf-oci's copy walk which
//! referrers and tag carry signatures, for `copy --with-signatures`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use wharf_oci::copy::ReferrerFilter;
use wharf_oci::digest::Digest;
use wharf_oci::manifest::Descriptor;
use wharf_oci::open::{open_existing, open_source};
use wharf_oci::reference::Reference;
use wharf_oci::store::{ReadStore, ReferrerIndexing};
use wharf_oci::transport::TransportOptions;

use crate::error::Result;
use crate::keys::{PrivateKey, PublicKey};
use crate::media;
use crate::sigstore::{Problem, Trust, keyless};

pub mod attest;
mod lookup;
mod write;

/// The layer annotation holding a legacy signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The referrer manifest annotation naming the predicate type of the statement
/// its bundle signs (cosign v3 writes it; a signature's is cosign's sign predicate).
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// cosign's legacy signature tag for `digest`: `sha256-<hex>.sig`.
pub fn legacy_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// What `copy --with-signatures` carries along: the root's referrers that hold
/// a Sigstore bundle layer (signatures and attestations), and the manifests
/// under its legacy `.sig` and `.att` tags.
pub fn copy_filter() -> ReferrerFilter {
    fn holds_a_bundle(children: &[Descriptor]) -> bool {
        children.iter().any(|layer| media::is_bundle(&layer.media_type))
    }
    ReferrerFilter { keep: holds_a_bundle, tags_of: &[legacy_tag, attest::legacy_tag] }
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
    let store = open_existing(reference, &options.transport).await?;
    let subject = store.resolve(&reference.selector()).await?;
    let mut signatures = Vec::new();
    if matches!(options.mode, Mode::Bundle | Mode::Both) {
        signatures.push(write::bundle(store.as_ref(), &subject, key, &options.annotations).await?);
    }
    if matches!(options.mode, Mode::Legacy | Mode::Both) {
        let docker_reference = docker_reference(reference);
        signatures.push(write::legacy(store.as_ref(), &subject, &docker_reference, key, &options.annotations).await?);
    }
    Ok(SignReport { reference: reference.pinned(&subject.digest), digest: subject.digest, signatures })
}

/// Options for [`verify()`].
pub struct VerifyOptions {
    /// Annotations every accepted signature must carry.
    pub annotations: BTreeMap<String, String>,
    /// Transport settings.
    pub transport: TransportOptions,
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

/// Resolves `reference` to a digest and checks every signature of it, in both
/// formats, against `key` and the required annotations. A reference whose
/// signatures all fail is not an error: the report says why for each.
pub async fn verify(reference: &Reference, key: &PublicKey, options: &VerifyOptions) -> Result<VerifyReport> {
    verify_with(reference, &Trust::Key(key.clone()), options).await
}

/// [`verify()`] against a key or, keyless, against a trusted root and an identity.
pub async fn verify_with(reference: &Reference, trust: &Trust, options: &VerifyOptions) -> Result<VerifyReport> {
    let store: Box<dyn ReadStore> = open_source(reference, &options.transport).await?;
    let subject = store.resolve(&reference.selector()).await?;
    let policy = lookup::Policy { trust, digest: &subject.digest, annotations: &options.annotations };
    let bundles = lookup::bundles(store.as_ref(), &policy).await;
    let legacy = lookup::legacy(store.as_ref(), &policy).await;
    let signatures = any_verified_wins([
        (Format::Bundle, format!("the referrers of {}", subject.digest), bundles),
        (Format::Legacy, format!("tag {}", legacy_tag(&subject.digest)), legacy),
    ])?;
    Ok(VerifyReport {
        reference: reference.pinned(&subject.digest),
        verified: signatures.iter().any(|s| s.verified),
        digest: subject.digest,
        signatures,
    })
}

/// The signatures each place held, when one verifies: a place that could not be read
/// (a non-index under the fallback tag, a broken `.sig` manifest: anyone who may push
/// can leave those) is then one rejected verdict among them, so it cannot hide a
/// signature that verifies. When none verifies, the first place that could not be read
/// is the error: the answer is not known.
fn any_verified_wins<const N: usize>(
    places: [(Format, String, Result<Vec<SignatureVerdict>>); N],
) -> Result<Vec<SignatureVerdict>> {
    let mut signatures = Vec::new();
    let mut unread = Vec::new();
    for (format, location, found) in places {
        match found {
            Ok(found) => signatures.extend(found),
            Err(e) => unread.push((format, location, e)),
        }
    }
    if !signatures.iter().any(|s| s.verified) && !unread.is_empty() {
        let (_, _, first) = unread.swap_remove(0);
        return Err(first);
    }
    for (format, location, e) in unread {
        signatures.push(SignatureVerdict {
            format,
            location,
            verified: false,
            problem: Some(Problem::Malformed),
            reason: Some(format!("cannot be read: {e}")),
            annotations: Map::new(),
            keyless: None,
        });
    }
    Ok(signatures)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
