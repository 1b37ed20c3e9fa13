//! Finding and judging attestations: bundle referrers (referrers API or fallback
//! tag) and the layers under the legacy `.att` tag, each through the one Sigstore
//! verifier, then its statement.
//!
//! The predicate type a statement claims is read before the signature is checked,
//! to skip what was not asked for (image signatures are left out; attestations of
//! another type are listed, unchecked): an unverified claim only ever skips work,
//! it never accepts anything. A registry can hide attestations anyway.

use serde_json::Value;

use super::super::Format;
use super::super::lookup::{off_the_runtime, tag_manifest};
use super::{AttestationVerdict, LEGACY_LAYER, legacy_tag};
use crate::error::Result;
use crate::payload::{self, COSIGN_SIGN_PREDICATE};
use crate::sigstore::bundle::{Bundle, Content};
use crate::sigstore::legacy::{CERTIFICATE_ANNOTATION, REKOR_BUNDLE_ANNOTATION};
use crate::sigstore::verifier::{self, Subjects};
use crate::sigstore::{Problem, Trust, now};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::{Descriptor, Manifest};
use wharf_oci::store::ReadStore;

/// What an attestation must satisfy.
pub(super) struct Policy<'a> {
    /// The key, or the keyless trust, that must have signed.
    pub trust: &'a Trust,
    /// The digest that must be among the statement's subjects.
    pub digest: &'a Digest,
    /// The predicate type URI it must carry.
    pub predicate_type: &'a str,
}

type Rejection = (Problem, String);

/// What a verified attestation gives: its predicate type, predicate and signer.
struct Accepted {
    predicate_type: String,
    predicate: Value,
    keyless: Option<crate::sigstore::keyless::KeylessVerified>,
}

/// How one bundle or envelope turned out: not an attestation (skipped), or a verdict
/// (boxed: an accepted one carries the predicate and signer).
enum Outcome {
    NotAnAttestation,
    Judged { claimed: Option<String>, result: Box<std::result::Result<Accepted, Rejection>> },
}

fn verdict(
    format: Format,
    location: String,
    claimed: Option<String>,
    result: std::result::Result<Accepted, Rejection>,
) -> AttestationVerdict {
    match result {
        Ok(accepted) => AttestationVerdict {
            format,
            location,
            predicate_type: Some(accepted.predicate_type),
            verified: true,
            problem: None,
            reason: None,
            keyless: accepted.keyless,
            predicate: Some(accepted.predicate),
        },
        Err((problem, reason)) => AttestationVerdict {
            format,
            location,
            predicate_type: claimed,
            verified: false,
            problem: Some(problem),
            reason: Some(reason),
            keyless: None,
            predicate: None,
        },
    }
}

/// Every bundle layer of every referrer of the digest that is an attestation, judged.
pub(super) async fn bundles(store: &dyn ReadStore, policy: &Policy<'_>) -> Result<Vec<AttestationVerdict>> {
    let mut out = Vec::new();
    for entry in store.referrers(policy.digest).await? {
        if !entry.is_manifest() || wharf_oci::media::is_index(&entry.media_type) {
            continue;
        }
        let manifest = match store.fetch_bytes(&entry).await.and_then(|b| Manifest::parse(&b)) {
            Ok(m) => m,
            Err(e) => {
                let location = format!("referrer {}", entry.digest);
                out.push(verdict(Format::Bundle, location, None, Err((Problem::Malformed, e.to_string()))));
                continue;
            }
        };
        for (i, layer) in manifest.layers.iter().enumerate() {
            if !crate::media::is_bundle(&layer.media_type) {
                continue;
            }
            let location = format!("referrer {}, layer {i}", entry.digest);
            let outcome = match read(store, layer, "bundle").await {
                Ok(bytes) => judge(Bundle::parse(&bytes), policy).await,
                Err(rejection) => Outcome::Judged { claimed: None, result: Box::new(Err(rejection)) },
            };
            if let Outcome::Judged { claimed, result } = outcome {
                out.push(verdict(Format::Bundle, location, claimed, *result));
            }
        }
    }
    Ok(out)
}

/// Every DSSE layer under the `.att` tag, judged.
pub(super) async fn legacy(store: &dyn ReadStore, policy: &Policy<'_>) -> Result<Vec<AttestationVerdict>> {
    let tag = legacy_tag(policy.digest);
    let manifest = match tag_manifest(store, &tag).await? {
        None => return Ok(Vec::new()),
        Some(Ok(manifest)) => manifest,
        Some(Err(e)) => {
            return Ok(vec![verdict(Format::Legacy, format!("tag {tag}"), None, Err((Problem::Malformed, e)))]);
        }
    };
    let mut out = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate() {
        if layer.media_type != LEGACY_LAYER {
            continue;
        }
        let location = format!("tag {tag}, layer {i} ({})", layer.digest);
        let annotation = |name: &str| layer.annotations.get(name).map(String::as_str);
        let outcome = match read(store, layer, "envelope").await {
            Ok(bytes) => {
                let certificate = annotation(CERTIFICATE_ANNOTATION);
                let rekor = annotation(REKOR_BUNDLE_ANNOTATION);
                judge(Bundle::legacy_envelope(certificate, rekor, &bytes), policy).await
            }
            Err(rejection) => Outcome::Judged { claimed: None, result: Box::new(Err(rejection)) },
        };
        if let Outcome::Judged { claimed, result } = outcome {
            out.push(verdict(Format::Legacy, location, claimed, *result));
        }
    }
    Ok(out)
}

async fn read(store: &dyn ReadStore, layer: &Descriptor, what: &str) -> std::result::Result<bytes::Bytes, Rejection> {
    store.fetch_bytes(layer).await.map_err(|e| (Problem::Malformed, format!("the {what} cannot be read: {e}")))
}

/// One bundle (or legacy envelope read as one): skipped unless its statement claims
/// to be an attestation; of another type, listed unchecked; else verified with the
/// one verifier, and its statement judged.
async fn judge(parsed: std::result::Result<Bundle, String>, policy: &Policy<'_>) -> Outcome {
    let bundle = match parsed {
        Ok(bundle) => bundle,
        Err(reason) => return Outcome::Judged { claimed: None, result: Box::new(Err((Problem::Malformed, reason))) },
    };
    let Content::Dsse(envelope) = &bundle.content else {
        return Outcome::NotAnAttestation; // a message signature signs a digest, not a statement
    };
    let claimed = payload::parse_statement(&envelope.payload).ok().map(|s| s.predicate_type);
    match claimed.as_deref() {
        Some(COSIGN_SIGN_PREDICATE) => return Outcome::NotAnAttestation,
        Some(other) if other != policy.predicate_type => {
            let reason =
                format!("an attestation of predicate type {other}, not {} (not verified)", policy.predicate_type);
            return Outcome::Judged { claimed, result: Box::new(Err((Problem::OtherPredicateType, reason))) };
        }
        _ => {}
    }
    let (trust, digest) = (policy.trust.clone(), hex_digest(policy.digest));
    let verified =
        off_the_runtime(move || verifier::verify(&bundle, &digest, Subjects::JudgedByCaller, &trust, now())).await;
    let result = verified.and_then(|verified| {
        let statement = verified.statement.as_deref().unwrap_or_default();
        let (predicate_type, predicate) = check_statement(statement, policy)?;
        Ok(Accepted { predicate_type, predicate, keyless: verified.keyless })
    });
    Outcome::Judged { claimed, result: Box::new(result) }
}

/// The digest's bytes (a `Digest` holds 64 lowercase hex digits, so this never falls back).
fn hex_digest(digest: &Digest) -> Vec<u8> {
    wharf_oci::digest::hex_decode(digest.hex()).unwrap_or_default()
}

/// A verified statement: of the predicate type asked for, naming the digest among
/// its subjects (by SHA-256); its predicate (`{}` when absent, as in-toto reads it).
fn check_statement(statement: &[u8], policy: &Policy<'_>) -> std::result::Result<(String, Value), Rejection> {
    let malformed = |reason: String| (Problem::Malformed, reason);
    let parsed = payload::parse_statement(statement).map_err(malformed)?;
    if parsed.predicate_type != policy.predicate_type {
        return Err((
            Problem::OtherPredicateType,
            format!("an attestation of predicate type {}, not {}", parsed.predicate_type, policy.predicate_type),
        ));
    }
    let wanted = policy.digest.hex();
    if !parsed.subjects.iter().any(|(d, _)| d.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(wanted))) {
        let named: Vec<String> =
            parsed.subjects.iter().filter_map(|(d, _)| d.as_ref().map(|h| format!("sha256:{h}"))).collect();
        return Err((
            Problem::DigestMismatch,
            format!("it attests {}, not {} (the reference's digest)", named.join(", "), policy.digest),
        ));
    }
    let doc: Value = serde_json::from_slice(statement).map_err(|e| malformed(format!("the statement: {e}")))?;
    let predicate = match doc.get("predicate") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(predicate) => predicate.clone(),
    };
    Ok((parsed.predicate_type, predicate))
}
