//! Key files in cosign's formats.
//!
//! - Private keys: a PEM block `ENCRYPTED SIGSTORE PRIVATE KEY` (older files:
//!   `ENCRYPTED COSIGN PRIVATE KEY`) whose body is the JSON of
//!   go-securesystemslib's `encrypted` package:
//!   `{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":B64},"cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}`.
//!   The key is scrypt(password, salt) (32 bytes), the cipher XSalsa20-Poly1305
//!   (NaCl secretbox: tag first), the plaintext PKCS#8 DER. N may be 2^15, 2^16
//!   (cosign's default, and what wharf writes) or 2^17, with r = 8 and p = 1.
//!   Unencrypted `PRIVATE KEY` (PKCS#8) and `EC PRIVATE KEY` (SEC1) files are read too.
//! - Public keys: a PEM `PUBLIC KEY` (PKIX SubjectPublicKeyInfo).
//!
//! Keys are ECDSA P-256 with SHA-256 (cosign's default, and what
//! `wharf key generate` makes) or Ed25519. cosign signs with an Ed25519 key
//! file in the Ed25519ph variant (RFC 8032: SHA-512 prehash, empty context;
//! sigstore's `GetDefaultLoadOptions` selects `WithED25519ph`), so wharf signs
//! that way too, and verifies either Ed25519ph or pure Ed25519 (what cosign
//! before 2.3 wrote). RSA public keys (2048 bits or more) verify PKCS#1 v1.5
//! SHA-256 signatures, cosign's RSA scheme; wharf never signs with RSA (the
//! `rsa` crate's RUSTSEC-2023-0071 timing side channel concerns private-key
//! operations). Other key types (P-384, P-521, Ed448) are recognised and
//! refused with a message naming them. Nothing here ever puts
//! a password or private key bytes into an error or a log.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key as BoxKey, Nonce as BoxNonce, XSalsa20Poly1305};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha512;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, KeyFix, Result};

/// PEM label cosign writes for private keys.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// PEM label of private keys written by older cosign versions.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// PEM label of public keys.
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// log2 of the scrypt N wharf writes (2^16, cosign's default).
pub const DEFAULT_LOG_N: u8 = 16;
/// The scrypt N values cosign accepts, as log2: 2^15 (legacy), 2^16 (default), 2^17 (OWASP).
const ACCEPTED_LOG_N: [u8; 3] = [15, 16, 17];
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The signature algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Algorithm {
    /// ECDSA on NIST P-256 with SHA-256 (cosign's default), ASN.1 DER signatures.
    #[serde(rename = "ecdsa-p256-sha256")]
    EcdsaP256Sha256,
    /// Ed25519; wharf signs Ed25519ph (SHA-512 prehash) as cosign does.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// RSA, PKCS#1 v1.5 with SHA-256 (verification only).
    #[serde(rename = "rsa-pkcs1v15-sha256")]
    RsaPkcs1v15Sha256,
}

impl Algorithm {
    /// A short human name ("ECDSA P-256", "Ed25519").
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ECDSA P-256",
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::RsaPkcs1v15Sha256 => "RSA PKCS#1 v1.5",
        }
    }
}

/// A private key that signs. Its `Debug` output never shows key material.
pub struct PrivateKey {
    key: Signer,
}

/// The key material behind a [`PrivateKey`].
enum Signer {
    P256(SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// The key material behind a [`PublicKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verifier {
    P256(VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(Box<rsa::RsaPublicKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey {{ algorithm: {:?}, material: <redacted> }}", self.algorithm())
    }
}

/// A public key that verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: Verifier,
}

fn key_error(what: &str, reason: impl Into<String>, fix: impl Into<KeyFix>) -> Error {
    Error::InvalidKey { what: what.to_string(), reason: reason.into(), fix: fix.into() }
}

impl From<&str> for KeyFix {
    fn from(advice: &str) -> KeyFix {
        KeyFix::Advice(advice.to_string())
    }
}

impl PrivateKey {
    /// A fresh ECDSA P-256 key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            random_fill(bytes.as_mut_slice())?;
            // A random 32-byte string is a valid scalar except with probability ~2^-32.
            if let Ok(key) = SigningKey::from_slice(bytes.as_slice()) {
                return Ok(PrivateKey { key: Signer::P256(key) });
            }
        }
    }

    /// Reads a private key file's contents: cosign's encrypted PEM (either
    /// label), or an unencrypted `PRIVATE KEY` / `EC PRIVATE KEY`. `what` names
    /// the file in errors; `password` is used for encrypted files only.
    pub fn from_pem(what: &str, text: &[u8], password: &[u8]) -> Result<Self> {
        let block = pem_decode(text)
            .ok_or_else(|| key_error(what, "it holds no PEM block (-----BEGIN ...-----)", KeyFix::GivePrivateKey))?;
        match block.label.as_str() {
            SIGSTORE_PRIVATE_KEY_LABEL | COSIGN_PRIVATE_KEY_LABEL => {
                let der = decrypt(what, &block.body, password)?;
                Self::from_pkcs8_der(what, &der)
            }
            "PRIVATE KEY" => Self::from_pkcs8_der(what, &block.body),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&block.body)
                .map(|k| PrivateKey { key: Signer::P256(SigningKey::from(k)) })
                .map_err(|_| {
                    key_error(
                        what,
                        "the EC PRIVATE KEY block is not an ECDSA P-256 key",
                        "wharf signs with ECDSA P-256 keys, cosign's default",
                    )
                }),
            "RSA PRIVATE KEY" => Err(unsupported(what, "an RSA key")),
            "PUBLIC KEY" => Err(key_error(what, "this is a public key", KeyFix::SignWithPrivateKey)),
            other => Err(key_error(
                what,
                format!("a PEM block labelled {other:?} is not a private key wharf reads"),
                KeyFix::GivePrivateKey,
            )),
        }
    }

    /// PKCS#8 (what cosign encrypts), or SEC1 (what some older cosign files hold inside).
    fn from_pkcs8_der(what: &str, der: &[u8]) -> Result<Self> {
        if let Ok(key) = SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey { key: Signer::P256(key) });
        }
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey { key: Signer::Ed25519(Box::new(key)) });
        }
        match p256::SecretKey::from_sec1_der(der) {
            Ok(key) => Ok(PrivateKey { key: Signer::P256(SigningKey::from(key)) }),
            Err(_) => Err(match pkcs8_algorithm(der) {
                Some(name) => unsupported(what, name),
                None => key_error(
                    what,
                    "the decrypted key is not a valid PKCS#8 private key",
                    "the file is damaged; generate a new key pair",
                ),
            }),
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Signer::P256(_) => Algorithm::EcdsaP256Sha256,
            Signer::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.key {
            Signer::P256(key) => PublicKey { key: Verifier::P256(*key.verifying_key()) },
            Signer::Ed25519(key) => PublicKey { key: Verifier::Ed25519(key.verifying_key()) },
        }
    }

    /// Signs `message` as cosign's signer for the key does. ECDSA P-256:
    /// SHA-256, RFC 6979 nonces, an ASN.1 DER signature. Ed25519: Ed25519ph
    /// (SHA-512 of the message, empty context), the 64-byte signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Signer::P256(key) => {
                let signature: Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Signer::Ed25519(key) => {
                let prehash = Sha512::new_with_prefix(message);
                match key.sign_prehashed(prehash, None) {
                    Ok(signature) => signature.to_bytes().to_vec(),
                    // Only a context over 255 bytes fails, and there is none.
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    /// The key as cosign's encrypted PEM (`ENCRYPTED SIGSTORE PRIVATE KEY`,
    /// scrypt N = 2^16).
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String> {
        self.to_encrypted_pem_with(password, DEFAULT_LOG_N)
    }

    /// Like [`to_encrypted_pem`](Self::to_encrypted_pem) with scrypt N = 2^`log_n` (15, 16 or 17).
    pub fn to_encrypted_pem_with(&self, password: &[u8], log_n: u8) -> Result<String> {
        let der = match &self.key {
            Signer::P256(key) => key.to_pkcs8_der(),
            Signer::Ed25519(key) => key.to_pkcs8_der(),
        }
        .map_err(|e| key_error("being written", format!("PKCS#8 encoding failed: {e}"), "report this as a bug"))?;
        let json = encrypt(der.as_bytes(), password, log_n)?;
        Ok(pem_encode(SIGSTORE_PRIVATE_KEY_LABEL, &json))
    }
}

/// "an Ed25519 key" and friends, from a PKCS#8 document's algorithm OID.
fn pkcs8_algorithm(der: &[u8]) -> Option<&'static str> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(der).ok()?;
    Some(match info.algorithm.oid.to_string().as_str() {
        "1.3.101.113" => "an Ed448 key",
        "1.2.840.113549.1.1.1" => "an RSA key",
        "1.2.840.10045.2.1" => match info.algorithm.parameters.map(|p| p.value().to_vec()) {
            Some(p) if p == [0x2b, 0x81, 0x04, 0x00, 0x22] => "an ECDSA P-384 key",
            Some(p) if p == [0x2b, 0x81, 0x04, 0x00, 0x23] => "an ECDSA P-521 key",
            _ => "an ECDSA key on a curve other than P-256",
        },
        _ => "a key of an unknown algorithm",
    })
}

fn unsupported(what: &str, kind: &str) -> Error {
    if kind == "an RSA key" {
        return key_error(
            what,
            "it is an RSA private key; wharf verifies RSA signatures but never signs with RSA (the only pure-Rust \
             RSA implementation has a timing side channel in private-key operations, RUSTSEC-2023-0071)",
            KeyFix::SignWithSupportedKey,
        );
    }
    key_error(
        what,
        format!("it is {kind}; wharf signs and verifies with ECDSA P-256 (cosign's default) and Ed25519 keys"),
        KeyFix::GenerateP256,
    )
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (PKIX) file's contents. `what` names it in errors.
    pub fn from_pem(what: &str, text: &[u8]) -> Result<Self> {
        let block = pem_decode(text).ok_or_else(|| {
            let reason = if text.windows(11).any(|w| w == b"-----BEGIN ") {
                "its PEM block is damaged (the text between the BEGIN and END lines is not base64)"
            } else {
                "it holds no PEM block (-----BEGIN PUBLIC KEY-----)"
            };
            key_error(what, reason, "give the .pub file of the key pair")
        })?;
        if block.label != PUBLIC_KEY_LABEL {
            let fix = if block.label.contains("PRIVATE KEY") {
                "verify with the public key (the .pub file), not the private key"
            } else {
                "give the .pub file of the key pair (a PEM PUBLIC KEY)"
            };
            return Err(key_error(what, format!("a PEM block labelled {:?} is not a public key", block.label), fix));
        }
        Self::from_der(what, &block.body)
    }

    /// Reads a PKIX SubjectPublicKeyInfo (DER): ECDSA P-256 or Ed25519.
    pub fn from_der(what: &str, der: &[u8]) -> Result<Self> {
        if let Ok(key) = VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey { key: Verifier::P256(key) });
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey { key: Verifier::Ed25519(key) });
        }
        if let Ok(key) = rsa::RsaPublicKey::from_public_key_der(der) {
            use rsa::traits::PublicKeyParts as _;
            let bits = key.size() * 8;
            if bits < 2048 {
                return Err(key_error(
                    what,
                    format!("it is a {bits}-bit RSA key; wharf accepts RSA keys of 2048 bits or more"),
                    "use a key of at least 2048 bits (cosign generates 4096)",
                ));
            }
            return Ok(PublicKey { key: Verifier::Rsa(Box::new(key)) });
        }
        let kind = spki_algorithm(der).unwrap_or("not a public key wharf can read");
        Err(key_error(
            what,
            format!("it is {kind}; wharf verifies ECDSA P-256 (cosign's default), Ed25519 and RSA signatures"),
            "give the .pub file of an ECDSA P-256, Ed25519 or RSA key pair",
        ))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Verifier::P256(_) => Algorithm::EcdsaP256Sha256,
            Verifier::Ed25519(_) => Algorithm::Ed25519,
            Verifier::Rsa(_) => Algorithm::RsaPkcs1v15Sha256,
        }
    }

    /// The PKIX DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        let der = match &self.key {
            Verifier::P256(key) => key.to_public_key_der(),
            Verifier::Ed25519(key) => key.to_public_key_der(),
            Verifier::Rsa(key) => key.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The PEM `PUBLIC KEY` text, as cosign writes `cosign.pub`.
    pub fn to_pem(&self) -> String {
        pem_encode(PUBLIC_KEY_LABEL, &self.to_der())
    }

    /// base64(SHA-256(PKIX DER)): the `publicKey.hint` of a Sigstore bundle, as cosign computes it.
    pub fn hint(&self) -> String {
        B64.encode(Sha256::digest(self.to_der()))
    }

    /// Checks a signature over `message`. ECDSA P-256: ASN.1 DER (or raw
    /// r||s) over SHA-256. Ed25519: 64 bytes, Ed25519ph (what cosign writes)
    /// or pure Ed25519 (what cosign before 2.3 wrote). RSA: PKCS#1 v1.5 over SHA-256.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> std::result::Result<(), SignatureProblem> {
        match &self.key {
            Verifier::P256(key) => {
                let parsed = Signature::from_der(signature)
                    .or_else(|_| Signature::from_slice(signature))
                    .map_err(|_| SignatureProblem::Malformed)?;
                key.verify(message, &parsed).map_err(|_| SignatureProblem::WrongKeyOrContent)
            }
            Verifier::Ed25519(key) => {
                let parsed =
                    ed25519_dalek::Signature::from_slice(signature).map_err(|_| SignatureProblem::Malformed)?;
                let prehashed = key.verify_prehashed(Sha512::new_with_prefix(message), None, &parsed);
                if prehashed.is_ok() || key.verify(message, &parsed).is_ok() {
                    Ok(())
                } else {
                    Err(SignatureProblem::WrongKeyOrContent)
                }
            }
            Verifier::Rsa(key) => {
                let parsed = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| SignatureProblem::Malformed)?;
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new((**key).clone())
                    .verify(message, &parsed)
                    .map_err(|_| SignatureProblem::WrongKeyOrContent)
            }
        }
    }
}

impl PublicKey {
    /// Checks a signature over a message known only by its SHA-256 `digest`
    /// (a Sigstore bundle's `messageSignature`): ECDSA P-256 (DER or raw
    /// r||s) or RSA PKCS#1 v1.5, over that digest. Ed25519 needs the message
    /// itself ([`SignatureProblem::NeedsMessage`]).
    pub fn verify_sha256_digest(&self, digest: &[u8], signature: &[u8]) -> std::result::Result<(), SignatureProblem> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        if digest.len() != 32 {
            return Err(SignatureProblem::WrongKeyOrContent);
        }
        match &self.key {
            Verifier::P256(key) => {
                let parsed = Signature::from_der(signature)
                    .or_else(|_| Signature::from_slice(signature))
                    .map_err(|_| SignatureProblem::Malformed)?;
                key.verify_prehash(digest, &parsed).map_err(|_| SignatureProblem::WrongKeyOrContent)
            }
            Verifier::Rsa(key) => {
                let parsed = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| SignatureProblem::Malformed)?;
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new((**key).clone())
                    .verify_prehash(digest, &parsed)
                    .map_err(|_| SignatureProblem::WrongKeyOrContent)
            }
            Verifier::Ed25519(_) => Err(SignatureProblem::NeedsMessage),
        }
    }
}

/// "an RSA key" and friends, from a SubjectPublicKeyInfo's algorithm OID.
fn spki_algorithm(der: &[u8]) -> Option<&'static str> {
    let info = pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der).ok()?;
    Some(match info.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "an RSA public key",
        "1.3.101.113" => "an Ed448 public key",
        "1.2.840.10045.2.1" => match info.algorithm.parameters.map(|p| p.value().to_vec()) {
            Some(p) if p == [0x2b, 0x81, 0x04, 0x00, 0x22] => "an ECDSA P-384 public key",
            Some(p) if p == [0x2b, 0x81, 0x04, 0x00, 0x23] => "an ECDSA P-521 public key",
            _ => "an ECDSA public key on a curve other than P-256",
        },
        _ => "a public key of an unknown algorithm",
    })
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureProblem {
    /// The bytes are not a signature of the key's algorithm.
    Malformed,
    /// A well-formed signature that this key did not make over this content.
    WrongKeyOrContent,
    /// The key cannot verify a signature given only the content's digest
    /// (Ed25519 signs the whole message).
    NeedsMessage,
}

/// True if the PEM text is an encrypted private key (a password is needed).
pub fn is_encrypted(text: &[u8]) -> bool {
    pem_decode(text).is_some_and(|b| b.label == SIGSTORE_PRIVATE_KEY_LABEL || b.label == COSIGN_PRIVATE_KEY_LABEL)
}

/// Generates a key pair and writes `PREFIX.key` (encrypted with `password`,
/// mode 0600) and `PREFIX.pub`. Refuses to overwrite existing files.
pub fn generate_key_pair(prefix: &Path, password: &[u8]) -> Result<(PathBuf, PathBuf, PublicKey)> {
    let key_path = with_suffix(prefix, "key");
    let pub_path = with_suffix(prefix, "pub");
    for path in [&key_path, &pub_path] {
        if path.exists() {
            return Err(Error::KeyFileExists { path: path.clone() });
        }
    }
    let key = PrivateKey::generate()?;
    let public = key.public_key();
    write_new(&key_path, key.to_encrypted_pem(password)?.as_bytes(), 0o600)?;
    write_new(&pub_path, public.to_pem().as_bytes(), 0o644)?;
    Ok((key_path, pub_path, public))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` (failing if it exists) with `mode` and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| Error::io("cannot create", path, e))?;
    file.write_all(bytes).map_err(|e| Error::io("cannot write", path, e))?;
    file.sync_all().map_err(|e| Error::io("cannot sync", path, e))
}

fn random_fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| {
        Error::Usage(format!("the operating system's random source failed ({e}); no key material was made"))
    })
}

// ---------------------------------------------------------------------------
// go-securesystemslib `encrypted`: scrypt + nacl/secretbox, as JSON
// ---------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::B64.encode(bytes))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::B64.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// scrypt(password, salt) with N = 2^log_n, r = 8, p = 1, 32 bytes.
fn derive_key(password: &[u8], salt: &[u8], log_n: u8) -> Result<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    let params = scrypt::Params::new(log_n, 8, 1)
        .map_err(|_| key_error("being derived", "invalid scrypt parameters", "report this as a bug"))?;
    scrypt::scrypt(password, salt, &params, out.as_mut_slice())
        .map_err(|_| key_error("being derived", "invalid scrypt output length", "report this as a bug"))?;
    Ok(out)
}

/// Encrypts `plaintext` into go-securesystemslib's JSON (the body of cosign's PEM).
pub fn encrypt(plaintext: &[u8], password: &[u8], log_n: u8) -> Result<Vec<u8>> {
    if !ACCEPTED_LOG_N.contains(&log_n) {
        return Err(Error::Usage(format!(
            "scrypt N must be 2^15, 2^16 or 2^17 (cosign reads only these), not 2^{log_n}"
        )));
    }
    let mut salt = vec![0u8; SALT_LEN];
    let mut nonce = vec![0u8; NONCE_LEN];
    random_fill(&mut salt)?;
    random_fill(&mut nonce)?;
    let key = derive_key(password, &salt, log_n)?;
    let cipher = XSalsa20Poly1305::new(BoxKey::from_slice(key.as_slice()));
    let ciphertext = cipher
        .encrypt(BoxNonce::from_slice(&nonce), plaintext)
        .map_err(|_| key_error("being written", "secretbox encryption failed", "report this as a bug"))?;
    let doc = Encrypted {
        kdf: Kdf { name: "scrypt".into(), params: KdfParams { n: 1 << log_n, r: 8, p: 1 }, salt },
        cipher: Cipher { name: "nacl/secretbox".into(), nonce },
        ciphertext,
    };
    serde_json::to_vec(&doc).map_err(|e| key_error("being written", e.to_string(), "report this as a bug"))
}

/// Decrypts go-securesystemslib's JSON with `password`, checking the KDF and
/// cipher names and accepting only the scrypt parameters cosign accepts.
pub fn decrypt(what: &str, json: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let damaged = "the file is damaged or not a cosign key; generate a new key pair";
    let doc: Encrypted = serde_json::from_slice(json)
        .map_err(|e| key_error(what, format!("the encrypted key is not the JSON cosign writes ({e})"), damaged))?;
    if doc.kdf.name != "scrypt" {
        return Err(key_error(
            what,
            format!("unknown key derivation {:?} (cosign uses scrypt)", doc.kdf.name),
            damaged,
        ));
    }
    if doc.cipher.name != "nacl/secretbox" {
        return Err(key_error(
            what,
            format!("unknown cipher {:?} (cosign uses nacl/secretbox)", doc.cipher.name),
            damaged,
        ));
    }
    let KdfParams { n, r, p } = doc.kdf.params;
    let log_n = ACCEPTED_LOG_N.iter().copied().find(|l| 1u64 << l == n).filter(|_| r == 8 && p == 1).ok_or_else(|| {
        key_error(
            what,
            format!("unsupported scrypt parameters N={n}, r={r}, p={p} (cosign accepts N of 2^15, 2^16 or 2^17 with r=8, p=1)"),
            damaged,
        )
    })?;
    if doc.cipher.nonce.len() != NONCE_LEN {
        return Err(key_error(what, "the secretbox nonce is not 24 bytes", damaged));
    }
    let key = derive_key(password, &doc.kdf.salt, log_n)?;
    let cipher = XSalsa20Poly1305::new(BoxKey::from_slice(key.as_slice()));
    cipher.decrypt(BoxNonce::from_slice(&doc.cipher.nonce), doc.ciphertext.as_slice()).map(Zeroizing::new).map_err(
        |_| {
            key_error(
                what,
                "decryption failed: the password is wrong (or the file was altered)",
                "set the key's password in WHARF_PASSWORD (or COSIGN_PASSWORD), or type it at the prompt",
            )
        },
    )
}

// ---------------------------------------------------------------------------
// PEM, leniently read (text around the block, CRLF), written as Go writes it
// ---------------------------------------------------------------------------

/// One PEM block.
struct PemBlock {
    label: String,
    body: Vec<u8>,
}

/// The first PEM block in `text`.
fn pem_decode(text: &[u8]) -> Option<PemBlock> {
    let text = std::str::from_utf8(text).ok()?;
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end_marker = format!("-----END {label}-----");
    let (inner, _) = rest.split_once(&end_marker)?;
    // Skip RFC 1421 headers (`Proc-Type: ...`) if any; the body is the rest.
    let body: String = inner.lines().filter(|l| !l.contains(':')).flat_map(|l| l.trim().chars()).collect();
    let body = B64.decode(body.as_bytes()).ok()?;
    Some(PemBlock { label: label.to_string(), body })
}

/// PEM with 64-character lines and a trailing newline (Go's `pem.EncodeToMemory`).
fn pem_encode(label: &str, body: &[u8]) -> String {
    let b64 = B64.encode(body);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads a password-protected or plain private key file.
pub fn read_private_key(path: &std::path::Path, password: &[u8]) -> Result<PrivateKey> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read the key file", path, e))?;
    PrivateKey::from_pem(&path.display().to_string(), &text, password)
}

/// Reads a public key file.
pub fn read_public_key(path: &std::path::Path) -> Result<PublicKey> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read the key file", path, e))?;
    PublicKey::from_pem(&path.display().to_string(), &text)
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
