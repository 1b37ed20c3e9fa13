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

/// Why `run` is the wrong outcome for `case`, if it is.
fn mismatch(case: &str, run: &Run) -> Option<String> {
    let must_fail = case.ends_with("_fail");
    let wrong = if must_fail {
        // Refused: "not verified" (1) or unreadable input (2), never a crash.
        !matches!(run.code, 1 | 2) || run.stderr.contains("panicked")
    } else {
        run.code != 0
    };
    wrong.then(|| {
        let first = run.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
        format!("{case}: exit {} ({}) — {first}", run.code, if must_fail { "must fail" } else { "must pass" })
    })
}

#[test]
fn every_sigstore_conformance_bundle_verify_case_goes_the_way_the_suite_names() {
    let cases = cases();
    assert_eq!(cases.len(), CASES, "the vendored suite should hold {CASES} cases");
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
