//! The Wasm OCI artifact: building the CNCF TAG Runtime layout
//! (config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//! layer) reproducibly, and recognising it, and the legacy shapes, when reading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inspect::{self, WasmInfo, WasmKind};
use crate::media::WASM_SHAPES;
use crate::scan_cache::ScanCache;
use wharf_oci::annotations::{AUTHORS, CREATED, Created, DESCRIPTION, LICENSES, REVISION, SOURCE, TITLE, URL, VERSION};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::{Descriptor, Index, Manifest, Platform};
use wharf_oci::store::MemoryStore;

pub mod read;

pub use read::{MAX_WASM_IN_MEMORY, Resolved, fetch_wasm, fetch_wasm_within, resolve_artifact, within_limit};

/// The config document, field for field as the CNCF spec and the `oci-wasm`
/// crate write it (including explicit `null`s), so wkg, wash and Spin read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 creation time.
    #[serde(default)]
    pub created: Option<String>,
    /// Author, when known.
    #[serde(default)]
    pub author: Option<String>,
    /// Always `wasm`.
    #[serde(default)]
    pub architecture: String,
    /// `wasip2` for components, `wasip1` for core modules.
    #[serde(default)]
    pub os: String,
    /// Digests of the layers, in order.
    #[serde(default)]
    pub layer_digests: Vec<String>,
    /// The component's world; absent for core modules.
    #[serde(default)]
    pub component: Option<ComponentWorld>,
}

/// The `component` field of the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentWorld {
    /// Exports, sorted.
    #[serde(default)]
    pub exports: Vec<String>,
    /// Imports, sorted.
    #[serde(default)]
    pub imports: Vec<String>,
    /// The declared target world (`ns:pkg/world@version`), when known.
    #[serde(default)]
    pub target: Option<String>,
}

/// Choices for [`build`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Creation time.
    pub created: Created,
    /// Extra manifest annotations (override the ones derived from metadata).
    pub annotations: BTreeMap<String, String>,
    /// The world the component was checked against (`ns:pkg/world@version`),
    /// recorded as the config's `component.target`.
    pub target: Option<String>,
    /// Where earlier scans of unchanged files are remembered (none: always scan).
    pub scan_cache: Option<ScanCache>,
}

/// A staged artifact, ready to be copied to any store.
pub struct Artifact {
    /// The staged content (manifest and config in memory, layer from its file).
    pub store: MemoryStore,
    /// The manifest's descriptor (the root to copy).
    pub root: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The config.
    pub config: WasmConfig,
    /// What inspection found, warnings included.
    pub info: WasmInfo,
}

/// Validates the file at `path` and stages it as a Wasm OCI artifact.
///
/// The file is read once, in bounded chunks: validation, inspection and the
/// layer's SHA-256 share that pass, so memory does not grow with the file.
/// With [`BuildOptions::scan_cache`], an unchanged file is not read at all.
pub fn build(path: &Path, options: &BuildOptions) -> Result<Artifact> {
    let scanned = scan_file(path, options.scan_cache.as_ref())?;
    let info = scanned.info;
    let mut layer = Descriptor::of(crate::media::WASM_LAYER, scanned.digest, scanned.size);
    let title = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "component.wasm".into());
    layer.annotations.insert(TITLE.into(), title);

    let created = options.created.rfc3339();
    let config = WasmConfig {
        created: Some(created.clone()),
        author: info.metadata.authors.clone(),
        architecture: "wasm".into(),
        os: info.kind.os().into(),
        layer_digests: vec![layer.digest.to_string()],
        component: (info.kind == WasmKind::Component).then(|| ComponentWorld {
            exports: info.exports.clone(),
            imports: info.imports.clone(),
            target: options.target.clone(),
        }),
    };
    let config_bytes = Bytes::from(serde_json::to_vec(&config).map_err(|e| Error::malformed("config", e))?);
    let config_desc = Descriptor::of_bytes(crate::media::WASM_CONFIG_V0, &config_bytes);

    let mut annotations = metadata_annotations(&info);
    annotations.insert(CREATED.into(), created);
    annotations.extend(options.annotations.clone());
    let manifest = Manifest::image(config_desc.clone(), vec![layer.clone()], annotations);
    let manifest_bytes = Bytes::from(manifest.to_bytes());
    let root = Descriptor::of_bytes(wharf_oci::media::OCI_MANIFEST, &manifest_bytes);

    let store = MemoryStore::new();
    store.add_bytes(&config_desc, config_bytes);
    store.add_file(&layer, PathBuf::from(path));
    store.add_bytes(&root, manifest_bytes);
    Ok(Artifact { store, root, manifest, config, info })
}

/// Validates and inspects the file at `path` in one pass, or takes the
/// result from `cache` when the file is unchanged since a cached scan.
fn scan_file(path: &Path, cache: Option<&ScanCache>) -> Result<inspect::Scanned> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let before = file.metadata().map_err(|e| Error::io("cannot read", path, e))?;
    if let Some(hit) = cache.and_then(|c| c.lookup(&before)) {
        tracing::debug!(digest = %hit.digest, "scan taken from the cache");
        return Ok(hit);
    }
    let started = std::time::SystemTime::now();
    let scanned = inspect::inspect_reader(&path.display().to_string(), &file, before.len())?;
    if let (Some(cache), Ok(after)) = (cache, file.metadata()) {
        cache.store(&before, &after, started, &scanned);
    }
    Ok(scanned)
}

/// An image index over a built artifact (`wharf push --index`).
pub struct IndexedArtifact {
    /// The index's descriptor (the root to copy and tag).
    pub root: Descriptor,
    /// The index.
    pub index: Index,
    /// The platform of its single entry.
    pub platform: Platform,
}

impl Artifact {
    /// Stages an OCI image index whose single entry is this artifact's
    /// manifest with platform `{architecture: wasm, os: <config os>}`
    /// (`wasip2` for a component, `wasip1` for a core module), so platform-aware
    /// clients (containerd, skopeo, docker) select the Wasm entry. The bytes are
    /// deterministic: the same artifact gives the same index digest.
    pub fn with_index(&self) -> IndexedArtifact {
        let mut entry = self.root.clone();
        let platform = Platform {
            architecture: self.config.architecture.clone(),
            os: self.config.os.clone(),
            os_version: None,
            variant: None,
        };
        entry.platform = Some(platform.clone());
        let index = Index::image_index(vec![entry]);
        let bytes = Bytes::from(index.to_bytes());
        let root = Descriptor::of_bytes(wharf_oci::media::OCI_INDEX, &bytes);
        self.store.add_bytes(&root, bytes);
        IndexedArtifact { root, index, platform }
    }
}

/// Manifest annotations from wasm-metadata, mapped the way wkg maps them.
fn metadata_annotations(info: &WasmInfo) -> BTreeMap<String, String> {
    let m = &info.metadata;
    [
        (DESCRIPTION, &m.description),
        (LICENSES, &m.licenses),
        (SOURCE, &m.source),
        (URL, &m.homepage),
        (AUTHORS, &m.authors),
        (VERSION, &m.version),
        (REVISION, &m.revision),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
    .collect()
}

/// How a manifest holds its Wasm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmLayout {
    /// The shape's name (`cncf-wasm-v0`, or a legacy one).
    pub shape: String,
    /// The layer holding the Wasm binary.
    pub layer: Descriptor,
    /// Oddities worth telling the user (extra layers).
    pub warnings: Vec<String>,
}

/// Finds the Wasm layer of a manifest, naming the shape it follows, or says
/// clearly why this is not a Wasm artifact.
pub fn wasm_layout(manifest: &Manifest) -> Result<WasmLayout> {
    let config_type = manifest.config.media_type.as_str();
    let mut warnings = Vec::new();
    let (shape, accepted): (String, &[&str]) = match WASM_SHAPES.iter().find(|s| s.config == config_type) {
        Some(s) => (s.name.to_string(), s.layers),
        None => ("image with a Wasm layer".to_string(), crate::media::WASM_LAYER_TYPES),
    };
    let wasm_layers: Vec<&Descriptor> =
        manifest.layers.iter().filter(|l| accepted.contains(&l.media_type.as_str())).collect();
    let Some(layer) = wasm_layers.first() else {
        let layer_types: Vec<&str> = manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
        return Err(Error::NotWasmArtifact(format!(
            "this is not a Wasm artifact: its config is {config_type} and its layers are [{}]; wharf reads {} artifacts and the legacy Wasm shapes",
            layer_types.join(", "),
            crate::media::WASM_CONFIG_V0
        )));
    };
    // A Spin app's locked-app layer belongs beside its Wasm: expected, not an extra layer.
    let counted = manifest.layers.iter().filter(|l| l.media_type != crate::media::SPIN_APPLICATION_LAYER).count();
    if counted > 1 {
        warnings.push(format!(
            "the manifest has {counted} layers; the Wasm OCI spec allows one, so only the first Wasm layer ({}) is used",
            layer.digest
        ));
    }
    Ok(WasmLayout { shape, layer: (*layer).clone(), warnings })
}

/// Parses a config blob as a Wasm config, if its media type says it is one.
pub fn parse_config(media_type: &str, bytes: &[u8]) -> Option<WasmConfig> {
    if WASM_SHAPES.iter().any(|s| s.config == media_type) { serde_json::from_slice(bytes).ok() } else { None }
}

/// Picks the Wasm entry of an index: the one whose platform is `wasm`, else the only one.
pub fn pick_from_index(entries: &[Descriptor]) -> Result<Descriptor> {
    let wasm: Vec<&Descriptor> =
        entries.iter().filter(|e| e.platform.as_ref().is_some_and(|p| p.architecture == "wasm")).collect();
    let pick = match (wasm.as_slice(), entries) {
        ([one, ..], _) => (*one).clone(),
        ([], [only]) => only.clone(),
        _ => {
            return Err(Error::NotWasmArtifact(format!(
                "this image index has {} entries and none for platform wasm; name one by digest",
                entries.len()
            )));
        }
    };
    Ok(pick)
}

/// True if `digest` names the layer of `config.layerDigests` (when listed).
pub fn config_lists_layer(config: &WasmConfig, digest: &Digest) -> bool {
    config.layer_digests.is_empty() || config.layer_digests.iter().any(|d| d == digest.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bytes_match_oci_wasm_field_order_and_nulls() {
        let c = WasmConfig {
            created: Some("1970-01-01T00:00:00Z".into()),
            author: None,
            architecture: "wasm".into(),
            os: "wasip1".into(),
            layer_digests: vec!["sha256:aa".into()],
            component: None,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap_or_default(),
            r#"{"created":"1970-01-01T00:00:00Z","author":null,"architecture":"wasm","os":"wasip1","layerDigests":["sha256:aa"],"component":null}"#
        );
    }

    #[test]
    fn non_wasm_manifests_are_named_as_such() {
        let m = Manifest::image(
            Descriptor::of_bytes("application/vnd.oci.image.config.v1+json", b"{}"),
            vec![Descriptor::of_bytes("application/vnd.oci.image.layer.v1.tar+gzip", b"x")],
            BTreeMap::new(),
        );
        match wasm_layout(&m) {
            Err(Error::NotWasmArtifact(msg)) => assert!(msg.contains("tar+gzip"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_spin_apps_locked_app_layer_is_not_an_extra_layer() {
        use crate::media::{SPIN_APPLICATION_LAYER, SPIN_WASM_LAYER};
        let config = Descriptor::of_bytes("application/vnd.oci.image.config.v1+json", b"{}");
        let wasm = Descriptor::of_bytes(SPIN_WASM_LAYER, b"\0asm");
        let locked = Descriptor::of_bytes(SPIN_APPLICATION_LAYER, b"{}");
        let spin = Manifest::image(config.clone(), vec![wasm.clone(), locked.clone()], BTreeMap::new());
        let layout = wasm_layout(&spin).expect("a Spin app holds Wasm");
        assert_eq!(layout.layer, wasm);
        assert!(layout.warnings.is_empty(), "{:?}", layout.warnings);

        let other = Descriptor::of_bytes("application/vnd.oci.image.layer.v1.tar", b"x");
        let extra = Manifest::image(config, vec![wasm.clone(), locked, other], BTreeMap::new());
        let warnings = wasm_layout(&extra).expect("still Wasm").warnings;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("has 2 layers") && warnings[0].contains(wasm.digest.as_str()), "{warnings:?}");
    }
}
