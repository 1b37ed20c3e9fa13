//! Writing an attestation: the in-toto statement, then the bundle referrer or
//! the layer appended under the `.att` tag.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::super::write::{append_layer, push_bundle};
use super::super::{SIGNATURE_ANNOTATION, Written};
use super::{LEGACY_LAYER, PREDICATE_TYPE_ANNOTATION, legacy_tag};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::payload::{IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1, pae};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::{Descriptor, MAX_DOCUMENT_SIZE};
use wharf_oci::store::Store;

/// The in-toto Statement v1 of an attestation: one subject, the artifact's manifest
/// digest under the repository's name (cosign's `subject[0].name`), the predicate
/// type, the predicate. Compact JSON, keys in the spec's order.
pub(super) fn statement(name: &str, digest: &Digest, predicate_type: &str, predicate: &Value) -> Vec<u8> {
    let doc = json!({
        "_type": STATEMENT_V1,
        "subject": [{ "name": name, "digest": { "sha256": digest.hex() } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Refuses a statement whose bundle would be larger than a document wharf (and
/// registries) read back: the DSSE payload is base64 of it, the bundle JSON around that.
pub(super) fn fits_a_document(statement: &[u8]) -> Result<()> {
    let bundle_size = (statement.len() as u64).div_ceil(3) * 4 + 4096;
    if bundle_size > MAX_DOCUMENT_SIZE {
        return Err(Error::Usage(format!(
            "the statement is {} bytes: its bundle would be over the {MAX_DOCUMENT_SIZE} bytes wharf reads back; \
             attest a smaller predicate",
            statement.len()
        )));
    }
    Ok(())
}

/// The statement signed into a bundle v0.3, pushed as a referrer of `subject`
/// (cosign v3's `attest --new-bundle-format`).
pub(super) async fn bundle(
    store: &dyn Store,
    subject: &Descriptor,
    statement: &[u8],
    predicate_type: &str,
    key: &PrivateKey,
) -> Result<Written> {
    push_bundle(store, subject, statement, predicate_type, key).await
}

/// The DSSE envelope of a legacy attestation as cosign v3 writes it (Go's
/// `json.Marshal` of protobuf-specs' `Envelope`: `payload`, `payloadType`,
/// `signatures` with `sig` only; older cosign wrote `keyid: ""` too, which readers ignore).
pub(super) fn envelope(statement: &[u8], signature: &[u8]) -> Vec<u8> {
    let doc = json!({
        "payload": B64.encode(statement),
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "signatures": [{ "sig": B64.encode(signature) }],
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The statement signed into a DSSE envelope, appended as a layer to the manifest
/// under `sha256-<hex>.att` (cosign v2's `attest`): the `predicateType` annotation,
/// and the empty signature annotation cosign writes (the signature is in the envelope).
pub(super) async fn legacy(
    store: &dyn Store,
    subject: &Descriptor,
    statement: &[u8],
    predicate_type: &str,
    key: &PrivateKey,
) -> Result<Written> {
    let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement));
    let body = envelope(statement, &signature);
    let mut layer = Descriptor::of_bytes(LEGACY_LAYER, &body);
    layer.annotations = BTreeMap::from([
        (PREDICATE_TYPE_ANNOTATION.to_string(), predicate_type.to_string()),
        (SIGNATURE_ANNOTATION.to_string(), String::new()),
    ]);
    append_layer(store, legacy_tag(&subject.digest), layer, &body).await
}
