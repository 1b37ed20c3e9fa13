//! Keyless (Fulcio certificate) verification, offline.
//!
//! A keyless Sigstore bundle carries a short-lived certificate issued by Fulcio
//! to an OIDC identity, a signature made with the certificate's key, and a
//! Rekor transparency-log entry with its inclusion promise (the signed entry
//! timestamp, SET). Against a Sigstore `trusted_root.json` (the Fulcio CA
//! certificates and the Rekor public keys), [`verify_message_bundle`] checks,
//! with no network access:
//!
//! 1. the certificate chains to a Fulcio CA of the trusted root (each
//!    signature up to the root certificate, ECDSA P-256/P-384), and the leaf,
//!    the CA and the log were valid at the log's integrated time;
//! 2. the certificate's subject alternative name (email or URI) is the
//!    expected identity, and its OIDC issuer extension (OID
//!    1.3.6.1.4.1.57264.1.8, else the deprecated 1.3.6.1.4.1.57264.1.1) the
//!    expected issuer;
//! 3. the SET verifies with the key of the log it names, over the canonical
//!    JSON of `{body, integratedTime, logID, logIndex}`, and the logged body
//!    records this signature and this certificate, and: for a `messageSignature`
//!    (`hashedrekord` entry) this digest; for a DSSE envelope, this payload's
//!    SHA-256 and (`dsse` entry) this envelope's SHA-256, or (`intoto` entry)
//!    nothing more;
//! 4. the signature verifies with the certificate's key over the signed digest
//!    (or DSSE's PAE of the payload);
//! 5. the signed digest is the artifact's (for DSSE, the caller checks the statement).
//!
//! [`verify_legacy_signature`] applies the same checks to a legacy `.sig`
//! layer, reading the certificate and the log entry from its annotations.
//!
//! Also checked: the CA certificates have `basicConstraints` cA, and the leaf
//! the code-signing extended key usage, and, where the bundle carries one, the
//! Merkle inclusion proof with its checkpoint signed by the same log
//! ([`super::inclusion`]). Not checked: SCTs (certificate transparency), RFC
//! 3161 timestamps, revocation, other extensions. See `docs/signing.md`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::der::{self, Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};

use super::Problem;
use super::inclusion::InclusionProof;
use crate::digest::hex_decode;
use crate::error::{Error, Result};

/// Fulcio's OIDC issuer extension (DER UTF8String).
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// The code-signing extended key usage (Fulcio sets it on every certificate).
const CODE_SIGNING: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's deprecated OIDC issuer extension (the raw string).
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";

/// The identity a keyless signature must carry.
#[derive(Debug, Clone)]
pub struct ExpectedIdentity {
    /// The certificate's subject alternative name: an email or a URI (for a
    /// CI workflow, e.g. `https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/tags/v1`).
    pub identity: Matcher,
    /// The OIDC issuer (e.g. `https://token.actions.githubusercontent.com`).
    pub issuer: Matcher,
}

/// How a certificate field must match: exactly, or a regular expression
/// (cosign's `--certificate-identity-regexp`). Unlike cosign, wharf anchors
/// the expression to the whole value: `.*@acme\.com` cannot be satisfied by
/// `x@acme.com.evil.example`.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The exact value.
    Exact(String),
    /// A whole-value match of the expression (`text` as written).
    Pattern {
        /// The expression as written.
        text: String,
        /// `^(?:text)$`.
        regex: regex::Regex,
    },
}

impl Matcher {
    /// A whole-value regular expression; an invalid one is a usage error.
    pub fn pattern(text: &str) -> crate::error::Result<Matcher> {
        let regex = regex::Regex::new(&format!("^(?:{text})$"))
            .map_err(|e| crate::error::Error::Usage(format!("{text:?} is not a valid regular expression: {e}")))?;
        Ok(Matcher::Pattern { text: text.to_string(), regex })
    }

    /// Whether `value` satisfies it.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => value == expected,
            Matcher::Pattern { regex, .. } => regex.is_match(value),
        }
    }
}

impl From<String> for Matcher {
    fn from(value: String) -> Matcher {
        Matcher::Exact(value)
    }
}

impl From<&str> for Matcher {
    fn from(value: &str) -> Matcher {
        Matcher::Exact(value.to_string())
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(value) => f.write_str(value),
            Matcher::Pattern { text, .. } => write!(f, "a match of /{text}/"),
        }
    }
}

/// What a verified keyless signature proves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeylessVerified {
    /// The certificate's subject alternative name.
    pub identity: String,
    /// The OIDC issuer in the certificate.
    pub issuer: String,
    /// The trusted root's CA the certificate chains to (its URI).
    pub certificate_authority: String,
    /// The transparency log that promised inclusion (its base URL).
    pub log: String,
    /// The Rekor log index the promise is for.
    pub log_index: i64,
    /// When the log says it integrated the entry (Unix seconds).
    pub integrated_time: i64,
}

/// A Fulcio CA of the trusted root.
struct CertificateAuthority {
    uri: String,
    /// DER certificates, the issuing (intermediate) certificate first, the root last.
    chain: Vec<Vec<u8>>,
    valid: Window,
}

/// A transparency log of the trusted root.
struct Log {
    key_id: Vec<u8>,
    base_url: String,
    key: Option<p256::ecdsa::VerifyingKey>,
    valid: Window,
}

/// `validFor` of the trusted root: Unix seconds, open-ended where absent.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Option<i64>,
    end: Option<i64>,
}

impl Window {
    fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

/// A Sigstore trusted root (`trusted_root.json`, media type
/// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`): Fulcio CAs and Rekor keys.
pub struct TrustedRoot {
    cas: Vec<CertificateAuthority>,
    logs: Vec<Log>,
}

fn root_error(what: &str, reason: impl Into<String>) -> Error {
    Error::malformed(
        what.to_string(),
        format!(
            "{}; give a Sigstore trusted_root.json (from `cosign trusted-root create`, or the TUF target `trusted_root.json`)",
            reason.into()
        ),
    )
}

/// Unix seconds of an RFC 3339 UTC time (`2022-04-14T21:38:40Z`, fractions ignored).
fn rfc3339_seconds(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<u16>().ok());
    let time = time.trim_end_matches('Z');
    let time = time.split('.').next()?;
    let mut h = time.split(':').map(|p| p.parse::<u8>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hh, mi, ss) = (h.next()??, h.next()??, h.next()??);
    let t = der::DateTime::new(y, u8::try_from(mo).ok()?, u8::try_from(da).ok()?, hh, mi, ss).ok()?;
    i64::try_from(t.unix_duration().as_secs()).ok()
}

fn window(value: &Value) -> Window {
    let at = |k: &str| value.get(k).and_then(Value::as_str).and_then(rfc3339_seconds);
    Window { start: at("start"), end: at("end") }
}

fn b64_field(value: &Value, path: &[&str]) -> Option<Vec<u8>> {
    let mut v = value;
    for k in path {
        v = v.get(k)?;
    }
    B64.decode(v.as_str()?.trim()).ok()
}

/// The Sigstore public-good trusted root compiled into wharf: sigstore/root-signing's
/// `targets/trusted_root.json`, last changed 2025-09-22 (commit c9bda74, "first Rekor v2
/// instance"), unchanged at commit 60cf2ce (2026-08-21).
const PUBLIC_GOOD: &[u8] = include_bytes!("public_good_trusted_root.json");
/// The date of [`TrustedRoot::public_good`]'s content, for help texts.
pub const PUBLIC_GOOD_DATE: &str = "2025-09-22";

impl TrustedRoot {
    /// The Sigstore public-good trusted root compiled into wharf (see [`PUBLIC_GOOD_DATE`]).
    pub fn public_good() -> Result<Self> {
        Self::from_json("the built-in public-good trusted root", PUBLIC_GOOD)
    }

    /// Reads a `trusted_root.json`. `what` names the file in errors.
    pub fn from_json(what: &str, bytes: &[u8]) -> Result<Self> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| root_error(what, format!("it is not JSON: {e}")))?;
        let mut cas = Vec::new();
        for ca in doc.get("certificateAuthorities").and_then(Value::as_array).into_iter().flatten() {
            let chain: Vec<Vec<u8>> = ca
                .pointer("/certChain/certificates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| b64_field(c, &["rawBytes"]))
                .collect();
            if chain.is_empty() {
                return Err(root_error(what, "a certificate authority has no certificates"));
            }
            let uri = ca.get("uri").and_then(Value::as_str).unwrap_or("(no uri)").to_string();
            cas.push(CertificateAuthority { uri, chain, valid: window(ca.get("validFor").unwrap_or(&Value::Null)) });
        }
        let mut logs = Vec::new();
        for log in doc.get("tlogs").and_then(Value::as_array).into_iter().flatten() {
            let key_id = b64_field(log, &["logId", "keyId"])
                .ok_or_else(|| root_error(what, "a transparency log has no logId.keyId"))?;
            let key = b64_field(log, &["publicKey", "rawBytes"])
                .and_then(|der| p256::pkcs8::DecodePublicKey::from_public_key_der(&der).ok());
            logs.push(Log {
                key_id,
                base_url: log.get("baseUrl").and_then(Value::as_str).unwrap_or("(no baseUrl)").to_string(),
                key,
                valid: window(log.pointer("/publicKey/validFor").unwrap_or(&Value::Null)),
            });
        }
        if cas.is_empty() {
            return Err(root_error(what, "it lists no certificateAuthorities (Fulcio)"));
        }
        if logs.is_empty() {
            return Err(root_error(what, "it lists no tlogs (Rekor)"));
        }
        Ok(TrustedRoot { cas, logs })
    }
}

type Rejection = (Problem, String);

fn malformed(reason: impl Into<String>) -> Rejection {
    (Problem::Malformed, reason.into())
}

/// The raw bytes of the first element inside a DER SEQUENCE (a certificate's TBSCertificate).
fn first_element(der: &[u8]) -> Option<&[u8]> {
    fn header(bytes: &[u8]) -> Option<(usize, usize)> {
        let first = *bytes.get(1)?;
        if first < 0x80 {
            return Some((2, usize::from(first)));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in bytes.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        Some((2 + n, len))
    }
    let (outer_header, _) = header(der)?;
    let inner = der.get(outer_header..)?;
    let (h, len) = header(inner)?;
    inner.get(..h.checked_add(len)?)
}

/// Verifies `signature` (DER ECDSA) over `message` hashed as `hash_oid`
/// says, with the SubjectPublicKeyInfo `spki` (P-256 or P-384).
fn verify_ecdsa(spki: &[u8], hash_oid: &str, message: &[u8], signature: &[u8]) -> std::result::Result<(), String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let prehash = match hash_oid {
        "1.2.840.10045.4.3.2" => Sha256::digest(message).to_vec(),
        "1.2.840.10045.4.3.3" => Sha384::digest(message).to_vec(),
        "1.2.840.10045.4.3.4" => Sha512::digest(message).to_vec(),
        other => return Err(format!("signature algorithm {other} is not ECDSA with SHA-2")),
    };
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| "the signature is not DER ECDSA")?;
        return key.verify_prehash(&prehash, &sig).map_err(|_| "the signature does not verify".to_string());
    }
    if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
        let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| "the signature is not DER ECDSA")?;
        return key.verify_prehash(&prehash, &sig).map_err(|_| "the signature does not verify".to_string());
    }
    Err("the issuer's key is not ECDSA P-256 or P-384".into())
}

/// Checks that `issuer_der` signed `cert_der`.
fn signed_by(cert_der: &[u8], cert: &Certificate, issuer: &Certificate) -> std::result::Result<(), String> {
    let tbs = first_element(cert_der).ok_or("the certificate's DER cannot be split")?;
    let spki = issuer.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let signature = cert.signature().as_bytes().ok_or("the signature has unused bits")?;
    verify_ecdsa(&spki, &cert.signature_algorithm().oid.to_string(), tbs, signature)
}

fn validity(cert: &Certificate) -> (i64, i64) {
    let v = cert.tbs_certificate().validity();
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    (secs(v.not_before), secs(v.not_after))
}

/// Finds the CA whose chain `leaf` verifies against at `time`, or says why none.
fn chain_to_root<'a>(
    root: &'a TrustedRoot,
    leaf_der: &[u8],
    leaf: &Certificate,
    time: i64,
) -> std::result::Result<&'a CertificateAuthority, Rejection> {
    let mut reasons = Vec::new();
    'cas: for ca in &root.cas {
        let mut chain = Vec::new();
        for der in &ca.chain {
            match Certificate::from_der(der) {
                Ok(c) => chain.push(c),
                Err(e) => {
                    reasons.push(format!("{}: a CA certificate does not parse ({e})", ca.uri));
                    continue 'cas;
                }
            }
        }
        let (mut child_der, mut child) = (leaf_der, leaf);
        for (i, issuer) in chain.iter().enumerate() {
            let is_ca =
                matches!(issuer.tbs_certificate().get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca);
            if !is_ca {
                reasons.push(format!("{}: its certificate {i} is not a CA certificate (basicConstraints)", ca.uri));
                continue 'cas;
            }
            if let Err(e) = signed_by(child_der, child, issuer) {
                let which = if i == 0 { "the certificate" } else { "an intermediate" };
                reasons.push(format!("{}: {which} is not signed by its certificate {i}: {e}", ca.uri));
                continue 'cas;
            }
            (child_der, child) = (&ca.chain[i], issuer);
        }
        if !ca.valid.contains(time) {
            reasons.push(format!("{}: the CA was not valid at the log's integrated time {time}", ca.uri));
            continue;
        }
        return Ok(ca);
    }
    Err((
        Problem::UntrustedCertificate,
        format!("the certificate does not chain to a Fulcio CA of the trusted root ({})", reasons.join("; ")),
    ))
}

/// The SAN (email or URI) and the OIDC issuer of a Fulcio certificate.
fn identity_of(cert: &Certificate) -> std::result::Result<(Vec<String>, Option<String>), Rejection> {
    let tbs = cert.tbs_certificate();
    let mut names = Vec::new();
    if let Ok(Some((_, SubjectAltName(general)))) = tbs.get_extension::<SubjectAltName>() {
        for name in general {
            match name {
                GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => names.push(s.to_string()),
                _ => {}
            }
        }
    }
    let mut issuer = None;
    for ext in tbs.extensions().into_iter().flatten() {
        let oid = ext.extn_id.to_string();
        let value = ext.extn_value.as_bytes();
        if oid == OID_ISSUER_V2 {
            issuer = der::asn1::Utf8StringRef::from_der(value).ok().map(|s| s.as_str().to_string());
        } else if oid == OID_ISSUER_V1 && issuer.is_none() {
            issuer = std::str::from_utf8(value).ok().map(str::to_string);
        }
    }
    Ok((names, issuer))
}

/// Verifies a keyless bundle whose content is a `messageSignature` (what
/// `cosign sign-blob --bundle` and sigstore-python write) over an artifact
/// whose SHA-256 is `digest`, offline, against `root` and `expected`.
pub fn verify_message_bundle(
    bundle: &[u8],
    digest: &[u8],
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
) -> std::result::Result<KeylessVerified, Rejection> {
    let doc: Value = serde_json::from_slice(bundle).map_err(|e| malformed(format!("the bundle is not JSON: {e}")))?;
    let signed_digest = b64_field(&doc, &["messageSignature", "messageDigest", "digest"])
        .ok_or_else(|| malformed("the bundle has no messageSignature.messageDigest (a DSSE bundle?)"))?;
    let signature =
        b64_field(&doc, &["messageSignature", "signature"]).ok_or_else(|| malformed("the bundle has no signature"))?;
    let (leaf_der, entry) = bundle_material(&doc)?;
    let content = Content::Message { digest: &signed_digest, signature: &signature };
    let verified = certified(&leaf_der, &entry, &content, root, expected)?;
    // What was signed is what was asked about (checked last, so every other
    // finding about a bundle moved from another artifact is reported first).
    if signed_digest != digest {
        return Err((
            Problem::DigestMismatch,
            format!("it signs sha256:{}, not sha256:{}", hex(&signed_digest), hex(digest)),
        ));
    }
    Ok(verified)
}

/// cosign's annotation with a legacy signature's Fulcio certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// cosign's annotation with a legacy signature's Rekor entry and SET (JSON).
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Verifies a keyless legacy `.sig` signature (what `cosign sign` without a
/// key wrote before bundles): `signature` over the simple-signing `payload`,
/// with the Fulcio certificate and the Rekor entry of the layer's
/// [`CERTIFICATE_ANNOTATION`] and [`REKOR_BUNDLE_ANNOTATION`], offline,
/// against `root` and `expected`. The logged body must be a `hashedrekord` of
/// the payload's SHA-256. The caller checks the payload's claims.
pub fn verify_legacy_signature(
    payload: &[u8],
    signature: &[u8],
    certificate_pem: Option<&str>,
    rekor_bundle: Option<&str>,
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
) -> std::result::Result<KeylessVerified, Rejection> {
    let (leaf_der, entry) = legacy_material(certificate_pem, rekor_bundle)?;
    let digest = Sha256::digest(payload);
    certified(&leaf_der, &entry, &Content::Message { digest: &digest, signature }, root, expected)
}

/// The certificate (DER) and the log entry of a legacy signature's annotations:
/// `{"SignedEntryTimestamp": B64, "Payload": {"body", "integratedTime", "logIndex", "logID": HEX}}`.
fn legacy_material(
    certificate_pem: Option<&str>,
    rekor_bundle: Option<&str>,
) -> std::result::Result<(Vec<u8>, LogEntry), Rejection> {
    let pem = certificate_pem.ok_or_else(|| {
        (
            Problem::Unsupported,
            format!("no {CERTIFICATE_ANNOTATION} annotation: signed with a key, not a Fulcio certificate; verify it with --key"),
        )
    })?;
    let leaf_der = pem_der(pem.as_bytes())
        .ok_or_else(|| malformed(format!("the {CERTIFICATE_ANNOTATION} annotation is not a PEM certificate")))?;
    let bundle = rekor_bundle.ok_or_else(no_promise)?;
    let bundle: Value = serde_json::from_str(bundle)
        .map_err(|e| malformed(format!("the {REKOR_BUNDLE_ANNOTATION} annotation is not JSON: {e}")))?;
    let payload = bundle.get("Payload").unwrap_or(&Value::Null);
    let body_b64 = payload.get("body").and_then(Value::as_str).ok_or_else(|| malformed("the log entry has no body"))?;
    let key_id = payload
        .get("logID")
        .and_then(Value::as_str)
        .and_then(hex_decode)
        .ok_or_else(|| malformed("the log entry has no hex logID"))?;
    let entry = LogEntry {
        log_index: int_field(payload, "logIndex")?,
        integrated_time: int_field(payload, "integratedTime")?,
        body_b64: body_b64.to_string(),
        key_id,
        set: b64_field(&bundle, &["SignedEntryTimestamp"]).ok_or_else(no_promise)?,
        proof: None,
    };
    Ok((leaf_der, entry))
}

/// What a keyless bundle signs, as the log entry must record it.
enum Content<'a> {
    /// A `messageSignature`: a signature over an artifact's SHA-256 (`hashedrekord` entry).
    Message { digest: &'a [u8], signature: &'a [u8] },
    /// A DSSE envelope: a signature over PAE(payloadType, payload) (`dsse` 0.0.1 or `intoto` 0.0.2 entry).
    Dsse(Envelope<'a>),
}

/// A bundle's DSSE envelope: its JSON as given, and the parts checked.
struct Envelope<'a> {
    json: &'a Value,
    payload_type: &'a str,
    payload: &'a [u8],
    /// The first signature, the one verified.
    signature: &'a [u8],
}

/// Verifies a keyless bundle whose content is a DSSE envelope (in-toto
/// statement) against `root` and `expected`, offline, and returns who signed
/// and the verified payload. The caller checks the statement (its subject
/// digest and predicate type). Log entries of kind `dsse` (0.0.1, what
/// cosign v2.4+ and v3 write) and `intoto` (0.0.2) are checked.
pub fn verify_dsse_bundle(
    bundle: &[u8],
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
) -> std::result::Result<(KeylessVerified, Vec<u8>), Rejection> {
    let doc: Value = serde_json::from_slice(bundle).map_err(|e| malformed(format!("the bundle is not JSON: {e}")))?;
    let envelope = doc.get("dsseEnvelope").ok_or_else(|| malformed("the bundle has no dsseEnvelope"))?;
    let payload = b64_field(envelope, &["payload"]).ok_or_else(|| malformed("the DSSE envelope has no payload"))?;
    let payload_type = envelope.get("payloadType").and_then(Value::as_str).unwrap_or_default();
    let signature = envelope
        .pointer("/signatures/0")
        .and_then(|s| b64_field(s, &["sig"]))
        .ok_or_else(|| malformed("the DSSE envelope has no signature"))?;
    let content = Content::Dsse(Envelope { json: envelope, payload_type, payload: &payload, signature: &signature });
    let (leaf_der, entry) = bundle_material(&doc)?;
    let verified = certified(&leaf_der, &entry, &content, root, expected)?;
    Ok((verified, payload))
}

/// A transparency-log entry with its inclusion promise, as a bundle's
/// `tlogEntries[0]` or cosign's `dev.sigstore.cosign/bundle` annotation gives it.
struct LogEntry {
    log_index: i64,
    integrated_time: i64,
    /// Base64 of the canonicalized body.
    body_b64: String,
    key_id: Vec<u8>,
    /// The signed entry timestamp (DER ECDSA).
    set: Vec<u8>,
    /// The Merkle inclusion proof and checkpoint, when the bundle carries them.
    proof: Option<InclusionProof>,
}

/// A log entry's integer field, a JSON number or (protobuf JSON) a string.
fn int_field(entry: &Value, k: &str) -> std::result::Result<i64, Rejection> {
    json_int(entry, k, "the log entry").map_err(malformed)
}

/// The integer field `k` of `object` (`owner` in messages), written as a JSON
/// number or as a decimal string (protobuf JSON writes 64-bit integers as strings).
pub(super) fn json_int<T: std::str::FromStr>(object: &Value, k: &str, owner: &str) -> std::result::Result<T, String> {
    let v = object.get(k).ok_or_else(|| format!("{owner} has no {k}"))?;
    let text = match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    text.and_then(|t| t.parse().ok()).ok_or_else(|| format!("{owner}'s {k} is not a number"))
}

fn no_promise() -> Rejection {
    (
        Problem::InvalidLogEntry,
        "the log entry has no inclusion promise (SET); wharf verifies keyless signatures offline through the SET only"
            .to_string(),
    )
}

/// The certificate (DER) and the log entry of a bundle.
fn bundle_material(doc: &Value) -> std::result::Result<(Vec<u8>, LogEntry), Rejection> {
    let leaf_der = b64_field(doc, &["verificationMaterial", "certificate", "rawBytes"])
        .or_else(|| {
            doc.pointer("/verificationMaterial/x509CertificateChain/certificates/0")
                .and_then(|c| b64_field(c, &["rawBytes"]))
        })
        .ok_or_else(|| {
            if doc.pointer("/verificationMaterial/publicKey").is_some() {
                malformed("the bundle is signed with a key, not a certificate: verify it with --key")
            } else {
                malformed("the bundle has no certificate")
            }
        })?;
    let entry = doc
        .pointer("/verificationMaterial/tlogEntries/0")
        .ok_or_else(|| (Problem::InvalidLogEntry, "the bundle has no transparency-log entry".to_string()))?;
    let body_b64 = entry
        .get("canonicalizedBody")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the log entry has no canonicalizedBody"))?;
    let entry = LogEntry {
        log_index: int_field(entry, "logIndex")?,
        integrated_time: int_field(entry, "integratedTime")?,
        body_b64: body_b64.to_string(),
        key_id: b64_field(entry, &["logId", "keyId"]).ok_or_else(|| malformed("the log entry has no logId"))?,
        set: b64_field(entry, &["inclusionPromise", "signedEntryTimestamp"]).ok_or_else(no_promise)?,
        proof: InclusionProof::of_entry(entry).map_err(|why| (Problem::InvalidLogEntry, why))?,
    };
    Ok((leaf_der, entry))
}

/// Checks everything but the signed claims: the chain, identity, issuer,
/// inclusion promise, logged body and signature of a keyless signature.
fn certified(
    leaf_der: &[u8],
    entry: &LogEntry,
    content: &Content<'_>,
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
) -> std::result::Result<KeylessVerified, Rejection> {
    let leaf =
        Certificate::from_der(leaf_der).map_err(|e| malformed(format!("the certificate does not parse: {e}")))?;
    let LogEntry { log_index, integrated_time, body_b64, key_id, set, proof } = entry;
    let (log_index, integrated_time, body_b64) = (*log_index, *integrated_time, body_b64.as_str());

    // 1. The chain, at the integrated time.
    let ca = chain_to_root(root, leaf_der, &leaf, integrated_time)?;
    let eku = leaf.tbs_certificate().get_extension::<ExtendedKeyUsage>();
    if !matches!(eku, Ok(Some((_, ExtendedKeyUsage(usages)))) if usages.contains(&CODE_SIGNING)) {
        return Err((
            Problem::UntrustedCertificate,
            "the certificate is not issued for code signing (extended key usage)".to_string(),
        ));
    }
    let (not_before, not_after) = validity(&leaf);
    if integrated_time < not_before || integrated_time > not_after {
        return Err((
            Problem::UntrustedCertificate,
            format!(
                "the certificate (valid {not_before}..{not_after}) had expired or was not yet valid when logged at {integrated_time}"
            ),
        ));
    }

    // 2. Identity and issuer.
    let (names, issuer) = identity_of(&leaf)?;
    let Some(identity) = names.iter().find(|n| expected.identity.matches(n)).cloned() else {
        return Err((
            Problem::WrongIdentity,
            format!("the certificate is for {}, not {}", names.join(", "), expected.identity),
        ));
    };
    let issuer = match issuer {
        Some(i) if expected.issuer.matches(&i) => i,
        Some(i) => {
            return Err((Problem::WrongIssuer, format!("the identity was issued by {i}, not {}", expected.issuer)));
        }
        None => return Err((Problem::WrongIssuer, "the certificate names no OIDC issuer".to_string())),
    };

    // 3. The inclusion promise, and the logged body matches this signature.
    let log = root
        .logs
        .iter()
        .find(|l| &l.key_id == key_id)
        .ok_or_else(|| (Problem::InvalidLogEntry, format!("the log {} is not in the trusted root", hex(key_id))))?;
    let log_key = log.key.as_ref().ok_or_else(|| {
        (Problem::Unsupported, format!("the log {}'s key is not ECDSA P-256 (Rekor v2 logs have no SET)", log.base_url))
    })?;
    if !log.valid.contains(integrated_time) {
        return Err((
            Problem::InvalidLogEntry,
            format!("the log {}'s key was not valid at {integrated_time}", log.base_url),
        ));
    }
    let promised = serde_json::json!({
        "body": body_b64,
        "integratedTime": integrated_time,
        "logID": hex(key_id),
        "logIndex": log_index,
    });
    // serde_json without preserve_order would sort; build the canonical form explicitly.
    let canonical = format!(
        r#"{{"body":{},"integratedTime":{},"logID":{},"logIndex":{}}}"#,
        promised["body"], promised["integratedTime"], promised["logID"], promised["logIndex"]
    );
    {
        use p256::ecdsa::signature::Verifier as _;
        let sig = p256::ecdsa::Signature::from_der(set)
            .map_err(|_| (Problem::InvalidLogEntry, "the SET is not a DER ECDSA signature".to_string()))?;
        log_key.verify(canonical.as_bytes(), &sig).map_err(|_| {
            (
                Problem::InvalidLogEntry,
                format!(
                    "the inclusion promise (SET) does not verify with the key of {}: the entry's time, index or body was altered",
                    log.base_url
                ),
            )
        })?;
    }
    if let Some(proof) = proof {
        let body = B64.decode(body_b64).map_err(|_| malformed("the logged body is not base64"))?;
        proof.verify(&body, log_key, key_id).map_err(|why| (Problem::InvalidLogEntry, why))?;
    }
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| malformed(format!("the certificate's key cannot be read: {e}")))?;
    match content {
        Content::Message { digest, signature } => {
            check_logged_body(body_b64, leaf_der, signature, digest)?;
            // 4. The signature itself.
            verify_prehashed_p256(&spki, digest, signature)?;
        }
        Content::Dsse(envelope) => {
            check_logged_dsse(body_b64, leaf_der, envelope)?;
            let pae = super::payload::pae(envelope.payload_type, envelope.payload);
            verify_prehashed_p256(&spki, &Sha256::digest(&pae), envelope.signature)?;
        }
    }
    Ok(KeylessVerified {
        identity,
        issuer,
        certificate_authority: ca.uri.clone(),
        log: log.base_url.clone(),
        log_index,
        integrated_time,
    })
}

fn verify_prehashed_p256(spki: &[u8], digest: &[u8], signature: &[u8]) -> std::result::Result<(), Rejection> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki)
        .map_err(|_| (Problem::Unsupported, "the certificate's key is not ECDSA P-256".to_string()))?;
    let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| malformed("the signature is not DER ECDSA"))?;
    key.verify_prehash(digest, &sig).map_err(|_| {
        (Problem::WrongKey, "the signature does not verify with the certificate's key over the digest".to_string())
    })
}

/// The transparency-log entry body: base64 of a JSON document.
fn logged_body(body_b64: &str) -> std::result::Result<Value, Rejection> {
    B64.decode(body_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| (Problem::InvalidLogEntry, "the logged body is not base64 JSON".to_string()))
}

/// The SET signs the body; the body must record this signature, certificate and digest.
fn check_logged_body(
    body_b64: &str,
    leaf_der: &[u8],
    signature: &[u8],
    digest: &[u8],
) -> std::result::Result<(), Rejection> {
    let logged = |reason: String| (Problem::InvalidLogEntry, reason);
    let body = logged_body(body_b64)?;
    if body.get("kind").and_then(Value::as_str) != Some("hashedrekord") {
        return Err((
            Problem::Unsupported,
            format!("a {} log entry: wharf checks hashedrekord entries", body.get("kind").unwrap_or(&Value::Null)),
        ));
    }
    let spec = body.get("spec").unwrap_or(&Value::Null);
    if spec.pointer("/data/hash/value").and_then(Value::as_str) != Some(hex(digest).as_str()) {
        return Err(logged("the log entry is for another digest".into()));
    }
    if b64_field(spec, &["signature", "content"]).as_deref() != Some(signature) {
        return Err(logged("the log entry records another signature".into()));
    }
    let pem = b64_field(spec, &["signature", "publicKey", "content"]).unwrap_or_default();
    if pem_der(&pem).as_deref() != Some(leaf_der) {
        return Err(logged("the log entry records another certificate".into()));
    }
    Ok(())
}

/// What a DSSE bundle's log entry must record, by its kind: a `dsse` 0.0.1
/// entry (cosign v2.4+ and v3, sigstore-go, sigstore-js) or an `intoto` 0.0.2 one.
fn check_logged_dsse(body_b64: &str, leaf_der: &[u8], envelope: &Envelope<'_>) -> std::result::Result<(), Rejection> {
    let body = logged_body(body_b64)?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let version = body.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let spec = body.get("spec").unwrap_or(&Value::Null);
    match (kind, version) {
        ("dsse", "0.0.1") => check_dsse_body(spec, leaf_der, envelope),
        ("intoto", "0.0.2") => check_intoto_body(spec, leaf_der, envelope),
        _ => Err((
            Problem::Unsupported,
            format!("a {kind} {version} log entry: wharf checks DSSE bundles logged as dsse 0.0.1 or intoto 0.0.2"),
        )),
    }
}

/// An `intoto` 0.0.2 body must record this signature (base64 of its base64,
/// as Rekor stores it), this certificate and this payload's SHA-256.
fn check_intoto_body(spec: &Value, leaf_der: &[u8], envelope: &Envelope<'_>) -> std::result::Result<(), Rejection> {
    let logged = |reason: String| (Problem::InvalidLogEntry, reason);
    let content = spec.get("content").unwrap_or(&Value::Null);
    let payload_hash = hex(&Sha256::digest(envelope.payload));
    if content.pointer("/payloadHash/value").and_then(Value::as_str) != Some(payload_hash.as_str()) {
        return Err(logged("the log entry is for another payload".into()));
    }
    let sig = content.pointer("/envelope/signatures/0").unwrap_or(&Value::Null);
    let logged_sig = b64_field(sig, &["sig"]).and_then(|inner| B64.decode(inner).ok());
    if logged_sig.as_deref() != Some(envelope.signature) {
        return Err(logged("the log entry records another signature".into()));
    }
    let pem = b64_field(sig, &["publicKey"]).unwrap_or_default();
    if pem_der(&pem).as_deref() != Some(leaf_der) {
        return Err(logged("the log entry records another certificate".into()));
    }
    Ok(())
}

/// A `dsse` 0.0.1 body must record this payload's SHA-256 (`payloadHash`),
/// this signature with this certificate as its `verifier` (PEM), and the
/// SHA-256 of this envelope as the signer submitted it (`envelopeHash`).
fn check_dsse_body(spec: &Value, leaf_der: &[u8], envelope: &Envelope<'_>) -> std::result::Result<(), Rejection> {
    let logged = |reason: String| (Problem::InvalidLogEntry, reason);
    let payload_hash = hex(&Sha256::digest(envelope.payload));
    let logged_payload = sha256_field(spec, "payloadHash")?;
    if logged_payload != payload_hash {
        return Err(logged(format!(
            "the log entry is for another payload (its payloadHash is {logged_payload}, this payload's SHA-256 {payload_hash})"
        )));
    }
    let entry = spec
        .get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| b64_field(s, &["signature"]).as_deref() == Some(envelope.signature))
        .ok_or_else(|| logged("the log entry records another signature".into()))?;
    let pem = b64_field(entry, &["verifier"]).unwrap_or_default();
    if pem_der(&pem).as_deref() != Some(leaf_der) {
        return Err(logged("the log entry records another certificate".into()));
    }
    let logged_envelope = sha256_field(spec, "envelopeHash")?;
    let submitted = submitted_envelopes(envelope.json)?;
    if !submitted.iter().any(|form| hex(&Sha256::digest(form.as_bytes())) == logged_envelope) {
        return Err(logged(format!(
            "the log entry's envelopeHash {logged_envelope} is not the SHA-256 of this envelope: it was altered after it was logged (payload type, key id or signatures)"
        )));
    }
    Ok(())
}

/// The lowercase hex value of a `{algorithm: sha256, value}` field of a log entry body.
fn sha256_field(spec: &Value, name: &str) -> std::result::Result<String, Rejection> {
    let field = spec.get(name).unwrap_or(&Value::Null);
    if field.get("algorithm").and_then(Value::as_str) != Some("sha256") {
        return Err((Problem::InvalidLogEntry, format!("the log entry has no SHA-256 {name}")));
    }
    let value = field.get("value").and_then(Value::as_str).unwrap_or_default();
    Ok(value.to_ascii_lowercase())
}

/// The envelope as signers submit it to Rekor, whose `envelopeHash` is the
/// SHA-256 of those exact bytes: compact JSON, fields in the order `payload`,
/// `payloadType`, `signatures` (each `sig`, then `keyid`), base64 with
/// padding. A non-empty key id is always written; an empty one is left out
/// (Go's and protobuf's JSON, cosign, sigstore-go, sigstore-js's GitHub
/// attestations) or written as `""` (sigstore-js for npm, sigstore-java), so
/// both forms are returned.
fn submitted_envelopes(envelope: &Value) -> std::result::Result<[String; 2], Rejection> {
    Ok([submitted_envelope(envelope, false)?, submitted_envelope(envelope, true)?])
}

/// One form of [`submitted_envelopes`]: with or without empty key ids.
fn submitted_envelope(envelope: &Value, empty_keyid_written: bool) -> std::result::Result<String, Rejection> {
    let payload = json_base64(envelope.get("payload"), "payload")?;
    let payload_type = json_string(envelope.get("payloadType").and_then(Value::as_str).unwrap_or_default());
    let mut signatures = Vec::new();
    for s in envelope.get("signatures").and_then(Value::as_array).into_iter().flatten() {
        let sig = json_base64(s.get("sig"), "signature")?;
        let keyid = s.get("keyid").and_then(Value::as_str).unwrap_or_default();
        signatures.push(if keyid.is_empty() && !empty_keyid_written {
            format!(r#"{{"sig":{sig}}}"#)
        } else {
            format!(r#"{{"sig":{sig},"keyid":{}}}"#, json_string(keyid))
        });
    }
    Ok(format!(r#"{{"payload":{payload},"payloadType":{payload_type},"signatures":[{}]}}"#, signatures.join(",")))
}

/// A base64 field of the envelope as a JSON string, re-encoded as Go and
/// protobuf write bytes (standard alphabet, padded).
fn json_base64(value: Option<&Value>, what: &str) -> std::result::Result<String, Rejection> {
    let bytes = value.and_then(Value::as_str).and_then(|s| B64.decode(s.trim()).ok());
    bytes
        .map(|b| json_string(&B64.encode(b)))
        .ok_or_else(|| malformed(format!("the DSSE envelope's {what} is not base64")))
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    Value::from(text).to_string()
}

/// The DER inside PEM text.
fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(body.trim()).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "keyless_tests.rs"]
mod tests;
