//! The one Sigstore verification procedure: every bundle (`wharf verify-blob`,
//! the bundle referrers of `wharf verify`, the admission webhook's
//! authorities) and every legacy `.sig` signature goes through [`verify`].
//!
//! The steps follow the Sigstore client specification (§4, "Verification"):
//!
//! 1. the bundle is read strictly ([`super::bundle`]), and its signer must be
//!    the kind the trust asks for (a certificate for keyless, a key for a key);
//! 2. what is signed is checked: a DSSE envelope's `payloadType` is in-toto's
//!    and its payload an in-toto statement;
//! 3. with a trusted root: exactly one transparency-log entry, verified with the
//!    root's logs ([`super::tlog`]); its SET's integrated time is a verified time;
//! 4. the RFC 3161 timestamps (at most 32), each verified against the root's
//!    timestamp authorities, are verified times too, one per authority; one
//!    that does not verify is skipped (as sigstore-go and sigstore-python do),
//!    its reason kept for the message; at least one verified time is required;
//! 5. keyless: the certificate path is valid at every verified time
//!    ([`super::chain`]), the certificate carries a valid SCT ([`super::sct`]),
//!    and names the expected identity and issuer;
//! 6. the signature verifies with the certificate's or the given key;
//! 7. the bundle signs the artifact: a message signature's digest is the
//!    artifact's; a statement names it as a subject.

use sha2::{Digest as _, Sha256, Sha384};
use x509_cert::Certificate;
use x509_cert::der::{Decode as _, Encode as _};

use super::bundle::{Bundle, Content, LogEntry, Material};
use super::chain::SigningTime;
use super::keyless::{ExpectedIdentity, KeylessVerified};
use super::tlog::{CLOCK_SKEW, Signer};
use super::trust_root::TrustedRoot;
use super::{Problem, Rejection, Trust};
use crate::keys::{PublicKey, SignatureProblem};
use crate::payload;

fn malformed(reason: impl Into<String>) -> Rejection {
    (Problem::Malformed, reason.into())
}

/// What a verified bundle proves.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    /// Who signed, for a keyless bundle.
    pub keyless: Option<KeylessVerified>,
    /// The log that recorded it, when a trusted root was used, and the entry's index when
    /// what the log signed vouches for it (see [`super::tlog::Logged::log_index`]).
    pub log: Option<(String, Option<i64>)>,
    /// The SET's integrated time, if any.
    pub integrated_time: Option<i64>,
    /// The verified RFC 3161 timestamps.
    pub timestamps: Vec<i64>,
    /// The DSSE payload (an in-toto statement), for a DSSE bundle.
    pub statement: Option<Vec<u8>>,
}

/// The in-toto statement types accepted inside a DSSE envelope.
const STATEMENT_TYPES: [&str; 2] = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];

/// Who judges a DSSE statement's subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subjects {
    /// The verifier: a subject must be the artifact (`verify-blob`).
    MustNameArtifact,
    /// The caller, with the statement returned: `wharf verify` first tells an
    /// attestation from an image signature (its predicate type), then checks
    /// the subject and its annotations.
    JudgedByCaller,
}

/// Verifies `bundle` as signing the artifact whose SHA-256 is `artifact`,
/// against `trust`, at `now` (Unix seconds; integrated times beyond it fail).
pub(crate) fn verify(
    bundle: &Bundle,
    artifact: &[u8],
    subjects: Subjects,
    trust: &Trust,
    now: i64,
) -> Result<Verified, Rejection> {
    let (root, key, expected) = match trust {
        Trust::Key(key) => (None, Some(key), None),
        Trust::ManagedKey { key, root } => (Some(root), Some(key), None),
        Trust::Keyless { root, expected } => (Some(root), None, Some(expected)),
    };
    let completed = with_artifact_digest(bundle, artifact);
    let bundle = completed.as_ref().unwrap_or(bundle);
    let signer = signer_of(bundle, key)?;
    let statement = check_content(&bundle.content)?;
    let mut verified = Verified { keyless: None, log: None, integrated_time: None, timestamps: Vec::new(), statement };
    let times = match root {
        Some(root) => logged_and_timed(bundle, &signer, root, now, &mut verified)?,
        None => Vec::new(),
    };
    match (&signer, root, expected) {
        (SignerMaterial::Certificate { leaf_der, leaf, extra }, Some(root), Some(expected)) => {
            verified.keyless =
                Some(certified(leaf_der, leaf, extra, root, expected, &times, &bundle.content, &verified)?);
        }
        (SignerMaterial::Key(key), _, _) => check_key_signature(key, &bundle.content, key_hint(bundle))?,
        _ => return Err(malformed("internal: the trust and the bundle's signer do not pair")),
    }
    let statement = verified.statement.as_deref().filter(|_| subjects == Subjects::MustNameArtifact);
    check_artifact(bundle, artifact, statement)?;
    Ok(verified)
}

/// With a trusted root: the one log entry, verified (its log, index and
/// integrated time go into `verified`), the RFC 3161 timestamps, and the
/// verified times of signing they give (at least one).
fn logged_and_timed(
    bundle: &Bundle,
    signer: &SignerMaterial<'_>,
    root: &TrustedRoot,
    now: i64,
    verified: &mut Verified,
) -> Result<Vec<SigningTime>, Rejection> {
    let entry = only_entry(bundle)?;
    let key_der;
    let recorded = match signer {
        SignerMaterial::Certificate { leaf_der, .. } => Signer::Certificate(leaf_der),
        SignerMaterial::Key(key) => {
            key_der = key.to_der();
            Signer::Key(&key_der)
        }
    };
    let logged = super::tlog::verify(entry, root, &recorded, &bundle.content, signed_digest(bundle), now)?;
    verified.log = Some((logged.log.base_url.clone(), logged.log_index));
    verified.integrated_time = logged.integrated_time;
    let (stamped, skipped) = timestamps(bundle, root, now)?;
    verified.timestamps = stamped;
    let times = signing_times(verified);
    if times.is_empty() && skipped.is_empty() {
        return Err((
            Problem::InvalidLogEntry,
            "no verified time of signing: the log entry has no inclusion promise (Rekor v2 entries never do) and the bundle no RFC 3161 timestamp".into(),
        ));
    }
    if times.is_empty() {
        return Err((
            Problem::InvalidTimestamp,
            format!(
                "no verified time of signing: the log entry has no inclusion promise and no RFC 3161 timestamp verifies ({})",
                skipped.join("; ")
            ),
        ));
    }
    // The log's key must be valid at every verified time: a Rekor v2 entry, or a Rekor v1 entry
    // without a SET, has no time of its own, and a timestamp's time is a time of logging too.
    if let Some(t) = times.iter().find(|t| !logged.log.valid.contains(t.at)) {
        return Err((
            Problem::InvalidLogEntry,
            format!("the log {}'s key was not valid at the signing time {} ({})", logged.log.base_url, t.at, t.source),
        ));
    }
    Ok(times)
}

/// The bundle's one transparency-log entry.
fn only_entry(bundle: &Bundle) -> Result<&LogEntry, Rejection> {
    match bundle.entries.as_slice() {
        [entry] => Ok(entry),
        [] => Err((
            Problem::InvalidLogEntry,
            "the signature has no transparency-log entry (no inclusion promise, no inclusion proof): it was not logged, or the entry was left out".into(),
        )),
        more => Err((
            Problem::InvalidLogEntry,
            format!("the bundle carries {} transparency-log entries; verification needs exactly one", more.len()),
        )),
    }
}

/// The verified times of signing, each with where it comes from.
fn signing_times(verified: &Verified) -> Vec<SigningTime> {
    let integrated = verified.integrated_time.map(|at| SigningTime { at, source: "the log's integrated time".into() });
    let stamped = verified
        .timestamps
        .iter()
        .enumerate()
        .map(|(i, at)| SigningTime { at: *at, source: format!("RFC 3161 timestamp {i}") });
    integrated.into_iter().chain(stamped).collect()
}

/// The signer of the bundle, as the trust needs it.
enum SignerMaterial<'a> {
    Certificate { leaf_der: &'a [u8], leaf: Box<Certificate>, extra: &'a [Vec<u8>] },
    Key(&'a PublicKey),
}

fn signer_of<'a>(bundle: &'a Bundle, key: Option<&'a PublicKey>) -> Result<SignerMaterial<'a>, Rejection> {
    match (&bundle.material, key) {
        (Material::Certificates(certificates), None) => {
            let (leaf_der, extra) =
                certificates.split_first().ok_or_else(|| malformed("the bundle's certificate chain is empty"))?;
            let leaf = Certificate::from_der(leaf_der)
                .map_err(|e| malformed(format!("the signing certificate does not parse: {e}")))?;
            Ok(SignerMaterial::Certificate { leaf_der, leaf: Box::new(leaf), extra })
        }
        (Material::PublicKey { .. }, Some(key)) => Ok(SignerMaterial::Key(key)),
        (Material::Certificates(_), Some(_)) => Err((Problem::NeedsIdentity, super::WANTS_IDENTITY.into())),
        (Material::PublicKey { .. }, None) => Err((Problem::NeedsKey, super::WANTS_KEY.into())),
    }
}

/// What is signed must be what Sigstore signs: a DSSE envelope holds an
/// in-toto statement (`payloadType` and `_type`). Returns the statement.
fn check_content(content: &Content) -> Result<Option<Vec<u8>>, Rejection> {
    let Content::Dsse(envelope) = content else {
        return Ok(None);
    };
    if envelope.payload_type != payload::IN_TOTO_PAYLOAD_TYPE {
        return Err(malformed(format!(
            "the DSSE payload type is {:?}, not {} (an in-toto statement)",
            envelope.payload_type,
            payload::IN_TOTO_PAYLOAD_TYPE
        )));
    }
    let statement = payload::parse_statement(&envelope.payload).map_err(malformed)?;
    if !STATEMENT_TYPES.contains(&statement.kind.as_str()) {
        return Err(malformed(format!("the DSSE payload's _type {:?} is not an in-toto statement's", statement.kind)));
    }
    Ok(Some(envelope.payload.clone()))
}

/// The `publicKey.hint` the bundle names, if any.
fn key_hint(bundle: &Bundle) -> Option<&str> {
    match &bundle.material {
        Material::PublicKey { hint } => hint.as_deref(),
        Material::Certificates(_) => None,
    }
}

/// The digest the log entry records for a message signature (the bundle's own).
fn signed_digest(bundle: &Bundle) -> &[u8] {
    match &bundle.content {
        Content::Message { digest, .. } => digest,
        Content::Dsse(_) => &[],
    }
}

/// The verified times of the bundle's RFC 3161 timestamps, each over the
/// signature bytes, from a timestamp authority of the trusted root
/// ([`super::timestamp`]: the token's signature and chain, the TSA's validity
/// window), one per authority; and why each other one was skipped (it does not
/// verify, its time is beyond `now`, or its authority was counted already).
fn timestamps(bundle: &Bundle, root: &TrustedRoot, now: i64) -> Result<(Vec<i64>, Vec<String>), Rejection> {
    if bundle.timestamps.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    if bundle.timestamps.len() > MAX_TIMESTAMPS {
        return Err((
            Problem::InvalidTimestamp,
            format!(
                "the bundle carries {} RFC 3161 timestamps, more than the {MAX_TIMESTAMPS} a verifier checks (sigstore-go and sigstore-python refuse them too)",
                bundle.timestamps.len()
            ),
        ));
    }
    let authorities = super::timestamp::parse_authorities(&root.document).map_err(|why| {
        (Problem::InvalidTimestamp, format!("the trusted root's timestamp authorities cannot be used: {why}"))
    })?;
    let (mut times, mut skipped, mut counted) = (Vec::new(), Vec::new(), Vec::new());
    for (i, token) in bundle.timestamps.iter().enumerate() {
        match super::timestamp::verify_naming_authority(token, bundle.content.signature(), &authorities) {
            Err(why) => skipped.push(format!("RFC 3161 timestamp {i}: {why}")),
            Ok((time, _)) if time > now + CLOCK_SKEW => {
                skipped.push(format!("RFC 3161 timestamp {i} is in the future ({time}, now {now})"));
            }
            Ok((_, authority)) if counted.contains(&authority) => {
                skipped.push(format!("RFC 3161 timestamp {i} is another of {authority}, counted once"));
            }
            Ok((time, authority)) => {
                times.push(time);
                counted.push(authority);
            }
        }
    }
    Ok((times, skipped))
}

/// Keyless: the certificate path at every verified time, its SCT, the
/// identity and issuer, and the signature with the certificate's key.
#[allow(clippy::too_many_arguments)]
fn certified(
    leaf_der: &[u8],
    leaf: &Certificate,
    extra: &[Vec<u8>],
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
    times: &[SigningTime],
    content: &Content,
    verified: &Verified,
) -> Result<KeylessVerified, Rejection> {
    let validated = super::chain::validate(leaf_der, leaf, extra, root, times)?;
    super::sct::verify(leaf_der, leaf, &validated.issuer, root)?;
    let (identity, issuer) = super::keyless::check_identity(leaf, expected)?;
    check_certificate_signature(leaf, content)?;
    let (log, log_index) = verified.log.clone().unwrap_or_default();
    Ok(KeylessVerified {
        identity,
        issuer,
        certificate_authority: validated.ca.uri.clone(),
        log,
        log_index,
        integrated_time: verified.integrated_time,
        timestamps: verified.timestamps.clone(),
    })
}

/// The signature, with the certificate's key: ECDSA P-256 over the message
/// digest (or SHA-256 of DSSE's PAE), or P-384 over SHA-384 of the PAE.
fn check_certificate_signature(leaf: &Certificate, content: &Content) -> Result<(), Rejection> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| malformed(format!("the certificate's key cannot be read: {e}")))?;
    let wrong = || (Problem::WrongKey, "the signature does not verify with the certificate's key".to_string());
    let not_der = || malformed("the signature is not a DER ECDSA signature");
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(&spki) {
        let (prehash, signature) = match content {
            Content::Message { digest, signature } => (digest.clone(), signature),
            Content::Dsse(e) => (Sha256::digest(payload::pae(&e.payload_type, &e.payload)).to_vec(), &e.signature),
        };
        let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| not_der())?;
        return key.verify_prehash(&prehash, &sig).map_err(|_| wrong());
    }
    if let (Ok(key), Content::Dsse(e)) = (p384::ecdsa::VerifyingKey::from_public_key_der(&spki), content) {
        let prehash = Sha384::digest(payload::pae(&e.payload_type, &e.payload));
        let sig = p384::ecdsa::Signature::from_der(&e.signature).map_err(|_| not_der())?;
        return key.verify_prehash(&prehash, &sig).map_err(|_| wrong());
    }
    Err((
        Problem::Unsupported,
        "the certificate's key is not ECDSA P-256 (or P-384 for a DSSE envelope): wharf verifies those".into(),
    ))
}

/// The signature, with the given key: over the message digest, or over DSSE's PAE.
fn check_key_signature(key: &PublicKey, content: &Content, hint: Option<&str>) -> Result<(), Rejection> {
    let outcome = match content {
        Content::Message { digest, signature } => key.verify_sha256_digest(digest, signature),
        Content::Dsse(e) => key.verify(&payload::pae(&e.payload_type, &e.payload), &e.signature),
    };
    outcome.map_err(|problem| key_rejection(key, problem, hint))
}

/// Why a signature did not verify with `key`, in words; `hint` is the key the
/// bundle names (`publicKey.hint`), if any.
pub(crate) fn key_rejection(key: &PublicKey, problem: SignatureProblem, hint: Option<&str>) -> Rejection {
    match problem {
        SignatureProblem::Malformed => {
            malformed(format!("the signature is not a well-formed {} signature", key.algorithm().name()))
        }
        SignatureProblem::NeedsMessage => (
            Problem::Unsupported,
            format!("a {} key cannot verify a signature over a digest alone (a message signature)", key.algorithm().name()),
        ),
        SignatureProblem::WrongKeyOrContent => (
            Problem::WrongKey,
            match hint {
                Some(h) if h != key.hint() => format!(
                    "the signature does not verify with this key: the bundle names another key (hint {h}, this key's is {})",
                    key.hint()
                ),
                _ => "the signature does not verify with this key: it was made by another key, or the signed content was altered".into(),
            },
        ),
    }
}

/// The bundle must sign the artifact (checked last, so that every finding
/// about a bundle moved from another artifact is reported first).
fn check_artifact(bundle: &Bundle, artifact: &[u8], statement: Option<&[u8]>) -> Result<(), Rejection> {
    let hex = wharf_oci::digest::hex(artifact);
    match (&bundle.content, statement) {
        (Content::Message { digest, .. }, _) if digest.as_slice() != artifact => Err((
            Problem::DigestMismatch,
            format!("it signs sha256:{}, not sha256:{hex} (the artifact's digest)", wharf_oci::digest::hex(digest)),
        )),
        (Content::Dsse(_), Some(statement)) => {
            let statement = payload::parse_statement(statement).map_err(malformed)?;
            if statement.subjects.iter().any(|(d, _)| d.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(&hex))) {
                return Ok(());
            }
            let named: Vec<String> =
                statement.subjects.iter().filter_map(|(d, _)| d.as_ref().map(|h| format!("sha256:{h}"))).collect();
            Err((
                Problem::DigestMismatch,
                format!("the statement's subjects are {}, not sha256:{hex} (the artifact's digest)", named.join(", ")),
            ))
        }
        _ => Ok(()),
    }
}

/// A message-signature bundle without a `messageDigest` (optional in
/// protobuf-specs) signs the artifact's digest, as sigstore-python reads it:
/// that bundle with the artifact's digest filled in; none for any other
/// bundle. The signature, and the log entry's digest, must then be of the
/// artifact.
fn with_artifact_digest(bundle: &Bundle, artifact: &[u8]) -> Option<Bundle> {
    match &bundle.content {
        Content::Message { digest, signature } if digest.is_empty() => Some(Bundle {
            content: Content::Message { digest: artifact.to_vec(), signature: signature.clone() },
            ..bundle.clone()
        }),
        _ => None,
    }
}

/// The most RFC 3161 timestamps a bundle may carry, each costing a CMS
/// signature and a chain to verify: sigstore-go's `limits.MaxAllowedTimestamps`
/// and sigstore-python's `MAX_ALLOWED_TIMESTAMP`.
const MAX_TIMESTAMPS: usize = 32;

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
