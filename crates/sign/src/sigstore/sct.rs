//! Signed certificate timestamps (RFC 6962 §3.2) embedded in a Fulcio
//! certificate, verified against the trusted root's CT logs.
//!
//! Fulcio submits each certificate as a precertificate to a CT log and embeds
//! the log's promise (the SCT) in the final certificate. An SCT signs the
//! precertificate's TBSCertificate, which is the final one without the SCT
//! list extension, with the SHA-256 of the issuer's key: so the signed bytes
//! are rebuilt here from the leaf by dropping that extension (the other
//! elements keep their exact DER). At least one SCT must come from a CT log
//! of the trusted root, verify with its key, and fall in its validity window;
//! SCTs of unknown logs are skipped (cosign and sigstore-go require one).
//! The SCT list is parsed with x509-cert's `sct` support (TLS encoding).

use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::der::asn1::{Any, AnyRef};
use x509_cert::der::{Decode as _, Encode as _, Reader as _, SliceReader, Tag, TagNumber, Tagged as _};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::sct::{
    HashAlgorithm, SignatureAlgorithm, SignedCertificateTimestamp, SignedCertificateTimestampList,
};

use super::Problem;
use super::trust_root::{LogKey, TrustedRoot};

type Rejection = (Problem, String);

/// The SCT list extension (RFC 6962 §3.3).
const SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

fn untrusted(reason: impl Into<String>) -> Rejection {
    (Problem::UntrustedCertificate, reason.into())
}

/// Verifies that `leaf` (issued by `issuer`) carries at least one SCT from a CT log of `root`.
pub(crate) fn verify(
    leaf_der: &[u8],
    leaf: &Certificate,
    issuer: &Certificate,
    root: &TrustedRoot,
) -> Result<(), Rejection> {
    let list = match leaf.tbs_certificate().get_extension::<SignedCertificateTimestampList>() {
        Ok(Some((_, list))) => list,
        Ok(None) => {
            return Err(untrusted(
                "the certificate carries no signed certificate timestamp (SCT): it was not logged in certificate transparency",
            ));
        }
        Err(e) => return Err(untrusted(format!("the certificate's SCT list does not parse: {e}"))),
    };
    let scts =
        list.parse_timestamps().map_err(|e| untrusted(format!("the certificate's SCT list does not parse: {e:?}")))?;
    let tbs = precertificate_tbs(leaf_der).map_err(untrusted)?;
    let issuer_key = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| untrusted(format!("the issuer's key cannot be encoded: {e}")))?;
    let issuer_key_hash: [u8; 32] = Sha256::digest(&issuer_key).into();
    let mut reasons = Vec::new();
    for serialized in &scts {
        let sct = match serialized.parse_timestamp() {
            Ok(sct) => sct,
            Err(e) => {
                reasons.push(format!("an SCT does not parse ({e:?})"));
                continue;
            }
        };
        match check_one(&sct, &tbs, &issuer_key_hash, root) {
            Ok(()) => return Ok(()),
            Err(why) => reasons.push(why),
        }
    }
    if reasons.is_empty() {
        reasons.push("the SCT list is empty".into());
    }
    Err(untrusted(format!(
        "no signed certificate timestamp verifies with a CT log of the trusted root ({})",
        reasons.join("; ")
    )))
}

fn check_one(
    sct: &SignedCertificateTimestamp,
    tbs: &[u8],
    issuer_key_hash: &[u8; 32],
    root: &TrustedRoot,
) -> Result<(), String> {
    let log_id = sct.log_id.key_id;
    let log = root.ctlog(&log_id).ok_or_else(|| {
        format!("the SCT's log {} is not a CT log of the trusted root", wharf_oci::digest::hex(&log_id))
    })?;
    let seconds = i64::try_from(sct.timestamp / 1000).unwrap_or(i64::MAX);
    if !log.valid.contains(seconds) {
        return Err(format!("the CT log {} was not valid at the SCT's time {seconds}", log.base_url));
    }
    let signed = signed_data(sct, tbs, issuer_key_hash)?;
    let algorithm = &sct.signature.algorithm;
    if algorithm.hash != HashAlgorithm::Sha256 {
        return Err("the SCT is not signed with SHA-256".into());
    }
    let signature = sct.signature.signature.as_slice();
    let bad = || format!("the SCT's signature does not verify with the key of {}", log.base_url);
    match (&log.key, &algorithm.signature) {
        (LogKey::P256(key), SignatureAlgorithm::Ecdsa) => {
            use p256::ecdsa::signature::Verifier as _;
            let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
            key.verify(&signed, &sig).map_err(|_| bad())
        }
        (LogKey::Rsa(key), SignatureAlgorithm::Rsa) => {
            use rsa::signature::Verifier as _;
            let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| bad())?;
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new((**key).clone()).verify(&signed, &sig).map_err(|_| bad())
        }
        (LogKey::Unusable(why), _) => Err(why.clone()),
        _ => Err(format!("the SCT's signature algorithm does not match the key of {}", log.base_url)),
    }
}

/// The `digitally-signed` struct of RFC 6962 §3.2 for a precertificate entry.
fn signed_data(sct: &SignedCertificateTimestamp, tbs: &[u8], issuer_key_hash: &[u8; 32]) -> Result<Vec<u8>, String> {
    let tbs_len = u32::try_from(tbs.len()).ok().filter(|n| *n < 1 << 24).ok_or("the certificate is too large")?;
    let extensions = sct.extensions.as_slice();
    let extensions_len = u16::try_from(extensions.len()).map_err(|_| "the SCT's extensions are too large")?;
    let mut out = Vec::with_capacity(tbs.len() + extensions.len() + 64);
    out.push(0); // sct_version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&sct.timestamp.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&extensions_len.to_be_bytes());
    out.extend_from_slice(extensions);
    Ok(out)
}

/// The leaf's TBSCertificate without its SCT list extension, in DER: every
/// other element is kept byte for byte; the extensions (`[3]`) are re-encoded.
fn precertificate_tbs(leaf_der: &[u8]) -> Result<Vec<u8>, String> {
    let malformed = |e: x509_cert::der::Error| format!("the certificate cannot be re-encoded for its SCT: {e}");
    let tbs = super::chain::tbs_bytes(leaf_der).ok_or("the certificate's DER cannot be split")?;
    let tbs = AnyRef::from_der(tbs).map_err(malformed)?;
    let mut reader = SliceReader::new(tbs.value()).map_err(malformed)?;
    let mut content = Vec::new();
    let extensions_tag = Tag::ContextSpecific { constructed: true, number: TagNumber(3) };
    while !reader.is_finished() {
        let element: AnyRef<'_> = reader.decode().map_err(malformed)?;
        if element.tag() == extensions_tag {
            let extensions: Vec<Extension> = Vec::from_der(element.value()).map_err(malformed)?;
            let kept: Vec<Extension> = extensions.into_iter().filter(|e| e.extn_id.to_string() != SCT_LIST).collect();
            let inner = kept.to_der().map_err(malformed)?;
            Any::new(extensions_tag, inner).and_then(|a| a.encode_to_vec(&mut content)).map_err(malformed)?;
        } else {
            element.encode_to_vec(&mut content).map_err(malformed)?;
        }
    }
    Any::new(Tag::Sequence, content).and_then(|a| a.to_der()).map_err(malformed)
}
