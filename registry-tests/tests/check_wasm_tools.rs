//! `wharf check` side by side with `wasm-tools component targets` (1.258.3,
//! installed by `scripts/test`), on the same components and WIT from
//! `examples/check/`. What the two say is asserted next to each other:
//! both agree on what fits and what lacks an export; wasm-tools matches
//! versions exactly, so a semver-safe component fails there and fits here;
//! wasm-tools stops at the first error where wharf reports every problem.
//!
//! A missing wasm-tools fails these tests (with the command that installs
//! it): they never skip.

use std::path::{Path, PathBuf};

use registry_tests::{Run, TestEnv, check_example, run, wharf};

const FILTER: &str = "acme:plugins/filter-plugin";
const WASM_TOOLS_VERSION: &str = "1.258.3";
const INSTALL: &str = "cargo install wasm-tools --version 1.258.3 --locked --no-default-features --features component";

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The `wasm-tools` to run ([`registry_tests::pinned_tool`], `$WASM_TOOLS`).
fn wasm_tools() -> PathBuf {
    registry_tests::pinned_tool("wasm-tools", "WASM_TOOLS", WASM_TOOLS_VERSION, INSTALL)
}

/// `wasm-tools component targets WIT COMPONENT --world WORLD`.
fn targets(env: &TestEnv, wit: &Path, component: &str, world: &str) -> Run {
    let mut cmd = env.command(wasm_tools());
    cmd.args(["component", "targets", "--color", "never"]).arg(wit).args([component, "--world", world]);
    run(cmd)
}

/// `wharf check COMPONENT --wit WIT --world WORLD`.
fn check(env: &TestEnv, wit: &Path, component: &str, world: &str) -> Run {
    wharf(&["check", component, "--wit", &path_str(wit), "--world", world], env)
}

/// The lines of wasm-tools' error chain after `Caused by:`, trimmed.
fn cause(run: &Run) -> Vec<String> {
    let Some((_, chain)) = run.stderr.split_once("Caused by:") else {
        panic!("wasm-tools gave no error chain:\n{run}");
    };
    chain.lines().map(|l| l.trim().trim_start_matches("0: ").to_string()).filter(|l| !l.is_empty()).collect()
}

/// The problem lines of a wharf text report (everything before the summary).
fn problem_lines(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("missing export") || l.starts_with("import not allowed") || l.contains("mismatch"))
        .filter(|l| !l.contains(" does not fit "))
        .collect()
}

#[test]
fn a_fitting_component_passes_both() {
    let env = TestEnv::new();
    let component = check_example(&env, "fits", FILTER);
    let theirs = targets(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin");
    theirs.assert_ok();
    assert_eq!((theirs.stdout.as_str(), theirs.stderr.as_str()), ("", ""), "wasm-tools is silent on success");
    check(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin").assert_ok();
}

#[test]
fn a_missing_export_fails_both() {
    let env = TestEnv::new();
    let component = check_example(&env, "missing-export", "acme:meter/meter");
    let theirs = targets(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin");
    theirs.assert_code(1);
    let chain = cause(&theirs);
    assert_eq!(chain[0], "type mismatch for import `filter-plugin`", "{theirs}");
    assert!(chain[1].starts_with("missing export named `acme:plugins/filter@0.1.0` (at offset 0x"), "{theirs}");

    let ours = check(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin");
    ours.assert_code(1);
    assert_eq!(
        problem_lines(&ours),
        ["missing export acme:plugins/filter@0.1.0: the world requires this interface \
          (`record request { id: u32, size: u32 }; check: func(req: request) -> bool`), \
          and the component does not export it"]
    );
}

#[test]
fn a_semver_safe_component_fails_wasm_tools_exact_names_and_fits_wharf() {
    let env = TestEnv::new();
    // Imports store@0.2.0 where the world provides 0.2.3; exports handler@0.2.3 where it requires 0.2.0.
    let component = check_example(&env, "semver-safe", "acme:semver-safe/component");
    let theirs = targets(&env, &wharf_examples::check_semver_platform_wit(), &component, "service");
    theirs.assert_code(1);
    let chain = cause(&theirs);
    assert_eq!(chain[0], "type mismatch for import `service`", "{theirs}");
    assert!(chain[1].starts_with("missing import named `acme:kv/store@0.2.0` (at offset 0x"), "{theirs}");

    let ours = check(&env, &wharf_examples::check_semver_platform_wit(), &component, "service");
    ours.assert_ok();
    assert!(
        ours.stdout.contains("semver: import acme:kv/store@0.2.0 matched the world's acme:kv/store@0.2.3"),
        "{ours}"
    );
    assert!(
        ours.stdout.contains("semver: export acme:svc/handler@0.2.3 matched the world's acme:svc/handler@0.2.0"),
        "{ours}"
    );
}

#[test]
fn wasm_tools_stops_at_the_first_mismatch_and_wharf_reports_all() {
    let env = TestEnv::new();
    // Two differences: `log`'s parameter `code` is a u64, `check` takes an extra `strict: bool`.
    let component = check_example(&env, "signature-mismatch", FILTER);
    let theirs = targets(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin");
    theirs.assert_code(1);
    let chain = cause(&theirs);
    assert_eq!(
        chain[..4],
        [
            "type mismatch for import `filter-plugin`",
            "type mismatch for import `acme:plugins/host@0.1.0`",
            "type mismatch in instance export `log`",
            "type mismatch in function parameter `code`",
        ],
        "{theirs}"
    );
    assert!(chain[4].starts_with("expected primitive `u64` found primitive `u32` (at offset 0x"), "{theirs}");
    assert!(!theirs.stderr.contains("check"), "wasm-tools reports only the first mismatch:\n{theirs}");

    let ours = check(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin");
    ours.assert_code(1);
    assert_eq!(
        problem_lines(&ours),
        [
            "type mismatch in import acme:plugins/host@0.1.0, function `log`, parameter `code`: \
             the world provides `u32`, the component expects `u64`",
            "type mismatch in export acme:plugins/filter@0.1.0, function `check`: \
             the world expects `func(req: request) -> bool`, the component has `func(req: request, strict: bool) -> bool`",
        ]
    );
}

#[test]
fn a_record_field_mismatch_is_one_error_in_both_with_different_words() {
    let env = TestEnv::new();
    let component = check_example(&env, "record-mismatch", FILTER);
    let theirs = targets(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin");
    theirs.assert_code(1);
    let chain = cause(&theirs);
    assert_eq!(
        chain[..4],
        [
            "type mismatch for import `filter-plugin`",
            "type mismatch for import `acme:plugins/types@0.1.0`",
            "type mismatch in instance export `request`",
            "type mismatch in record field `size`",
        ],
        "{theirs}"
    );
    // wasm-tools reads the world as importing the component: its "expected" is the component's side.
    assert!(chain[4].starts_with("expected primitive `u64` found primitive `u32`"), "{theirs}");

    let ours = check(&env, &wharf_examples::check_platform_wit(), &component, "filter-plugin");
    ours.assert_code(1);
    assert_eq!(
        problem_lines(&ours),
        ["type mismatch in import acme:plugins/types@0.1.0, type `request`, field `size`: \
          the world provides `u32`, the component expects `u64`"]
    );
}
