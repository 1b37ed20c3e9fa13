//! Verifying a blob (a file, or its SHA-256) against a Sigstore bundle: what
//! `wharf verify-blob` does, with cosign verify-blob's inputs.

use std::io::Read as _;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{Problem, Trust, keyless};
use crate::digest::{Digest, hex_decode};
use crate::error::{Error, Result};

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
}

/// The artifact argument of the conformance suite's protocol: `sha256:HEX`
/// (64 hex digits, and no file of that name exists) is a digest; anything
/// else is a file, hashed as it is read.
pub fn artifact_digest(argument: &str) -> Result<Digest> {
    if let Some(hex) = argument.strip_prefix("sha256:")
        && hex.len() == 64
        && !Path::new(argument).exists()
    {
        return argument.to_ascii_lowercase().parse();
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
    format!("sha256:{}", crate::digest::hex(&hasher.finalize())).parse()
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

/// Checks `bundle` against `artifact` and `trust`.
pub fn verify_blob(bundle: &[u8], artifact: &Digest, trust: &Trust) -> BlobVerdict {
    let outcome = check(bundle, artifact, trust);
    match outcome {
        Ok(who) => {
            BlobVerdict { artifact: artifact.clone(), verified: true, problem: None, reason: None, keyless: who }
        }
        Err((problem, reason)) => BlobVerdict {
            artifact: artifact.clone(),
            verified: false,
            problem: Some(problem),
            reason: Some(reason),
            keyless: None,
        },
    }
}

fn check(
    bundle: &[u8],
    artifact: &Digest,
    trust: &Trust,
) -> std::result::Result<Option<keyless::KeylessVerified>, (Problem, String)> {
    let digest = hex_decode(artifact.hex()).unwrap_or_default();
    let Trust::Keyless { root, expected } = trust else {
        return Err((Problem::Unsupported, "key-made bundles are not verified by verify-blob yet".into()));
    };
    let doc: serde_json::Value =
        serde_json::from_slice(bundle).map_err(|e| (Problem::Malformed, format!("the bundle is not JSON: {e}")))?;
    if doc.get("dsseEnvelope").is_some() {
        let (who, statement) = keyless::verify_dsse_bundle(bundle, root, expected)?;
        let statement = super::payload::parse_statement(&statement).map_err(|e| (Problem::Malformed, e))?;
        if !statement.subjects.iter().any(|(d, _)| d.as_deref() == Some(artifact.hex())) {
            return Err((Problem::DigestMismatch, format!("the statement does not name {artifact}")));
        }
        return Ok(Some(who));
    }
    keyless::verify_message_bundle(bundle, &digest, root, expected).map(Some)
}
