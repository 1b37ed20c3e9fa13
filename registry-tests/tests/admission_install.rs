//! `wharf admission manifests`: the generated objects validated strictly against the
//! Kubernetes 1.33 schemas (the `kubernetes-validate` package, offline), and run
//! together: a small kubelet here lays out the Deployment's volumes from the generated
//! ConfigMap and Secrets exactly as the kubelet does (a `..data` symlink to a versioned
//! directory, swapped atomically on update), starts `wharf admission serve` with the
//! container's own arguments, and an API-server-like client that trusts only the
//! generated `caBundle` and calls the Service's DNS name sends AdmissionReviews. No
//! cluster runs here (no container engine): these are the parts that can be checked
//! without one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use registry_tests::{Registry, TestEnv, run, wharf, wharf_bin};
use serde::Deserialize as _;
use serde_json::{Value, json};

/// The objects of one `wharf admission manifests` run.
#[derive(Clone)]
struct Objects(Vec<Value>);

impl Objects {
    fn parse(yaml: &str) -> Objects {
        let docs = serde_norway::Deserializer::from_str(yaml)
            .map(|doc| Value::deserialize(doc).expect("each document is YAML"))
            .filter(|v| !v.is_null())
            .collect();
        Objects(docs)
    }

    fn get(&self, kind: &str, name: &str) -> &Value {
        self.0
            .iter()
            .find(|o| o["kind"] == kind && o.pointer("/metadata/name") == Some(&json!(name)))
            .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", self.kinds()))
    }

    fn one(&self, kind: &str) -> &Value {
        let all: Vec<&Value> = self.0.iter().filter(|o| o["kind"] == kind).collect();
        assert_eq!(all.len(), 1, "one {kind}");
        all[0]
    }

    fn kinds(&self) -> Vec<String> {
        self.0.iter().map(|o| o["kind"].as_str().unwrap_or_default().to_string()).collect()
    }

    /// The webhook's container in the Deployment.
    fn container(&self) -> &Value {
        self.one("Deployment").pointer("/spec/template/spec/containers/0").expect("a container")
    }

    /// A Secret's item, decoded.
    fn secret_item(&self, name: &str, key: &str) -> Vec<u8> {
        let text = self.get("Secret", name).pointer(&format!("/data/{key}")).and_then(Value::as_str);
        B64.decode(text.unwrap_or_else(|| panic!("no {key} in Secret {name}"))).expect("base64")
    }

    /// A ConfigMap's item.
    fn config_item(&self, name: &str, key: &str) -> Vec<u8> {
        let text = self.get("ConfigMap", name).pointer(&format!("/data/{key}")).and_then(Value::as_str);
        text.unwrap_or_else(|| panic!("no {key} in ConfigMap {name}")).as_bytes().to_vec()
    }
}

fn manifests(env: &TestEnv, args: &[&str]) -> (String, Objects) {
    let out = wharf(&[&["admission", "manifests"], args].concat(), env);
    out.assert_ok();
    let objects = Objects::parse(&out.stdout);
    (out.stdout, objects)
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Runs `kubernetes-validate --strict` for Kubernetes 1.33 on `yaml`: (passed, output).
fn kubernetes_validate(env: &TestEnv, name: &str, yaml: &str) -> (bool, String) {
    let file = env.write(name, yaml);
    let mut cmd = env.command("python3");
    cmd.args(["-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.33.0"]).arg(&file);
    // HOME is the test's tempdir; keep packages pip installed with --user importable.
    if std::env::var_os("PYTHONUSERBASE").is_none()
        && let Some(home) = std::env::var_os("HOME")
    {
        cmd.env("PYTHONUSERBASE", Path::new(&home).join(".local"));
    }
    let out = run(cmd);
    assert!(!out.stderr.contains("No module named"), "kubernetes-validate is not installed (scripts/test): {out}");
    (out.success(), format!("{}{}", out.stdout, out.stderr))
}

/// A policy requiring `cosign.pub` (in `env`) for `HOST/prod/**`, allowing `HOST/sandbox/**`.
fn write_policy(env: &TestEnv, host: &str) -> PathBuf {
    env.write(
        "policy/policy.yaml",
        format!(
            "# the team's policy\nrules:\n  - name: signed-wasm\n    images: [\"{host}/prod/**\"]\n    authorities:\n      - key: ../cosign.pub\n  - name: sandbox\n    images: [\"{host}/sandbox/**\"]\n    allow: true\nunmatched: deny\n"
        ),
    )
}

fn keyed_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    wharf(&["key", "generate", "--output", "cosign"], &env).assert_ok();
    env
}

const IMAGE: &str =
    "registry.example.com/wharf@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

#[test]
fn the_manifests_validate_strictly_against_the_kubernetes_1_33_schemas() {
    let env = keyed_env();
    let policy = path_str(&write_policy(&env, "registry.example.com"));
    let ca = client_ca(&env);
    let with_everything = [
        "--policy",
        &policy,
        "--image",
        IMAGE,
        "--client-ca",
        &path_str(&ca.ca),
        "--registry-secret",
        "registry-pull",
        "--apiserver-cidr",
        "10.0.0.0/28",
        "--apiserver-cidr",
        "fd00::/120",
        "--replicas",
        "3",
        "--fail-mode",
        "allow",
    ];
    for (name, args) in [
        ("default", vec!["--policy", &policy, "--image", IMAGE]),
        ("everything", with_everything.to_vec()),
        ("cert-manager", vec!["--policy", &policy, "--image", IMAGE, "--cert-manager"]),
    ] {
        let (yaml, objects) = manifests(&env, &args);
        // Core objects only: cert-manager's are custom resources, which no Kubernetes schema covers.
        let core: Vec<&Value> = objects.0.iter().filter(|o| o["apiVersion"] != "cert-manager.io/v1").collect();
        let core_yaml: String =
            core.iter().map(|o| format!("---\n{}", serde_norway::to_string(o).expect("YAML"))).collect();
        let (passed, report) = kubernetes_validate(&env, &format!("{name}.yaml"), &core_yaml);
        assert!(passed, "{name}: {report}");
        assert_eq!(report.matches("passed for resource").count(), core.len(), "{name}: {report}");
        assert!(!report.contains("WARN") && !report.contains("ERROR"), "{name}: {report}");
        assert!(!yaml.contains("subPath"), "{name}: the policy must be mounted as a directory");
        let expected = if name == "cert-manager" {
            vec![
                "Namespace",
                "ServiceAccount",
                "ConfigMap",
                "Secret",
                "Issuer",
                "Certificate",
                "Issuer",
                "Certificate",
                "Deployment",
                "Service",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "MutatingWebhookConfiguration",
                "ValidatingWebhookConfiguration",
            ]
        } else {
            let mut kinds = vec!["Namespace", "ServiceAccount", "ConfigMap", "Secret"];
            kinds.extend(if name == "everything" { vec!["Secret", "Secret"] } else { vec!["Secret"] });
            kinds.extend([
                "Deployment",
                "Service",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "MutatingWebhookConfiguration",
                "ValidatingWebhookConfiguration",
            ]);
            kinds
        };
        assert_eq!(objects.kinds(), expected, "{name}");
    }

    // The check is strict: the same objects with one unknown field fail it.
    let (yaml, _) = manifests(&env, &["--policy", &policy, "--image", IMAGE]);
    let broken =
        yaml.replacen("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n          privileged2: true", 1);
    let (passed, report) = kubernetes_validate(&env, "broken.yaml", &broken);
    assert!(!passed && report.contains("'privileged2' was unexpected"), "{report}");
}

#[test]
fn the_deployment_runs_locked_down_and_the_webhooks_skip_their_own_namespace() {
    let env = keyed_env();
    let policy = path_str(&write_policy(&env, "registry.example.com"));
    let (yaml, objects) = manifests(&env, &["--policy", &policy, "--image", IMAGE, "--namespace", "admission"]);
    let pod = objects.one("Deployment").pointer("/spec/template/spec").expect("a pod spec");
    let container = objects.container();
    assert_eq!(objects.one("Deployment").pointer("/spec/replicas"), Some(&json!(2)));
    assert_eq!(container["image"], IMAGE);
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"], json!({"drop": ["ALL"]}));
    assert_eq!(security.pointer("/seccompProfile/type"), Some(&json!("RuntimeDefault")));
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(container.pointer("/resources/requests/memory").is_some());
    assert!(container.pointer("/resources/limits/memory").is_some());
    assert!(container.pointer("/readinessProbe/httpGet").is_some() && container.pointer("/livenessProbe").is_some());
    let spread: Vec<&str> = pod["topologySpreadConstraints"]
        .as_array()
        .expect("spread")
        .iter()
        .filter_map(|c| c["topologyKey"].as_str())
        .collect();
    assert_eq!(spread, ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
    assert_eq!(objects.one("PodDisruptionBudget").pointer("/spec/maxUnavailable"), Some(&json!(1)));
    for kind in ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"] {
        let hook = objects.one(kind).pointer("/webhooks/0").expect("a webhook");
        assert_eq!(
            hook.pointer("/namespaceSelector/matchExpressions/0"),
            Some(
                &json!({"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["admission", "kube-system"]})
            ),
            "{kind}"
        );
        assert_eq!(hook.pointer("/clientConfig/service/namespace"), Some(&json!("admission")));
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["sideEffects"], "None");
    }
    // One private key in the output, the serving key in its Secret; the CA's key is nowhere.
    let decoded: String = objects
        .0
        .iter()
        .filter(|o| o["kind"] == "Secret")
        .flat_map(|s| s["data"].as_object().into_iter().flatten().map(|(_, v)| v.clone()))
        .map(|v| String::from_utf8(B64.decode(v.as_str().unwrap_or_default()).expect("base64")).expect("text"))
        .collect();
    assert_eq!(decoded.matches("PRIVATE KEY-----\n").count(), 2, "BEGIN and END of one key: {decoded}");
    assert!(!yaml.contains("PRIVATE KEY"), "keys only base64 in Secrets");
    let key = String::from_utf8(objects.secret_item("wharf-admission-tls", "tls.key")).expect("text");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
}

#[test]
fn the_manifests_are_the_same_every_time_but_for_the_generated_certificates() {
    let env = keyed_env();
    let policy = path_str(&write_policy(&env, "registry.example.com"));
    let args = ["--policy", &policy, "--image", IMAGE];
    let (first, a) = manifests(&env, &args);
    let (second, b) = manifests(&env, &args);
    assert_ne!(first, second, "new keys each time");
    let strip = |objects: &Objects| -> Vec<Value> {
        objects
            .0
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if o["kind"] == "Secret" && o.pointer("/metadata/name") == Some(&json!("wharf-admission-tls")) {
                    o["data"] = Value::Null;
                }
                if let Some(hooks) = o.get_mut("webhooks").and_then(Value::as_array_mut) {
                    for hook in hooks {
                        hook["clientConfig"]["caBundle"] = Value::Null;
                    }
                }
                if let Some(annotations) = o.pointer_mut("/spec/template/metadata/annotations") {
                    *annotations = Value::Null;
                }
                o
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    let cert_manager = [&args[..], &["--cert-manager"]].concat();
    assert_eq!(manifests(&env, &cert_manager).0, manifests(&env, &cert_manager).0);
}

#[test]
fn a_policy_naming_a_file_that_cannot_be_read_is_refused() {
    let env = keyed_env();
    let policy = env.write(
        "policy.yaml",
        "rules:\n  - name: ci\n    images: ['**']\n    authorities:\n      - keyless:\n          identity: me@example.com\n          issuer: https://accounts.example.com\n          trustedRoot: roots/trusted_root.json\n",
    );
    let out = wharf(&["admission", "manifests", "--policy", &path_str(&policy), "--image", IMAGE], &env);
    out.assert_failed_cleanly("roots/trusted_root.json");
    assert!(out.stderr.contains("rules[0] (\"ci\"), authorities[0].keyless.trustedRoot"), "{out}");
    assert!(out.stdout.is_empty(), "nothing half-written: {out}");
    let out = wharf(&["admission", "manifests", "--policy", "missing.yaml", "--image", IMAGE], &env);
    out.assert_failed_cleanly("missing.yaml");
    let policy = path_str(&write_policy(&env, "h"));
    let out = wharf(&["admission", "manifests", "--policy", &policy, "--image", "not an image"], &env);
    out.assert_failed_cleanly("--image");
    let out = wharf(&["admission", "manifests", "--policy", &policy, "--image", IMAGE, "--namespace", "Bad_NS"], &env);
    out.assert_failed_cleanly("not a DNS label");
    let key_file = path_str(&env.path("cosign.key"));
    let out = wharf(&["admission", "manifests", "--policy", &policy, "--image", IMAGE, "--client-ca", &key_file], &env);
    out.assert_failed_cleanly("private key");
}

#[test]
fn the_cert_manager_objects_fit_together() {
    let env = keyed_env();
    let policy = path_str(&write_policy(&env, "h"));
    let (_, objects) = manifests(&env, &["--policy", &policy, "--image", IMAGE, "--cert-manager"]);
    let serving = objects.get("Certificate", "wharf-admission-tls");
    assert_eq!(
        serving.pointer("/spec/dnsNames"),
        Some(&json!(["wharf-admission.wharf-system.svc", "wharf-admission.wharf-system.svc.cluster.local"]))
    );
    assert_eq!(serving.pointer("/spec/privateKey/algorithm"), Some(&json!("ECDSA")));
    let issuer = serving.pointer("/spec/issuerRef/name").and_then(Value::as_str).expect("an issuer");
    let ca_secret = objects.get("Issuer", issuer).pointer("/spec/ca/secretName").and_then(Value::as_str);
    let ca = objects.get("Certificate", ca_secret.expect("a CA secret"));
    assert_eq!(ca.pointer("/spec/isCA"), Some(&json!(true)));
    let root = ca.pointer("/spec/issuerRef/name").and_then(Value::as_str).expect("an issuer");
    assert!(objects.get("Issuer", root).pointer("/spec/selfSigned").is_some());
    // The Deployment mounts the Secret cert-manager writes; the webhooks get its CA injected.
    let volumes = objects.one("Deployment").pointer("/spec/template/spec/volumes").expect("volumes");
    let tls = volumes.as_array().into_iter().flatten().find(|v| v["name"] == "tls").expect("a tls volume");
    assert_eq!(tls.pointer("/secret/secretName"), serving.pointer("/spec/secretName"));
    assert!(objects.0.iter().all(|o| o["metadata"]["name"] != "wharf-admission-tls" || o["kind"] != "Secret"));
    for kind in ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"] {
        let config = objects.one(kind);
        assert_eq!(
            config.pointer("/metadata/annotations/cert-manager.io~1inject-ca-from"),
            Some(&json!("wharf-system/wharf-admission-tls"))
        );
        assert!(config.pointer("/webhooks/0/clientConfig/caBundle").is_none(), "{kind}: the cainjector sets it");
    }
}

// ---------------------------------------------------------------------------
// The objects at work
// ---------------------------------------------------------------------------

/// A fixed modification time for every projected file, so that only the swap
/// itself tells two versions apart (as with writes in one clock tick, or
/// files with reproducible timestamps).
fn fixed_mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// One pod of the Deployment, run here: its volumes under `root` at their mount paths.
struct Pod {
    root: PathBuf,
    objects: Objects,
    version: usize,
}

impl Pod {
    fn new(env: &TestEnv, name: &str, objects: &Objects) -> Pod {
        let root = env.path(name);
        std::fs::create_dir_all(&root).expect("create the pod's root");
        let mut pod = Pod { root, objects: objects.clone(), version: 0 };
        pod.sync();
        pod
    }

    /// Where a path in the container is on this machine.
    fn host_path(&self, container_path: &str) -> PathBuf {
        self.root.join(container_path.trim_start_matches('/'))
    }

    /// The files of the volume `name` (relative path, contents), from the objects.
    fn volume_files(&self, name: &str) -> Option<Vec<(String, Vec<u8>)>> {
        let volumes = self.objects.one("Deployment").pointer("/spec/template/spec/volumes").expect("volumes");
        let volume = volumes.as_array().into_iter().flatten().find(|v| v["name"] == name).expect("the volume");
        let items = |source: &Value, all: &dyn Fn() -> Vec<String>| -> Vec<(String, String)> {
            match source["items"].as_array() {
                Some(items) => items
                    .iter()
                    .map(|i| {
                        (i["key"].as_str().unwrap_or_default().into(), i["path"].as_str().unwrap_or_default().into())
                    })
                    .collect(),
                None => all().into_iter().map(|k| (k.clone(), k)).collect(),
            }
        };
        let secret_keys = |name: &str| {
            let data = self.objects.get("Secret", name)["data"].as_object().cloned().unwrap_or_default();
            move || data.keys().cloned().collect::<Vec<String>>()
        };
        if let Some(sources) = volume.pointer("/projected/sources").and_then(Value::as_array) {
            let mut files = Vec::new();
            for source in sources {
                if let Some(cm) = source.get("configMap") {
                    let name = cm["name"].as_str().unwrap_or_default();
                    for (key, path) in items(cm, &|| Vec::new()) {
                        files.push((path, self.objects.config_item(name, &key)));
                    }
                }
                if let Some(secret) = source.get("secret") {
                    let name = secret["name"].as_str().unwrap_or_default();
                    for (key, path) in items(secret, &secret_keys(name)) {
                        files.push((path, self.objects.secret_item(name, &key)));
                    }
                }
            }
            return Some(files);
        }
        if let Some(secret) = volume.get("secret") {
            let name = secret["secretName"].as_str().unwrap_or_default();
            return Some(
                items(secret, &secret_keys(name))
                    .into_iter()
                    .map(|(key, path)| (path, self.objects.secret_item(name, &key)))
                    .collect(),
            );
        }
        None // emptyDir
    }

    /// Lays out (or updates) every volume as the kubelet's atomic writer does:
    /// the files in a new `..<version>` directory, `..data` swapped to it by a
    /// rename, a symlink per top-level name through `..data`, the old version removed.
    fn sync(&mut self) {
        self.version += 1;
        let mounts = self.objects.container()["volumeMounts"].as_array().cloned().unwrap_or_default();
        for mount in mounts {
            let dir = self.host_path(mount["mountPath"].as_str().expect("a mount path"));
            assert!(mount.get("subPath").is_none(), "a subPath mount is never updated");
            std::fs::create_dir_all(&dir).expect("create the mount point");
            let Some(files) = self.volume_files(mount["name"].as_str().unwrap_or_default()) else { continue };
            project(&dir, self.version, &files);
        }
    }

    /// Starts `wharf admission serve` with the container's arguments and environment.
    fn start(&self, env: &TestEnv) -> Webhook {
        let (port, metrics_port) = (free_port(), free_port());
        let container = self.objects.container();
        let mut args: Vec<String> = Vec::new();
        let mut given = container["args"].as_array().expect("args").iter().filter_map(Value::as_str);
        while let Some(arg) = given.next() {
            args.push(arg.to_string());
            match arg {
                "--listen" => args.push(format!("127.0.0.1:{port}")),
                "--metrics-listen" => args.push(format!("127.0.0.1:{metrics_port}")),
                _ => continue,
            }
            given.next();
        }
        let args: Vec<String> =
            args.into_iter().map(|a| if a.starts_with('/') { path_str(&self.host_path(&a)) } else { a }).collect();
        let log = self.root.join("webhook.log");
        let mut cmd = env.command(wharf_bin());
        cmd.args(&args);
        for var in container["env"].as_array().into_iter().flatten() {
            let value = var["value"].as_str().unwrap_or_default();
            let value = if value.starts_with('/') { path_str(&self.host_path(value)) } else { value.to_string() };
            cmd.env(var["name"].as_str().unwrap_or_default(), value);
        }
        cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log).expect("create the log"));
        let child = cmd.spawn().expect("start wharf admission serve");
        let hook = Webhook { child, port, metrics_port, log };
        hook.wait_until_ready();
        hook
    }
}

/// Writes `files` into `dir` as the kubelet's atomic writer does (see [`Pod::sync`]).
fn project(dir: &Path, version: usize, files: &[(String, Vec<u8>)]) {
    let versioned = format!("..{version}");
    for (path, bytes) in files {
        let file = dir.join(&versioned).join(path);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&file, bytes).expect("write a projected file");
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(fixed_mtime()))
            .expect("set the modification time");
    }
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(&versioned, &tmp).expect("symlink ..data_tmp");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
    for (path, _) in files {
        let top = path.split('/').next().expect("a name");
        if std::fs::symlink_metadata(dir.join(top)).is_err() {
            std::os::unix::fs::symlink(format!("..data/{top}"), dir.join(top)).expect("symlink through ..data");
        }
    }
    if version > 1 {
        std::fs::remove_dir_all(dir.join(format!("..{}", version - 1))).expect("remove the old version");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A webhook process, killed on drop.
struct Webhook {
    child: Child,
    port: u16,
    metrics_port: u16,
    log: PathBuf,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Webhook {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The plain-HTTP listener the probes use.
    fn probe(&self, path: &str) -> Option<String> {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--fail", "--max-time", "5", &format!("http://127.0.0.1:{}{path}", self.metrics_port)]);
        let out = run(curl);
        out.success().then_some(out.stdout)
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.probe("/readyz").is_none() {
            assert!(Instant::now() < deadline, "the webhook never became ready: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn metric(&self, name: &str) -> u64 {
        let metrics = self.probe("/metrics").expect("metrics");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{metrics}"))
    }
}

/// What the API server knows of the webhook: the Service it calls and the CA it trusts.
struct ApiServer {
    host: String,
    ca: PathBuf,
    /// Extra curl arguments (a client certificate).
    client: Vec<String>,
}

impl ApiServer {
    /// From the webhook configuration's `clientConfig`, the caBundle written to a file.
    fn from(env: &TestEnv, objects: &Objects) -> ApiServer {
        let config =
            objects.one("ValidatingWebhookConfiguration").pointer("/webhooks/0/clientConfig").expect("a client config");
        let service = &config["service"];
        let host = format!(
            "{}.{}.svc",
            service["name"].as_str().unwrap_or_default(),
            service["namespace"].as_str().unwrap_or_default()
        );
        let ca = B64.decode(config["caBundle"].as_str().expect("a caBundle")).expect("base64");
        let file = format!("apiserver-trusts-{}.pem", &registry_tests::sha256_hex(&ca)[..12]);
        ApiServer { host, ca: env.write(&file, ca), client: Vec::new() }
    }

    /// curl to `https://HOST:PORT/PATH`, HOST resolved to loopback, trusting only the caBundle.
    fn curl(&self, hook: &Webhook, host: &str, path: &str, body: &Value) -> registry_tests::Run {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "60", "--resolve", &format!("{host}:{}:127.0.0.1", hook.port), "--cacert"]);
        curl.arg(&self.ca).args(&self.client);
        curl.args(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &body.to_string()]);
        curl.arg(format!("https://{host}:{}{path}", hook.port));
        run(curl)
    }

    fn review(&self, hook: &Webhook, path: &str, image: &str) -> Value {
        let out = self.curl(hook, &self.host, path, &review(image));
        assert!(out.success(), "{out}\n{}", hook.log());
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not an AdmissionReview ({e}): {out}"))
    }

    /// (allowed, message) of a /validate review of a Pod running `image`.
    fn verdict(&self, hook: &Webhook, image: &str) -> (bool, String) {
        let answer = self.review(hook, "/validate", image);
        let allowed = answer.pointer("/response/allowed").and_then(Value::as_bool).expect("response.allowed");
        let message = answer.pointer("/response/status/message").and_then(Value::as_str).unwrap_or_default();
        (allowed, message.to_string())
    }
}

fn review(image: &str) -> Value {
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "app", "namespace": "default", "operation": "CREATE",
            "userInfo": {"username": "admin"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default"},
                "spec": {"containers": [{"name": "app", "image": image}]}},
            "dryRun": false
        }
    })
}

/// Pushes the example module to `reference`, signed with `cosign.key` when `signed`.
fn push(env: &TestEnv, reference: &str, signed: bool) -> String {
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    let file = path_str(&env.write("add.wasm", &bytes));
    let pushed = wharf(&["push", &file, reference, "--format", "json"], env);
    pushed.assert_ok();
    if signed {
        wharf(&["sign", reference, "--key", &path_str(&env.path("cosign.key"))], env).assert_ok();
    }
    pushed.json()["digest"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_generated_objects_work_together_and_a_policy_update_reaches_the_pods() {
    let registry = Registry::start();
    let env = keyed_env();
    let host = registry.host();
    let signed = registry.reference("prod/signed:1.0");
    let signed_digest = push(&env, &signed, true);
    let unsigned = registry.reference("prod/unsigned:1.0");
    push(&env, &unsigned, false);
    let sandbox = registry.reference("sandbox/app:1.0");
    let elsewhere = registry.reference("elsewhere/app:1.0");
    let policy = path_str(&write_policy(&env, &host));
    let (_, mut objects) = manifests(&env, &["--policy", &policy, "--image", IMAGE]);
    let apiserver = ApiServer::from(&env, &objects);
    assert_eq!(apiserver.host, "wharf-admission.wharf-system.svc");

    let mut first = Pod::new(&env, "pod-a", &objects);
    let hook = first.start(&env);
    let expected = [
        (signed.as_str(), true, ""),
        (unsigned.as_str(), false, "no signatures found"),
        (sandbox.as_str(), true, ""),
        (elsewhere.as_str(), false, "no rule matches"),
    ];
    for (image, allowed, reason) in expected {
        let (admitted, message) = apiserver.verdict(&hook, image);
        assert_eq!(admitted, allowed, "{image}: {message}");
        assert!(message.contains(reason), "{image}: {message}");
    }
    let answer = apiserver.review(&hook, "/mutate", &signed);
    let patch = answer.pointer("/response/patch").and_then(Value::as_str).expect("a patch");
    let patch: Value = serde_json::from_slice(&B64.decode(patch).expect("base64")).expect("a JSONPatch");
    assert_eq!(patch[0]["value"], format!("{host}/prod/signed@{signed_digest}"));

    // Only the Service's name is in the certificate, and only the caBundle is trusted.
    let other_name = apiserver.curl(&hook, "wharf-admission.elsewhere.svc", "/validate", &review(&signed));
    assert!(!other_name.success() && other_name.stderr.contains("certificate"), "{other_name}");
    let mut system_trust = Command::new("curl");
    system_trust.args(["-sS", "--max-time", "10", "--resolve", &format!("{}:{}:127.0.0.1", apiserver.host, hook.port)]);
    system_trust.arg(format!("https://{}:{}/healthz", apiserver.host, hook.port));
    assert!(!run(system_trust).success(), "the certificate is trusted through the caBundle only");

    // A second pod from the same manifests answers the same.
    let second = Pod::new(&env, "pod-b", &objects);
    let other = second.start(&env);
    for (image, _, _) in expected {
        assert_eq!(apiserver.verdict(&other, image), apiserver.verdict(&hook, image), "{image}");
    }

    // The admin edits the policy (here: the signed rule now covers another path, so prod/ falls to
    // `unmatched: deny`); the kubelet swaps the mounted directory; the verdicts change without a restart.
    let configmap = objects.0.iter_mut().find(|o| o["kind"] == "ConfigMap").expect("the policy's ConfigMap");
    let text = configmap["data"]["policy.yaml"].as_str().expect("the policy").to_string();
    let edited = text.replacen(&format!("{host}/prod/**"), &format!("{host}/prox/**"), 1);
    assert_eq!(edited.len(), text.len(), "the same size: only the swap can tell the versions apart");
    configmap["data"]["policy.yaml"] = json!(edited);
    first.objects = objects.clone();
    let reloads = hook.metric("wharf_admission_policy_reloads_total");
    first.sync();
    let deadline = Instant::now() + Duration::from_secs(20);
    while hook.metric("wharf_admission_policy_reloads_total") == reloads {
        assert!(Instant::now() < deadline, "the policy update never reached the webhook: {}", hook.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (admitted, message) = apiserver.verdict(&hook, &signed);
    assert!(!admitted && message.contains("no rule matches"), "{message}");
    assert!(apiserver.verdict(&hook, &sandbox).0, "the rest of the policy stays");
    assert!(hook.log().contains("policy reloaded (the policy file changed)"), "{}", hook.log());
    assert_eq!(other.metric("wharf_admission_policy_reloads_total"), 0, "the other pod's volume was not updated");
    assert!(apiserver.verdict(&other, &signed).0);
}

/// A CA and an API-server client certificate it issued, made with openssl as an operator does.
struct ClientCa {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn client_ca(env: &TestEnv) -> ClientCa {
    let file = |name: &str| env.path(name);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509"]).args(ec).args(["-days", "2", "-subj", "/CN=apiserver client CA"]);
    cmd.args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    cmd.arg("-keyout").arg(file("client-ca.key")).arg("-out").arg(file("client-ca.crt")).stdin(Stdio::null());
    run(cmd).assert_ok();
    let mut cmd = Command::new("openssl");
    cmd.args(["req"]).args(ec).args(["-subj", "/CN=kube-apiserver"]);
    cmd.arg("-keyout").arg(file("apiserver.key")).arg("-out").arg(file("apiserver.csr")).stdin(Stdio::null());
    run(cmd).assert_ok();
    std::fs::write(file("apiserver.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n").expect("write");
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-req", "-days", "2", "-in"]).arg(file("apiserver.csr"));
    cmd.arg("-CA").arg(file("client-ca.crt")).arg("-CAkey").arg(file("client-ca.key")).arg("-CAcreateserial");
    cmd.arg("-extfile").arg(file("apiserver.ext")).arg("-out").arg(file("apiserver.crt")).stdin(Stdio::null());
    run(cmd).assert_ok();
    ClientCa { ca: file("client-ca.crt"), cert: file("apiserver.crt"), key: file("apiserver.key") }
}

#[test]
fn with_client_ca_only_the_api_servers_certificate_gets_an_answer() {
    let env = keyed_env();
    let policy = path_str(&write_policy(&env, "127.0.0.1:5000"));
    let ca = client_ca(&env);
    let (_, objects) = manifests(&env, &["--policy", &policy, "--image", IMAGE, "--client-ca", &path_str(&ca.ca)]);
    assert_eq!(objects.secret_item("wharf-admission-client-ca", "ca.crt"), std::fs::read(&ca.ca).expect("read"));
    let pod = Pod::new(&env, "pod", &objects);
    let hook = pod.start(&env);
    let mut apiserver = ApiServer::from(&env, &objects);
    let sandbox = "127.0.0.1:5000/sandbox/app:1.0";
    let without = apiserver.curl(&hook, &apiserver.host, "/validate", &review(sandbox));
    assert!(!without.success(), "a client without a certificate was answered: {without}");
    apiserver.client = vec!["--cert".into(), path_str(&ca.cert), "--key".into(), path_str(&ca.key)];
    assert_eq!(apiserver.verdict(&hook, sandbox), (true, String::new()));
}

#[test]
fn a_renewed_serving_certificate_is_served_without_a_restart() {
    let env = keyed_env();
    let policy = path_str(&write_policy(&env, "127.0.0.1:5000"));
    let args = ["--policy", &policy, "--image", IMAGE];
    let (_, objects) = manifests(&env, &args);
    let mut pod = Pod::new(&env, "pod", &objects);
    let hook = pod.start(&env);
    let sandbox = "127.0.0.1:5000/sandbox/app:1.0";
    let before = ApiServer::from(&env, &objects);
    assert!(before.verdict(&hook, sandbox).0);

    // The certificate is renewed (cert-manager writes the Secret, its cainjector the new CA; here a
    // second run's TLS Secret and caBundle): the kubelet swaps the mounted files, the pod keeps running.
    let (_, renewed) = manifests(&env, &args);
    let tls = renewed.get("Secret", "wharf-admission-tls").clone();
    let slot =
        pod.objects.0.iter_mut().find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "wharf-admission-tls");
    *slot.expect("the TLS Secret") = tls;
    pod.sync();
    let after = ApiServer::from(&env, &renewed);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !after.curl(&hook, &after.host, "/validate", &review(sandbox)).success() {
        assert!(Instant::now() < deadline, "the renewed certificate is never served: {}", hook.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(after.verdict(&hook, sandbox).0);
    let old = before.curl(&hook, &before.host, "/validate", &review(sandbox));
    assert!(!old.success(), "the old certificate is no longer served: {old}");
    assert!(hook.log().contains("serving certificate reloaded"), "{}", hook.log());
}

/// Review of issue 14's fixes, finding 1: the API server waits `timeoutSeconds` for the webhook,
/// so a policy that lets one image's review take 20 s gets a webhook that waits for it (with a
/// margin), and a webhook told so; a webhook that cannot answer is refused by the API server
/// (`failurePolicy: Fail`) in both fail modes, since whoever can make it slow or refuse a review
/// would otherwise admit what they like.
#[test]
fn the_webhooks_wait_for_the_policys_budget_and_fail_closed_in_both_fail_modes() {
    let env = keyed_env();
    let policy = write_policy(&env, "registry.example.com");
    let text = std::fs::read_to_string(&policy).expect("the policy");
    std::fs::write(&policy, format!("{text}limits:\n  imageSeconds: 20\n")).expect("write");
    let (_, objects) = manifests(&env, &["--policy", &path_str(&policy), "--image", IMAGE, "--fail-mode", "allow"]);
    for kind in ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"] {
        let hook = objects.one(kind).pointer("/webhooks/0").expect("a webhook");
        assert_eq!(hook["failurePolicy"], "Fail", "{kind}");
        assert_eq!(hook["timeoutSeconds"], 22, "{kind}");
    }
    let args: Vec<&str> =
        objects.container()["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
    let at = args.iter().position(|a| *a == "--webhook-timeout").expect("--webhook-timeout");
    assert_eq!(args[at + 1], "22");
    let at = args.iter().position(|a| *a == "--fail-mode").expect("--fail-mode");
    assert_eq!(args[at + 1], "allow");

    // More than the API server can wait (30 s) is refused, naming the line.
    std::fs::write(&policy, format!("{text}limits:\n  imageSeconds: 29\n")).expect("write");
    let out = wharf(&["admission", "manifests", "--policy", &path_str(&policy), "--image", IMAGE], &env);
    out.assert_failed_cleanly("limits.imageSeconds 29");
}

/// Finding 5: `check: full` holds a component (and parses it) in the pod's memory, so a
/// `componentSize` the generated memory limit cannot hold is refused before anything is written.
#[test]
fn a_component_size_the_pods_memory_cannot_hold_is_refused() {
    let env = keyed_env();
    let policy = write_policy(&env, "registry.example.com");
    let text = std::fs::read_to_string(&policy).expect("the policy");
    std::fs::write(&policy, format!("{text}limits:\n  componentSize: 1073741824\n")).expect("write");
    let out = wharf(&["admission", "manifests", "--policy", &path_str(&policy), "--image", IMAGE], &env);
    out.assert_failed_cleanly("limits.componentSize 1073741824");
    assert!(out.stderr.contains("512Mi"), "{out}");
    std::fs::write(&policy, format!("{text}limits:\n  componentSize: 67108864\n")).expect("write");
    manifests(&env, &["--policy", &path_str(&policy), "--image", IMAGE]);
}
