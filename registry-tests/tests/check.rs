//! `wharf check`: real components built from the WAT and WIT in
//! `examples/check/`, checked against the platform worlds there, from files,
//! an OCI layout and a real registry, with WIT from a directory, a file, a
//! binary package and a registry.

use std::path::Path;

use registry_tests::{Registry, Run, TestEnv, check_example, sha256_digest, wharf};
use serde_json::Value;

const FILTER: &str = "acme:plugins/filter-plugin";
const STORAGE: &str = "acme:plugins/storage-plugin";

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `wharf check COMPONENT --wit WIT [--world WORLD] --format json`, parsed.
fn check_json(env: &TestEnv, component: &str, wit: &Path, world: Option<&str>, code: i32) -> Value {
    let run = check(env, component, &path_str(wit), world, &["--format", "json"]);
    run.assert_code(code);
    run.json()
}

fn check(env: &TestEnv, component: &str, wit: &str, world: Option<&str>, extra: &[&str]) -> Run {
    let mut args = vec!["check", component, "--wit", wit];
    if let Some(world) = world {
        args.extend(["--world", world]);
    }
    args.extend(extra);
    wharf(&args, env)
}

fn problems(report: &Value) -> &Vec<Value> {
    report["problems"].as_array().expect("problems is an array")
}

fn messages(report: &Value) -> Vec<String> {
    problems(report).iter().map(|p| p["message"].as_str().unwrap_or_default().to_string()).collect()
}

fn kinds(report: &Value) -> Vec<&str> {
    problems(report).iter().map(|p| p["kind"].as_str().unwrap_or_default()).collect()
}

/// Every text must be free of wac's debug output (arena ids, `Instance(...)`).
fn assert_plain_words(text: &str) {
    for debug in ["Id {", "idx", "InterfaceId", "ResourceId", "Instance(", "Func(", "DefinedTypeId"] {
        assert!(!text.contains(debug), "debug output {debug:?} leaked:\n{text}");
    }
}

#[test]
fn a_component_that_fits_exactly_exits_0() {
    let env = TestEnv::new();
    let filter = check_example(&env, "fits", FILTER);
    let report = check_json(&env, &filter, &wharf_examples::check_platform_wit(), Some("filter-plugin"), 0);
    assert_eq!(report["fits"], true);
    assert_eq!(report["world"], "acme:plugins/filter-plugin@0.1.0");
    assert_eq!(report["typesChecked"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["semverMatches"], serde_json::json!([]));

    // Resources, imported and used through a method, fit too.
    let storage = check_example(&env, "storage", STORAGE);
    assert_eq!(
        check_json(&env, &storage, &wharf_examples::check_platform_wit(), Some("storage-plugin"), 0)["fits"],
        true
    );

    let text = check(&env, &filter, &path_str(&wharf_examples::check_platform_wit()), Some("filter-plugin"), &[]);
    text.assert_ok();
    assert_eq!(text.stdout.trim(), format!("{filter} fits acme:plugins/filter-plugin@0.1.0"));
}

#[test]
fn a_missing_export_names_what_the_world_expects() {
    let env = TestEnv::new();
    let meter = check_example(&env, "missing-export", "acme:meter/meter");
    let report = check_json(&env, &meter, &wharf_examples::check_platform_wit(), Some("filter-plugin"), 1);
    assert_eq!(report["fits"], false);
    assert_eq!(kinds(&report), ["missing-export"], "the extra export `version` is fine");
    let problem = &problems(&report)[0];
    assert_eq!(problem["side"], "export");
    assert_eq!(problem["item"], "acme:plugins/filter@0.1.0");
    assert_eq!(
        problem["expected"],
        "interface { record request { id: u32, size: u32 }; check: func(req: request) -> bool; }"
    );
    assert_eq!(problem["found"], Value::Null);
    assert_eq!(
        messages(&report),
        ["missing export acme:plugins/filter@0.1.0: the world requires this interface \
          (`record request { id: u32, size: u32 }; check: func(req: request) -> bool`), \
          and the component does not export it"]
    );

    let text = check(&env, &meter, &path_str(&wharf_examples::check_platform_wit()), Some("filter-plugin"), &[]);
    text.assert_code(1);
    assert!(
        text.stdout.contains("does not fit acme:plugins/filter-plugin@0.1.0: 1 problem (1 missing export)"),
        "{text}"
    );
    assert!(text.stdout.contains("hint: implement and export what the world requires"), "{text}");
    assert_plain_words(&text.stdout);
}

#[test]
fn an_import_the_world_does_not_provide_is_refused() {
    let env = TestEnv::new();
    let component = check_example(&env, "extra-import", FILTER);
    let report = check_json(&env, &component, &wharf_examples::check_platform_wit(), Some("filter-plugin"), 1);
    assert_eq!(kinds(&report), ["import-not-allowed"]);
    let problem = &problems(&report)[0];
    assert_eq!(problem["side"], "import");
    assert_eq!(problem["item"], "acme:plugins/secrets@0.1.0");
    assert_eq!(problem["found"], "interface { reveal: func(id: u32) -> u32; }");
    assert_eq!(
        messages(&report),
        ["import not allowed: the component imports the interface acme:plugins/secrets@0.1.0 \
          (`reveal: func(id: u32) -> u32`), and the world does not provide it"]
    );
}

#[test]
fn function_signature_mismatches_are_reported_in_both_directions() {
    let env = TestEnv::new();
    let component = check_example(&env, "signature-mismatch", FILTER);
    let report = check_json(&env, &component, &wharf_examples::check_platform_wit(), Some("filter-plugin"), 1);
    assert_eq!(kinds(&report), ["type-mismatch", "type-mismatch"]);
    assert_eq!(
        messages(&report),
        [
            "type mismatch in import acme:plugins/host@0.1.0, function `log`, parameter `code`: \
             the world provides `u32`, the component expects `u64`",
            "type mismatch in export acme:plugins/filter@0.1.0, function `check`: \
             the world expects `func(req: request) -> bool`, the component has `func(req: request, strict: bool) -> bool`",
        ]
    );
    let log = &problems(&report)[0];
    assert_eq!(
        log["path"],
        serde_json::json!([{"kind": "function", "name": "log"}, {"kind": "parameter", "name": "code"}])
    );
    assert_eq!((log["expected"].as_str(), log["found"].as_str()), (Some("u32"), Some("u64")));
}

#[test]
fn a_record_field_mismatch_gives_the_path_to_the_field_once() {
    let env = TestEnv::new();
    let component = check_example(&env, "record-mismatch", FILTER);
    let report = check_json(&env, &component, &wharf_examples::check_platform_wit(), Some("filter-plugin"), 1);
    // `request` is used by the types interface, the filter interface and check's parameter:
    // one cause, reported once, where it is defined.
    assert_eq!(
        messages(&report),
        ["type mismatch in import acme:plugins/types@0.1.0, type `request`, field `size`: \
          the world provides `u32`, the component expects `u64`"]
    );
    let problem = &problems(&report)[0];
    assert_eq!(
        problem["path"],
        serde_json::json!([{"kind": "type", "name": "request"}, {"kind": "field", "name": "size"}])
    );
}

#[test]
fn resources_are_compared_and_named() {
    let env = TestEnv::new();
    let component = check_example(&env, "resource-mismatch", STORAGE);
    let run = check(
        &env,
        &component,
        &path_str(&wharf_examples::check_platform_wit()),
        Some("storage-plugin"),
        &["--format", "json"],
    );
    run.assert_code(1);
    assert_plain_words(&run.stdout);
    let report = run.json();
    assert_eq!(
        messages(&report),
        [
            "type mismatch in import acme:plugins/store@0.1.0, resource `file`: the world does not provide it; \
             the component expects `resource file` (the world's interface has resource `blob`)",
            "type mismatch in import acme:plugins/store@0.1.0, function `open`, result: \
             the world provides `blob`, the component expects `file`",
        ],
        "the methods of the missing resource are covered by its line"
    );
}

#[test]
fn semver_compatible_versions_match_in_the_safe_direction() {
    let env = TestEnv::new();
    // Imports store@0.2.0 (the world provides 0.2.3), exports handler@0.2.3 (the world requires 0.2.0).
    let component = check_example(&env, "semver-safe", "acme:semver-safe/component");
    let report = check_json(&env, &component, &wharf_examples::check_semver_platform_wit(), Some("service"), 0);
    assert_eq!(report["fits"], true);
    let matches = report["semverMatches"].as_array().expect("semverMatches");
    let pairs: Vec<(&str, &str, &str, bool)> = matches
        .iter()
        .map(|m| {
            (
                m["side"].as_str().unwrap_or_default(),
                m["component"].as_str().unwrap_or_default(),
                m["world"].as_str().unwrap_or_default(),
                m["safe"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("import", "acme:kv/store@0.2.0", "acme:kv/store@0.2.3", true),
            ("export", "acme:svc/handler@0.2.3", "acme:svc/handler@0.2.0", true),
        ]
    );
    let text = check(&env, &component, &path_str(&wharf_examples::check_semver_platform_wit()), Some("service"), &[]);
    text.assert_ok();
    assert!(
        text.stdout.contains(
            "semver: import acme:kv/store@0.2.0 matched the world's acme:kv/store@0.2.3: \
             the component asks for an older version than the world provides, which is safe"
        ),
        "{text}"
    );
}

#[test]
fn semver_compatible_versions_in_the_unsafe_direction_do_not_fit() {
    let env = TestEnv::new();
    // Imports store@0.2.3 and uses its `set`; exports handler@0.2.0 without `reset`.
    let component = check_example(&env, "semver-unsafe", "acme:semver-unsafe/component");
    assert_eq!(
        check_json(&env, &component, &wharf_examples::check_semver_platform_wit(), Some("service"), 0)["fits"],
        true
    );
    let report = check_json(&env, &component, &wharf_examples::check_semver_platform_wit(), Some("service-lts"), 1);
    assert_eq!(kinds(&report), ["version-mismatch", "type-mismatch", "version-mismatch", "type-mismatch"]);
    let messages = messages(&report);
    assert_eq!(
        messages[1],
        "type mismatch in import acme:kv/store@0.2.3, function `set`: the world does not provide it; \
         the component expects `set: func(key: u32, value: u32)`"
    );
    assert_eq!(
        messages[3],
        "type mismatch in export acme:svc/handler@0.2.3, function `reset`: the component does not have it; \
         the world expects `reset: func()`"
    );
    assert!(messages[0].starts_with("version mismatch: the component imports acme:kv/store@0.2.3, but the world provides only the older acme:kv/store@0.2.0"), "{messages:?}");
    let safe: Vec<bool> =
        report["semverMatches"].as_array().expect("semverMatches").iter().map(|m| m["safe"] == true).collect();
    assert_eq!(safe, [false, false]);
}

#[test]
fn pre_releases_match_only_exactly() {
    let env = TestEnv::new();
    let component = check_example(&env, "prerelease", "acme:prerelease/component");
    let report = check_json(&env, &component, &wharf_examples::check_semver_platform_wit(), Some("service-next"), 1);
    assert_eq!(
        messages(&report),
        ["import not allowed: the component imports the interface acme:kv/store@0.3.0-rc.1 \
          (`get: func(key: u32) -> u32`), and the world does not provide it \
          (the world has acme:kv/store@0.3.0-rc.2; pre-release versions match only exactly)"]
    );
}

#[test]
fn several_worlds_need_world_and_one_is_picked_by_name() {
    let env = TestEnv::new();
    let filter = check_example(&env, "fits", FILTER);
    let run = check(&env, &filter, &path_str(&wharf_examples::check_platform_wit()), None, &[]);
    run.assert_code(2);
    assert!(
        run.stderr.contains(
            "error: the WIT package acme:plugins@0.1.0 defines several worlds \
             (acme:plugins/filter-plugin@0.1.0, acme:plugins/storage-plugin@0.1.0)"
        ),
        "{run}"
    );
    assert!(run.stderr.contains("hint: choose one with --world, for example --world filter-plugin"), "{run}");
    let json = check(&env, &filter, &path_str(&wharf_examples::check_platform_wit()), None, &["--format", "json"]);
    json.assert_code(2);
    assert_eq!(json.json()["error"]["kind"], "usage");

    for world in ["filter-plugin", "acme:plugins/filter-plugin", "acme:plugins/filter-plugin@0.1.0"] {
        assert_eq!(
            check_json(&env, &filter, &wharf_examples::check_platform_wit(), Some(world), 0)["fits"],
            true,
            "{world}"
        );
    }
    let wrong = check(
        &env,
        &filter,
        &path_str(&wharf_examples::check_platform_wit()),
        Some("storage-plugin"),
        &["--format", "json"],
    );
    wrong.assert_code(1);
    let unknown = check(&env, &filter, &path_str(&wharf_examples::check_platform_wit()), Some("proxy"), &[]);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("has no world \"proxy\""), "{unknown}");

    // A package with one world needs no --world.
    let meter = check_example(&env, "missing-export", "acme:meter/meter");
    let own_wit = wharf_examples::check_dir().join("missing-export").join("wit");
    assert_eq!(check_json(&env, &meter, &own_wit, None, 0)["world"], "acme:meter/meter@0.1.0");
}

#[test]
fn wit_comes_from_a_directory_a_file_or_a_binary_package() {
    let env = TestEnv::new();
    let good = check_example(&env, "fits", FILTER);
    let bad = check_example(&env, "signature-mismatch", FILTER);
    let package = env.write(
        "acme-plugins.wasm",
        wharf_examples::build_wit_package(&wharf_examples::check_platform_wit())
            .expect("encode the platform's WIT package"),
    );
    let file = wharf_examples::check_platform_wit().join("plugins.wit");
    for wit in [wharf_examples::check_platform_wit(), file, package] {
        assert_eq!(check_json(&env, &good, &wit, Some("filter-plugin"), 0)["fits"], true, "{}", wit.display());
        assert_eq!(kinds(&check_json(&env, &bad, &wit, Some("filter-plugin"), 1)).len(), 2, "{}", wit.display());
    }
    // A directory with deps/ (several versions of one package side by side).
    let safe = check_example(&env, "semver-safe", "acme:semver-safe/component");
    let semver_package = env.write(
        "acme-platform.wasm",
        wharf_examples::build_wit_package(&wharf_examples::check_semver_platform_wit())
            .expect("encode the semver platform"),
    );
    assert_eq!(check_json(&env, &safe, &semver_package, Some("service"), 0)["fits"], true);
}

#[test]
fn unreadable_input_exits_2_and_says_why() {
    let env = TestEnv::new();
    let good = check_example(&env, "fits", FILTER);
    let cases: Vec<(String, String, &str)> = vec![
        (
            env.path("absent.wasm").to_string_lossy().into_owned(),
            path_str(&wharf_examples::check_platform_wit()),
            "cannot read",
        ),
        (
            path_str(&env.write("junk.wasm", b"hello")),
            path_str(&wharf_examples::check_platform_wit()),
            "is not a valid WebAssembly binary",
        ),
        (
            path_str(&env.write("core.wasm", wharf_examples::build_hello_module().expect("core module"))),
            path_str(&wharf_examples::check_platform_wit()),
            "is a core module, not a component",
        ),
        (
            good.clone(),
            path_str(&env.write("bad/world.wit", "package a:b;\nworld w {\n  export f: func(x: u33);\n}\n")),
            "world.wit:3:",
        ),
        (
            good.clone(),
            path_str(&env.write("missing-dep.wit", "package a:b;\nworld w {\n  import c:d/e;\n}\n")),
            "package 'c:d' not found",
        ),
        (good.clone(), good.clone(), "it holds a component, not a WIT package"),
        (good.clone(), env.path("nowhere/wit").to_string_lossy().into_owned(), "cannot read"),
    ];
    for (component, wit, needle) in cases {
        let run = check(&env, &component, &wit, Some("filter-plugin"), &[]);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "expected {needle:?}\n{run}");
        assert!(run.stdout.is_empty(), "{run}");
    }
}

#[test]
fn a_component_in_a_registry_is_checked_after_download() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let good = check_example(&env, "fits", FILTER);
    let bad = check_example(&env, "record-mismatch", FILTER);
    let good_ref = registry.reference("plugins/filter:1.0.0");
    let bad_ref = registry.reference("plugins/filter:1.0.1");
    wharf(&["push", &good, &good_ref], &env).assert_ok();
    wharf(&["push", &bad, &bad_ref], &env).assert_ok();

    let report = check_json(&env, &good_ref, &wharf_examples::check_platform_wit(), Some("filter-plugin"), 0);
    assert_eq!(report["typesChecked"], true);
    let component = report["component"].as_str().unwrap_or_default();
    assert!(component.starts_with(&format!("{}/plugins/filter@sha256:", registry.host())), "{report}");

    // The names in the config fit; only the types differ, so the layer is fetched and checked.
    let report = check_json(&env, &bad_ref, &wharf_examples::check_platform_wit(), Some("filter-plugin"), 1);
    assert_eq!(report["typesChecked"], true);
    assert_eq!(kinds(&report), ["type-mismatch"]);
}

#[test]
fn the_config_alone_answers_when_the_names_already_do_not_fit() {
    let env = TestEnv::new();
    let meter = check_example(&env, "missing-export", "acme:meter/meter");
    let bytes = std::fs::read(&meter).expect("read the component");
    wharf(&["push", &meter, "oci:store:meter"], &env).assert_ok();
    // Remove the layer: only the manifest and config are left to read.
    std::fs::remove_file(env.path("store/blobs/sha256").join(&sha256_digest(&bytes)[7..])).expect("remove the layer");

    let report = check_json(&env, "oci:store:meter", &wharf_examples::check_platform_wit(), Some("filter-plugin"), 1);
    assert_eq!(report["typesChecked"], false);
    assert_eq!(kinds(&report), ["missing-export"]);
    let text =
        check(&env, "oci:store:meter", &path_str(&wharf_examples::check_platform_wit()), Some("filter-plugin"), &[]);
    text.assert_code(1);
    assert!(text.stdout.contains("the component was not downloaded"), "{text}");

    // When the names fit, the layer is needed, and its absence is an error (exit 2).
    let fits = check_example(&env, "fits", FILTER);
    let fits_bytes = std::fs::read(&fits).expect("read the component");
    wharf(&["push", &fits, "oci:store:filter"], &env).assert_ok();
    std::fs::remove_file(env.path("store/blobs/sha256").join(&sha256_digest(&fits_bytes)[7..]))
        .expect("remove the layer");
    check(&env, "oci:store:filter", &path_str(&wharf_examples::check_platform_wit()), Some("filter-plugin"), &[])
        .assert_code(2);
}

#[test]
fn a_wit_package_in_a_registry_is_a_world_source() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let package = env.write(
        "acme-plugins.wasm",
        wharf_examples::build_wit_package(&wharf_examples::check_platform_wit())
            .expect("encode the platform's WIT package"),
    );
    let wit_ref = registry.reference("acme/plugins:0.1.0");
    wharf(&["push", &path_str(&package), &wit_ref], &env).assert_ok();

    let good = check_example(&env, "fits", FILTER);
    let run = check(&env, &good, &wit_ref, Some("filter-plugin"), &["--format", "json"]);
    run.assert_ok();
    assert_eq!(run.json()["world"], "acme:plugins/filter-plugin@0.1.0");
    let bad = check_example(&env, "extra-import", FILTER);
    check(&env, &bad, &wit_ref, Some("filter-plugin"), &[]).assert_code(1);

    // A reference to a component is not a WIT package.
    let component_ref = registry.reference("plugins/filter:1.0.0");
    wharf(&["push", &good, &component_ref], &env).assert_ok();
    let run = check(&env, &good, &component_ref, Some("filter-plugin"), &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("it holds a component, not a WIT package"), "{run}");
}

#[test]
fn push_with_wit_refuses_what_does_not_fit_and_records_the_world() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let wit = path_str(&wharf_examples::check_platform_wit());
    let bad = check_example(&env, "signature-mismatch", FILTER);
    let bad_ref = registry.reference("plugins/filter:0.9.0");
    let refused = wharf(&["push", &bad, &bad_ref, "--wit", &wit, "--world", "filter-plugin"], &env);
    refused.assert_code(1);
    assert!(
        refused.stdout.contains("type mismatch in export acme:plugins/filter@0.1.0, function `check`"),
        "{refused}"
    );
    assert!(refused.stderr.contains("not pushed:"), "{refused}");
    let (status, _, _) = registry_tests::registry_get(&registry.host(), "/v2/plugins/filter/tags/list", "*/*");
    assert_eq!(status, 404, "nothing may be pushed when the component does not fit");
    let json = wharf(&["push", &bad, &bad_ref, "--wit", &wit, "--world", "filter-plugin", "--format", "json"], &env);
    json.assert_code(1);
    assert_eq!(json.json()["fits"], false);

    let good = check_example(&env, "fits", FILTER);
    let good_ref = registry.reference("plugins/filter:1.0.0");
    let pushed =
        wharf(&["push", &good, &good_ref, "--wit", &wit, "--world", "filter-plugin", "--format", "json"], &env);
    pushed.assert_ok();
    assert_eq!(pushed.json()["config"]["component"]["target"], "acme:plugins/filter-plugin@0.1.0");
    let inspected = wharf(&["inspect", &good_ref], &env);
    inspected.assert_ok();
    assert!(inspected.stdout.contains("target:     acme:plugins/filter-plugin@0.1.0"), "{inspected}");

    // --world needs --wit; an unreadable WIT is exit 2 and nothing is pushed.
    wharf(&["push", &good, &good_ref, "--world", "filter-plugin"], &env).assert_code(2);
    wharf(&["push", &good, &registry.reference("plugins/other:1"), "--wit", "nowhere.wit"], &env).assert_code(2);
}

/// `push --wit` reads the component once, checks those bytes and pushes the same
/// bytes: a named pipe, which can be read only once, is pushed, and what is pushed
/// is what was checked. (Reading it a second time finds the pipe empty.)
#[test]
fn push_with_wit_checks_and_pushes_the_bytes_of_one_read() {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let env = TestEnv::new();
    let wit = path_str(&wharf_examples::check_platform_wit());
    let component = std::fs::read(check_example(&env, "fits", FILTER)).expect("read the component");
    let pipe = env.path("filter.wasm");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status().expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let writer = {
        let (pipe, component) = (pipe.clone(), component.clone());
        std::thread::spawn(move || {
            // Blocks until wharf opens the pipe to read; then the bytes, then end of file.
            let mut first = std::fs::OpenOptions::new().write(true).open(&pipe).expect("open the pipe");
            first.write_all(&component).expect("write the component");
            drop(first);
            // A second reader gets an empty file, not a hang: opened without blocking,
            // which fails when nobody reads (the one read is over).
            for _ in 0..50 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if std::fs::OpenOptions::new().write(true).custom_flags(0o4000).open(&pipe).is_ok() {
                    return;
                }
            }
        })
    };
    let layout = env.path("store");
    let reference = format!("oci:{}:filter-1.0.0", path_str(&layout));
    let pushed =
        wharf(&["push", &path_str(&pipe), &reference, "--wit", &wit, "--world", FILTER, "--format", "json"], &env);
    pushed.assert_ok();
    writer.join().expect("the writer");
    let pulled = env.path("pulled.wasm");
    wharf(&["pull", &reference, "-o", &path_str(&pulled)], &env).assert_ok();
    assert_eq!(std::fs::read(&pulled).expect("read the pull"), component, "what was checked is what was pushed");
    assert_eq!(pushed.json()["config"]["component"]["target"], format!("{FILTER}@0.1.0"));
}
