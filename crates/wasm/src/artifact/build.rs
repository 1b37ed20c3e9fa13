//! Building the CNCF TAG Runtime artifact from a `.wasm` file, reproducibly:
//! the same file and options give the same digests on every machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use wharf_oci::annotations::{AUTHORS, CREATED, Created, DESCRIPTION, LICENSES, REVISION, SOURCE, TITLE, URL, VERSION};
use wharf_oci::manifest::{Descriptor, Index, Manifest, Platform};
use wharf_oci::store::MemoryStore;

use super::{ComponentWorld, WasmConfig};
use crate::error::{Error, Result};
use crate::inspect::{self, WasmInfo, WasmKind};
use crate::scan_cache::ScanCache;

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
    let scanned = scan_file(path, options.scan_cache.as_ref(), None::<fn(&[u8])>)?;
    build_scanned(path, scanned, options)
}

/// [`build`], handing every block read of the file to `tap`, in order, as
/// it is validated and hashed: together the blocks are the file's bytes, the
/// ones the layer's digest is of (a push streams them to the registry meanwhile).
/// When the scan cache knows the file, nothing is read and `tap` is never called.
/// Function bodies are validated on this thread: the work beside it (the
/// upload) needs the other cores.
pub fn build_tapped(path: &Path, options: &BuildOptions, tap: impl FnMut(&[u8])) -> Result<Artifact> {
    let scanned = scan_file(path, options.scan_cache.as_ref(), Some(tap))?;
    build_scanned(path, scanned, options)
}

/// Stages the artifact of the file at `path`, whose scan is `scanned` (from
/// the scan cache, say: [`crate::scan_cache::ScanCache::lookup`]).
pub fn build_scanned(path: &Path, scanned: inspect::Scanned, options: &BuildOptions) -> Result<Artifact> {
    let layer = Descriptor::of(crate::media::WASM_LAYER, scanned.digest, scanned.size);
    let artifact = stage(layer, title_of(path), scanned.info, options)?;
    artifact.store.add_file(&artifact.manifest.layers[0], PathBuf::from(path));
    Ok(artifact)
}

/// Validates `bytes`, the binary a file named `file_name` held, and stages them as
/// a Wasm OCI artifact held in memory: for a binary already read (checked
/// against a world first, say), so that what is pushed is what was read.
pub fn build_bytes(file_name: &Path, bytes: Bytes, options: &BuildOptions) -> Result<Artifact> {
    // The same one-pass inspection as a file gets (what a large component's world
    // is read from included), so the same binary gives the same artifact.
    let scanned = inspect::inspect_reader(&file_name.display().to_string(), bytes.as_ref(), bytes.len() as u64)?;
    let layer = Descriptor::of(crate::media::WASM_LAYER, scanned.digest, scanned.size);
    let artifact = stage(layer, title_of(file_name), scanned.info, options)?;
    artifact.store.add_bytes(&artifact.manifest.layers[0], bytes);
    Ok(artifact)
}

/// The layer title: the file's name (so `oras pull` writes it).
fn title_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "component.wasm".into())
}

/// The config and manifest of the Wasm `layer` (titled `title`, described by
/// `info`), staged in a store that still lacks the layer's content.
fn stage(mut layer: Descriptor, title: String, info: WasmInfo, options: &BuildOptions) -> Result<Artifact> {
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
    store.add_bytes(&root, manifest_bytes);
    Ok(Artifact { store, root, manifest, config, info })
}

/// Validates and inspects the file at `path` in one pass, or takes the
/// result from `cache` when the file is unchanged since a cached scan.
/// With a `tap`, every block read goes to it and bodies are validated inline
/// ([`inspect::inspect_reader_inline`]).
fn scan_file(path: &Path, cache: Option<&ScanCache>, tap: Option<impl FnMut(&[u8])>) -> Result<inspect::Scanned> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let before = file.metadata().map_err(|e| Error::io("cannot read", path, e))?;
    if let Some(hit) = cache.and_then(|c| c.lookup(&before)) {
        tracing::debug!(digest = %hit.digest, "scan taken from the cache");
        return Ok(hit);
    }
    let started = std::time::SystemTime::now();
    let name = path.display().to_string();
    let scanned = match tap {
        Some(tap) => inspect::inspect_reader_inline(&name, Tapped { inner: &file, tap }, before.len())?,
        None => inspect::inspect_reader(&name, &file, before.len())?,
    };
    if let (Some(cache), Ok(after)) = (cache, file.metadata()) {
        cache.store(&before, &after, started, &scanned);
    }
    Ok(scanned)
}

/// A reader that shows every block it reads to `tap`.
struct Tapped<R, F> {
    inner: R,
    tap: F,
}

impl<R: std::io::Read, F: FnMut(&[u8])> std::io::Read for Tapped<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        if let Some(block) = buf.get(..read).filter(|b| !b.is_empty()) {
            (self.tap)(block);
        }
        Ok(read)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` with a custom section of `size` bytes appended (a component stays valid).
    fn with_custom_section(mut bytes: Vec<u8>, size: usize) -> Vec<u8> {
        let name = b"padding";
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name);
        body.resize(body.len() + size, 0x2a);
        bytes.push(0);
        let mut len = body.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            bytes.push(if len == 0 { byte } else { byte | 0x80 });
            if len == 0 {
                break;
            }
        }
        bytes.extend_from_slice(&body);
        bytes
    }

    /// A file and the same bytes read into memory (as `push --wit` reads them) give one
    /// artifact, for a large component too, whose world is read from its stream.
    #[test]
    fn a_file_and_its_bytes_build_the_same_artifact() {
        let component = wharf_examples::build_hello_component().expect("build the hello component");
        let dir = tempfile::tempdir().expect("tempdir");
        for bytes in [component.clone(), with_custom_section(component, 5 << 20)] {
            let path = dir.path().join("hello.wasm");
            std::fs::write(&path, &bytes).expect("write");
            let options =
                BuildOptions { created: Created::At(0), annotations: BTreeMap::new(), target: None, scan_cache: None };
            let from_file = build(&path, &options).expect("build from the file");
            let from_bytes = build_bytes(&path, Bytes::from(bytes), &options).expect("build from the bytes");
            assert_eq!(from_bytes.config, from_file.config);
            assert_eq!(from_bytes.root, from_file.root);
        }
    }
}
