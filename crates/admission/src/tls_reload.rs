//! The serving certificate, re-read when its files change, without a restart.
//!
//! cert-manager renews the webhook's certificate well before it expires and
//! writes the new one into the Secret; the kubelet swaps the mounted files.
//! A server that read them once at start would serve the old certificate
//! until it expired, and then every review would fail. [`ReloadingCert`]
//! answers each TLS handshake with the certificate in force, and
//! [`ReloadingCert::watch`] puts a new pair in force once both files have
//! changed and the key matches the certificate; a pair that does not (one
//! file swapped before the other, a damaged file) leaves the old one serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result, TlsFile};
use crate::file_stamp::{FileStamp, file_stamp};

/// The stamps of the certificate and key files.
type Stamps = (Option<FileStamp>, Option<FileStamp>);

/// A serving certificate and key read from files, replaced when they change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamps when last read: successfully, and unsuccessfully.
    seen: Mutex<(Stamps, Option<Stamps>)>,
}

/// What a look at the certificate files found, for the caller to log.
#[derive(Debug)]
pub enum CertReload {
    /// A new certificate is served from now on.
    Reloaded,
    /// The files changed but cannot be used; the old certificate is still served.
    Refused(Error),
}

impl ReloadingCert {
    /// Reads the PEM certificate chain and private key; an unusable pair is an error.
    pub fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Arc<ReloadingCert>> {
        let stamps = (file_stamp(cert), file_stamp(key));
        let current = read_pair(cert, key, &provider)?;
        Ok(Arc::new(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
            seen: Mutex::new((stamps, None)),
        }))
    }

    /// The certificate in force.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again if either changed since the last read; `None` when
    /// neither did (or they are unchanged since a refused read).
    pub fn reload_if_changed(&self) -> Option<CertReload> {
        let stamps = (file_stamp(&self.cert), file_stamp(&self.key));
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if stamps == seen.0 || Some(stamps) == seen.1 {
            return None;
        }
        match read_pair(&self.cert, &self.key, &self.provider) {
            Ok(pair) => {
                match self.current.write() {
                    Ok(mut c) => *c = Arc::new(pair),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(pair),
                }
                *seen = (stamps, None);
                Some(CertReload::Reloaded)
            }
            Err(e) => {
                seen.1 = Some(stamps);
                Some(CertReload::Refused(e))
            }
        }
    }

    /// Checks the files every `every`, reporting each change to `on_event`.
    /// Must be called inside the runtime.
    pub fn watch(self: &Arc<Self>, every: Duration, on_event: impl Fn(CertReload) + Send + 'static) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Some(event) = this.reload_if_changed() {
                    on_event(event);
                }
            }
        });
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The certificate chain and the key that matches its first certificate.
fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let bad = |what: &Path, reason: String| Error::InvalidTls {
        what: what.display().to_string(),
        reason,
        file: TlsFile::ServerCertificate,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, e.to_string()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| bad(key, format!("not the certificate's key: {e}")))
}

/// A rustls server configuration that serves the certificate chain and key of the PEM
/// files `cert` and `key` through a [`ReloadingCert`] (returned, to [`ReloadingCert::watch`]
/// it). With `client_ca` (PEM) every client must present a certificate that chains to one
/// of its CAs, checked in the TLS handshake (rustls' [`rustls::server::WebPkiClientVerifier`]):
/// the API server presents the one its admission configuration names, and a pod without it
/// cannot open a connection, let alone POST a review.
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<(rustls::ServerConfig, Arc<ReloadingCert>)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let reloading = ReloadingCert::load(cert, key, provider.clone())?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("cannot set up TLS: {e}")))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    let mut config = builder.with_cert_resolver(reloading.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, reloading))
}

/// A verifier that requires a client certificate chaining to a CA in the PEM file `path`.
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let bad = |reason: String| Error::InvalidTls { what: path.display().to_string(), reason, file: TlsFile::ClientCa };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let tls = crate::manifests::certs::generate(name, &[format!("{name}.test")], 1).expect("generate");
        let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, tls.cert_pem).expect("write");
        std::fs::write(&key, tls.key_pem).expect("write");
        (cert, key)
    }

    #[test]
    fn a_new_pair_is_served_and_a_mismatched_one_keeps_the_old() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first_cert, first_key) = pair(dir.path(), "first");
        let (_, second_key) = pair(dir.path(), "second");
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::copy(&first_cert, &cert).expect("copy");
        std::fs::copy(&first_key, &key).expect("copy");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let reloading = ReloadingCert::load(&cert, &key, provider).expect("loads");
        let served = |r: &ReloadingCert| r.current().cert[0].to_vec();
        let first = served(&reloading);
        assert!(reloading.reload_if_changed().is_none(), "nothing changed");

        // Only the certificate replaced: its key does not match; the old pair stays.
        std::fs::rename(dir.path().join("second.crt"), &cert).expect("swap the certificate");
        assert!(matches!(reloading.reload_if_changed(), Some(CertReload::Refused(_))));
        assert_eq!(served(&reloading), first);
        assert!(reloading.reload_if_changed().is_none(), "refused once, not again until a file changes");

        std::fs::rename(&second_key, &key).expect("swap the key");
        assert!(matches!(reloading.reload_if_changed(), Some(CertReload::Reloaded)));
        assert_ne!(served(&reloading), first);
    }
}
