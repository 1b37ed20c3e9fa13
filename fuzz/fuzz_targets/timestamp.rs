//! RFC 3161 timestamp tokens: `sigstore::timestamp::verify` on arbitrary bytes,
//! against the timestamp authorities of four real trusted roots (Sigstore
//! staging and production, a TSA with a short-lived chain, sigstore-go's mock
//! TSA), from the sigstore-conformance cases in registry-tests/fixtures/sigstore-conformance/bundle-verify/.
//!
//! Input: a two-byte big-endian length N, N bytes standing for the bundle's
//! signature, then the token (a TimeStampResp or a bare TimeStampToken).
//!
//! Invariants: no panic; a refusal says why; an accepted token gives the same
//! time again, and is refused for any other signature (its message imprint
//! binds it to the signature).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wharf::sign::sigstore::timestamp::{TimestampAuthority, parse_authorities, verify};

const ROOTS: [&str; 4] = [
    include_str!("../../registry-tests/fixtures/sigstore-conformance/bundle-verify/rekor2-happy-path/trusted_root.json"),
    include_str!("../../registry-tests/fixtures/sigstore-conformance/bundle-verify/bundle-with-sct-with-extensions/trusted_root.json"),
    include_str!("../../registry-tests/fixtures/sigstore-conformance/bundle-verify/rekor2-timestamp-with-expired-cert-chain/trusted_root.json"),
    include_str!("../../registry-tests/fixtures/sigstore-conformance/bundle-verify/intoto-with-custom-trust-root/trusted_root.json"),
];

fn authorities() -> &'static [TimestampAuthority] {
    static AUTHORITIES: OnceLock<Vec<TimestampAuthority>> = OnceLock::new();
    AUTHORITIES.get_or_init(|| {
        ROOTS
            .iter()
            .flat_map(|text| {
                let root = serde_json::from_str(text).expect("a vendored trusted root is JSON");
                parse_authorities(&root).expect("a vendored trusted root's TSAs read")
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return };
    let len = usize::from(u16::from_be_bytes(*len));
    let Some((signature, token)) = rest.split_at_checked(len) else { return };
    match verify(token, signature, authorities()) {
        Ok(time) => {
            assert_eq!(verify(token, signature, authorities()), Ok(time), "verification is not deterministic");
            let mut other = signature.to_vec();
            other.push(0);
            assert!(verify(token, &other, authorities()).is_err(), "a token verified for another signature");
        }
        Err(reason) => assert!(!reason.is_empty(), "a refusal without a reason"),
    }
});
