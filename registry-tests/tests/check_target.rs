//! `wharf check REF` without `--wit`: the component is checked against the
//! world its artifact declares (`component.target`, recorded by
//! `wharf push --wit`), whose WIT package is fetched from a real registry at
//! the reference wkg's name mapping gives: wkg's config file, inline registry
//! metadata, or the registry's `.well-known/wasm-pkg/registry.json` (served
//! here by python's `http.server`, since the registry cannot serve it).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use registry_tests::scripted::{Answer, ScriptedServer};
use registry_tests::{Registry, StaticServer, TestEnv, check_example, wharf};

const FILTER: &str = "acme:plugins/filter-plugin";

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Pushes the platform's binary WIT package (acme:plugins@0.1.0) to `reference`.
fn push_platform_package(env: &TestEnv, reference: &str) {
    let package = env.write(
        "acme-plugins.wasm",
        wharf_examples::build_wit_package(&wharf_examples::check_platform_wit())
            .expect("encode the platform's WIT package"),
    );
    wharf(&["push", &path_str(&package), reference], env).assert_ok();
}

/// Pushes the `fits` component with `--wit` (recording its target) to `reference`.
fn push_with_target(env: &TestEnv, case: &str, wit: &Path, reference: &str) {
    let component = check_example(env, case, FILTER);
    let pushed = wharf(&["push", &component, reference, "--wit", &path_str(wit), "--world", "filter-plugin"], env);
    pushed.assert_ok();
}

#[test]
fn the_declared_world_is_fetched_from_the_default_registry() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    // default_registry without metadata: the registry serves no .well-known file (404), so the
    // defaults apply and the package lives at <registry>/acme/plugins:0.1.0, as wkg would put it.
    push_platform_package(&env, &registry.reference("acme/plugins:0.1.0"));
    env.write_wkg_config(&format!("default_registry = \"{}\"\n", registry.host()));

    let good_ref = registry.reference("plugins/filter:1.0.0");
    push_with_target(&env, "fits", &wharf_examples::check_platform_wit(), &good_ref);
    let run = wharf(&["check", &good_ref], &env);
    run.assert_ok();
    assert!(run.stdout.contains("fits acme:plugins/filter-plugin@0.1.0"), "{run}");
    let json = wharf(&["check", &good_ref, "--format", "json"], &env);
    json.assert_ok();
    assert_eq!(json.json()["world"], "acme:plugins/filter-plugin@0.1.0");
    assert_eq!(json.json()["typesChecked"], true);

    // Built against another WIT that calls itself acme:plugins@0.1.0 (request.size is a u64):
    // `push --wit` of that WIT records the same target, a forged one. The real package says no.
    let forged_ref = registry.reference("plugins/filter:1.0.1");
    let forged_wit = wharf_examples::check_dir().join("record-mismatch").join("wit");
    push_with_target(&env, "record-mismatch", &forged_wit, &forged_ref);
    let run = wharf(&["check", &forged_ref], &env);
    run.assert_code(1);
    assert!(
        run.stdout.contains(
            "type mismatch in import acme:plugins/types@0.1.0, type `request`, field `size`: \
             the world provides `u32`, the component expects `u64`"
        ),
        "{run}"
    );
}

#[test]
fn no_declared_world_or_an_unfetchable_one_exits_2_with_the_fix() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.write_wkg_config(&format!("default_registry = \"{}\"\n", registry.host()));

    // Pushed without --wit: no component.target.
    let plain = check_example(&env, "fits", FILTER);
    let plain_ref = registry.reference("plugins/filter:0.1.0");
    wharf(&["push", &plain, &plain_ref], &env).assert_ok();
    let run = wharf(&["check", &plain_ref], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("declares no target world (its config has no component.target)"), "{run}");
    assert!(run.stderr.contains("hint: give the world with --wit WIT [--world NAME], or push the component"), "{run}");
    let json = wharf(&["check", &plain_ref, "--format", "json"], &env);
    json.assert_code(2);
    assert_eq!(json.json()["error"]["kind"], "usage");

    // A local file declares nothing.
    let run = wharf(&["check", &plain], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("only an artifact in a registry or layout declares a target world"), "{run}");

    // The target's package (acme:plugins@0.1.0) was never pushed.
    let target_ref = registry.reference("plugins/filter:1.0.0");
    push_with_target(&env, "fits", &wharf_examples::check_platform_wit(), &target_ref);
    let run = wharf(&["check", &target_ref], &env);
    run.assert_code(2);
    let expected = format!(
        "cannot fetch the WIT package acme:plugins@0.1.0 of {target_ref}'s target world \
         acme:plugins/filter-plugin@0.1.0 from {}/acme/plugins:0.1.0",
        registry.host()
    );
    assert!(run.stderr.contains(&expected), "{run}");
    assert!(run.stderr.contains("hint: push the package there"), "{run}");

    // Nothing maps the namespace: no config at all, and acme is not a built-in namespace.
    std::fs::remove_file(env.path(".config/wasm-pkg/config.toml")).expect("remove the wkg config");
    let run = wharf(&["check", &target_ref], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("no registry is configured for the package acme:plugins@0.1.0"), "{run}");

    // A broken config says where.
    env.write(".config/wasm-pkg/config.toml", "default_registry = [\n");
    let run = wharf(&["check", &target_ref], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("cannot read the wkg config"), "{run}");

    // --world belongs to --wit.
    wharf(&["check", &target_ref, "--world", "filter-plugin"], &env).assert_code(2);
}

#[test]
fn inline_metadata_maps_a_namespace_without_any_fetch_and_wkg_config_file_wins() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    push_platform_package(&env, &registry.reference("wit/acme/plugins:0.1.0"));
    // The mapped registry name does not exist: inline metadata means it is never contacted.
    let config = format!(
        "default_registry = \"nowhere.invalid\"\n\n[namespace_registries]\n\
         acme = {{ registry = \"acme.invalid\", metadata = {{ preferredProtocol = \"oci\", \
         oci = {{ registry = \"{}\", namespacePrefix = \"wit/\" }} }} }}\n",
        registry.host()
    );
    let config_file = env.write("elsewhere/wkg.toml", &config);
    env.set_var("WKG_CONFIG_FILE", &config_file);
    // The default location holds a config that would lead nowhere: WKG_CONFIG_FILE wins.
    env.write(".config/wasm-pkg/config.toml", "default_registry = \"nowhere.invalid\"\n");

    let good_ref = registry.reference("plugins/filter:1.0.0");
    push_with_target(&env, "fits", &wharf_examples::check_platform_wit(), &good_ref);
    let run = wharf(&["check", &good_ref], &env);
    run.assert_ok();
    assert!(run.stdout.contains("fits acme:plugins/filter-plugin@0.1.0"), "{run}");

    // A package override beats the namespace mapping.
    let overridden = format!("{config}\n[package_registry_overrides]\n\"acme:plugins\" = \"127.0.0.1:9\"\n");
    env.write("elsewhere/wkg.toml", overridden);
    let run = wharf(&["check", &good_ref], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("from 127.0.0.1:9/acme/plugins:0.1.0"), "{run}");
}

#[test]
fn well_known_registry_metadata_is_discovered() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let site = env.path("site");
    let metadata = format!(
        r#"{{"preferredProtocol":"oci","oci":{{"registry":"{}","namespacePrefix":"discovered/"}}}}"#,
        registry.host()
    );
    env.write("site/.well-known/wasm-pkg/registry.json", &metadata);
    let server = StaticServer::start(&site);
    push_platform_package(&env, &registry.reference("discovered/acme/plugins:0.1.0"));
    env.write_wkg_config(&format!("[namespace_registries]\nacme = \"{}\"\n", server.host()));

    let good_ref = registry.reference("plugins/filter:1.0.0");
    push_with_target(&env, "fits", &wharf_examples::check_platform_wit(), &good_ref);
    let run = wharf(&["check", &good_ref], &env);
    run.assert_ok();
    assert!(run.stdout.contains("fits acme:plugins/filter-plugin@0.1.0"), "{run}");

    // The deprecated form, ociRegistry and ociNamespacePrefix, is read too: first to a prefix
    // holding nothing (the error names the reference it led to), then to another copy.
    let legacy = |prefix: &str| format!(r#"{{"ociRegistry":"{}","ociNamespacePrefix":"{prefix}"}}"#, registry.host());
    env.write("site/.well-known/wasm-pkg/registry.json", legacy("absent/"));
    let run = wharf(&["check", &good_ref], &env);
    run.assert_code(2);
    assert!(run.stderr.contains(&format!("from {}/absent/acme/plugins:0.1.0", registry.host())), "{run}");
    push_platform_package(&env, &registry.reference("legacy/acme/plugins:0.1.0"));
    env.write("site/.well-known/wasm-pkg/registry.json", legacy("legacy/"));
    let run = wharf(&["check", &good_ref, "--format", "json"], &env);
    run.assert_ok();
    assert_eq!(run.json()["fits"], true);

    // A document that is not metadata is an error, not a silent default.
    env.write("site/.well-known/wasm-pkg/registry.json", "<html>oops</html>");
    let run = wharf(&["check", &good_ref], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("malformed registry metadata at http://"), "{run}");
}

#[test]
fn busy_registry_metadata_is_retried_not_replaced_by_the_defaults() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let metadata = format!(r#"{{"oci":{{"registry":"{}","namespacePrefix":"busy/"}}}}"#, registry.host());
    // The first answer says "busy, ask again"; only the second holds the metadata. Taking the
    // defaults after the first would look for the package at the metadata host itself.
    let answered = AtomicUsize::new(0);
    let server = ScriptedServer::start(IpAddr::V4(Ipv4Addr::LOCALHOST), move |_| {
        match answered.fetch_add(1, Ordering::SeqCst) {
            0 => Answer::status(503, &[("Retry-After", "1")]),
            _ => Answer::Full(200, vec![], metadata.clone().into_bytes()),
        }
    });
    push_platform_package(&env, &registry.reference("busy/acme/plugins:0.1.0"));
    env.write_wkg_config(&format!("[namespace_registries]\nacme = \"{}\"\n", server.host()));

    let good_ref = registry.reference("plugins/filter:1.0.0");
    push_with_target(&env, "fits", &wharf_examples::check_platform_wit(), &good_ref);
    let run = wharf(&["check", &good_ref], &env);
    run.assert_ok();
    assert!(run.stdout.contains("fits acme:plugins/filter-plugin@0.1.0"), "{run}");
    assert_eq!(server.requests().len(), 2, "one busy answer, one retry: {:?}", server.requests());
}
