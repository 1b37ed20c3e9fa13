//! Every bad input gets one clear error, exit status 2, and nothing is left
//! behind: no blob or tag in the registry, no file at the output path.

use registry_tests::{Registry, TestEnv, registry_get, wharf};

fn repository_is_empty(registry: &Registry, repo: &str) -> bool {
    let (status, _, _) = registry_get(&registry.host(), &format!("/v2/{repo}/tags/list"), "application/json");
    status == 404
}

#[test]
fn invalid_files_are_refused_before_anything_is_pushed() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let hello = wharf_examples::build_hello_component().expect("build the example component");
    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("random.wasm", random, "does not start with the \\0asm magic number"),
        ("empty.wasm", Vec::new(), "the file is empty"),
        ("truncated.wasm", hello[..hello.len() / 2].to_vec(), "unexpected end"),
        ("text.wasm", b"(component)".to_vec(), "looks like WAT text"),
    ];
    for (name, bytes, needle) in cases {
        let path = env.write(name, &bytes);
        let run = wharf(&["push", path.to_str().unwrap_or_default(), &registry.reference("bad/x:1")], &env);
        run.assert_failed_at_once(needle);
        assert!(run.stderr.contains("offset"), "{run}");
    }
    let missing = wharf(&["push", "nope.wasm", &registry.reference("bad/x:1")], &env);
    missing.assert_failed_at_once("nope.wasm");
    assert!(repository_is_empty(&registry, "bad/x"), "nothing may be pushed");
}

#[test]
fn malformed_references_name_the_problem() {
    let env = TestEnv::new();
    let file = env.write("hello.wasm", wharf_examples::build_hello_component().expect("build"));
    let file = file.to_str().unwrap_or_default();
    for (reference, needle) in [
        ("127.0.0.1:5000/Upper/case:1", "lowercase"),
        ("127.0.0.1:5000/repo:bad tag", "spaces"),
        ("https://127.0.0.1:5000/repo:1", "scheme"),
        ("127.0.0.1:5000/repo@sha256:1234", "digest"),
        ("oci:", "layout directory"),
        (
            "127.0.0.1:5000/repo@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "not by digest",
        ),
    ] {
        let run = wharf(&["push", file, reference], &env);
        run.assert_failed_at_once(needle);
    }
}

#[test]
fn missing_tags_and_dead_registries_leave_no_file() {
    let mut registry = Registry::start();
    let env = TestEnv::new();
    let out = env.path("out.wasm");
    let out_arg = out.to_str().unwrap_or_default().to_string();

    let missing = wharf(&["pull", &registry.reference("nothing/here:1"), "-o", &out_arg], &env);
    missing.assert_failed_at_once("not found");
    assert!(!out.exists());

    let file = env.write("hello.wasm", wharf_examples::build_hello_component().expect("build"));
    wharf(&["push", file.to_str().unwrap_or_default(), &registry.reference("wasm/hello:1")], &env).assert_ok();
    let no_tag = wharf(&["pull", &registry.reference("wasm/hello:2"), "-o", &out_arg], &env);
    no_tag.assert_failed_at_once("tag \"2\"");

    let reference = registry.reference("wasm/hello:1");
    registry.stop();
    let down = wharf(&["pull", &reference, "-o", &out_arg, "--format", "json"], &env);
    down.assert_failed_at_once("cannot reach registry");
    assert_eq!(down.json()["error"]["kind"], "network");
    assert!(!out.exists());
    let push_down = wharf(&["push", file.to_str().unwrap_or_default(), &reference], &env);
    push_down.assert_failed_at_once("cannot reach registry");

    let no_layout = wharf(&["pull", "oci:does-not-exist:x", "-o", &out_arg], &env);
    no_layout.assert_failed_at_once("OCI layout");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(env.dir())
        .expect("list test dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-wharf-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left behind: {leftovers:?}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let env = TestEnv::new();
    let run = wharf(&["push"], &env);
    run.assert_code(2);
    let help = wharf(&["push", "--help"], &env);
    help.assert_ok();
    assert!(help.stdout.contains("Exit status"), "{help}");
    wharf(&["--version"], &env).assert_ok();
}
