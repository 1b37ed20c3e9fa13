//! Verifying a blob (a file, or its SHA-256) against a Sigstore bundle: what
//! `wharf verify-blob` does, with cosign verify-blob's inputs.

use std::io::Read as _;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::bundle::Bundle;
use super::verifier::Subjects;
use super::{Problem, Trust, keyless, verifier};
use crate::error::{Error, Result};
use wharf_oci::digest::{Digest, hex_decode};

/// The largest bundle read (real ones are a few KiB; the suite's largest is 12 KiB).
const MAX_BUNDLE: u64 = 1 << 20;

/// The verdict on one bundle.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobVerdict {
    /// The artifact's digest.
    pub artifact: Digest,
    /// True if the bundle signs the artifact and satisfies the trust given.
    pub verified: bool,
    /// Why not, as a kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Why not, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who signed, for a verified keyless bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<keyless::KeylessVerified>,
    /// The transparency log that recorded the signature (its base URL), when a trusted root was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The entry's index in that log, when the log vouches for it (its SET, or for Rekor v2 its
    /// inclusion proof; a Rekor v1 entry with a proof and no SET has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
    /// The log's integrated time (Unix seconds), vouched for by its inclusion promise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<i64>,
    /// The times of the verified RFC 3161 timestamps (Unix seconds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timestamps: Vec<i64>,
}

/// The artifact argument of the conformance suite's protocol: `sha256:HEX`
/// (64 hex digits, and no file of that name exists) is a digest; anything
/// else is a file, hashed as it is read.
pub fn artifact_digest(argument: &str) -> Result<Digest> {
    if let Some(hex) = argument.strip_prefix("sha256:")
        && hex.len() == 64
        && !Path::new(argument).exists()
    {
        return Ok(argument.to_ascii_lowercase().parse()?);
    }
    let path = Path::new(argument);
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("cannot read the artifact", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io("cannot read the artifact", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", wharf_oci::digest::hex(&hasher.finalize())).parse()?)
}

/// Reads a bundle file (at most 1 MiB).
pub fn read_bundle(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read the bundle", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_BUNDLE + 1).read_to_end(&mut bytes).map_err(|e| Error::io("cannot read the bundle", path, e))?;
    if bytes.len() as u64 > MAX_BUNDLE {
        return Err(Error::malformed(
            path.display().to_string(),
            "it is larger than 1 MiB; a Sigstore bundle is a few KiB: give the .sigstore.json file",
        ));
    }
    Ok(bytes)
}

/// Checks `bundle` (a Sigstore bundle's JSON) against `artifact` and `trust`
/// with the one Sigstore verifier, at the current time.
pub fn verify_blob(bundle: &[u8], artifact: &Digest, trust: &Trust) -> BlobVerdict {
    let mut verdict = BlobVerdict {
        artifact: artifact.clone(),
        verified: false,
        problem: None,
        reason: None,
        keyless: None,
        log: None,
        log_index: None,
        integrated_time: None,
        timestamps: Vec::new(),
    };
    // A `Digest` holds 64 lowercase hex digits, so this never falls back.
    let digest = hex_decode(artifact.hex()).unwrap_or_default();
    let outcome = Bundle::parse(bundle)
        .map_err(|e| (Problem::Malformed, e))
        .and_then(|bundle| verifier::verify(&bundle, &digest, Subjects::MustNameArtifact, trust, super::now()));
    match outcome {
        Ok(verified) => {
            verdict.verified = true;
            verdict.keyless = verified.keyless;
            verdict.log_index = verified.log.as_ref().and_then(|(_, index)| *index);
            verdict.log = verified.log.map(|(url, _)| url);
            verdict.integrated_time = verified.integrated_time;
            verdict.timestamps = verified.timestamps;
        }
        Err((problem, reason)) => {
            verdict.problem = Some(problem);
            verdict.reason = Some(reason);
        }
    }
    verdict
}
