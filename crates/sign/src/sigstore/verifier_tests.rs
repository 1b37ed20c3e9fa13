//! The verifier's rules that the conformance suite (`registry-tests/tests/sigstore_conformance.rs`)
//! touches only in passing, on its cases (vendored in `registry-tests/fixtures/sigstore-conformance`)
//! edited one respect at a time.

use serde_json::Value;

use super::*;
use crate::sigstore::encoding::base64_bytes;
use crate::sigstore::keyless::Matcher;

const CASES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/sigstore-conformance/bundle-verify/");
const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{CASES}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> Value {
    serde_json::from_slice(&read(path)).expect("JSON")
}

/// The SHA-256 of the suite's default artifact, `a.txt`.
fn a_txt() -> Vec<u8> {
    sha2::Sha256::digest(read("a.txt")).to_vec()
}

fn beacon(root: TrustedRoot) -> Trust {
    Trust::Keyless {
        root,
        expected: ExpectedIdentity {
            identity: Matcher::Exact(BEACON.into()),
            issuer: Matcher::Exact("https://token.actions.githubusercontent.com".into()),
        },
    }
}

fn public_good() -> TrustedRoot {
    TrustedRoot::public_good().expect("the built-in root")
}

fn now() -> i64 {
    super::super::now()
}

/// `doc` (a bundle's JSON) through the parser and the verifier.
fn run(doc: &Value, trust: &Trust, at: i64) -> Result<Verified, Rejection> {
    let bundle = Bundle::parse(&serde_json::to_vec(doc).expect("JSON")).map_err(|e| (Problem::Malformed, e))?;
    verify(&bundle, &a_txt(), Subjects::MustNameArtifact, trust, at)
}

#[test]
fn only_the_bundle_media_types_that_exist_are_read() {
    let mut doc = json("happy-path-v0.3/bundle.sigstore.json");
    for accepted in
        ["application/vnd.dev.sigstore.bundle+json;version=0.3", "application/vnd.dev.sigstore.bundle.v0.3+json"]
    {
        doc["mediaType"] = Value::from(accepted);
        run(&doc, &beacon(public_good()), now()).unwrap_or_else(|e| panic!("{accepted}: {e:?}"));
    }
    for refused in [
        "application/vnd.dev.sigstore.bundle.v0.4+json",
        "application/vnd.dev.sigstore.bundle.v0.3.1+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3.1",
        "application/vnd.dev.sigstore.bundle+json",
        "application/json",
        "",
    ] {
        doc["mediaType"] = Value::from(refused);
        let (problem, reason) = run(&doc, &beacon(public_good()), now()).expect_err(refused);
        assert_eq!(problem, Problem::Malformed);
        assert!(reason.contains("not a Sigstore bundle version"), "{refused}: {reason}");
    }
    // v0.1 and v0.2 read too (their own happy paths).
    for case in ["happy-path-v0.1", "happy-path-v0.2"] {
        run(&json(&format!("{case}/bundle.sigstore.json")), &beacon(public_good()), now()).expect(case);
    }
}

#[test]
fn a_v0_3_bundle_holds_one_certificate_not_a_chain() {
    let mut doc = json("happy-path-v0.3/bundle.sigstore.json");
    let material = doc["verificationMaterial"].as_object_mut().expect("material");
    let certificate = material.remove("certificate").expect("a certificate");
    material.insert("x509CertificateChain".into(), serde_json::json!({ "certificates": [certificate] }));
    let (_, reason) = run(&doc, &beacon(public_good()), now()).expect_err("a chain in v0.3");
    assert!(reason.contains("not a chain"), "{reason}");
}

#[test]
fn verification_needs_exactly_one_log_entry() {
    let mut doc = json("happy-path-v0.3/bundle.sigstore.json");
    let entry = doc.pointer("/verificationMaterial/tlogEntries/0").cloned().expect("an entry");
    doc["verificationMaterial"]["tlogEntries"] = Value::Array(vec![entry.clone(), entry]);
    let (problem, reason) = run(&doc, &beacon(public_good()), now()).expect_err("two entries");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("exactly one"), "{reason}");
    doc["verificationMaterial"]["tlogEntries"] = Value::Array(Vec::new());
    let (problem, reason) = run(&doc, &beacon(public_good()), now()).expect_err("no entry");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("no transparency-log entry"), "{reason}");
}

#[test]
fn an_integrated_time_in_the_future_is_refused() {
    let doc = json("happy-path-v0.1/bundle.sigstore.json");
    let integrated = 1689177396;
    let (problem, reason) = run(&doc, &beacon(public_good()), integrated - CLOCK_SKEW - 1).expect_err("future");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("in the future"), "{reason}");
    run(&doc, &beacon(public_good()), integrated - CLOCK_SKEW).expect("within the allowed clock skew");
}

#[test]
fn a_dsse_envelope_must_hold_an_in_toto_statement() {
    let happy = json("happy-path-intoto-in-dsse-v3/bundle.sigstore.json");
    run(&happy, &beacon(public_good()), now()).expect("the happy path");
    let mut other_type = happy.clone();
    other_type["dsseEnvelope"]["payloadType"] = Value::from("application/json");
    let (problem, reason) = run(&other_type, &beacon(public_good()), now()).expect_err("another payload type");
    assert_eq!(problem, Problem::Malformed);
    assert!(reason.contains("payload type"), "{reason}");
    let payload = happy["dsseEnvelope"]["payload"].as_str().and_then(base64_bytes).expect("a payload");
    let text = String::from_utf8(payload)
        .expect("text")
        .replace("https://in-toto.io/Statement/v1", "https://example.com/Statement/v1");
    let mut other_statement = happy.clone();
    other_statement["dsseEnvelope"]["payload"] =
        Value::from(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text));
    let (problem, reason) = run(&other_statement, &beacon(public_good()), now()).expect_err("not in-toto");
    assert_eq!(problem, Problem::Malformed);
    assert!(reason.contains("_type"), "{reason}");
}

#[test]
fn managed_keys_verify_with_the_key_and_the_logs() {
    let doc = json("managed-key-and-trusted-root/bundle.sigstore.json");
    let root =
        TrustedRoot::from_json("staging", &read("managed-key-and-trusted-root/trusted_root.json")).expect("root");
    let key = PublicKey::from_pem("key.pub", &read("managed-key-and-trusted-root/key.pub")).expect("the key");
    let managed = Trust::ManagedKey { key: key.clone(), root: root.clone() };
    let verified = run(&doc, &managed, now()).expect("verifies with the key and the logs");
    assert_eq!(verified.log.as_ref().map(|(url, _)| url.as_str()), Some("https://rekor.sigstage.dev"));
    assert_eq!(verified.integrated_time, Some(1767810965));
    // The key alone (no trusted root): the signature only.
    run(&doc, &Trust::Key(key.clone()), now()).expect("verifies with the key alone");
    // Another key: named by the hint the bundle carries.
    let other = crate::PrivateKey::generate().expect("a key").public_key();
    let (problem, reason) =
        run(&doc, &Trust::ManagedKey { key: other, root: root.clone() }, now()).expect_err("another key");
    assert_eq!(problem, Problem::InvalidLogEntry, "the log entry records the real key: {reason}");
    // A root without that log.
    let (problem, reason) =
        run(&doc, &Trust::ManagedKey { key, root: public_good() }, now()).expect_err("another instance");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("not in the trusted root"), "{reason}");
    // Keyless trust for a key-made bundle, and a key for a keyless bundle.
    let (problem, reason) = run(&doc, &beacon(root), now()).expect_err("no certificate");
    assert_eq!(problem, Problem::Unsupported);
    assert!(reason.contains("--key"), "{reason}");
    let keyless = json("happy-path-v0.3/bundle.sigstore.json");
    let key = crate::PrivateKey::generate().expect("a key").public_key();
    let (problem, reason) = run(&keyless, &Trust::Key(key), now()).expect_err("a certificate");
    assert_eq!(problem, Problem::Unsupported);
    assert!(reason.contains("--certificate-identity"), "{reason}");
}

#[test]
fn a_key_made_signature_of_another_key_is_named_by_the_bundles_hint() {
    let doc = json("managed-key-and-trusted-root/bundle.sigstore.json");
    let other = crate::PrivateKey::generate().expect("a key").public_key();
    let (problem, reason) = run(&doc, &Trust::Key(other), now()).expect_err("another key");
    assert_eq!(problem, Problem::WrongKey);
    assert!(reason.contains("the bundle names another key (hint TLMsSDfG3ajPsWge"), "{reason}");
}

#[test]
fn a_certificate_needs_an_sct_from_a_ct_log_of_the_trusted_root() {
    let doc = json("happy-path-v0.3/bundle.sigstore.json");
    let mut root: Value = serde_json::from_slice(include_bytes!("public_good_trusted_root.json")).expect("JSON");
    root["ctlogs"] = Value::Array(Vec::new());
    let root = TrustedRoot::from_json("no CT logs", &serde_json::to_vec(&root).expect("JSON")).expect("root");
    let (problem, reason) = run(&doc, &beacon(root), now()).expect_err("no CT log");
    assert_eq!(problem, Problem::UntrustedCertificate);
    assert!(reason.contains("signed certificate timestamp") && reason.contains("not a CT log"), "{reason}");
}

#[test]
fn base64_fields_read_as_protobuf_json_readers_do() {
    assert_eq!(base64_bytes("aGVsbG8="), Some(b"hello".to_vec()));
    assert_eq!(base64_bytes("aGVsbG8"), Some(b"hello".to_vec()), "padding optional");
    assert_eq!(base64_bytes("aGVs\nbG8=\n"), Some(b"hello".to_vec()), "line breaks ignored");
    assert_eq!(base64_bytes("aGVs bG8="), None, "spaces inside are not base64");
    assert_eq!(base64_bytes("INVALID!!!BASE64"), None);
}

#[test]
fn a_rekor_v2_dsse_entry_is_refused_as_rekor_v2_records_dsse_as_hashedrekord() {
    // Rekor v2 has one entry type (rekor-v2-spec §4.3): a `dsse` 0.0.2 body (an early
    // rekor-tiles draft) is refused, as sigstore-go does, whatever it records.
    let bundle = Bundle::parse(&read("rekor2-dsse-happy-path/bundle.sigstore.json")).expect("the bundle parses");
    let mut entry = bundle.entries[0].clone();
    entry.kind = "dsse".into();
    let body = serde_json::json!({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {}}});
    entry.body = serde_json::to_vec(&body).expect("JSON");
    let (problem, reason) =
        crate::sigstore::tlog::check_body(&entry, &crate::sigstore::tlog::Signer::Key(&[]), &bundle.content, &[])
            .expect_err("refused");
    assert_eq!(problem, Problem::Unsupported);
    assert!(reason.contains("dsse 0.0.2"), "{reason}");
}

#[test]
fn an_rfc3161_time_in_the_future_is_refused() {
    let doc = json("rekor2-happy-path/bundle.sigstore.json");
    let root = TrustedRoot::from_json("staging", &read("rekor2-happy-path/trusted_root.json")).expect("root");
    let stamped = 1749729740;
    let (problem, reason) = run(&doc, &beacon(root.clone()), stamped - CLOCK_SKEW - 1).expect_err("future");
    assert_eq!(problem, Problem::InvalidTimestamp);
    assert!(reason.contains("in the future"), "{reason}");
    let verified = run(&doc, &beacon(root), stamped - CLOCK_SKEW).expect("within the allowed clock skew");
    assert_eq!((verified.integrated_time, verified.timestamps.as_slice()), (None, &[stamped][..]));
}
