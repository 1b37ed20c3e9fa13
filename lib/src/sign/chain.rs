//! Certificate path validation of a Fulcio certificate, at the signing time.
//!
//! Sigstore's certificates are short-lived, so a signature is valid if, at a
//! verified time of signing (the log's integrated time, or an RFC 3161
//! timestamp), every certificate of the path was valid: the "hybrid model" of
//! the client specification (§4.3), RFC 5280 §6 path validation with that time
//! as "now". For the path leaf → the trusted root's CA chain (intermediate
//! first, root last), at each time given, this checks:
//!
//! - every certificate's validity period, and the CA's `validFor` in the trusted root;
//! - each issuer's name is its child's issuer, and its key signed the child
//!   (ECDSA P-256/P-384 or RSA PKCS#1 v1.5, with SHA-2);
//! - each issuer is a CA (`basicConstraints` cA), may sign certificates
//!   (`keyUsage` keyCertSign, when present), and its `pathLenConstraint` allows
//!   the intermediates below it;
//! - the leaf is not a CA, may sign (`keyUsage` digitalSignature, when
//!   present), and is issued for code signing (extended key usage);
//! - no certificate has a critical extension this code does not process.
//!
//! Certificates the bundle carries besides the leaf are not trusted: roots come
//! from the trusted root only (a bundle whose chain carries a self-signed
//! certificate of its own is refused), and any other certificate is accepted
//! only if the trusted root lists it (client specification §4.6, "out-of-band
//! intermediate CAs"); the path is always built from the trusted root's chain.

use sha2::{Digest as _, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use super::Problem;
use super::trust_root::{CertificateAuthority, TrustedRoot};

type Rejection = (Problem, String);

/// The code-signing extended key usage (Fulcio sets it on every certificate).
const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";

/// The extensions this module (or the identity and SCT checks) processes: a
/// critical extension outside this list fails the certificate.
const UNDERSTOOD: [&str; 7] = [
    "2.5.29.15",               // keyUsage
    "2.5.29.19",               // basicConstraints
    "2.5.29.37",               // extKeyUsage
    "2.5.29.17",               // subjectAltName (critical when the subject is empty, as Fulcio's)
    "2.5.29.14",               // subjectKeyIdentifier
    "2.5.29.35",               // authorityKeyIdentifier
    "1.3.6.1.4.1.11129.2.4.2", // embedded SCTs
];

fn untrusted(reason: impl Into<String>) -> Rejection {
    (Problem::UntrustedCertificate, reason.into())
}

/// A certificate that passed path validation: the CA it chains to and its issuer (for SCTs).
pub(crate) struct Validated<'a> {
    /// The trusted root's CA.
    pub ca: &'a CertificateAuthority,
    /// The leaf's issuing certificate (the first of the CA's chain).
    pub issuer: Certificate,
}

/// Validates `leaf` (with `extra`, the other certificates of the bundle's
/// chain) against the trusted root's CAs at every time in `times`.
pub(crate) fn validate<'a>(
    leaf_der: &[u8],
    leaf: &Certificate,
    extra: &[Vec<u8>],
    root: &'a TrustedRoot,
    times: &[i64],
) -> Result<Validated<'a>, Rejection> {
    check_extra(extra, root)?;
    check_leaf(leaf)?;
    if root.cas.is_empty() {
        return Err(untrusted("the trusted root lists no certificate authorities (Fulcio)"));
    }
    let mut reasons = Vec::new();
    for ca in &root.cas {
        match validate_with(leaf_der, leaf, ca, times) {
            Ok(issuer) => return Ok(Validated { ca, issuer }),
            Err(why) => reasons.push(format!("{}: {why}", ca.uri)),
        }
    }
    Err(untrusted(format!(
        "the certificate does not chain to a Fulcio CA of the trusted root ({})",
        reasons.join("; ")
    )))
}

/// The bundle's certificates besides the leaf are never trusted, only
/// checked: each must be a certificate the trusted root lists. A root
/// (self-signed) certificate of its own is refused by name; the trusted
/// root's own root, which v0.1 bundles of 2023 carry (sigstore-js wrote the
/// whole chain), is redundant and ignored, as sigstore-python and sigstore-go do.
fn check_extra(extra: &[Vec<u8>], root: &TrustedRoot) -> Result<(), Rejection> {
    for der in extra {
        let cert = Certificate::from_der(der)
            .map_err(|e| (Problem::Malformed, format!("a chain certificate does not parse: {e}")))?;
        if root.cas.iter().any(|ca| ca.chain.iter().any(|c| c == der)) {
            continue;
        }
        return Err(untrusted(if self_issued(&cert) {
            "the bundle's chain carries a root certificate (self-signed) that is not the trusted root's: roots come only from the trusted root"
        } else {
            "the bundle's chain carries an intermediate certificate the trusted root does not list"
        }));
    }
    Ok(())
}

fn self_issued(cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    matches!((tbs.issuer().to_der(), tbs.subject().to_der()), (Ok(i), Ok(s)) if i == s)
}

/// The leaf's own constraints: not a CA, may sign, code signing.
fn check_leaf(leaf: &Certificate) -> Result<(), Rejection> {
    let tbs = leaf.tbs_certificate();
    if matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca) {
        return Err(untrusted("the signing certificate is a CA certificate (basicConstraints cA)"));
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.digital_signature() => {
            return Err(untrusted("the signing certificate's key usage does not allow digital signatures"));
        }
        Err(e) => return Err(untrusted(format!("the signing certificate's key usage does not parse: {e}"))),
        _ => {}
    }
    let eku = tbs.get_extension::<ExtendedKeyUsage>();
    if !matches!(eku, Ok(Some((_, ExtendedKeyUsage(usages)))) if usages.iter().any(|u| u.to_string() == CODE_SIGNING)) {
        return Err(untrusted("the certificate is not issued for code signing (extended key usage)"));
    }
    Ok(())
}

/// The path leaf → `ca`'s chain, at every time; the leaf's issuer on success.
fn validate_with(
    leaf_der: &[u8],
    leaf: &Certificate,
    ca: &CertificateAuthority,
    times: &[i64],
) -> Result<Certificate, String> {
    let chain = ca
        .chain
        .iter()
        .map(|der| Certificate::from_der(der).map_err(|e| format!("a CA certificate does not parse ({e})")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut path: Vec<(&[u8], &Certificate)> = vec![(leaf_der, leaf)];
    path.extend(ca.chain.iter().map(Vec::as_slice).zip(chain.iter()));
    for (k, pair) in path.windows(2).enumerate() {
        let ((child_der, child), (_, issuer)) = (pair[0], pair[1]);
        let which = if k == 0 { "the certificate".to_string() } else { format!("its certificate {}", k - 1) };
        check_issuer(issuer, k, &format!("its certificate {k}"))?;
        if child.tbs_certificate().issuer().to_der().ok() != issuer.tbs_certificate().subject().to_der().ok() {
            return Err(format!("{which} names another issuer than its certificate {k}"));
        }
        signed_by(child_der, child, issuer)
            .map_err(|e| format!("{which} is not signed by its certificate {k}: {e}"))?;
    }
    for (k, (_, cert)) in path.iter().enumerate() {
        critical_extensions_understood(cert).map_err(|e| format!("{}: {e}", position(k)))?;
    }
    for &t in times {
        if !ca.valid.contains(t) {
            return Err(format!("the CA was not valid (trusted root validFor) at {t}"));
        }
        for (k, (_, cert)) in path.iter().enumerate() {
            let (not_before, not_after) = validity(cert);
            if t < not_before || t > not_after {
                return Err(format!(
                    "{} (valid {not_before}..{not_after}) had expired or was not yet valid at the signing time {t}",
                    position(k)
                ));
            }
        }
    }
    chain.into_iter().next().ok_or_else(|| "the CA has no certificates".to_string())
}

fn position(k: usize) -> String {
    if k == 0 { "the signing certificate".into() } else { format!("CA certificate {}", k - 1) }
}

/// An issuer at `depth` (1 = the leaf's issuer) must be a CA allowed to sign
/// certificates, with a path length that allows `depth - 1` intermediates below it.
fn check_issuer(issuer: &Certificate, below: usize, which: &str) -> Result<(), String> {
    let tbs = issuer.tbs_certificate();
    let constraints = match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => bc,
        Ok(_) => return Err(format!("{which} is not a CA certificate (basicConstraints)")),
        Err(e) => return Err(format!("{which}'s basicConstraints do not parse ({e})")),
    };
    if let Some(limit) = constraints.path_len_constraint
        && below > usize::from(limit)
    {
        return Err(format!(
            "{which} allows {limit} intermediate(s) below it (pathLenConstraint), the path has {below}"
        ));
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.key_cert_sign() => {
            Err(format!("{which}'s key usage does not allow signing certificates"))
        }
        Err(e) => Err(format!("{which}'s key usage does not parse ({e})")),
        _ => Ok(()),
    }
}

fn critical_extensions_understood(cert: &Certificate) -> Result<(), String> {
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        let oid = ext.extn_id.to_string();
        if ext.critical && !UNDERSTOOD.contains(&oid.as_str()) {
            return Err(format!("it has a critical extension wharf does not process ({oid})"));
        }
    }
    Ok(())
}

/// A certificate's validity period, Unix seconds.
pub(crate) fn validity(cert: &Certificate) -> (i64, i64) {
    let v = cert.tbs_certificate().validity();
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    (secs(v.not_before), secs(v.not_after))
}

/// The raw bytes of the first element inside a DER SEQUENCE (a certificate's TBSCertificate).
pub(crate) fn tbs_bytes(cert_der: &[u8]) -> Option<&[u8]> {
    use x509_cert::der::{Reader as _, SliceReader, asn1::AnyRef};
    let outer = AnyRef::from_der(cert_der).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    let before = reader.remaining_len();
    let _tbs: AnyRef<'_> = reader.decode().ok()?;
    let used = usize::try_from(u32::from(before) - u32::from(reader.remaining_len())).ok()?;
    outer.value().get(..used)
}

/// Checks that `issuer`'s key signed `cert_der`.
fn signed_by(cert_der: &[u8], cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let tbs = tbs_bytes(cert_der).ok_or("the certificate's DER cannot be split")?;
    let spki = issuer.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let signature = cert.signature().as_bytes().ok_or("the signature has unused bits")?;
    verify_signature(&spki, &cert.signature_algorithm().oid.to_string(), tbs, signature)
}

/// Verifies a certificate signature over `message`, by its algorithm OID,
/// with the issuer's SubjectPublicKeyInfo `spki`: ECDSA (P-256 or P-384) or
/// RSA PKCS#1 v1.5, with SHA-256, SHA-384 or SHA-512.
pub(crate) fn verify_signature(spki: &[u8], algorithm: &str, message: &[u8], signature: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let prehash = match algorithm {
        "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => Sha256::digest(message).to_vec(),
        "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => Sha384::digest(message).to_vec(),
        "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => Sha512::digest(message).to_vec(),
        other => return Err(format!("signature algorithm {other} is not ECDSA or RSA PKCS#1 v1.5 with SHA-2")),
    };
    let bad = || "the signature does not verify".to_string();
    if algorithm.starts_with("1.2.840.113549.1.1.") {
        let key = rsa::RsaPublicKey::from_public_key_der(spki).map_err(|_| "the issuer's key is not RSA")?;
        let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| bad())?;
        return match algorithm {
            "1.2.840.113549.1.1.11" => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key).verify_prehash(&prehash, &sig),
            "1.2.840.113549.1.1.12" => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key).verify_prehash(&prehash, &sig),
            _ => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key).verify_prehash(&prehash, &sig),
        }
        .map_err(|_| bad());
    }
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| "the signature is not DER ECDSA")?;
        return key.verify_prehash(&prehash, &sig).map_err(|_| bad());
    }
    if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
        let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| "the signature is not DER ECDSA")?;
        return key.verify_prehash(&prehash, &sig).map_err(|_| bad());
    }
    Err("the issuer's key is not ECDSA P-256 or P-384".into())
}
