//! A transparency-log entry, checked offline against the trusted root's logs
//! and against what the bundle signs.
//!
//! - Rekor v1 entries (`hashedrekord` 0.0.1, `dsse` 0.0.1, `intoto` 0.0.2):
//!   the inclusion promise (SET), a signature by the log over the canonical
//!   JSON of `{body, integratedTime, logID, logIndex}`, makes the integrated
//!   time a verified time of signing; the inclusion proof, when present, must
//!   lead to a checkpoint the log signed.
//! - Rekor v2 entries (`hashedrekord` 0.0.2) carry no SET and no time: the
//!   inclusion proof and its checkpoint (C2SP signed note, Ed25519) are
//!   required, and the time comes from an RFC 3161 timestamp.
//!
//! Then the logged body must record this signature, this certificate or key,
//! and this artifact (client specification §4.4): for a `messageSignature`
//! the artifact's digest; for a DSSE envelope, the payload's SHA-256, or for
//! Rekor v2 the hash of the envelope's PAE (`Hash(PAE(payloadType, payload))`)
//! by the signer's key: SHA-256 for P-256 and RSA, SHA-384 for P-384, SHA-512
//! for P-521 and Ed25519.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::Problem;
use super::bundle::{Content, Envelope, LogEntry};
use super::encoding::{base64_bytes, pem_der};
use super::trust_root::{LogInstance, LogKey, TrustedRoot};

type Rejection = (Problem, String);

/// How far in the future (seconds) an integrated time may be, for clock skew.
pub(crate) const CLOCK_SKEW: i64 = 60;

fn invalid(reason: impl Into<String>) -> Rejection {
    (Problem::InvalidLogEntry, reason.into())
}

/// What the log entry must record as the signer: the certificate, or the key (DER).
pub(crate) enum Signer<'a> {
    /// The leaf certificate (DER).
    Certificate(&'a [u8]),
    /// The public key (PKIX DER).
    Key(&'a [u8]),
}

/// A log entry that verified: its log, and the integrated time its SET vouches for.
pub(crate) struct Logged<'r> {
    /// The log of the trusted root.
    pub log: &'r LogInstance,
    /// The integrated time, if an inclusion promise (SET) verified it.
    pub integrated_time: Option<i64>,
    /// The entry's index, if something the log signed vouches for it: the SET (Rekor v1), or the
    /// inclusion proof, whose leaf index it must be (Rekor v2). A Rekor v1 entry with a proof
    /// and no SET has none: its log is sharded, and the proof's index is the shard's own.
    pub log_index: Option<i64>,
}

/// Verifies `entry` with `root`'s logs, and that it records `signer`,
/// `content` and `digest` (the artifact's SHA-256, for a message signature).
pub(crate) fn verify<'r>(
    entry: &LogEntry,
    root: &'r TrustedRoot,
    signer: &Signer<'_>,
    content: &Content,
    digest: &[u8],
    now: i64,
) -> Result<Logged<'r>, Rejection> {
    let log = root.tlog(&entry.key_id).ok_or_else(|| {
        invalid(format!("the log entry's log {} is not in the trusted root", wharf_oci::digest::hex(&entry.key_id)))
    })?;
    let rekor_v2 = entry.is_rekor_v2();
    let mut integrated_time = None;
    let mut log_index = None;
    if rekor_v2 {
        let proof = entry
            .proof
            .as_ref()
            .ok_or_else(|| invalid("a Rekor v2 entry must carry an inclusion proof, and this one has none"))?;
        proof.verify(&entry.body, log, true).map_err(invalid)?;
        if u64::try_from(entry.log_index).ok() != Some(proof.log_index()) {
            return Err(invalid(format!(
                "the log entry's logIndex {} is not the index {} its inclusion proof proves",
                entry.log_index,
                proof.log_index()
            )));
        }
        log_index = Some(entry.log_index);
    } else {
        if entry.promise.is_none() && entry.proof.is_none() {
            return Err(invalid("the log entry has neither an inclusion promise (SET) nor an inclusion proof"));
        }
        if let Some(set) = &entry.promise {
            let time =
                entry.integrated_time.ok_or_else(|| invalid("the log entry has an SET but no integratedTime"))?;
            verify_set(entry, set, time, log)?;
            if time > now + CLOCK_SKEW {
                return Err(invalid(format!("the log entry's integrated time {time} is in the future (now {now})")));
            }
            if !log.valid.contains(time) {
                return Err(invalid(format!(
                    "the log {}'s key was not valid at {time} (trusted root validFor)",
                    log.base_url
                )));
            }
            integrated_time = Some(time);
            log_index = Some(entry.log_index);
        }
        if let Some(proof) = &entry.proof {
            proof.verify(&entry.body, log, false).map_err(invalid)?;
        }
    }
    check_body(entry, signer, content, digest)?;
    Ok(Logged { log, integrated_time, log_index })
}

/// The SET: the log's signature over the canonical JSON of the entry's
/// `{body, integratedTime, logID, logIndex}` (keys sorted, no spaces).
fn verify_set(entry: &LogEntry, set: &[u8], integrated_time: i64, log: &LogInstance) -> Result<(), Rejection> {
    let canonical = format!(
        r#"{{"body":{},"integratedTime":{integrated_time},"logID":{},"logIndex":{}}}"#,
        Value::from(entry.body_b64.as_str()),
        Value::from(wharf_oci::digest::hex(&entry.key_id)),
        entry.log_index
    );
    let bad = || {
        invalid(format!(
            "the inclusion promise (SET) does not verify with the key of {}: the entry's time, index or body was altered",
            log.base_url
        ))
    };
    match &log.key {
        LogKey::P256(key) => {
            use p256::ecdsa::signature::Verifier as _;
            let sig = p256::ecdsa::Signature::from_der(set).map_err(|_| bad())?;
            key.verify(canonical.as_bytes(), &sig).map_err(|_| bad())
        }
        LogKey::P384(key) => {
            use p384::ecdsa::signature::Verifier as _;
            let sig = p384::ecdsa::Signature::from_der(set).map_err(|_| bad())?;
            key.verify(canonical.as_bytes(), &sig).map_err(|_| bad())
        }
        LogKey::Ed25519(key) => {
            let sig = ed25519_dalek::Signature::from_slice(set).map_err(|_| bad())?;
            key.verify_strict(canonical.as_bytes(), &sig).map_err(|_| bad())
        }
        LogKey::Rsa(_) => Err((
            Problem::Unsupported,
            format!("the log {} has an RSA key: wharf verifies ECDSA and Ed25519 SETs", log.base_url),
        )),
        LogKey::Unusable(why) => Err((Problem::Unsupported, why.clone())),
    }
}

/// The logged body, as JSON.
fn body_json(entry: &LogEntry) -> Result<Value, Rejection> {
    serde_json::from_slice(&entry.body).map_err(|_| invalid("the logged body is not JSON"))
}

/// The body must record this signer, signature and artifact, by its kind.
pub(crate) fn check_body(
    entry: &LogEntry,
    signer: &Signer<'_>,
    content: &Content,
    digest: &[u8],
) -> Result<(), Rejection> {
    let body = body_json(entry)?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let version = body.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if kind != entry.kind || version != entry.version {
        return Err(invalid(format!(
            "the logged body is a {kind} {version}, the entry says {} {}",
            entry.kind, entry.version
        )));
    }
    let spec = body.get("spec").unwrap_or(&Value::Null);
    match (kind, version, content) {
        ("hashedrekord", "0.0.1", Content::Message { signature, .. }) => {
            hashedrekord_v1(spec, signer, signature, digest)
        }
        ("hashedrekord", "0.0.2", Content::Message { signature, .. }) => {
            hashedrekord_v2(spec, signer, signature, ("SHA2_256", digest))
        }
        ("hashedrekord", "0.0.2", Content::Dsse(envelope)) => {
            let pae = crate::payload::pae(&envelope.payload_type, &envelope.payload);
            let (algorithm, hashed) = signers_hash(signer, &pae)?;
            hashedrekord_v2(spec, signer, &envelope.signature, (algorithm, &hashed))
        }
        ("dsse", "0.0.1", Content::Dsse(envelope)) => dsse_v1(spec, signer, envelope),
        ("intoto", "0.0.2", Content::Dsse(envelope)) => intoto_v2(spec, signer, envelope),
        _ => Err((
            Problem::Unsupported,
            format!(
                "a {kind} {version} log entry for a {}: wharf checks hashedrekord 0.0.1 and 0.0.2 entries for message signatures, and dsse 0.0.1, intoto 0.0.2 and hashedrekord 0.0.2 entries for DSSE envelopes",
                match content {
                    Content::Message { .. } => "message signature",
                    Content::Dsse(_) => "DSSE envelope",
                }
            ),
        )),
    }
}

fn b64_at(value: &Value, pointer: &str) -> Option<Vec<u8>> {
    value.pointer(pointer).and_then(Value::as_str).and_then(base64_bytes)
}

/// Whether the PEM (or DER) of a logged verifier is this signer.
fn same_signer(logged: Option<Vec<u8>>, signer: &Signer<'_>, pem: bool) -> bool {
    let der = if pem { logged.as_deref().and_then(pem_der) } else { logged };
    match signer {
        Signer::Certificate(expected) | Signer::Key(expected) => der.as_deref() == Some(*expected),
    }
}

fn another_signer(signer: &Signer<'_>) -> Rejection {
    invalid(match signer {
        Signer::Certificate(_) => "the log entry records another certificate",
        Signer::Key(_) => "the log entry records another public key",
    })
}

/// `hashedrekord` 0.0.1: `data.hash` (sha256, hex), `signature.content`, `signature.publicKey.content` (PEM).
fn hashedrekord_v1(spec: &Value, signer: &Signer<'_>, signature: &[u8], digest: &[u8]) -> Result<(), Rejection> {
    let hash = spec.pointer("/data/hash").unwrap_or(&Value::Null);
    if hash.get("algorithm").and_then(Value::as_str) != Some("sha256")
        || hash.get("value").and_then(Value::as_str).map(str::to_ascii_lowercase)
            != Some(wharf_oci::digest::hex(digest))
    {
        return Err(invalid(
            "the log entry is for another digest (its hashedrekord data is not what the bundle signs)",
        ));
    }
    if b64_at(spec, "/signature/content").as_deref() != Some(signature) {
        return Err(invalid("the log entry records another signature"));
    }
    if !same_signer(b64_at(spec, "/signature/publicKey/content"), signer, true) {
        return Err(another_signer(signer));
    }
    Ok(())
}

/// `hashedrekord` 0.0.2 (Rekor v2): `hashedRekordV002.data` (`algorithm` and base64 `digest`,
/// the `(algorithm, digest)` given), `signature.content`, `signature.verifier`
/// (`x509Certificate.rawBytes` or `publicKey.rawBytes`).
fn hashedrekord_v2(
    spec: &Value,
    signer: &Signer<'_>,
    signature: &[u8],
    (algorithm, digest): (&str, &[u8]),
) -> Result<(), Rejection> {
    let spec = spec.get("hashedRekordV002").unwrap_or(&Value::Null);
    let logged_algorithm = spec.pointer("/data/algorithm").and_then(Value::as_str).unwrap_or_default();
    if logged_algorithm != algorithm || b64_at(spec, "/data/digest").as_deref() != Some(digest) {
        return Err(invalid(format!(
            "the log entry is for another digest (its hashedrekord data, {logged_algorithm}, is not what the bundle signs: the message digest, or the {algorithm} of the DSSE envelope's PAE)"
        )));
    }
    if b64_at(spec, "/signature/content").as_deref() != Some(signature) {
        return Err(invalid("the log entry records another signature"));
    }
    let verifier = match signer {
        Signer::Certificate(_) => b64_at(spec, "/signature/verifier/x509Certificate/rawBytes"),
        Signer::Key(_) => b64_at(spec, "/signature/verifier/publicKey/rawBytes"),
    };
    if !same_signer(verifier, signer, false) {
        return Err(another_signer(signer));
    }
    Ok(())
}

/// An `intoto` 0.0.2 body must record this signature (base64 of its base64,
/// as Rekor stores it), this signer (PEM) and this payload's SHA-256.
fn intoto_v2(spec: &Value, signer: &Signer<'_>, envelope: &Envelope) -> Result<(), Rejection> {
    let content = spec.get("content").unwrap_or(&Value::Null);
    let payload_hash = wharf_oci::digest::hex(&Sha256::digest(&envelope.payload));
    if content.pointer("/payloadHash/value").and_then(Value::as_str) != Some(payload_hash.as_str()) {
        return Err(invalid("the log entry is for another payload"));
    }
    let sig = content.pointer("/envelope/signatures/0").unwrap_or(&Value::Null);
    let logged_sig = b64_at(sig, "/sig").and_then(|inner| B64.decode(inner).ok());
    if logged_sig.as_deref() != Some(envelope.signature.as_slice()) {
        return Err(invalid("the log entry records another signature"));
    }
    if !same_signer(b64_at(sig, "/publicKey"), signer, true) {
        return Err(another_signer(signer));
    }
    Ok(())
}

/// A `dsse` 0.0.1 body must record this payload's SHA-256 (`payloadHash`),
/// and this signature with this signer as its `verifier` (PEM).
///
/// Its `envelopeHash` is not compared, as sigstore-go and sigstore-python do
/// not: Rekor hashes the envelope's JSON as the signer submitted it, with the
/// signer's own spacing and field order (sigstore-python 3 wrote `", "` and
/// `": "`), so no one form can be rebuilt for every genuine entry, while the
/// payload hash, the signature and its verifier bind all that is signed (the
/// PAE covers the payload type and payload; a key id is not signed).
fn dsse_v1(spec: &Value, signer: &Signer<'_>, envelope: &Envelope) -> Result<(), Rejection> {
    let payload_hash = wharf_oci::digest::hex(&Sha256::digest(&envelope.payload));
    let logged_payload = sha256_field(spec, "payloadHash")?;
    if logged_payload != payload_hash {
        return Err(invalid(format!(
            "the log entry is for another payload (its payloadHash is {logged_payload}, this payload's SHA-256 {payload_hash})"
        )));
    }
    let entry = spec
        .get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| b64_at(s, "/signature").as_deref() == Some(envelope.signature.as_slice()))
        .ok_or_else(|| invalid("the log entry records another signature"))?;
    if !same_signer(b64_at(entry, "/verifier"), signer, true) {
        return Err(another_signer(signer));
    }
    Ok(())
}

/// The lowercase hex value of a `{algorithm: sha256, value}` field of a log entry body.
fn sha256_field(spec: &Value, name: &str) -> Result<String, Rejection> {
    let field = spec.get(name).unwrap_or(&Value::Null);
    if field.get("algorithm").and_then(Value::as_str) != Some("sha256") {
        return Err(invalid(format!("the log entry has no SHA-256 {name}")));
    }
    Ok(field.get("value").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase())
}

/// The hash a Rekor v2 `hashedrekord` records of a DSSE envelope's PAE: the
/// one the signer's key signs with (sigstore-go's `reconstructV2EntryHash`,
/// from the key's default algorithm): SHA-256 for P-256 and RSA, SHA-384 for
/// P-384, SHA-512 for P-521 and Ed25519 (Ed25519ph). Returns the protobuf
/// name of the algorithm and the digest of `pae`.
fn signers_hash(signer: &Signer<'_>, pae: &[u8]) -> Result<(&'static str, Vec<u8>), Rejection> {
    use sha2::{Sha384, Sha512};
    use x509_cert::der::Decode as _;
    use x509_cert::der::asn1::ObjectIdentifier;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    let unreadable = |e: x509_cert::der::Error| (Problem::Malformed, format!("the signer's key cannot be read: {e}"));
    let spki = match signer {
        Signer::Certificate(der) => {
            let cert = x509_cert::Certificate::from_der(der).map_err(unreadable)?;
            cert.tbs_certificate().subject_public_key_info().clone()
        }
        Signer::Key(der) => SubjectPublicKeyInfoOwned::from_der(der).map_err(unreadable)?,
    };
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let named = |oid: &str| curve.is_some_and(|curve| curve.to_string() == oid);
    match spki.algorithm.oid.to_string().as_str() {
        "1.2.840.10045.2.1" if named("1.2.840.10045.3.1.7") => Ok(("SHA2_256", Sha256::digest(pae).to_vec())),
        "1.2.840.10045.2.1" if named("1.3.132.0.34") => Ok(("SHA2_384", Sha384::digest(pae).to_vec())),
        "1.2.840.10045.2.1" if named("1.3.132.0.35") => Ok(("SHA2_512", Sha512::digest(pae).to_vec())),
        "1.3.101.112" => Ok(("SHA2_512", Sha512::digest(pae).to_vec())),
        "1.2.840.113549.1.1.1" => Ok(("SHA2_256", Sha256::digest(pae).to_vec())),
        other => Err((
            Problem::Unsupported,
            format!(
                "the signer's key ({other}) has no hash Rekor v2 records a DSSE envelope with: wharf knows P-256, P-384, P-521, Ed25519 and RSA keys"
            ),
        )),
    }
}
