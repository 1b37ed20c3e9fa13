//! A Sigstore bundle, read strictly into what verification needs.
//!
//! Only the bundle versions that exist are accepted (v0.1, v0.2, v0.3, and
//! v0.3's `application/vnd.dev.sigstore.bundle.v0.3+json` spelling), with the
//! rules each version adds (protobuf-specs, and sigstore-go's `validate`): a
//! v0.1 bundle's log entries carry an inclusion promise; from v0.2 on they
//! carry an inclusion proof with a checkpoint; a v0.3 bundle holds a single
//! certificate, never a chain. Every base64 field must decode, every integer
//! must be one (protobuf JSON writes 64-bit integers as strings) and not
//! negative. A legacy `.sig` signature's annotations read into the same shape
//! (see [`Bundle::legacy`]), so both go through one verifier.

use serde_json::Value;

use super::encoding::{base64_bytes, pem_der};
use super::inclusion::InclusionProof;
use crate::media;

/// A bundle's version, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`.
    V01,
    /// `…;version=0.2`.
    V02,
    /// `…;version=0.3` or `application/vnd.dev.sigstore.bundle.v0.3+json`.
    V03,
}

impl Version {
    fn of(media_type: &str) -> Option<Version> {
        Some(match media_type {
            media::BUNDLE_V01 => Version::V01,
            media::BUNDLE_V02 => Version::V02,
            media::BUNDLE_V03_PARAMETER | media::BUNDLE_V03 => Version::V03,
            _ => return None,
        })
    }
}

/// Who signed, as the bundle says.
#[derive(Debug, Clone)]
pub(crate) enum Material {
    /// A certificate (DER): the leaf, then what else the bundle's chain carries.
    Certificates(Vec<Vec<u8>>),
    /// A key the verifier supplies (`publicKey.hint` names it).
    PublicKey {
        /// The hint, if any.
        hint: Option<String>,
    },
}

/// What is signed.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// A `messageSignature`: a signature over an artifact's digest.
    Message {
        /// `messageDigest.digest` (SHA-256): an unauthenticated hint of what was signed. Empty
        /// when the bundle has no `messageDigest` (optional in protobuf-specs): the verifier
        /// then takes the artifact's digest, as sigstore-python does.
        digest: Vec<u8>,
        /// The signature.
        signature: Vec<u8>,
    },
    /// A DSSE envelope.
    Dsse(Envelope),
}

impl Content {
    /// The signature bytes: what the log records and RFC 3161 timestamps cover.
    pub fn signature(&self) -> &[u8] {
        match self {
            Content::Message { signature, .. } => signature,
            Content::Dsse(envelope) => &envelope.signature,
        }
    }
}

/// A DSSE envelope.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// `payloadType`.
    pub payload_type: String,
    /// The payload, decoded.
    pub payload: Vec<u8>,
    /// The (single) signature, decoded.
    pub signature: Vec<u8>,
}

/// A transparency-log entry.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    /// `logIndex` (never negative).
    pub log_index: i64,
    /// `logId.keyId`.
    pub key_id: Vec<u8>,
    /// `kindVersion.kind`.
    pub kind: String,
    /// `kindVersion.version`.
    pub version: String,
    /// `integratedTime` (Rekor v1; 0 or absent for Rekor v2).
    pub integrated_time: Option<i64>,
    /// `canonicalizedBody`, base64 as written (the SET signs this text).
    pub body_b64: String,
    /// `canonicalizedBody`, decoded.
    pub body: Vec<u8>,
    /// `inclusionPromise.signedEntryTimestamp` (DER signature).
    pub promise: Option<Vec<u8>>,
    /// `inclusionProof`, with its checkpoint.
    pub proof: Option<InclusionProof>,
}

impl LogEntry {
    /// Whether the entry is a Rekor v2 one (`hashedrekord` 0.0.2, no SET, no integrated time).
    pub fn is_rekor_v2(&self) -> bool {
        self.kind == "hashedrekord" && self.version == "0.0.2"
    }
}

/// A bundle.
#[derive(Debug, Clone)]
pub(crate) struct Bundle {
    /// The signer's certificate or key.
    pub material: Material,
    /// `verificationMaterial.tlogEntries`.
    pub entries: Vec<LogEntry>,
    /// `verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp` (DER).
    pub timestamps: Vec<Vec<u8>>,
    /// What is signed.
    pub content: Content,
}

fn b64_text(value: Option<&Value>, what: &str) -> Result<Vec<u8>, String> {
    let text = value.and_then(Value::as_str).ok_or_else(|| format!("the bundle has no {what}"))?;
    base64_bytes(text).ok_or_else(|| format!("the bundle's {what} is not base64"))
}

/// A protobuf-JSON 64-bit integer (a string, or a number), never negative.
fn count(object: &Value, k: &str, owner: &str) -> Result<Option<i64>, String> {
    let text = match object.get(k) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(format!("{owner}'s {k} is not a number")),
    };
    let n: i64 = text.parse().map_err(|_| format!("{owner}'s {k} {text:?} is not an integer"))?;
    if n < 0 {
        return Err(format!("{owner}'s {k} is negative ({n})"));
    }
    Ok(Some(n))
}

impl Bundle {
    /// Parses a bundle's JSON.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("the bundle is not JSON ({e})"))?;
        let media_type = doc.get("mediaType").and_then(Value::as_str).unwrap_or_default();
        let version = Version::of(media_type).ok_or_else(|| {
            format!(
                "the bundle's mediaType {media_type:?} is not a Sigstore bundle version wharf knows (v0.1, v0.2, v0.3)"
            )
        })?;
        let material = doc.get("verificationMaterial").ok_or("the bundle has no verificationMaterial")?;
        let signer = signer(material, version)?;
        let mut entries = material
            .get("tlogEntries")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, e)| log_entry(e, &format!("tlogEntries[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        for entry in &mut entries {
            // A proof without a checkpoint commits to nothing signed: in a v0.1 bundle (which
            // rests on its SET) it is ignored; from v0.2 on, verification refuses it.
            if version == Version::V01 && entry.proof.as_ref().is_some_and(|p| !p.has_checkpoint()) {
                entry.proof = None;
            }
            if version == Version::V01 && entry.promise.is_none() {
                return Err("a v0.1 bundle's log entry must carry an inclusion promise (SET), and it has none".into());
            }
            if version >= Version::V02 && entry.proof.is_none() {
                return Err(format!(
                    "a v0.{} bundle's log entry must carry an inclusion proof with a checkpoint, and it has none",
                    version as u8 + 1
                ));
            }
        }
        let timestamps = material
            .pointer("/timestampVerificationData/rfc3161Timestamps")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|t| b64_text(t.get("signedTimestamp"), "RFC 3161 signedTimestamp"))
            .collect::<Result<Vec<_>, _>>()?;
        let content = content(&doc)?;
        Ok(Bundle { material: signer, entries, timestamps, content })
    }
}

fn signer(material: &Value, version: Version) -> Result<Material, String> {
    if let Some(key) = material.get("publicKey") {
        return Ok(Material::PublicKey { hint: key.get("hint").and_then(Value::as_str).map(str::to_string) });
    }
    if let Some(certificate) = material.get("certificate") {
        return Ok(Material::Certificates(vec![b64_text(certificate.get("rawBytes"), "certificate.rawBytes")?]));
    }
    let Some(chain) = material.get("x509CertificateChain") else {
        return Err("the bundle's verificationMaterial holds no certificate and no public key".into());
    };
    if version >= Version::V03 {
        return Err("a v0.3 bundle holds one certificate (certificate), not a chain (x509CertificateChain)".into());
    }
    let certificates = chain.get("certificates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if certificates.is_empty() {
        return Err("the bundle's certificate chain is empty".into());
    }
    certificates
        .iter()
        .enumerate()
        .map(|(i, c)| b64_text(c.get("rawBytes"), &format!("certificate {i} of the chain")))
        .collect::<Result<Vec<_>, _>>()
        .map(Material::Certificates)
}

fn log_entry(entry: &Value, owner: &str) -> Result<LogEntry, String> {
    let kind_version = entry.get("kindVersion").ok_or_else(|| format!("{owner} has no kindVersion"))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let body_b64 = entry
        .get("canonicalizedBody")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{owner} has no canonicalizedBody"))?
        .to_string();
    let body = base64_bytes(&body_b64).ok_or_else(|| format!("{owner}'s canonicalizedBody is not base64"))?;
    let promise = match entry.pointer("/inclusionPromise/signedEntryTimestamp") {
        None | Some(Value::Null) => None,
        some => Some(b64_text(some, "inclusion promise")?),
    };
    let proof = InclusionProof::of_entry(entry).map_err(|e| format!("{owner}: {e}"))?;
    Ok(LogEntry {
        log_index: count(entry, "logIndex", owner)?.ok_or_else(|| format!("{owner} has no logIndex"))?,
        key_id: b64_text(entry.pointer("/logId/keyId"), "logId.keyId")?,
        kind: text(kind_version, "kind"),
        version: text(kind_version, "version"),
        integrated_time: count(entry, "integratedTime", owner)?.filter(|t| *t != 0),
        body_b64,
        body,
        promise,
        proof,
    })
}

fn content(doc: &Value) -> Result<Content, String> {
    match (doc.get("messageSignature"), doc.get("dsseEnvelope")) {
        (Some(_), Some(_)) => Err("the bundle holds both a messageSignature and a dsseEnvelope".into()),
        (Some(message), None) => {
            if let Some(algorithm) = message.pointer("/messageDigest/algorithm").and_then(Value::as_str)
                && algorithm != "SHA2_256"
            {
                return Err(format!("the message digest is {algorithm}; wharf verifies SHA2_256 digests"));
            }
            let digest = match message.get("messageDigest") {
                None | Some(Value::Null) => Vec::new(),
                Some(_) => b64_text(message.pointer("/messageDigest/digest"), "messageDigest.digest")?,
            };
            if digest.is_empty() && message.get("messageDigest").is_some_and(|d| !d.is_null()) {
                return Err("the bundle's messageDigest has an empty digest".into());
            }
            Ok(Content::Message {
                digest,
                signature: b64_text(message.get("signature"), "messageSignature.signature")?,
            })
        }
        (None, Some(envelope)) => {
            let signatures =
                envelope.get("signatures").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let [only] = signatures else {
                return Err(format!(
                    "the DSSE envelope holds {} signatures; a Sigstore bundle's holds exactly one",
                    signatures.len()
                ));
            };
            Ok(Content::Dsse(Envelope {
                payload_type: envelope.get("payloadType").and_then(Value::as_str).unwrap_or_default().to_string(),
                payload: b64_text(envelope.get("payload"), "DSSE payload")?,
                signature: b64_text(only.get("sig"), "DSSE signature")?,
            }))
        }
        (None, None) => Err("the bundle holds neither a messageSignature nor a dsseEnvelope".into()),
    }
}

impl Bundle {
    /// A legacy `.sig` layer's material as a v0.1 bundle would hold it: the certificate of
    /// its `dev.sigstore.cosign/certificate` annotation (none for a key), the
    /// log entry and SET of its `dev.sigstore.cosign/bundle` annotation
    /// (`{"SignedEntryTimestamp": B64, "Payload": {"body", "integratedTime",
    /// "logIndex", "logID": HEX}}`; none when absent), and the signature over
    /// the simple-signing payload whose SHA-256 is `digest`.
    pub fn legacy(
        certificate_pem: Option<&str>,
        rekor_bundle: Option<&str>,
        digest: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<Bundle, String> {
        let material = match certificate_pem {
            Some(pem) => Material::Certificates(vec![
                pem_der(pem.as_bytes()).ok_or("the certificate annotation is not a PEM certificate")?,
            ]),
            None => Material::PublicKey { hint: None },
        };
        let entries = match rekor_bundle {
            Some(text) => vec![legacy_entry(text)?],
            None => Vec::new(),
        };
        Ok(Bundle { material, entries, timestamps: Vec::new(), content: Content::Message { digest, signature } })
    }

    /// A legacy `.att` layer (cosign's attestations before bundles) as a bundle: its blob, a
    /// DSSE envelope (`{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}`, exactly
    /// one signature), with the certificate and log entry of its annotations as for [`Bundle::legacy`].
    pub fn legacy_envelope(
        certificate_pem: Option<&str>,
        rekor_bundle: Option<&str>,
        envelope: &[u8],
    ) -> Result<Bundle, String> {
        let envelope: Value = serde_json::from_slice(envelope)
            .map_err(|e| format!("the layer is not a DSSE envelope (not JSON: {e})"))?;
        let content = content(&serde_json::json!({ "dsseEnvelope": envelope }))?;
        Ok(Bundle { content, ..Bundle::legacy(certificate_pem, rekor_bundle, Vec::new(), Vec::new())? })
    }
}

fn legacy_entry(text: &str) -> Result<LogEntry, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("the Rekor bundle annotation is not JSON: {e}"))?;
    let payload = doc.get("Payload").ok_or("the Rekor bundle annotation has no Payload")?;
    let owner = "the Rekor bundle annotation";
    let body_b64 = payload.get("body").and_then(Value::as_str).ok_or("the log entry has no body")?.to_string();
    let body = base64_bytes(&body_b64).ok_or("the logged body is not base64")?;
    let logged: Value = serde_json::from_slice(&body).map_err(|_| "the logged body is not JSON")?;
    let key_id = payload
        .get("logID")
        .and_then(Value::as_str)
        .and_then(wharf_oci::digest::hex_decode)
        .ok_or("the log entry has no hex logID")?;
    Ok(LogEntry {
        log_index: count(payload, "logIndex", owner)?.ok_or("the log entry has no logIndex")?,
        key_id,
        kind: logged.get("kind").and_then(Value::as_str).unwrap_or_default().to_string(),
        version: logged.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string(),
        integrated_time: count(payload, "integratedTime", owner)?,
        body_b64,
        body,
        promise: Some(b64_text(doc.get("SignedEntryTimestamp"), "SignedEntryTimestamp")?),
        proof: None,
    })
}
