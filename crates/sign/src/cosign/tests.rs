//! Sign and verify against a local OCI layout, including tampering by someone
//! who can write to the store (re-hashed, so only the signature can tell).

use base64::Engine as _;

use super::*;
use crate::media::SIMPLE_SIGNING_LAYER;
use crate::payload;
use wharf_oci::manifest::{Descriptor, Index, Manifest};
use wharf_oci::media;
use wharf_oci::reference::Selector;
use wharf_oci::store::{LayoutStore, Store, bytes_stream, referrers_tag};

/// The artifact signed here: any blob will do (wharf-wasm's layer media type, without depending on it).
const WASM_LAYER: &str = "application/wasm";

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("layout");
        Fixture { _dir: dir, root }
    }

    fn store(&self) -> LayoutStore {
        LayoutStore::create(&self.root).expect("layout")
    }

    fn reference(&self, tag: &str) -> Reference {
        Reference::parse(&format!("oci:{}:{tag}", self.root.display())).expect("reference")
    }

    /// Pushes a small manifest with content `body` under `tag`; returns its digest.
    async fn artifact(&self, tag: &str, body: &[u8]) -> Digest {
        let store = self.store();
        let config = self.blob(b"{}", media::OCI_EMPTY).await;
        let layer = self.blob(body, WASM_LAYER).await;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config,
            layers: vec![layer],
            subject: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
        };
        let bytes = bytes::Bytes::from(manifest.to_bytes());
        let desc = Descriptor::of_bytes(media::OCI_MANIFEST, &bytes);
        store.push_manifest(&desc, bytes, &[tag.to_string()]).await.expect("push manifest");
        desc.digest
    }

    async fn blob(&self, bytes: &[u8], media_type: &str) -> Descriptor {
        let desc = Descriptor::of_bytes(media_type, bytes);
        self.store().push(&desc, bytes_stream(bytes::Bytes::copy_from_slice(bytes))).await.expect("push blob");
        desc
    }

    async fn manifest_at(&self, tag: &str) -> (Descriptor, Manifest) {
        let store = self.store();
        let desc = store.resolve(&Selector::Tag(tag.into())).await.expect("tag exists");
        let manifest = Manifest::parse(&store.fetch_bytes(&desc).await.expect("read")).expect("parse");
        (desc, manifest)
    }

    async fn put_manifest(&self, manifest: &Manifest, tags: &[String]) -> Descriptor {
        let bytes = bytes::Bytes::from(manifest.to_bytes());
        let desc = Descriptor::of_bytes(media::OCI_MANIFEST, &bytes);
        self.store().push_manifest(&desc, bytes, tags).await.expect("push manifest");
        desc
    }
}

fn options(mode: Mode, annotations: &[(&str, &str)]) -> SignOptions {
    SignOptions {
        mode,
        annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        transport: TransportOptions::default(),
    }
}

async fn check(reference: &Reference, key: &PublicKey, required: &[(&str, &str)]) -> VerifyReport {
    let options = VerifyOptions {
        annotations: required.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        transport: TransportOptions::default(),
    };
    verify(reference, key, &options).await.expect("verify runs")
}

fn problems(report: &VerifyReport) -> Vec<(Format, Option<Problem>)> {
    report.signatures.iter().map(|s| (s.format, s.problem)).collect()
}

#[tokio::test]
async fn both_formats_verify_and_another_key_does_not() {
    let f = Fixture::new();
    let digest = f.artifact("v1", b"\0asm one").await;
    let key = PrivateKey::generate().expect("key");
    let report = sign(&f.reference("v1"), &key, &options(Mode::Both, &[])).await.expect("signs");
    assert_eq!(report.digest, digest);
    assert_eq!(report.signatures[0].indexed, Some(ReferrerIndexing::FallbackTag));
    let ok = check(&f.reference("v1"), &key.public_key(), &[]).await;
    assert!(ok.verified, "{ok:#?}");
    assert_eq!(problems(&ok), [(Format::Bundle, None), (Format::Legacy, None)]);
    // The fallback index: artifactType and annotations copied up.
    let store = f.store();
    let index_desc = store.resolve(&Selector::Tag(referrers_tag(&digest))).await.expect("fallback tag");
    let index = Index::parse(&store.fetch_bytes(&index_desc).await.expect("index")).expect("parse");
    assert_eq!(index.manifests.len(), 1);
    assert_eq!(index.manifests[0].artifact_type.as_deref(), Some(crate::media::BUNDLE_V03));
    assert_eq!(index.manifests[0].annotations["dev.sigstore.bundle.content"], "dsse-envelope");

    let other = PrivateKey::generate().expect("key");
    let bad = check(&f.reference("v1"), &other.public_key(), &[]).await;
    assert!(!bad.verified);
    assert_eq!(problems(&bad), [(Format::Bundle, Some(Problem::WrongKey)), (Format::Legacy, Some(Problem::WrongKey))]);
    assert!(bad.signatures[0].reason.as_deref().is_some_and(|r| r.contains("hint")), "{bad:#?}");
}

#[tokio::test]
async fn legacy_signatures_append_and_two_signers_are_listed() {
    let f = Fixture::new();
    let digest = f.artifact("v1", b"\0asm two").await;
    let (a, b) = (PrivateKey::generate().expect("key"), PrivateKey::generate().expect("key"));
    sign(&f.reference("v1"), &a, &options(Mode::Legacy, &[])).await.expect("a signs");
    let second = sign(&f.reference("v1"), &b, &options(Mode::Both, &[])).await.expect("b signs");
    assert_eq!(second.signatures[1].signatures_in_manifest, 2);
    let again = sign(&f.reference("v1"), &b, &options(Mode::Both, &[])).await.expect("b signs again");
    assert!(!again.signatures[1].appended, "an identical legacy signature is not added twice");
    // Within the same second the bundle manifest is byte-identical (ECDSA with RFC 6979 is deterministic).
    assert!(again.signatures[0].indexed.is_some());
    let (_, sig) = f.manifest_at(&legacy_tag(&digest)).await;
    assert_eq!(sig.layers.len(), 2);
    let by_a = check(&f.reference("v1"), &a.public_key(), &[]).await;
    assert!(by_a.verified);
    assert_eq!(by_a.signatures.iter().filter(|s| s.verified).count(), 1, "{by_a:#?}");
    let by_b = check(&f.reference("v1"), &b.public_key(), &[]).await;
    let legacy_ok = by_b.signatures.iter().filter(|s| s.verified && s.format == Format::Legacy).count();
    assert_eq!(legacy_ok, 1, "{by_b:#?}");
    assert!(by_b.signatures.iter().filter(|s| s.format == Format::Bundle).all(|s| s.verified), "{by_b:#?}");
}

#[tokio::test]
async fn required_annotations_are_checked_in_both_formats() {
    let f = Fixture::new();
    f.artifact("v1", b"\0asm three").await;
    let key = PrivateKey::generate().expect("key");
    sign(&f.reference("v1"), &key, &options(Mode::Both, &[("env", "prod"), ("<x>", "&")])).await.expect("signs");
    let ok = check(&f.reference("v1"), &key.public_key(), &[("env", "prod"), ("<x>", "&")]).await;
    assert!(ok.verified && ok.signatures.iter().all(|s| s.verified), "{ok:#?}");
    let wrong = check(&f.reference("v1"), &key.public_key(), &[("env", "dev")]).await;
    assert_eq!(
        problems(&wrong),
        [(Format::Bundle, Some(Problem::MissingAnnotation)), (Format::Legacy, Some(Problem::MissingAnnotation))]
    );
    assert!(wrong.signatures[0].reason.as_deref().is_some_and(|r| r.contains("env=prod")), "{wrong:#?}");
}

#[tokio::test]
async fn a_retagged_reference_no_longer_verifies() {
    let f = Fixture::new();
    f.artifact("v1", b"\0asm four").await;
    let key = PrivateKey::generate().expect("key");
    sign(&f.reference("v1"), &key, &options(Mode::Both, &[])).await.expect("signs");
    f.artifact("v1", b"\0asm other content").await;
    let report = check(&f.reference("v1"), &key.public_key(), &[]).await;
    assert!(!report.verified && report.signatures.is_empty(), "{report:#?}");
}

/// Rewrites the first layer of the `.sig` manifest with `edit` applied to its
/// payload and signature, re-hashed so the store serves it without complaint.
async fn tamper_legacy(f: &Fixture, digest: &Digest, edit: impl Fn(&mut Vec<u8>, &mut Vec<u8>)) {
    let tag = legacy_tag(digest);
    let (_, mut manifest) = f.manifest_at(&tag).await;
    let layer = manifest.layers[0].clone();
    let mut body = f.store().fetch_bytes(&layer).await.expect("payload").to_vec();
    let mut sig =
        base64::engine::general_purpose::STANDARD.decode(&layer.annotations[SIGNATURE_ANNOTATION]).expect("b64");
    edit(&mut body, &mut sig);
    let mut new_layer = f.blob(&body, SIMPLE_SIGNING_LAYER).await;
    new_layer.annotations.insert(SIGNATURE_ANNOTATION.into(), base64::engine::general_purpose::STANDARD.encode(&sig));
    manifest.layers[0] = new_layer;
    f.put_manifest(&manifest, &[tag]).await;
}

#[tokio::test]
async fn tampered_legacy_signatures_are_rejected_with_a_precise_reason() {
    let f = Fixture::new();
    let digest = f.artifact("v1", b"\0asm five").await;
    let key = PrivateKey::generate().expect("key");
    sign(&f.reference("v1"), &key, &options(Mode::Legacy, &[])).await.expect("signs");

    tamper_legacy(&f, &digest, |body, _| body[5] ^= 1).await;
    let report = check(&f.reference("v1"), &key.public_key(), &[]).await;
    assert_eq!(problems(&report), [(Format::Legacy, Some(Problem::WrongKey))], "flipped payload byte");

    tamper_legacy(&f, &digest, |body, _| body[5] ^= 1).await; // restore
    assert!(check(&f.reference("v1"), &key.public_key(), &[]).await.verified);

    tamper_legacy(&f, &digest, |_, sig| sig[10] ^= 1).await;
    let report = check(&f.reference("v1"), &key.public_key(), &[]).await;
    assert_eq!(problems(&report), [(Format::Legacy, Some(Problem::WrongKey))], "flipped signature byte");

    tamper_legacy(&f, &digest, |_, sig| sig.truncate(3)).await;
    let report = check(&f.reference("v1"), &key.public_key(), &[]).await;
    assert_eq!(problems(&report), [(Format::Legacy, Some(Problem::Malformed))], "truncated signature");
}

#[tokio::test]
async fn a_valid_signature_of_another_digest_is_a_digest_mismatch() {
    let f = Fixture::new();
    let a = f.artifact("a", b"\0asm a").await;
    let b = f.artifact("b", b"\0asm b").await;
    let key = PrivateKey::generate().expect("key");
    sign(&f.reference("b"), &key, &options(Mode::Both, &[])).await.expect("signs b");
    // Legacy: b's `.sig` manifest placed at a's `.sig` tag.
    let (_, b_sig) = f.manifest_at(&legacy_tag(&b)).await;
    f.put_manifest(&b_sig, &[legacy_tag(&a)]).await;
    // Bundle: b's referrer listed in a's fallback index (a swapped bundle).
    let store = f.store();
    let b_index_desc = store.resolve(&Selector::Tag(referrers_tag(&b))).await.expect("b's fallback tag");
    let b_index = store.fetch_bytes(&b_index_desc).await.expect("index");
    store.push_manifest(&b_index_desc, b_index, &[referrers_tag(&a)]).await.expect("swap");
    let report = check(&f.reference("a"), &key.public_key(), &[]).await;
    assert!(!report.verified);
    assert_eq!(
        problems(&report),
        [(Format::Bundle, Some(Problem::DigestMismatch)), (Format::Legacy, Some(Problem::DigestMismatch))]
    );
    let reason = report.signatures[1].reason.clone().unwrap_or_default();
    assert!(reason.contains(b.as_str()) && reason.contains(a.as_str()), "{reason}");
}

#[tokio::test]
async fn a_tampered_bundle_payload_is_rejected() {
    let f = Fixture::new();
    let digest = f.artifact("v1", b"\0asm six").await;
    let key = PrivateKey::generate().expect("key");
    let report = sign(&f.reference("v1"), &key, &options(Mode::Bundle, &[])).await.expect("signs");
    let store = f.store();
    let referrer = store.resolve(&Selector::Digest(report.signatures[0].manifest.clone())).await.expect("referrer");
    let mut manifest = Manifest::parse(&store.fetch_bytes(&referrer).await.expect("read")).expect("parse");
    let bundle_bytes = store.fetch_bytes(&manifest.layers[0]).await.expect("bundle");
    let mut doc: serde_json::Value = serde_json::from_slice(&bundle_bytes).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut statement = b64.decode(doc["dsseEnvelope"]["payload"].as_str().unwrap_or_default()).expect("payload");
    // Point the statement at another digest: one flipped hex digit.
    let at = statement.windows(6).position(|w| w == b"sha256").unwrap_or(0) + 12;
    statement[at] = if statement[at] == b'0' { b'1' } else { b'0' };
    doc["dsseEnvelope"]["payload"] = b64.encode(&statement).into();
    let tampered = serde_json::to_vec(&doc).expect("json");
    manifest.layers[0] = f.blob(&tampered, crate::media::BUNDLE_V03).await;
    let new = f.put_manifest(&manifest, &[]).await;
    let mut index = Index::parse(
        &store
            .fetch_bytes(&store.resolve(&Selector::Tag(referrers_tag(&digest))).await.expect("tag"))
            .await
            .expect("read"),
    )
    .expect("index");
    index.manifests[0].digest = new.digest.clone();
    index.manifests[0].size = new.size;
    let bytes = bytes::Bytes::from(index.to_bytes());
    let index_desc = Descriptor::of_bytes(media::OCI_INDEX, &bytes);
    store.push_manifest(&index_desc, bytes, &[referrers_tag(&digest)]).await.expect("push index");
    let report = check(&f.reference("v1"), &key.public_key(), &[]).await;
    assert_eq!(problems(&report), [(Format::Bundle, Some(Problem::WrongKey))], "{report:#?}");
}

#[tokio::test]
async fn a_legacy_payload_of_another_type_is_not_an_image_signature() {
    let f = Fixture::new();
    let digest = f.artifact("v1", b"\0asm seven").await;
    let key = PrivateKey::generate().expect("key");
    sign(&f.reference("v1"), &key, &options(Mode::Legacy, &[])).await.expect("signs");
    // The same claims under another `critical.type`, signed by the same key.
    tamper_legacy(&f, &digest, |body, sig| {
        let text = String::from_utf8(body.clone()).expect("text");
        *body = text.replace(payload::SIMPLE_SIGNING_TYPE, "atomic container signature").into_bytes();
        *sig = key.sign(body);
    })
    .await;
    let report = check(&f.reference("v1"), &key.public_key(), &[]).await;
    assert_eq!(problems(&report), [(Format::Legacy, Some(Problem::Malformed))], "{report:#?}");
    assert!(report.signatures[0].reason.as_deref().is_some_and(|r| r.contains("critical.type")), "{report:#?}");
}

/// Review of issue 15, finding 1: the Sigstore verifier's CPU-bound work runs on tokio's blocking
/// pool, so a task sharing the runtime (in the webhook: other reviews, time budgets) keeps running
/// while bundles are checked. On a single-threaded runtime, a task that only yields counts how
/// often it ran during `verify_with` over many real keyless bundles: inline verification lets it
/// run only at the few await points between bundles.
#[tokio::test]
async fn bundle_verification_leaves_the_async_runtime_free() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const BUNDLES: usize = 24;
    let f = Fixture::new();
    let digest = f.artifact("v1", b"\0asm eight").await;
    let fixture =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/keyless/dsse-happy-path.sigstore.json");
    let bundle = std::fs::read(fixture).expect("the keyless bundle fixture");
    let layer = f.blob(&bundle, crate::media::BUNDLE_V03).await;
    let subject = f.manifest_at("v1").await.0;
    let referrer = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: f.blob(b"{}", media::OCI_EMPTY).await,
        layers: vec![layer; BUNDLES],
        subject: Some(subject),
        artifact_type: Some(crate::media::BUNDLE_V03.into()),
        annotations: BTreeMap::new(),
    };
    let referrer = f.put_manifest(&referrer, &[]).await;
    let index = Index::image_index(vec![referrer]);
    let bytes = bytes::Bytes::from(index.to_bytes());
    let index_desc = Descriptor::of_bytes(media::OCI_INDEX, &bytes);
    f.store().push_manifest(&index_desc, bytes, &[referrers_tag(&digest)]).await.expect("push the index");
    let trust = Trust::Keyless {
        root: keyless::TrustedRoot::public_good().expect("the built-in root"),
        expected: keyless::ExpectedIdentity {
            identity: "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
        },
    };
    let options = VerifyOptions { annotations: BTreeMap::new(), transport: TransportOptions::default() };

    let (done, runs) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let other = tokio::spawn({
        let (done, runs) = (done.clone(), runs.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                runs.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    });
    let report = verify_with(&f.reference("v1"), &trust, &options).await.expect("verify runs");
    done.store(true, Ordering::Relaxed);
    other.await.expect("the other task ends");
    // Every keyless check passes; the statement is an SLSA provenance of a blob.
    assert_eq!(report.signatures.len(), BUNDLES);
    assert!(report.signatures.iter().all(|s| s.problem == Some(Problem::NotASignature)), "{report:#?}");
    let runs = runs.load(Ordering::Relaxed);
    eprintln!("the other task ran {runs} times during {BUNDLES} verifications");
    assert!(runs > 500 * BUNDLES as u64, "the other task ran only {runs} times: verification held the runtime");
}
