//! `wharf attest` and `wharf verify-attestation` against a real docker-registry
//! 2.8 (no referrers API: bundles are found through the fallback tag) and OCI
//! layouts. What wharf writes is read back from the registry's own bytes and its
//! DSSE signature checked by OpenSSL over the PAE the DSSE spec defines, and by an
//! independent verifier written from the DSSE and in-toto specs
//! (`peers/intoto_dsse.py`), which also signs an attestation wharf must verify.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use registry_tests::{
    Registry, Run, TestEnv, push_blob, push_manifest, python_peer_in, registry_get, registry_get_json, run_in,
    sha256_digest, wharf,
};
use serde_json::{Value, json};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const DSSE_LAYER: &str = "application/vnd.dsse.envelope.v1+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const CYCLONEDX: &str = "https://cyclonedx.org/bom";

/// A registry, an environment with `WHARF_PASSWORD` set, a pushed component, a key pair.
struct Setup {
    registry: Registry,
    env: TestEnv,
    reference: String,
    digest: String,
    key: String,
    public: String,
}

fn setup() -> Setup {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    let file = env.write("hello.wasm", wharf_examples::build_hello_component().expect("the example"));
    let reference = registry.reference("wasm/hello:1");
    let pushed = wharf(&["push", &file.to_string_lossy(), &reference, "--format", "json"], &env);
    pushed.assert_ok();
    let digest = pushed.json()["digest"].as_str().expect("a digest").to_string();
    wharf(&["key", "generate", "--output", "release"], &env).assert_ok();
    let key = env.path("release.key").to_string_lossy().into_owned();
    let public = env.path("release.pub").to_string_lossy().into_owned();
    Setup { registry, env, reference, digest, key, public }
}

/// An SLSA provenance v1 predicate, as a builder would write it.
fn provenance() -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": { "workflow": { "ref": "refs/tags/v1", "repository": "https://github.com/acme/hello" } },
            "resolvedDependencies": []
        },
        "runDetails": { "builder": { "id": "https://github.com/acme/.github/workflows/release.yml@refs/heads/main" } }
    })
}

impl Setup {
    fn write_predicate(&self, name: &str, predicate: &Value) -> String {
        self.env.write(name, serde_json::to_vec(predicate).expect("JSON")).to_string_lossy().into_owned()
    }

    fn attest(&self, target: &str, predicate: &str, kind: &str, extra: &[&str]) -> Value {
        let mut args = vec!["attest", target, "--predicate", predicate, "--type", kind, "--key", &self.key];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--format", "json"]);
        let run = wharf(&args, &self.env);
        run.assert_ok();
        run.json()
    }

    fn repo(&self) -> &str {
        let path = self.reference.split_once('/').map_or("", |(_, p)| p);
        path.rsplit_once(':').map_or(path, |(r, _)| r)
    }

    fn get_json(&self, path: &str, accept: &str) -> Value {
        registry_get_json(&self.registry.host(), &format!("/v2/{}/{path}", self.repo()), accept).1
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let (status, _, body) =
            registry_get(&self.registry.host(), &format!("/v2/{}/blobs/{digest}", self.repo()), "*/*");
        assert_eq!(status, 200, "blob {digest}");
        body
    }

    fn hex(&self) -> &str {
        &self.digest["sha256:".len()..]
    }
}

/// DSSE's pre-authentication encoding (the DSSE v1 protocol).
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Checks a DSSE envelope with OpenSSL (ECDSA P-256, SHA-256 over the PAE) and
/// returns the in-toto statement it carries.
#[track_caller]
fn open_envelope(env: &TestEnv, public: &str, envelope: &Value) -> Value {
    assert_eq!(envelope["payloadType"], IN_TOTO, "{envelope}");
    let payload = B64.decode(envelope["payload"].as_str().expect("payload")).expect("base64 payload");
    let signatures = envelope["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 1, "{envelope}");
    let signature = B64.decode(signatures[0]["sig"].as_str().expect("sig")).expect("base64 sig");
    let message = env.write("pae.bin", pae(IN_TOTO, &payload));
    let sig = env.write("sig.der", signature);
    let run = run_in(
        "openssl",
        &["dgst", "-sha256", "-verify", public, "-signature", &sig.to_string_lossy(), &message.to_string_lossy()],
        env,
    );
    assert!(run.success() && run.stdout.contains("Verified OK"), "OpenSSL rejects the DSSE signature\n{run}");
    serde_json::from_slice(&payload).expect("the payload is a JSON statement")
}

#[track_caller]
fn assert_statement(statement: &Value, name: &str, digest: &str, predicate_type: &str, predicate: &Value) {
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    let subjects = statement["subject"].as_array().expect("subjects");
    assert_eq!(subjects.len(), 1, "{statement}");
    assert_eq!(subjects[0]["digest"]["sha256"], &digest["sha256:".len()..]);
    assert!(subjects[0]["name"].as_str().is_some_and(|n| n.ends_with(name)), "{statement}");
    assert_eq!(statement["predicateType"], predicate_type);
    assert_eq!(&statement["predicate"], predicate);
}

#[test]
fn attest_pushes_bundle_referrers_in_cosign_v3_layout_and_appends() {
    let s = setup();
    let predicate = provenance();
    let file = s.write_predicate("provenance.json", &predicate);
    let report = s.attest(&s.reference, &file, "slsaprovenance1", &[]);
    assert_eq!((report["digest"].as_str(), report["predicateType"].as_str()), (Some(s.digest.as_str()), Some(SLSA_V1)));
    assert_eq!(report["attestations"][0]["format"], "bundle");
    assert_eq!(report["attestations"][0]["indexed"], "fallback-tag");
    let sbom = s.env.path("hello.cdx.json");
    wharf(&["sbom", &s.reference, "-o", &sbom.to_string_lossy()], &s.env).assert_ok();
    s.attest(&s.reference, &sbom.to_string_lossy(), "cyclonedx", &[]);

    // Both are in the fallback tag's index (docker-registry 2.8 has no referrers API), typed.
    let index = s.get_json(&format!("manifests/sha256-{}", s.hex()), INDEX);
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> =
        entries.iter().filter_map(|e| e["annotations"]["dev.sigstore.bundle.predicateType"].as_str()).collect();
    assert_eq!(types, [SLSA_V1, CYCLONEDX], "appended, in order: {index}");
    for entry in &entries {
        assert_eq!(entry["artifactType"], BUNDLE);
        assert_eq!(entry["annotations"]["dev.sigstore.bundle.content"], "dsse-envelope");
    }

    // The first referrer, byte for byte from the registry: cosign v3's layout, a bundle v0.3
    // whose DSSE signature OpenSSL accepts, over a statement about the manifest digest.
    let referrer = s.get_json(&format!("manifests/{}", entries[0]["digest"].as_str().unwrap_or_default()), MANIFEST);
    assert_eq!(referrer["artifactType"], BUNDLE);
    assert_eq!(referrer["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(referrer["subject"]["digest"], s.digest.as_str());
    assert_eq!(referrer["annotations"]["dev.sigstore.bundle.predicateType"], SLSA_V1);
    let bundle: Value =
        serde_json::from_slice(&s.blob(referrer["layers"][0]["digest"].as_str().unwrap_or_default())).expect("JSON");
    assert_eq!(bundle["mediaType"], BUNDLE);
    assert!(bundle["verificationMaterial"]["publicKey"]["hint"].is_string(), "{bundle}");
    let statement = open_envelope(&s.env, &s.public, &bundle["dsseEnvelope"]);
    assert_statement(&statement, "/wasm/hello", &s.digest, SLSA_V1, &predicate);
}

#[test]
fn legacy_mode_appends_dsse_layers_under_the_att_tag() {
    let s = setup();
    let first = provenance();
    let second = json!({ "buildDefinition": { "buildType": "https://example.com/rebuild/v1" } });
    let (first_file, second_file) = (s.write_predicate("a.json", &first), s.write_predicate("b.json", &second));
    let report = s.attest(&s.reference, &first_file, "slsaprovenance1", &["--mode", "legacy"]);
    let tag = format!("sha256-{}.att", s.hex());
    assert_eq!(report["attestations"][0]["tag"], tag.as_str());
    s.attest(&s.reference, &second_file, SLSA_V1, &["--mode", "legacy"]);
    let manifest = s.get_json(&format!("manifests/{tag}"), MANIFEST);
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(layers.len(), 2, "appended, never replaced: {manifest}");
    for (layer, predicate) in layers.iter().zip([&first, &second]) {
        assert_eq!(layer["mediaType"], DSSE_LAYER);
        assert_eq!(layer["annotations"]["predicateType"], SLSA_V1);
        let envelope: Value =
            serde_json::from_slice(&s.blob(layer["digest"].as_str().unwrap_or_default())).expect("JSON");
        let statement = open_envelope(&s.env, &s.public, &envelope);
        assert_statement(&statement, "/wasm/hello", &s.digest, SLSA_V1, predicate);
    }
    // No referrer was written.
    let (status, _, _) =
        registry_get(&s.registry.host(), &format!("/v2/{}/manifests/sha256-{}", s.repo(), s.hex()), INDEX);
    assert_eq!(status, 404);
}

#[test]
fn attest_writes_both_formats_into_an_oci_layout() {
    let s = setup();
    let layout = format!("oci:{}:hello-1", s.env.path("store").to_string_lossy());
    wharf(&["copy", &s.reference, &layout], &s.env).assert_ok();
    let predicate = provenance();
    let file = s.write_predicate("provenance.json", &predicate);
    let report = s.attest(&layout, &file, "slsaprovenance1", &["--mode", "both"]);
    assert_eq!(report["digest"], s.digest.as_str(), "a copy keeps the digest");
    let written: Vec<&str> = report["attestations"]
        .as_array()
        .expect("attestations")
        .iter()
        .filter_map(|a| a["manifest"].as_str())
        .collect();
    assert_eq!(written.len(), 2);
    let blob = |digest: &str| -> Value {
        let path = s.env.path("store").join("blobs/sha256").join(&digest["sha256:".len()..]);
        serde_json::from_slice(&std::fs::read(&path).expect("a blob of the layout")).expect("JSON")
    };
    let bundle_manifest = blob(written[0]);
    assert_eq!(bundle_manifest["subject"]["digest"], s.digest.as_str());
    let bundle = blob(bundle_manifest["layers"][0]["digest"].as_str().unwrap_or_default());
    assert_statement(
        &open_envelope(&s.env, &s.public, &bundle["dsseEnvelope"]),
        "/store",
        &s.digest,
        SLSA_V1,
        &predicate,
    );
    let att = blob(written[1]);
    let envelope = blob(att["layers"][0]["digest"].as_str().unwrap_or_default());
    assert_statement(&open_envelope(&s.env, &s.public, &envelope), "/store", &s.digest, SLSA_V1, &predicate);
    let index: Value =
        serde_json::from_slice(&std::fs::read(s.env.path("store/index.json")).expect("index.json")).expect("JSON");
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert!(names.contains(&format!("sha256-{}.att", s.hex()).as_str()), "{index}");
}

#[test]
fn bad_predicates_and_types_are_refused_before_anything_is_written() {
    let s = setup();
    let array = s.env.write("array.json", "[1, 2]");
    let text = s.env.write("text.json", "not json");
    let good = s.write_predicate("good.json", &provenance());
    let attest = |predicate: &Path, kind: &str| -> Run {
        wharf(
            &["attest", &s.reference, "--predicate", &predicate.to_string_lossy(), "--type", kind, "--key", &s.key],
            &s.env,
        )
    };
    attest(&array, "slsaprovenance1").assert_failed_cleanly("JSON object");
    attest(&text, "slsaprovenance1").assert_failed_cleanly("not JSON");
    attest(&s.env.path("missing.json"), "slsaprovenance1").assert_failed_cleanly("missing.json");
    attest(Path::new(&good), "slsaprovenance2").assert_failed_cleanly("slsaprovenance1");
    let (status, _, _) =
        registry_get(&s.registry.host(), &format!("/v2/{}/manifests/sha256-{}", s.repo(), s.hex()), INDEX);
    assert_eq!(status, 404, "nothing was written");
}

// ---------------------------------------------------------------------------
// verify-attestation, and the independent verifier and signer
// ---------------------------------------------------------------------------

fn intoto_dsse(env: &TestEnv, args: &[&str]) -> Run {
    python_peer_in("intoto_dsse.py", args, env)
}

/// `wharf verify-attestation REF --type TYPE --key PUB [extra]`.
fn verify_attestation(s: &Setup, target: &str, kind: &str, public: &str, extra: &[&str]) -> Run {
    let mut args = vec!["verify-attestation", target, "--type", kind, "--key", public];
    args.extend_from_slice(extra);
    wharf(&args, &s.env)
}

/// (format, verified, problem) of each attestation a JSON report lists.
fn verdicts(run: &Run) -> Vec<(String, bool, String)> {
    let report = run.json();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    report["attestations"]
        .as_array()
        .map(|all| all.iter().map(|a| (text(&a["format"]), a["verified"] == true, text(&a["problem"]))).collect())
        .unwrap_or_default()
}

fn v(format: &str, ok: bool, problem: &str) -> (String, bool, String) {
    (format.to_string(), ok, problem.to_string())
}

#[test]
fn an_independent_dsse_verifier_accepts_what_wharf_attests_and_rejects_it_altered() {
    let s = setup();
    let predicate = provenance();
    let file = s.write_predicate("provenance.json", &predicate);
    s.attest(&s.reference, &file, "slsaprovenance1", &["--mode", "both"]);
    let index = s.get_json(&format!("manifests/sha256-{}", s.hex()), INDEX);
    let referrer =
        s.get_json(&format!("manifests/{}", index["manifests"][0]["digest"].as_str().unwrap_or_default()), MANIFEST);
    let bundle = s.blob(referrer["layers"][0]["digest"].as_str().unwrap_or_default());
    let att = s.get_json(&format!("manifests/sha256-{}.att", s.hex()), MANIFEST);
    let envelope = s.blob(att["layers"][0]["digest"].as_str().unwrap_or_default());

    let expected = serde_json::to_string(&predicate).expect("JSON");
    for (name, bytes) in [("bundle.json", &bundle), ("envelope.json", &envelope)] {
        let path = s.env.write(name, bytes).to_string_lossy().into_owned();
        let run = intoto_dsse(&s.env, &["verify", &s.public, &s.digest, SLSA_V1, &path]);
        run.assert_ok();
        let printed: Value = serde_json::from_str(run.stdout.trim()).expect("the predicate as JSON");
        assert_eq!(serde_json::to_string(&printed).expect("JSON"), expected, "{name}");
        // The same verifier refuses another type, another digest, and an altered payload.
        intoto_dsse(&s.env, &["verify", &s.public, &s.digest, CYCLONEDX, &path]).assert_code(1);
        let other = sha256_digest(b"another artifact");
        intoto_dsse(&s.env, &["verify", &s.public, &other, SLSA_V1, &path]).assert_code(1);
    }
    let mut altered: Value = serde_json::from_slice(&envelope).expect("JSON");
    let payload = B64.decode(altered["payload"].as_str().unwrap_or_default()).expect("base64");
    let swapped = String::from_utf8(payload).expect("UTF-8").replace("refs/tags/v1", "refs/tags/v2");
    altered["payload"] = Value::String(B64.encode(swapped));
    let path = s.env.write("altered.json", serde_json::to_vec(&altered).expect("JSON"));
    let run = intoto_dsse(&s.env, &["verify", &s.public, &s.digest, SLSA_V1, &path.to_string_lossy()]);
    run.assert_code(1);
    assert!(run.stderr.contains("verifies"), "{run}");
}

#[test]
fn verify_attestation_prints_the_predicates_that_verify_and_fails_on_another_key_or_type() {
    let s = setup();
    let predicate = provenance();
    let file = s.write_predicate("provenance.json", &predicate);
    s.attest(&s.reference, &file, "slsaprovenance1", &[]);
    let sbom = s.env.path("hello.cdx.json");
    wharf(&["sbom", &s.reference, "-o", &sbom.to_string_lossy()], &s.env).assert_ok();
    s.attest(&s.reference, &sbom.to_string_lossy(), "cyclonedx", &["--mode", "legacy"]);
    // An image signature beside them is not an attestation: it is not listed.
    wharf(&["sign", &s.reference, "--key", &s.key], &s.env).assert_ok();
    // And `wharf verify` passes over the attestation referrer: only the signature is judged.
    let signatures = wharf(&["verify", &s.reference, "--key", &s.public, "--format", "json"], &s.env);
    signatures.assert_ok();
    let judged = signatures.json()["signatures"].as_array().map(Vec::len);
    assert_eq!(judged, Some(1), "the attestation is not judged as a signature: {signatures}");

    let text = verify_attestation(&s, &s.reference, "slsaprovenance1", &s.public, &[]);
    text.assert_ok();
    let printed: Vec<Value> =
        text.stdout.lines().map(|l| serde_json::from_str(l).expect("one predicate per line")).collect();
    assert_eq!(printed, std::slice::from_ref(&predicate));

    let json = verify_attestation(&s, &s.reference, "slsaprovenance1", &s.public, &["--format", "json"]);
    json.assert_ok();
    assert_eq!(verdicts(&json), [v("bundle", true, ""), v("legacy", false, "other-predicate-type")]);
    assert_eq!(json.json()["attestations"][0]["predicate"], predicate);
    assert_eq!(json.json()["digest"], s.digest.as_str());

    let sbom_run = verify_attestation(&s, &s.reference, "cyclonedx", &s.public, &["--format", "json"]);
    sbom_run.assert_ok();
    assert_eq!(verdicts(&sbom_run), [v("bundle", false, "other-predicate-type"), v("legacy", true, "")]);
    let expected_sbom: Value = serde_json::from_slice(&std::fs::read(&sbom).expect("the SBOM")).expect("JSON");
    assert_eq!(sbom_run.json()["attestations"][1]["predicate"], expected_sbom);

    wharf(&["key", "generate", "--output", "other"], &s.env).assert_ok();
    let other = s.env.path("other.pub").to_string_lossy().into_owned();
    let wrong_key = verify_attestation(&s, &s.reference, "slsaprovenance1", &other, &["--format", "json"]);
    wrong_key.assert_code(1);
    assert_eq!(verdicts(&wrong_key), [v("bundle", false, "wrong-key"), v("legacy", false, "other-predicate-type")]);
    let wrong_type = verify_attestation(&s, &s.reference, "spdxjson", &s.public, &[]);
    wrong_type.assert_code(1);
    assert!(wrong_type.stdout.is_empty(), "nothing verified, nothing printed: {wrong_type}");
    verify_attestation(&s, &s.reference, "spdx2", &s.public, &[]).assert_failed_cleanly("spdxjson");

    // The same from an OCI layout the artifact was copied into with its attestations written there.
    let layout = format!("oci:{}:hello-1", s.env.path("store").to_string_lossy());
    wharf(&["copy", &s.reference, &layout], &s.env).assert_ok();
    verify_attestation(&s, &layout, "slsaprovenance1", &s.public, &[]).assert_code(1);
    s.attest(&layout, &file, "slsaprovenance1", &["--mode", "both"]);
    let in_layout = verify_attestation(&s, &layout, "slsaprovenance1", &s.public, &["--format", "json"]);
    in_layout.assert_ok();
    assert_eq!(verdicts(&in_layout), [v("bundle", true, ""), v("legacy", true, "")]);
}

#[test]
fn wharf_verifies_an_attestation_signed_by_the_independent_signer_in_cosigns_att_layout() {
    let s = setup();
    let (key, public) = (s.env.path("ossl.key"), s.env.path("ossl.pub"));
    let openssl = |args: &[&str]| run_in("openssl", args, &s.env).assert_ok().clone();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key.to_string_lossy()]);
    openssl(&["pkey", "-in", &key.to_string_lossy(), "-pubout", "-out", &public.to_string_lossy()]);
    let predicate = provenance();
    let predicate_file = s.write_predicate("provenance.json", &predicate);
    let name = format!("{}/{}", s.registry.host(), s.repo());
    let sign = |digest: &str, out: &str| {
        let args = ["sign", &key.to_string_lossy(), &name, digest, SLSA_V1, &predicate_file, out];
        intoto_dsse(&s.env, &args).assert_ok();
        std::fs::read(s.env.path(out)).expect("the envelope")
    };
    let good = sign(&s.digest, "good.json");
    let about_another = sign(&sha256_digest(b"another artifact"), "other.json");

    // cosign's legacy layout, by hand: the envelopes as layers of the manifest under sha256-<hex>.att.
    let (host, repo) = (s.registry.host(), s.repo().to_string());
    let layers: Vec<Value> = [&good, &about_another]
        .iter()
        .map(|bytes| {
            json!({
                "mediaType": DSSE_LAYER, "size": bytes.len(), "digest": push_blob(&host, &repo, bytes),
                "annotations": { "predicateType": SLSA_V1 }
            })
        })
        .collect();
    let config = br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": push_blob(&host, &repo, config) },
        "layers": layers,
    });
    let tag = format!("sha256-{}.att", s.hex());
    push_manifest(&host, &repo, &tag, MANIFEST, &serde_json::to_vec(&manifest).expect("JSON"));

    let run = verify_attestation(&s, &s.reference, "slsaprovenance1", &public.to_string_lossy(), &["--format", "json"]);
    run.assert_ok();
    assert_eq!(verdicts(&run), [v("legacy", true, ""), v("legacy", false, "digest-mismatch")]);
    assert_eq!(run.json()["attestations"][0]["predicate"], predicate);
    // wharf's own key did not sign these.
    let wrong = verify_attestation(&s, &s.reference, "slsaprovenance1", &s.public, &["--format", "json"]);
    wrong.assert_code(1);
    assert_eq!(verdicts(&wrong), [v("legacy", false, "wrong-key"), v("legacy", false, "wrong-key")]);
}

#[test]
fn copy_with_signatures_carries_attestations_in_both_formats_to_registries_and_layouts() {
    let s = setup();
    let predicate = provenance();
    let file = s.write_predicate("provenance.json", &predicate);
    s.attest(&s.reference, &file, "slsaprovenance1", &["--mode", "both"]);
    wharf(&["sign", &s.reference, "--key", &s.key, "--mode", "legacy"], &s.env).assert_ok();

    let other = Registry::start();
    let mirrored = other.reference("mirror/hello:1");
    let layout = format!("oci:{}:hello-1", s.env.path("mirror-layout").to_string_lossy());
    for destination in [&mirrored, &layout] {
        let copied = wharf(&["copy", &s.reference, destination, "--with-signatures", "--format", "json"], &s.env);
        copied.assert_ok();
        let tags = &copied.json()["transfer"]["signatures"]["legacyTags"];
        let expected = json!([format!("sha256-{}.sig", s.hex()), format!("sha256-{}.att", s.hex())]);
        assert_eq!(tags, &expected, "{}", copied.json());
        let there = verify_attestation(&s, destination, "slsaprovenance1", &s.public, &["--format", "json"]);
        there.assert_ok();
        assert_eq!(verdicts(&there), [v("bundle", true, ""), v("legacy", true, "")], "at {destination}");
        assert_eq!(there.json()["attestations"][1]["predicate"], predicate);
    }
}

/// A real GitHub artifact attestation (`actions/attest-build-provenance`: SLSA provenance v1 of a
/// wheel, keyless, public-good Sigstore) attached, in cosign v3's layout, to an OCI layout whose tag
/// `attested` names the wheel's digest (the wheel is not a manifest, which verification never reads):
/// verify-attestation accepts it keyless, prints its provenance, and names a wrong identity or type.
#[test]
fn a_github_artifact_attestation_verifies_keyless_through_verify_attestation() {
    let env = TestEnv::new();
    let fixture = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keyless").join(name);
    let dir = env.path("attested-layout");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256_digest(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).expect("blob");
        (digest, bytes.len())
    };
    let (subject, subject_size) = put(&std::fs::read(fixture("github-attestation-artifact.whl")).expect("fixture"));
    let bundle_bytes = std::fs::read(fixture("github-attestation.sigstore.json")).expect("fixture");
    let (bundle, bundle_size) = put(&bundle_bytes);
    let (empty, _) = put(b"{}");
    let referrer = json!({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": bundle, "size": bundle_size}],
        "subject": {"mediaType": MANIFEST, "digest": subject, "size": subject_size},
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": SLSA_V1}})
    .to_string();
    let (referrer_digest, referrer_size) = put(referrer.as_bytes());
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": referrer_digest, "size": referrer_size, "artifactType": BUNDLE}]})
    .to_string();
    let (index_digest, index_size) = put(index.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let top = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": subject, "size": subject_size,
         "annotations": {"org.opencontainers.image.ref.name": "attested"}},
        {"mediaType": INDEX, "digest": index_digest, "size": index_size,
         "annotations": {"org.opencontainers.image.ref.name": format!("sha256-{}", &subject["sha256:".len()..])}}]});
    std::fs::write(dir.join("index.json"), top.to_string()).expect("index.json");

    let reference = format!("oci:{}:attested", dir.to_string_lossy());
    let root = fixture("trusted-root-public-good.json").to_string_lossy().into_owned();
    let keyless = |kind: &str, identity: &str, format: &str| -> Run {
        let args = [
            "verify-attestation",
            &reference,
            "--type",
            kind,
            "--trusted-root",
            &root,
            "--certificate-identity-regexp",
            identity,
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
            "--format",
            format,
        ];
        wharf(&args, &env)
    };
    let workflow = "https://github\\.com/github/artifact-attestations-workflows/\\.github/workflows/attest\\.yml@.*";
    let ok = keyless("slsaprovenance1", workflow, "json");
    ok.assert_ok();
    let report = ok.json();
    assert_eq!(report["digest"], subject.as_str());
    assert_eq!(verdicts(&ok), [v("bundle", true, "")], "{report}");
    let statement = B64
        .decode(
            serde_json::from_slice::<Value>(&bundle_bytes).expect("JSON")["dsseEnvelope"]["payload"]
                .as_str()
                .unwrap_or_default(),
        )
        .expect("base64");
    let statement: Value = serde_json::from_slice(&statement).expect("the statement");
    assert_eq!(report["attestations"][0]["predicate"], statement["predicate"]);
    assert!(
        report["attestations"][0]["keyless"]["identity"].as_str().is_some_and(|i| i.contains("attest.yml")),
        "{report}"
    );
    let text = keyless("slsaprovenance1", workflow, "text");
    text.assert_ok();
    let printed: Value = serde_json::from_str(text.stdout.trim()).expect("the predicate on stdout");
    assert_eq!(printed, statement["predicate"]);

    let fork = keyless("slsaprovenance1", "https://github\\.com/github/", "json");
    fork.assert_code(1);
    assert_eq!(verdicts(&fork), [v("bundle", false, "wrong-identity")], "{fork}");
    let sbom = keyless("cyclonedx", workflow, "json");
    sbom.assert_code(1);
    assert_eq!(verdicts(&sbom), [v("bundle", false, "other-predicate-type")], "{sbom}");
}

#[test]
fn push_with_sbom_attests_the_sbom_wharf_sbom_writes_and_a_bad_key_pushes_nothing() {
    let s = setup();
    let file = s.env.write("auditable.wasm", wharf_examples::build_auditable_component().expect("the example"));
    let file = file.to_string_lossy().into_owned();
    let reference = s.registry.reference("wasm/auditable:2");
    let pushed = wharf(&["push", &file, &reference, "--sbom", "--key", &s.key, "--format", "json"], &s.env);
    pushed.assert_ok();
    let report = pushed.json();
    let digest = report["digest"].as_str().expect("the push report").to_string();
    assert_eq!(report["sbom"]["digest"], digest.as_str(), "{report}");
    assert_eq!(report["sbom"]["predicateType"], CYCLONEDX, "{report}");

    // What is attested is what `wharf sbom REF` writes for the pushed artifact, byte for byte.
    let written = s.env.path("remote.cdx.json");
    wharf(&["sbom", &reference, "-o", &written.to_string_lossy()], &s.env).assert_ok();
    let expected: Value = serde_json::from_slice(&std::fs::read(&written).expect("the SBOM")).expect("JSON");
    let verified = verify_attestation(&s, &reference, "cyclonedx", &s.public, &["--format", "json"]);
    verified.assert_ok();
    assert_eq!(verdicts(&verified), [v("bundle", true, "")]);
    assert_eq!(verified.json()["attestations"][0]["predicate"], expected);

    // SPDX, into the .att tag too.
    let spdx = wharf(&["push", &file, &reference, "--sbom=spdx", "--sbom-mode", "both", "--key", &s.key], &s.env);
    spdx.assert_ok();
    let both = verify_attestation(&s, &reference, "spdxjson", &s.public, &["--format", "json"]);
    both.assert_ok();
    let found: Vec<(String, bool, String)> = verdicts(&both).into_iter().filter(|(_, ok, _)| *ok).collect();
    assert_eq!(found, [v("bundle", true, ""), v("legacy", true, "")]);

    // A wrong password is refused before anything is pushed.
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "wrong");
    let other = s.registry.reference("wasm/never:1");
    wharf(&["push", &file, &other, "--sbom", "--key", &s.key], &env).assert_failed_cleanly("password");
    let (status, _, _) = registry_get(&s.registry.host(), "/v2/wasm/never/manifests/1", MANIFEST);
    assert_eq!(status, 404, "nothing was pushed");
    // --sbom needs a key.
    wharf(&["push", &file, &other, "--sbom"], &s.env).assert_code(2);
}

#[test]
fn hostile_att_layers_are_each_rejected_with_a_reason_and_never_accepted() {
    let s = setup();
    let (host, repo) = (s.registry.host(), s.repo().to_string());
    let statement = json!({"_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {"sha256": s.hex()}}], "predicateType": SLSA_V1, "predicate": {}});
    let forged_signature = json!({"payloadType": IN_TOTO, "payload": B64.encode(statement.to_string()),
        "signatures": [{"sig": B64.encode(b"not a signature")}]});
    let no_signature = json!({"payloadType": IN_TOTO, "payload": B64.encode(statement.to_string()), "signatures": []});
    let bad_base64 = json!({"payloadType": IN_TOTO, "payload": "%%%", "signatures": [{"sig": "AAAA"}]});
    let bodies: [Vec<u8>; 4] = [
        b"not JSON at all".to_vec(),
        bad_base64.to_string().into_bytes(),
        no_signature.to_string().into_bytes(),
        forged_signature.to_string().into_bytes(),
    ];
    let layers: Vec<Value> = bodies
        .iter()
        .map(|body| json!({"mediaType": DSSE_LAYER, "size": body.len(), "digest": push_blob(&host, &repo, body)}))
        .collect();
    let config = b"{}";
    let manifest = json!({"schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": push_blob(&host, &repo, config)},
        "layers": layers});
    push_manifest(&host, &repo, &format!("sha256-{}.att", s.hex()), MANIFEST, manifest.to_string().as_bytes());

    let run = verify_attestation(&s, &s.reference, "slsaprovenance1", &s.public, &["--format", "json"]);
    run.assert_code(1);
    let found = verdicts(&run);
    assert_eq!(found, vec![v("legacy", false, "malformed"); 4], "{}", run.json());
    let reasons: Vec<String> = run.json()["attestations"]
        .as_array()
        .map(|all| all.iter().map(|a| a["reason"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default();
    for (reason, names) in reasons.iter().zip(["not JSON", "not base64", "0 signatures", "not a well-formed"]) {
        assert!(reason.contains(names), "{reason:?} should say {names:?}");
    }
    let text = verify_attestation(&s, &s.reference, "slsaprovenance1", &s.public, &[]);
    text.assert_code(1);
    assert!(text.stdout.is_empty(), "nothing verified, nothing printed: {text}");
    assert_eq!(text.stderr.matches("rejected").count(), 4, "{text}");
}

/// The attestation label `wharf verify` passes over is unsigned, so it fails closed: a real
/// signature whose listing in the fallback index is relabelled as an SLSA provenance is passed
/// over, and verification fails (exit 1) instead of passing on it; with the label removed again it
/// verifies.
#[test]
fn a_signature_relabelled_as_an_attestation_is_passed_over_and_verification_fails() {
    let s = setup();
    wharf(&["sign", &s.reference, "--key", &s.key], &s.env).assert_ok();
    let tag = format!("sha256-{}", s.hex());
    let original = s.get_json(&format!("manifests/{tag}"), INDEX);
    let verify = || wharf(&["verify", &s.reference, "--key", &s.public, "--format", "json"], &s.env);
    verify().assert_ok();

    let mut relabelled = original.clone();
    relabelled["manifests"][0]["annotations"]["dev.sigstore.bundle.predicateType"] = json!(SLSA_V1);
    push_manifest(&s.registry.host(), s.repo(), &tag, INDEX, relabelled.to_string().as_bytes());
    let passed_over = verify();
    passed_over.assert_code(1);
    assert_eq!(passed_over.json()["signatures"].as_array().map(Vec::len), Some(0), "{passed_over}");

    push_manifest(&s.registry.host(), s.repo(), &tag, INDEX, original.to_string().as_bytes());
    verify().assert_ok();
}
