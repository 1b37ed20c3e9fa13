//! `wharf admission serve` against a real docker-registry 2.8: artifacts pushed and
//! signed with `wharf key generate` and `wharf sign`, the webhook started over HTTPS
//! (an openssl-made certificate), and AdmissionReviews POSTed with `curl --cacert` as
//! the API server sends them. Also `wharf admission check` on a manifest file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use registry_tests::{Registry, TestEnv, run, wharf, wharf_bin};
use serde_json::{Value, json};

/// The webhook process, killed on drop.
struct Webhook {
    child: Child,
    url: String,
    ca: PathBuf,
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
        cmd.args(["-sS", "--max-time", "60", "--cacert"]).arg(&self.ca).args(["-w", "\n%{http_code}"]).args(args);
        let out = run(cmd);
        assert!(out.success(), "curl failed: {out}");
        let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", ""));
        (code.trim().parse().unwrap_or(0), body.to_string())
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
    let (cert, key) = certificate(env.dir());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = env.command(wharf_bin());
    cmd.args(["admission", "serve", "--policy"])
        .arg(policy)
        .args(["--listen", &listen, "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().expect("start wharf admission serve");
    let hook = Webhook { child, url: format!("https://127.0.0.1:{port}"), ca: cert };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut probe = Command::new("curl");
        probe.args(["-sS", "--max-time", "2", "--cacert"]).arg(&hook.ca).arg(format!("{}/healthz", hook.url));
        if run(probe).success() {
            return hook;
        }
        assert!(Instant::now() < deadline, "the webhook did not come up on {listen}");
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
    // An oversized body is a 413.
    let big = env.write("big.json", vec![b' '; (1 << 20) + 10]);
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
