//! `wharf admission serve` against a real docker-registry 2.8: artifacts pushed and
//! signed with `wharf key generate` and `wharf sign`, the webhook started over HTTPS
//! (an openssl-made certificate), and AdmissionReviews POSTed with `curl --cacert` as
//! the API server sends them. Also `wharf admission check` on a manifest file, WIT world
//! rules (`world:`, `check: full`), policy reload, the single-flight lookup (requests
//! counted at a proxy in front of the registry) and a registry that goes down.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use registry_tests::fault_proxy::FaultProxy;
use registry_tests::{Registry, TestEnv, check_example, run, wharf, wharf_bin};
use serde_json::{Value, json};

/// The webhook process, killed on drop.
struct Webhook {
    child: Child,
    url: String,
    ca: PathBuf,
    log: PathBuf,
    /// Extra curl arguments of every request (a client certificate).
    client: Vec<String>,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Webhook {
    /// `curl --cacert` with `args`, returning (HTTP status, body).
    fn curl(&self, args: &[&str]) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "60", "--cacert"]).arg(&self.ca).args(["-w", "\n%{http_code}"]);
        cmd.args(&self.client).args(args);
        let out = run(cmd);
        assert!(out.success(), "curl failed: {out}");
        let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", ""));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Its stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of an unlabelled metric.
    fn metric(&self, name: &str) -> u64 {
        let (status, metrics) = self.curl(&[&format!("{}/metrics", self.url)]);
        assert_eq!(status, 200, "{metrics}");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{metrics}"))
    }

    /// Polls the metric until it is at least `value` (a reload happens within the poll interval).
    fn wait_for_metric(&self, name: &str, value: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.metric(name) < value {
            assert!(Instant::now() < deadline, "{name} never reached {value}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let body = body.to_string();
        let (status, answer) = self.curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
            &format!("{}{path}", self.url),
        ]);
        assert_eq!(status, 200, "POST {path}: {answer}");
        serde_json::from_str(&answer).expect("an AdmissionReview answer")
    }
}

/// A self-signed certificate for 127.0.0.1 (it is its own CA).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("webhook.crt");
    let key = dir.join("webhook.key");
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null());
    run(cmd).assert_ok();
    (cert, key)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn start_webhook(env: &TestEnv, policy: &Path) -> Webhook {
    start_webhook_with(env, policy, &[])
}

/// Starts `wharf admission serve` with `extra` arguments; its stderr goes to a log file.
fn start_webhook_with(env: &TestEnv, policy: &Path, extra: &[&str]) -> Webhook {
    start_webhook_as(env, policy, extra, &[])
}

/// [`start_webhook_with`], sending `client` (curl arguments: a client certificate) with every request.
fn start_webhook_as(env: &TestEnv, policy: &Path, extra: &[&str], client: &[&str]) -> Webhook {
    let port = free_port();
    let tls_dir = env.path(&format!("tls-{port}"));
    std::fs::create_dir_all(&tls_dir).expect("create the certificate directory");
    let (cert, key) = certificate(&tls_dir);
    let log = env.path(&format!("webhook-{port}.log"));
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = env.command(wharf_bin());
    cmd.args(["admission", "serve", "--policy"])
        .arg(policy)
        .args(["--listen", &listen, "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the webhook log"));
    let child = cmd.spawn().expect("start wharf admission serve");
    let client = client.iter().map(|a| a.to_string()).collect();
    let hook = Webhook { child, url: format!("https://127.0.0.1:{port}"), ca: cert, log, client };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut probe = Command::new("curl");
        probe.args(["-sS", "--max-time", "2", "--cacert"]).arg(&hook.ca).args(&hook.client);
        probe.arg(format!("{}/healthz", hook.url));
        if run(probe).success() {
            return hook;
        }
        assert!(Instant::now() < deadline, "the webhook did not come up on {listen}: {}", hook.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn review(kind: &str, namespace: &str, object: Value) -> Value {
    let (group, version, resource) = match kind {
        "Pod" => ("", "v1", "pods"),
        "Deployment" => ("apps", "v1", "deployments"),
        _ => ("batch", "v1", "cronjobs"),
    };
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": "app",
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "admin", "uid": "014fbff9a07c", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
}

fn pod(image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": image}]}})
}

fn template(image: &str) -> Value {
    json!({"metadata": {"labels": {"app": "app"}}, "spec": {"containers": [{"name": "app", "image": image}]}})
}

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "app"}}, "template": template(image)}})
}

fn cronjob(image: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "app", "namespace": "default"},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template(image)}}}})
}

fn allowed(answer: &Value) -> bool {
    answer.pointer("/response/allowed").and_then(Value::as_bool).expect("response.allowed")
}

fn message(answer: &Value) -> String {
    answer.pointer("/response/status/message").and_then(Value::as_str).unwrap_or_default().to_string()
}

#[test]
fn webhook_verifies_signatures_of_pods_deployments_and_cronjobs() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    let file = env.write("add.wasm", &bytes).to_string_lossy().into_owned();
    let push = |reference: &str, extra: &[&str]| {
        let mut args = vec!["push", &file, reference, "--format", "json"];
        args.extend_from_slice(extra);
        let run = wharf(&args, &env);
        run.assert_ok();
        run.json()["digest"].as_str().unwrap_or_default().to_string()
    };
    wharf(&["key", "generate", "--output", "trusted"], &env).assert_ok();
    wharf(&["key", "generate", "--output", "other"], &env).assert_ok();
    let trusted_key = env.path("trusted.key").to_string_lossy().into_owned();
    let other_key = env.path("other.key").to_string_lossy().into_owned();
    let sign = |reference: &str, key: &str| {
        wharf(&["sign", reference, "--key", key], &env).assert_ok();
    };

    let signed = registry.reference("prod/signed:1.0");
    let signed_digest = push(&signed, &[]);
    sign(&signed, &trusted_key);
    let unsigned = registry.reference("prod/unsigned:1.0");
    push(&unsigned, &[]);
    let wrong = registry.reference("prod/wrong-key:1.0");
    push(&wrong, &[]);
    sign(&wrong, &other_key);
    let moved = registry.reference("prod/moved:1.0");
    push(&moved, &[]);
    sign(&moved, &trusted_key);
    push(&moved, &["--annotation", "org.example/build=2"]);
    let sandbox = registry.reference("sandbox/anything:1.0");
    let unmatched = registry.reference("elsewhere/app:1.0");

    let host = registry.host();
    let policy = env.write(
        "policy.yaml",
        format!(
            "mode: enforce\nrules:\n  - name: signed-wasm\n    images: [\"{host}/prod/**\"]\n    authorities:\n      - key: trusted.pub\n  - name: sandbox\n    images: [\"{host}/sandbox/**\"]\n    allow: true\nunmatched: deny\n"
        ),
    );
    let hook = start_webhook(&env, &policy);

    for (kind, object) in [("Pod", pod as fn(&str) -> Value), ("Deployment", deployment), ("CronJob", cronjob)] {
        let answer = hook.post("/validate", &review(kind, "default", object(&signed)));
        assert!(allowed(&answer), "{kind} with a signed image: {answer}");
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer.pointer("/response/uid"), Some(&json!("705ab4f5-6393-11e8-b7cc-42010a800002")));

        let answer = hook.post("/validate", &review(kind, "default", object(&unsigned)));
        let msg = message(&answer);
        assert!(!allowed(&answer), "{kind} with an unsigned image: {answer}");
        assert!(msg.contains(&unsigned) && msg.contains("signed-wasm") && msg.contains("no signatures"), "{msg}");

        let answer = hook.post("/validate", &review(kind, "default", object(&wrong)));
        let msg = message(&answer);
        assert!(!allowed(&answer), "{kind} signed with another key: {answer}");
        assert!(msg.contains(&wrong) && msg.contains("no signature verifies"), "{msg}");

        let answer = hook.post("/validate", &review(kind, "default", object(&moved)));
        assert!(!allowed(&answer), "{kind} whose tag moved after signing: {answer}");
        assert!(message(&answer).contains(&moved), "{answer}");

        let answer = hook.post("/validate", &review(kind, "default", object(&sandbox)));
        assert!(allowed(&answer), "{kind} under sandbox/: {answer}");

        let answer = hook.post("/validate", &review(kind, "default", object(&unmatched)));
        let msg = message(&answer);
        assert!(!allowed(&answer) && msg.contains(&unmatched) && msg.contains("unmatched"), "{msg}");
    }

    // /mutate pins the verified tag to its digest with a base64 JSONPatch.
    let answer = hook.post("/mutate", &review("Deployment", "default", deployment(&signed)));
    assert!(allowed(&answer), "{answer}");
    assert_eq!(answer.pointer("/response/patchType"), Some(&json!("JSONPatch")));
    let patch = answer.pointer("/response/patch").and_then(Value::as_str).expect("a patch");
    let patch: Value = serde_json::from_slice(&B64.decode(patch).expect("base64")).expect("JSON patch");
    let location = signed.rsplit_once(':').map_or(signed.as_str(), |(l, _)| l);
    assert_eq!(
        patch,
        json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image",
            "value": format!("{location}@{signed_digest}")}])
    );

    // A malformed body is a 400 with a message, not an AdmissionReview.
    let (status, body) = hook.curl(&["-X", "POST", "--data-binary", "{not json", &format!("{}/validate", hook.url)]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed AdmissionReview"), "{body}");
    // A body over 8 MiB (more than the API server sends) is a 413.
    let big = env.write("big.json", vec![b' '; (8 << 20) + 10]);
    let (status, _) =
        hook.curl(&["-X", "POST", "--data-binary", &format!("@{}", big.display()), &format!("{}/validate", hook.url)]);
    assert_eq!(status, 413);

    let (status, metrics) = hook.curl(&[&format!("{}/metrics", hook.url)]);
    assert_eq!(status, 200);
    assert!(metrics.contains("wharf_admission_requests_total{path=\"/validate\",code=\"200\"}"), "{metrics}");
    assert!(metrics.contains("wharf_admission_review_seconds_bucket"), "{metrics}");
    // The signed image was verified once and then served from the cache (Pod, Deployment, CronJob, /mutate).
    let hits = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wharf_admission_cache_hits_total "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(hits.is_some_and(|n| n >= 3), "{metrics}");

    // `wharf admission check` on a manifest file: exit 1 when an image is denied, 0 when all are admitted.
    let bad = env.write(
        "bad.yaml",
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: a}}\nspec:\n  containers:\n  - {{name: a, image: \"{signed}\"}}\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: b}}\nspec:\n  schedule: \"* * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{{name: b, image: \"{unsigned}\"}}]\n"
        ),
    );
    let policy_s = policy.to_string_lossy().into_owned();
    let out = wharf(&["admission", "check", "--policy", &policy_s, &bad.to_string_lossy()], &env);
    out.assert_code(1);
    assert!(out.stdout.contains(&format!("allowed Pod/a {signed}")), "{out}");
    assert!(out.stdout.contains(&format!("denied  CronJob/b {unsigned}: rule signed-wasm")), "{out}");
    let good = env.write(
        "good.yaml",
        format!("kind: Pod\nmetadata: {{name: a}}\nspec:\n  containers:\n  - {{name: a, image: \"{sandbox}\"}}\n"),
    );
    wharf(&["admission", "check", "--policy", &policy_s, &good.to_string_lossy()], &env).assert_ok();

    // The tag moves after the webhook verified it (its connection to the repository is reused):
    // the next review resolves the tag again and sees the new, unsigned digest.
    push(&signed, &["--annotation", "org.example/build=2"]);
    let answer = hook.post("/validate", &review("Pod", "default", pod(&signed)));
    let msg = message(&answer);
    assert!(!allowed(&answer) && msg.contains(&signed) && msg.contains("no signatures"), "{answer}");
}

#[test]
fn invalid_policy_refuses_to_start() {
    let env = TestEnv::new();
    let policy = env.write("policy.yaml", "mode: enforce\nrules:\n  - name: x\n    imgs: [a]\n");
    let manifest = env.write("m.yaml", "kind: Pod\n");
    let out = wharf(&["admission", "check", "--policy", &policy.to_string_lossy(), &manifest.to_string_lossy()], &env);
    out.assert_code(2);
    assert!(out.stderr.contains("line 4"), "{out}");
    let (cert, key) = certificate(env.dir());
    let out = wharf(
        &[
            "admission",
            "serve",
            "--policy",
            &policy.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert.to_string_lossy(),
            "--tls-key",
            &key.to_string_lossy(),
        ],
        &env,
    );
    out.assert_code(2);
    assert!(out.stderr.contains("invalid policy"), "{out}");
}

fn warnings(answer: &Value) -> Vec<String> {
    let list = answer.pointer("/response/warnings").and_then(Value::as_array);
    list.map(|w| w.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Builds the `examples/check` case against acme:plugins/filter-plugin, pushes it to
/// `reference` (recording the target world `wit` says when given), returns the digest.
fn push_component(env: &TestEnv, case: &str, reference: &str, wit: Option<&Path>) -> String {
    let file = check_example(env, case, "acme:plugins/filter-plugin");
    let mut args = vec!["push", &file, reference, "--format", "json"];
    let wit = wit.map(path_str);
    if let Some(wit) = &wit {
        args.extend(["--wit", wit, "--world", "filter-plugin"]);
    }
    let run = wharf(&args, env);
    run.assert_ok();
    run.json()["digest"].as_str().unwrap_or_default().to_string()
}

/// The file of a blob in the registry's filesystem storage.
fn blob_file(registry: &Registry, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    registry.storage_dir().join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
}

#[test]
fn world_rules_admit_the_declared_track_and_check_full_runs_the_wit_check() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let host = registry.host();
    // The target's WIT package where wkg's mapping leads (default_registry: <host>/acme/plugins:0.1.0).
    let package = env.write(
        "acme-plugins.wasm",
        wharf_examples::build_wit_package(&wharf_examples::check_platform_wit())
            .expect("encode the platform's WIT package"),
    );
    wharf(&["push", &path_str(&package), &registry.reference("acme/plugins:0.1.0")], &env).assert_ok();
    env.write_wkg_config(&format!("default_registry = \"{host}\"\n"));

    let fits = registry.reference("checked/fits:1.0");
    push_component(&env, "fits", &fits, Some(&wharf_examples::check_platform_wit()));
    // Built against another WIT that also calls itself acme:plugins@0.1.0 (request.size is a u64):
    // its config declares acme:plugins/filter-plugin@0.1.0, but it does not fit the real package.
    let forged = registry.reference("checked/forged:1.0");
    let forged_wit = wharf_examples::check_dir().join("record-mismatch").join("wit");
    push_component(&env, "record-mismatch", &forged, Some(&forged_wit));
    let forged_world_only = registry.reference("world/forged:1.0");
    push_component(&env, "record-mismatch", &forged_world_only, Some(&forged_wit));
    let declared = registry.reference("world/fits:1.0");
    push_component(&env, "fits", &declared, Some(&wharf_examples::check_platform_wit()));
    let plain = registry.reference("world/plain:1.0");
    push_component(&env, "fits", &plain, None);
    let next = registry.reference("next/fits:1.0");
    push_component(&env, "fits", &next, Some(&wharf_examples::check_platform_wit()));

    let policy = env.write(
        "policy.yaml",
        format!(
            "rules:\n\
             \x20 - name: filter-checked\n    images: [\"{host}/checked/**\"]\n    allow: true\n    world: \"acme:plugins/filter-plugin@0.1\"\n    check: full\n\
             \x20 - name: filter-0.1\n    images: [\"{host}/world/**\"]\n    allow: true\n    world: \"acme:plugins/filter-plugin@0.1\"\n\
             \x20 - name: filter-0.2\n    images: [\"{host}/next/**\"]\n    allow: true\n    world: \"acme:plugins/filter-plugin@0.2\"\n"
        ),
    );
    let hook = start_webhook(&env, &policy);

    // check: full, first sight: the declared world's package is fetched and the component checked.
    let answer = hook.post("/validate", &review("Pod", "default", pod(&fits)));
    assert!(allowed(&answer), "{answer}");
    let answer = hook.post("/validate", &review("Deployment", "default", deployment(&forged)));
    let msg = message(&answer);
    assert!(!allowed(&answer), "{answer}");
    assert!(
        msg.contains(&format!(
            "image {forged}: rule filter-checked: does not fit its declared world acme:plugins/filter-plugin@0.1.0"
        )) && msg.contains("type `request`, field `size`: the world provides `u32`, the component expects `u64`"),
        "{msg}"
    );
    // Cached like signature verdicts: the second sight of each digest is a cache hit.
    let hits = hook.metric("wharf_admission_cache_hits_total");
    hook.post("/validate", &review("Pod", "default", pod(&fits)));
    hook.post("/validate", &review("Pod", "default", pod(&forged)));
    assert_eq!(hook.metric("wharf_admission_cache_hits_total"), hits + 2);

    // world: only reads the config: with the (shared) layer blob gone from the registry, the
    // world rule still answers; the forged component declares the right world and is admitted.
    std::fs::remove_file(blob_file(&registry, &layer_digest(&env, "fits"))).expect("remove the layer blob");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&declared)));
    assert!(allowed(&answer), "{answer}");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&forged_world_only)));
    assert!(allowed(&answer), "world: alone trusts the declared target: {answer}");

    let answer = hook.post("/validate", &review("CronJob", "default", cronjob(&plain)));
    let msg = message(&answer);
    assert!(!allowed(&answer), "{answer}");
    assert!(
        msg.contains(&format!("image {plain}: rule filter-0.1: the rule requires the world acme:plugins/filter-plugin@0.1, and the artifact declares no target world"))
            && msg.contains("wharf push FILE REF --wit WIT"),
        "{msg}"
    );
    let answer = hook.post("/validate", &review("Pod", "default", pod(&next)));
    let msg = message(&answer);
    assert!(!allowed(&answer), "{answer}");
    assert!(
        msg.contains(&format!("image {next}: rule filter-0.2: declares the world acme:plugins/filter-plugin@0.1.0, which is not on the required track acme:plugins/filter-plugin@0.2")),
        "{msg}"
    );
    // /mutate pins an image a world rule admitted to the digest it checked.
    let answer = hook.post("/mutate", &review("Pod", "default", pod(&declared)));
    assert_eq!(answer.pointer("/response/patchType"), Some(&json!("JSONPatch")), "{answer}");
}

/// The digest of the Wasm layer of the `examples/check` case built in `env`.
fn layer_digest(env: &TestEnv, case: &str) -> String {
    let bytes = std::fs::read(env.path(&format!("{case}.wasm"))).expect("read the built component");
    registry_tests::sha256_digest(&bytes)
}

/// Writes `text` to `path` through a temporary file and a rename, as an editor or a
/// ConfigMap update does, so the webhook never reads half a policy.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the new policy");
    std::fs::rename(&tmp, path).expect("rename the new policy into place");
}

/// Signs `add.wasm` pushed to `reference` with `key` (a `wharf key generate` output name).
fn push_and_sign(env: &TestEnv, reference: &str, key: Option<&str>) -> String {
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    let file = path_str(&env.write("add.wasm", &bytes));
    let pushed = wharf(&["push", &file, reference, "--format", "json"], env);
    pushed.assert_ok();
    if let Some(key) = key {
        wharf(&["sign", reference, "--key", &path_str(&env.path(&format!("{key}.key")))], env).assert_ok();
    }
    pushed.json()["digest"].as_str().unwrap_or_default().to_string()
}

fn signed_policy(host: &str, key: &str) -> String {
    format!(
        "rules:\n  - name: signed-wasm\n    images: [\"{host}/prod/**\"]\n    authorities:\n      - key: {key}.pub\n"
    )
}

#[test]
fn the_policy_reloads_on_change_and_sighup_and_an_invalid_one_keeps_the_old() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    wharf(&["key", "generate", "--output", "second"], &env).assert_ok();
    let host = registry.host();
    let image = registry.reference("prod/app:1.0");
    push_and_sign(&env, &image, Some("first"));

    let policy = env.write("policy.yaml", signed_policy(&host, "first"));
    let hook = start_webhook(&env, &policy);
    let generation = hook.metric("wharf_admission_policy_generation");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
    assert!(allowed(&answer), "{answer}");

    // The same rule name now trusts another key: the cached positive verdict of the old
    // generation must not be reused.
    replace_file(&policy, &signed_policy(&host, "second"));
    hook.wait_for_metric("wharf_admission_policy_reloads_total", 1);
    assert!(hook.metric("wharf_admission_policy_generation") > generation);
    let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
    let msg = message(&answer);
    assert!(!allowed(&answer) && msg.contains("no signature verifies with key"), "{answer}");
    assert!(hook.log().contains("policy reloaded (the policy file changed): generation"), "{}", hook.log());

    // An invalid policy is logged with its line; the old one stays in force.
    let in_force = hook.metric("wharf_admission_policy_generation");
    replace_file(&policy, "rules:\n  - name: broken\n    imgs: [x]\n");
    hook.wait_for_metric("wharf_admission_policy_reload_failures_total", 1);
    assert_eq!(hook.metric("wharf_admission_policy_generation"), in_force);
    let log = hook.log();
    assert!(log.contains("policy not reloaded (the policy file changed)") && log.contains("line 3"), "{log}");
    assert!(log.contains(&format!("generation {in_force} stays in force")), "{log}");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
    assert!(!allowed(&answer), "the old policy (key second) still decides: {answer}");
    // A policy naming a key that cannot be read is refused the same way.
    replace_file(&policy, &signed_policy(&host, "missing"));
    hook.wait_for_metric("wharf_admission_policy_reload_failures_total", 2);
    assert_eq!(hook.metric("wharf_admission_policy_generation"), in_force);

    // SIGHUP re-reads the file even when it did not change (here: back to the first key,
    // written before the signal; the poll or the signal picks it up, the signal always reloads).
    replace_file(&policy, &signed_policy(&host, "first"));
    hook.wait_for_metric("wharf_admission_policy_reloads_total", 2);
    let mut kill = Command::new("kill");
    kill.args(["-HUP", &hook.child.id().to_string()]);
    run(kill).assert_ok();
    hook.wait_for_metric("wharf_admission_policy_reloads_total", 3);
    assert!(hook.log().contains("policy reloaded (SIGHUP)"), "{}", hook.log());
    let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
    assert!(allowed(&answer), "{answer}");
    let (status, _) = hook.curl(&[&format!("{}/healthz", hook.url)]);
    assert_eq!(status, 200, "the server survived every reload");
}

/// Request lines the proxy saw for `repository` from the `since`-th on: (resolving the
/// tag `tag`, everything else).
fn requests_since(proxy: &FaultProxy, since: usize, repository: &str, tag: &str) -> (Vec<String>, Vec<String>) {
    let tag_path = format!("/v2/{repository}/manifests/{tag} ");
    proxy
        .log()
        .into_iter()
        .skip(since)
        .filter(|l| l.contains(&format!("/v2/{repository}/")))
        .partition(|l| l.contains(&tag_path))
}

#[test]
fn concurrent_reviews_of_one_image_share_one_verification_lookup() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let host = proxy.host();
    push_and_sign(&env, &format!("{host}/prod/alone:1.0"), Some("first"));
    push_and_sign(&env, &format!("{host}/prod/crowd:1.0"), Some("first"));
    let policy = env.write("policy.yaml", signed_policy(&host, "first"));
    let hook = start_webhook(&env, &policy);

    // What one verification costs at the registry, seen alone.
    let since = proxy.log().len();
    let answer = hook.post("/validate", &review("Pod", "default", pod(&format!("{host}/prod/alone:1.0"))));
    assert!(allowed(&answer), "{answer}");
    let (resolved, one) = requests_since(&proxy, since, "prod/alone", "1.0");
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert!(!one.is_empty(), "a verification reads signatures: {:?}", proxy.log());

    // 32 reviews of another image at once: the tag is resolved by each, the signatures looked up once.
    let crowd = format!("{host}/prod/crowd:1.0");
    let body = review("Pod", "default", pod(&crowd));
    let since = proxy.log().len();
    let answers: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32).map(|_| s.spawn(|| hook.post("/validate", &body))).collect();
        handles.into_iter().map(|h| h.join().expect("a review thread")).collect()
    });
    assert!(answers.iter().all(allowed), "{answers:?}");
    let (resolved, many) = requests_since(&proxy, since, "prod/crowd", "1.0");
    assert_eq!(many.len(), one.len(), "one lookup for 32 concurrent reviews:\n{many:#?}\nalone:\n{one:#?}");
    assert_eq!(resolved.len(), 32, "the tag is resolved on every review");
    assert_eq!(hook.metric("wharf_admission_cache_misses_total"), 2);
    assert_eq!(hook.metric("wharf_admission_cache_hits_total"), 31);
}

#[test]
fn a_registry_that_goes_down_gets_the_configured_fail_mode() {
    let mut registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let host = registry.host();
    let seen = registry.reference("prod/seen:1.0");
    let digest = push_and_sign(&env, &seen, Some("first"));
    let pinned = format!("{host}/prod/seen@{digest}");
    let unseen = registry.reference("prod/unseen:1.0");
    push_and_sign(&env, &unseen, Some("first"));
    let policy = env.write("policy.yaml", signed_policy(&host, "first"));
    let closed = start_webhook_with(&env, &policy, &["--fail-mode", "deny"]);
    let open = start_webhook_with(&env, &policy, &["--fail-mode", "allow"]);
    for hook in [&closed, &open] {
        assert!(allowed(&hook.post("/validate", &review("Pod", "default", pod(&pinned)))));
    }

    registry.stop();
    for hook in [&closed, &open] {
        // A digest already verified needs no registry: the cached verdict answers.
        let answer = hook.post("/validate", &review("Pod", "default", pod(&pinned)));
        assert!(allowed(&answer) && warnings(&answer).is_empty(), "{answer}");
        let (status, _) = hook.curl(&[&format!("{}/readyz", hook.url)]);
        assert_eq!(status, 200);
    }
    // A tag must be resolved, and an unseen image verified: the registry is needed.
    for image in [&seen, &unseen] {
        let answer = closed.post("/validate", &review("Deployment", "default", deployment(image)));
        let msg = message(&answer);
        assert!(!allowed(&answer), "fail mode deny: {answer}");
        assert!(msg.contains(&format!("image {image}: rule signed-wasm: cannot verify:")), "{msg}");

        let answer = open.post("/validate", &review("Deployment", "default", deployment(image)));
        assert!(allowed(&answer), "fail mode allow: {answer}");
        let warned = warnings(&answer);
        assert!(
            warned.len() == 1
                && warned[0].starts_with(&format!(
                    "wharf: image {image}: rule signed-wasm: admitted without verification (fail mode allow):"
                )),
            "{warned:?}"
        );
    }
    assert!(closed.metric("wharf_admission_registry_errors_total") >= 2);

    // Back up: verification resumes (errors were not cached).
    registry.restart();
    let answer = closed.post("/validate", &review("Pod", "default", pod(&unseen)));
    assert!(allowed(&answer), "{answer}");
}

/// Reads from `stream` until the server closes it (or `limit` passes); true when it closed.
fn closed_by_server(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. a 408 answer before the close
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn slow_clients_are_cut_off_and_metrics_can_have_their_own_listener() {
    use std::io::Write;
    let env = TestEnv::new();
    let policy = env.write("policy.yaml", "rules:\n  - name: sandbox\n    images: ['**']\n    allow: true\n");
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let hook = start_webhook_with(&env, &policy, &["--client-timeout", "1", "--metrics-listen", &metrics_addr]);

    // A client that connects and says nothing (no TLS handshake) is dropped after the timeout.
    let port = hook.url.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).expect("webhook port");
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // A client that starts a request head and never finishes it, on the plain-HTTP metrics listener.
    let mut dawdler = std::net::TcpStream::connect(&metrics_addr).expect("connect to metrics");
    dawdler.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").expect("half a request");

    // Meanwhile reviews are answered.
    let answer = hook.post("/validate", &review("Pod", "default", pod("127.0.0.1:5000/any/app:1")));
    assert!(allowed(&answer), "{answer:#}");

    assert!(closed_by_server(&mut silent, Duration::from_secs(10)), "a silent client keeps its connection");
    assert!(closed_by_server(&mut dawdler, Duration::from_secs(10)), "a dawdling client keeps its connection");

    // Metrics moved: served over plain HTTP on their own address, not on the HTTPS listener.
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--max-time", "10", &format!("http://{metrics_addr}/metrics")]);
    let metrics = run(curl);
    assert!(metrics.success() && metrics.stdout.contains("wharf_admission_verdicts_total"), "{metrics}");
    let (status, _) = hook.curl(&[&format!("{}/metrics", hook.url)]);
    assert_eq!(status, 404);
    let mut curl = Command::new("curl");
    curl.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "POST",
        &format!("http://{metrics_addr}/validate"),
    ]);
    assert_eq!(run(curl).stdout.trim(), "404", "reviews stay on the HTTPS listener");
}

/// A policy requiring `key` for everything under `prod/` of each host.
fn signed_policy_for(hosts: &[&str], key: &str) -> String {
    let globs: Vec<String> = hosts.iter().map(|h| format!("\"{h}/prod/**\"")).collect();
    format!(
        "rules:\n  - name: signed-wasm\n    images: [{}]\n    authorities:\n      - key: {key}.pub\n",
        globs.join(", ")
    )
}

/// A hostile registry front on loopback: answers every referrers request with
/// `referrers` (an index, as a registry with the referrers API answers once
/// someone pushed such referrers to a digest) and forwards everything else to
/// `upstream`. Stopped on drop.
struct HostileReferrers {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HostileReferrers {
    /// A well-formed index just over wharf's 4 MiB document cap.
    fn bloated(upstream: &str) -> HostileReferrers {
        let pad = "x".repeat(4 << 20);
        let index = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[],\"annotations\":{{\"pad\":\"{pad}\"}}}}"
        );
        HostileReferrers::start(upstream, index.into_bytes())
    }

    /// An index under the cap listing `count` referrer manifests, none of which exists:
    /// each costs the verifier a request.
    fn flood(upstream: &str, count: usize) -> HostileReferrers {
        let entries: Vec<String> = (0..count)
            .map(|i| {
                let digest = registry_tests::sha256_digest(i.to_string().as_bytes());
                format!("{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{digest}\",\"size\":2}}")
            })
            .collect();
        let index = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{}]}}",
            entries.join(",")
        );
        assert!(index.len() < 4 << 20, "the flood must stay under the document cap");
        HostileReferrers::start(upstream, index.into_bytes())
    }

    fn start(upstream: &str, referrers: Vec<u8>) -> HostileReferrers {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the hostile server");
        let port = listener.local_addr().expect("its address").port();
        listener.set_nonblocking(true).expect("non-blocking listener");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (flag, upstream, referrers) = (stop.clone(), upstream.to_string(), std::sync::Arc::new(referrers));
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (upstream, referrers) = (upstream.clone(), referrers.clone());
                        std::thread::spawn(move || {
                            let _ = client.set_nonblocking(false);
                            let _ = HostileReferrers::serve(client, &upstream, &referrers);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HostileReferrers { port, stop }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn serve(client: std::net::TcpStream, upstream: &str, referrers: &[u8]) -> std::io::Result<()> {
        use std::io::{BufRead, BufReader, Write};
        let mut reader = BufReader::new(client.try_clone()?);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let mut parts = head.first().map(|l| l.split(' ')).into_iter().flatten();
        let (method, path) = (parts.next().unwrap_or("GET").to_string(), parts.next().unwrap_or("/").to_string());
        let accept = head
            .iter()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("accept")).map(|(_, v)| v.trim()))
            .unwrap_or("")
            .to_string();
        let mut client = client;
        if path.contains("/referrers/") {
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                referrers.len()
            );
            client.write_all(answer.as_bytes())?;
            return client.write_all(referrers);
        }
        let headers: Vec<(&str, &str)> = if accept.is_empty() { vec![] } else { vec![("Accept", accept.as_str())] };
        let answer = registry_tests::http_request(&method, upstream, &path, &headers, &[])?;
        let mut out = format!("HTTP/1.1 {} Forwarded\r\nConnection: close\r\n", answer.status);
        for (k, v) in &answer.headers {
            if !matches!(k.as_str(), "connection" | "transfer-encoding" | "content-length") {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        let length = match method.as_str() {
            "HEAD" => answer.header("content-length").unwrap_or("0").to_string(),
            _ => answer.body.len().to_string(),
        };
        out.push_str(&format!("Content-Length: {length}\r\n\r\n"));
        client.write_all(out.as_bytes())?;
        client.write_all(&answer.body)
    }
}

impl Drop for HostileReferrers {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn fail_mode_allow_denies_what_the_registry_answered_and_admits_only_when_it_cannot_be_asked() {
    use registry_tests::fault_proxy::{Fault, Rule};
    let mut registry = Registry::start();
    let tls = Registry::start_with(registry_tests::RegistryOptions { tls: true, ..Default::default() });
    let bloated = HostileReferrers::bloated(&registry.host());
    let proxy = FaultProxy::start(&registry.host());
    let status = |path: &str, code: u16| Rule {
        method: None,
        path: path.into(),
        times: usize::MAX,
        fault: Fault::Status(code, Vec::new()),
    };
    proxy.add(status("/v2/prod/forbidden/", 403));
    proxy.add(status("/v2/prod/locked/", 401));
    proxy.add(status("/v2/prod/busy/", 503));
    proxy.add(status("/v2/prod/limited/", 429));
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let (host, proxied, hostile) = (registry.host(), proxy.host(), bloated.host());

    // An unsigned image, and an image manifest (not an index) planted under its
    // referrers fallback tag sha256-<hex>, as anyone with push rights can.
    let planted = registry.reference("prod/planted:1.0");
    let digest = push_and_sign(&env, &planted, None);
    let fallback_tag = digest.replace(':', "-");
    push_and_sign(&env, &registry.reference(&format!("prod/planted:{fallback_tag}")), None);
    push_and_sign(&env, &registry.reference("prod/unsigned:1.0"), None);
    let tls_image = format!("{}/prod/app:1.0", tls.host());
    let ca = path_str(&tls.ca_file());
    let file = path_str(&env.write("add.wasm", wharf_examples::build_hello_module().expect("build")));
    wharf(&["push", &file, &tls_image, "--ca-file", &ca], &env).assert_ok();

    let policy = env.write("policy.yaml", signed_policy_for(&[&host, &proxied, &hostile, &tls.host()], "first"));
    let open = start_webhook_with(&env, &policy, &["--fail-mode", "allow"]);

    let denied = [
        (planted.clone(), "not an image index"),
        (format!("{hostile}/prod/unsigned:1.0"), "4194304 bytes"),
        (registry.reference("prod/missing:1.0"), "not found"),
        (format!("{proxied}/prod/forbidden/app:1.0"), "denied"),
        (format!("{proxied}/prod/locked/app:1.0"), "denied"),
        (tls_image.clone(), "TLS certificate"),
        // A rate limit is an answer: anyone who can make the webhook ask can use it up.
        (format!("{proxied}/prod/limited/app:1.0"), "HTTP 429"),
    ];
    for (image, why) in &denied {
        let answer = open.post("/validate", &review("Pod", "default", pod(image)));
        let msg = message(&answer);
        assert!(!allowed(&answer), "fail mode allow admitted {image}, which the registry answered: {answer}");
        assert!(
            msg.contains(&format!("image {image}: rule signed-wasm: cannot verify:")) && msg.contains(why),
            "{msg}"
        );
        assert!(msg.contains("so fail mode allow does not apply"), "{msg}");
        assert!(warnings(&answer).is_empty(), "{answer}");
    }

    // 5xx to every request means the registry could not be asked: fail mode allow admits, with a warning.
    let busy = format!("{proxied}/prod/busy/app:1.0");
    let answer = open.post("/validate", &review("Pod", "default", pod(&busy)));
    assert!(allowed(&answer), "{answer}");
    let warned = warnings(&answer);
    assert!(warned.len() == 1 && warned[0].contains("admitted without verification (fail mode allow)"), "{warned:?}");

    // A stopped registry still fails open.
    registry.stop();
    let answer = open.post("/validate", &review("Pod", "default", pod(&planted)));
    assert!(allowed(&answer), "a registry that cannot be reached gets the fail mode: {answer}");
    assert!(warnings(&answer)[0].contains("admitted without verification (fail mode allow)"), "{answer}");
}

#[test]
fn a_tag_beside_a_digest_does_not_select_a_tag_rule() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let host = registry.host();
    // An unsigned build, pushed by someone who may push to prod/app.
    let digest = push_and_sign(&env, &registry.reference("prod/app:1.0"), None);
    let policy = env.write(
        "policy.yaml",
        format!(
            "rules:\n  - name: dev-builds\n    images: [\"{host}/prod/app:dev-*\"]\n    allow: true\n{}",
            signed_policy(&host, "first").trim_start_matches("rules:\n")
        ),
    );
    let hook = start_webhook(&env, &policy);

    // The node runs the digest; the tag dev-x beside it does not exist and must not choose the rule.
    let image = format!("{host}/prod/app:dev-x@{digest}");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
    let msg = message(&answer);
    assert!(!allowed(&answer), "a dev-* tag beside a digest selected the dev-builds rule: {answer}");
    assert!(msg.contains(&format!("image {image}: rule signed-wasm: no signatures found")), "{msg}");
    // Given by tag alone, the tag rule applies.
    let answer = hook.post("/validate", &review("Pod", "default", pod(&format!("{host}/prod/app:dev-x"))));
    assert!(allowed(&answer), "{answer}");
}

#[test]
fn a_policy_with_two_rules_of_one_name_is_refused_naming_the_line() {
    let env = TestEnv::new();
    let policy = env.write(
        "policy.yaml",
        "rules:\n  - name: prod\n    images: ['a/**']\n    allow: true\n  - name: prod\n    images: ['b/**']\n    allow: false\n",
    );
    let manifest = env.write("m.yaml", "kind: Pod\n");
    let out = wharf(&["admission", "check", "--policy", &path_str(&policy), &path_str(&manifest)], &env);
    out.assert_code(2);
    assert!(out.stderr.contains("at line 5") && out.stderr.contains("has the name of rule 1"), "{out}");
}

/// Verdicts are cached per rule; a policy built in code (the library's API) may give two rules
/// one name, and the second rule must still run its own check.
#[tokio::test(flavor = "multi_thread")]
async fn rules_that_share_a_name_do_not_share_cached_verdicts() {
    use wharf::admission::policy::Policy;
    use wharf::admission::{Admission, Settings};
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    wharf(&["key", "generate", "--output", "second"], &env).assert_ok();
    let image = registry.reference("prod/app:1.0");
    push_and_sign(&env, &image, Some("first"));
    let host = registry.host();
    let key = |name: &str| path_str(&env.path(&format!("{name}.pub")));
    let text = format!(
        "rules:\n  - name: team\n    images: [\"{host}/prod/**\"]\n    namespaces: [a]\n    authorities: [{{key: {}}}]\n\
         \x20 - name: team-b\n    images: [\"{host}/prod/**\"]\n    namespaces: [b]\n    authorities: [{{key: {}}}]\n",
        key("first"),
        key("second")
    );
    let mut policy = Policy::parse("policy.yaml", &text).expect("the policy parses");
    policy.rules[1].name = "team".into();
    let admission = Admission::new(policy, Settings::default()).expect("the keys load");

    let first = admission.check_image(&image, Some("a")).await;
    assert!(first.allowed, "{first:?}");
    let second = admission.check_image(&image, Some("b")).await;
    assert!(!second.allowed, "the second rule reused the first rule's cached verdict: {second:?}");
    assert!(
        second.reason.contains("no signature verifies with key") && second.reason.contains("second.pub"),
        "{second:?}"
    );
}

#[test]
fn other_spellings_of_an_image_hit_the_rule_of_the_plain_spelling() {
    let env = TestEnv::new();
    let policy = env.write(
        "policy.yaml",
        "rules:\n  - name: no-acme\n    images: ['ghcr.io/acme/**']\n    allow: false\n  - name: no-nginx\n    images: ['docker.io/library/nginx']\n    allow: false\nunmatched: allow\n",
    );
    let hook = start_webhook(&env, &policy);
    let spellings = [
        ("ghcr.io/acme/app:1.0", "no-acme"),
        ("GHCR.IO/acme/app:1.0", "no-acme"),
        ("ghcr.io:443/acme/app:1.0", "no-acme"),
        ("ghcr.io:0443/acme/app:1.0", "no-acme"),
        ("GHCR.IO:00443/acme/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "no-acme"),
        ("nginx", "no-nginx"),
        ("index.docker.io/nginx", "no-nginx"),
        ("index.docker.io/library/nginx:1.27", "no-nginx"),
        ("registry-1.docker.io/library/nginx", "no-nginx"),
        ("registry-1.docker.io/nginx:1.27", "no-nginx"),
        ("docker.io:443/nginx", "no-nginx"),
    ];
    for (image, rule) in spellings {
        let answer = hook.post("/validate", &review("Pod", "default", pod(image)));
        let msg = message(&answer);
        assert!(!allowed(&answer), "{image} slipped past the rule {rule}: {answer}");
        assert!(msg.contains(&format!("image {image}: rule {rule}: denied by the policy")), "{msg}");
    }
    let answer = hook.post("/validate", &review("Pod", "default", pod("ghcr.io/other/app:1.0")));
    assert!(allowed(&answer), "{answer}");
    // What wharf cannot read is no spelling of anything: it is denied on its own account, not
    // matched as a raw string and let through by `unmatched: allow`.
    for image in ["ghcr.io/acme/App:1.0", "ghcr.io:99999/acme/app:1.0", "ghcr.io/acme/app:1.0@sha256:short"] {
        let answer = hook.post("/validate", &review("Pod", "default", pod(image)));
        assert!(!allowed(&answer), "{image}, which wharf cannot read, was admitted: {answer}");
        assert!(
            message(&answer).contains(&format!("image {image}: rule unmatched: cannot read the image")),
            "{answer}"
        );
    }
}

/// `bytes` with a custom section of `size` bytes appended: still a valid
/// component, with the same imports and exports, only bigger.
fn with_custom_section(mut bytes: Vec<u8>, size: usize) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"padding";
    let mut content = Vec::with_capacity(size + 16);
    leb128(name.len(), &mut content);
    content.extend_from_slice(name);
    content.resize(content.len() + size, 0);
    bytes.push(0);
    leb128(content.len(), &mut bytes);
    bytes.extend_from_slice(&content);
    bytes
}

#[test]
fn a_component_over_the_size_cap_is_denied_before_it_is_read() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let mut env = TestEnv::new();
    let host = registry.host();
    let package = env.write(
        "acme-plugins.wasm",
        wharf_examples::build_wit_package(&wharf_examples::check_platform_wit()).expect("encode the WIT package"),
    );
    wharf(&["push", &path_str(&package), &registry.reference("acme/plugins:0.1.0")], &env).assert_ok();
    env.write_wkg_config(&format!("default_registry = \"{host}\"\n"));
    let wit = path_str(&wharf_examples::check_platform_wit());
    let fits = check_example(&env, "fits", "acme:plugins/filter-plugin");
    // The component that fits, padded past the default cap of 64 MiB with a custom section:
    // it still fits its world, so without the cap it is downloaded, checked and admitted.
    let huge = env.write("huge.wasm", with_custom_section(std::fs::read(&fits).expect("read"), 65 << 20));
    let layer = registry_tests::sha256_digest(&std::fs::read(&huge).expect("read"));
    for (file, repo) in [(path_str(&huge), "checked/huge:1.0"), (fits.clone(), "checked/fits:1.0")] {
        let args = ["push", &file, &registry.reference(repo), "--wit", &wit, "--world", "filter-plugin"];
        wharf(&args, &env).assert_ok();
    }
    let proxied = proxy.host();
    let policy = env.write(
        "policy.yaml",
        format!(
            "rules:\n  - name: filter-checked\n    images: [\"{proxied}/checked/**\"]\n    allow: true\n    world: \"acme:plugins/filter-plugin@0.1\"\n    check: full\n  - name: sandbox\n    images: [\"{proxied}/sandbox/**\"]\n    allow: true\n"
        ),
    );
    let hook = start_webhook(&env, &policy);

    let image = format!("{proxied}/checked/huge:1.0");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
    let msg = message(&answer);
    assert!(!allowed(&answer), "a component over the cap was admitted: {answer}");
    assert!(msg.contains(&format!("image {image}: rule filter-checked: cannot run the full WIT check")), "{msg}");
    assert!(msg.contains(&format!("over the {}-byte limit", 64 << 20)), "{msg}");
    let fetched: Vec<String> = proxy.log().into_iter().filter(|l| l.contains(&format!("/blobs/{layer}"))).collect();
    assert!(fetched.is_empty(), "the oversized layer was requested: {fetched:?}");

    // The server is unharmed: other reviews, and a full check of a component under the cap, are answered.
    let answer = hook.post("/validate", &review("Pod", "default", pod(&format!("{proxied}/sandbox/app:1.0"))));
    assert!(allowed(&answer), "{answer}");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&format!("{proxied}/checked/fits:1.0"))));
    assert!(allowed(&answer), "{answer}");
}

#[test]
fn a_review_that_runs_over_its_time_budget_is_denied_while_other_reviews_are_answered() {
    let registry = Registry::start();
    // 25,000 referrers of the digest, none of which exists: each costs the verifier a
    // request, minutes in all, what anyone who may push referrers to a repository can do.
    let flood = HostileReferrers::flood(&registry.host(), 25_000);
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let (host, hostile) = (registry.host(), flood.host());
    push_and_sign(&env, &registry.reference("prod/flooded:1.0"), None);
    let signed = registry.reference("prod/signed:1.0");
    push_and_sign(&env, &signed, Some("first"));
    let policy = env.write(
        "policy.yaml",
        format!(
            "{}  - name: sandbox\n    images: [\"{host}/sandbox/**\"]\n    allow: true\n",
            signed_policy_for(&[&host, &hostile], "first")
        ),
    );
    // Fail mode allow: running over the budget is not "the registry could not be asked".
    let hook = start_webhook_with(&env, &policy, &["--fail-mode", "allow"]);

    let flooded = format!("{hostile}/prod/flooded:1.0");
    let body = review("Pod", "default", pod(&flooded));
    let (answer, took) = std::thread::scope(|s| {
        let slow = s.spawn(|| {
            let start = Instant::now();
            (hook.post("/validate", &body), start.elapsed())
        });
        // While that review works through the flood, others are answered at once.
        std::thread::sleep(Duration::from_secs(1));
        for image in [registry.reference("sandbox/app:1.0"), signed.clone()] {
            let start = Instant::now();
            let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
            assert!(allowed(&answer), "{answer}");
            assert!(start.elapsed() < Duration::from_secs(3), "{image} took {:?} during the flood", start.elapsed());
        }
        slow.join().expect("the flooded review")
    });
    let msg = message(&answer);
    assert!(!allowed(&answer), "fail mode allow admitted an image whose review ran over its budget: {answer}");
    assert!(
        msg.contains(&format!(
            "image {flooded}: rule signed-wasm: its review did not finish within the time budget of 8 s"
        )),
        "{msg}"
    );
    assert!(took >= Duration::from_secs(7) && took < Duration::from_secs(10), "the review took {took:?}");

    // The verdict is cached: the next review of the digest is answered without the flood.
    let start = Instant::now();
    let answer = hook.post("/validate", &review("Deployment", "default", deployment(&flooded)));
    assert!(!allowed(&answer) && message(&answer).contains("time budget"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(3), "the second review took {:?}", start.elapsed());
}

/// A CA (`NAME-ca.crt`) and a client certificate it issued (`NAME.crt`, `NAME.key`),
/// made with openssl as an operator makes the API server's admission client certificate.
fn client_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let file = |suffix: &str| dir.join(format!("{name}{suffix}"));
    let (ca, ca_key, cert, key, csr, ext) =
        (file("-ca.crt"), file("-ca.key"), file(".crt"), file(".key"), file(".csr"), file(".ext"));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509"]).args(ec).args(["-days", "2", "-subj", &format!("/CN={name} client CA")]);
    cmd.args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    cmd.arg("-keyout").arg(&ca_key).arg("-out").arg(&ca).stdin(Stdio::null());
    run(cmd).assert_ok();
    let mut cmd = Command::new("openssl");
    cmd.args(["req"]).args(ec).args(["-subj", "/CN=kube-apiserver"]).arg("-keyout").arg(&key).arg("-out").arg(&csr);
    cmd.stdin(Stdio::null());
    run(cmd).assert_ok();
    std::fs::write(&ext, "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n").expect("write the extensions");
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-req", "-days", "2", "-in"]).arg(&csr).arg("-CA").arg(&ca).arg("-CAkey").arg(&ca_key);
    cmd.args(["-CAcreateserial", "-extfile"]).arg(&ext).arg("-out").arg(&cert).stdin(Stdio::null());
    run(cmd).assert_ok();
    (ca, cert, key)
}

#[test]
fn with_a_client_ca_only_clients_with_a_certificate_from_it_are_answered() {
    let env = TestEnv::new();
    let policy = env.write("policy.yaml", "rules:\n  - name: sandbox\n    images: ['**']\n    allow: true\n");
    let (ca, cert, key) = client_certificate(env.dir(), "apiserver");
    let (_, stranger_cert, stranger_key) = client_certificate(env.dir(), "stranger");
    let metrics = format!("127.0.0.1:{}", free_port());
    let (cert, key, ca) = (path_str(&cert), path_str(&key), path_str(&ca));
    let hook = start_webhook_as(
        &env,
        &policy,
        &["--client-ca", &ca, "--metrics-listen", &metrics],
        &["--cert", &cert, "--key", &key],
    );

    // The API server's certificate: answered.
    let answer = hook.post("/validate", &review("Pod", "default", pod("127.0.0.1:5000/any/app:1")));
    assert!(allowed(&answer), "{answer}");

    // No certificate, or one from another CA: refused in the TLS handshake, no HTTP answer at all.
    let body = review("Pod", "default", pod("127.0.0.1:5000/any/app:1")).to_string();
    let stranger = [path_str(&stranger_cert), path_str(&stranger_key)];
    for client in [vec![], vec!["--cert", stranger[0].as_str(), "--key", stranger[1].as_str()]] {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]).arg(&hook.ca);
        curl.args(&client).args(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &body]);
        curl.arg(format!("{}/validate", hook.url));
        let out = run(curl);
        assert!(!out.success(), "a client with {client:?} was answered: {out}");
        assert_eq!(out.stdout.trim(), "000", "a client with {client:?} got an HTTP answer: {out}");
    }

    // A --client-ca file without a certificate stops the server before it listens.
    let empty = env.write("empty-ca.pem", "");
    let (server_cert, server_key) = certificate(env.dir());
    let args = ["admission", "serve", "--policy", &path_str(&policy), "--listen", "127.0.0.1:0"];
    let tls = ["--tls-cert", &path_str(&server_cert), "--tls-key", &path_str(&server_key)];
    let out = wharf(&[&args[..], &tls[..], &["--client-ca", &path_str(&empty)]].concat(), &env);
    out.assert_code(2);
    assert!(out.stderr.contains("empty-ca.pem") && out.stderr.contains("no certificate"), "{out}");

    // Probes need no certificate: they use the plain-HTTP metrics listener.
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--max-time", "10", &format!("http://{metrics}/readyz")]);
    let ready = run(curl);
    assert!(ready.success() && ready.stdout.contains("ok"), "{ready}");
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn keyless_fixture(name: &str) -> PathBuf {
    registry_tests::workspace_dir().join("registry-tests/fixtures/keyless").join(name)
}

/// Attaches the keyless bundle fixture `name` to `repo@digest` as a referrer in its fallback index.
fn attach_keyless_bundle(host: &str, repo: &str, digest: &str, name: &str) {
    use registry_tests::{push_blob, push_manifest, registry_get};
    let bundle = std::fs::read(keyless_fixture(name)).expect("the bundle fixture");
    let (empty, layer) = (push_blob(host, repo, b"{}"), push_blob(host, repo, &bundle));
    let subject_size = registry_get(host, &format!("/v2/{repo}/manifests/{digest}"), OCI_MANIFEST).2.len();
    let referrer = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIGSTORE_BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": SIGSTORE_BUNDLE, "digest": layer, "size": bundle.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": subject_size}})
    .to_string();
    let tag = registry_tests::sha256_digest(referrer.as_bytes());
    let referrer_digest = push_manifest(host, repo, &tag, OCI_MANIFEST, referrer.as_bytes());
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_MANIFEST,
        "digest": referrer_digest, "size": referrer.len(), "artifactType": SIGSTORE_BUNDLE}]})
    .to_string();
    push_manifest(host, repo, &digest.replace(':', "-"), OCI_INDEX, index.as_bytes());
}

/// Puts the real keyless legacy `.sig` manifest fixture (a KMS key's layer and a keyless one) under
/// the `.sig` tag of `repo@digest`, with its payload and an empty config.
fn attach_keyless_legacy(host: &str, repo: &str, digest: &str) {
    use registry_tests::{push_blob, push_manifest};
    let payload = std::fs::read(keyless_fixture("legacy-keyless-payload.json")).expect("fixture");
    push_blob(host, repo, &payload);
    let config = push_blob(host, repo, b"{}");
    let manifest = std::fs::read(keyless_fixture("legacy-keyless-sig-manifest.json")).expect("fixture");
    let mut manifest: Value = serde_json::from_slice(&manifest).expect("JSON");
    manifest["config"] = json!({"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2});
    let tag = format!("{}.sig", digest.replace(':', "-"));
    push_manifest(host, repo, &tag, OCI_MANIFEST, manifest.to_string().as_bytes());
}

/// What docs/admission.md says of keyless authorities, through the webhook: a keyless DSSE bundle
/// (logged as a Rekor `dsse` entry) and a keyless legacy `.sig` layer are each checked up to their
/// claims (certificate, identity, log entry and signature pass), not refused as unsupported.
#[test]
fn keyless_authorities_check_dsse_bundles_and_legacy_signatures() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let host = registry.host();
    let dsse_digest = push_and_sign(&env, &registry.reference("prod/dsse/app:1.0"), None);
    attach_keyless_bundle(&host, "prod/dsse/app", &dsse_digest, "dsse-happy-path.sigstore.json");
    let legacy_digest = push_and_sign(&env, &registry.reference("prod/legacy/app:1.0"), None);
    attach_keyless_legacy(&host, "prod/legacy/app", &legacy_digest);
    let root = path_str(&keyless_fixture("trusted-root-public-good.json"));
    let beacon = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    let policy = env.write(
        "policy.yaml",
        format!(
            "rules:\n  - name: ci-dsse\n    images: [\"{host}/prod/dsse/**\"]\n    authorities:\n      - keyless: {{identity: \"{beacon}\", issuer: https://token.actions.githubusercontent.com, trustedRoot: {root}}}\n\
             \x20 - name: ci-legacy\n    images: [\"{host}/prod/legacy/**\"]\n    authorities:\n      - keyless: {{identity: cosign-svc-account@mineral-minutia-820.iam.gserviceaccount.com, issuer: https://accounts.google.com, trustedRoot: {root}}}\n"
        ),
    );
    let hook = start_webhook(&env, &policy);

    // Every keyless check passes; its statement is an SLSA provenance, an attestation.
    let answer = hook.post("/validate", &review("Pod", "default", pod(&registry.reference("prod/dsse/app:1.0"))));
    let msg = message(&answer);
    assert!(!allowed(&answer), "{answer}");
    assert!(
        msg.contains("rule ci-dsse: no signature verifies with keyless")
            && msg.contains("bundle an attestation of predicate type"),
        "{msg}"
    );
    // Every keyless check passes; it signs its author's image, not this one.
    let answer = hook.post("/validate", &review("Pod", "default", pod(&registry.reference("prod/legacy/app:1.0"))));
    let msg = message(&answer);
    assert!(!allowed(&answer), "{answer}");
    assert!(
        msg.contains("legacy it signs sha256:a2b109fb9baea555556561317fdd13cef9c3dfac22c8f8fea0c5a0b06ece9d00"),
        "{msg}"
    );
}

/// A rule requiring a keyless attestation, through the webhook: a real keyless DSSE bundle
/// (sigstore-conformance's happy path, an SLSA provenance v1, public-good Sigstore) attached to an
/// image passes every keyless check with the rule's identity and root, and is then denied for the
/// digest it attests (a blob, not the image), naming it; another identity is denied naming both
/// identities, and another type is missing. No public keyless attestation names an image the test
/// registry can hold, so the accepting case is left to the key authorities' tests.
#[test]
fn keyless_attestation_authorities_check_the_bundle_up_to_its_subject() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let host = registry.host();
    let mut digests = std::collections::HashMap::new();
    for repo in ["attested", "forged", "sbom"] {
        let digest = push_and_sign(&env, &registry.reference(&format!("prod/{repo}/app:1.0")), None);
        attach_keyless_bundle(&host, &format!("prod/{repo}/app"), &digest, "dsse-happy-path.sigstore.json");
        digests.insert(repo, digest);
    }
    let root = path_str(&keyless_fixture("trusted-root-public-good.json"));
    let beacon = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    let rule = |name: &str, kind: &str, identity: &str| {
        format!(
            "  - name: {name}\n    images: [\"{host}/prod/{name}/**\"]\n    allow: true\n    attestations:\n      - type: {kind}\n        authorities:\n          - keyless: {{identity: \"{identity}\", issuer: https://token.actions.githubusercontent.com, trustedRoot: {root}}}\n"
        )
    };
    let evil = "https://github.com/mallory/repo/.github/workflows/x.yml@refs/heads/main";
    let policy = env.write(
        "policy.yaml",
        format!("rules:\n{}", rule("attested", "slsaprovenance1", beacon))
            + &rule("forged", "slsaprovenance1", evil)
            + &rule("sbom", "cyclonedx", beacon),
    );
    let hook = start_webhook(&env, &policy);
    let verdict = |repo: &str| {
        let answer = hook
            .post("/validate", &review("Pod", "default", pod(&registry.reference(&format!("prod/{repo}/app:1.0")))));
        (allowed(&answer), message(&answer))
    };

    let (ok, msg) = verdict("attested");
    assert!(!ok, "{msg}");
    assert!(
        msg.contains("required attestation slsaprovenance1")
            && msg.contains("does not verify")
            && msg.contains("it attests sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf")
            && msg.contains(&digests["attested"]),
        "every keyless check passes, the subject decides: {msg}"
    );
    let (ok, msg) = verdict("forged");
    assert!(!ok, "{msg}");
    assert!(msg.contains("does not verify") && msg.contains(evil) && msg.contains(beacon), "{msg}");
    let (ok, msg) = verdict("sbom");
    assert!(!ok, "{msg}");
    assert!(msg.contains("required attestation cyclonedx") && msg.contains("is missing"), "{msg}");
}

/// A key authority with a `trustedRoot` requires what Sigstore calls a managed key (cosign's
/// default, policy-controller's): the key's signature, recorded in a transparency log of that
/// root at a verified time (review of issue 15, finding 6). A wharf signature (the key alone, never
/// logged) is admitted by the key and denied by the key with a root; sigstore-conformance's
/// managed-key bundle (a staging Rekor entry) passes the key and log checks with its root and is
/// denied for the digest it signs (a blob), while another instance's root does not know its log.
#[test]
fn a_key_authority_with_a_trusted_root_requires_the_signature_to_be_logged() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "release"], &env).assert_ok();
    let host = registry.host();
    let image = registry.reference("prod/app:1.0");
    push_and_sign(&env, &image, Some("release"));
    let managed = registry.reference("prod/managed/app:1.0");
    let managed_digest = push_and_sign(&env, &managed, None);
    let case = "../sigstore-conformance/bundle-verify/managed-key-and-trusted-root";
    attach_keyless_bundle(&host, "prod/managed/app", &managed_digest, &format!("{case}/bundle.sigstore.json"));
    let public_good = path_str(&keyless_fixture("trusted-root-public-good.json"));
    let (case_key, case_root) = (
        path_str(&keyless_fixture(&format!("{case}/key.pub"))),
        path_str(&keyless_fixture(&format!("{case}/trusted_root.json"))),
    );
    let key = path_str(&env.path("release.pub"));
    let policy = env.write(
        "policy.yaml",
        format!(
            "rules:\n  - name: key-only\n    images: [\"{host}/prod/app\"]\n    namespaces: [plain]\n    authorities: [{{key: {key}}}]\n\
             \x20 - name: logged\n    images: [\"{host}/prod/app\"]\n    namespaces: [logged]\n    authorities: [{{key: {key}, trustedRoot: {public_good}}}]\n\
             \x20 - name: managed\n    images: [\"{host}/prod/managed/**\"]\n    namespaces: [staging]\n    authorities: [{{key: {case_key}, trustedRoot: {case_root}}}]\n\
             \x20 - name: other-instance\n    images: [\"{host}/prod/managed/**\"]\n    namespaces: [production]\n    authorities: [{{key: {case_key}, trustedRoot: {public_good}}}]\n"
        ),
    );
    let hook = start_webhook(&env, &policy);
    let ask = |image: &str, namespace: &str| hook.post("/validate", &review("Pod", namespace, pod(image)));

    let answer = ask(&image, "plain");
    assert!(allowed(&answer), "the key alone: {answer}");
    let answer = ask(&image, "logged");
    assert!(!allowed(&answer), "{answer}");
    let msg = message(&answer);
    assert!(
        msg.contains("rule logged: no signature verifies with key")
            && msg.contains("logged in trusted root")
            && msg.contains("has no transparency-log entry"),
        "{msg}"
    );
    let answer = ask(&managed, "staging");
    assert!(!allowed(&answer), "{answer}");
    let msg = message(&answer);
    assert!(
        msg.contains("rule managed:")
            && msg.contains("it signs sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"),
        "{msg}"
    );
    let answer = ask(&managed, "production");
    assert!(!allowed(&answer), "{answer}");
    assert!(message(&answer).contains("is not in the trusted root"), "{answer}");
}

/// POSTs the file `body` (a review too big for a command line) and returns (HTTP status, answer).
fn post_file(hook: &Webhook, path: &str, body: &Path) -> (u16, String) {
    let data = format!("@{}", body.display());
    hook.curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &data,
        &format!("{}{path}", hook.url),
    ])
}

/// Review of issue 14's fixes, finding 1: with `--fail-mode allow` (and the API server's
/// `failurePolicy` that came with it), a review the webhook refuses to read admits the pod. A Pod
/// with a 1.1 MiB argument (well within what the API server accepts) is read and judged.
#[test]
fn a_review_over_a_mebibyte_is_judged_not_refused() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let image = registry.reference("prod/app:1.0");
    push_and_sign(&env, &image, None);
    let policy = env.write("policy.yaml", signed_policy(&registry.host(), "first"));
    let hook = start_webhook_with(&env, &policy, &["--fail-mode", "allow"]);

    let mut object = pod(&image);
    object["spec"]["containers"][0]["args"] = json!(["x".repeat(1100 << 10)]);
    let body = env.write("review.json", review("Pod", "default", object).to_string());
    assert!(std::fs::metadata(&body).expect("the review").len() > 1 << 20);
    let (status, answer) = post_file(&hook, "/validate", &body);
    assert_eq!(status, 200, "a big review must be answered, not refused: {answer}");
    let answer: Value = serde_json::from_str(&answer).expect("an AdmissionReview");
    assert!(!allowed(&answer), "an unsigned image in a big pod was admitted: {answer}");
    assert!(message(&answer).contains(&format!("image {image}: rule signed-wasm: no signatures found")), "{answer}");
}

/// Sends `body` to the webhook over TLS with python's ssl module, the request head at once and
/// the body `delay` later (a slow client, or a slow network), and returns (seconds from the
/// first byte to the answer, the answer's status line and body).
fn post_slowly(hook: &Webhook, body: &Path, delay: Duration) -> (f64, String) {
    let port = hook.url.rsplit(':').next().unwrap_or_default().to_string();
    let script = r#"
import socket, ssl, sys, time
ca, port, path, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
body = open(path, "rb").read()
context = ssl.create_default_context(cafile=ca)
s = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
start = time.monotonic()
s.sendall(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
time.sleep(delay)
s.sendall(body)
answer = b""
while b"\r\n\r\n" not in answer:
    answer += s.recv(65536)
head, rest = answer.split(b"\r\n\r\n", 1)
length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
while len(rest) < length:
    rest += s.recv(65536)
print("%.3f" % (time.monotonic() - start))
print(head.split(b"\r\n")[0].decode())
print(rest.decode())
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]).arg(&hook.ca).arg(port).arg(body).arg(delay.as_secs_f64().to_string());
    let out = run(cmd);
    assert!(out.success(), "the slow client failed: {out}");
    let (took, rest) = out.stdout.split_once('\n').expect("timing line");
    (took.trim().parse().expect("seconds"), rest.to_string())
}

/// Finding 1: the answer is due before the API server gives up (`timeoutSeconds`, counted from
/// when it sent the request), whatever the client's and the registry's pace: a review whose body
/// took most of that time and whose registry stalls is denied, in time, with the reason.
#[test]
fn the_answer_comes_before_the_api_server_gives_up_counted_from_the_request() {
    use registry_tests::fault_proxy::{Fault, Rule};
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let image = format!("{}/prod/app:1.0", proxy.host());
    push_and_sign(&env, &image, Some("first"));
    proxy.add(Rule {
        method: None,
        path: "/manifests/".into(),
        times: usize::MAX,
        fault: Fault::Stall(Duration::from_secs(30)),
    });
    let policy =
        env.write("policy.yaml", format!("{}limits:\n  imageSeconds: 2\n", signed_policy(&proxy.host(), "first")));
    let hook = start_webhook_with(&env, &policy, &["--fail-mode", "allow", "--webhook-timeout", "4"]);

    let body = env.write("review.json", review("Pod", "default", pod(&image)).to_string());
    let (took, answer) = post_slowly(&hook, &body, Duration::from_millis(2500));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer: Value = serde_json::from_str(answer.split_once('\n').map_or("", |(_, b)| b)).expect("a review");
    assert!(!allowed(&answer), "{answer}");
    let msg = message(&answer);
    assert!(msg.contains("did not finish within 3 s of the request"), "{msg}");
    assert!((2.9..3.8).contains(&took), "answered after {took} s; the API server gives up after 4 s");
}

/// Finding 2: with `--fail-mode allow`, a registry that answered for the image (its manifest)
/// and then fails (503 on the referrers API only, or 429 everywhere: a rate limit anyone who can
/// make the webhook ask can use up) denies; only a registry that answered nothing fails open.
#[test]
fn fail_mode_allow_admits_only_when_the_registry_answered_nothing_for_the_image() {
    use registry_tests::fault_proxy::{Fault, Rule};
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let proxied = proxy.host();
    let unsigned = format!("{proxied}/prod/unsigned:1.0");
    let digest = push_and_sign(&env, &unsigned, None);
    let limited = format!("{proxied}/prod/limited/app:1.0");
    push_and_sign(&env, &limited, None);
    let policy = env.write("policy.yaml", signed_policy(&proxied, "first"));
    let open = start_webhook_with(&env, &policy, &["--fail-mode", "allow"]);
    let status = |path: &str, code: u16, headers: Vec<(String, String)>| Rule {
        method: None,
        path: path.into(),
        times: usize::MAX,
        fault: Fault::Status(code, headers),
    };
    proxy.add(status("/referrers/", 503, Vec::new()));
    proxy.add(status("/v2/prod/limited/", 429, vec![("Retry-After".into(), "1".into())]));

    for image in [unsigned.clone(), format!("{proxied}/prod/unsigned@{digest}"), limited] {
        let answer = open.post("/validate", &review("Pod", "default", pod(&image)));
        let msg = message(&answer);
        assert!(!allowed(&answer), "fail mode allow admitted {image}: {answer}");
        assert!(msg.contains(&format!("image {image}: rule signed-wasm: cannot verify:")), "{msg}");
        assert!(warnings(&answer).is_empty(), "{answer}");
    }
    assert!(proxy.faults_served() > 0, "{:#?}", proxy.log());
}

/// Finding 9 (a): a token server whose certificate does not verify is a certificate problem
/// (the registry pointed there), not a registry that could not be asked: fail mode allow denies.
#[test]
fn a_token_realm_with_an_untrusted_certificate_denies_in_fail_mode_allow() {
    use registry_tests::scripted::{Answer, ScriptedServer};
    let tls = Registry::start_with(registry_tests::RegistryOptions { tls: true, ..Default::default() });
    let realm = format!("https://{}/token", tls.host());
    let challenge = format!("Bearer realm=\"{realm}\",service=\"registry\"");
    let registry =
        ScriptedServer::start("127.0.0.1".parse().expect("loopback"), move |_| Answer::challenge(&challenge));
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let host = registry.host();
    let policy = env.write("policy.yaml", signed_policy(&host, "first"));
    let open = start_webhook_with(&env, &policy, &["--fail-mode", "allow"]);

    let image = format!("{host}/prod/app:1.0");
    let answer = open.post("/validate", &review("Pod", "default", pod(&image)));
    let msg = message(&answer);
    assert!(!allowed(&answer), "an untrusted token server opened the gate: {answer}");
    assert!(msg.contains("certificate"), "{msg}");
    assert!(!registry.requests().is_empty(), "the registry was asked");
}

/// Finding 10: whoever may push to the repository can plant a non-index under the
/// referrers fallback tag; a signature that verifies (here the legacy `.sig`) still wins.
#[test]
fn a_planted_fallback_tag_does_not_hide_a_signature_that_verifies() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let image = registry.reference("prod/app:1.0");
    let digest = push_and_sign(&env, &image, None);
    wharf(&["sign", &image, "--key", &path_str(&env.path("first.key")), "--mode", "both"], &env).assert_ok();
    // The bundle's fallback index replaced by an image manifest.
    push_and_sign(&env, &registry.reference(&format!("prod/app:{}", digest.replace(':', "-"))), None);
    let policy = env.write("policy.yaml", signed_policy(&registry.host(), "first"));
    let hook = start_webhook(&env, &policy);

    let answer = hook.post("/validate", &review("Pod", "default", pod(&image)));
    assert!(allowed(&answer), "a planted fallback tag blocked a signed image: {answer}");
    let verified = wharf(&["verify", &image, "--key", &path_str(&env.path("first.pub"))], &env);
    verified.assert_ok();
    assert!(verified.stderr.contains("not an image index"), "the planted tag is reported: {verified}");
}

/// Finding 6: an image volume (`spec.volumes[].image.reference`, Kubernetes 1.33's ImageVolume)
/// is pulled and mounted by the kubelet like a container image, so the policy judges it too.
#[test]
fn an_unsigned_image_volume_is_denied_beside_a_signed_container() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let signed = registry.reference("prod/app:1.0");
    push_and_sign(&env, &signed, Some("first"));
    let data = registry.reference("data/models:1.0");
    push_and_sign(&env, &data, None);
    let policy = env.write("policy.yaml", signed_policy(&registry.host(), "first"));
    let hook = start_webhook(&env, &policy);

    let mut object = pod(&signed);
    object["spec"]["volumes"] = json!([{"name": "models", "image": {"reference": data, "pullPolicy": "IfNotPresent"}}]);
    let answer = hook.post("/validate", &review("Pod", "default", object));
    assert!(!allowed(&answer), "an unsigned image volume was admitted: {answer}");
    assert!(message(&answer).contains(&format!("image {data}: rule unmatched: no rule matches the image")), "{answer}");
}

/// The peak resident memory of process `pid` so far (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().expect("KiB")
}

/// Finding 5: what one review may cost in memory is bounded. 24 images, each with a referrers
/// fallback index just under the 4 MiB document cap (what anyone who may push can leave there),
/// in one review: each is read, and denied, a few at a time, not all at once.
#[test]
fn a_review_of_many_images_with_big_fallback_indexes_stays_within_a_memory_bound() {
    use registry_tests::{push_blob, push_manifest};
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let host = registry.host();
    let config = push_blob(&host, "prod/many", b"{}");
    let pad = "x".repeat((4 << 20) - 4096);
    let mut images = Vec::new();
    for i in 0..24 {
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [], "annotations": {"n": i.to_string()}})
        .to_string();
        let digest = push_manifest(&host, "prod/many", &format!("v{i}"), OCI_MANIFEST, manifest.as_bytes());
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
            "annotations": {"pad": pad, "n": i.to_string()}})
        .to_string();
        push_manifest(&host, "prod/many", &digest.replace(':', "-"), OCI_INDEX, index.as_bytes());
        images.push(format!("{host}/prod/many:v{i}"));
    }
    let policy = env.write("policy.yaml", signed_policy(&host, "first"));
    let hook = start_webhook(&env, &policy);
    let before = peak_rss_kib(hook.child.id());

    let containers: Vec<Value> =
        images.iter().enumerate().map(|(i, image)| json!({"name": format!("c{i}"), "image": image})).collect();
    let object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default"},
        "spec": {"containers": containers}});
    let answer = hook.post("/validate", &review("Pod", "default", object));
    assert!(!allowed(&answer), "{answer}");
    let msg = message(&answer);
    assert_eq!(msg.matches("no signatures found").count(), 24, "{msg}");
    let grew = peak_rss_kib(hook.child.id()).saturating_sub(before);
    eprintln!("peak memory grew by {grew} KiB over {before} KiB");
    assert!(grew < 64 << 10, "one review grew the webhook's peak memory by {grew} KiB");
}

/// Finding 3: lookups that fail leave no slot in the verdict cache, and the cache never holds
/// more than its capacity: a flood of distinct digests that do not exist cannot grow it.
#[tokio::test(flavor = "multi_thread")]
async fn failed_lookups_leave_nothing_in_the_verdict_cache_and_it_stays_within_capacity() {
    use wharf::admission::policy::Policy;
    use wharf::admission::{Admission, Settings};
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let host = registry.host();
    let text = signed_policy(&host, &path_str(&env.path("first")));
    let policy = Policy::parse("policy.yaml", &text).expect("the policy parses");
    let admission = Admission::new(policy, Settings { cache_capacity: 4, ..Settings::default() }).expect("keys");

    for i in 0..100u32 {
        let digest = format!("sha256:{:064x}", i + 1);
        let verdict = admission.check_image(&format!("{host}/prod/app@{digest}"), Some("default")).await;
        assert!(!verdict.allowed, "{verdict:?}");
        assert!(admission.cached_verdicts() <= 4, "{} slots after {} lookups", admission.cached_verdicts(), i + 1);
    }
    assert_eq!(admission.cached_verdicts(), 0, "failed lookups stayed in the cache");
}

/// Finding 11 (documented, docs/admission.md): `/mutate` pins an image a tag rule admitted to
/// `repo@sha256:…`, and `/validate` judges what will run, the pinned digest, which no tag glob
/// matches: without a rule for the repository the pod is denied (closed, never opened), and a
/// repository rule beside the tag rule admits it.
#[test]
fn a_pinned_image_is_judged_by_its_digest_so_a_tag_rule_needs_a_repository_rule_beside_it() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "first"], &env).assert_ok();
    let host = registry.host();
    let image = registry.reference("prod/app:dev-1");
    let digest = push_and_sign(&env, &image, Some("first"));
    let tag_rule = format!(
        "rules:\n  - name: dev-builds\n    images: [\"{host}/prod/app:dev-*\"]\n    authorities:\n      - key: first.pub\n"
    );
    let policy = env.write("policy.yaml", &tag_rule);
    let hook = start_webhook(&env, &policy);

    let answer = hook.post("/mutate", &review("Pod", "default", pod(&image)));
    assert!(allowed(&answer), "{answer}");
    let patch = answer.pointer("/response/patch").and_then(Value::as_str).expect("a patch");
    let patch: Value = serde_json::from_slice(&B64.decode(patch).expect("base64")).expect("JSON patch");
    let pinned = format!("{host}/prod/app@{digest}");
    assert_eq!(patch[0]["value"], json!(pinned), "{patch}");
    let answer = hook.post("/validate", &review("Pod", "default", pod(&pinned)));
    assert!(!allowed(&answer), "{answer}");
    assert!(message(&answer).contains(&format!("image {pinned}: rule unmatched: no rule matches")), "{answer}");
    drop(hook);

    let both = format!(
        "{tag_rule}  - name: app\n    images: [\"{host}/prod/app\"]\n    authorities:\n      - key: first.pub\n"
    );
    let policy = env.write("policy.yaml", &both);
    let hook = start_webhook(&env, &policy);
    let answer = hook.post("/validate", &review("Pod", "default", pod(&pinned)));
    assert!(allowed(&answer), "the repository rule admits the pinned image: {answer}");
}

/// Review findings 2 and 3 (a cap per review): one object may name at most 64 distinct images, each
/// judged once however often it is written; more is denied whatever `unmatched:` says, since
/// every image may cost registry lookups that all reviews share.
#[test]
fn a_review_of_more_than_64_distinct_images_is_denied_and_repeated_images_count_once() {
    let env = TestEnv::new();
    let policy = env.write("policy.yaml", "rules: []\nunmatched: allow\n");
    let hook = start_webhook(&env, &policy);
    let pod_of = |images: &[String]| {
        let containers: Vec<Value> =
            images.iter().enumerate().map(|(i, image)| json!({"name": format!("c{i}"), "image": image})).collect();
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default"},
            "spec": {"containers": containers}})
    };
    let mut images: Vec<String> = (0..64).map(|i| format!("ghcr.io/acme/app{i}:1.0")).collect();
    images.extend(images.clone());
    let answer = hook.post("/validate", &review("Pod", "default", pod_of(&images)));
    assert!(allowed(&answer), "64 distinct images, each written twice: {answer}");

    images.push("ghcr.io/acme/one-more:1.0".into());
    let answer = hook.post("/validate", &review("Pod", "default", pod_of(&images)));
    assert!(!allowed(&answer), "{answer}");
    assert!(message(&answer).contains("more than 64 distinct images"), "{answer}");
}

/// An SLSA provenance v1 predicate from the workflow `builder`.
fn provenance_from(builder: &str) -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": { "workflow": { "ref": "refs/tags/v1", "repository": "https://github.com/acme/hello" } },
            "resolvedDependencies": []
        },
        "runDetails": { "builder": { "id": builder } }
    })
}

/// `wharf attest REFERENCE` with a predicate of `kind`, signed by `key`.
fn attest(env: &TestEnv, reference: &str, kind: &str, predicate: &Value, key: &str) {
    let file = env.write(&format!("predicate-{}.json", B64.encode(reference)), predicate.to_string());
    wharf(&["attest", reference, "--predicate", &path_str(&file), "--type", kind, "--key", key], env).assert_ok();
}

const RELEASE_BUILDER: &str = "https://github.com/acme/.github/workflows/release.yml@refs/heads/main";

#[test]
fn rules_requiring_provenance_admit_it_and_deny_it_missing_from_another_builder_or_signed_by_another_key() {
    let mut registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    let file = env.write("hello.wasm", wharf_examples::build_hello_component().expect("the example"));
    wharf(&["key", "generate", "--output", "release"], &env).assert_ok();
    wharf(&["key", "generate", "--output", "rogue"], &env).assert_ok();
    let key = |name: &str| path_str(&env.path(&format!("{name}.key")));
    let image = |repo: &str| {
        let reference = registry.reference(&format!("wasm/{repo}:1"));
        wharf(&["push", &path_str(&file), &reference], &env).assert_ok();
        reference
    };
    let (released, unattested, elsewhere, rogue) =
        (image("released"), image("unattested"), image("elsewhere"), image("rogue"));
    attest(&env, &released, "slsaprovenance1", &provenance_from(RELEASE_BUILDER), &key("release"));
    attest(&env, &released, "cyclonedx", &json!({"bomFormat": "CycloneDX", "specVersion": "1.5"}), &key("release"));
    // Only an SBOM: the provenance the rule asks for is missing.
    attest(&env, &unattested, "cyclonedx", &json!({"bomFormat": "CycloneDX", "specVersion": "1.5"}), &key("release"));
    let evil = "https://github.com/evil/.github/workflows/release.yml@refs/heads/main";
    attest(&env, &elsewhere, "slsaprovenance1", &provenance_from(evil), &key("release"));
    attest(&env, &rogue, "slsaprovenance1", &provenance_from(RELEASE_BUILDER), &key("rogue"));

    let policy = env.write(
        "policy.yaml",
        format!(
            "rules:\n  - name: released\n    images: [\"{}/wasm/**\"]\n    allow: true\n    attestations:\n      - type: slsaprovenance1\n        authorities: [{{key: release.pub}}]\n        builder: \"https://github.com/acme/.github/workflows/release.yml@*\"\n      - type: cyclonedx\n        authorities: [{{key: release.pub}}]\n",
            registry.host()
        ),
    );
    let hook = start_webhook(&env, &policy);
    let verdict = |image: &str| {
        let answer = hook.post("/validate", &review("Pod", "default", pod(image)));
        (allowed(&answer), message(&answer))
    };
    let (ok, msg) = verdict(&released);
    assert!(ok, "provenance and SBOM present: {msg}");

    let (ok, msg) = verdict(&unattested);
    assert!(!ok, "{msg}");
    assert!(msg.contains("required attestation slsaprovenance1 (https://slsa.dev/provenance/v1) is missing"), "{msg}");
    assert!(msg.contains("only attestations of other types: cyclonedx"), "{msg}");

    let (ok, msg) = verdict(&elsewhere);
    assert!(!ok, "{msg}");
    assert!(
        msg.contains(&format!("names the builder {evil:?}")) && msg.contains("does not match the builder"),
        "{msg}"
    );

    let (ok, msg) = verdict(&rogue);
    assert!(!ok, "{msg}");
    assert!(msg.contains("slsaprovenance1") && msg.contains("does not verify") && msg.contains("release.pub"), "{msg}");
    assert!(
        msg.contains("layer 0: the signature does not verify with this key") && msg.contains("another key"),
        "{msg}"
    );
    assert!(!msg.contains("missing"), "{msg}");

    // A missing attestation is the registry's answer: fail mode allow does not open it.
    let open = start_webhook_with(&env, &policy, &["--fail-mode", "allow"]);
    let answer = open.post("/validate", &review("Pod", "default", pod(&unattested)));
    assert!(!allowed(&answer) && message(&answer).contains("is missing"), "{answer}");

    // A registry that cannot be asked: the fail mode decides, as for signatures.
    registry.stop();
    let answer = hook.post("/validate", &review("Pod", "default", pod(&released)));
    assert!(!allowed(&answer) && message(&answer).contains("cannot verify"), "fail mode deny: {answer}");
    let answer = open.post("/validate", &review("Pod", "default", pod(&released)));
    assert!(allowed(&answer), "fail mode allow: {answer}");
    assert!(
        warnings(&answer).iter().any(|w| w.contains("admitted without verification (fail mode allow)")),
        "{answer}"
    );
    registry.restart();

    // `wharf admission check` shares the webhook's code path: the same four verdicts.
    let manifest = env.write(
        "pods.yaml",
        [&released, &unattested, &elsewhere, &rogue]
            .iter()
            .enumerate()
            .map(|(i, image)| {
                format!(
                    "kind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n  - {{name: c, image: \"{image}\"}}\n"
                )
            })
            .collect::<Vec<_>>()
            .join("---\n"),
    );
    let out = wharf(&["admission", "check", "--policy", &path_str(&policy), &path_str(&manifest)], &env);
    out.assert_code(1);
    assert!(out.stdout.contains(&format!("allowed Pod/p0 {released}: rule released: ")), "{out}");
    assert!(
        out.stdout
            .contains(&format!("denied  Pod/p1 {unattested}: rule released: the required attestation slsaprovenance1"))
            && out.stdout.contains("is missing"),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!("denied  Pod/p2 {elsewhere}: "))
            && out.stdout.contains(&format!("names the builder {evil:?}")),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("denied  Pod/p3 {rogue}: rule released: the required attestation slsaprovenance1")),
        "{out}"
    );
}

#[test]
fn a_builder_on_an_attestation_other_than_slsa_provenance_is_refused_at_load() {
    let env = TestEnv::new();
    let policy = env.write(
        "policy.yaml",
        "rules:\n  - name: sbom\n    images: ['**']\n    allow: true\n    attestations:\n      - type: cyclonedx\n        authorities: [{key: release.pub}]\n        builder: \"https://github.com/acme/*\"\n",
    );
    let manifest = env.write(
        "m.yaml",
        "kind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: c, image: example.com/a:1}\n",
    );
    let out = wharf(&["admission", "check", "--policy", &path_str(&policy), &path_str(&manifest)], &env);
    out.assert_code(2);
    assert!(
        out.stderr.contains("line 5") && out.stderr.contains("has a builder") && out.stderr.contains("slsaprovenance1"),
        "{out}"
    );
}
