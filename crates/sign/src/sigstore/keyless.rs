//! Keyless (Fulcio certificate) verification, offline: the identity a
//! signature must carry, and what a verified one proves.
//!
//! A keyless Sigstore signature is made with a short-lived key whose
//! certificate Fulcio issued to an OIDC identity; the signature is recorded in
//! a Rekor transparency log, and its time vouched for by the log's inclusion
//! promise (Rekor v1) or an RFC 3161 timestamp (Rekor v2). Every check, for
//! bundles and legacy `.sig` signatures alike, is the verifier's (`sign::verifier`); this
//! module holds the identity side: the expected identity and issuer
//! ([`ExpectedIdentity`], exact or anchored patterns), how they are read from
//! a certificate (the subject alternative name, email, URI or Fulcio's
//! username otherName 1.3.6.1.4.1.57264.1.7; the OIDC issuer
//! extension 1.3.6.1.4.1.57264.1.8, else the deprecated 1.3.6.1.4.1.57264.1.1),
//! (a legacy layer's keyless signature is [`super::legacy`]'s).
//! See `docs/signing.md` for the whole list of checks.

use x509_cert::Certificate;
use x509_cert::der::{self, Decode as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::Problem;
use super::Rejection;
pub use super::trust_root::{PUBLIC_GOOD_DATE, TrustedRoot};

/// Fulcio's OIDC issuer extension (DER UTF8String).
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
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
    /// The transparency log that recorded the signature (its base URL).
    pub log: String,
    /// The entry's index in that log, when the log vouches for it (its SET, or for Rekor v2 its
    /// inclusion proof; a Rekor v1 entry with a proof and no SET has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
    /// When the log says it integrated the entry (Unix seconds), vouched for by its
    /// inclusion promise (Rekor v1; Rekor v2 entries carry no time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<i64>,
    /// The times of the bundle's verified RFC 3161 timestamps (Unix seconds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timestamps: Vec<i64>,
}

/// The SAN (email or URI) and the OIDC issuer of a Fulcio certificate.
fn identity_of(cert: &Certificate) -> Result<(Vec<String>, Option<String>), Rejection> {
    let tbs = cert.tbs_certificate();
    let mut names = Vec::new();
    if let Ok(Some((_, SubjectAltName(general)))) = tbs.get_extension::<SubjectAltName>() {
        for name in general {
            match name {
                GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => names.push(s.to_string()),
                GeneralName::OtherName(other) if other.type_id.to_string() == OID_USERNAME => {
                    names.push(username(&other.value)?);
                }
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

/// The certificate's identity and issuer, checked against `expected`.
pub(crate) fn check_identity(cert: &Certificate, expected: &ExpectedIdentity) -> Result<(String, String), Rejection> {
    let (names, issuer) = identity_of(cert)?;
    let Some(identity) = names.iter().find(|n| expected.identity.matches(n)).cloned() else {
        return Err((
            Problem::WrongIdentity,
            format!("the certificate is for {}, not {}", names.join(", "), expected.identity),
        ));
    };
    match issuer {
        Some(i) if expected.issuer.matches(&i) => Ok((identity, i)),
        Some(i) => Err((Problem::WrongIssuer, format!("the identity was issued by {i}, not {}", expected.issuer))),
        None => Err((Problem::WrongIssuer, "the certificate names no OIDC issuer".to_string())),
    }
}

/// Fulcio's username subject alternative name: an otherName whose value is a
/// UTF8String (sigstore's `cryptoutils.UnmarshalOtherNameSAN`), for identities
/// that are neither an email nor a URI.
const OID_USERNAME: &str = "1.3.6.1.4.1.57264.1.7";

/// The UTF8String of a username otherName; anything else is a malformed certificate.
fn username(value: &der::Any) -> Result<String, Rejection> {
    der::asn1::Utf8StringRef::try_from(value).map(|s| s.as_str().to_string()).map_err(|e| {
        (Problem::Malformed, format!("the certificate's username name ({OID_USERNAME}) is not a UTF8String: {e}"))
    })
}

#[cfg(test)]
#[path = "keyless_tests.rs"]
mod tests;
