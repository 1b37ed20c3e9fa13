//! World upgrades: a platform moves its world `demo:hello/greeter` from `@0.1.0`
//! to a patch release with identical types (`@0.1.1`) and to one that adds a
//! function (`@0.1.2`), and asks which of its components still fit. The
//! components are real Python components, built by componentize-py (PyPI,
//! pinned in scripts/test) once per test binary and kept under the target
//! directory; the registry is a real docker-registry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use registry_tests::fault_proxy::FaultProxy;
use registry_tests::{Registry, Run, TestEnv, pinned_tool, push_blob, push_manifest, sha256_digest, sha256_hex, wharf};
use serde_json::Value;

/// The componentize-py scripts/test installs.
const COMPONENTIZE_PY: &str = "0.25.1";

/// `demo:hello@VERSION`: `greet.hello`, and from 0.1.2 on `greet.goodbye`.
fn hello_wit(version: &str) -> String {
    let goodbye = if version == "0.1.2" { "  goodbye: func(name: string) -> string;\n" } else { "" };
    format!(
        "package demo:hello@{version};\n\ninterface greet {{\n  hello: func(name: string) -> string;\n{goodbye}}}\n\n\
         world greeter {{\n  export greet;\n}}\n"
    )
}

const GREETER_APP: &str = r#"from wit_world import exports

class Greet(exports.Greet):
    def hello(self, name: str) -> str:
        return "hello " + name
"#;

const GREETER_APP_WITH_GOODBYE: &str = r#"from wit_world import exports

class Greet(exports.Greet):
    def hello(self, name: str) -> str:
        return "hello " + name

    def goodbye(self, name: str) -> str:
        return "goodbye " + name
"#;

const METER_WIT: &str = r#"package demo:meter@0.1.0;

interface counter {
  count: func() -> u32;
}

world meter {
  export counter;
}
"#;

const METER_APP: &str = r#"from wit_world import exports

class Counter(exports.Counter):
    def count(self) -> int:
        return 7
"#;

/// The components of these tests.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Built {
    /// A greeter built against `demo:hello@0.1.0`.
    Greeter010,
    /// A greeter built against `demo:hello@0.1.2` (with `goodbye`).
    Greeter012,
    /// A component of another world (`demo:meter/meter`).
    Meter,
}

/// The component `which`, built by componentize-py (`--stub-wasi`: no WASI
/// imports, only the world's) once per test binary, and kept under the target
/// directory by a key of its inputs and componentize-py's version, so later
/// runs reuse it.
fn component(which: Built) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<Built, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(&which) {
        return path.clone();
    }
    let (wit, world, app) = match which {
        Built::Greeter010 => (hello_wit("0.1.0"), "greeter", GREETER_APP),
        Built::Greeter012 => (hello_wit("0.1.2"), "greeter", GREETER_APP_WITH_GOODBYE),
        Built::Meter => (METER_WIT.to_string(), "meter", METER_APP),
    };
    let path = componentize(&wit, world, app);
    built.get_or_insert_with(HashMap::new).insert(which, path.clone());
    path
}

fn componentize(wit: &str, world: &str, app: &str) -> PathBuf {
    let tool = pinned_tool(
        "componentize-py",
        "COMPONENTIZE_PY",
        COMPONENTIZE_PY,
        &format!("python3 -m pip install componentize-py=={COMPONENTIZE_PY}"),
    );
    let key = sha256_hex(format!("{COMPONENTIZE_PY}\0{wit}\0{world}\0{app}").as_bytes());
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("componentize-py");
    let out = cache.join(format!("{}.wasm", &key[..16]));
    if out.is_file() {
        return out;
    }
    let work = tempfile::tempdir_in(std::env::temp_dir()).expect("a build directory");
    std::fs::create_dir_all(work.path().join("wit")).expect("mkdir wit");
    std::fs::write(work.path().join("wit/world.wit"), wit).expect("write the WIT");
    std::fs::write(work.path().join("app.py"), app).expect("write the app");
    let built = work.path().join("app.wasm");
    let status = Command::new(&tool)
        .current_dir(work.path())
        .args(["-q", "-d", "wit", "-w", world, "componentize", "--stub-wasi", "app", "-o"])
        .arg(&built)
        .status()
        .expect("run componentize-py");
    assert!(status.success(), "componentize-py failed to build the {world} component");
    std::fs::create_dir_all(&cache).expect("mkdir the cache");
    // Renamed into place: a test binary running beside this one never reads half a file.
    let partial = cache.join(format!("{}.{}.partial", &key[..16], std::process::id()));
    std::fs::copy(&built, &partial).expect("copy the component");
    std::fs::rename(&partial, &out).expect("move the component into the cache");
    out
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Writes the WIT of `demo:hello@version` into the test's directory.
fn world_dir(env: &TestEnv, version: &str) -> String {
    path_str(&env.write(&format!("hello-{version}/world.wit"), hello_wit(version)).with_file_name(""))
}

fn check(env: &TestEnv, args: &[&str]) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    wharf(&all, env)
}

fn messages(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_world_patch_release_with_identical_types_fits_a_component_built_before_it() {
    let env = TestEnv::new();
    let greeter = path_str(&component(Built::Greeter010));
    let world = world_dir(&env, "0.1.1");

    let run = check(&env, &[&greeter, "--wit", &world]);
    run.assert_ok();
    assert!(
        run.stdout.contains(
            "semver: export demo:hello/greet@0.1.0 matched the world's demo:hello/greet@0.1.1: the component \
             provides an older version than the world requires, and it has every function, type and resource the \
             world's version requires, with compatible types, which is safe"
        ),
        "{run}"
    );
    assert!(run.stdout.contains(&format!("{greeter} fits demo:hello/greeter@0.1.1")), "{run}");

    let json = check(&env, &[&greeter, "--wit", &world, "--format", "json"]);
    json.assert_ok();
    let report = json.json();
    assert_eq!(report["fits"], true);
    assert_eq!(report["semverMatches"][0]["safe"], true);
    assert_eq!(report["semverMatches"][0]["decidedBy"], "types");

    // push --wit takes the same rule: the component is pushed, with the new world recorded.
    let pushed = wharf(&["push", &greeter, "oci:store:greeter-1.0.0", "--wit", &world, "--format", "json"], &env);
    pushed.assert_ok();
    assert_eq!(pushed.json()["config"]["component"]["target"], "demo:hello/greeter@0.1.1");
    // From a layout: the config's names cannot settle an older export, so the
    // layer is read and the types decide.
    let stored = check(&env, &["oci:store:greeter-1.0.0", "--wit", &world, "--format", "json"]);
    stored.assert_ok();
    assert_eq!(stored.json()["typesChecked"], true);
}

#[test]
fn a_world_release_that_adds_a_function_does_not_fit_and_names_it() {
    let env = TestEnv::new();
    let greeter = path_str(&component(Built::Greeter010));
    let world = world_dir(&env, "0.1.2");

    let json = check(&env, &[&greeter, "--wit", &world, "--format", "json"]);
    json.assert_code(1);
    let report = json.json();
    assert_eq!(
        messages(&report),
        [
            "version mismatch: the world requires the export demo:hello/greet@0.1.2, but the component provides \
             only the older demo:hello/greet@0.1.0, which lacks or changes what the world requires of it",
            "type mismatch in export demo:hello/greet@0.1.2, function `goodbye`: the component does not have it; \
             the world expects `goodbye: func(name: string) -> string`",
        ]
    );
    assert_eq!(report["semverMatches"][0]["safe"], false);

    // Built against the release that added it, a component fits; the older one is refused a push.
    check(&env, &[&path_str(&component(Built::Greeter012)), "--wit", &world]).assert_ok();
    let refused = wharf(&["push", &greeter, "oci:store:greeter-1.0.0", "--wit", &world], &env);
    refused.assert_code(1);
    assert!(refused.stdout.contains("function `goodbye`: the component does not have it"), "{refused}");
}

/// Pushes `file` to `reference`, returning the layer's digest.
fn push(env: &TestEnv, file: &Path, reference: &str) -> String {
    wharf(&["push", &path_str(file), reference], env).assert_ok();
    sha256_digest(&std::fs::read(file).expect("read the component"))
}

/// Pushes an OCI image (not a Wasm artifact) as `repo:tag` to `host`.
fn push_image(host: &str, repo: &str, tag: &str) {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(host, repo, config);
    let layer = b"not a component";
    let layer_digest = push_blob(host, repo, layer);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    });
    let bytes = serde_json::to_vec(&manifest).expect("encode the manifest");
    push_manifest(host, repo, tag, "application/vnd.oci.image.manifest.v1+json", &bytes);
}

/// How many times the proxy forwarded a GET of the blob `digest`.
fn blob_gets(proxy: &FaultProxy, digest: &str) -> usize {
    proxy.log().iter().filter(|l| l.starts_with("GET ") && l.contains(&format!("/blobs/{digest}"))).count()
}

#[test]
fn a_batch_over_a_registry_repository_sums_up_mixed_results() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "fleet signer");
    let repo = format!("{}/fleet/plugin", registry.host());
    let old = push(&env, &component(Built::Greeter010), &format!("{repo}:1.0.0"));
    push(&env, &component(Built::Greeter010), &format!("{repo}:1.0.1"));
    push(&env, &component(Built::Greeter012), &format!("{repo}:2.0.0"));
    let meter = push(&env, &component(Built::Meter), &format!("{repo}:meter"));
    // A signature (cosign's `.sig` tag and the referrers fallback tag): not components.
    let key = path_str(&env.path("signer"));
    wharf(&["key", "generate", "--output", &key], &env).assert_ok();
    wharf(&["sign", &format!("{repo}:2.0.0"), "--key", &format!("{key}.key"), "--mode", "both"], &env).assert_ok();

    let proxy = FaultProxy::start(&registry.host());
    let through = format!("{}/fleet/plugin", proxy.host());
    let world = world_dir(&env, "0.1.2");
    let run = check(&env, &["--wit", &world, &through]);
    run.assert_code(1);
    let summary = "4 components against demo:hello/greeter@0.1.2: 1 fits, 3 do not fit \
                   (1 answered from the artifact's config alone, not downloaded; 2 tags skipped)";
    assert!(run.stdout.contains(summary), "{run}");
    let goodbye = "  type mismatch in export demo:hello/greet@0.1.2, function `goodbye`: the component does not have it; \
                   the world expects `goodbye: func(name: string) -> string` (2 components)\n";
    assert!(
        run.stdout.contains(&format!("{goodbye}    {through}:1.0.0\n    {through}:1.0.1\n")),
        "one problem, the two components that have it:\n{run}"
    );
    assert!(run.stdout.contains(&format!("fits (1 component):\n  {through}:2.0.0\n")), "{run}");
    assert!(run.stdout.contains("missing export demo:hello/greet@0.1.2"), "{run}");
    assert!(run.stdout.contains("hint: implement and export what the world requires"), "{run}");
    // Two tags of one build: its layer fetched once. The meter's names settle it: never fetched.
    assert_eq!(blob_gets(&proxy, &old), 1, "{:#?}", proxy.log());
    assert_eq!(blob_gets(&proxy, &meter), 0, "{:#?}", proxy.log());

    // Against the patch release with identical types, every greeter fits.
    let json = check(&env, &["--wit", &world_dir(&env, "0.1.1"), &repo, "--format", "json"]);
    json.assert_code(1);
    let doc = json.json();
    assert_eq!(doc["summary"]["fit"], 3, "{doc:#}");
    assert_eq!(doc["summary"]["doNotFit"], 1, "{doc:#}");
    assert_eq!(doc["summary"]["fromConfig"], 1, "{doc:#}");
    let statuses: Vec<(&str, &str)> = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| (c["input"].as_str().unwrap_or_default(), c["status"].as_str().unwrap_or_default()))
        .collect();
    let tag = |t: &str| format!("{repo}:{t}");
    assert_eq!(
        statuses,
        [
            (tag("1.0.0").as_str(), "fits"),
            (tag("1.0.1").as_str(), "fits"),
            (tag("2.0.0").as_str(), "fits"),
            (tag("meter").as_str(), "does-not-fit"),
        ],
        "{doc:#}"
    );
    assert_eq!(doc["problems"][0]["components"], serde_json::json!([tag("meter")]));
    let semver = &doc["semverMatches"];
    assert_eq!(semver[0]["decidedBy"], "types", "{semver:#}");
    assert_eq!(semver[0]["components"], serde_json::json!([tag("1.0.0"), tag("1.0.1")]));
    assert_eq!(semver[1]["decidedBy"], "version-order", "{semver:#}");
    assert_eq!(semver[1]["components"], serde_json::json!([tag("2.0.0")]));

    // One tag that is not a Wasm artifact: the others are still answered, and the exit is 2.
    push_image(&registry.host(), "fleet/plugin", "image");
    let run = check(&env, &["--wit", &world, &repo]);
    run.assert_code(2);
    assert!(
        run.stdout.contains("5 components against demo:hello/greeter@0.1.2: 1 fits, 3 do not fit, 1 could not be read"),
        "{run}"
    );
    assert!(run.stdout.contains(&format!("could not be read (1 component):\n  {repo}:image: ")), "{run}");
}

#[test]
fn a_batch_takes_files_references_and_a_list_and_says_what_it_cannot_read() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let world = world_dir(&env, "0.1.2");
    let new = path_str(&component(Built::Greeter012));
    let old_ref = registry.reference("plugins/greeter:1.0.0");
    push(&env, &component(Built::Greeter010), &old_ref);
    let list = env.write("fleet.txt", format!("# the fleet\n{old_ref}\n\n{}/plugins/missing:1\n", registry.host()));

    let json = check(&env, &["--wit", &world, &new, "--from", &path_str(&list), "--format", "json"]);
    json.assert_code(2);
    let doc = json.json();
    let inputs: Vec<&str> =
        doc["components"].as_array().expect("components").iter().map(|c| c["input"].as_str().unwrap_or("")).collect();
    assert_eq!(inputs, [new.as_str(), old_ref.as_str(), &format!("{}/plugins/missing:1", registry.host())]);
    assert_eq!(doc["components"][0]["status"], "fits");
    assert_eq!(doc["components"][1]["status"], "does-not-fit");
    assert_eq!(doc["components"][2]["status"], "unreadable");
    assert_eq!(doc["components"][2]["error"]["kind"], "not-found", "{doc:#}");
    assert_eq!(doc["fits"], false);

    // Several components need the world; one component without --wit is today's check.
    let run = check(&env, &[&new, &old_ref]);
    run.assert_code(2);
    assert!(run.stderr.contains("needs the world to check them against"), "{run}");
    // An empty list is nothing to check, not a pass.
    let empty = env.write("empty.txt", "# nobody\n");
    check(&env, &["--wit", &world, "--from", &path_str(&empty)]).assert_code(2);
}
