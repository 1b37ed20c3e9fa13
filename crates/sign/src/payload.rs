//! The signed documents, in the bytes cosign writes and reads:
//! the simple-signing payload of the legacy `.sig` format, and the in-toto
//! Statement inside a DSSE envelope inside a Sigstore bundle v0.3.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use wharf_oci::digest::Digest;

/// `critical.type` of a cosign simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// in-toto Statement v1 `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The predicate type cosign v3 signs images with.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// cosign's simple-signing payload as Go's `json.Marshal` writes it: compact,
/// struct fields in declaration order, map keys sorted, `<`, `>` and `&`
/// escaped as `\u003c` and friends, no trailing newline. `optional` is `null`
/// without annotations.
pub fn simple_signing(docker_reference: &str, digest: &Digest, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = String::from(r#"{"critical":{"identity":{"docker-reference":"#);
    go_string(&mut out, docker_reference);
    out.push_str(r#"},"image":{"docker-manifest-digest":"#);
    go_string(&mut out, digest.as_str());
    out.push_str(r#"},"type":"#);
    go_string(&mut out, SIMPLE_SIGNING_TYPE);
    out.push_str(r#"},"optional":"#);
    if annotations.is_empty() {
        out.push_str("null");
    } else {
        out.push('{');
        for (i, (k, v)) in annotations.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            go_string(&mut out, k);
            out.push(':');
            go_string(&mut out, v);
        }
        out.push('}');
    }
    out.push('}');
    out.into_bytes()
}

/// Appends `text` as a JSON string the way Go's encoding/json escapes it.
fn go_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What a simple-signing payload claims.
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference` (cosign does not check it).
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`: what was signed.
    pub digest: String,
    /// `critical.type`.
    pub kind: String,
    /// `optional` (annotations), empty when `null`.
    pub optional: Map<String, Value>,
}

/// Parses a simple-signing payload.
pub fn parse_simple_signing(bytes: &[u8]) -> Result<SimpleSigning, String> {
    #[derive(Deserialize)]
    struct Doc {
        critical: Critical,
        #[serde(default)]
        optional: Option<Map<String, Value>>,
    }
    #[derive(Deserialize)]
    struct Critical {
        identity: Identity,
        image: Image,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct Identity {
        #[serde(rename = "docker-reference")]
        docker_reference: String,
    }
    #[derive(Deserialize)]
    struct Image {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    let doc: Doc =
        serde_json::from_slice(bytes).map_err(|e| format!("the payload is not a simple-signing document ({e})"))?;
    Ok(SimpleSigning {
        docker_reference: doc.critical.identity.docker_reference,
        digest: doc.critical.image.digest,
        kind: doc.critical.kind,
        optional: doc.optional.unwrap_or_default(),
    })
}

/// The in-toto Statement v1 cosign v3 signs for an image: one subject with the
/// digest and the annotations (`{}` when there are none, as protojson writes an
/// empty struct), predicate type `https://sigstore.dev/cosign/sign/v1`, empty predicate.
pub fn statement(digest: &Digest, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let doc = json!({
        "_type": STATEMENT_V1,
        "subject": [{ "digest": { "sha256": digest.hex() }, "annotations": annotations }],
        "predicateType": COSIGN_SIGN_PREDICATE,
        "predicate": {},
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// What a statement claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `_type`.
    pub kind: String,
    /// `predicateType`.
    pub predicate_type: String,
    /// Each subject's `sha256` digest (hex, as written) and annotations.
    pub subjects: Vec<(Option<String>, Map<String, Value>)>,
}

/// Parses an in-toto statement (v1 or v0.1).
pub fn parse_statement(bytes: &[u8]) -> Result<Statement, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        #[serde(rename = "_type")]
        kind: String,
        #[serde(default)]
        subject: Vec<Subject>,
        #[serde(default)]
        predicate_type: String,
    }
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: BTreeMap<String, String>,
        #[serde(default)]
        annotations: Option<Map<String, Value>>,
    }
    let doc: Doc =
        serde_json::from_slice(bytes).map_err(|e| format!("the DSSE payload is not an in-toto statement ({e})"))?;
    Ok(Statement {
        kind: doc.kind,
        predicate_type: doc.predicate_type,
        subjects: doc
            .subject
            .into_iter()
            .map(|s| (s.digest.get("sha256").cloned(), s.annotations.unwrap_or_default()))
            .collect(),
    })
}

/// DSSE's pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A Sigstore bundle v0.3 as cosign v3 writes it for a key: a DSSE envelope
/// (no `keyid`), and a public-key hint as the verification material. Field
/// order follows protojson (the proto field numbers).
pub fn bundle(payload: &[u8], signature: &[u8], hint: &str) -> Vec<u8> {
    let doc = json!({
        "mediaType": crate::media::BUNDLE_V03,
        "verificationMaterial": { "publicKey": { "hint": hint } },
        "dsseEnvelope": {
            "payload": B64.encode(payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{ "sig": B64.encode(signature) }],
        },
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The parts of a bundle verification needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// `mediaType`.
    pub media_type: String,
    /// `verificationMaterial.publicKey.hint`, if the bundle names a key.
    pub key_hint: Option<String>,
    /// True if the verification material is a certificate (keyless).
    pub has_certificate: bool,
    /// The DSSE payload type.
    pub payload_type: String,
    /// The DSSE payload (decoded).
    pub payload: Vec<u8>,
    /// The DSSE signatures (decoded).
    pub signatures: Vec<Vec<u8>>,
}

/// Parses a Sigstore bundle (v0.1 to v0.3) holding a DSSE envelope.
pub fn parse_bundle(bytes: &[u8]) -> Result<Bundle, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("the bundle is not JSON ({e})"))?;
    let media_type = doc["mediaType"].as_str().unwrap_or_default().to_string();
    if !crate::media::is_bundle(&media_type) {
        return Err(format!("the bundle's mediaType {media_type:?} is not a Sigstore bundle"));
    }
    let material = &doc["verificationMaterial"];
    let envelope = &doc["dsseEnvelope"];
    if envelope.is_null() {
        return Err(if doc["messageSignature"].is_null() {
            "the bundle holds neither a DSSE envelope nor a message signature".into()
        } else {
            "the bundle signs a blob digest (messageSignature), not an image statement".into()
        });
    }
    let decode = |field: &Value, what: &str| -> Result<Vec<u8>, String> {
        let text = field.as_str().ok_or_else(|| format!("the DSSE envelope has no {what}"))?;
        B64.decode(text.as_bytes()).map_err(|_| format!("the DSSE {what} is not base64"))
    };
    let payload = decode(&envelope["payload"], "payload")?;
    let signatures = envelope["signatures"]
        .as_array()
        .map(|sigs| sigs.iter().map(|s| decode(&s["sig"], "signature")).collect::<Result<Vec<_>, _>>())
        .transpose()?
        .unwrap_or_default();
    Ok(Bundle {
        media_type,
        key_hint: material["publicKey"]["hint"].as_str().map(str::to_string),
        has_certificate: !material["certificate"].is_null() || !material["x509CertificateChain"].is_null(),
        payload_type: envelope["payloadType"].as_str().unwrap_or_default().to_string(),
        payload,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::of(b"x")
    }

    #[test]
    fn simple_signing_matches_gos_bytes() {
        let d = digest();
        let plain = simple_signing("ghcr.io/org/app", &d, &BTreeMap::new());
        let expected = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/org/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        assert_eq!(String::from_utf8_lossy(&plain), expected);
        let annotated =
            simple_signing("r", &d, &BTreeMap::from([("z".into(), "1".into()), ("a".into(), "<b>&\"\n".into())]));
        let text = String::from_utf8_lossy(&annotated);
        assert!(text.ends_with(r#""optional":{"a":"\u003cb\u003e\u0026\"\n","z":"1"}}"#), "{text}");
        let parsed = parse_simple_signing(&annotated).expect("parses");
        assert_eq!(parsed.digest, d.as_str());
        assert_eq!(parsed.optional.get("a").and_then(Value::as_str), Some("<b>&\"\n"));
    }

    #[test]
    fn statement_and_pae_are_cosigns() {
        let d = digest();
        let s = statement(&d, &BTreeMap::new());
        let text = String::from_utf8_lossy(&s);
        assert_eq!(
            text,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}},"annotations":{{}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#,
                d.hex()
            )
        );
        let parsed = parse_statement(&s).expect("parses");
        assert_eq!(parsed.subjects[0].0.as_deref(), Some(d.hex()));
        assert_eq!(pae("t", b"ab"), b"DSSEv1 1 t 2 ab");
    }

    #[test]
    fn bundles_round_trip() {
        let b = bundle(b"payload", b"sig", "hint=");
        let parsed = parse_bundle(&b).expect("parses");
        assert_eq!(parsed.payload, b"payload");
        assert_eq!(parsed.signatures, vec![b"sig".to_vec()]);
        assert_eq!(parsed.key_hint.as_deref(), Some("hint="));
        assert!(!parsed.has_certificate);
        assert!(parse_bundle(br#"{"mediaType":"x"}"#).is_err());
    }
}
