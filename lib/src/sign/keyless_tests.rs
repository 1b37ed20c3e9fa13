//! Keyless verification against a real keyless bundle and trusted roots from
//! sigstore-python's test assets (`registry-tests/fixtures/keyless`, see its README).

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../registry-tests/fixtures/keyless/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn staging() -> TrustedRoot {
    TrustedRoot::from_json("staging_trusted_root.json", &fixture("staging_trusted_root.json")).expect("the root reads")
}

fn expected() -> ExpectedIdentity {
    ExpectedIdentity { identity: "william@yossarian.net".into(), issuer: "https://github.com/login/oauth".into() }
}

fn digest() -> Vec<u8> {
    Sha256::digest(fixture("bundle_v3.txt")).to_vec()
}

fn problem(result: std::result::Result<KeylessVerified, Rejection>) -> (Problem, String) {
    result.expect_err("rejected")
}

#[test]
fn a_real_keyless_bundle_verifies_offline() {
    let verified = verify_message_bundle(&fixture("bundle_v3.txt.sigstore"), &digest(), &staging(), &expected())
        .expect("the bundle verifies");
    assert_eq!(verified.identity, "william@yossarian.net");
    assert_eq!(verified.issuer, "https://github.com/login/oauth");
    assert_eq!(verified.integrated_time, 1712085549);
    assert_eq!(verified.log_index, 25915956);
}

#[test]
fn another_identity_or_issuer_is_rejected_by_name() {
    let bundle = fixture("bundle_v3.txt.sigstore");
    let mut other = expected();
    other.identity = "mallory@example.com".into();
    let (p, reason) = problem(verify_message_bundle(&bundle, &digest(), &staging(), &other));
    assert_eq!(p, Problem::WrongIdentity);
    assert!(reason.contains("william@yossarian.net") && reason.contains("mallory@example.com"), "{reason}");
    let mut other = expected();
    other.issuer = "https://token.actions.githubusercontent.com".into();
    let (p, reason) = problem(verify_message_bundle(&bundle, &digest(), &staging(), &other));
    assert_eq!(p, Problem::WrongIssuer);
    assert!(reason.contains("https://github.com/login/oauth"), "{reason}");
}

#[test]
fn identity_and_issuer_patterns_match_whole_values_only() {
    let bundle = fixture("bundle_v3.txt.sigstore");
    let pattern = |identity: &str, issuer: &str| ExpectedIdentity {
        identity: Matcher::pattern(identity).expect("valid pattern"),
        issuer: Matcher::pattern(issuer).expect("valid pattern"),
    };
    let verified = verify_message_bundle(
        &bundle,
        &digest(),
        &staging(),
        &pattern(r".*@yossarian\.net", r"https://github\.com/.*"),
    )
    .expect("the patterns match");
    assert_eq!(verified.identity, "william@yossarian.net", "the matched name is reported");
    // Anchored: a pattern matching part of the name is not enough.
    let (p, reason) = problem(verify_message_bundle(&bundle, &digest(), &staging(), &pattern("yossarian", ".*")));
    assert_eq!(p, Problem::WrongIdentity);
    assert!(reason.contains("a match of /yossarian/"), "{reason}");
    let (p, _) =
        problem(verify_message_bundle(&bundle, &digest(), &staging(), &pattern(".*", "https://gitlab.com/.*")));
    assert_eq!(p, Problem::WrongIssuer);
    let bad = Matcher::pattern("(").expect_err("invalid");
    assert!(bad.to_string().contains("not a valid regular expression"), "{bad}");
}

#[test]
fn a_certificate_not_chaining_to_the_trusted_root_is_untrusted() {
    // The production root: the staging certificate does not chain to it.
    let production =
        TrustedRoot::from_json("production", &fixture("production_trusted_root.json")).expect("the root reads");
    let (p, reason) =
        problem(verify_message_bundle(&fixture("bundle_v3.txt.sigstore"), &digest(), &production, &expected()));
    assert_eq!(p, Problem::UntrustedCertificate, "{reason}");
    assert!(reason.contains("fulcio.sigstore.dev"), "{reason}");
}

fn edit(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&fixture("bundle_v3.txt.sigstore")).expect("JSON");
    f(&mut doc);
    serde_json::to_vec(&doc).expect("JSON")
}

#[test]
fn a_tampered_inclusion_promise_or_log_entry_is_rejected() {
    let entry = "/verificationMaterial/tlogEntries/0";
    // The integrated time moved by a second (still inside the certificate's validity).
    let later = edit(|d| {
        if let Some(t) = d.pointer_mut(&format!("{entry}/integratedTime")) {
            *t = Value::String("1712085550".into());
        }
    });
    let (p, reason) = problem(verify_message_bundle(&later, &digest(), &staging(), &expected()));
    assert_eq!(p, Problem::InvalidLogEntry);
    assert!(reason.contains("SET"), "{reason}");
    // A flipped byte in the SET.
    let flipped = edit(|d| {
        if let Some(Value::String(set)) = d.pointer_mut(&format!("{entry}/inclusionPromise/signedEntryTimestamp")) {
            let mut bytes = B64.decode(set.as_bytes()).expect("base64");
            if let Some(b) = bytes.last_mut() {
                *b ^= 1;
            }
            *set = B64.encode(bytes);
        }
    });
    let (p, _) = problem(verify_message_bundle(&flipped, &digest(), &staging(), &expected()));
    assert_eq!(p, Problem::InvalidLogEntry);
    // No promise at all.
    let none = edit(|d| {
        if let Some(e) = d.pointer_mut(entry).and_then(Value::as_object_mut) {
            e.remove("inclusionPromise");
        }
    });
    let (p, reason) = problem(verify_message_bundle(&none, &digest(), &staging(), &expected()));
    assert_eq!(p, Problem::InvalidLogEntry);
    assert!(reason.contains("inclusion promise"), "{reason}");
}

#[test]
fn another_digest_or_signature_is_rejected() {
    let bundle = fixture("bundle_v3.txt.sigstore");
    let other = Sha256::digest(b"other content").to_vec();
    let (p, _) = problem(verify_message_bundle(&bundle, &other, &staging(), &expected()));
    assert_eq!(p, Problem::DigestMismatch);
    // A signature swapped for another (valid DER, wrong bytes): the log entry no longer matches.
    let swapped = edit(|d| {
        if let Some(Value::String(sig)) = d.pointer_mut("/messageSignature/signature") {
            let mut bytes = B64.decode(sig.as_bytes()).expect("base64");
            if let Some(b) = bytes.get_mut(10) {
                *b ^= 1;
            }
            *sig = B64.encode(bytes);
        }
    });
    let (p, reason) = problem(verify_message_bundle(&swapped, &digest(), &staging(), &expected()));
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another signature"), "{reason}");
}

#[test]
fn trusted_roots_that_are_not_are_refused() {
    let err = TrustedRoot::from_json("t.json", b"{}").err().expect("refused");
    assert!(err.to_string().contains("certificateAuthorities"), "{err}");
    let err = TrustedRoot::from_json("t.json", b"not json").err().expect("refused");
    assert!(err.to_string().contains("t.json"), "{err}");
}

/// sigstore-go `examples/bundle-provenance.json` (Apache-2.0): a keyless DSSE bundle (npm
/// provenance of sigstore-js 1.3.0, GitHub Actions identity), logged as `intoto` 0.0.2 in the
/// public-good Rekor, with sigstore-go's `examples/trusted-root-public-good.json`.
fn provenance_identity() -> ExpectedIdentity {
    ExpectedIdentity {
        identity: "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main".into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
    }
}

fn public_good() -> TrustedRoot {
    TrustedRoot::from_json("public-good", &fixture("trusted-root-public-good.json")).expect("the root reads")
}

#[test]
fn a_real_keyless_dsse_bundle_verifies_offline_and_returns_its_statement() {
    let (who, payload) = verify_dsse_bundle(&fixture("bundle-provenance.json"), &public_good(), &provenance_identity())
        .expect("the DSSE bundle verifies");
    assert_eq!(who.integrated_time, 1681839912);
    assert_eq!(who.log_index, 18300934);
    assert_eq!(who.log, "https://rekor.sigstore.dev");
    let statement: Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(statement["subject"][0]["name"], "pkg:npm/sigstore@1.3.0");

    // Another identity, the staging root, and an altered payload are each named.
    let mut other = provenance_identity();
    other.identity = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/evil".into();
    let (p, _) = verify_dsse_bundle(&fixture("bundle-provenance.json"), &public_good(), &other).expect_err("rejected");
    assert_eq!(p, Problem::WrongIdentity);
    let (p, _) = verify_dsse_bundle(&fixture("bundle-provenance.json"), &staging(), &provenance_identity())
        .expect_err("rejected");
    assert_eq!(p, Problem::UntrustedCertificate);
    let mut doc: Value = serde_json::from_slice(&fixture("bundle-provenance.json")).expect("JSON");
    if let Some(Value::String(payload)) = doc.pointer_mut("/dsseEnvelope/payload") {
        let mut bytes = B64.decode(payload.as_bytes()).expect("base64");
        if let Some(b) = bytes.iter_mut().find(|b| **b == b'1') {
            *b = b'2';
        }
        *payload = B64.encode(bytes);
    }
    let altered = serde_json::to_vec(&doc).expect("JSON");
    let (p, reason) = verify_dsse_bundle(&altered, &public_good(), &provenance_identity()).expect_err("rejected");
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another payload"), "{reason}");
}
