//! cosign's legacy keyless signature: a `.sig` layer whose annotations carry
//! the Fulcio certificate and the Rekor entry, read as the v0.1 bundle it
//! amounts to and judged by the one verifier.

use sha2::{Digest as _, Sha256};

use super::bundle::Bundle;
use super::keyless::KeylessVerified;
use super::verifier::Subjects;
use super::{Problem, Rejection};

/// cosign's annotation with a legacy signature's Fulcio certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// cosign's annotation with a legacy signature's Rekor entry and SET (JSON).
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Verifies a keyless legacy `.sig` signature (what `cosign sign` without a
/// key wrote before bundles): `signature` over the simple-signing `payload`,
/// with the Fulcio certificate and the Rekor entry of the layer's
/// [`CERTIFICATE_ANNOTATION`] and [`REKOR_BUNDLE_ANNOTATION`], offline,
/// against `root` and `expected`, at `now` (Unix seconds). The logged body
/// must be a `hashedrekord` of the payload's SHA-256. The caller checks the
/// payload's claims.
pub fn verify_legacy_signature(
    payload: &[u8],
    signature: &[u8],
    certificate_pem: Option<&str>,
    rekor_bundle: Option<&str>,
    trust: &super::Trust,
    now: i64,
) -> Result<KeylessVerified, Rejection> {
    let digest = Sha256::digest(payload).to_vec();
    let bundle = Bundle::legacy(certificate_pem, rekor_bundle, digest.clone(), signature.to_vec())
        .map_err(|e| (Problem::Malformed, e))?;
    let verified = super::verifier::verify(&bundle, &digest, Subjects::MustNameArtifact, trust, now)?;
    verified.keyless.ok_or_else(|| (Problem::Unsupported, "internal: no keyless verdict for a keyless trust".into()))
}
