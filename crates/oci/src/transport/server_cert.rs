//! How a registry's certificate is checked when `--ca-file` (or
//! `SSL_CERT_FILE`) gives certificates: the platform's verifier, with the
//! given certificates as extra roots (what reqwest itself builds), decides;
//! when it refuses a certificate that is, byte for byte, one of the given
//! ones, that certificate is accepted if its name and dates fit.
//!
//! Why: the self-signed certificate docker's documentation makes for a
//! registry (`openssl req -x509 -newkey rsa:4096 -nodes ... -addext
//! subjectAltName=...`) is marked `CA:TRUE`, and webpki refuses a CA
//! certificate as a server's own (`CaUsedAsEndEntity`), so such a registry was
//! refused even with its certificate given, where curl, skopeo and docker
//! accept it. Giving the exact certificate is the user's trust decision; what
//! stays checked is the name (the subjectAltName, by rustls's own matcher),
//! the validity period, and the handshake signature, made with that
//! certificate's key (by the platform verifier's code, as for any server).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use x509_cert::der::Decode as _;

/// The platform's verifier, plus the given certificates accepted as a server's own.
#[derive(Debug)]
pub(super) struct GivenOrPlatform {
    platform: rustls_platform_verifier::Verifier,
    given: Vec<CertificateDer<'static>>,
}

impl GivenOrPlatform {
    /// A verifier trusting the platform's roots, `given` as extra roots, and
    /// each of `given` as the certificate of a server it names.
    pub(super) fn new(
        given: Vec<CertificateDer<'static>>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, rustls::Error> {
        let platform = rustls_platform_verifier::Verifier::new_with_extra_roots(given.clone(), provider)?;
        Ok(GivenOrPlatform { platform, given })
    }
}

impl ServerCertVerifier for GivenOrPlatform {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.platform.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => Ok(verified),
            Err(_) if self.given.iter().any(|c| c.as_ref() == end_entity.as_ref()) => {
                check_name_and_dates(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(refused) => Err(refused),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.platform.supported_verify_schemes()
    }
}

/// Whether `cert` names `server_name` (subjectAltName) and is valid at `now`.
fn check_name_and_dates(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let decoded = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let validity = decoded.tbs_certificate().validity();
    let not_before = UnixTime::since_unix_epoch(validity.not_before.to_unix_duration());
    let not_after = UnixTime::since_unix_epoch(validity.not_after.to_unix_duration());
    if now.as_secs() < not_before.as_secs() {
        return Err(CertificateError::NotValidYetContext { time: now, not_before }.into());
    }
    if now.as_secs() > not_after.as_secs() {
        return Err(CertificateError::ExpiredContext { time: now, not_after }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject as _;

    /// `secs` after the epoch, as rustls counts time.
    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365
    /// -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`: CA:TRUE, valid
    /// for a year.
    const DOCS_STYLE: &str = include_str!("server_cert_test.pem");

    fn cert() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(DOCS_STYLE.as_bytes()).expect("test certificate")
    }

    fn name(text: &str) -> ServerName<'static> {
        ServerName::try_from(text.to_string()).expect("server name")
    }

    #[test]
    fn a_given_certificate_is_checked_for_its_name_and_dates() {
        let cert = cert();
        let decoded = x509_cert::Certificate::from_der(cert.as_ref()).expect("decode");
        let start = decoded.tbs_certificate().validity().not_before.to_unix_duration().as_secs();
        let inside = at(start + 86_400);
        assert!(check_name_and_dates(&cert, &name("localhost"), inside).is_ok());
        assert!(check_name_and_dates(&cert, &name("127.0.0.1"), inside).is_ok());
        let wrong = check_name_and_dates(&cert, &name("registry.example"), inside).expect_err("another name");
        assert!(wrong.to_string().contains("not valid for name"), "{wrong}");
        let early = check_name_and_dates(&cert, &name("localhost"), at(start - 1)).expect_err("not yet valid");
        assert!(early.to_string().contains("not valid yet"), "{early}");
        let late = check_name_and_dates(&cert, &name("localhost"), at(start + 400 * 86_400)).expect_err("expired");
        assert!(late.to_string().contains("expired"), "{late}");
    }
}
