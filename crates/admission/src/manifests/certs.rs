//! The webhook's own CA and serving certificate, made in memory for
//! `wharf admission manifests` (rcgen on ring, ECDSA P-256).
//!
//! The CA exists only to sign the one serving certificate and to be the
//! webhook configurations' `caBundle`: its private key is dropped as soon as
//! the serving certificate is signed, so it is never written anywhere and can
//! never sign anything else. The serving key goes only into the TLS Secret.
//! Renewing means generating again (a new CA and certificate), or
//! `--cert-manager`.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};

use crate::error::{Error, Result};

/// How far back the certificates' `notBefore` lies: nodes whose clocks run a
/// little behind must not see a certificate from the future.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// The generated CA certificate, and the serving certificate and key it signed (PEM).
pub struct ServingTls {
    /// The CA's certificate: the `caBundle`, and `ca.crt` in the Secret.
    pub ca_pem: String,
    /// The serving certificate (`tls.crt`).
    pub cert_pem: String,
    /// The serving certificate's private key, PKCS#8 (`tls.key`).
    pub key_pem: String,
}

/// A CA and a serving certificate for `dns_names`, both valid for `days` from
/// now (an hour back, for clock skew).
pub fn generate(common_name: &str, dns_names: &[String], days: u32) -> Result<ServingTls> {
    let fail = |what: &str, e: rcgen::Error| Error::Usage(format!("cannot generate the webhook's {what}: {e}"));
    let now = SystemTime::now();
    let not_before = offset(now.checked_sub(BACKDATE).unwrap_or(now))?;
    let not_after = offset(now + Duration::from_secs(u64::from(days) * 24 * 60 * 60))?;

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| fail("CA key", e))?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name(&format!("{common_name} CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| fail("CA certificate", e))?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| fail("serving key", e))?;
    let mut serving = CertificateParams::default();
    serving.distinguished_name = name(common_name);
    serving.subject_alt_names = dns_names
        .iter()
        .map(|n| {
            n.clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| Error::Usage(format!("{n} cannot be a certificate's DNS name: {e}")))
        })
        .collect::<Result<_>>()?;
    serving.is_ca = IsCa::ExplicitNoCa;
    serving.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    serving.use_authority_key_identifier_extension = true;
    serving.not_before = not_before;
    serving.not_after = not_after;
    let cert = serving.signed_by(&key, &issuer).map_err(|e| fail("serving certificate", e))?;
    // The CA's key goes out of scope here, with the issuer: nothing else is ever signed by it.
    drop(issuer);
    Ok(ServingTls { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A system time as rcgen's date type (whole seconds).
fn offset(at: SystemTime) -> Result<time::OffsetDateTime> {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| Error::Usage("the system clock is before 1970".into()))?
        .as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| Error::Usage(format!("{secs} s after 1970 is no certificate date")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use x509_cert::der::Decode;

    fn parse(pem: &str) -> x509_cert::Certificate {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM");
        x509_cert::Certificate::from_der(&der).expect("DER")
    }

    #[test]
    fn the_serving_certificate_names_the_service_and_chains_to_the_ca() {
        let names = ["wharf-admission.ns.svc".to_string(), "wharf-admission.ns.svc.cluster.local".to_string()];
        let tls = generate("wharf-admission.ns.svc", &names, 365).expect("generates");
        let ca = parse(&tls.ca_pem);
        let cert = parse(&tls.cert_pem);
        assert_eq!(cert.tbs_certificate().issuer(), ca.tbs_certificate().subject());
        let validity = cert.tbs_certificate().validity();
        let lifetime = validity.not_after.to_unix_duration() - validity.not_before.to_unix_duration();
        assert_eq!(lifetime, Duration::from_secs(365 * 24 * 3600) + BACKDATE);
        let der = cert.tbs_certificate().subject_public_key_info().clone();
        assert_eq!(der.algorithm.oid.to_string(), "1.2.840.10045.2.1", "an EC key");
        assert!(tls.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
        let (_, san) = cert
            .tbs_certificate()
            .get_extension::<x509_cert::ext::pkix::SubjectAltName>()
            .expect("parses")
            .expect("a SAN");
        let dns: Vec<String> = san
            .0
            .iter()
            .filter_map(|n| match n {
                x509_cert::ext::pkix::name::GeneralName::DnsName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(dns, names);
    }
}
