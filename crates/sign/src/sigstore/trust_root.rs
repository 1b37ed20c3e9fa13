//! A Sigstore trusted root (`trusted_root.json`), read strictly.
//!
//! The trusted root is what every offline decision rests on: the Fulcio CAs
//! certificates chain to, the Rekor logs whose keys sign entries and
//! checkpoints, the certificate-transparency logs whose keys sign SCTs, and the
//! timestamp authorities. A root that is read leniently widens trust without
//! anyone noticing (a key with no `validFor.start` would be valid forever), so
//! every instance must say when it starts being trusted, times are RFC 3339
//! (with an offset, fractions allowed) and windows are closed intervals (the
//! end is inclusive, as protobuf-specs' `TimeRange` says). A log key of a type
//! wharf cannot use does not make the root unreadable: that log is listed and
//! an entry it signed is refused by name.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::error::{Error, Result};

/// The media types of a trusted root wharf reads.
const MEDIA_TYPES: [&str; 2] = crate::media::TRUSTED_ROOTS;

/// The Sigstore public-good trusted root compiled into wharf: sigstore/root-signing's
/// `targets/trusted_root.json`, last changed 2025-09-22 (commit c9bda74, "first Rekor v2
/// instance"), unchanged at commit 60cf2ce (2026-08-21).
const PUBLIC_GOOD: &[u8] = include_bytes!("public_good_trusted_root.json");
/// The date of [`TrustedRoot::public_good`]'s content, for help texts.
pub const PUBLIC_GOOD_DATE: &str = "2025-09-22";

/// A closed interval of Unix seconds: `validFor` of the trusted root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// The first second (an RFC 3339 start with a fraction rounds up).
    pub start: i64,
    /// The last second, inclusive (a fraction rounds down); none: open-ended.
    pub end: Option<i64>,
}

impl Window {
    /// Whether `t` (Unix seconds) lies in the window, ends included.
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

/// A transparency log's public key, as the trusted root's `keyDetails` names it.
#[derive(Debug, Clone)]
pub(crate) enum LogKey {
    /// ECDSA P-256 with SHA-256 (Rekor v1, the CT logs).
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384 with SHA-384.
    P384(p384::ecdsa::VerifyingKey),
    /// Ed25519 (Rekor v2 logs).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA PKCS#1 v1.5 with SHA-256 (the staging instance's first CT log).
    Rsa(Box<rsa::RsaPublicKey>),
    /// A key wharf cannot use, and why.
    Unusable(String),
}

/// A transparency log (Rekor) or certificate-transparency log of the trusted root.
#[derive(Debug, Clone)]
pub(crate) struct LogInstance {
    /// `baseUrl`.
    pub base_url: String,
    /// `logId.keyId`: how entries and SCTs name the log.
    pub key_id: Vec<u8>,
    /// The key.
    pub key: LogKey,
    /// When the key is trusted.
    pub valid: Window,
}

impl LogInstance {
    /// The host of `baseUrl`: a Rekor v2 log's checkpoint origin.
    pub fn host(&self) -> &str {
        let rest = self.base_url.split_once("://").map_or(self.base_url.as_str(), |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        match host.rsplit_once(':') {
            Some((h, port)) if !h.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    }
}

/// A Fulcio certificate authority of the trusted root.
#[derive(Debug, Clone)]
pub(crate) struct CertificateAuthority {
    /// `uri`, or its subject's common name where there is none.
    pub uri: String,
    /// DER certificates, the issuing (intermediate) certificate first, the root last.
    pub chain: Vec<Vec<u8>>,
    /// When it is trusted.
    pub valid: Window,
}

/// A Sigstore trusted root (`trusted_root.json`, media type
/// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`): Fulcio CAs,
/// Rekor logs, CT logs and (kept as written, for the timestamp module) the
/// timestamp authorities.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub(crate) cas: Vec<CertificateAuthority>,
    pub(crate) tlogs: Vec<LogInstance>,
    pub(crate) ctlogs: Vec<LogInstance>,
    /// The whole document: the RFC 3161 module reads `timestampAuthorities` from it.
    pub(crate) document: Value,
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

/// Unix seconds of an RFC 3339 time with an offset (`2022-04-14T21:38:40Z`,
/// `2023-01-01T00:00:00.000+01:00`), and whether it had a fraction of a second.
pub(crate) fn rfc3339(text: &str) -> Option<(i64, bool)> {
    let t: jiff::Timestamp = text.parse().ok()?;
    Some((t.as_second(), t.subsec_nanosecond() != 0))
}

/// A `validFor` object: `start` required, `end` optional (null or absent).
fn window(value: Option<&Value>, owner: &str) -> std::result::Result<Window, String> {
    let value = value.filter(|v| !v.is_null()).ok_or_else(|| format!("{owner} has no validFor"))?;
    let time = |k: &str| -> std::result::Result<Option<(i64, bool)>, String> {
        match value.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => rfc3339(s)
                .map(Some)
                .ok_or_else(|| format!("{owner}'s validFor.{k} {s:?} is not an RFC 3339 time with an offset")),
            Some(other) => Err(format!("{owner}'s validFor.{k} is {other}, not an RFC 3339 time")),
        }
    };
    let (start, start_fraction) = time("start")?.ok_or_else(|| {
        format!("{owner}'s validFor has no start: a trusted root must say from when each key is trusted")
    })?;
    let start = if start_fraction { start + 1 } else { start };
    let end = time("end")?.map(|(end, _)| end);
    if end.is_some_and(|end| end < start) {
        return Err(format!("{owner}'s validFor ends before it starts"));
    }
    Ok(Window { start, end })
}

fn b64(value: Option<&Value>, what: &str) -> std::result::Result<Vec<u8>, String> {
    let text = value.and_then(Value::as_str).ok_or_else(|| format!("{what} is missing"))?;
    B64.decode(text.trim()).map_err(|_| format!("{what} is not base64"))
}

/// The key of a log instance, by `keyDetails`.
fn log_key(public_key: &Value, owner: &str) -> std::result::Result<LogKey, String> {
    use p256::pkcs8::DecodePublicKey as _;
    let der = b64(public_key.get("rawBytes"), &format!("{owner}'s publicKey.rawBytes"))?;
    let details = public_key.get("keyDetails").and_then(Value::as_str).unwrap_or_default();
    let unreadable = |kind: &str| format!("{owner}'s key is not a valid {kind} key");
    Ok(match details {
        "PKIX_ECDSA_P256_SHA_256" => {
            LogKey::P256(p256::ecdsa::VerifyingKey::from_public_key_der(&der).map_err(|_| unreadable("P-256"))?)
        }
        "PKIX_ECDSA_P384_SHA_384" => {
            LogKey::P384(p384::ecdsa::VerifyingKey::from_public_key_der(&der).map_err(|_| unreadable("P-384"))?)
        }
        "PKIX_ED25519" => {
            LogKey::Ed25519(ed25519_dalek::VerifyingKey::from_public_key_der(&der).map_err(|_| unreadable("Ed25519"))?)
        }
        "PKCS1_RSA_PKCS1V5" => {
            use rsa::pkcs1::DecodeRsaPublicKey as _;
            LogKey::Rsa(Box::new(rsa::RsaPublicKey::from_pkcs1_der(&der).map_err(|_| unreadable("PKCS#1 RSA"))?))
        }
        d if d.starts_with("PKIX_RSA_PKCS1V15_") && d.ends_with("_SHA256") => {
            LogKey::Rsa(Box::new(rsa::RsaPublicKey::from_public_key_der(&der).map_err(|_| unreadable("RSA"))?))
        }
        other => LogKey::Unusable(format!("{owner}'s key type {other:?} is not one wharf verifies")),
    })
}

fn log_instances(doc: &Value, field: &str) -> std::result::Result<Vec<LogInstance>, String> {
    let mut out = Vec::new();
    let Some(list) = doc.get(field).filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    let list = list.as_array().ok_or_else(|| format!("{field} is not a list"))?;
    for (i, log) in list.iter().enumerate() {
        let base_url = log.get("baseUrl").and_then(Value::as_str).unwrap_or_default().to_string();
        let owner = format!("{field}[{i}] ({base_url})");
        if let Some(algorithm) = log.get("hashAlgorithm").and_then(Value::as_str)
            && algorithm != "SHA2_256"
        {
            return Err(format!("{owner} hashes its tree with {algorithm}, not SHA2_256"));
        }
        let key_id = b64(log.pointer("/logId/keyId"), &format!("{owner}'s logId.keyId"))?;
        let public_key = log.get("publicKey").ok_or_else(|| format!("{owner} has no publicKey"))?;
        let valid = window(public_key.get("validFor"), &format!("{owner}'s publicKey"))?;
        let key = log_key(public_key, &owner)?;
        out.push(LogInstance { base_url, key_id, key, valid });
    }
    Ok(out)
}

fn certificate_authorities(doc: &Value) -> std::result::Result<Vec<CertificateAuthority>, String> {
    let mut out = Vec::new();
    let list = doc.get("certificateAuthorities").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (i, ca) in list.iter().enumerate() {
        let uri = ca
            .get("uri")
            .and_then(Value::as_str)
            .or_else(|| ca.pointer("/subject/commonName").and_then(Value::as_str))
            .unwrap_or("(no uri)")
            .to_string();
        let owner = format!("certificateAuthorities[{i}] ({uri})");
        let certificates =
            ca.pointer("/certChain/certificates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if certificates.is_empty() {
            return Err(format!("{owner} has no certificates"));
        }
        let chain = certificates
            .iter()
            .enumerate()
            .map(|(j, c)| b64(c.get("rawBytes"), &format!("{owner}'s certificate {j}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let valid = window(ca.get("validFor"), &owner)?;
        out.push(CertificateAuthority { uri, chain, valid });
    }
    Ok(out)
}

impl TrustedRoot {
    /// The Sigstore public-good trusted root compiled into wharf (see [`PUBLIC_GOOD_DATE`]).
    pub fn public_good() -> Result<Self> {
        Self::from_json("the built-in public-good trusted root", PUBLIC_GOOD)
    }

    /// Reads a `trusted_root.json`. `what` names the file in errors.
    pub fn from_json(what: &str, bytes: &[u8]) -> Result<Self> {
        let document: Value =
            serde_json::from_slice(bytes).map_err(|e| root_error(what, format!("it is not JSON: {e}")))?;
        let media_type = document.get("mediaType").and_then(Value::as_str).unwrap_or_default();
        if !MEDIA_TYPES.contains(&media_type) {
            return Err(root_error(what, format!("its mediaType {media_type:?} is not a trusted root's")));
        }
        let cas = certificate_authorities(&document).map_err(|e| root_error(what, e))?;
        let tlogs = log_instances(&document, "tlogs").map_err(|e| root_error(what, e))?;
        let ctlogs = log_instances(&document, "ctlogs").map_err(|e| root_error(what, e))?;
        if tlogs.is_empty() {
            return Err(root_error(what, "it lists no tlogs (Rekor)"));
        }
        Ok(TrustedRoot { cas, tlogs, ctlogs, document })
    }

    /// The Rekor log whose `logId.keyId` is `key_id`.
    pub(crate) fn tlog(&self, key_id: &[u8]) -> Option<&LogInstance> {
        self.tlogs.iter().find(|l| l.key_id == key_id)
    }

    /// The CT log whose `logId.keyId` is `key_id`.
    pub(crate) fn ctlog(&self, key_id: &[u8]) -> Option<&LogInstance> {
        self.ctlogs.iter().find(|l| l.key_id == key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_take_offsets_and_fractions() {
        assert_eq!(rfc3339("2023-07-12T15:56:36Z"), Some((1689177396, false)));
        assert_eq!(rfc3339("2023-07-12T17:56:36+02:00"), Some((1689177396, false)));
        assert_eq!(rfc3339("2022-10-31T23:59:59.999Z").map(|t| t.1), Some(true));
        assert_eq!(rfc3339("2023-07-12 15:56:36"), None, "no offset: ambiguous");
        assert_eq!(rfc3339("yesterday"), None);
    }

    #[test]
    fn a_window_is_closed_and_needs_a_start() {
        let owner = "tlogs[0]";
        let w =
            window(Some(&serde_json::json!({"start": "2023-07-12T15:56:36Z", "end": "2023-07-12T15:56:40Z"})), owner)
                .expect("a window");
        assert!(w.contains(1689177396) && w.contains(1689177400));
        assert!(!w.contains(1689177395) && !w.contains(1689177401));
        let open =
            window(Some(&serde_json::json!({"start": "2023-07-12T15:56:36Z", "end": null})), owner).expect("open");
        assert!(open.contains(i64::MAX));
        let fraction = window(Some(&serde_json::json!({"start": "2023-07-12T15:56:35.5Z"})), owner).expect("a window");
        assert_eq!(fraction.start, 1689177396, "a fractional start is not yet reached at its whole second");
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"end": "2023-07-12T15:56:36Z"}),
            serde_json::json!({"start": "not a time"}),
            serde_json::json!({"start": 1689177396}),
            serde_json::json!({"start": "2023-07-12T15:56:36Z", "end": "2023-07-12T15:56:35Z"}),
        ] {
            assert!(window(Some(&bad), owner).is_err(), "{bad}");
        }
        assert!(window(None, owner).is_err());
    }

    #[test]
    fn the_built_in_public_good_root_reads() {
        let root = TrustedRoot::public_good().expect("the built-in root reads");
        assert_eq!(root.cas.len(), 2);
        assert!(
            root.tlogs
                .iter()
                .any(|l| matches!(l.key, LogKey::Ed25519(_)) && l.host() == "log2025-1.rekor.sigstore.dev")
        );
        assert!(root.tlogs.iter().any(|l| matches!(l.key, LogKey::P256(_)) && l.host() == "rekor.sigstore.dev"));
        assert_eq!(root.ctlogs.len(), 2);
    }

    #[test]
    fn hosts_come_from_base_urls() {
        let log = |url: &str| LogInstance {
            base_url: url.into(),
            key_id: Vec::new(),
            key: LogKey::Unusable(String::new()),
            valid: Window { start: 0, end: None },
        };
        assert_eq!(log("https://log2025-1.rekor.sigstore.dev").host(), "log2025-1.rekor.sigstore.dev");
        assert_eq!(log("https://rekor.example:8443/api").host(), "rekor.example");
        assert_eq!(log("http://rekor-local").host(), "rekor-local");
    }
}
