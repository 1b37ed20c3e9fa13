//! OCI descriptors, manifests and indexes as wharf reads and writes them.
//!
//! These are small serde types of our own rather than oci-spec's: oci-spec keeps
//! annotations in a `HashMap`, so serialising the same manifest twice can give
//! different bytes, and wharf's manifests must be byte-reproducible. Field
//! order follows oci-client (and so oci-wasm/wkg): schemaVersion, mediaType,
//! config, layers, subject, artifactType, annotations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media;

/// Largest manifest or config document wharf reads into memory.
pub const MAX_DOCUMENT_SIZE: u64 = 4 * 1024 * 1024;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// Digest of the content.
    #[serde(with = "digest_serde")]
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Optional URLs (kept when read, never written by wharf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Platform, in an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`.
    pub fn of_bytes(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor::of(media_type, Digest::of(bytes), bytes.len() as u64)
    }

    /// A descriptor of content already hashed, with nothing optional set.
    pub fn of(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
            platform: None,
        }
    }

    /// True if this descriptor points at a manifest or index.
    pub fn is_manifest(&self) -> bool {
        media::is_manifest(&self.media_type)
    }
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`wasm`).
    pub architecture: String,
    /// Operating system (`wasip2`, `wasip1`).
    pub os: String,
    /// OS version.
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An OCI image manifest (also read for Docker schema 2 manifests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type; wharf always writes it (wkg requires it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The subject (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (also read for Docker manifest lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The subject (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// An OCI image manifest (`mediaType` always set) of `config` and `layers`.
    pub fn image(config: Descriptor, layers: Vec<Descriptor>, annotations: BTreeMap<String, String>) -> Self {
        Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config,
            layers,
            subject: None,
            artifact_type: None,
            annotations,
        }
    }

    /// Parses manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::malformed("manifest", e))
    }
    /// Serialises to compact JSON (deterministic: fields in fixed order, maps sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }
}

impl Index {
    /// An OCI image index (`mediaType` always set) of `manifests`.
    pub fn image_index(manifests: Vec<Descriptor>) -> Self {
        Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Parses index bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::malformed("image index", e))
    }
    /// Serialises to compact JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail: no maps with non-string keys, no I/O.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The media type a manifest document declares (its `mediaType` field), with a
/// fallback for documents that omit it.
pub fn declared_media_type(bytes: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| Error::malformed("manifest", e))?;
    Ok(match (probe.media_type, probe.manifests, probe.config) {
        (Some(t), _, _) => t,
        (None, Some(_), _) => media::OCI_INDEX.to_string(),
        (None, None, Some(_)) => media::OCI_MANIFEST.to_string(),
        (None, None, None) => return Err(Error::malformed("manifest", "it has neither `config` nor `manifests`")),
    })
}

/// The children of a manifest or index, in walk order (config, layers; or entries).
pub fn successors(media_type: &str, bytes: &[u8]) -> Result<Vec<Descriptor>> {
    if media::is_index(media_type) {
        Ok(Index::parse(bytes)?.manifests)
    } else if media::is_manifest(media_type) {
        let m = Manifest::parse(bytes)?;
        Ok(std::iter::once(m.config).chain(m.layers).collect())
    } else {
        Ok(Vec::new())
    }
}

mod digest_serde {
    use super::Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.as_str())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample media types for the documents below (wharf-wasm's, without depending on it).
    mod media {
        pub use crate::media::*;
        pub const WASM_CONFIG_V0: &str = "application/vnd.wasm.config.v0+json";
        pub const WASM_LAYER: &str = "application/wasm";
    }

    #[test]
    fn manifest_serialises_in_oci_client_order() {
        let config = Descriptor::of_bytes(media::WASM_CONFIG_V0, b"{}");
        let layer = Descriptor::of_bytes(media::WASM_LAYER, b"\0asm");
        let m = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config,
            layers: vec![layer],
            subject: None,
            artifact_type: None,
            annotations: BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]),
        };
        let text = String::from_utf8(m.to_bytes()).unwrap_or_default();
        let order: Vec<usize> = ["schemaVersion", "mediaType", "config", "layers", "annotations"]
            .iter()
            .filter_map(|k| text.find(&format!("\"{k}\"")))
            .collect();
        assert_eq!(order.len(), 5, "{text}");
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.find("\"a\"") < text.find("\"b\""));
        assert_eq!(Manifest::parse(text.as_bytes()).ok(), Some(m));
    }

    #[test]
    fn bad_digests_in_manifests_are_rejected() {
        let bad = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"md5:00","size":1},"layers":[]}"#;
        assert!(Manifest::parse(bad).is_err());
    }
}
