//! Finding and checking signatures: bundle referrers (referrers API or
//! fallback tag, filtered on the layer media type) and the legacy `.sig` tag.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use super::keys::{PublicKey, SignatureProblem};
use super::payload;
use super::{Format, Problem, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_LAYER, SignatureVerdict, legacy_tag};
use super::{Trust, keyless};
use crate::digest::{Digest, hex_decode};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Manifest};
use crate::reference::Selector;
use crate::store::ReadStore;

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
    let desc = match store.resolve(&Selector::Tag(tag.clone())).await {
        Ok(desc) => desc,
        Err(Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let manifest = match store.fetch_bytes(&desc).await.and_then(|b| Manifest::parse(&b)) {
        Ok(m) => m,
        Err(e) => {
            return Ok(vec![verdict(Format::Legacy, format!("tag {tag}"), Err((Problem::Malformed, e.to_string())))]);
        }
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

/// One simple-signing layer: its signature (with the key, or keyless with the
/// layer's certificate and Rekor annotations), then its claims; the signed
/// annotations and, keyless, who signed.
async fn legacy_layer(
    store: &dyn ReadStore,
    layer: &Descriptor,
    policy: &Policy<'_>,
) -> std::result::Result<(Map<String, Value>, Option<keyless::KeylessVerified>), (Problem, String)> {
    let malformed = |reason: String| (Problem::Malformed, reason);
    let signature = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| malformed(format!("the layer has no {SIGNATURE_ANNOTATION} annotation")))?;
    let signature = B64
        .decode(signature.trim().as_bytes())
        .map_err(|_| malformed(format!("the {SIGNATURE_ANNOTATION} annotation is not base64")))?;
    let body = store.fetch_bytes(layer).await.map_err(|e| malformed(format!("the payload cannot be read: {e}")))?;
    let signer = match policy.trust {
        Trust::Key(key) | Trust::ManagedKey { key, .. } => {
            check_signature(key, &body, &signature, None)?;
            None
        }
        Trust::Keyless { root, expected } => {
            let annotation = |name: &str| layer.annotations.get(name).map(String::as_str);
            let certificate = annotation(keyless::CERTIFICATE_ANNOTATION);
            let rekor = annotation(keyless::REKOR_BUNDLE_ANNOTATION);
            Some(keyless::verify_legacy_signature(&body, &signature, certificate, rekor, root, expected)?)
        }
    };
    let claims = payload::parse_simple_signing(&body).map_err(malformed)?;
    check_claims(policy, &claims.digest, &claims.optional)?;
    Ok((claims.optional, signer))
}

fn check_signature(
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
    hint: Option<&str>,
) -> std::result::Result<(), (Problem, String)> {
    match key.verify(message, signature) {
        Ok(()) => Ok(()),
        Err(SignatureProblem::Malformed) => Err((
            Problem::Malformed,
            format!("the signature is not a well-formed {} signature", key.algorithm().name()),
        )),
        Err(SignatureProblem::WrongKeyOrContent) => Err((
            Problem::WrongKey,
            match hint {
                Some(h) if h != key.hint() => format!(
                    "the signature does not verify with this key: the bundle names another key (hint {h}, this key's is {})",
                    key.hint()
                ),
                _ => "the signature does not verify with this key: it was made by another key, or the signed content was altered".into(),
            },
        )),
    }
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// Every bundle layer of every referrer of the digest, checked. Entries are
/// not filtered on their `artifactType`: old cosign wrote fallback indexes
/// without it, so the layer media type decides.
pub(super) async fn bundles(store: &dyn ReadStore, policy: &Policy<'_>) -> Result<Vec<SignatureVerdict>> {
    let mut out = Vec::new();
    for entry in store.referrers(policy.digest).await? {
        if !entry.is_manifest() || crate::media::is_index(&entry.media_type) {
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
            if !layer.media_type.starts_with("application/vnd.dev.sigstore.bundle") {
                continue;
            }
            let location = format!("referrer {}, layer {i}", entry.digest);
            if let Trust::Keyless { root, expected } = policy.trust {
                out.push(keyless_layer(store, layer, policy, root, expected, location).await);
            } else {
                out.push(verdict(Format::Bundle, location, bundle_layer(store, layer, policy).await));
            }
        }
    }
    Ok(out)
}

async fn bundle_layer(
    store: &dyn ReadStore,
    layer: &Descriptor,
    policy: &Policy<'_>,
) -> std::result::Result<Map<String, Value>, (Problem, String)> {
    let malformed = |reason: String| (Problem::Malformed, reason);
    let bytes = store.fetch_bytes(layer).await.map_err(|e| malformed(format!("the bundle cannot be read: {e}")))?;
    let bundle = payload::parse_bundle(&bytes).map_err(malformed)?;
    let (Trust::Key(key) | Trust::ManagedKey { key, .. }) = policy.trust else {
        return Err(malformed("internal: a keyless policy reached the key check".into()));
    };
    if bundle.has_certificate && bundle.key_hint.is_none() {
        return Err((
            Problem::Unsupported,
            "a keyless signature (Fulcio certificate); wharf verifies signatures made with a key (--key)".into(),
        ));
    }
    if bundle.payload_type != payload::IN_TOTO_PAYLOAD_TYPE {
        return Err(malformed(format!(
            "the DSSE payload type is {:?}, not {}",
            bundle.payload_type,
            payload::IN_TOTO_PAYLOAD_TYPE
        )));
    }
    let pae = payload::pae(&bundle.payload_type, &bundle.payload);
    let mut last = (Problem::Malformed, "the DSSE envelope has no signature".to_string());
    let verified =
        bundle.signatures.iter().any(|sig| match check_signature(key, &pae, sig, bundle.key_hint.as_deref()) {
            Ok(()) => true,
            Err(problem) => {
                last = problem;
                false
            }
        });
    if !verified {
        return Err(last);
    }
    check_statement(&bundle.payload, policy)
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

/// A bundle layer checked keyless against the trusted root and the identity:
/// a DSSE bundle ([`keyless::verify_dsse_bundle`], then its statement as for
/// a key-made bundle) or a `messageSignature` bundle
/// ([`keyless::verify_message_bundle`]); a bundle made with a key names `--key`.
async fn keyless_layer(
    store: &dyn ReadStore,
    layer: &Descriptor,
    policy: &Policy<'_>,
    root: &keyless::TrustedRoot,
    expected: &keyless::ExpectedIdentity,
    location: String,
) -> SignatureVerdict {
    let bytes = match store.fetch_bytes(layer).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return verdict(
                Format::Bundle,
                location,
                Err((Problem::Malformed, format!("the bundle cannot be read: {e}"))),
            );
        }
    };
    let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let material = &doc["verificationMaterial"];
    if material.get("publicKey").is_some() {
        let reason = "signed with a key, not a Fulcio certificate: verify it with --key".to_string();
        return verdict(Format::Bundle, location, Err((Problem::Unsupported, reason)));
    }
    if doc.get("dsseEnvelope").is_some() {
        return match keyless::verify_dsse_bundle(&bytes, root, expected) {
            Ok((who, statement)) => {
                let mut outcome = verdict(Format::Bundle, location, check_statement(&statement, policy));
                if outcome.verified {
                    outcome.keyless = Some(who);
                }
                outcome
            }
            Err(rejection) => verdict(Format::Bundle, location, Err(rejection)),
        };
    }
    // A `Digest` holds 64 lowercase hex digits, so this never falls back.
    let digest = hex_decode(policy.digest.hex()).unwrap_or_default();
    match keyless::verify_message_bundle(&bytes, &digest, root, expected) {
        Ok(who) => {
            if let Some((k, v)) = policy.annotations.iter().next() {
                let reason = format!("annotation {k}={v} is required; a message-signature bundle signs no annotations");
                return verdict(Format::Bundle, location, Err((Problem::MissingAnnotation, reason)));
            }
            let mut ok = verdict(Format::Bundle, location, Ok(Map::new()));
            ok.keyless = Some(who);
            ok
        }
        Err(rejection) => verdict(Format::Bundle, location, Err(rejection)),
    }
}
