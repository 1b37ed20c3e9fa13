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
    assert_eq!(problem, Problem::NeedsKey);
    assert!(reason.contains("verifies against its public key") && !reason.contains("--"), "{reason}");
    let keyless = json("happy-path-v0.3/bundle.sigstore.json");
    let key = crate::PrivateKey::generate().expect("a key").public_key();
    let (problem, reason) = run(&keyless, &Trust::Key(key), now()).expect_err("a certificate");
    assert_eq!(problem, Problem::NeedsIdentity);
    assert!(reason.contains("signer identity and OIDC issuer") && !reason.contains("--"), "{reason}");
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

// ---------------------------------------------------------------------------
// Review of issue 15, finding 1: what one bundle may make the verifier compute.

/// `happy-path-v0.3` with its checkpoint's signature lines replaced by `lines` (each a whole
/// `— NAME BASE64` line).
fn with_checkpoint_lines(lines: &[String]) -> Value {
    let mut doc = json("happy-path-v0.3/bundle.sigstore.json");
    let pointer = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";
    let note = doc.pointer(pointer).and_then(Value::as_str).expect("a checkpoint").to_string();
    let (text, _) = note.split_once("\n\n").expect("a signed note");
    let envelope = format!("{text}\n\n{}\n", lines.join("\n"));
    *doc.pointer_mut(pointer).expect("the checkpoint") = Value::from(envelope);
    doc
}

/// The real signature line of `happy-path-v0.3`'s checkpoint (rekor.sigstore.dev, key hint
/// c0d23d6a), and that line with its last base64 digit changed: the log's hint, a bad signature.
fn real_and_bad_lines() -> (String, String) {
    let doc = json("happy-path-v0.3/bundle.sigstore.json");
    let note = doc
        .pointer("/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope")
        .and_then(Value::as_str)
        .expect("a checkpoint");
    let real = note.split_once("\n\n").expect("a signed note").1.trim_end().to_string();
    assert!(real.ends_with('w') && real.lines().count() == 1, "{real}");
    let bad = format!("{}x", &real[..real.len() - 1]);
    (real, bad)
}

/// A cosignature line of another key (hint 00000000), as a witness would add.
fn foreign_line(name: &str) -> String {
    let mut bytes = vec![0u8; 4];
    bytes.extend_from_slice(&[7u8; 64]);
    format!("\u{2014} {name} {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes))
}

#[test]
fn a_checkpoint_with_more_than_100_signature_lines_is_refused_naming_the_limit() {
    let (real, _) = real_and_bad_lines();
    let mut lines: Vec<String> = (0..99).map(|i| foreign_line(&format!("witness-{i}"))).collect();
    lines.push(real);
    run(&with_checkpoint_lines(&lines), &beacon(public_good()), now()).expect("100 lines: the signed note limit");
    lines.insert(0, foreign_line("witness-100"));
    let (problem, reason) = run(&with_checkpoint_lines(&lines), &beacon(public_good()), now()).expect_err("101 lines");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("101 signature lines, more than the 100"), "{reason}");
}

#[test]
fn a_bad_signature_line_with_the_logs_key_hint_is_refused_even_before_a_good_one() {
    let (real, bad) = real_and_bad_lines();
    let (problem, reason) = run(&with_checkpoint_lines(&[bad.clone(), real.clone()]), &beacon(public_good()), now())
        .expect_err("bad first");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("checkpoint's signature does not verify with the log's key"), "{reason}");
    // A line of the same name and hint after a verified one is not verified again.
    run(&with_checkpoint_lines(&[real, bad]), &beacon(public_good()), now()).expect("one line per name and key");
}

#[test]
fn the_reviewers_checkpoint_of_7000_bad_log_lines_is_refused() {
    // /work/notes/rev/cp-amplify.json of the review: happy-path-v0.3 with 7000 copies of the
    // bad line before the real one (15 s of CPU in a debug build, then "verified").
    let (real, bad) = real_and_bad_lines();
    let mut lines = vec![bad; 7000];
    lines.push(real);
    let started = std::time::Instant::now();
    let (problem, reason) = run(&with_checkpoint_lines(&lines), &beacon(public_good()), now()).expect_err("amplified");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("7001 signature lines, more than the 100"), "{reason}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}

/// `rekor2-happy-path` with its one RFC 3161 timestamp repeated `copies` times.
fn with_timestamp_copies(copies: usize) -> Value {
    let mut doc = json("rekor2-happy-path/bundle.sigstore.json");
    let list = "/verificationMaterial/timestampVerificationData/rfc3161Timestamps";
    let one = doc.pointer(&format!("{list}/0")).cloned().expect("a timestamp");
    *doc.pointer_mut(list).expect("the timestamps") = Value::Array(vec![one; copies]);
    doc
}

#[test]
fn more_than_32_rfc3161_timestamps_are_refused_naming_the_limit() {
    let root = TrustedRoot::from_json("staging", &read("rekor2-happy-path/trusted_root.json")).expect("root");
    run(&with_timestamp_copies(32), &beacon(root.clone()), now()).expect("32 timestamps: the limit");
    let (problem, reason) = run(&with_timestamp_copies(33), &beacon(root), now()).expect_err("33 timestamps");
    assert_eq!(problem, Problem::InvalidTimestamp);
    assert!(reason.contains("33 RFC 3161 timestamps, more than the 32"), "{reason}");
}

// ---------------------------------------------------------------------------
// Review of issue 15, finding 3: the log index reported is one the log vouches for.

#[test]
fn a_rekor_v2_entry_whose_log_index_is_not_its_inclusion_proofs_is_refused() {
    let root = TrustedRoot::from_json("staging", &read("rekor2-happy-path/trusted_root.json")).expect("root");
    let mut doc = json("rekor2-happy-path/bundle.sigstore.json");
    let verified = run(&doc, &beacon(root.clone()), now()).expect("the happy path");
    assert_eq!(verified.log.map(|(_, index)| index), Some(Some(735)));
    // /work/notes/rev/rekor2-wrong-index.json of the review: verified, and reported 999999999.
    doc["verificationMaterial"]["tlogEntries"][0]["logIndex"] = Value::from("999999999");
    let (problem, reason) = run(&doc, &beacon(root), now()).expect_err("another index");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(reason.contains("logIndex 999999999 is not the index 735 its inclusion proof proves"), "{reason}");
}

#[test]
fn a_rekor_v1_entry_without_an_inclusion_promise_reports_no_log_index() {
    // cosign v3's sign-blob bundle (registry-tests/fixtures/keyless): a rekor.sigstore.dev entry
    // with SET, inclusion proof and an RFC 3161 timestamp. Its logIndex is the sharded log's
    // global index; the proof's (its shard's) differs, and only the SET signs the global one.
    let keyless = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/keyless/");
    let read_keyless = |name: &str| std::fs::read(format!("{keyless}{name}")).expect("a keyless fixture");
    let artifact = sha2::Sha256::digest(read_keyless("cosign-v3-blob.txt")).to_vec();
    let trust = Trust::Keyless {
        root: public_good(),
        expected: ExpectedIdentity {
            identity: Matcher::Exact("w.vollprecht@gmail.com".into()),
            issuer: Matcher::Exact("https://github.com/login/oauth".into()),
        },
    };
    let check = |doc: &Value| {
        let bundle = Bundle::parse(&serde_json::to_vec(doc).expect("JSON")).expect("the bundle parses");
        verify(&bundle, &artifact, Subjects::MustNameArtifact, &trust, now())
    };
    let mut doc: Value = serde_json::from_slice(&read_keyless("cosign-v3-blob.sigstore.json")).expect("JSON");
    let verified = check(&doc).expect("with its SET");
    assert_eq!(verified.log.map(|(_, index)| index), Some(Some(738312748)));
    assert_eq!(verified.keyless.map(|k| k.log_index), Some(Some(738312748)));
    let entry = doc.pointer_mut("/verificationMaterial/tlogEntries/0").and_then(Value::as_object_mut).expect("entry");
    entry.remove("inclusionPromise");
    let verified = check(&doc).expect("the proof, its checkpoint and the timestamp verify");
    assert_eq!(verified.integrated_time, None, "only the SET vouches for the integrated time");
    assert_eq!(verified.log.map(|(_, index)| index), Some(None), "nothing the log signed names its logIndex");
    assert_eq!(verified.keyless.map(|k| k.log_index), Some(None));
}

// ---------------------------------------------------------------------------
// Review of issue 15, finding 4: timestamps that do not verify are skipped, one authority counts once.

/// `rekor2-happy-path`'s bundle with `timestamps` (signed timestamps in their JSON form) as its RFC 3161 timestamps.
fn with_timestamps(timestamps: Vec<Value>) -> Value {
    let mut doc = json("rekor2-happy-path/bundle.sigstore.json");
    doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] = Value::Array(timestamps);
    doc
}

/// The happy path's timestamp (staging TSA, 1749729740), and one by freetsa.org of another
/// signature (`rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail`'s): an untrusted TSA.
fn good_and_foreign_timestamps() -> (Value, Value) {
    let list = "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0";
    let good = json("rekor2-happy-path/bundle.sigstore.json").pointer(list).cloned().expect("a timestamp");
    let foreign = json("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail/bundle.sigstore.json")
        .pointer(list)
        .cloned()
        .expect("a timestamp");
    (good, foreign)
}

#[test]
fn an_rfc3161_timestamp_that_does_not_verify_is_skipped_beside_one_that_does() {
    let root = TrustedRoot::from_json("staging", &read("rekor2-happy-path/trusted_root.json")).expect("root");
    let (good, foreign) = good_and_foreign_timestamps();
    // /work/notes/rev/rekor2-extra-untrusted-ts.json of the review: the good one, then the foreign one.
    for order in [vec![good.clone(), foreign.clone()], vec![foreign.clone(), good]] {
        let verified = run(&with_timestamps(order), &beacon(root.clone()), now()).expect("one timestamp verifies");
        assert_eq!(verified.timestamps, [1749729740], "only the verified time counts");
    }
    // None verifies: refused, naming why each was skipped.
    let (problem, reason) =
        run(&with_timestamps(vec![foreign.clone(), foreign]), &beacon(root), now()).expect_err("no verified time");
    assert_eq!(problem, Problem::InvalidTimestamp);
    assert!(reason.contains("no RFC 3161 timestamp verifies"), "{reason}");
    assert!(reason.contains("RFC 3161 timestamp 0: ") && reason.contains("RFC 3161 timestamp 1: "), "{reason}");
}

#[test]
fn rfc3161_timestamps_of_one_authority_count_once() {
    let root = TrustedRoot::from_json("staging", &read("rekor2-happy-path/trusted_root.json")).expect("root");
    let (good, _) = good_and_foreign_timestamps();
    let verified = run(&with_timestamps(vec![good.clone(), good]), &beacon(root), now()).expect("verifies");
    assert_eq!(verified.timestamps, [1749729740], "a second timestamp of the same TSA is not another time");
}

// ---------------------------------------------------------------------------
// Review of issue 15, finding 5: a Rekor v2 entry of a DSSE envelope records the PAE's hash by
// the signer's key.

/// A `hashedrekord` 0.0.2 body recording `algorithm`/`digest`, `signature` and a certificate verifier.
fn hashedrekord_v2_body(algorithm: &str, digest: &[u8], signature: &[u8], certificate: &[u8]) -> Value {
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    serde_json::json!({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": algorithm, "digest": b64(digest)},
        "signature": {"content": b64(signature), "verifier": {"x509Certificate": {"rawBytes": b64(certificate)}}}}}})
}

#[test]
fn a_rekor_v2_dsse_entry_records_the_paes_hash_by_the_signers_key() {
    use crate::sigstore::tlog::{Signer, check_body};
    use p256::pkcs8::DecodePublicKey as _;
    // A P-384 certificate: the public-good Fulcio intermediate (Fulcio issues P-384 leaves too).
    let certificate = public_good().cas[0].chain[0].clone();
    let spki = x509_cert::der::Encode::to_der(
        x509_cert::Certificate::from_der(&certificate)
            .expect("a certificate")
            .tbs_certificate()
            .subject_public_key_info(),
    )
    .expect("DER");
    assert!(p384::ecdsa::VerifyingKey::from_public_key_der(&spki).is_ok(), "a P-384 key");
    let bundle = Bundle::parse(&read("rekor2-dsse-happy-path/bundle.sigstore.json")).expect("the bundle parses");
    let (entry, content) = (bundle.entries[0].clone(), bundle.content.clone());
    let crate::sigstore::bundle::Content::Dsse(envelope) = &content else { panic!("a DSSE bundle") };
    let pae = payload::pae(&envelope.payload_type, &envelope.payload);
    let check = |algorithm: &str, digest: &[u8]| {
        let body = hashedrekord_v2_body(algorithm, digest, &envelope.signature, &certificate);
        let entry =
            crate::sigstore::bundle::LogEntry { body: serde_json::to_vec(&body).expect("JSON"), ..entry.clone() };
        check_body(&entry, &Signer::Certificate(&certificate), &content, &[])
    };
    check("SHA2_384", &sha2::Sha384::digest(&pae)).expect("SHA-384 of the PAE, for a P-384 key");
    let (problem, reason) = check("SHA2_256", &sha2::Sha256::digest(&pae)).expect_err("SHA-256 for a P-384 key");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(
        reason.contains("for another digest") && reason.contains("SHA2_384 of the DSSE envelope's PAE"),
        "{reason}"
    );
    let (_, reason) = check("SHA2_256", &sha2::Sha384::digest(&pae)).expect_err("the algorithm named wrongly");
    assert!(reason.contains("SHA2_256"), "{reason}");
    // The staging leaf of the happy path is P-256: SHA-256, as before.
    let crate::sigstore::bundle::Material::Certificates(leaf) = &bundle.material else { panic!("a certificate") };
    check_body(&bundle.entries[0], &Signer::Certificate(&leaf[0]), &bundle.content, &[]).expect("P-256: SHA2_256");
    // An Ed25519 key (Ed25519ph): SHA-512, recorded with a public-key verifier.
    let mut ed25519 = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    ed25519.extend_from_slice(&[9u8; 32]);
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let body = serde_json::json!({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_512", "digest": b64(&sha2::Sha512::digest(&pae))},
        "signature": {"content": b64(&envelope.signature), "verifier": {"publicKey": {"rawBytes": b64(&ed25519)}}}}}});
    let entry = crate::sigstore::bundle::LogEntry { body: serde_json::to_vec(&body).expect("JSON"), ..entry.clone() };
    check_body(&entry, &Signer::Key(&ed25519), &content, &[]).expect("SHA-512 of the PAE, for an Ed25519 key");
}

// ---------------------------------------------------------------------------
// Review of issue 15, finding 6.

/// cosign v3's sign-blob bundle (registry-tests/fixtures/keyless, rekor.sigstore.dev entry with SET,
/// inclusion proof (integrated 1764787003) and a timestamp.sigstore.dev timestamp (1764787002), its artifact's SHA-256,
/// and its signer.
fn cosign_v3_blob() -> (Value, Vec<u8>, ExpectedIdentity) {
    let keyless = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/keyless/");
    let read_keyless = |name: &str| std::fs::read(format!("{keyless}{name}")).expect("a keyless fixture");
    let doc = serde_json::from_slice(&read_keyless("cosign-v3-blob.sigstore.json")).expect("JSON");
    let artifact = sha2::Sha256::digest(read_keyless("cosign-v3-blob.txt")).to_vec();
    let expected = ExpectedIdentity {
        identity: Matcher::Exact("w.vollprecht@gmail.com".into()),
        issuer: Matcher::Exact("https://github.com/login/oauth".into()),
    };
    (doc, artifact, expected)
}

#[test]
fn a_rekor_v1_logs_key_must_be_valid_at_the_timestamp_of_an_entry_without_an_inclusion_promise() {
    let (mut doc, artifact, expected) = cosign_v3_blob();
    let entry = doc.pointer_mut("/verificationMaterial/tlogEntries/0").and_then(Value::as_object_mut).expect("entry");
    entry.remove("inclusionPromise");
    // The public-good root with rekor.sigstore.dev's key retired before the timestamp.
    let mut root: Value = serde_json::from_slice(include_bytes!("public_good_trusted_root.json")).expect("JSON");
    let log = root["tlogs"]
        .as_array_mut()
        .and_then(|logs| logs.iter_mut().find(|l| l["baseUrl"] == "https://rekor.sigstore.dev"))
        .expect("rekor.sigstore.dev");
    log["publicKey"]["validFor"]["end"] = Value::from("2025-01-01T00:00:00Z");
    let retired = TrustedRoot::from_json("retired", &serde_json::to_vec(&root).expect("JSON")).expect("root");
    let check = |root: TrustedRoot| {
        let bundle = Bundle::parse(&serde_json::to_vec(&doc).expect("JSON")).expect("the bundle parses");
        verify(
            &bundle,
            &artifact,
            Subjects::MustNameArtifact,
            &Trust::Keyless { root, expected: expected.clone() },
            now(),
        )
    };
    check(public_good()).expect("the proof and the timestamp verify");
    let (problem, reason) = check(retired).expect_err("the log's key had been retired");
    assert_eq!(problem, Problem::InvalidLogEntry);
    assert!(
        reason.contains("https://rekor.sigstore.dev's key was not valid at the signing time 1764787002 (RFC 3161"),
        "{reason}"
    );
}

#[test]
fn a_message_signature_without_a_message_digest_signs_the_artifact() {
    // protobuf-specs marks messageDigest optional; sigstore-python verifies the signature over
    // the artifact's digest then.
    let mut doc = json("happy-path-v0.3/bundle.sigstore.json");
    doc["messageSignature"].as_object_mut().expect("a message signature").remove("messageDigest");
    run(&doc, &beacon(public_good()), now()).expect("the signature and the log entry are of a.txt");
    let bundle = Bundle::parse(&serde_json::to_vec(&doc).expect("JSON")).expect("the bundle parses");
    let other = sha2::Sha256::digest(b"another artifact").to_vec();
    let (problem, reason) =
        verify(&bundle, &other, Subjects::MustNameArtifact, &beacon(public_good()), now()).expect_err("another");
    assert_eq!(problem, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("for another digest"), "{reason}");
    // A messageDigest that is there must hold a digest.
    doc["messageSignature"]["messageDigest"] = serde_json::json!({"algorithm": "SHA2_256", "digest": ""});
    let (problem, reason) = run(&doc, &beacon(public_good()), now()).expect_err("an empty digest");
    assert_eq!(problem, Problem::Malformed);
    assert!(reason.contains("messageDigest has an empty digest"), "{reason}");
}
