//! Keyless verification against a real keyless bundle and trusted roots from
//! sigstore-python's test assets (`registry-tests/fixtures/keyless`, see its README).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use super::*;
use crate::Trust;
use crate::sigstore::bundle::Bundle;
use crate::sigstore::bundle::Content;
use crate::sigstore::legacy::{CERTIFICATE_ANNOTATION, REKOR_BUNDLE_ANNOTATION, verify_legacy_signature};
use crate::sigstore::tlog::{Signer, check_body};
use crate::sigstore::verifier::{Subjects, verify};
use sha2::{Digest as _, Sha256};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/keyless/");

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

fn now() -> i64 {
    crate::sigstore::now()
}

fn keyless(root: &TrustedRoot, expected: &ExpectedIdentity) -> Trust {
    Trust::Keyless { root: root.clone(), expected: expected.clone() }
}

/// A message-signature bundle through the one verifier, for the artifact whose SHA-256 is `digest`.
fn verify_message_bundle(
    bundle: &[u8],
    digest: &[u8],
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
) -> std::result::Result<KeylessVerified, Rejection> {
    let bundle = Bundle::parse(bundle).map_err(|e| (Problem::Malformed, e))?;
    let verified = verify(&bundle, digest, Subjects::MustNameArtifact, &keyless(root, expected), now())?;
    Ok(verified.keyless.expect("a keyless verdict"))
}

/// A DSSE bundle through the one verifier, for its statement's first subject; who signed, and the statement.
fn verify_dsse_bundle(
    bundle: &[u8],
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
) -> std::result::Result<(KeylessVerified, Vec<u8>), Rejection> {
    let bundle = Bundle::parse(bundle).map_err(|e| (Problem::Malformed, e))?;
    let Content::Dsse(envelope) = &bundle.content else { panic!("a DSSE bundle") };
    let statement: Value = serde_json::from_slice(&envelope.payload).unwrap_or(Value::Null);
    let subject = statement.pointer("/subject/0/digest/sha256").and_then(Value::as_str).unwrap_or_default();
    let digest = wharf_oci::digest::hex_decode(subject).unwrap_or_default();
    let verified = verify(&bundle, &digest, Subjects::MustNameArtifact, &keyless(root, expected), now())?;
    Ok((verified.keyless.expect("a keyless verdict"), verified.statement.expect("the statement")))
}

#[test]
fn a_real_keyless_bundle_verifies_offline() {
    let verified = verify_message_bundle(&fixture("bundle_v3.txt.sigstore"), &digest(), &staging(), &expected())
        .expect("the bundle verifies");
    assert_eq!(verified.identity, "william@yossarian.net");
    assert_eq!(verified.issuer, "https://github.com/login/oauth");
    assert_eq!(verified.integrated_time, Some(1712085549));
    assert_eq!(verified.log_index, Some(25915956));
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

/// A trusted root with the certificate authorities of `cas` and the logs (Rekor and CT) of `logs`.
fn mixed_root(cas: &str, logs: &str) -> TrustedRoot {
    let mut root: Value = serde_json::from_slice(&fixture(cas)).expect("JSON");
    let logs: Value = serde_json::from_slice(&fixture(logs)).expect("JSON");
    root["tlogs"] = logs["tlogs"].clone();
    root["ctlogs"] = logs["ctlogs"].clone();
    TrustedRoot::from_json("mixed", &serde_json::to_vec(&root).expect("JSON")).expect("the root reads")
}

#[test]
fn a_certificate_not_chaining_to_the_trusted_root_is_untrusted() {
    // The production CAs with the staging logs: the log entry verifies, the certificate does not chain.
    let production_cas = mixed_root("production_trusted_root.json", "staging_trusted_root.json");
    let (p, reason) =
        problem(verify_message_bundle(&fixture("bundle_v3.txt.sigstore"), &digest(), &production_cas, &expected()));
    assert_eq!(p, Problem::UntrustedCertificate, "{reason}");
    assert!(reason.contains("fulcio.sigstore.dev"), "{reason}");
    // The production root whole: its logs do not know the staging log either.
    let production =
        TrustedRoot::from_json("production", &fixture("production_trusted_root.json")).expect("the root reads");
    let (p, reason) =
        problem(verify_message_bundle(&fixture("bundle_v3.txt.sigstore"), &digest(), &production, &expected()));
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("not in the trusted root"), "{reason}");
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
    let err = TrustedRoot::from_json("t.json", b"{}").expect_err("refused");
    assert!(err.to_string().contains("mediaType"), "{err}");
    let err = TrustedRoot::from_json("t.json", b"not json").expect_err("refused");
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
fn a_real_keyless_dsse_bundle_is_verified_up_to_its_subject() {
    // Its subject (pkg:npm/sigstore@1.3.0) is named by SHA-512 only, so no SHA-256 artifact
    // matches: the verdict comes at the last step, after the chain (its v0.1 chain carries the
    // public-good root, which is tolerated), SCT, identity, SET, logged body and signature passed.
    let (p, reason) = verify_dsse_bundle(&fixture("bundle-provenance.json"), &public_good(), &provenance_identity())
        .expect_err("no SHA-256 subject");
    assert_eq!(p, Problem::DigestMismatch, "{reason}");

    // Another identity, the staging root, and an altered payload are each named.
    let mut other = provenance_identity();
    other.identity = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/evil".into();
    let (p, _) = verify_dsse_bundle(&fixture("bundle-provenance.json"), &public_good(), &other).expect_err("rejected");
    assert_eq!(p, Problem::WrongIdentity);
    let staging_cas = mixed_root("staging_trusted_root.json", "trusted-root-public-good.json");
    let (p, _) = verify_dsse_bundle(&fixture("bundle-provenance.json"), &staging_cas, &provenance_identity())
        .expect_err("rejected");
    assert_eq!(p, Problem::UntrustedCertificate);
    let mut doc: Value = serde_json::from_slice(&fixture("bundle-provenance.json")).expect("JSON");
    if let Some(Value::String(payload)) = doc.pointer_mut("/dsseEnvelope/payload") {
        let mut bytes = B64.decode(payload.as_bytes()).expect("base64");
        // The last `1` (in the predicate), not the statement's `_type`.
        if let Some(b) = bytes.iter_mut().rev().find(|b| **b == b'1') {
            *b = b'2';
        }
        *payload = B64.encode(bytes);
    }
    let altered = serde_json::to_vec(&doc).expect("JSON");
    let (p, reason) = verify_dsse_bundle(&altered, &public_good(), &provenance_identity()).expect_err("rejected");
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another payload"), "{reason}");
}

/// sigstore-conformance `happy-path-intoto-in-dsse-v3` (Apache-2.0): a keyless bundle v0.3 with a
/// DSSE envelope logged in the public-good Rekor as kind `dsse` 0.0.1 (what cosign v2.4+ and v3
/// write), certificate for the conformance suite's GitHub Actions beacon workflow.
const DSSE_V001: &str = "dsse-happy-path.sigstore.json";

fn beacon_identity() -> ExpectedIdentity {
    ExpectedIdentity {
        identity: "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
    }
}

/// The happy-path DSSE bundle with `f` applied to its JSON.
fn edited_dsse(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&fixture(DSSE_V001)).expect("JSON");
    f(&mut doc);
    serde_json::to_vec(&doc).expect("JSON")
}

fn flip_base64(value: Option<&mut Value>, at: impl FnOnce(&mut Vec<u8>)) {
    if let Some(Value::String(text)) = value {
        let mut bytes = B64.decode(text.as_bytes()).expect("base64");
        at(&mut bytes);
        *text = B64.encode(bytes);
    }
}

fn dsse_rejection(bundle: &[u8]) -> Rejection {
    verify_dsse_bundle(bundle, &public_good(), &beacon_identity()).expect_err("rejected")
}

#[test]
fn a_real_dsse_v001_entry_verifies_offline_and_returns_its_statement() {
    let (who, payload) =
        verify_dsse_bundle(&fixture(DSSE_V001), &public_good(), &beacon_identity()).expect("the bundle verifies");
    assert_eq!((who.log_index, who.integrated_time), (Some(155690850), Some(1734374576)));
    assert_eq!(who.log, "https://rekor.sigstore.dev");
    assert_eq!(who.issuer, "https://token.actions.githubusercontent.com");
    let statement: Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(statement["subject"][0]["name"], "a.txt");
    // The production root of sigstore-python's assets holds the same CA and log.
    let production =
        TrustedRoot::from_json("production", &fixture("production_trusted_root.json")).expect("the root reads");
    verify_dsse_bundle(&fixture(DSSE_V001), &production, &beacon_identity()).expect("verifies with it too");
}

#[test]
fn a_dsse_v001_entry_whose_envelope_was_logged_with_an_empty_key_id_verifies() {
    // sigstore-java's bundle.dsse.sigstore: the signer submitted `"keyid":""` (Rekor's
    // envelopeHash, not compared, covers that form); the bundle itself carries no key id.
    let identity = ExpectedIdentity {
        identity: "https://github.com/loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main".into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
    };
    let (who, _) = verify_dsse_bundle(&fixture("sigstore-java-bundle.dsse.sigstore"), &public_good(), &identity)
        .expect("the bundle verifies");
    assert_eq!((who.log_index, who.integrated_time), (Some(150322684), Some(1732135425)));
    // sigstore-js's bundleV03-dsse.sigstore (an npm publish attestation): `"keyid":""` in the
    // bundle and in what was logged.
    let npm =
        ExpectedIdentity { identity: "brian@dehamer.com".into(), issuer: "https://github.com/login/oauth".into() };
    // Its subject is an npm tarball named by SHA-512 only, so no SHA-256 artifact matches: the
    // verdict is reached at the last step, the subject, after the certificate, log entry and
    // signature all passed.
    let (p, reason) = verify_dsse_bundle(&fixture("sigstore-js-bundleV03-dsse.sigstore"), &public_good(), &npm)
        .expect_err("no SHA-256 subject");
    assert_eq!(p, Problem::DigestMismatch, "{reason}");
}

#[test]
fn a_dsse_v001_bundle_for_another_identity_or_root_is_rejected() {
    let mut other = beacon_identity();
    other.identity = "https://github.com/mallory/repo/.github/workflows/release.yml@refs/heads/main".into();
    let (p, reason) = verify_dsse_bundle(&fixture(DSSE_V001), &public_good(), &other).expect_err("rejected");
    assert_eq!(p, Problem::WrongIdentity);
    assert!(reason.contains("extremely-dangerous-public-oidc-beacon") && reason.contains("mallory"), "{reason}");
    let mut other = beacon_identity();
    other.issuer = "https://accounts.google.com".into();
    let (p, _) = verify_dsse_bundle(&fixture(DSSE_V001), &public_good(), &other).expect_err("rejected");
    assert_eq!(p, Problem::WrongIssuer);
    let staging_cas = mixed_root("staging_trusted_root.json", "trusted-root-public-good.json");
    let (p, reason) = verify_dsse_bundle(&fixture(DSSE_V001), &staging_cas, &beacon_identity()).expect_err("rejected");
    assert_eq!(p, Problem::UntrustedCertificate, "{reason}");
}

#[test]
fn a_tampered_dsse_v001_payload_or_signature_is_rejected_by_the_log_entry() {
    let payload = edited_dsse(|d| {
        flip_base64(d.pointer_mut("/dsseEnvelope/payload"), |b| {
            // The last `a` (in the predicate), not the statement's `_type`.
            if let Some(b) = b.iter_mut().rev().find(|b| **b == b'a') {
                *b = b'b';
            }
        })
    });
    let (p, reason) = dsse_rejection(&payload);
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another payload") && reason.contains("payloadHash"), "{reason}");
    let signature = edited_dsse(|d| {
        flip_base64(d.pointer_mut("/dsseEnvelope/signatures/0/sig"), |b| {
            if let Some(b) = b.get_mut(12) {
                *b ^= 1;
            }
        })
    });
    let (p, reason) = dsse_rejection(&signature);
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another signature"), "{reason}");
    // The logged body itself altered: the inclusion promise no longer covers it.
    let body = edited_dsse(|d| {
        flip_base64(d.pointer_mut("/verificationMaterial/tlogEntries/0/canonicalizedBody"), |b| {
            if let Some(b) = b.iter_mut().rev().find(|b| b.is_ascii_digit()) {
                *b = if *b == b'0' { b'1' } else { b'0' };
            }
        })
    });
    let (p, reason) = dsse_rejection(&body);
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("SET"), "{reason}");
}

#[test]
fn real_dsse_v001_entries_for_another_envelope_are_rejected() {
    // sigstore-conformance `dsse-mismatch-sig_fail`: the same payload signed twice with the same
    // key; the bundle carries one signature, its log entry (a real one, SET valid) the other.
    let (p, reason) = dsse_rejection(&fixture("dsse-mismatch-sig.sigstore.json"));
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another signature"), "{reason}");
    // `dsse-mismatch-envelope_fail`: a real log entry for another envelope and payload.
    let (p, reason) = dsse_rejection(&fixture("dsse-mismatch-envelope.sigstore.json"));
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another payload"), "{reason}");
}

#[test]
fn a_dsse_v001_body_is_checked_field_by_field() {
    // The body is checked directly: an edited body fails the SET before this check.
    let bundle = Bundle::parse(&fixture(DSSE_V001)).expect("the bundle parses");
    let entry = bundle.entries[0].clone();
    let body: Value = serde_json::from_slice(&entry.body).expect("a JSON body");
    let leaf = match &bundle.material {
        crate::sigstore::bundle::Material::Certificates(certs) => certs[0].clone(),
        crate::sigstore::bundle::Material::PublicKey { .. } => panic!("a certificate"),
    };
    let check = |edit: &dyn Fn(&mut Value)| {
        let mut body = body.clone();
        edit(&mut body);
        let mut entry = entry.clone();
        entry.body = serde_json::to_vec(&body).expect("JSON");
        check_body(&entry, &Signer::Certificate(&leaf), &bundle.content, &[])
    };
    check(&|_| {}).expect("the logged body matches");
    let set = |path: &'static str, value: &'static str| {
        move |b: &mut Value| {
            if let Some(v) = b.pointer_mut(path) {
                *v = Value::from(value);
            }
        }
    };
    let zeros = "0000000000000000000000000000000000000000000000000000000000000000";
    // The envelope hash is not compared (sigstore-go and sigstore-python do not either): it
    // hashes the signer's own JSON spelling of the envelope.
    check(&set("/spec/envelopeHash/value", zeros)).expect("the envelope hash is not compared");
    let (p, reason) = check(&set("/spec/payloadHash/value", zeros)).expect_err("rejected");
    assert_eq!(p, Problem::InvalidLogEntry);
    assert!(reason.contains(&format!("payloadHash is {zeros}")), "{reason}");
    let (_, reason) = check(&set("/spec/payloadHash/algorithm", "sha512")).expect_err("rejected");
    assert!(reason.contains("no SHA-256 payloadHash"), "{reason}");
    // Another certificate as the verifier (the staging bundle's, as PEM).
    let other = fixture_certificate_pem("bundle_v3.txt.sigstore");
    let (_, reason) = check(&move |b: &mut Value| {
        if let Some(v) = b.pointer_mut("/spec/signatures/0/verifier") {
            *v = Value::from(B64.encode(&other));
        }
    })
    .expect_err("rejected");
    assert!(reason.contains("another certificate"), "{reason}");
    // A body of another kind than the entry says.
    let (p, reason) = check(&set("/apiVersion", "0.0.2")).expect_err("rejected");
    assert_eq!(p, Problem::InvalidLogEntry);
    assert!(reason.contains("dsse 0.0.2"), "{reason}");
}

/// The certificate of a fixture bundle, as PEM.
fn fixture_certificate_pem(name: &str) -> String {
    let doc: Value = serde_json::from_slice(&fixture(name)).expect("JSON");
    let der = doc.pointer("/verificationMaterial/certificate/rawBytes").and_then(Value::as_str).expect("certificate");
    format!("-----BEGIN CERTIFICATE-----\n{der}\n-----END CERTIFICATE-----\n")
}

/// A real keyless legacy `.sig` layer (cosign v2, public-good Sigstore, 2023) from
/// salrashid123/cosign_bazel_cloud_build's README, and its simple-signing payload (see the
/// fixtures' README): the layer's signature, certificate and Rekor bundle annotations.
fn legacy_layer() -> (Vec<u8>, serde_json::Map<String, Value>) {
    let manifest: Value = serde_json::from_slice(&fixture("legacy-keyless-sig-manifest.json")).expect("JSON");
    let annotations = manifest.pointer("/layers/1/annotations").and_then(Value::as_object).cloned().expect("layer");
    (fixture("legacy-keyless-payload.json"), annotations)
}

fn legacy_identity() -> ExpectedIdentity {
    ExpectedIdentity {
        identity: "cosign-svc-account@mineral-minutia-820.iam.gserviceaccount.com".into(),
        issuer: "https://accounts.google.com".into(),
    }
}

fn verify_legacy(
    payload: &[u8],
    annotations: &serde_json::Map<String, Value>,
    root: &TrustedRoot,
    expected: &ExpectedIdentity,
) -> std::result::Result<KeylessVerified, Rejection> {
    let text = |k: &str| annotations.get(k).and_then(Value::as_str);
    let signature = text("dev.cosignproject.cosign/signature").and_then(|s| B64.decode(s).ok()).unwrap_or_default();
    let (certificate, rekor) = (text(CERTIFICATE_ANNOTATION), text(REKOR_BUNDLE_ANNOTATION));
    verify_legacy_signature(payload, &signature, certificate, rekor, &keyless(root, expected), now())
}

#[test]
fn a_real_keyless_legacy_signature_verifies_offline() {
    let (payload, annotations) = legacy_layer();
    let who = verify_legacy(&payload, &annotations, &public_good(), &legacy_identity()).expect("it verifies");
    assert_eq!((who.log_index, who.integrated_time), (Some(19941761), Some(1683465314)));
    assert_eq!(
        (who.identity.as_str(), who.issuer.as_str()),
        ("cosign-svc-account@mineral-minutia-820.iam.gserviceaccount.com", "https://accounts.google.com")
    );
    let mut other = legacy_identity();
    other.identity = "mallory@example.com".into();
    let (p, _) = verify_legacy(&payload, &annotations, &public_good(), &other).expect_err("rejected");
    assert_eq!(p, Problem::WrongIdentity);
    let staging_cas = mixed_root("staging_trusted_root.json", "trusted-root-public-good.json");
    let (p, _) = verify_legacy(&payload, &annotations, &staging_cas, &legacy_identity()).expect_err("rejected");
    assert_eq!(p, Problem::UntrustedCertificate);
}

#[test]
fn a_tampered_keyless_legacy_signature_is_rejected_with_the_reason() {
    let (payload, annotations) = legacy_layer();
    let check = |payload: &[u8], annotations: &serde_json::Map<String, Value>| {
        verify_legacy(payload, annotations, &public_good(), &legacy_identity()).expect_err("rejected")
    };
    // Another payload (the signed digest changed): the log entry is for another digest.
    let other = String::from_utf8(payload.clone()).expect("text").replace("a2b109fb", "a2b109fc");
    let (p, reason) = check(other.as_bytes(), &annotations);
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another digest"), "{reason}");
    // A flipped signature byte.
    let mut flipped = annotations.clone();
    if let Some(Value::String(sig)) = flipped.get_mut("dev.cosignproject.cosign/signature") {
        let mut bytes = B64.decode(sig.as_bytes()).expect("base64");
        if let Some(b) = bytes.get_mut(12) {
            *b ^= 1;
        }
        *sig = B64.encode(bytes);
    }
    let (p, reason) = check(&payload, &flipped);
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("another signature"), "{reason}");
    // The integrated time moved in the Rekor bundle: the SET no longer verifies.
    let mut moved = annotations.clone();
    if let Some(Value::String(bundle)) = moved.get_mut(REKOR_BUNDLE_ANNOTATION) {
        *bundle = bundle.replace("1683465314", "1683465315");
    }
    let (p, reason) = check(&payload, &moved);
    assert_eq!(p, Problem::InvalidLogEntry, "{reason}");
    assert!(reason.contains("SET"), "{reason}");
    // No Rekor bundle, no certificate.
    let mut none = annotations.clone();
    none.remove(REKOR_BUNDLE_ANNOTATION);
    let (p, reason) = check(&payload, &none);
    assert_eq!(p, Problem::InvalidLogEntry);
    assert!(reason.contains("inclusion promise"), "{reason}");
    let mut keyed = annotations.clone();
    keyed.remove(CERTIFICATE_ANNOTATION);
    let (p, reason) = check(&payload, &keyed);
    assert_eq!(p, Problem::NeedsKey);
    assert!(reason.contains("verifies against its public key") && !reason.contains("--"), "{reason}");
}

#[test]
fn a_real_inclusion_proof_and_checkpoint_are_verified_and_tampering_is_named() {
    const PROOF: &str = "/verificationMaterial/tlogEntries/0/inclusionProof";
    let reason = |f: &dyn Fn(&mut Value)| {
        let (p, why) = dsse_rejection(&edited_dsse(|doc| f(doc)));
        assert_eq!(p, Problem::InvalidLogEntry, "{why}");
        why
    };
    // One hash of the audit path altered.
    let why = reason(&|doc| flip_base64(doc.pointer_mut(&format!("{PROOF}/hashes/3")), |b| b[0] ^= 1));
    assert!(why.contains("does not lead from this entry to its root hash"), "{why}");
    // One hash too few.
    let why = reason(&|doc| {
        if let Some(Value::Array(hashes)) = doc.pointer_mut(&format!("{PROOF}/hashes")) {
            hashes.pop();
        }
    });
    assert!(why.contains("fewer hashes"), "{why}");
    // Another leaf index.
    let why = reason(&|doc| {
        if let Some(index) = doc.pointer_mut(&format!("{PROOF}/logIndex")) {
            *index = Value::String("33786587".into());
        }
    });
    assert!(why.starts_with("the inclusion proof"), "{why}");
    // The checkpoint's signature altered (its last base64 characters changed).
    let why = reason(&|doc| {
        if let Some(Value::String(note)) = doc.pointer_mut(&format!("{PROOF}/checkpoint/envelope")) {
            let (text, signature) = note.rsplit_once(' ').expect("a signature line");
            let mut sig = B64.decode(signature.trim_end()).expect("base64");
            let last = sig.len() - 1;
            sig[last] ^= 1;
            *note = format!("{text} {}\n", B64.encode(sig));
        }
    });
    assert!(why.contains("checkpoint"), "{why}");
    // A checkpoint for another tree size.
    let why = reason(&|doc| {
        if let Some(Value::String(note)) = doc.pointer_mut(&format!("{PROOF}/checkpoint/envelope")) {
            *note = note.replacen("\n33786589\n", "\n33786590\n", 1);
        }
    });
    assert!(why.contains("checkpoint"), "{why}");
}

// ---------------------------------------------------------------------------
// Review of issue 15, finding 2: a `dsse` 0.0.1 entry's envelopeHash hashes the envelope as the
// signer spelled it, so it is not compared.

/// trailofbits/pypi-attestations `test/assets/pypi_attestations-0.0.19.tar.gz.publish.attestation`
/// (Apache-2.0) as a bundle v0.3: sigstore-python 3 submitted the envelope to Rekor with
/// `json.dumps`'s `", "` and `": "`, so the logged envelopeHash is of that spelling.
#[test]
fn a_pypi_attestation_whose_envelope_was_logged_with_python_json_spacing_verifies() {
    let bundle = Bundle::parse(&fixture("pypi_attestations-0.0.19.sigstore.json")).expect("the bundle parses");
    let artifact = Sha256::digest(fixture("pypi_attestations-0.0.19.tar.gz")).to_vec();
    let identity = ExpectedIdentity {
        identity: "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19"
            .into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
    };
    let built_in = TrustedRoot::public_good().expect("the built-in root");
    let verified = verify(&bundle, &artifact, Subjects::MustNameArtifact, &keyless(&built_in, &identity), now())
        .expect("the PyPI attestation verifies with the built-in root");
    let who = verified.keyless.expect("keyless");
    assert_eq!((who.log.as_str(), who.integrated_time), ("https://rekor.sigstore.dev", Some(1733354041)));
    // What is signed is still bound: another artifact, another identity.
    let other = Sha256::digest(b"another file").to_vec();
    let (p, _) = verify(&bundle, &other, Subjects::MustNameArtifact, &keyless(&built_in, &identity), now())
        .expect_err("another artifact");
    assert_eq!(p, Problem::DigestMismatch);
    let mut mallory = identity.clone();
    mallory.identity =
        "https://github.com/mallory/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19".into();
    let (p, _) = verify(&bundle, &artifact, Subjects::MustNameArtifact, &keyless(&built_in, &mallory), now())
        .expect_err("another identity");
    assert_eq!(p, Problem::WrongIdentity);
}

#[test]
fn a_key_id_added_to_a_dsse_v001_envelope_after_logging_is_not_signed_and_changes_nothing() {
    // The key id is outside DSSE's PAE (payload type and payload): the signature, the logged
    // signature and verifier, and the payload hash still hold, as sigstore-go and -python find.
    let keyid = edited_dsse(|d| {
        if let Some(sig) = d.pointer_mut("/dsseEnvelope/signatures/0").and_then(Value::as_object_mut) {
            sig.insert("keyid".into(), Value::from("added-later"));
        }
    });
    verify_dsse_bundle(&keyid, &public_good(), &beacon_identity()).expect("an unsigned key id changes nothing");
    // Another payload type is signed (PAE): refused before the log is consulted.
    let payload_type = edited_dsse(|d| {
        if let Some(t) = d.pointer_mut("/dsseEnvelope/payloadType") {
            *t = Value::from("application/vnd.other+json");
        }
    });
    let (p, reason) = dsse_rejection(&payload_type);
    assert_eq!(p, Problem::Malformed, "{reason}");
    assert!(reason.contains("payload type"), "{reason}");
}

// ---------------------------------------------------------------------------
// Review of issue 15, finding 6: Fulcio's username SAN is an identity.

/// A certificate of `crates/sign/testdata/chain` (see its `make.sh`).
fn chain_certificate(name: &str) -> x509_cert::Certificate {
    let path = format!("{}/testdata/chain/{name}.b64", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    x509_cert::Certificate::from_der(&B64.decode(text.trim()).expect("base64")).expect("a certificate")
}

#[test]
fn a_fulcio_username_san_is_the_certificates_identity() {
    // An otherName of type 1.3.6.1.4.1.57264.1.7 (UTF8String), as Fulcio issues for username
    // identities and sigstore-go reads with UnmarshalOtherNameSAN.
    let cert = chain_certificate("leaf-username");
    let expected =
        ExpectedIdentity { identity: "alice!oidc.example.com".into(), issuer: "https://oidc.example.com".into() };
    let (identity, issuer) = check_identity(&cert, &expected).expect("the username is the identity");
    assert_eq!((identity.as_str(), issuer.as_str()), ("alice!oidc.example.com", "https://oidc.example.com"));
    let mallory = ExpectedIdentity { identity: "mallory!oidc.example.com".into(), ..expected };
    let (p, reason) = check_identity(&cert, &mallory).expect_err("another username");
    assert_eq!(p, Problem::WrongIdentity);
    assert!(reason.contains("the certificate is for alice!oidc.example.com"), "{reason}");
}
