//! `wharf key generate`, `wharf sign` and `wharf verify` against a real
//! docker-registry 2.8 (no referrers API, so the fallback tag is used), with
//! an independent implementation (OpenSSL) checking wharf's signatures over
//! the exact bytes cosign signs, and OpenSSL-made signatures checked by wharf.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use registry_tests::{
    Registry, Run, TestEnv, push_blob, push_manifest, registry_get, registry_get_json, run_in, sha256_digest, wharf,
};
use serde_json::{Value, json};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// A registry, an environment with `WHARF_PASSWORD` set, and a pushed component.
struct Setup {
    registry: Registry,
    env: TestEnv,
    reference: String,
    digest: String,
}

fn setup(repo_and_tag: &str) -> Setup {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    env.set_var("WHARF_PASSWORD", "correct horse");
    let bytes = wharf_examples::build_hello_module().expect("build the example module");
    let file = env.write("add.wasm", &bytes);
    let reference = registry.reference(repo_and_tag);
    let pushed = wharf(&["push", &file.to_string_lossy(), &reference, "--format", "json"], &env);
    pushed.assert_ok();
    let digest = pushed.json()["digest"].as_str().unwrap_or_default().to_string();
    Setup { registry, env, reference, digest }
}

impl Setup {
    fn key(&self, prefix: &str) -> (String, String) {
        wharf(&["key", "generate", "--output", prefix], &self.env).assert_ok();
        (self.path(&format!("{prefix}.key")), self.path(&format!("{prefix}.pub")))
    }

    fn path(&self, name: &str) -> String {
        self.env.path(name).to_string_lossy().into_owned()
    }

    fn sign(&self, key: &str, extra: &[&str]) -> Value {
        let mut args = vec!["sign", &self.reference, "--key", key, "--format", "json"];
        args.extend_from_slice(extra);
        let run = wharf(&args, &self.env);
        run.assert_ok();
        run.json()
    }

    fn verify(&self, public: &str, extra: &[&str]) -> Run {
        let mut args = vec!["verify", &self.reference, "--key", public, "--format", "json"];
        args.extend_from_slice(extra);
        wharf(&args, &self.env)
    }

    fn repo(&self) -> &str {
        let path = self.reference.split_once('/').map_or("", |(_, p)| p);
        path.rsplit_once(':').map_or(path, |(r, _)| r)
    }

    fn get(&self, path: &str, accept: &str) -> (u16, Vec<u8>) {
        let (status, _, body) = registry_get(&self.registry.host(), path, accept);
        (status, body)
    }

    fn get_json(&self, path: &str, accept: &str) -> Value {
        registry_get_json(&self.registry.host(), path, accept).1
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let (status, body) = self.get(&format!("/v2/{}/blobs/{digest}", self.repo()), "*/*");
        assert_eq!(status, 200, "blob {digest}");
        body
    }

    fn hex(&self) -> &str {
        &self.digest["sha256:".len()..]
    }
}

fn verdicts(run: &Run) -> Vec<(String, bool, String)> {
    run.json()["signatures"]
        .as_array()
        .map(|sigs| {
            sigs.iter()
                .map(|s| {
                    (
                        s["format"].as_str().unwrap_or_default().to_string(),
                        s["verified"].as_bool().unwrap_or_default(),
                        s["problem"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn v(format: &str, ok: bool, problem: &str) -> (String, bool, String) {
    (format.to_string(), ok, problem.to_string())
}

#[test]
fn bundle_signatures_are_referrers_in_the_fallback_tag_and_verify() {
    let s = setup("wasm/add:1");
    let (key, public) = s.key("release");
    let report = s.sign(&key, &[]);
    assert_eq!(report["digest"], s.digest.as_str());
    assert_eq!(report["signatures"][0]["format"], "bundle");
    assert_eq!(report["signatures"][0]["indexed"], "fallback-tag");

    // docker-registry 2.8 has no referrers API...
    let (status, _) = s.get(&format!("/v2/{}/referrers/{}", s.repo(), s.digest), INDEX);
    assert_eq!(status, 404);
    // ...so the fallback tag holds the index, with artifactType and annotations copied up.
    let index = s.get_json(&format!("/v2/{}/manifests/sha256-{}", s.repo(), s.hex()), INDEX);
    assert_eq!(index["mediaType"], INDEX);
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(entries[0]["artifactType"], BUNDLE);
    assert_eq!(entries[0]["annotations"]["dev.sigstore.bundle.content"], "dsse-envelope");
    assert_eq!(entries[0]["annotations"]["dev.sigstore.bundle.predicateType"], "https://sigstore.dev/cosign/sign/v1");

    // The referrer manifest in cosign v3's layout.
    let referrer_digest = entries[0]["digest"].as_str().unwrap_or_default();
    let referrer = s.get_json(&format!("/v2/{}/manifests/{referrer_digest}", s.repo()), MANIFEST);
    assert_eq!(referrer["artifactType"], BUNDLE);
    assert_eq!(referrer["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(referrer["config"]["digest"], sha256_digest(b"{}"));
    assert_eq!(referrer["subject"]["digest"], s.digest.as_str());
    assert_eq!(referrer["subject"]["mediaType"], MANIFEST);
    assert_eq!(referrer["layers"][0]["mediaType"], BUNDLE);
    assert!(referrer["annotations"]["org.opencontainers.image.created"].as_str().is_some_and(|t| t.ends_with('Z')));
    let bundle: Value = serde_json::from_slice(&s.blob(referrer["layers"][0]["digest"].as_str().unwrap_or_default()))
        .expect("bundle JSON");
    assert_eq!(bundle["mediaType"], BUNDLE);
    assert_eq!(bundle["dsseEnvelope"]["payloadType"], "application/vnd.in-toto+json");
    assert!(bundle["verificationMaterial"]["publicKey"]["hint"].is_string());

    let ok = s.verify(&public, &[]);
    ok.assert_ok();
    assert_eq!(verdicts(&ok), [v("bundle", true, "")]);

    let (_, other_public) = s.key("other");
    let wrong = s.verify(&other_public, &[]);
    wrong.assert_code(1);
    assert_eq!(verdicts(&wrong), [v("bundle", false, "wrong-key")]);
}

#[test]
fn legacy_signatures_use_cosigns_payload_bytes_and_append() {
    let s = setup("wasm/add:1");
    let (a_key, a_pub) = s.key("a");
    let (b_key, b_pub) = s.key("b");
    s.sign(&a_key, &["--mode", "legacy"]);
    let second = s.sign(&b_key, &["--mode", "legacy"]);
    assert_eq!(second["signatures"][0]["signaturesInManifest"], 2);

    let sig = s.get_json(&format!("/v2/{}/manifests/sha256-{}.sig", s.repo(), s.hex()), MANIFEST);
    let layers = sig["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(layers.len(), 2, "the second signature is appended, the first kept: {sig}");
    let expected = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{}/{}"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
        s.registry.host(),
        s.repo(),
        s.digest
    );
    for layer in &layers {
        assert_eq!(layer["mediaType"], SIMPLE_SIGNING);
        assert!(layer["annotations"]["dev.cosignproject.cosign/signature"].is_string());
        let body = s.blob(layer["digest"].as_str().unwrap_or_default());
        assert_eq!(String::from_utf8_lossy(&body), expected);
    }

    // Two signers: both listed, one accepted per key.
    let by_a = s.verify(&a_pub, &[]);
    by_a.assert_ok();
    assert_eq!(verdicts(&by_a), [v("legacy", true, ""), v("legacy", false, "wrong-key")]);
    let by_b = s.verify(&b_pub, &[]);
    by_b.assert_ok();
    assert_eq!(verdicts(&by_b), [v("legacy", false, "wrong-key"), v("legacy", true, "")]);
}

#[test]
fn both_modes_with_annotations_and_a_repushed_tag_fails() {
    let s = setup("wasm/add:1");
    let (key, public) = s.key("k");
    let report = s.sign(&key, &["--mode", "both", "-a", "env=prod"]);
    assert_eq!(report["signatures"].as_array().map(Vec::len), Some(2));
    let ok = s.verify(&public, &["-a", "env=prod"]);
    ok.assert_ok();
    assert_eq!(verdicts(&ok), [v("bundle", true, ""), v("legacy", true, "")]);
    let missing = s.verify(&public, &["-a", "team=web"]);
    missing.assert_code(1);
    assert_eq!(
        verdicts(&missing),
        [v("bundle", false, "missing-annotation"), v("legacy", false, "missing-annotation")]
    );

    // Other content pushed to the same tag: the signatures are of the old digest.
    let other = wharf_examples::build_hello_component().expect("build the example component");
    let file = s.env.write("hello.wasm", &other);
    wharf(&["push", &file.to_string_lossy(), &s.reference], &s.env).assert_ok();
    let after = s.verify(&public, &[]);
    after.assert_code(1);
    assert!(after.json()["signatures"].as_array().is_some_and(Vec::is_empty), "{after}");
    assert!(after.stderr.is_empty() || !after.stderr.contains("error:"), "{after}");
    // The old digest still verifies.
    let pinned = format!("{}@{}", s.reference.rsplit_once(':').map_or("", |(r, _)| r), s.digest);
    wharf(&["verify", &pinned, "--key", &public], &s.env).assert_ok();
}

#[test]
fn a_key_file_written_by_cosign_signs_and_the_password_never_leaks() {
    let mut s = setup("wasm/add:1");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cosign/sigstore-labelled.key");
    let key_text = std::fs::read(&fixture).expect("fixture");
    let public = wharf::sign::PrivateKey::from_pem("fixture", &key_text, b"hello").expect("fixture loads").public_key();
    let public_path = s.env.write("cosign-fixture.pub", public.to_pem());

    let wrong = wharf(&["sign", &s.reference, "--key", &fixture.to_string_lossy()], &s.env);
    wrong.assert_code(2);
    assert!(wrong.stderr.contains("password is wrong"), "{wrong}");
    assert!(!wrong.stderr.contains("correct horse") && !wrong.stdout.contains("correct horse"), "{wrong}");

    s.env.set_var("WHARF_PASSWORD", "").set_var("COSIGN_PASSWORD", "hello");
    let wrong_empty = wharf(&["sign", &s.reference, "--key", &fixture.to_string_lossy()], &s.env);
    wrong_empty.assert_code(2); // WHARF_PASSWORD wins, even empty
    let mut env = TestEnv::new();
    env.set_var("COSIGN_PASSWORD", "hello");
    wharf(&["sign", &s.reference, "--key", &fixture.to_string_lossy(), "--mode", "both"], &env).assert_ok();
    let ok = wharf(&["verify", &s.reference, "--key", &public_path.to_string_lossy(), "--format", "json"], &env);
    ok.assert_ok();
    assert_eq!(verdicts(&ok), [v("bundle", true, ""), v("legacy", true, "")]);
}

// ---------------------------------------------------------------------------
// OpenSSL as the independent implementation
// ---------------------------------------------------------------------------

fn openssl(env: &TestEnv, args: &[&str]) -> Run {
    let run = run_in("openssl", args, env);
    run.assert_ok();
    run
}

/// An unencrypted PKCS#8 P-256 key and its PKIX public key, made by OpenSSL.
fn openssl_key_pair(env: &TestEnv) -> (PathBuf, PathBuf) {
    let (key, public) = (env.path("ossl.key"), env.path("ossl.pub"));
    openssl(
        env,
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key.to_string_lossy()],
    );
    openssl(env, &["pkey", "-in", &key.to_string_lossy(), "-pubout", "-out", &public.to_string_lossy()]);
    (key, public)
}

/// `openssl dgst -sha256 -verify` of `signature` (DER) over `message`.
fn openssl_verifies(env: &TestEnv, public: &Path, message: &[u8], signature: &[u8]) -> bool {
    let (m, sig) = (env.write("message.bin", message), env.write("signature.der", signature));
    let run = run_in(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            &public.to_string_lossy(),
            "-signature",
            &sig.to_string_lossy(),
            &m.to_string_lossy(),
        ],
        env,
    );
    run.success() && run.stdout.contains("Verified OK")
}

fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

#[test]
fn openssl_verifies_what_wharf_signs_with_an_openssl_key() {
    let s = setup("wasm/add:1");
    let (key, public) = openssl_key_pair(&s.env);
    s.sign(&key.to_string_lossy(), &["--mode", "both"]);
    let ok = s.verify(&public.to_string_lossy(), &[]);
    ok.assert_ok();

    // Legacy: the signature annotation is DER ECDSA-SHA256 over the payload blob.
    let sig = s.get_json(&format!("/v2/{}/manifests/sha256-{}.sig", s.repo(), s.hex()), MANIFEST);
    let layer = &sig["layers"][0];
    let body = s.blob(layer["digest"].as_str().unwrap_or_default());
    let signature = B64
        .decode(layer["annotations"]["dev.cosignproject.cosign/signature"].as_str().unwrap_or_default())
        .expect("base64 signature");
    assert!(openssl_verifies(&s.env, &public, &body, &signature), "OpenSSL rejects the legacy signature");
    let mut flipped = body.clone();
    flipped[10] ^= 1;
    assert!(!openssl_verifies(&s.env, &public, &flipped, &signature));

    // Bundle: the DSSE signature is over PAE(payloadType, payload), computed here independently.
    let index = s.get_json(&format!("/v2/{}/manifests/sha256-{}", s.repo(), s.hex()), INDEX);
    let referrer = s.get_json(
        &format!("/v2/{}/manifests/{}", s.repo(), index["manifests"][0]["digest"].as_str().unwrap_or_default()),
        MANIFEST,
    );
    let bundle: Value =
        serde_json::from_slice(&s.blob(referrer["layers"][0]["digest"].as_str().unwrap_or_default())).expect("bundle");
    let envelope = &bundle["dsseEnvelope"];
    let payload = B64.decode(envelope["payload"].as_str().unwrap_or_default()).expect("payload");
    let signature = B64.decode(envelope["signatures"][0]["sig"].as_str().unwrap_or_default()).expect("sig");
    let message = pae(envelope["payloadType"].as_str().unwrap_or_default(), &payload);
    assert!(openssl_verifies(&s.env, &public, &message, &signature), "OpenSSL rejects the DSSE signature");
    let statement: Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], s.hex());
    assert_eq!(statement["predicateType"], "https://sigstore.dev/cosign/sign/v1");
    // The key hint is base64(SHA-256(PKIX DER)), the DER as OpenSSL writes it.
    let der = s.env.path("ossl.pub.der");
    openssl(
        &s.env,
        &["pkey", "-pubin", "-in", &public.to_string_lossy(), "-outform", "DER", "-out", &der.to_string_lossy()],
    );
    let hint = B64.encode(sha2_digest(&std::fs::read(&der).expect("der")));
    assert_eq!(bundle["verificationMaterial"]["publicKey"]["hint"], hint.as_str());
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

#[test]
fn wharf_verifies_signatures_made_by_openssl_in_cosigns_layouts() {
    let s = setup("wasm/add:1");
    let (key, public) = openssl_key_pair(&s.env);
    let host = s.registry.host();
    let sign_with_openssl = |message: &[u8]| -> Vec<u8> {
        let m = s.env.write("to-sign.bin", message);
        let out = s.env.path("made.der");
        openssl(
            &s.env,
            &["dgst", "-sha256", "-sign", &key.to_string_lossy(), "-out", &out.to_string_lossy(), &m.to_string_lossy()],
        );
        std::fs::read(out).expect("signature")
    };
    let empty = push_blob(&host, s.repo(), b"{}");

    // A legacy `.sig` manifest built by hand, signed by OpenSSL.
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{host}/{}"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":{{"by":"openssl"}}}}"#,
        s.repo(),
        s.digest
    );
    let layer = push_blob(&host, s.repo(), payload.as_bytes());
    let sig_manifest = json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": SIMPLE_SIGNING, "digest": layer, "size": payload.len(),
                    "annotations": {"dev.cosignproject.cosign/signature": B64.encode(sign_with_openssl(payload.as_bytes()))}}],
    });
    let sig_tag = format!("sha256-{}.sig", s.hex());
    push_manifest(&host, s.repo(), &sig_tag, MANIFEST, sig_manifest.to_string().as_bytes());

    // A bundle referrer built by hand, signed by OpenSSL, listed in the fallback index
    // the way old cosign wrote it: no artifactType on the entry.
    let statement = json!({"_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": s.hex()}, "annotations": {"by": "openssl"}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}})
    .to_string();
    let signature = sign_with_openssl(&pae("application/vnd.in-toto+json", statement.as_bytes()));
    let bundle = json!({"mediaType": BUNDLE, "verificationMaterial": {"publicKey": {"hint": "not-checked"}},
        "dsseEnvelope": {"payload": B64.encode(&statement), "payloadType": "application/vnd.in-toto+json",
                         "signatures": [{"sig": B64.encode(&signature), "keyid": ""}]}})
    .to_string();
    let bundle_digest = push_blob(&host, s.repo(), bundle.as_bytes());
    let subject_size = registry_get(&host, &format!("/v2/{}/manifests/{}", s.repo(), s.digest), MANIFEST).2.len();
    let referrer = json!({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": bundle_digest, "size": bundle.len()}],
        "subject": {"mediaType": MANIFEST, "digest": s.digest, "size": subject_size}})
    .to_string();
    let referrer_digest =
        push_manifest(&host, s.repo(), &sha256_digest(referrer.as_bytes()), MANIFEST, referrer.as_bytes());
    let index = json!({"schemaVersion": 2, "mediaType": INDEX,
        "manifests": [{"mediaType": MANIFEST, "digest": referrer_digest, "size": referrer.len()}]})
    .to_string();
    push_manifest(&host, s.repo(), &format!("sha256-{}", s.hex()), INDEX, index.as_bytes());

    let ok = s.verify(&public.to_string_lossy(), &["-a", "by=openssl"]);
    ok.assert_ok();
    assert_eq!(verdicts(&ok), [v("bundle", true, ""), v("legacy", true, "")]);
    // And wharf's own signature is added to the fallback index next to it, not instead of it.
    let (wharf_key, _) = s.key("w");
    s.sign(&wharf_key, &[]);
    let index = s.get_json(&format!("/v2/{}/manifests/sha256-{}", s.repo(), s.hex()), INDEX);
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(2), "{index}");
}

#[test]
fn unreadable_keys_and_references_exit_2() {
    let s = setup("wasm/add:1");
    let missing = s.verify(&s.path("nope.pub"), &[]);
    missing.assert_code(2);
    let (key, _) = s.key("k");
    let private_as_public = s.verify(&key, &[]);
    private_as_public.assert_code(2);
    assert!(private_as_public.stderr.contains(".pub"), "{private_as_public}");
    let unsigned = s.verify(&s.path("k.pub"), &[]);
    unsigned.assert_code(1);
    assert!(unsigned.json()["signatures"].as_array().is_some_and(Vec::is_empty));
}

// ---------------------------------------------------------------------------
// sigstore-rs (crate `sigstore`, the cosign implementation in Rust) as the
// independent implementation: key files both ways, signatures both ways
// ---------------------------------------------------------------------------

use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature as SigstoreSignature, SigningScheme};

fn sigstore_key(public_pem: &str) -> CosignVerificationKey {
    CosignVerificationKey::try_from_pem(public_pem.as_bytes()).expect("sigstore-rs reads the public key")
}

#[test]
fn sigstore_rs_reads_wharfs_key_files_and_verifies_wharfs_signatures() {
    let s = setup("wasm/add:1");
    let (key, public) = s.key("w");
    let key_pair = SigStoreKeyPair::from_encrypted_pem(&std::fs::read(&key).expect("key"), b"correct horse")
        .expect("sigstore-rs decrypts wharf's ENCRYPTED SIGSTORE PRIVATE KEY");
    let public_pem = std::fs::read_to_string(&public).expect("pub");
    // The same key (sigstore-rs writes CRLF line ends).
    assert_eq!(key_pair.public_key_to_pem().expect("pem").replace("\r\n", "\n").trim(), public_pem.trim());
    assert!(SigStoreKeyPair::from_encrypted_pem(&std::fs::read(&key).expect("key"), b"wrong").is_err());

    s.sign(&key, &["--mode", "both"]);
    let verifier = sigstore_key(&public_pem);
    let sig = s.get_json(&format!("/v2/{}/manifests/sha256-{}.sig", s.repo(), s.hex()), MANIFEST);
    let layer = &sig["layers"][0];
    let body = s.blob(layer["digest"].as_str().unwrap_or_default());
    let annotation = layer["annotations"]["dev.cosignproject.cosign/signature"].as_str().unwrap_or_default();
    verifier
        .verify_signature(SigstoreSignature::Base64Encoded(annotation.as_bytes()), &body)
        .expect("sigstore-rs verifies the legacy signature");

    let index = s.get_json(&format!("/v2/{}/manifests/sha256-{}", s.repo(), s.hex()), INDEX);
    let referrer = s.get_json(
        &format!("/v2/{}/manifests/{}", s.repo(), index["manifests"][0]["digest"].as_str().unwrap_or_default()),
        MANIFEST,
    );
    let bundle: Value =
        serde_json::from_slice(&s.blob(referrer["layers"][0]["digest"].as_str().unwrap_or_default())).expect("bundle");
    let envelope = &bundle["dsseEnvelope"];
    let payload = B64.decode(envelope["payload"].as_str().unwrap_or_default()).expect("payload");
    let message = pae(envelope["payloadType"].as_str().unwrap_or_default(), &payload);
    let dsse_sig = envelope["signatures"][0]["sig"].as_str().unwrap_or_default();
    verifier
        .verify_signature(SigstoreSignature::Base64Encoded(dsse_sig.as_bytes()), &message)
        .expect("sigstore-rs verifies the DSSE signature");
    let mut tampered = message.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    assert!(verifier.verify_signature(SigstoreSignature::Base64Encoded(dsse_sig.as_bytes()), &tampered).is_err());
}

#[test]
fn wharf_signs_with_a_sigstore_rs_key_file_and_verifies_sigstore_rs_signatures() {
    let mut s = setup("wasm/add:1");
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer().expect("sigstore-rs makes a key");
    let key_pair = signer.to_sigstore_keypair().expect("key pair");
    let key_file =
        s.env.write("sigstore-rs.key", key_pair.private_key_to_encrypted_pem(b"from-rust").expect("pem").as_bytes());
    let pub_file = s.env.write("sigstore-rs.pub", key_pair.public_key_to_pem().expect("pem"));
    s.env.set_var("WHARF_PASSWORD", "from-rust");
    s.sign(&key_file.to_string_lossy(), &["--mode", "both"]);
    let ok = s.verify(&pub_file.to_string_lossy(), &[]);
    ok.assert_ok();
    assert_eq!(verdicts(&ok), [v("bundle", true, ""), v("legacy", true, "")]);

    // A simple-signing payload signed by sigstore-rs, appended by hand to wharf's `.sig` manifest.
    let host = s.registry.host();
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{host}/{}"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":{{"by":"sigstore-rs"}}}}"#,
        s.repo(),
        s.digest
    );
    let signature = signer.sign(payload.as_bytes()).expect("sigstore-rs signs");
    let layer_digest = push_blob(&host, s.repo(), payload.as_bytes());
    let sig_tag = format!("sha256-{}.sig", s.hex());
    let mut manifest = s.get_json(&format!("/v2/{}/manifests/{sig_tag}", s.repo()), MANIFEST);
    if let Some(layers) = manifest["layers"].as_array_mut() {
        layers.push(json!({"mediaType": SIMPLE_SIGNING, "digest": layer_digest, "size": payload.len(),
            "annotations": {"dev.cosignproject.cosign/signature": B64.encode(&signature)}}));
    }
    push_manifest(&host, s.repo(), &sig_tag, MANIFEST, manifest.to_string().as_bytes());
    let by_sigstore = s.verify(&pub_file.to_string_lossy(), &["-a", "by=sigstore-rs"]);
    by_sigstore.assert_ok();
    assert_eq!(
        verdicts(&by_sigstore),
        [v("bundle", false, "missing-annotation"), v("legacy", false, "missing-annotation"), v("legacy", true, "")]
    );
}

#[test]
fn copy_with_signatures_carries_bundles_and_sig_tags_between_registries_and_layouts() {
    let s = setup("wasm/add:1");
    let (key, public) = s.key("k");
    s.sign(&key, &["--mode", "both", "-a", "env=prod"]);
    let b = Registry::start();
    let ok_both = [v("bundle", true, ""), v("legacy", true, "")];
    let verify_at =
        |reference: &str| wharf(&["verify", reference, "--key", &public, "-a", "env=prod", "--format", "json"], &s.env);

    // Without the flag, only the artifact moves.
    let bare = b.reference("plain/add:1");
    wharf(&["copy", &s.reference, &bare], &s.env).assert_ok();
    let unsigned = wharf(&["verify", &bare, "--key", &public], &s.env);
    unsigned.assert_code(1);
    assert!(unsigned.stderr.contains("no signatures"), "{unsigned}");

    // registry -> registry (B has no referrers API: the fallback index is rebuilt there).
    let mirrored = b.reference("mirror/add:1");
    let copied = wharf(&["copy", &s.reference, &mirrored, "--with-signatures", "--format", "json"], &s.env);
    copied.assert_ok();
    let report = copied.json();
    let signatures = &report["transfer"]["signatures"];
    assert_eq!(signatures["referrers"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(signatures["referrers"][0]["indexed"], "fallback-tag", "{report}");
    assert_eq!(signatures["legacyTags"], json!([format!("sha256-{}.sig", s.hex())]), "{report}");
    let at_b = verify_at(&mirrored);
    at_b.assert_ok();
    assert_eq!(verdicts(&at_b), ok_both);
    let (status, _, body) = registry_get(&b.host(), &format!("/v2/mirror/add/manifests/sha256-{}", s.hex()), INDEX);
    assert_eq!(status, 200, "fallback index at B: {}", String::from_utf8_lossy(&body));
    let index: Value = serde_json::from_slice(&body).expect("index JSON");
    assert_eq!(index["manifests"][0]["artifactType"], BUNDLE, "{index}");

    // A second copy is idempotent: the entry is not listed twice.
    let again = wharf(&["copy", &s.reference, &mirrored, "--with-signatures", "--format", "json"], &s.env);
    again.assert_ok();
    assert_eq!(again.json()["transfer"]["signatures"]["referrers"][0]["indexed"], "already-listed");
    assert_eq!(verdicts(&verify_at(&mirrored)), ok_both);

    // registry -> layout.
    let layout = format!("oci:{}:add-1", s.path("mirror-layout"));
    wharf(&["copy", &s.reference, &layout, "--with-signatures"], &s.env).assert_ok();
    let in_layout = verify_at(&layout);
    in_layout.assert_ok();
    assert_eq!(verdicts(&in_layout), ok_both);

    // layout -> registry.
    let back = b.reference("from-layout/add:1");
    wharf(&["copy", &layout, &back, "--with-signatures"], &s.env).assert_ok();
    let at_back = verify_at(&back);
    at_back.assert_ok();
    assert_eq!(verdicts(&at_back), ok_both);
}

#[test]
fn ed25519_keys_made_by_openssl_sign_ed25519ph_and_pure_ed25519_signatures_verify() {
    let s = setup("wasm/add:1");
    let (key, public) = (s.env.path("ed.key"), s.env.path("ed.pub"));
    openssl(&s.env, &["genpkey", "-algorithm", "ed25519", "-out", &key.to_string_lossy()]);
    openssl(&s.env, &["pkey", "-in", &key.to_string_lossy(), "-pubout", "-out", &public.to_string_lossy()]);
    s.sign(&key.to_string_lossy(), &["--mode", "both"]);
    let ok = s.verify(&public.to_string_lossy(), &[]);
    ok.assert_ok();
    assert_eq!(verdicts(&ok), [v("bundle", true, ""), v("legacy", true, "")]);
    // An ECDSA key does not verify Ed25519 signatures.
    let (_, ecdsa_public) = openssl_key_pair(&s.env);
    let other = s.verify(&ecdsa_public.to_string_lossy(), &[]);
    other.assert_code(1);
    assert_eq!(verdicts(&other), [v("bundle", false, "wrong-key"), v("legacy", false, "wrong-key")]);

    // wharf signs Ed25519ph (as cosign does), which OpenSSL 3.0 cannot check; what cosign
    // before 2.3 wrote, pure Ed25519, is made here by OpenSSL and must verify too.
    let sig_tag = format!("sha256-{}.sig", s.hex());
    let mut manifest = s.get_json(&format!("/v2/{}/manifests/{sig_tag}", s.repo()), MANIFEST);
    let body = s.blob(manifest["layers"][0]["digest"].as_str().unwrap_or_default());
    let (m, out) = (s.env.write("payload.json", &body), s.env.path("pure.sig"));
    openssl(
        &s.env,
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-inkey",
            &key.to_string_lossy(),
            "-in",
            &m.to_string_lossy(),
            "-out",
            &out.to_string_lossy(),
        ],
    );
    let pure = std::fs::read(&out).expect("signature");
    let ph = manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"].clone();
    assert_ne!(ph.as_str(), Some(B64.encode(&pure).as_str()), "Ed25519ph and pure Ed25519 differ");
    manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = json!(B64.encode(&pure));
    push_manifest(&s.registry.host(), s.repo(), &sig_tag, MANIFEST, manifest.to_string().as_bytes());
    let legacy = s.verify(&public.to_string_lossy(), &[]);
    legacy.assert_ok();
    assert_eq!(verdicts(&legacy), [v("bundle", true, ""), v("legacy", true, "")]);
}

fn keyless_fixture(name: &str) -> PathBuf {
    registry_tests::workspace_dir().join("registry-tests/fixtures/keyless").join(name)
}

/// Attaches `bundle` to the setup's artifact as a referrer in the fallback index, by hand.
fn attach_bundle(s: &Setup, bundle: &[u8]) {
    let host = s.registry.host();
    let empty = push_blob(&host, s.repo(), b"{}");
    let layer = push_blob(&host, s.repo(), bundle);
    let subject_size = registry_get(&host, &format!("/v2/{}/manifests/{}", s.repo(), s.digest), MANIFEST).2.len();
    let referrer = json!({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": layer, "size": bundle.len()}],
        "subject": {"mediaType": MANIFEST, "digest": s.digest, "size": subject_size}})
    .to_string();
    let digest = push_manifest(&host, s.repo(), &sha256_digest(referrer.as_bytes()), MANIFEST, referrer.as_bytes());
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": digest, "size": referrer.len(), "artifactType": BUNDLE}]})
    .to_string();
    push_manifest(&host, s.repo(), &format!("sha256-{}", s.hex()), INDEX, index.as_bytes());
}

/// A real keyless bundle (sigstore-python's test assets, Sigstore staging) attached to an artifact in
/// docker-registry: it signs another digest (a blob), so the best verdict is `digest-mismatch`, reached
/// only after the chain, identity, issuer, SET and signature all passed; each wrong input is named.
#[test]
fn keyless_bundles_are_checked_against_the_trusted_root_identity_and_issuer() {
    let s = setup("wasm/add:1");
    attach_bundle(&s, &std::fs::read(keyless_fixture("bundle_v3.txt.sigstore")).expect("fixture"));
    let staging = keyless_fixture("staging_trusted_root.json").to_string_lossy().into_owned();
    let production = keyless_fixture("production_trusted_root.json").to_string_lossy().into_owned();
    let keyless = |identity: &str, issuer: &str, root: &str| verify_keyless(&s, identity, issuer, root);
    let (who, github) = ("william@yossarian.net", "https://github.com/login/oauth");
    let right = keyless(who, github, &staging);
    right.assert_code(1);
    assert_eq!(verdicts(&right), [v("bundle", false, "digest-mismatch")], "{right}");
    assert!(right.json()["signatures"][0]["reason"].as_str().is_some_and(|r| r.contains("5e6ae9de")), "{right}");
    let other = keyless("mallory@example.com", github, &staging);
    assert_eq!(verdicts(&other), [v("bundle", false, "wrong-identity")], "{other}");
    let other = keyless(who, "https://accounts.google.com", &staging);
    assert_eq!(verdicts(&other), [v("bundle", false, "wrong-issuer")], "{other}");
    // The production root knows neither the staging log nor (so never reached) its CA.
    let other = keyless(who, github, &production);
    assert_eq!(verdicts(&other), [v("bundle", false, "invalid-log-entry")], "{other}");

    // A key-made signature next to it is named as such, and --key ignores the keyless one.
    let (key, public) = s.key("k");
    s.sign(&key, &["--mode", "both"]);
    let mixed = keyless(who, github, &staging);
    mixed.assert_code(1);
    let found = verdicts(&mixed);
    assert!(found.contains(&v("bundle", false, "needs-key")) && found.contains(&v("legacy", false, "needs-key")));
    let args = ["verify", &s.reference, "--certificate-identity", who, "--certificate-oidc-issuer", github];
    let worded = wharf(&[&args[..], &["--trusted-root", &staging]].concat(), &s.env);
    assert!(worded.stderr.contains("not an identity (verify it with --key and the signer's public key)"), "{worded}");
    let keyed = s.verify(&public, &[]);
    keyed.assert_ok();

    // Half the keyless options, or both modes at once, are usage errors.
    wharf(&["verify", &s.reference, "--certificate-identity", who], &s.env).assert_code(2);
    wharf(&["verify", &s.reference, "--key", &public, "--certificate-identity", who], &s.env).assert_code(2);
    // A key with a trusted root (a managed key): wharf's own signatures are not in a log, so each is
    // refused for that, and the keyless one is named as such.
    let managed =
        wharf(&["verify", &s.reference, "--key", &public, "--trusted-root", &staging, "--format", "json"], &s.env);
    managed.assert_code(1);
    let found = verdicts(&managed);
    assert_eq!(found.iter().filter(|(_, _, problem)| problem == "invalid-log-entry").count(), 2, "{managed}");
    assert!(found.contains(&v("bundle", false, "needs-identity")), "{managed}");
    let unreadable = keyless(who, github, &public);
    unreadable.assert_code(2);
}

/// The accepting path of keyless `wharf verify`, end to end: an OCI layout, built by hand, whose
/// index lists the blob the real keyless bundle signs (tag `signed-blob`; it is not a manifest, which
/// `verify` never needs to read) and, under the fallback tag of its digest, a referrer holding the bundle.
#[test]
fn a_real_keyless_bundle_verifies_through_the_cli_in_a_layout() {
    let env = TestEnv::new();
    let dir = env.path("keyless-layout");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256_digest(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).expect("blob");
        (digest, bytes.len())
    };
    let (subject, subject_size) = put(&std::fs::read(keyless_fixture("bundle_v3.txt")).expect("fixture"));
    let (bundle, bundle_size) = put(&std::fs::read(keyless_fixture("bundle_v3.txt.sigstore")).expect("fixture"));
    let (empty, _) = put(b"{}");
    let referrer = json!({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": bundle, "size": bundle_size}],
        "subject": {"mediaType": MANIFEST, "digest": subject, "size": subject_size}})
    .to_string();
    let (referrer_digest, referrer_size) = put(referrer.as_bytes());
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": referrer_digest, "size": referrer_size, "artifactType": BUNDLE}]})
    .to_string();
    let (index_digest, index_size) = put(index.as_bytes());
    let hex = &subject["sha256:".len()..];
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let top = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": subject, "size": subject_size,
         "annotations": {"org.opencontainers.image.ref.name": "signed-blob"}},
        {"mediaType": INDEX, "digest": index_digest, "size": index_size,
         "annotations": {"org.opencontainers.image.ref.name": format!("sha256-{hex}")}}]});
    std::fs::write(dir.join("index.json"), top.to_string()).expect("index.json");

    let reference = format!("oci:{}:signed-blob", dir.to_string_lossy());
    let staging = keyless_fixture("staging_trusted_root.json").to_string_lossy().into_owned();
    let run = wharf(
        &[
            "verify",
            &reference,
            "--certificate-identity",
            "william@yossarian.net",
            "--certificate-oidc-issuer",
            "https://github.com/login/oauth",
            "--trusted-root",
            &staging,
            "--format",
            "json",
        ],
        &env,
    );
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["digest"], subject.as_str());
    assert_eq!(verdicts(&run), [v("bundle", true, "")], "{report}");
    let who = &report["signatures"][0]["keyless"];
    assert_eq!(who["identity"], "william@yossarian.net", "{report}");
    assert_eq!(who["log"], "https://rekor.sigstage.dev", "{report}");
    assert_eq!(who["integratedTime"], 1712085549, "{report}");
    // Text output names the signer.
    let text = wharf(
        &[
            "verify",
            &reference,
            "--certificate-identity",
            "william@yossarian.net",
            "--certificate-oidc-issuer",
            "https://github.com/login/oauth",
            "--trusted-root",
            &staging,
        ],
        &env,
    );
    text.assert_ok();
    assert!(text.stderr.contains("william@yossarian.net from https://github.com/login/oauth"), "{text}");
}

/// A real keyless DSSE bundle (sigstore-go's example npm provenance, public-good Sigstore) attached
/// to an artifact in docker-registry: certificate, identity, SET, logged body and signature pass
/// through the CLI, then the statement is judged as for any bundle (an SLSA provenance is an
/// attestation, not a signature); a wrong identity is named before that.
#[test]
fn keyless_dsse_bundles_are_verified_up_to_their_statement() {
    let s = setup("wasm/add:1");
    attach_bundle(&s, &std::fs::read(keyless_fixture("bundle-provenance.json")).expect("fixture"));
    let right = verify_github_keyless(
        &s,
        "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
    );
    right.assert_code(1);
    assert_eq!(verdicts(&right), [v("bundle", false, "not-a-signature")], "{right}");
    let wrong = verify_github_keyless(
        &s,
        "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/evil",
    );
    assert_eq!(verdicts(&wrong), [v("bundle", false, "wrong-identity")], "{wrong}");
}

/// Keyless `wharf verify` of the setup's artifact, `--format json`, for a GitHub Actions
/// workflow `identity`, against the public-good trusted root.
fn verify_github_keyless(s: &Setup, identity: &str) -> Run {
    let root = keyless_fixture("trusted-root-public-good.json").to_string_lossy().into_owned();
    verify_keyless(s, identity, "https://token.actions.githubusercontent.com", &root)
}

/// Keyless `wharf verify` of the setup's artifact, `--format json`.
fn verify_keyless(s: &Setup, identity: &str, issuer: &str, root: &str) -> Run {
    let args = ["verify", &s.reference, "--certificate-identity", identity, "--certificate-oidc-issuer", issuer];
    wharf(&[&args[..], &["--trusted-root", root, "--format", "json"]].concat(), &s.env)
}

/// A real keyless DSSE bundle logged as a Rekor `dsse` 0.0.1 entry, what cosign v2.4+ and v3 write
/// (sigstore-conformance's happy path, public-good Sigstore), attached to an artifact in
/// docker-registry: every keyless check passes through the CLI, then its statement (an SLSA
/// provenance for a blob) is judged as for any bundle; a wrong identity, and a real log entry for
/// another signature of the same payload, are each named.
#[test]
fn keyless_dsse_v001_log_entries_are_verified_through_the_cli() {
    let s = setup("wasm/add:1");
    let beacon = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    attach_bundle(&s, &std::fs::read(keyless_fixture("dsse-happy-path.sigstore.json")).expect("fixture"));
    let right = verify_github_keyless(&s, beacon);
    right.assert_code(1);
    assert_eq!(verdicts(&right), [v("bundle", false, "not-a-signature")], "{right}");
    let wrong = verify_github_keyless(&s, "https://github.com/mallory/repo/.github/workflows/x.yml@refs/heads/main");
    assert_eq!(verdicts(&wrong), [v("bundle", false, "wrong-identity")], "{wrong}");
    attach_bundle(&s, &std::fs::read(keyless_fixture("dsse-mismatch-sig.sigstore.json")).expect("fixture"));
    let swapped = verify_github_keyless(&s, beacon);
    swapped.assert_code(1);
    assert_eq!(verdicts(&swapped), [v("bundle", false, "invalid-log-entry")], "{swapped}");
    assert!(swapped.stdout.contains("another signature"), "{swapped}");
}

/// Puts a real keyless legacy `.sig` manifest (salrashid123/cosign_bazel_cloud_build, public-good
/// Sigstore: a KMS key's signature and a keyless one, over the same payload) under the `.sig` tag of
/// the setup's artifact, with its payload and an empty config of our own.
fn attach_legacy_keyless(s: &Setup) {
    let host = s.registry.host();
    let payload = std::fs::read(keyless_fixture("legacy-keyless-payload.json")).expect("fixture");
    let layer = push_blob(&host, s.repo(), &payload);
    let config = push_blob(&host, s.repo(), b"{}");
    let manifest = std::fs::read(keyless_fixture("legacy-keyless-sig-manifest.json")).expect("fixture");
    let mut manifest: Value = serde_json::from_slice(&manifest).expect("JSON");
    assert_eq!(manifest["layers"][1]["digest"], json!(layer), "the payload is the signed one");
    manifest["config"] = json!({"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2});
    push_manifest(&host, s.repo(), &format!("sha256-{}.sig", s.hex()), MANIFEST, manifest.to_string().as_bytes());
}

/// Keyless legacy `.sig` signatures through the CLI against docker-registry: the keyless layer passes
/// certificate, identity, SET, logged body and signature, and is then `digest-mismatch` (it signs an
/// image of its author's registry, not this artifact); its key-made neighbour `needs-key`; another identity is named.
#[test]
fn keyless_legacy_signatures_are_verified_through_the_cli() {
    let s = setup("wasm/add:1");
    attach_legacy_keyless(&s);
    let root = keyless_fixture("trusted-root-public-good.json").to_string_lossy().into_owned();
    let google = "https://accounts.google.com";
    let right = verify_keyless(&s, "cosign-svc-account@mineral-minutia-820.iam.gserviceaccount.com", google, &root);
    right.assert_code(1);
    assert_eq!(verdicts(&right), [v("legacy", false, "needs-key"), v("legacy", false, "digest-mismatch")], "{right}");
    assert!(
        right.stdout.contains("sha256:a2b109fb9baea555556561317fdd13cef9c3dfac22c8f8fea0c5a0b06ece9d00"),
        "{right}"
    );
    let wrong = verify_keyless(&s, "mallory@example.com", google, &root);
    assert_eq!(verdicts(&wrong), [v("legacy", false, "needs-key"), v("legacy", false, "wrong-identity")], "{wrong}");
}

/// RSA is verification only: an OpenSSL RSA signature (PKCS#1 v1.5, SHA-256: cosign's RSA scheme) over
/// the `.sig` payload verifies with the RSA public key; signing with an RSA key, or a 1024-bit key, is
/// refused with the reason.
#[test]
fn rsa_public_keys_verify_openssl_signatures_and_rsa_keys_never_sign() {
    let s = setup("wasm/add:1");
    let (key, public) = (s.env.path("rsa.key"), s.env.path("rsa.pub"));
    openssl(
        &s.env,
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &key.to_string_lossy()],
    );
    openssl(&s.env, &["pkey", "-in", &key.to_string_lossy(), "-pubout", "-out", &public.to_string_lossy()]);
    let refused = wharf(&["sign", &s.reference, "--key", &key.to_string_lossy()], &s.env);
    refused.assert_code(2);
    assert!(refused.stderr.contains("RUSTSEC-2023-0071"), "{refused}");

    // A legacy signature made by wharf (ECDSA) gives the payload; OpenSSL re-signs it with RSA.
    let (ecdsa_key, _) = s.key("k");
    s.sign(&ecdsa_key, &["--mode", "legacy"]);
    let sig_tag = format!("sha256-{}.sig", s.hex());
    let mut manifest = s.get_json(&format!("/v2/{}/manifests/{sig_tag}", s.repo()), MANIFEST);
    let body = s.blob(manifest["layers"][0]["digest"].as_str().unwrap_or_default());
    let (m, out) = (s.env.write("payload.json", &body), s.env.path("rsa.sig"));
    openssl(
        &s.env,
        &["dgst", "-sha256", "-sign", &key.to_string_lossy(), "-out", &out.to_string_lossy(), &m.to_string_lossy()],
    );
    let signature = std::fs::read(&out).expect("signature");
    manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = json!(B64.encode(&signature));
    push_manifest(&s.registry.host(), s.repo(), &sig_tag, MANIFEST, manifest.to_string().as_bytes());
    let ok = s.verify(&public.to_string_lossy(), &[]);
    ok.assert_ok();
    assert_eq!(verdicts(&ok), [v("legacy", true, "")]);
    // A flipped byte of the payload's signature is rejected.
    let mut bad = signature.clone();
    bad[5] ^= 1;
    manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = json!(B64.encode(&bad));
    push_manifest(&s.registry.host(), s.repo(), &sig_tag, MANIFEST, manifest.to_string().as_bytes());
    let rejected = s.verify(&public.to_string_lossy(), &[]);
    rejected.assert_code(1);
    assert_eq!(verdicts(&rejected), [v("legacy", false, "wrong-key")]);

    // Keys under 2048 bits are refused when read.
    let (small, small_pub) = (s.env.path("small.key"), s.env.path("small.pub"));
    openssl(
        &s.env,
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", &small.to_string_lossy()],
    );
    openssl(&s.env, &["pkey", "-in", &small.to_string_lossy(), "-pubout", "-out", &small_pub.to_string_lossy()]);
    let weak = s.verify(&small_pub.to_string_lossy(), &[]);
    weak.assert_code(2);
    assert!(weak.stderr.contains("1024-bit"), "{weak}");
}

/// `wharf verify-blob` of `artifact` (a fixture file, or `sha256:HEX`) against the fixture `bundle`,
/// with `extra` flags, `--format json`, in a fresh environment.
fn verify_blob(artifact: &str, bundle: &str, extra: &[&str]) -> Run {
    let env = TestEnv::new();
    let artifact =
        if artifact.starts_with("sha256:") { artifact.to_string() } else { path_of(&keyless_fixture(artifact)) };
    let bundle = path_of(&keyless_fixture(bundle));
    let args = [&["verify-blob", &artifact, "--bundle", &bundle, "--format", "json"][..], extra].concat();
    wharf(&args, &env)
}

fn path_of(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Real bundles from outside the conformance suite verify with the public-good trusted root built
/// into wharf (no --trusted-root): what `cosign sign-blob --bundle` of cosign v3 writes (message
/// signature, hashedrekord, RFC 3161 timestamp), and a GitHub artifact attestation (DSSE, SLSA
/// provenance, dsse entry); each refused for another identity or another artifact.
#[test]
fn real_cosign_v3_and_github_attestation_bundles_verify_against_the_built_in_root() {
    let cosign = [
        "--certificate-identity",
        "w.vollprecht@gmail.com",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ];
    let run = verify_blob("cosign-v3-blob.txt", "cosign-v3-blob.sigstore.json", &cosign);
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["keyless"]["identity"], "w.vollprecht@gmail.com", "{report}");
    assert_eq!(report["logIndex"], 738312748, "{report}");
    assert_eq!(report["timestamps"].as_array().map(Vec::len), Some(1), "the TSA timestamp is verified: {report}");
    let other = [
        "--certificate-identity",
        "mallory@example.com",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ];
    let wrong = verify_blob("cosign-v3-blob.txt", "cosign-v3-blob.sigstore.json", &other);
    wrong.assert_code(1);
    assert_eq!(wrong.json()["problem"], "wrong-identity", "{wrong}");
    let moved = verify_blob("github-attestation-artifact.whl", "cosign-v3-blob.sigstore.json", &cosign);
    moved.assert_code(1);
    assert_eq!(moved.json()["problem"], "digest-mismatch", "{moved}");

    let github = [
        "--certificate-identity-regexp",
        "https://github\\.com/github/artifact-attestations-workflows/\\.github/workflows/attest\\.yml@.*",
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ];
    let run = verify_blob("github-attestation-artifact.whl", "github-attestation.sigstore.json", &github);
    run.assert_ok();
    assert_eq!(run.json()["logIndex"], 96764485, "{run}");
    // The attested wheel given by its digest verifies the same.
    let digest = "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25";
    verify_blob(digest, "github-attestation.sigstore.json", &github).assert_ok();
    // Another artifact is not the statement's subject.
    let other = verify_blob("cosign-v3-blob.txt", "github-attestation.sigstore.json", &github);
    other.assert_code(1);
    assert_eq!(other.json()["problem"], "digest-mismatch", "{other}");
    // Another workflow (the regexp is anchored to the whole identity).
    let fork = [
        "--certificate-identity-regexp",
        "https://github\\.com/github/",
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ];
    let fork = verify_blob("github-attestation-artifact.whl", "github-attestation.sigstore.json", &fork);
    fork.assert_code(1);
    assert_eq!(fork.json()["problem"], "wrong-identity", "{fork}");
}

/// `wharf verify-blob`'s exit status: 2 for input it cannot read (bundle, key, trusted root) and
/// for usage errors, 1 for a bundle that does not verify, with the reason in text and JSON.
#[test]
fn verify_blob_exits_2_for_unreadable_input_and_1_with_the_reason_for_a_bad_bundle() {
    let env = TestEnv::new();
    let artifact = path_of(&keyless_fixture("cosign-v3-blob.txt"));
    let bundle = path_of(&keyless_fixture("cosign-v3-blob.sigstore.json"));
    let identity = [
        "--certificate-identity",
        "w.vollprecht@gmail.com",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ];
    let run = |args: &[&str]| wharf(&[&["verify-blob"][..], args].concat(), &env);
    run(&[&artifact, "--bundle", "missing.sigstore.json", identity[0], identity[1], identity[2], identity[3]])
        .assert_failed_cleanly("cannot read the bundle");
    run(&["missing.txt", "--bundle", &bundle, identity[0], identity[1], identity[2], identity[3]])
        .assert_failed_cleanly("cannot read the artifact");
    let root = env.write("root.json", br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"baseUrl":"https://rekor.example","hashAlgorithm":"SHA2_256","publicKey":{"rawBytes":"AAAA","keyDetails":"PKIX_ED25519"},"logId":{"keyId":"AAAA"}}]}"#);
    let root = path_of(&root);
    run(&[&artifact, "--bundle", &bundle, identity[0], identity[1], identity[2], identity[3], "--trusted-root", &root])
        .assert_failed_cleanly("validFor");
    let key = env.write("bad.pub", "not a key");
    run(&[&artifact, "--bundle", &bundle, "--key", &path_of(&key)]).assert_failed_cleanly("bad.pub");
    run(&[&artifact, "--bundle", &bundle, "--certificate-identity", "x"])
        .assert_failed_cleanly("--certificate-oidc-issuer");
    let garbage = env.write("garbage.sigstore.json", "{\"mediaType\":");
    let refused = run(&[&artifact, "--bundle", &path_of(&garbage), identity[0], identity[1], identity[2], identity[3]]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("not verified: the bundle is not JSON"), "{refused}");
    // The help says which trusted root is built in, and how to pass a newer one.
    let help = run(&["--help"]);
    help.assert_ok();
    assert!(help.stdout.contains("2025-09-22") && help.stdout.contains("--trusted-root"), "{help}");
}

/// A PyPI attestation (trailofbits/pypi-attestations' test asset, converted to a bundle v0.3, see
/// `fixtures/keyless/README.md`), whose signer submitted the DSSE envelope to Rekor with Python's
/// JSON spacing: it verifies with the built-in root through `wharf verify-blob`, the envelope hash
/// of its `dsse` entry not being compared (review of issue 15, finding 2).
#[test]
fn a_pypi_attestation_verifies_against_the_built_in_root() {
    let identity = [
        "--certificate-identity",
        "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19",
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ];
    let run = verify_blob("pypi_attestations-0.0.19.tar.gz", "pypi_attestations-0.0.19.sigstore.json", &identity);
    run.assert_ok();
    assert_eq!(run.json()["logIndex"], 153454663, "{run}");
    let moved = verify_blob("cosign-v3-blob.txt", "pypi_attestations-0.0.19.sigstore.json", &identity);
    moved.assert_code(1);
    assert_eq!(moved.json()["problem"], "digest-mismatch", "{moved}");
}
