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
//! - the leaf is not a CA, may sign (`keyUsage` with digitalSignature,
//!   required, as sigstore-python does), and is issued for code signing
//!   (extended key usage);
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

/// A verified time of signing (Unix seconds) and where it comes from, for messages.
#[derive(Debug, Clone)]
pub(crate) struct SigningTime {
    /// Unix seconds.
    pub at: i64,
    /// "the log's integrated time", "RFC 3161 timestamp 0".
    pub source: String,
}

/// Validates `leaf` (with `extra`, the other certificates of the bundle's
/// chain) against the trusted root's CAs at every time in `times`.
pub(crate) fn validate<'a>(
    leaf_der: &[u8],
    leaf: &Certificate,
    extra: &[Vec<u8>],
    root: &'a TrustedRoot,
    times: &[SigningTime],
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
        Ok(None) => {
            return Err(untrusted(
                "the signing certificate has no key usage extension (a Fulcio certificate's allows digital signatures)",
            ));
        }
        Ok(Some(_)) => {}
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
    times: &[SigningTime],
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
        if child.tbs_certificate().issuer().to_der().ok() != issuer.tbs_certificate().subject().to_der().ok() {
            return Err(format!("{which} names another issuer than its certificate {k}"));
        }
        check_issuer(issuer, k, &format!("its certificate {k}"))?;
        signed_by(child_der, child, issuer)
            .map_err(|e| format!("{which} is not signed by its certificate {k}: {e}"))?;
    }
    for (k, (_, cert)) in path.iter().enumerate() {
        critical_extensions_understood(cert).map_err(|e| format!("{}: {e}", position(k)))?;
    }
    for SigningTime { at, source } in times {
        if !ca.valid.contains(*at) {
            return Err(format!("the CA was not valid (trusted root validFor) at the signing time {at} ({source})"));
        }
        for (k, (_, cert)) in path.iter().enumerate() {
            let (not_before, not_after) = validity(cert);
            if *at < not_before || *at > not_after {
                return Err(format!(
                    "{} (valid {not_before}..{not_after}) had expired or was not yet valid at the signing time {at} ({source})",
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

#[cfg(test)]
mod tests {
    //! Against OpenSSL-made certificates (`testdata/chain`, see its `make.sh`), each differing from
    //! a good path in one respect.
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;

    use super::*;
    use crate::sigstore::trust_root::Window;

    fn der(name: &str) -> Vec<u8> {
        let path = format!("{}/testdata/chain/{name}.b64", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        B64.decode(text.trim()).expect("base64")
    }

    /// A trusted root whose one CA is `chain` (intermediate first), valid in `valid`.
    fn root(chain: &[&str], valid: Window) -> TrustedRoot {
        TrustedRoot {
            cas: vec![CertificateAuthority {
                uri: "https://fulcio.test".into(),
                chain: chain.iter().map(|n| der(n)).collect(),
                valid,
            }],
            tlogs: Vec::new(),
            ctlogs: Vec::new(),
            document: serde_json::Value::Null,
        }
    }

    fn always() -> Window {
        Window { start: 0, end: None }
    }

    /// A time when every certificate here is valid.
    fn inside(leaf: &Certificate) -> i64 {
        validity(leaf).0 + 60
    }

    fn at(t: i64) -> Vec<SigningTime> {
        vec![SigningTime { at: t, source: "a test".into() }]
    }

    /// `leaf` validated against `chain` at a time inside its validity; the reason if refused.
    fn check(leaf: &str, chain: &[&str], extra: &[&str]) -> Result<(), String> {
        let leaf_der = der(leaf);
        let cert = Certificate::from_der(&leaf_der).expect("a certificate");
        let extra: Vec<Vec<u8>> = extra.iter().map(|n| der(n)).collect();
        validate(&leaf_der, &cert, &extra, &root(chain, always()), &at(inside(&cert))).map(|_| ()).map_err(
            |(problem, reason)| {
                assert_eq!(problem, Problem::UntrustedCertificate, "{reason}");
                reason
            },
        )
    }

    #[test]
    fn a_good_path_validates_and_names_the_issuer() {
        let leaf_der = der("leaf");
        let leaf = Certificate::from_der(&leaf_der).expect("a certificate");
        let trusted = root(&["intermediate", "root"], always());
        let validated = validate(&leaf_der, &leaf, &[], &trusted, &at(inside(&leaf))).expect("valid");
        assert_eq!(validated.ca.uri, "https://fulcio.test");
        assert_eq!(validated.issuer.to_der().ok(), Some(der("intermediate")));
    }

    #[test]
    fn every_certificate_must_be_valid_at_every_signing_time() {
        let leaf_der = der("leaf");
        let leaf = Certificate::from_der(&leaf_der).expect("a certificate");
        let (not_before, not_after) = validity(&leaf);
        let trusted = root(&["intermediate", "root"], always());
        for t in [not_before - 1, not_after + 1] {
            let (_, reason) = validate(&leaf_der, &leaf, &[], &trusted, &at(t)).err().expect("refused");
            assert!(reason.contains("had expired or was not yet valid at the signing time"), "{reason}");
        }
        // Both times are checked: one good, one bad is bad.
        let both = [at(inside(&leaf)), at(not_after + 1)].concat();
        assert!(validate(&leaf_der, &leaf, &[], &trusted, &both).is_err());
        // The CA's window in the trusted root, end inclusive.
        let t = inside(&leaf);
        let ended = root(&["intermediate", "root"], Window { start: 0, end: Some(t - 1) });
        let (_, reason) = validate(&leaf_der, &leaf, &[], &ended, &at(t)).err().expect("refused");
        assert!(reason.contains("trusted root validFor"), "{reason}");
        let last_second = root(&["intermediate", "root"], Window { start: 0, end: Some(t) });
        assert!(validate(&leaf_der, &leaf, &[], &last_second, &at(t)).is_ok());
    }

    #[test]
    fn a_leaf_must_be_a_code_signing_end_entity_with_only_understood_critical_extensions() {
        let chain = ["intermediate", "root"];
        let reason = check("leaf-ca", &chain, &[]).expect_err("a CA leaf");
        assert!(reason.contains("is a CA certificate"), "{reason}");
        let reason = check("leaf-no-eku", &chain, &[]).expect_err("no code signing");
        assert!(reason.contains("code signing"), "{reason}");
        let reason = check("leaf-no-digital-signature", &chain, &[]).expect_err("no digitalSignature");
        assert!(reason.contains("digital signatures"), "{reason}");
        let reason = check("leaf-odd-critical", &chain, &[]).expect_err("an unknown critical extension");
        assert!(reason.contains("critical extension") && reason.contains("1.3.6.1.4.1.99999.1"), "{reason}");
    }

    #[test]
    fn issuers_must_be_cas_allowed_to_sign_within_their_path_length() {
        let reason = check("leaf-too-deep", &["intermediate-2", "intermediate", "root"], &[]).expect_err("too deep");
        assert!(reason.contains("pathLenConstraint"), "{reason}");
        let reason = check("leaf-under-not-a-ca", &["not-a-ca", "root"], &[]).expect_err("not a CA");
        assert!(reason.contains("not a CA certificate"), "{reason}");
        let reason = check("leaf-under-no-cert-sign", &["no-cert-sign", "root"], &[]).expect_err("no keyCertSign");
        assert!(reason.contains("does not allow signing certificates"), "{reason}");
        // Another CA's chain: the leaf names another issuer.
        let reason = check("leaf", &["no-cert-sign", "root"], &[]).expect_err("another issuer");
        assert!(reason.contains("names another issuer"), "{reason}");
    }

    #[test]
    fn a_bundle_chain_may_carry_only_certificates_the_trusted_root_lists() {
        let chain = ["intermediate", "root"];
        check("leaf", &chain, &["intermediate", "root"]).expect("the trusted root's own certificates are tolerated");
        let reason = check("leaf", &chain, &["intermediate-2"]).expect_err("an unlisted intermediate");
        assert!(reason.contains("does not list"), "{reason}");
        // A root of its own: the public-good root is self-signed and not this trusted root's.
        let public_good = TrustedRoot::public_good().expect("the built-in root");
        let foreign_root = public_good.cas[1].chain.last().cloned().expect("a root");
        let leaf_der = der("leaf");
        let leaf = Certificate::from_der(&leaf_der).expect("a certificate");
        let (_, reason) = validate(&leaf_der, &leaf, &[foreign_root], &root(&chain, always()), &at(inside(&leaf)))
            .err()
            .expect("refused");
        assert!(reason.contains("carries a root certificate"), "{reason}");
    }

    /// Review of issue 15, finding 6: a leaf without a key usage extension is refused, as
    /// sigstore-python refuses it (Fulcio always sets digitalSignature).
    #[test]
    fn a_leaf_without_a_key_usage_extension_is_refused() {
        let reason = check("leaf-no-key-usage", &["intermediate", "root"], &[]).expect_err("no keyUsage");
        assert!(reason.contains("has no key usage extension"), "{reason}");
    }
}
