//! Finding and checking signatures: bundle referrers (referrers API or
//! fallback tag, filtered on the layer media type) and the legacy `.sig` tag.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use sha2::{Digest as _, Sha256};

use super::{BUNDLE_PREDICATE_TYPE_ANNOTATION, Format, SIGNATURE_ANNOTATION, SignatureVerdict, legacy_tag};
use crate::error::Result;
use crate::keys::PublicKey;
use crate::media::SIMPLE_SIGNING_LAYER;
use crate::payload;
use crate::sigstore::bundle::Bundle;
use crate::sigstore::verifier::Subjects;
use crate::sigstore::{Problem, Trust, legacy, now, verifier};
use wharf_oci::digest::{Digest, hex_decode};
use wharf_oci::manifest::{Descriptor, Manifest};
use wharf_oci::reference::Selector;
use wharf_oci::store::ReadStore;

/// What a signature must satisfy.
pub(super) struct Policy<'a> {
    /// The key, or the keyless trust, that must have signed.
    pub trust: &'a Trust,
    /// The digest that must have been signed.
    pub digest: &'a Digest,
    /// Annotations the signature must carry.
    pub annotations: &'a BTreeMap<String, String>,
}

fn verdict(
    format: Format,
    location: String,
    outcome: std::result::Result<Map<String, Value>, (Problem, String)>,
) -> SignatureVerdict {
    match outcome {
        Ok(annotations) => SignatureVerdict {
            format,
            location,
            verified: true,
            problem: None,
            reason: None,
            annotations,
            keyless: None,
        },
        Err((problem, reason)) => SignatureVerdict {
            format,
            location,
            verified: false,
            problem: Some(problem),
            reason: Some(reason),
            annotations: Map::new(),
            keyless: None,
        },
    }
}

/// Checks the signed claims: the digest, then the required annotations.
fn check_claims(
    policy: &Policy<'_>,
    signed_digest: &str,
    annotations: &Map<String, Value>,
) -> std::result::Result<(), (Problem, String)> {
    if signed_digest != policy.digest.as_str() {
        return Err((
            Problem::DigestMismatch,
            format!("it signs {signed_digest}, not {} (the reference's digest)", policy.digest),
        ));
    }
    for (k, v) in policy.annotations {
        match annotations.get(k) {
            Some(Value::String(found)) if found == v => {}
            Some(found) => {
                let found = found.as_str().map_or_else(|| found.to_string(), str::to_string);
                return Err((
                    Problem::MissingAnnotation,
                    format!("annotation {k}={v} is required; the signature has {k}={found}"),
                ));
            }
            None => {
                return Err((
                    Problem::MissingAnnotation,
                    format!("annotation {k}={v} is required; the signature has no {k}"),
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Legacy `.sig`
// ---------------------------------------------------------------------------

/// Every simple-signing layer under the `.sig` tag, checked.
pub(super) async fn legacy(store: &dyn ReadStore, policy: &Policy<'_>) -> Result<Vec<SignatureVerdict>> {
    let tag = legacy_tag(policy.digest);
    let manifest = match tag_manifest(store, &tag).await? {
        None => return Ok(Vec::new()),
        Some(Ok(manifest)) => manifest,
        Some(Err(e)) => return Ok(vec![verdict(Format::Legacy, format!("tag {tag}"), Err((Problem::Malformed, e)))]),
    };
    let mut out = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate() {
        if layer.media_type != SIMPLE_SIGNING_LAYER {
            continue;
        }
        let location = format!("tag {tag}, layer {i} ({})", layer.digest);
        let outcome = legacy_layer(store, layer, policy).await;
        let signer = outcome.as_ref().ok().and_then(|(_, keyless)| keyless.clone());
        let mut found = verdict(Format::Legacy, location, outcome.map(|(annotations, _)| annotations));
        found.keyless = signer;
        out.push(found);
    }
    Ok(out)
}

/// The manifest under a legacy tag (`sha256-<hex>.sig` or `.att`): none when
/// the tag does not exist, or why what it names cannot be read as a manifest.
pub(super) async fn tag_manifest(
    store: &dyn ReadStore,
    tag: &str,
) -> Result<Option<std::result::Result<Manifest, String>>> {
    let desc = match store.resolve(&Selector::Tag(tag.to_string())).await {
        Ok(desc) => desc,
        Err(wharf_oci::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(store.fetch_bytes(&desc).await.and_then(|b| Manifest::parse(&b)).map_err(|e| e.to_string())))
}

/// One simple-signing layer: its signature (with the key alone, or through
/// the Sigstore verifier with the layer's certificate and Rekor annotations),
/// then its claims; the signed annotations and, keyless, who signed.
async fn legacy_layer(
    store: &dyn ReadStore,
    layer: &Descriptor,
    policy: &Policy<'_>,
) -> std::result::Result<(Map<String, Value>, Option<crate::sigstore::keyless::KeylessVerified>), (Problem, String)> {
    let malformed = |reason: String| (Problem::Malformed, reason);
    let signature = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| malformed(format!("the layer has no {SIGNATURE_ANNOTATION} annotation")))?;
    let signature = B64
        .decode(signature.trim().as_bytes())
        .map_err(|_| malformed(format!("the {SIGNATURE_ANNOTATION} annotation is not base64")))?;
    let body = store.fetch_bytes(layer).await.map_err(|e| malformed(format!("the payload cannot be read: {e}")))?;
    let annotation = |name: &str| layer.annotations.get(name).map(String::as_str);
    let certificate = annotation(legacy::CERTIFICATE_ANNOTATION);
    let rekor = annotation(legacy::REKOR_BUNDLE_ANNOTATION);
    let signer = match policy.trust {
        Trust::Key(key) => {
            if certificate.is_some() {
                return Err((Problem::NeedsIdentity, crate::sigstore::WANTS_IDENTITY.into()));
            }
            check_signature(key, &body, &signature)?;
            None
        }
        Trust::ManagedKey { .. } => {
            let digest = Sha256::digest(&body).to_vec();
            let bundle =
                Bundle::legacy(certificate, rekor, digest.clone(), signature).map_err(|e| (Problem::Malformed, e))?;
            let trust = policy.trust.clone();
            off_the_runtime(move || verifier::verify(&bundle, &digest, Subjects::MustNameArtifact, &trust, now()))
                .await?;
            None
        }
        Trust::Keyless { .. } => {
            let (payload, trust) = (body.clone(), policy.trust.clone());
            let (certificate, rekor) = (certificate.map(str::to_string), rekor.map(str::to_string));
            Some(
                off_the_runtime(move || {
                    let (certificate, rekor) = (certificate.as_deref(), rekor.as_deref());
                    legacy::verify_legacy_signature(&payload, &signature, certificate, rekor, &trust, now())
                })
                .await?,
            )
        }
    };
    let claims = payload::parse_simple_signing(&body).map_err(malformed)?;
    if claims.kind != payload::SIMPLE_SIGNING_TYPE {
        return Err(malformed(format!(
            "the payload's critical.type is {:?}, not {:?}: it is not a cosign image signature",
            claims.kind,
            payload::SIMPLE_SIGNING_TYPE
        )));
    }
    check_claims(policy, &claims.digest, &claims.optional)?;
    Ok((claims.optional, signer))
}

fn check_signature(key: &PublicKey, message: &[u8], signature: &[u8]) -> std::result::Result<(), (Problem, String)> {
    key.verify(message, signature).map_err(|problem| verifier::key_rejection(key, problem, None))
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// Every bundle layer of every referrer of the digest, checked, but for
/// referrers that say they are attestations ([`says_it_is_an_attestation`]).
/// Entries are not filtered on their `artifactType`: old cosign wrote
/// fallback indexes without it, so the layer media type decides.
pub(super) async fn bundles(store: &dyn ReadStore, policy: &Policy<'_>) -> Result<Vec<SignatureVerdict>> {
    let mut out = Vec::new();
    for entry in store.referrers(policy.digest).await? {
        if !entry.is_manifest() || wharf_oci::media::is_index(&entry.media_type) || says_it_is_an_attestation(&entry) {
            continue;
        }
        let manifest = match store.fetch_bytes(&entry).await.and_then(|b| Manifest::parse(&b)) {
            Ok(m) => m,
            Err(e) => {
                out.push(verdict(
                    Format::Bundle,
                    format!("referrer {}", entry.digest),
                    Err((Problem::Malformed, e.to_string())),
                ));
                continue;
            }
        };
        for (i, layer) in manifest.layers.iter().enumerate() {
            if !crate::media::is_bundle(&layer.media_type) {
                continue;
            }
            let location = format!("referrer {}, layer {i}", entry.digest);
            out.push(bundle_layer(store, layer, policy, location).await);
        }
    }
    Ok(out)
}

/// True for a referrer whose `dev.sigstore.bundle.predicateType` annotation
/// (cosign and `wharf attest` write it into the referrers listing) names
/// another predicate than an image signature's: an attestation, which
/// `verify-attestation` checks. Passing it over spares a Sigstore verification
/// that could only end in `not-a-signature`. The annotation is not signed: a
/// signature relabelled so is only passed over, which can fail a verification,
/// never pass one.
fn says_it_is_an_attestation(entry: &Descriptor) -> bool {
    entry.annotations.get(BUNDLE_PREDICATE_TYPE_ANNOTATION).is_some_and(|t| t != payload::COSIGN_SIGN_PREDICATE)
}

/// A bundle layer, through the Sigstore verifier ([`verifier::verify`]:
/// the key, or the trusted root and identity; the log entry, timestamps,
/// signature, and that it signs the digest), then its claims: a DSSE
/// statement must be a cosign image signature with the required annotations;
/// a `messageSignature` bundle signs no annotations.
async fn bundle_layer(
    store: &dyn ReadStore,
    layer: &Descriptor,
    policy: &Policy<'_>,
    location: String,
) -> SignatureVerdict {
    let outcome = async {
        let bytes = store
            .fetch_bytes(layer)
            .await
            .map_err(|e| (Problem::Malformed, format!("the bundle cannot be read: {e}")))?;
        let bundle = Bundle::parse(&bytes).map_err(|e| (Problem::Malformed, e))?;
        // A `Digest` holds 64 lowercase hex digits, so this never falls back.
        let digest = hex_decode(policy.digest.hex()).unwrap_or_default();
        let trust = policy.trust.clone();
        let verified =
            off_the_runtime(move || verifier::verify(&bundle, &digest, Subjects::JudgedByCaller, &trust, now()))
                .await?;
        let annotations = match &verified.statement {
            Some(statement) => check_statement(statement, policy)?,
            None => {
                if let Some((k, v)) = policy.annotations.iter().next() {
                    return Err((
                        Problem::MissingAnnotation,
                        format!("annotation {k}={v} is required; a message-signature bundle signs no annotations"),
                    ));
                }
                Map::new()
            }
        };
        Ok((annotations, verified.keyless))
    }
    .await;
    let signer = outcome.as_ref().ok().and_then(|(_, keyless)| keyless.clone());
    let mut found = verdict(Format::Bundle, location, outcome.map(|(annotations, _)| annotations));
    found.keyless = signer;
    found
}

/// Checks a verified in-toto statement: a cosign signature predicate, naming
/// the reference's digest as a subject, with the required annotations.
fn check_statement(
    statement: &[u8],
    policy: &Policy<'_>,
) -> std::result::Result<Map<String, Value>, (Problem, String)> {
    let malformed = |reason: String| (Problem::Malformed, reason);
    let statement = payload::parse_statement(statement).map_err(malformed)?;
    if statement.predicate_type != payload::COSIGN_SIGN_PREDICATE {
        return Err((
            Problem::NotASignature,
            format!("an attestation of predicate type {:?}, not an image signature", statement.predicate_type),
        ));
    }
    let wanted = policy.digest.hex();
    let subject = statement.subjects.iter().find(|(d, _)| d.as_deref() == Some(wanted));
    match subject {
        Some((_, annotations)) => {
            check_claims(policy, policy.digest.as_str(), annotations)?;
            Ok(annotations.clone())
        }
        None => {
            let signed: Vec<String> =
                statement.subjects.iter().filter_map(|(d, _)| d.as_ref().map(|h| format!("sha256:{h}"))).collect();
            Err((
                Problem::DigestMismatch,
                format!("it signs {}, not {} (the reference's digest)", signed.join(", "), policy.digest),
            ))
        }
    }
}

/// Runs the CPU-bound Sigstore verifier on tokio's blocking pool: a bundle
/// costs signature, certificate and Merkle checks, and a registry holds as
/// many as it likes, so verifying inline would hold a runtime worker (in the
/// webhook, one that answers reviews) and keep time budgets from firing. A
/// panic in `work` is a rejection, not a crash.
pub(super) async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> std::result::Result<T, (Problem, String)> + Send + 'static,
) -> std::result::Result<T, (Problem, String)> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err((Problem::Malformed, format!("internal: the verification stopped ({e})"))))
}
