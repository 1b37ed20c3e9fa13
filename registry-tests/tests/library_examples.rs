//! The programs of `examples/library/`, built and run against a real registry:
//! how a Rust user calls wharf's crates without the command line, checked to
//! work. `push-pull` uses the façade's verbs; `verify-signature` wharf-sign and
//! wharf-oci alone.

use registry_tests::{Registry, TestEnv, library_example, run_in, wharf};

fn path_str(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn push_pull_round_trips_a_component_through_a_registry() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = wharf_examples::build_hello_component().expect("build the hello component");
    let file = env.write("hello.wasm", &bytes);
    let reference = registry.reference("examples/hello:0.1.0");
    let out = env.path("pulled.wasm");
    let run = run_in(library_example("push-pull"), &[&path_str(&file), &reference, &path_str(&out)], &env);
    run.assert_ok();
    assert_eq!(std::fs::read(&out).expect("read the pull"), bytes, "the program pulled other bytes than it pushed");
    assert!(run.stdout.contains(&format!("pushed {}/examples/hello@sha256:", registry.host())), "{run}");
    // What the program pushed is what the command line pushes: the same digest.
    let cli = wharf(&["push", &path_str(&file), &registry.reference("examples/hello:cli"), "--format", "json"], &env);
    cli.assert_ok();
    let digest = cli.json()["digest"].as_str().unwrap_or_default().to_string();
    assert!(run.stdout.contains(&digest), "the program and the CLI pushed other manifests:\n{run}\n{cli}");
}

#[test]
fn verify_signature_accepts_the_signers_key_and_refuses_another() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    let module = wharf_examples::build_hello_module().expect("build the example module");
    let file = env.write("add.wasm", &module);
    let reference = registry.reference("examples/add:1");
    wharf(&["push", &path_str(&file), &reference], &env).assert_ok();
    wharf(&["key", "generate", "--output", "signer"], &env).assert_ok();
    wharf(&["key", "generate", "--output", "other"], &env).assert_ok();
    wharf(&["sign", &reference, "--key", &path_str(&env.path("signer.key"))], &env).assert_ok();

    let program = library_example("verify-signature");
    let signer = run_in(&program, &[&reference, &path_str(&env.path("signer.pub"))], &env);
    signer.assert_ok();
    assert!(signer.stdout.contains("verified  bundle"), "{signer}");
    let other = run_in(&program, &[&reference, &path_str(&env.path("other.pub"))], &env);
    other.assert_code(1);
    assert!(other.stdout.contains("rejected  bundle"), "{other}");
}
