//! Key file tests, against key files and vectors written by cosign and
//! go-securesystemslib (not by wharf).

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/cosign/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// go-securesystemslib `encrypted/encrypted_test.go` (MIT): `kdfVectors`, plaintext
/// "reallyimportant", passphrase "supersecret", for N = 2^15, 2^16, 2^17.
const SSL_VECTORS: [&str; 3] = [
    r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"WO3mVvyTwJ9vwT5/Tk5OW5WPIBUofMjcpEfrLnfY4uA="},"cipher":{"name":"nacl/secretbox","nonce":"tCy7HcTFr4uxv4Nrg/DWmncuZ148U1MX"},"ciphertext":"08n43p5G5yviPEZpO7tPPF4aZQkWiWjkv4taFdhDBA0tamKH4nw="}"#,
    r#"{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"FhzPOt9/bJG4PTq6lQ6ecG6GzaOuOy/ynG5+yRiFlNs="},"cipher":{"name":"nacl/secretbox","nonce":"aw1ng1jHaDz/tQ7V2gR9O2+IGQ8xJEuE"},"ciphertext":"HycvuLZL4sYH0BrYTh4E/H20VtAW6u5zL5Pr+IBjYLYnCPzDkq8="}"#,
    r#"{"kdf":{"name":"scrypt","params":{"N":131072,"r":8,"p":1},"salt":"m38E3kouJTtiheLQN22NQ8DTito5hrjpUIskqcd375k="},"cipher":{"name":"nacl/secretbox","nonce":"Y6PM13yA+o44pE/W1ZBwczeGnTV/m9Zc"},"ciphertext":"6H8sqj1K6B6yDjtH5AQ6lbFigg/C2yDDJc4rYJ79w9aVPImFIPI="}"#,
];

#[test]
fn go_securesystemslib_vectors_decrypt_for_every_accepted_n() {
    for vector in SSL_VECTORS {
        let plain = decrypt("vector", vector.as_bytes(), b"supersecret").expect("the vector decrypts");
        // go-securesystemslib's test marshals the []byte to JSON first: a quoted base64 string.
        assert_eq!(plain.as_slice(), br#""cmVhbGx5aW1wb3J0YW50""#);
        let wrong = decrypt("vector", vector.as_bytes(), b"supersecreT").expect_err("a wrong password fails");
        assert!(wrong.to_string().contains("password is wrong"), "{wrong}");
        assert!(!wrong.to_string().contains("supersecre"), "the password never appears in errors: {wrong}");
    }
}

#[test]
fn other_scrypt_parameters_and_ciphers_are_refused_by_name() {
    let weak = SSL_VECTORS[0].replace("32768", "1024");
    let err = decrypt("k", weak.as_bytes(), b"supersecret").expect_err("N=2^10 refused");
    assert!(err.to_string().contains("N=1024"), "{err}");
    let cipher = SSL_VECTORS[0].replace("nacl/secretbox", "aes-gcm");
    let err = decrypt("k", cipher.as_bytes(), b"supersecret").expect_err("unknown cipher refused");
    assert!(err.to_string().contains("aes-gcm"), "{err}");
}

#[test]
fn what_wharf_encrypts_has_cosigns_json_fields_and_decrypts() {
    for log_n in [15, 16, 17] {
        let json = encrypt(b"secret bytes", b"", log_n).expect("encrypts");
        let value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        assert_eq!(value["kdf"]["name"], "scrypt");
        assert_eq!(value["kdf"]["params"], serde_json::json!({"N": 1u64 << log_n, "r": 8, "p": 1}));
        assert_eq!(value["cipher"]["name"], "nacl/secretbox");
        let keys: Vec<&String> = value.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["kdf", "cipher", "ciphertext"]);
        assert_eq!(decrypt("k", &json, b"").expect("empty password works").as_slice(), b"secret bytes");
    }
    assert!(encrypt(b"x", b"", 14).is_err());
}

#[test]
fn a_key_file_written_by_cosign_loads_and_signs() {
    let key = PrivateKey::from_pem("sigstore-labelled.key", &fixture("sigstore-labelled.key"), b"hello")
        .expect("cosign's ENCRYPTED SIGSTORE PRIVATE KEY (N=2^15) loads with its password");
    let public = key.public_key();
    let signature = key.sign(b"payload");
    assert_eq!(public.verify(b"payload", &signature), Ok(()));
    assert_eq!(public.verify(b"payloaD", &signature), Err(SignatureProblem::WrongKeyOrContent));
    let wrong = PrivateKey::from_pem("sigstore-labelled.key", &fixture("sigstore-labelled.key"), b"hellO")
        .expect_err("wrong password");
    assert!(wrong.to_string().contains("sigstore-labelled.key"), "{wrong}");
}

#[test]
fn cosign_labelled_files_load_and_rsa_is_named() {
    PrivateKey::from_pem("k", &fixture("cosign-labelled.key"), b"hello")
        .expect("ENCRYPTED COSIGN PRIVATE KEY (N=2^15) loads");
    PrivateKey::from_pem("k", &fixture("cosign-labelled-sec1.key"), b"hello")
        .expect("ENCRYPTED COSIGN PRIVATE KEY (N=2^16) holding a SEC1 P-256 key loads");
    let rsa = PrivateKey::from_pem("k", &fixture("rsa-pkcs8.key"), b"").expect_err("RSA refused");
    assert!(rsa.to_string().contains("RSA"), "{rsa}");
}

/// cosign `pkg/cosign/keys_test.go` (Apache-2.0): unencrypted keys cosign imports.
#[test]
fn unencrypted_keys_load_and_other_algorithms_are_named() {
    let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIGhcmCI5F7BPMH4r3pWCpQdAsveErdU5DjvVQerErJuoAoGCCqGSM49\nAwEHoUQDQgAE+9E3Qe+h25ofmz3Uo2T004Dfy49iX06MMbxf9rsGmLkOPrS0KYDl\n1QMfFuSbrtf8wTWNT9HNxrW/Foz39mDhHw==\n-----END EC PRIVATE KEY-----";
    let pkcs8 = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmKnLL81dCEYc6Spq\nrFukFeTnU5JjtXfeNHAXJj3hYTahRANCAATjp4/Z4tUbZwUdId07GQeUdwLll4Br\nYLP25Fk+mBY2G0lyKqjqLG5hxhimbEJH6j+lzg5tcYpQgzXtOJ66Zi0N\n-----END PRIVATE KEY-----";
    let ed25519 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIALEbo1EFnWFqBK/wC+hhypG/8hXEerwdNetAoFoFVdv\n-----END PRIVATE KEY-----";
    assert!(!is_encrypted(sec1.as_bytes()));
    PrivateKey::from_pem("k", sec1.as_bytes(), b"").expect("EC PRIVATE KEY loads");
    PrivateKey::from_pem("k", pkcs8.as_bytes(), b"").expect("PKCS#8 P-256 loads");
    let ed = PrivateKey::from_pem("k", ed25519.as_bytes(), b"").expect("PKCS#8 Ed25519 loads");
    assert_eq!(ed.algorithm(), Algorithm::Ed25519);
    let err = PrivateKey::from_pem("k", b"not a key", b"").expect_err("garbage refused");
    assert!(err.to_string().contains("no PEM block"), "{err}");
}

#[test]
fn generated_keys_round_trip_through_cosigns_pem() {
    let key = PrivateKey::generate().expect("generates");
    let pem = key.to_encrypted_pem(b"pw").expect("encrypts");
    assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), "{pem}");
    assert!(pem.lines().all(|l| l.len() <= 64));
    assert!(is_encrypted(pem.as_bytes()));
    let back = PrivateKey::from_pem("k", pem.as_bytes(), b"pw").expect("decrypts");
    assert_eq!(back.public_key(), key.public_key());
    let public = PublicKey::from_pem("k.pub", key.public_key().to_pem().as_bytes()).expect("public key reads");
    assert_eq!(public, key.public_key());
    assert_eq!(public.hint().len(), 44);
    assert!(format!("{key:?}").contains("redacted"));
    let err = PublicKey::from_pem("k.key", pem.as_bytes()).expect_err("a private key is not a public key");
    assert!(err.hint().is_some_and(|h| h.contains(".pub")), "{err}");
}

/// sigstore/sigstore `pkg/signature/ed25519ph_test.go` (Apache-2.0): a key made
/// by `openssl genpkey -algorithm ed25519` and the Ed25519ph signature Go's
/// signer makes of "sign me" with it. Ed25519 is deterministic, so wharf must
/// produce exactly these bytes (the scheme cosign uses for Ed25519 key files).
const SIGSTORE_ED25519PH_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFP9CZb6J1DiOLfdIkPfy1bwBOCjEG6KR/cIdhw90J1H\n-----END PRIVATE KEY-----";
const SIGSTORE_ED25519PH_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA9wy4umF4RHQ8UQXo8fzEQNBWE4GsBMkCzQPAfHvkf/s=\n-----END PUBLIC KEY-----";
const SIGSTORE_ED25519PH_SIG: &str =
    "9D4pA8jutZnbqKy4fFRl+kDsVUCO50qrOD1lxmsiUFk6NX+7OXUK5BCMkE2KYPRDxjkDFBzbDZEQhaFdDV5tDg==";

#[test]
fn ed25519_keys_sign_ed25519ph_exactly_as_sigstore_go_does() {
    let key = PrivateKey::from_pem("ed.key", SIGSTORE_ED25519PH_KEY.as_bytes(), b"").expect("the key loads");
    let expected = B64.decode(SIGSTORE_ED25519PH_SIG).expect("base64");
    assert_eq!(key.sign(b"sign me"), expected, "byte-identical to sigstore-go's Ed25519ph signer");
    let public = PublicKey::from_pem("ed.pub", SIGSTORE_ED25519PH_PUB.as_bytes()).expect("the public key loads");
    assert_eq!(public, key.public_key());
    assert_eq!(public.algorithm(), Algorithm::Ed25519);
    assert_eq!(public.verify(b"sign me", &expected), Ok(()));
    assert_eq!(public.verify(b"sign mE", &expected), Err(SignatureProblem::WrongKeyOrContent));
    assert_eq!(public.verify(b"sign me", &expected[..63]), Err(SignatureProblem::Malformed));
    // An ECDSA key does not verify it, and an Ed25519 key does not verify ECDSA signatures.
    let ecdsa = PrivateKey::generate().expect("generates");
    assert_eq!(ecdsa.public_key().verify(b"sign me", &expected), Err(SignatureProblem::WrongKeyOrContent));
    assert!(public.verify(b"sign me", &ecdsa.sign(b"sign me")).is_err());
}

#[test]
fn ed25519_keys_round_trip_through_cosigns_encrypted_pem() {
    let key = PrivateKey::from_pem("ed.key", SIGSTORE_ED25519PH_KEY.as_bytes(), b"").expect("the key loads");
    let pem = key.to_encrypted_pem_with(b"pw", 15).expect("encrypts");
    let back = PrivateKey::from_pem("ed.key", pem.as_bytes(), b"pw").expect("decrypts");
    assert_eq!(back.public_key(), key.public_key());
    assert_eq!(back.algorithm(), Algorithm::Ed25519);
    assert!(format!("{back:?}").contains("redacted"));
    assert_eq!(key.public_key().hint().len(), 44);
}

#[test]
fn unsupported_public_keys_are_named() {
    // openssl genpkey -algorithm ed448; openssl pkey -pubout
    let ed448 = "-----BEGIN PUBLIC KEY-----\nMEMwBQYDK2VxAzoAjcoNH3b95797OSq5ykFuDrNs5S9aJJuKtd++xlLsneLxJLyh\ncAk5Vw5w2c8kIJTjSewzZ60MZb6A\n-----END PUBLIC KEY-----";
    let err = PublicKey::from_pem("k.pub", ed448.as_bytes()).expect_err("Ed448 refused");
    assert!(err.to_string().contains("Ed448"), "{err}");
}

#[test]
fn a_damaged_public_key_is_named_as_damaged_not_missing() {
    let public = PrivateKey::generate().expect("a key").public_key().to_pem();
    let damaged = public.replacen("\n", "\n!!", 2);
    let err = PublicKey::from_pem("k.pub", damaged.as_bytes()).expect_err("refused");
    assert!(err.to_string().contains("PEM block is damaged"), "{err}");
    let err = PublicKey::from_pem("k.pub", b"not a key").expect_err("refused");
    assert!(err.to_string().contains("holds no PEM block"), "{err}");
}

#[test]
fn message_digests_verify_with_p256_and_rsa_keys_but_ed25519_needs_the_message() {
    use sha2::{Digest as _, Sha256};
    let key = PrivateKey::generate().expect("a key");
    let signature = key.sign(b"artifact");
    let digest = Sha256::digest(b"artifact");
    assert_eq!(key.public_key().verify_sha256_digest(&digest, &signature), Ok(()));
    let other = Sha256::digest(b"artifacT");
    assert_eq!(key.public_key().verify_sha256_digest(&other, &signature), Err(SignatureProblem::WrongKeyOrContent));
    assert_eq!(
        key.public_key().verify_sha256_digest(&digest[..31], &signature),
        Err(SignatureProblem::WrongKeyOrContent)
    );
    let ed25519 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIALEbo1EFnWFqBK/wC+hhypG/8hXEerwdNetAoFoFVdv\n-----END PRIVATE KEY-----";
    let ed = PrivateKey::from_pem("k", ed25519.as_bytes(), b"").expect("PKCS#8 Ed25519 loads");
    let signature = ed.sign(b"artifact");
    assert_eq!(ed.public_key().verify_sha256_digest(&digest, &signature), Err(SignatureProblem::NeedsMessage));
}
