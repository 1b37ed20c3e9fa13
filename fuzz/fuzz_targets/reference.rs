//! `Reference::parse` on arbitrary text.
//!
//! Invariants: a parse either fails with `Error::InvalidReference` naming the
//! input, or gives a reference whose printed form parses back to the same
//! reference and prints the same again; registry references have a host and
//! a lowercase repository; the selector is the digest when one was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::oci::Error;
use wharf::oci::reference::{Reference, Selector};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    match Reference::parse(input) {
        Err(Error::InvalidReference { input: named, reason }) => {
            assert_eq!(named, input, "the error names the input as given");
            assert!(!reason.is_empty(), "the error says why");
        }
        Err(other) => panic!("{input:?}: not an InvalidReference error: {other:?}"),
        Ok(reference) => check_parsed(input, &reference),
    }
});

fn check_parsed(input: &str, reference: &Reference) {
    let printed = reference.to_string();
    let reparsed = Reference::parse(&printed)
        .unwrap_or_else(|e| panic!("{input:?} parsed, but its printed form {printed:?} does not: {e}"));
    assert_eq!(&reparsed, reference, "{input:?} printed as {printed:?} parses to something else");
    assert_eq!(reparsed.to_string(), printed, "printing is not stable for {input:?}");
    if let Reference::Registry(r) = reference {
        assert!(!r.registry.is_empty(), "{input:?}: empty registry");
        assert!(!r.repository.is_empty(), "{input:?}: empty repository");
        assert!(!r.repository.chars().any(|c| c.is_ascii_uppercase()), "{input:?}: uppercase repository");
    }
    match (reference.digest(), reference.selector()) {
        (Some(d), Selector::Digest(s)) => assert_eq!(d, &s),
        (Some(_), other) => panic!("{input:?}: a digest was given but the selector is {other:?}"),
        (None, Selector::Digest(_)) => panic!("{input:?}: a digest selector without a digest"),
        (None, _) => {}
    }
    assert!(!reference.short_name().is_empty(), "{input:?}: empty short name");
}
