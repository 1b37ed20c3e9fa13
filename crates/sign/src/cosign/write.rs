//! Writing signatures into a store: the legacy `.sig` tag (appended to) and
//! the bundle referrer (with the fallback tag where the store needs it).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde_json::json;

use super::{BUNDLE_PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION, Written, legacy_tag};
use crate::error::Result;
use crate::keys::PrivateKey;
use crate::media::SIMPLE_SIGNING_LAYER;
use crate::payload;
use wharf_oci::annotations::Created;
use wharf_oci::manifest::{Descriptor, Manifest};
use wharf_oci::media;
use wharf_oci::reference::Selector;
use wharf_oci::store::{Store, bytes_stream};

/// Stores a small blob unless the store has it.
pub(super) async fn put_blob(store: &dyn Store, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
    if !store.exists(desc).await? {
        store.push(desc, bytes_stream(Bytes::copy_from_slice(bytes))).await?;
    }
    Ok(())
}

/// The layers of the manifest at `tag`, or none if the tag does not exist.
async fn existing_layers(store: &dyn Store, tag: &str) -> Result<Vec<Descriptor>> {
    let desc = match store.resolve(&Selector::Tag(tag.to_string())).await {
        Ok(desc) => desc,
        Err(wharf_oci::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(Manifest::parse(&store.fetch_bytes(&desc).await?)?.layers)
}

/// An OCI image config for `layers`, shaped like the one go-containerregistry
/// gives cosign's `.sig` images: empty platform, one `diff_ids` entry and one
/// history entry per (uncompressed) layer.
fn sig_image_config(layers: &[Descriptor]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let history: Vec<_> = layers.iter().map(|_| json!({ "created": "0001-01-01T00:00:00Z" })).collect();
    let doc = json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "config": {},
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Appends a simple-signing signature of `subject` to the `.sig` tag (made if
/// missing); an identical signature already there is not added twice.
pub(super) async fn legacy(
    store: &dyn Store,
    subject: &Descriptor,
    docker_reference: &str,
    key: &PrivateKey,
    annotations: &BTreeMap<String, String>,
) -> Result<Written> {
    let body = payload::simple_signing(docker_reference, &subject.digest, annotations);
    let signature = key.sign(&body);
    let mut layer = Descriptor::of_bytes(SIMPLE_SIGNING_LAYER, &body);
    layer.annotations.insert(SIGNATURE_ANNOTATION.into(), B64.encode(&signature));
    append_layer(store, legacy_tag(&subject.digest), layer, &body).await
}

/// Appends `layer` (its blob `body`) to the manifest under `tag` (made if
/// missing), as cosign's `.sig` and `.att` images are kept; an identical layer
/// already there is not added twice.
pub(super) async fn append_layer(store: &dyn Store, tag: String, layer: Descriptor, body: &[u8]) -> Result<Written> {
    let mut layers = existing_layers(store, &tag).await?;
    let appended = !layers.contains(&layer);
    if appended {
        layers.push(layer.clone());
    }
    put_blob(store, &layer, body).await?;
    let config_bytes = sig_image_config(&layers);
    let config = Descriptor::of_bytes(media::OCI_IMAGE_CONFIG, &config_bytes);
    put_blob(store, &config, &config_bytes).await?;
    let manifest = Manifest::image(config, layers.clone(), BTreeMap::new());
    let bytes = Bytes::from(manifest.to_bytes());
    let desc = Descriptor::of_bytes(media::OCI_MANIFEST, &bytes);
    store.push_manifest(&desc, bytes, std::slice::from_ref(&tag)).await?;
    Ok(Written {
        format: super::Format::Legacy,
        manifest: desc.digest,
        tag: Some(tag),
        indexed: None,
        signatures_in_manifest: layers.len(),
        appended,
    })
}

/// Pushes a bundle v0.3 signature of `subject` as an OCI 1.1 referrer, in
/// cosign v3's layout.
pub(super) async fn bundle(
    store: &dyn Store,
    subject: &Descriptor,
    key: &PrivateKey,
    annotations: &BTreeMap<String, String>,
) -> Result<Written> {
    let statement = payload::statement(&subject.digest, annotations);
    push_bundle(store, subject, &statement, payload::COSIGN_SIGN_PREDICATE, key).await
}

/// Signs `statement` (an in-toto statement of `predicate_type` about `subject`)
/// into a bundle v0.3 and pushes it as an OCI 1.1 referrer of `subject`, in
/// cosign v3's layout (`cosign sign` and `cosign attest --new-bundle-format`).
pub(super) async fn push_bundle(
    store: &dyn Store,
    subject: &Descriptor,
    statement: &[u8],
    predicate_type: &str,
    key: &PrivateKey,
) -> Result<Written> {
    let signature = key.sign(&payload::pae(payload::IN_TOTO_PAYLOAD_TYPE, statement));
    let bundle = payload::bundle(statement, &signature, &key.public_key().hint());
    let layer = Descriptor::of_bytes(crate::media::BUNDLE_V03, &bundle);
    put_blob(store, &layer, &bundle).await?;
    let mut config = Descriptor::of_bytes(media::OCI_EMPTY, b"{}");
    put_blob(store, &config, b"{}").await?;
    // cosign puts the artifact type on the config descriptor too.
    config.artifact_type = Some(crate::media::BUNDLE_V03.into());
    let manifest_annotations = BTreeMap::from([
        ("dev.sigstore.bundle.content".to_string(), "dsse-envelope".to_string()),
        (BUNDLE_PREDICATE_TYPE_ANNOTATION.to_string(), predicate_type.to_string()),
        ("org.opencontainers.image.created".to_string(), Created::Now.rfc3339()),
    ]);
    let manifest = Manifest {
        subject: Some(plain_descriptor(subject)),
        artifact_type: Some(crate::media::BUNDLE_V03.into()),
        ..Manifest::image(config, vec![layer], manifest_annotations.clone())
    };
    let bytes = Bytes::from(manifest.to_bytes());
    let mut desc = Descriptor::of_bytes(media::OCI_MANIFEST, &bytes);
    let entry = {
        let mut entry = desc.clone();
        entry.artifact_type = Some(crate::media::BUNDLE_V03.into());
        entry.annotations = manifest_annotations;
        entry
    };
    let indexed = store.push_referrer(&entry, bytes, &subject.digest).await?;
    desc.annotations.clear();
    Ok(Written {
        format: super::Format::Bundle,
        manifest: desc.digest,
        tag: None,
        indexed: Some(indexed),
        signatures_in_manifest: 1,
        appended: true,
    })
}

/// media type, digest and size only (a `subject` descriptor).
fn plain_descriptor(desc: &Descriptor) -> Descriptor {
    Descriptor { urls: None, annotations: BTreeMap::new(), artifact_type: None, platform: None, ..desc.clone() }
}
