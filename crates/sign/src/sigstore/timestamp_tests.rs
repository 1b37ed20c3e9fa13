//! RFC 3161 timestamps of real bundles from sigstore-conformance
//! (`testdata/timestamp.md` lists them), each with its own trusted root.

use super::*;

const CASES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/sigstore-conformance/bundle-verify/");

fn json(path: &str) -> Value {
    let bytes = std::fs::read(format!("{CASES}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Base64 as Go's decoder reads it: line breaks are skipped (the suite's
/// `rekor2-timestamp-with-incorrect-time_fail` wraps its token at 76 columns).
fn b64(value: Option<&Value>) -> Vec<u8> {
    let text: String = value.and_then(Value::as_str).expect("a base64 string").replace(['\n', '\r'], "");
    B64.decode(text).expect("base64")
}

/// A suite case's bundle: its first timestamp token and the signature it timestamps.
struct Case {
    token: Vec<u8>,
    signature: Vec<u8>,
}

fn case(name: &str) -> Case {
    let bundle = json(&format!("{name}/bundle.sigstore.json"));
    let token =
        b64(bundle.pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp"));
    let signature = match bundle.pointer("/messageSignature/signature") {
        Some(sig) => b64(Some(sig)),
        None => b64(bundle.pointer("/dsseEnvelope/signatures/0/sig")),
    };
    Case { token, signature }
}

/// The timestamp authorities of a case's own trusted root.
fn authorities(name: &str) -> Vec<TimestampAuthority> {
    parse_authorities(&json(&format!("{name}/trusted_root.json"))).expect("the trusted root's TSAs read")
}

fn verified(name: &str, root: &str) -> i64 {
    let c = case(name);
    verify(&c.token, &c.signature, &authorities(root)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn refused(c: &Case, authorities: &[TimestampAuthority], needle: &str) -> String {
    let reason = verify(&c.token, &c.signature, authorities).expect_err("the timestamp is refused");
    assert!(reason.contains(needle), "expected {needle:?} in: {reason}");
    reason
}

fn root_with(authority: Value) -> Value {
    serde_json::json!({ "timestampAuthorities": [authority] })
}

#[test]
fn a_timestamp_with_the_tsa_certificate_embedded_verifies_to_its_gen_time() {
    // 2025-06-12T12:02:20Z, timestamp.sigstage.dev (P-384 key, ECDSA with SHA-256).
    assert_eq!(verified("rekor2-happy-path", "rekor2-happy-path"), 1749729740);
    assert_eq!(verified("rekor2-timestamp-with-embedded-cert", "rekor2-timestamp-with-embedded-cert"), 1754506296);
}

#[test]
fn a_timestamp_without_embedded_certificates_finds_its_tsa_in_the_trusted_root() {
    assert!(case("rekor2-timestamp-without-embedded-cert").token.len() < 800, "no certificate in the token");
    assert_eq!(
        verified("rekor2-timestamp-without-embedded-cert", "rekor2-timestamp-without-embedded-cert"),
        1754507031
    );
}

#[test]
fn a_dsse_bundle_timestamp_covers_the_envelope_signature() {
    assert_eq!(verified("rekor2-dsse-happy-path", "rekor2-dsse-happy-path"), 1778700213);
    // sigstore-go's mock TSA: a negative TSTInfo serial, an empty embedded certificate set.
    assert_eq!(verified("intoto-with-custom-trust-root", "intoto-with-custom-trust-root"), 1675209600);
}

#[test]
fn production_tsa_timestamps_verify_against_the_public_good_root() {
    // managed-key-happy-path uses the suite's default root (public good); this
    // case's trusted_root.json is that root with the production TSA.
    let production = "bundle-with-sct-with-extensions";
    assert_eq!(verified("managed-key-happy-path", production), 1766077479);
    assert_eq!(verified(production, production), 1768517366);
}

#[test]
fn a_tsa_chain_expired_now_but_valid_at_gen_time_verifies() {
    assert_eq!(
        verified("rekor2-timestamp-with-expired-cert-chain", "rekor2-timestamp-with-expired-cert-chain"),
        1754580746
    );
}

#[test]
fn gen_time_equal_to_the_end_of_the_tsa_validity_verifies() {
    let name = "trust-root-tsa-validity-end-inclusive";
    let end = json(&format!("{name}/trusted_root.json"))["timestampAuthorities"][0]["validFor"]["end"].clone();
    assert_eq!(end, "2025-06-12T12:02:20Z");
    assert_eq!(verified(name, name), 1749729740);
}

#[test]
fn a_timestamp_over_another_signature_is_refused() {
    let name = "rekor2-timestamp-payload-mismatch_fail";
    refused(&case(name), &authorities(name), "message imprint is not the SHA-256 of the bundle's signature");
    // A good token presented with another bundle's signature.
    let mut c = case("rekor2-happy-path");
    c.signature = case("rekor2-timestamp-with-embedded-cert").signature;
    refused(&c, &authorities("rekor2-happy-path"), "the timestamp is for other data");
}

#[test]
fn a_timestamp_from_an_untrusted_tsa_with_its_own_embedded_chain_is_refused() {
    let name = "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail";
    let reason =
        refused(&case(name), &authorities(name), "whose certificate it embeds, which is not a timestamp authority");
    assert!(reason.contains("Free TSA"), "{reason}");
}

#[test]
fn a_timestamp_from_an_untrusted_tsa_without_embedded_certificates_is_refused() {
    let name = "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail";
    let reason = refused(&case(name), &authorities(name), "which is not a timestamp authority of the trusted root");
    assert!(reason.contains("Free TSA") && reason.contains("serial"), "{reason}");
}

#[test]
fn gen_time_after_the_trusted_root_validity_of_the_tsa_is_refused() {
    let name = "rekor2-timestamp-outside-trust-root-tsa-validity_fail";
    refused(
        &case(name),
        &authorities(name),
        "time 2025-06-12T12:02:20Z is outside the trusted root's validity for https://timestamp.sigstage.dev/api/v1/timestamp (2025-04-09T00:00:00Z to 2025-06-01T00:00:00Z)",
    );
}

#[test]
fn gen_time_outside_the_tsa_certificate_validity_is_refused() {
    let name = "rekor2-timestamp-outside-tsa-cert-validity_fail";
    refused(
        &case(name),
        &authorities(name),
        "TSA certificate CN=Test TSA Timestamping,O=local: the timestamp's time 2025-08-07T15:38:32Z is outside its validity (2025-08-07T15:29:08Z to 2025-08-07T15:37:08Z)",
    );
}

#[test]
fn gen_time_before_the_trusted_root_validity_is_refused() {
    let mut root = json("rekor2-happy-path/trusted_root.json");
    root["timestampAuthorities"][0]["validFor"]["start"] = "2025-06-12T12:02:21Z".into();
    let authorities = parse_authorities(&root).expect("the root reads");
    refused(&case("rekor2-happy-path"), &authorities, "outside the trusted root's validity");
}

#[test]
fn a_timestamp_valid_in_itself_is_returned_for_the_caller_to_check_the_signing_certificate() {
    // These cases fail in the suite because genTime is outside the *signing*
    // certificate's validity: the timestamp itself verifies and gives that time.
    let name = "intoto-tsa-timestamp-outside-cert-validity_fail";
    assert_eq!(verified(name, name), 1675296000);
    let name = "rekor2-timestamp-with-incorrect-time_fail";
    assert_eq!(verified(name, name), 1752575611);
}

#[test]
fn a_tampered_tst_info_is_refused() {
    let mut c = case("rekor2-happy-path");
    let at = find(&c.token, b"20250612120220Z");
    c.token[at + 13] = b'1'; // genTime 12:02:21
    refused(&c, &authorities("rekor2-happy-path"), "signed message digest is not the digest of its TSTInfo");
}

#[test]
fn a_tampered_cms_signature_is_refused() {
    for name in ["rekor2-happy-path", "rekor2-timestamp-without-embedded-cert"] {
        let mut c = case(name);
        // The token ends with the signer's signature (no unsigned attributes).
        let last = c.token.len() - 1;
        c.token[last] ^= 0x01;
        refused(&c, &authorities(name), "the signature does not verify");
    }
}

#[test]
fn a_token_signed_by_the_right_key_for_another_tsa_entry_is_still_bound_to_its_chain() {
    // The sigstage leaf listed under the production TSA's name would be
    // another chain: the embedded sigstage leaf is not in it.
    let production = authorities("bundle-with-sct-with-extensions");
    refused(&case("rekor2-happy-path"), &production, "not a timestamp authority of the trusted root");
}

#[test]
fn no_single_byte_change_panics_or_yields_another_time() {
    let name = "rekor2-happy-path";
    let good = case(name);
    let authorities = authorities(name);
    let mut accepted = Vec::new();
    for i in 0..good.token.len() {
        for bit in [0x01u8, 0x80] {
            let mut token = good.token.clone();
            token[i] ^= bit;
            if let Ok(time) = verify(&token, &good.signature, &authorities) {
                assert_eq!(time, 1749729740, "byte {i} changed the time");
                accepted.push((i, bit));
            }
        }
    }
    // Only the response status may change: granted (0) to grantedWithMods (1).
    assert_eq!(good.token[8], 0);
    assert_eq!(accepted, [(8, 0x01)]);
}

#[test]
fn every_truncation_of_a_token_is_refused_without_panic() {
    let name = "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail";
    let c = case(name);
    let authorities = authorities(name);
    for len in 0..c.token.len() {
        assert!(verify(&c.token[..len], &c.signature, &authorities).is_err());
    }
}

#[test]
fn hostile_tokens_are_refused_by_name() {
    let authorities = authorities("rekor2-happy-path");
    let check = |token: &[u8], needle: &str| {
        let reason = verify(token, b"sig", &authorities).expect_err("refused");
        assert!(reason.contains(needle), "expected {needle:?} in: {reason}");
    };
    check(b"", "not an RFC 3161 TimeStampResp or TimeStampToken");
    check(b"{\"json\": true}", "not an RFC 3161 TimeStampResp or TimeStampToken");
    check(&vec![0x30; MAX_TOKEN_BYTES + 1], "more than the 65536 allowed");
    // A rejection (status 2), as a TSA answers a bad request.
    check(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02], "was not granted (status 2)");
    // Granted, but no token.
    check(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00], "granted but has no token");
}

#[test]
fn a_bare_time_stamp_token_is_read_like_a_response() {
    let c = case("rekor2-happy-path");
    // TimeStampResp ::= SEQUENCE { status (30 03 02 01 00), token }: skip the
    // outer header (4 bytes: 30 82 LL LL) and the status.
    assert_eq!(&c.token[..9], &[0x30, 0x82, 0x04, 0xea, 0x30, 0x03, 0x02, 0x01, 0x00]);
    let bare = &c.token[9..];
    assert_eq!(verify(bare, &c.signature, &authorities("rekor2-happy-path")), Ok(1749729740));
}

/// FreeTSA's chain (RSA 4096, sha512WithRSAEncryption) as a trusted TSA:
/// both of its real tokens then verify, with and without embedded certificates.
#[test]
fn rsa_tsa_tokens_verify_against_a_root_that_trusts_that_tsa() {
    let with_certs = case("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail");
    let embedded = Token::parse(&with_certs.token).expect("the token parses").embedded;
    assert_eq!(embedded.len(), 2);
    let leaf_first: Vec<&Certificate> = {
        let mut certs: Vec<&Certificate> = embedded.iter().collect();
        certs.sort_by_key(|c| c.tbs_certificate().subject() == c.tbs_certificate().issuer());
        certs
    };
    let chain: Vec<Value> = leaf_first
        .iter()
        .map(|c| serde_json::json!({ "rawBytes": B64.encode(c.to_der().expect("encodes")) }))
        .collect();
    let root = root_with(serde_json::json!({
        "uri": "https://freetsa.org/tsr",
        "certChain": { "certificates": chain },
        "validFor": { "start": "2016-03-13T00:00:00Z" }
    }));
    let freetsa = parse_authorities(&root).expect("the root reads");
    assert_eq!(verify(&with_certs.token, &with_certs.signature, &freetsa), Ok(1754509129));
    let without = case("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail");
    assert_eq!(verify(&without.token, &without.signature, &freetsa), Ok(1754509229));
}

#[test]
fn the_trusted_root_validity_must_have_a_start() {
    let mut entry = json("rekor2-happy-path/trusted_root.json")["timestampAuthorities"][0].clone();
    let err = |entry: &Value| parse_authorities(&root_with(entry.clone())).expect_err("refused");
    entry["validFor"]["start"] = "yesterday".into();
    assert!(err(&entry).contains("validFor.start \"yesterday\" is not an RFC 3339 time"), "{}", err(&entry));
    entry["validFor"] = serde_json::json!({ "end": "2030-01-01T00:00:00Z" });
    assert_eq!(err(&entry), "timestampAuthorities[0]: validFor has no start");
    entry.as_object_mut().expect("an object").remove("validFor");
    assert_eq!(err(&entry), "timestampAuthorities[0]: it has no validFor");
}

#[test]
fn trusted_root_certificates_must_be_base64_der_certificates() {
    let entry = |certificates: Value| {
        root_with(serde_json::json!({
            "certChain": { "certificates": certificates },
            "validFor": { "start": "2025-01-01T00:00:00Z" }
        }))
    };
    let err = |root: Value| parse_authorities(&root).expect_err("refused");
    assert!(err(entry(serde_json::json!([]))).contains("no certificates"));
    assert!(err(entry(serde_json::json!([{ "rawBytes": "%%%" }]))).contains("certificate 0 is not base64"));
    assert!(
        err(entry(serde_json::json!([{ "rawBytes": "MAA=" }]))).contains("certificate 0 is not an X.509 certificate")
    );
    let many: Vec<Value> = (0..9).map(|_| serde_json::json!({ "rawBytes": "MAA=" })).collect();
    assert!(err(entry(Value::Array(many))).contains("9 certificates, more than 8"));
    assert!(parse_authorities(&serde_json::json!({})).expect("no TSAs").is_empty());
    assert!(err(serde_json::json!({ "timestampAuthorities": {} })).contains("not a list"));
}

#[test]
fn rfc3339_times_with_offsets_and_fractions_read_exactly() {
    let t = |text: &str| rfc3339(text).map(|i| (i.secs, i.nanos));
    assert_eq!(t("2025-04-09T00:00:00Z"), Some((1744156800, 0)));
    assert_eq!(t("2023-04-14T00:00:00.000Z"), Some((1681430400, 0)));
    assert_eq!(t("2025-04-09T02:30:00.25+02:30"), Some((1744156800, 250_000_000)));
    assert_eq!(t("2025-04-08T23:00:00-01:00"), Some((1744156800, 0)));
    assert_eq!(t("2025-04-09t00:00:00z"), Some((1744156800, 0)));
    for bad in [
        "",
        "2025-04-09",
        "2025-04-09T00:00:00",
        "2025-04-09 00:00:00Z",
        "2025-13-09T00:00:00Z",
        "2025-04-09T24:00:00Z",
        "2025-04-09T00:00:00.Z",
        "2025-04-09T00:00:00+2:00",
        "2025-04-09T00:00:00Zjunk",
        "２025-04-09T00:00:00Z",
    ] {
        assert_eq!(t(bad), None, "{bad:?}");
    }
}

#[test]
fn gen_time_reads_fractional_seconds_and_only_der_forms() {
    let g = |text: &str| GenTime::parse(text.as_bytes()).map(|g| (g.0.secs, g.0.nanos));
    assert_eq!(g("20250612120220Z"), Some((1749729740, 0)));
    assert_eq!(g("20250612120220.5Z"), Some((1749729740, 500_000_000)));
    assert_eq!(g("20250612120220.123456789Z"), Some((1749729740, 123_456_789)));
    for bad in [
        "20250612120220",
        "202506121202Z",
        "20250612120220.50Z",
        "20250612120220.Z",
        "20250612120220.1234567891Z",
        "20250612120220+0000",
    ] {
        assert_eq!(g(bad), None, "{bad:?}");
    }
    let time = GenTime::parse(b"20250612120220.5Z").expect("parses");
    assert_eq!(time.to_der().expect("encodes"), b"\x18\x1120250612120220.5Z");
    assert_eq!(time.0.to_string(), "2025-06-12T12:02:20.5Z");
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).expect("present")
}

// ---------------------------------------------------------------------------
// Tokens made with OpenSSL (`testdata/timestamp-made/`, see its README).

const MADE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/timestamp-made/");

fn made(name: &str) -> Vec<u8> {
    std::fs::read(format!("{MADE}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn made_time(token: &str) -> i64 {
    String::from_utf8(made(&format!("{token}.time"))).expect("text").trim().parse().expect("Unix seconds")
}

/// A trusted root whose one TSA has the chain of these made certificates.
fn made_authorities(chain: &[&str]) -> Vec<TimestampAuthority> {
    let certificates: Vec<Value> = chain
        .iter()
        .map(|name| {
            let text = String::from_utf8(made(&format!("{name}.b64"))).expect("text");
            serde_json::json!({ "rawBytes": text.trim() })
        })
        .collect();
    let root = root_with(serde_json::json!({
        "uri": "https://tsa.test",
        "certChain": { "certificates": certificates },
        "validFor": { "start": "2026-01-01T00:00:00Z" }
    }));
    parse_authorities(&root).expect("the made root reads")
}

fn made_verify(token: &str, chain: &[&str]) -> Result<i64, String> {
    verify(&made(&format!("{token}.tsr")), &made("signature.bin"), &made_authorities(chain))
}

fn made_refused(token: &str, chain: &[&str], needle: &str) {
    let reason = made_verify(token, chain).expect_err("refused");
    assert!(reason.contains(needle), "expected {needle:?} in: {reason}");
}

#[test]
fn sha384_and_sha512_imprints_and_fractional_gen_times_verify() {
    let token = made("p256-sha384-certs.tsr");
    assert_ne!(Token::parse(&token).expect("parses").gen_time().nanos, 0, "genTime has a fraction");
    assert_eq!(made_verify("p256-sha384-certs", &["tsa", "root"]), Ok(made_time("p256-sha384-certs")));
    assert_eq!(made_verify("p256-sha512-no-certs", &["tsa", "root"]), Ok(made_time("p256-sha512-no-certs")));
}

#[test]
fn an_embedded_certificate_outside_the_trusted_chain_is_refused() {
    // The token embeds its leaf and root; the trusted root lists the leaf alone.
    made_refused(
        "p256-sha384-certs",
        &["tsa"],
        "embeds a certificate (CN=Test TSA Root,O=wharf test) that is not in the trusted chain of https://tsa.test",
    );
    // The token embeds a leaf with the timeStamping usage; the root trusts another with the same key and serial.
    made_refused(
        "p256-sha384-certs",
        &["tsa-no-eku", "root"],
        "whose certificate it embeds, which is not a timestamp authority",
    );
}

#[test]
fn a_tsa_leaf_without_the_time_stamping_usage_is_refused() {
    made_refused("p256-sha512-no-certs", &["tsa-no-eku", "root"], "lacks the timeStamping key usage");
}

#[test]
fn a_tsa_certificate_with_an_unknown_critical_extension_is_refused() {
    made_refused(
        "p256-sha512-no-certs",
        &["tsa-odd-critical", "root"],
        "unknown critical extension 1.3.6.1.4.1.99999.1",
    );
}

#[test]
fn a_tsa_chain_not_signed_by_its_listed_root_is_refused() {
    made_refused(
        "p256-sha512-no-certs",
        &["tsa", "impostor"],
        "is not signed by the next in the chain: the signature does not verify",
    );
}

#[test]
fn a_tsa_issued_by_a_certificate_that_is_not_a_ca_is_refused() {
    made_refused(
        "under-not-a-ca",
        &["tsa-under-not-a-ca", "not-a-ca", "root"],
        "CN=not-a-ca,O=wharf test: it issues the next certificate but is not a CA",
    );
}

#[test]
fn an_rsa_tsa_key_under_2048_bits_is_refused() {
    made_refused("rsa1024", &["tsa-rsa1024", "root"], "the RSA key has 1024 bits, fewer than 2048");
}
