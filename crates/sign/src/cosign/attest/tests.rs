use super::*;

#[test]
fn short_names_are_cosigns_and_uris_pass_through() {
    assert_eq!(predicate_type("slsaprovenance1").ok().as_deref(), Some("https://slsa.dev/provenance/v1"));
    assert_eq!(predicate_type("cyclonedx").ok().as_deref(), Some("https://cyclonedx.org/bom"));
    assert_eq!(predicate_type("spdxjson").ok().as_deref(), Some("https://spdx.dev/Document"));
    assert_eq!(predicate_type("https://example.com/p/v1").ok().as_deref(), Some("https://example.com/p/v1"));
    assert_eq!(short_name("https://slsa.dev/provenance/v1"), Some("slsaprovenance1"));
    let typo = predicate_type("slsaprovenance2").map(|_| ()).expect_err("a typo").to_string();
    assert!(typo.contains("slsaprovenance1") && typo.contains("URI"), "{typo}");
}
