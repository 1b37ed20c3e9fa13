//! Sigstore trusted roots: `TrustedRoot::from_json` (a `--trusted-root` file) on arbitrary bytes,
//! then, for a root that reads, a real bundle of each kind verified against it (`verify_blob`):
//! a Rekor v1 message signature, a DSSE envelope, and a Rekor v2 entry with an RFC 3161
//! timestamp, all from the conformance suite.
//!
//! Invariants: no panic; a refused root is `Error::Malformed` naming the file; verification
//! against any root that reads refuses with a problem and a reason, or verifies with a log.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wharf::oci::digest::Digest;
use wharf::sign::Trust;
use wharf::sign::sigstore::blob::verify_blob;
use wharf::sign::sigstore::keyless::{ExpectedIdentity, Matcher, TrustedRoot};

const CASES: &str = "../registry-tests/fixtures/sigstore-conformance/bundle-verify";
const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const A_TXT: &str = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
const WHAT: &str = "fuzz-trusted-root.json";

fn bundles() -> &'static Vec<Vec<u8>> {
    static BUNDLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        ["happy-path-v0.3", "happy-path-intoto-in-dsse-v3", "rekor2-happy-path"]
            .iter()
            .map(|case| {
                let path = format!("{}/{CASES}/{case}/bundle.sigstore.json", env!("CARGO_MANIFEST_DIR"));
                std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let root = match TrustedRoot::from_json(WHAT, data) {
        Ok(root) => root,
        Err(wharf::sign::Error::Oci(wharf::oci::Error::Malformed { what, .. })) => return assert_eq!(what, WHAT),
        Err(other) => panic!("not a Malformed error: {other:?}"),
    };
    let artifact: Digest = A_TXT.parse().expect("a digest");
    let trust = Trust::Keyless {
        root,
        expected: ExpectedIdentity {
            identity: Matcher::Exact(BEACON.into()),
            issuer: Matcher::Exact("https://token.actions.githubusercontent.com".into()),
        },
    };
    for bundle in bundles() {
        let verdict = verify_blob(bundle, &artifact, &trust);
        if verdict.verified {
            assert!(verdict.log.is_some() && verdict.keyless.is_some(), "verified without a log or a signer");
        } else {
            assert!(verdict.problem.is_some() && verdict.reason.is_some(), "a refusal without its reason");
        }
    }
});
