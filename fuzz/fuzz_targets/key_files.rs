//! Key files: `PublicKey::from_pem` (a `--key` file for verify) and
//! `PrivateKey::from_pem` (a signing key, encrypted or not), on arbitrary bytes.
//!
//! Invariants: every failure is `Error::InvalidKey` naming the file and saying
//! why, and never contains the password; a public key that loads prints as PEM
//! and DER that load back to the same key with the same algorithm; a private
//! key that loads signs a message that its public key verifies, and the
//! signature does not verify for another message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::sign::Error;
use wharf::sign::keys::{PrivateKey, PublicKey, is_encrypted};

const WHAT: &str = "fuzz.key";
const PASSWORD: &[u8] = b"fuzz-password-0c7e";

fuzz_target!(|data: &[u8]| {
    check_public(data);
    check_private(data);
});

fn assert_key_error(error: &Error) {
    match error {
        Error::InvalidKey { what, reason, fix } => {
            assert_eq!(what, WHAT);
            assert!(!reason.is_empty() && !fix.to_string().is_empty(), "a key error says why and how to fix it");
            let text = error.to_string();
            let password = std::str::from_utf8(PASSWORD).unwrap_or_default();
            assert!(!text.contains(password), "the password leaked into an error: {text}");
        }
        other => panic!("not an InvalidKey error: {other:?}"),
    }
}

fn check_public(data: &[u8]) {
    let key = match PublicKey::from_pem(WHAT, data) {
        Ok(key) => key,
        Err(e) => return assert_key_error(&e),
    };
    let from_pem = PublicKey::from_pem(WHAT, key.to_pem().as_bytes())
        .unwrap_or_else(|e| panic!("a loaded public key's PEM does not load: {e}"));
    assert_eq!(from_pem, key, "PEM round trip changed the key");
    let from_der = PublicKey::from_der(WHAT, &key.to_der())
        .unwrap_or_else(|e| panic!("a loaded public key's DER does not load: {e}"));
    assert_eq!(from_der, key, "DER round trip changed the key");
    assert_eq!(from_der.algorithm(), key.algorithm());
    assert!(key.verify(b"message", &[]).is_err(), "an empty signature verified");
}

fn check_private(data: &[u8]) {
    let key = match PrivateKey::from_pem(WHAT, data, PASSWORD) {
        Ok(key) => key,
        Err(e) => return assert_key_error(&e),
    };
    assert!(!format!("{key:?}").is_empty());
    let public = key.public_key();
    assert_eq!(public.algorithm(), key.algorithm());
    let signature = key.sign(b"fuzzed message");
    assert!(public.verify(b"fuzzed message", &signature).is_ok(), "a fresh signature does not verify");
    assert!(public.verify(b"another message", &signature).is_err(), "a signature verified another message");
    if is_encrypted(data) {
        // Only the right password opens it (the fuzzer cannot forge the MAC).
        assert!(PrivateKey::from_pem(WHAT, data, b"wrong").is_err(), "a wrong password opened the key");
    }
}
