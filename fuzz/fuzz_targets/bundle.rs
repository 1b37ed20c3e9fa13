//! Sigstore bundles: `wharf verify-blob`'s whole path (`sign::blob::verify_blob`: the strict bundle
//! reader, then the one verifier: log entry, inclusion proof and checkpoint, SET, RFC 3161
//! timestamps, certificate path, SCTs, identity, signature) on arbitrary bytes, against three
//! trusts: keyless with the public-good root built into wharf, keyless with the staging root of
//! the conformance suite's Rekor v2 cases, and the suite's managed key with that root.
//!
//! Invariants: no panic; a refused bundle has a problem and a reason, and a verified one has
//! neither; a verified keyless bundle names the expected identity and issuer, and a log.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wharf::oci::digest::Digest;
use wharf::sign::sigstore::blob::{BlobVerdict, verify_blob};
use wharf::sign::sigstore::keyless::{ExpectedIdentity, Matcher, TrustedRoot};
use wharf::sign::{PublicKey, Trust};

const CASES: &str = "../registry-tests/fixtures/sigstore-conformance/bundle-verify";
const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The SHA-256 of the suite's `a.txt`, which most of its bundles sign.
const A_TXT: &str = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";

struct Setup {
    artifact: Digest,
    trusts: Vec<Trust>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let read = |path: &str| {
            std::fs::read(format!("{}/{CASES}/{path}", env!("CARGO_MANIFEST_DIR")))
                .unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let staging = || {
            TrustedRoot::from_json("staging", &read("rekor2-happy-path/trusted_root.json")).expect("the staging root")
        };
        let beacon =
            || ExpectedIdentity { identity: Matcher::Exact(BEACON.into()), issuer: Matcher::Exact(ISSUER.into()) };
        let key = PublicKey::from_pem("key.pub", &read("managed-key-and-trusted-root/key.pub")).expect("the key");
        Setup {
            artifact: A_TXT.parse().expect("a digest"),
            trusts: vec![
                Trust::Keyless { root: TrustedRoot::public_good().expect("the built-in root"), expected: beacon() },
                Trust::Keyless { root: staging(), expected: beacon() },
                Trust::ManagedKey { key, root: staging() },
            ],
        }
    })
}

fn check(verdict: &BlobVerdict, trust: &Trust) {
    if verdict.verified {
        assert!(verdict.problem.is_none() && verdict.reason.is_none(), "a verified bundle with a problem");
        assert!(verdict.log.is_some(), "verified with a trusted root but no log");
        if let Trust::Keyless { .. } = trust {
            let who = verdict.keyless.as_ref().expect("a keyless verdict names who signed");
            assert_eq!((who.identity.as_str(), who.issuer.as_str()), (BEACON, ISSUER));
        }
    } else {
        assert!(verdict.problem.is_some(), "a refusal without a problem");
        assert!(verdict.reason.as_deref().is_some_and(|r| !r.is_empty()), "a refusal without a reason");
    }
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    for trust in &setup.trusts {
        check(&verify_blob(data, &setup.artifact, trust), trust);
    }
});
