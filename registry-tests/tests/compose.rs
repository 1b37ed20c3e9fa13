//! `wharf compose plug` and `wharf compose FILE.wac`: real components built
//! from the WAT and WIT in `examples/compose/` (a greeter importing
//! `wharf:compose/name-source`, a name source exporting it), composed from
//! files, an OCI layout, a real registry, and packages found by name through
//! wkg's mapping, and the result run in wasmtime.

use std::path::{Path, PathBuf};

use registry_tests::{Registry, StaticServer, TestEnv, python_peer, sha256_digest, wharf};
use serde_json::Value;

const INTERFACE: &str = "wharf:compose/name-source@0.1.0";

/// Builds the compose example `name` into `<env>/<name>.wasm`.
fn build(env: &TestEnv, name: &str) -> String {
    let bytes = wharf_examples::build_compose_component(name)
        .unwrap_or_else(|e| panic!("build the {name} example component: {e:#}"));
    path_str(&env.write(&format!("{name}.wasm"), bytes))
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Runs `FILE`'s `greet` in wasmtime and returns what it printed.
fn greet(file: &Path) -> String {
    let ran = python_peer("run_component.py", &[&path_str(file), "greet"]);
    ran.assert_ok();
    ran.stdout.trim().to_string()
}

/// The names in a directory (to show that nothing, not even a temporary file, was left).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the test directory")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// Every text must be free of wac's and wasmparser's debug output.
fn assert_plain_words(text: &str) {
    for debug in ["Id {", "idx", "InterfaceId", "ResourceId", "NodeId", "Instance(", "Func(", "DefinedTypeId"] {
        assert!(!text.contains(debug), "debug output {debug:?} leaked:\n{text}");
    }
}

#[test]
fn files_compose_into_a_component_that_runs_and_composing_twice_gives_the_same_bytes() {
    let env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let name = build(&env, "name-source");
    let out = env.path("app.wasm");

    let run = wharf(&["compose", "plug", &greeter, "--plug", &name, "-o", &path_str(&out), "--format", "json"], &env);
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["imports"], serde_json::json!([]), "{report}");
    assert_eq!(report["exports"], serde_json::json!(["greet"]), "{report}");
    assert_eq!(
        report["wires"],
        serde_json::json!([{ "import": INTERFACE, "importer": "socket", "export": INTERFACE, "exporter": "plug 1" }])
    );
    let bytes = std::fs::read(&out).expect("read the composed component");
    assert_eq!(report["digest"], sha256_digest(&bytes));
    assert_eq!(report["size"], bytes.len());
    assert_eq!(report["parts"][0]["role"], "socket");
    assert_eq!(report["parts"][1]["role"], "plug");
    assert_eq!(report["parts"][1]["source"], name.as_str());

    assert_eq!(greet(&out), "Hello, World!");

    // A second run (a new process) writes the same bytes; text mode prints the path.
    let again = env.path("again.wasm");
    let text = wharf(&["compose", "plug", &greeter, "--plug", &name, "-o", &path_str(&again)], &env);
    text.assert_ok();
    assert_eq!(text.stdout.trim(), path_str(&again));
    assert!(text.stderr.contains(&format!("{INTERFACE} of socket <- plug 1")), "{text}");
    assert!(text.stderr.contains("exports: greet"), "{text}");
    assert_eq!(std::fs::read(&again).expect("read the second composition"), bytes);
    // wharf records itself as the processor, with its fixed version (no time, no path).
    for needle in ["processed-by", "wharf", env!("CARGO_PKG_VERSION")] {
        assert!(bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "no {needle:?} in the producers");
    }
}

#[test]
fn plugs_satisfy_each_other_and_versions_match_on_their_semver_track() {
    let env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let relay = build(&env, "relay");
    let base = build(&env, "base-name");
    let next = build(&env, "name-source-next");

    // The relay satisfies the greeter; the base name satisfies the relay (wac plug cannot do this).
    let out = env.path("chain.wasm");
    let run = wharf(
        &["compose", "plug", &greeter, "--plug", &relay, "--plug", &base, "-o", &path_str(&out), "--format", "json"],
        &env,
    );
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["imports"], serde_json::json!([]), "{report}");
    assert_eq!(report["wires"][1]["importer"], "plug 1", "{report}");
    assert_eq!(report["wires"][1]["exporter"], "plug 2", "{report}");
    assert_eq!(greet(&out), "Hello, Wharf!");

    // Without the base name, the relay's import stays an import of the result.
    let open = env.path("open.wasm");
    let run = wharf(&["compose", "plug", &greeter, "--plug", &relay, "-o", &path_str(&open), "--format", "json"], &env);
    run.assert_ok();
    assert_eq!(run.json()["imports"], serde_json::json!(["wharf:compose/base-name@0.1.0"]));

    // name-source@0.1.1 satisfies an import of name-source@0.1.0.
    let out = env.path("next.wasm");
    let run = wharf(&["compose", "plug", &greeter, "--plug", &next, "-o", &path_str(&out), "--format", "json"], &env);
    run.assert_ok();
    assert_eq!(run.json()["wires"][0]["export"], "wharf:compose/name-source@0.1.1");
    assert_eq!(greet(&out), "Hello, Next!");
}

#[test]
fn parts_from_a_registry_and_a_layout_compose_and_push_with_the_parts_recorded() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let name = build(&env, "name-source");
    let greeter_ref = registry.reference("compose/greeter:0.1.0");
    wharf(&["push", &greeter, &greeter_ref], &env).assert_ok();
    wharf(&["push", &name, "oci:store:name-source-0.1.0"], &env).assert_ok();

    let from_files = env.path("from-files.wasm");
    wharf(&["compose", "plug", &greeter, "--plug", &name, "-o", &path_str(&from_files)], &env).assert_ok();

    let app_ref = registry.reference("compose/app:0.1.0");
    let out = env.path("app.wasm");
    let run = wharf(
        &[
            "compose",
            "plug",
            &greeter_ref,
            "--plug",
            "oci:store:name-source-0.1.0",
            "-o",
            &path_str(&out),
            "--push",
            &app_ref,
            "--format",
            "json",
        ],
        &env,
    );
    run.assert_ok();
    let report = run.json();
    let composed = std::fs::read(&out).expect("read the composed component");
    assert_eq!(composed, std::fs::read(&from_files).expect("read"), "the same parts give the same bytes");
    let pushed = report["pushed"]["reference"].as_str().unwrap_or_default().to_string();
    assert!(pushed.starts_with(&format!("{}/compose/app@sha256:", registry.host())), "{report}");
    let socket_source = report["parts"][0]["source"].as_str().unwrap_or_default();
    assert!(socket_source.starts_with(&format!("{}/compose/greeter@sha256:", registry.host())), "{report}");

    // The manifest records the parts: role, source and the digest of each part's Wasm.
    let inspect = wharf(&["inspect", &app_ref, "--format", "json"], &env);
    inspect.assert_ok();
    let annotations = &inspect.json()["annotations"];
    let parts: Value = serde_json::from_str(annotations["dev.wharf.composed.parts"].as_str().unwrap_or("null"))
        .expect("the parts annotation is JSON");
    let greeter_bytes = std::fs::read(&greeter).expect("read");
    let name_bytes = std::fs::read(&name).expect("read");
    assert_eq!(parts[0]["role"], "socket");
    assert_eq!(parts[0]["digest"], sha256_digest(&greeter_bytes));
    assert_eq!(parts[1]["role"], "plug");
    assert_eq!(parts[1]["digest"], sha256_digest(&name_bytes));
    let plug_source = parts[1]["source"].as_str().unwrap_or_default();
    assert!(plug_source.starts_with("oci:") && plug_source.contains("store@sha256:"), "{plug_source}");

    // What was pushed is the composed component, and it runs.
    let pulled = env.path("pulled.wasm");
    wharf(&["pull", &app_ref, "-o", &path_str(&pulled)], &env).assert_ok();
    assert_eq!(std::fs::read(&pulled).expect("read the pulled component"), composed);
    assert_eq!(greet(&pulled), "Hello, World!");

    // --push alone writes no file.
    let before = entries(env.dir());
    let only_push = registry.reference("compose/app:0.1.1");
    wharf(&["compose", "plug", &greeter_ref, "--plug", &name, "--push", &only_push], &env).assert_ok();
    assert_eq!(entries(env.dir()), before);
}

#[test]
fn a_plug_whose_types_do_not_fit_is_refused_in_wit_and_nothing_is_written() {
    let env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let bad = build(&env, "name-source-u32");
    let before = entries(env.dir());
    let out = env.path("app.wasm");

    let run = wharf(&["compose", "plug", &greeter, "--plug", &bad, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(!out.exists());
    assert_eq!(entries(env.dir()), before, "nothing, not even a temporary file, is left");
    assert!(run.stdout.is_empty(), "{run}");
    for needle in [
        &format!("the import {INTERFACE} of the socket ({greeter}) cannot be satisfied by plug 1 ({bad})"),
        "the socket expects `interface { get-name: func() -> string; }`",
        "plug 1 exports `interface { get-name: func() -> u32; }`",
        "hint: build plug 1 and the socket against the same WIT",
    ] {
        assert!(run.stderr.contains(needle), "expected {needle:?}\n{run}");
    }
    assert_plain_words(&run.stderr);

    let json = wharf(&["compose", "plug", &greeter, "--plug", &bad, "-o", &path_str(&out), "--format", "json"], &env);
    json.assert_code(2);
    let error = &json.json()["error"];
    assert_eq!(error["kind"], "usage");
    assert_plain_words(&error.to_string());
    assert!(!out.exists());
}

#[test]
fn a_plug_that_satisfies_nothing_and_a_missing_destination_are_errors() {
    let env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let name = build(&env, "name-source");
    let out = env.path("app.wasm");

    // The second plug (the greeter) exports greet, which nobody imports.
    let run = wharf(&["compose", "plug", &greeter, "--plug", &name, "--plug", &greeter, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains(&format!("plug 2 ({greeter}) satisfies no import: it exports greet")), "{run}");
    assert!(run.stderr.contains("hint: leave this plug out"), "{run}");
    assert!(!out.exists());

    // Plugs that satisfy each other in a cycle: the relay needs a base name, the loop needs a name source.
    let relay = build(&env, "relay");
    let cycle = build(&env, "loop");
    let run = wharf(&["compose", "plug", &greeter, "--plug", &relay, "--plug", &cycle, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("the plugs satisfy each other's imports in a cycle"), "{run}");
    assert_plain_words(&run.stderr);
    assert!(!out.exists());

    // Neither -o nor --push.
    let run = wharf(&["compose", "plug", &greeter, "--plug", &name], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("--output") || run.stderr.contains("--push"), "{run}");

    // A core module is not a part.
    let module = env.write("module.wasm", wharf_examples::build_hello_module().expect("build the module"));
    let run = wharf(&["compose", "plug", &greeter, "--plug", &path_str(&module), "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("is a core module, not a component"), "{run}");

    // An invalid component is named, with the validator's reason and offset (wac-types' loader is
    // the one validation on the way; wharf's validator words the error).
    let mut truncated = std::fs::read(&name).expect("read the plug");
    truncated.truncate(truncated.len() / 2);
    let broken = path_str(&env.write("broken.wasm", truncated));
    let run = wharf(&["compose", "plug", &greeter, "--plug", &broken, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains(&format!("{broken} is not a valid WebAssembly binary: ")), "{run}");
    assert!(run.stderr.contains("(at byte offset "), "{run}");
    assert!(!out.exists());

    // A missing file is named.
    let missing: PathBuf = env.path("missing.wasm");
    let run = wharf(&["compose", "plug", &greeter, "--plug", &path_str(&missing), "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("missing.wasm"), "{run}");
    assert!(!out.exists());
}

/// `examples/compose/app.wac`: the name source wired into the greeter.
fn app_wac() -> String {
    std::fs::read_to_string(wharf_examples::compose_dir().join("app.wac")).expect("read examples/compose/app.wac")
}

#[test]
fn a_wac_document_composes_with_packages_from_a_registry_and_a_layout_pinned_in_wharf_lock() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let name = build(&env, "name-source");
    let base = build(&env, "base-name");
    let greeter_ref = registry.reference("compose/greeter:0.1.0");
    wharf(&["push", &greeter, &greeter_ref], &env).assert_ok();
    wharf(&["push", &name, "oci:store:name-0.1.0"], &env).assert_ok();
    let wac = path_str(&env.write("app.wac", app_wac()));
    let greeter_dep = format!("wharf:greeter={greeter_ref}");
    let name_dep = "wharf:name-source=oci:store:name-0.1.0";
    let app_ref = registry.reference("compose/app-wac:0.1.0");

    let out = env.path("app.wasm");
    let run = wharf(
        &[
            "compose",
            &wac,
            "--dep",
            &greeter_dep,
            "--dep",
            name_dep,
            "-o",
            &path_str(&out),
            "--push",
            &app_ref,
            "--format",
            "json",
        ],
        &env,
    );
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["exports"], serde_json::json!(["greet"]), "{report}");
    assert_eq!(report["imports"], serde_json::json!([]), "{report}");
    assert_eq!(greet(&out), "Hello, World!");
    let bytes = std::fs::read(&out).expect("read the composed component");

    // wharf.lock, next to the document, pins both packages.
    let lock_path = env.path("wharf.lock");
    let lock_text = std::fs::read_to_string(&lock_path).expect("wharf.lock is written");
    let lock: Value = serde_json::from_str(&lock_text).expect("the lock is JSON");
    assert_eq!(lock["packages"][0]["name"], "wharf:greeter");
    assert_eq!(lock["packages"][0]["source"], greeter_ref.as_str());
    assert_eq!(lock["packages"][0]["digest"], sha256_digest(&std::fs::read(&greeter).expect("read")));
    assert_eq!(lock["packages"][1]["name"], "wharf:name-source");
    assert_eq!(lock["packages"][1]["digest"], sha256_digest(&std::fs::read(&name).expect("read")));

    // The pushed artifact records the packages and runs.
    let pulled = env.path("pulled.wasm");
    wharf(&["pull", &app_ref, "-o", &path_str(&pulled)], &env).assert_ok();
    assert_eq!(std::fs::read(&pulled).expect("read"), bytes);
    let inspect = wharf(&["inspect", &app_ref, "--format", "json"], &env);
    inspect.assert_ok();
    let parts: Value =
        serde_json::from_str(inspect.json()["annotations"]["dev.wharf.composed.parts"].as_str().unwrap_or("null"))
            .expect("the parts annotation is JSON");
    assert_eq!(parts[0]["role"], "package");
    assert_eq!(parts[0]["name"], "wharf:greeter");

    // Again, with the lock: the same bytes, the lock untouched.
    let again = env.path("again.wasm");
    wharf(&["compose", &wac, "--dep", &greeter_dep, "--dep", name_dep, "-o", &path_str(&again)], &env).assert_ok();
    assert_eq!(std::fs::read(&again).expect("read"), bytes);
    assert_eq!(std::fs::read_to_string(&lock_path).expect("read the lock"), lock_text);

    // The tag now names other content: the lock refuses it, and nothing is written.
    wharf(&["push", &base, "oci:store:name-0.1.0"], &env).assert_ok();
    let changed = env.path("changed.wasm");
    let run = wharf(&["compose", &wac, "--dep", &greeter_dep, "--dep", name_dep, "-o", &path_str(&changed)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("the package wharf:name-source from oci:store:name-0.1.0 changed: "), "{run}");
    assert!(run.stderr.contains(&sha256_digest(&std::fs::read(&name).expect("read"))), "{run}");
    assert!(run.stderr.contains("hint: if the change is expected, delete the entry for wharf:name-source"), "{run}");
    assert!(!changed.exists());
    assert_eq!(std::fs::read_to_string(&lock_path).expect("read the lock"), lock_text);
}

#[test]
fn a_wac_document_names_what_is_missing_or_wrong_with_its_place() {
    let env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let bad = build(&env, "name-source-u32");
    let wac = path_str(&env.write("app.wac", app_wac()));
    let out = env.path("app.wasm");
    let greeter_dep = format!("wharf:greeter={greeter}");

    // Not given, and no wkg config maps it.
    let run = wharf(&["compose", &wac, "--dep", &greeter_dep, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    let unknown =
        format!("{wac}:5:16: unknown package `wharf:name-source`: it is not given with --dep, and no registry");
    assert!(run.stderr.contains(&unknown), "{run}");
    assert!(run.stderr.contains("hint: give it with --dep wharf:name-source=SOURCE"), "{run}");

    // An invalid package is named with the validator's reason and offset: packages are validated
    // one by one only when the composition fails, to find the one at fault.
    let mut truncated = std::fs::read(build(&env, "name-source")).expect("read the name source");
    truncated.truncate(truncated.len() / 2);
    let broken = path_str(&env.write("broken.wasm", truncated));
    let broken_dep = format!("wharf:name-source={broken}");
    let run = wharf(&["compose", &wac, "--dep", &greeter_dep, "--dep", &broken_dep, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains(&format!("{broken} is not a valid WebAssembly binary: ")), "{run}");
    assert!(run.stderr.contains("(at byte offset "), "{run}");
    assert!(!out.exists());

    // A package whose export does not fit the import it is given for: both types as WIT, and the
    // package each came from, at the place of the argument (the spread `...name` on line 6).
    let bad_dep = format!("wharf:name-source={bad}");
    let run = wharf(&["compose", &wac, "--dep", &greeter_dep, "--dep", &bad_dep, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    for needle in [
        &format!(
            "{wac}:6:38: the import {INTERFACE} of wharf:greeter ({greeter}) cannot be satisfied by the export \
             {INTERFACE} of wharf:name-source ({bad})"
        ),
        "wharf:greeter expects `interface { get-name: func() -> string; }`",
        "wharf:name-source exports `interface { get-name: func() -> u32; }`",
        "(mismatched type for export `get-name`: mismatched type for function result: expected string, found u32)",
        "hint: build wharf:name-source and wharf:greeter against the same WIT",
    ] {
        assert!(run.stderr.contains(needle), "expected {needle:?}\n{run}");
    }
    assert_plain_words(&run.stderr);
    assert!(run.stdout.is_empty(), "{run}");

    // The same through a named argument and an access (`name-source: source.name-source`).
    let named = path_str(&env.write(
        "named.wac",
        "package example:app;\n\nlet source = new wharf:name-source { ... };\nlet greeter = new wharf:greeter {\n    \
         name-source: source.name-source,\n};\n\nexport greeter.greet;\n",
    ));
    let run = wharf(&["compose", &named, "--dep", &greeter_dep, "--dep", &bad_dep, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    for needle in [
        &format!("{named}:5:5: the import {INTERFACE} of wharf:greeter ({greeter}) cannot be satisfied"),
        "wharf:name-source exports `interface { get-name: func() -> u32; }`",
    ] {
        assert!(run.stderr.contains(needle), "expected {needle:?}\n{run}");
    }
    let json = wharf(
        &["compose", &wac, "--dep", &greeter_dep, "--dep", &bad_dep, "-o", &path_str(&out), "--format", "json"],
        &env,
    );
    json.assert_code(2);
    assert_plain_words(&json.json()["error"].to_string());

    let run = wharf(&["compose", &wac, "--dep", "greeter.wasm", "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("write NAME=SOURCE"), "{run}");
    assert!(!out.exists());
    assert!(!env.path("wharf.lock").exists(), "a failed composition pins nothing");
}

/// `app.wac` with versioned package names, found by name when no --dep gives them.
const NAMED_WAC: &str = "package example:app;

let name = new wharf:name-source@0.1.0 { ... };
let greeter = new wharf:greeter@0.1.0 { ...name, ... };

export greeter.greet;
";

#[test]
fn named_packages_are_found_through_wkg_config_pinned_and_the_composition_runs() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let name = build(&env, "name-source");
    let base = build(&env, "base-name");
    let wac = path_str(&env.write("app.wac", NAMED_WAC));
    // default_registry, whose .well-known answers 404: the package lives at <registry>/wharf/greeter:0.1.0,
    // as wkg would put it. The name source is overridden to inline metadata with a namespace prefix.
    let greeter_ref = registry.reference("wharf/greeter:0.1.0");
    let name_ref = registry.reference("parts/wharf/name-source:0.1.0");
    wharf(&["push", &greeter, &greeter_ref], &env).assert_ok();
    wharf(&["push", &name, &name_ref], &env).assert_ok();
    env.write_wkg_config(&format!(
        "default_registry = \"{host}\"\n\n[package_registry_overrides]\n\"wharf:name-source\" = {{ registry = \
             \"parts.example\", metadata = {{ oci = {{ registry = \"{host}\", namespacePrefix = \"parts/\" }} }} }}\n",
        host = registry.host()
    ));

    let out = env.path("app.wasm");
    let run = wharf(&["compose", &wac, "-o", &path_str(&out), "--format", "json"], &env);
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["exports"], serde_json::json!(["greet"]), "{report}");
    assert_eq!(report["imports"], serde_json::json!([]), "{report}");
    assert_eq!(greet(&out), "Hello, World!");
    let bytes = std::fs::read(&out).expect("read the composed component");
    assert_eq!(report["digest"], sha256_digest(&bytes));
    let parts = &report["parts"];
    assert_eq!(parts[0]["name"], "wharf:name-source@0.1.0", "{report}");
    assert!(
        parts[0]["source"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("{}/parts/wharf/name-source@sha256:", registry.host())),
        "{report}"
    );
    assert_eq!(parts[1]["name"], "wharf:greeter@0.1.0", "{report}");

    // The same composition from files gives the same bytes.
    let from_files = env.path("from-files.wasm");
    let deps = [format!("wharf:greeter@0.1.0={greeter}"), format!("wharf:name-source@0.1.0={name}")];
    let lock_elsewhere = path_str(&env.path("files.lock"));
    let run = wharf(
        &[
            "compose",
            &wac,
            "--dep",
            &deps[0],
            "--dep",
            &deps[1],
            "--lock",
            &lock_elsewhere,
            "-o",
            &path_str(&from_files),
        ],
        &env,
    );
    run.assert_ok();
    assert_eq!(std::fs::read(&from_files).expect("read"), bytes);

    // wharf.lock pins both, with the reference the mapping gave as the source.
    let lock_path = env.path("wharf.lock");
    let lock_text = std::fs::read_to_string(&lock_path).expect("wharf.lock is written");
    let lock: Value = serde_json::from_str(&lock_text).expect("the lock is JSON");
    assert_eq!(lock["packages"][0]["name"], "wharf:greeter@0.1.0");
    assert_eq!(lock["packages"][0]["source"], greeter_ref.as_str());
    assert_eq!(lock["packages"][0]["digest"], sha256_digest(&std::fs::read(&greeter).expect("read")));
    assert_eq!(lock["packages"][1]["name"], "wharf:name-source@0.1.0");
    assert_eq!(lock["packages"][1]["source"], name_ref.as_str());

    // Text mode says how each package was found.
    let again = env.path("again.wasm");
    let run = wharf(&["compose", &wac, "-o", &path_str(&again)], &env);
    run.assert_ok();
    assert!(run.stderr.contains(", found by name through parts.example)"), "{run}");
    assert!(run.stderr.contains(&format!(", found by name through {})", registry.host())), "{run}");
    assert_eq!(std::fs::read(&again).expect("read"), bytes);
    assert_eq!(std::fs::read_to_string(&lock_path).expect("read the lock"), lock_text);

    // The tag moves to other content: the lock refuses it, and nothing is written.
    wharf(&["push", &base, &name_ref], &env).assert_ok();
    let before = entries(env.dir());
    let changed = env.path("changed.wasm");
    let run = wharf(&["compose", &wac, "-o", &path_str(&changed)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains(&format!("the package wharf:name-source@0.1.0 from {name_ref} changed: ")), "{run}");
    assert_eq!(entries(env.dir()), before);
    assert_eq!(std::fs::read_to_string(&lock_path).expect("read the lock"), lock_text);
}

#[test]
fn a_registry_found_through_its_well_known_metadata_serves_the_packages() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let name = build(&env, "name-source");
    let wac = path_str(&env.write("app.wac", NAMED_WAC));
    // The namespace's registry is a web server whose registry.json sends wkg (and wharf) to the
    // OCI registry, under a prefix.
    env.write(
        "site/.well-known/wasm-pkg/registry.json",
        format!(
            r#"{{"preferredProtocol":"oci","oci":{{"registry":"{}","namespacePrefix":"discovered/"}}}}"#,
            registry.host()
        ),
    );
    let server = StaticServer::start(&env.path("site"));
    env.write_wkg_config(&format!("[namespace_registries]\nwharf = \"{}\"\n", server.host()));
    wharf(&["push", &greeter, &registry.reference("discovered/wharf/greeter:0.1.0")], &env).assert_ok();
    wharf(&["push", &name, &registry.reference("discovered/wharf/name-source:0.1.0")], &env).assert_ok();

    // The composition is pushed too; its parts annotation records where each package came from.
    let app_ref = registry.reference("apps/app:0.1.0");
    let out = env.path("app.wasm");
    wharf(&["compose", &wac, "-o", &path_str(&out), "--push", &app_ref], &env).assert_ok();
    assert_eq!(greet(&out), "Hello, World!");
    let inspect = wharf(&["inspect", &app_ref, "--format", "json"], &env);
    inspect.assert_ok();
    let parts: Value =
        serde_json::from_str(inspect.json()["annotations"]["dev.wharf.composed.parts"].as_str().unwrap_or("null"))
            .expect("the parts annotation is JSON");
    assert_eq!(parts[1]["name"], "wharf:greeter@0.1.0");
    let source = parts[1]["source"].as_str().unwrap_or_default();
    assert!(source.starts_with(&format!("{}/discovered/wharf/greeter@sha256:", registry.host())), "{source}");
}

#[test]
fn a_name_that_maps_nowhere_or_is_not_in_the_registry_exits_2_and_writes_nothing() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let wac = path_str(&env.write("app.wac", NAMED_WAC));
    let out = env.path("app.wasm");
    let greeter_dep = format!("wharf:greeter@0.1.0={greeter}");

    // No wkg config: nothing maps the namespace `wharf`.
    env.set_var("WKG_CONFIG_FILE", "");
    let before = entries(env.dir());
    let run = wharf(&["compose", &wac, "--dep", &greeter_dep, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    for needle in [
        &format!(
            "{wac}:3:16: unknown package `wharf:name-source@0.1.0`: it is not given with --dep, and no registry is configured for the package wharf:name-source@0.1.0"
        ),
        "hint: give it with --dep wharf:name-source@0.1.0=SOURCE (a .wasm file or a reference), or map the namespace wharf to a registry in",
    ] {
        assert!(run.stderr.contains(needle), "expected {needle:?}\n{run}");
    }
    assert!(run.stdout.is_empty(), "{run}");
    assert_eq!(entries(env.dir()), before, "nothing, not even wharf.lock, is written");

    // Mapped to a real registry that does not hold it.
    env.write_wkg_config(&format!("default_registry = \"{}\"\n", registry.host()));
    let before = entries(env.dir());
    let run = wharf(&["compose", &wac, "--dep", &greeter_dep, "-o", &path_str(&out), "--format", "json"], &env);
    run.assert_code(2);
    let error = run.json()["error"].clone();
    let message = error.to_string();
    let missing_ref = registry.reference("wharf/name-source:0.1.0");
    assert!(
        message
            .contains(&format!("the package `wharf:name-source@0.1.0` cannot be fetched from {missing_ref}, where ")),
        "{error}"
    );
    assert!(message.contains(&format!("push it there (wharf push PACKAGE.wasm {missing_ref})")), "{error}");
    assert_eq!(entries(env.dir()), before, "nothing, not even wharf.lock, is written");

    // A --dep of the package at another version is not silently replaced by a lookup.
    let run = wharf(
        &[
            "compose",
            &wac,
            "--dep",
            &greeter_dep,
            "--dep",
            &format!("wharf:name-source={greeter}"),
            "-o",
            &path_str(&out),
        ],
        &env,
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("the document uses `wharf:name-source@0.1.0`, and --dep gives wharf:name-source instead"),
        "{run}"
    );
    assert!(
        run.stderr.contains(&format!("hint: name it as the document does: --dep wharf:name-source@0.1.0={greeter}")),
        "{run}"
    );
    assert_eq!(entries(env.dir()), before);
}

#[test]
fn a_package_named_without_a_version_is_the_highest_release_as_wkg_picks_it_and_the_lock_keeps_it() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let greeter = build(&env, "greeter");
    let name = build(&env, "name-source");
    let base = build(&env, "base-name");
    let wac = path_str(&env.write("app.wac", app_wac()));
    env.write_wkg_config(&format!("default_registry = \"{}\"\n", registry.host()));
    wharf(&["push", &greeter, &registry.reference("wharf/greeter:0.1.0")], &env).assert_ok();
    // `latest` and a tag that is no version name something else: wkg takes the highest version, 0.2.0.
    for tag in ["0.1.0", "latest", "dev"] {
        wharf(&["push", &base, &registry.reference(&format!("wharf/name-source:{tag}"))], &env).assert_ok();
    }
    wharf(&["push", &name, &registry.reference("wharf/name-source:0.2.0")], &env).assert_ok();

    let out = env.path("app.wasm");
    let run = wharf(&["compose", &wac, "-o", &path_str(&out), "--format", "json"], &env);
    run.assert_ok();
    assert_eq!(greet(&out), "Hello, World!");
    let lock_path = env.path("wharf.lock");
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(&lock_path).expect("lock")).expect("JSON");
    assert_eq!(lock["packages"][1]["name"], "wharf:name-source");
    assert_eq!(lock["packages"][1]["source"], registry.reference("wharf/name-source:0.2.0").as_str());

    // A newer release (the same component with a custom section: other bytes) does not move a
    // pinned package; without the lock entry it is taken.
    let mut newer = std::fs::read(&name).expect("read the name source");
    newer.extend_from_slice(&[0, 6, 5, b'n', b'e', b'w', b'e', b'r']);
    let newer = path_str(&env.write("name-source-0.3.0.wasm", &newer));
    wharf(&["push", &newer, &registry.reference("wharf/name-source:0.3.0")], &env).assert_ok();
    let again = env.path("again.wasm");
    wharf(&["compose", &wac, "-o", &path_str(&again)], &env).assert_ok();
    let lock_again: Value = serde_json::from_str(&std::fs::read_to_string(&lock_path).expect("lock")).expect("JSON");
    assert_eq!(lock_again, lock, "the lock still pins 0.2.0");
    let fresh_lock = env.path("fresh.lock");
    let run = wharf(&["compose", &wac, "--lock", &path_str(&fresh_lock), "-o", &path_str(&env.path("new.wasm"))], &env);
    run.assert_ok();
    let fresh: Value = serde_json::from_str(&std::fs::read_to_string(&fresh_lock).expect("lock")).expect("JSON");
    assert_eq!(fresh["packages"][1]["source"], registry.reference("wharf/name-source:0.3.0").as_str());
    assert_eq!(fresh["packages"][1]["digest"], sha256_digest(&std::fs::read(&newer).expect("read")).as_str());
    let fresh_lock = path_str(&fresh_lock);

    // --locked: the pinned composition passes; a lock missing a package fails, naming it, and
    // neither the output nor the lock is written.
    let locked_out = env.path("locked.wasm");
    wharf(&["compose", &wac, "--locked", "-o", &path_str(&locked_out)], &env).assert_ok();
    assert_eq!(greet(&locked_out), "Hello, World!");
    let empty_lock = path_str(&env.path("empty.lock"));
    let refused = env.path("refused.wasm");
    let run = wharf(&["compose", &wac, "--locked", "--lock", &empty_lock, "-o", &path_str(&refused)], &env);
    run.assert_code(2);
    assert!(
        run.stderr.contains("--locked:")
            && run.stderr.contains("does not pin")
            && run.stderr.contains("wharf:greeter ("),
        "{run}"
    );
    assert!(!refused.exists() && !env.path("empty.lock").exists(), "nothing written");

    // A repository with no version tag at all has no release to take.
    wharf(&["push", &greeter, &registry.reference("wharf/untagged:latest")], &env).assert_ok();
    let untagged =
        path_str(&env.write(
            "untagged.wac",
            "package example:app;\nlet name = new wharf:untagged { ... };\nexport name.greet;\n",
        ));
    let out = env.path("untagged.wasm");
    let run = wharf(&["compose", &untagged, "--lock", &fresh_lock, "-o", &path_str(&out)], &env);
    run.assert_code(2);
    assert!(run.stderr.contains("has no version tags"), "{run}");
    assert!(run.stderr.contains("wharf:untagged@VERSION"), "{run}");
    assert!(!out.exists());
}
