//! Sigstore's own conformance suite (sigstore/sigstore-conformance, `test/assets/bundle-verify`, vendored
//! in `registry-tests/fixtures/sigstore-conformance`, see its README) through the real `wharf verify-blob`
//! binary: every case, as the suite's harness runs it (the artifact as a path and as `sha256:HEX`), must
//! be accepted, or refused if its name ends in `_fail`.

use std::path::{Path, PathBuf};

use registry_tests::{Run, TestEnv, sha256_hex, wharf, workspace_dir};

/// How many cases the pinned commit has: none may go missing unnoticed.
const CASES: usize = 70;
/// The identity and issuer the suite expects when a case names none (`test/client.py`).
const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn suite_dir() -> PathBuf {
    workspace_dir().join("registry-tests/fixtures/sigstore-conformance/bundle-verify")
}

/// The case directories, sorted.
fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .expect("read the conformance cases")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// `wharf verify-blob` arguments for `case`, as `build_verify_args` of the suite's `test/client.py`
/// builds `verify-bundle`'s: the artifact as a path, or (`digest`) as `sha256:HEX`.
fn arguments(case: &Path, digest: bool) -> Vec<String> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut args = vec!["verify-blob".to_string(), "--bundle".into(), path(&case.join("bundle.sigstore.json"))];
    let key = case.join("key.pub");
    if key.is_file() {
        args.extend(["--key".into(), path(&key)]);
    } else {
        let identity = text(&case.join("identity")).unwrap_or_else(|| DEFAULT_IDENTITY.into());
        let issuer = text(&case.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.into());
        args.extend(["--certificate-identity".into(), identity, "--certificate-oidc-issuer".into(), issuer]);
    }
    let root = case.join("trusted_root.json");
    if root.is_file() {
        args.extend(["--trusted-root".into(), path(&root)]);
    }
    let artifact = Some(case.join("artifact")).filter(|a| a.is_file()).unwrap_or_else(|| suite_dir().join("a.txt"));
    if digest {
        let bytes = std::fs::read(&artifact).expect("read the artifact");
        args.push(format!("sha256:{}", sha256_hex(&bytes)));
    } else {
        args.push(path(&artifact));
    }
    args
}

/// What each `_fail` case must be refused for, as its README names it: a piece of wharf's reason.
/// A case refused for another reason (an earlier check tripping over something incidental) would
/// hide a check that never ran.
const REASONS: [(&str, &str); 49] = [
    ("bundle-empty-certificate-chain_fail", "certificate chain is empty"),
    ("bundle-from-wrong-instance_fail", "is not in the trusted root"),
    ("bundle-invalid-base64-signature_fail", "signature is not base64"),
    ("bundle-malformed-json_fail", "not JSON"),
    ("bundle-negative-log-index_fail", "logIndex is negative"),
    ("bundle-unknown-version_fail", "not a Sigstore bundle version"),
    ("bundle-with-root-cert_fail", "carries a root certificate"),
    ("checkpoint-bad-keyhint_fail", "checkpoint has no signature by the log"),
    ("checkpoint-wrong-roothash_fail", "checkpoint commits to another tree"),
    ("dsse-invalid-sig_fail", "records another signature"),
    ("dsse-mismatch-envelope_fail", "for another payload"),
    ("dsse-mismatch-sig_fail", "records another signature"),
    ("inclusion-proof-corrupted-hash_fail", "does not lead from this entry to its root hash"),
    ("incorrect-public-key_fail", "inclusion promise (SET) does not verify"),
    ("integrated-time-in-future_fail", "had expired or was not yet valid at the signing time"),
    ("intoto-expired-certificate_fail", "had expired or was not yet valid at the signing time"),
    ("intoto-log-entry-mismatch_fail", "records another signature"),
    ("intoto-missing-inclusion-proof_fail", "must carry an inclusion proof"),
    ("intoto-set-outside-signing-cert-validity_fail", "had expired or was not yet valid at the signing time"),
    ("intoto-tsa-timestamp-outside-cert-validity_fail", "not yet valid at the signing time 1675296000 (RFC 3161"),
    ("invalid-checkpoint-signature_fail", "checkpoint's signature does not verify"),
    ("invalid-ct-key_fail", "no signed certificate timestamp verifies"),
    ("invalid-inclusion-proof_fail", "does not lead from this entry to its root hash"),
    ("managed-key-no-key_fail", "signed with a key, not a Fulcio certificate"),
    ("managed-key-wrong-key_fail", "PEM block is damaged"),
    ("message-digest-mismatch_fail", "for another digest"),
    ("rekor2-checkpoint-missing-log-signature_fail", "checkpoint carries no signature"),
    ("rekor2-checkpoint-missing-origin_fail", "origin or size is missing"),
    ("rekor2-checkpoint-missing-root-hash_fail", "checkpoint has no root hash"),
    ("rekor2-checkpoint-missing-size_fail", "origin or size is missing"),
    ("rekor2-checkpoint-no-matching-signature_fail", "checkpoint's origin"),
    ("rekor2-dsse-invalid-sig_fail", "records another signature"),
    ("rekor2-dsse-mismatch-envelope_fail", "for another digest"),
    ("rekor2-dsse-mismatch-sig_fail", "records another signature"),
    ("rekor2-no-inclusion-proof_fail", "must carry an inclusion proof"),
    ("rekor2-no-timestamp_fail", "no verified time of signing"),
    ("rekor2-timestamp-outside-trust-root-tsa-validity_fail", "outside the trusted root's validity"),
    ("rekor2-timestamp-outside-tsa-cert-validity_fail", "is outside its validity"),
    ("rekor2-timestamp-payload-mismatch_fail", "not the SHA-256 of the bundle's signature"),
    ("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail", "freetsa"),
    ("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail", "not a timestamp authority of the"),
    ("rekor2-timestamp-with-incorrect-time_fail", "not yet valid at the signing time 1752575611 (RFC 3161"),
    ("set-invalid-signature_fail", "inclusion promise (SET) does not verify"),
    ("signature-mismatch_fail", "records another signature"),
    ("trust-root-tlog-missing-validity-start_fail", "validFor has no start"),
    ("wrong-hashedrekord-artifact_fail", "for another digest"),
    ("wrong-hashedrekord-cert-and-sig_fail", "records another signature"),
    ("wrong-hashedrekord-entry_fail", "for another digest"),
    ("wrong-material_fail", "(the artifact's digest)"),
];

fn expected_reason(case: &str) -> Option<&'static str> {
    REASONS.iter().find(|(name, _)| *name == case).map(|(_, reason)| *reason)
}

/// Why `run` is the wrong outcome for `case`, if it is.
fn mismatch(case: &str, run: &Run) -> Option<String> {
    let must_fail = case.ends_with("_fail");
    let first = run.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let wrong = if must_fail {
        // Refused: "not verified" (1) or unreadable input (2), never a crash, for the named reason.
        let reason = expected_reason(case).unwrap_or("(no expected reason listed)");
        if !matches!(run.code, 1 | 2) || run.stderr.contains("panicked") {
            Some("must fail".to_string())
        } else if !first.to_lowercase().contains(&reason.to_lowercase()) {
            Some(format!("must fail for \"{reason}\""))
        } else {
            None
        }
    } else {
        (run.code != 0).then(|| "must pass".to_string())
    };
    wrong.map(|what| format!("{case}: exit {} ({what}) — {first}", run.code))
}

#[test]
fn every_sigstore_conformance_bundle_verify_case_goes_the_way_the_suite_names() {
    let cases = cases();
    assert_eq!(cases.len(), CASES, "the vendored suite should hold {CASES} cases");
    let failing = cases.iter().filter(|c| c.to_string_lossy().ends_with("_fail")).count();
    assert_eq!(failing, REASONS.len(), "every _fail case has its expected reason");
    let env = TestEnv::new();
    let mut wrong = Vec::new();
    for case in &cases {
        let name = case.file_name().expect("a case name").to_string_lossy().into_owned();
        for digest in [false, true] {
            let args = arguments(case, digest);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = wharf(&args, &env);
            if let Some(why) = mismatch(&name, &run) {
                wrong.push(format!("{why} [{}]", if digest { "digest" } else { "path" }));
            }
        }
    }
    let total = cases.len() * 2;
    assert!(
        wrong.is_empty(),
        "{} of {total} runs went the wrong way ({} of {} cases right):\n{}",
        wrong.len(),
        cases.len()
            - wrong
                .iter()
                .map(|w| w.split(':').next().unwrap_or_default())
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
        cases.len(),
        wrong.join("\n")
    );
}
