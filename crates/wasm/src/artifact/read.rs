//! Reading a Wasm artifact: which manifest and layer hold the Wasm ([`resolve_artifact`],
//! reading manifests and config only), the Wasm itself into memory within a limit
//! ([`fetch_wasm`]) or into a file ([`write_verified`], [`pull_verified`] by chunks), always verified
//! against its digest.

use std::path::Path;

use serde::Serialize;
use wharf_oci::chunks::{ChunkCache, LayerTransfer, pull_layer};
use wharf_oci::copy::Progress;
use wharf_oci::manifest::{Descriptor, Index, MAX_DOCUMENT_SIZE, Manifest};
use wharf_oci::open::open_source;
use wharf_oci::reference::{Reference, Selector};
use wharf_oci::store::{ReadStore, collect_verified, write_file_verified};
use wharf_oci::transport::TransportOptions;

use super::WasmConfig;
use crate::error::{Error, Result};
use crate::inspect::{WasmKind, kind_of_header};
use crate::media::{self as wasm_media, WASM_SHAPES};
use wharf_oci::digest::Digest;

/// A resolved Wasm artifact: manifest, config and where its Wasm is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    /// The descriptor the reference resolved to (an index or a manifest).
    pub root: Descriptor,
    /// The manifest chosen (the root itself, or an index entry).
    pub manifest_descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The config, if it is a Wasm config.
    pub config: Option<WasmConfig>,
    /// The shape found (`cncf-wasm-v0` or a legacy one).
    pub shape: String,
    /// The layer holding the Wasm.
    pub layer: Descriptor,
    /// Oddities found on the way.
    pub warnings: Vec<String>,
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
        None => ("image with a Wasm layer".to_string(), wasm_media::WASM_LAYER_TYPES),
    };
    let wasm_layers: Vec<&Descriptor> =
        manifest.layers.iter().filter(|l| accepted.contains(&l.media_type.as_str())).collect();
    let Some(layer) = wasm_layers.first() else {
        let layer_types: Vec<&str> = manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
        return Err(Error::NotWasmArtifact(format!(
            "this is not a Wasm artifact: its config is {config_type} and its layers are [{}]; wharf reads {} artifacts and the legacy Wasm shapes",
            layer_types.join(", "),
            wasm_media::WASM_CONFIG_V0
        )));
    };
    // A Spin app's locked-app layer belongs beside its Wasm: expected, not an extra layer.
    let counted = manifest.layers.iter().filter(|l| l.media_type != wasm_media::SPIN_APPLICATION_LAYER).count();
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

/// Resolves `selector` in `store` to a Wasm artifact, reading manifests and
/// config only (never the layer).
pub async fn resolve_artifact(store: &dyn ReadStore, selector: &Selector) -> Result<Resolved> {
    let root = store.resolve(selector).await?;
    let manifest_descriptor = if wharf_oci::media::is_index(&root.media_type) {
        let index = Index::parse(&store.fetch_bytes(&root).await?)?;
        pick_from_index(&index.manifests)?
    } else {
        root.clone()
    };
    if !manifest_descriptor.is_manifest() {
        return Err(Error::NotWasmArtifact(format!(
            "{} is a {}, not a manifest",
            manifest_descriptor.digest, manifest_descriptor.media_type
        )));
    }
    let manifest = Manifest::parse(&store.fetch_bytes(&manifest_descriptor).await?)?;
    let layout = wasm_layout(&manifest)?;
    let mut warnings = layout.warnings;
    let config = if manifest.config.size <= MAX_DOCUMENT_SIZE {
        let bytes = store.fetch_bytes(&manifest.config).await?;
        parse_config(&manifest.config.media_type, &bytes)
    } else {
        warnings.push(format!(
            "the config declares {} bytes, over the {}-byte limit for documents: not read",
            manifest.config.size, MAX_DOCUMENT_SIZE
        ));
        None
    };
    if let Some(c) = &config
        && !config_lists_layer(c, &layout.layer.digest)
    {
        warnings.push(format!("the config's layerDigests do not list the layer {}", layout.layer.digest));
    }
    Ok(Resolved { root, manifest_descriptor, manifest, config, shape: layout.shape, layer: layout.layer, warnings })
}

/// Streams the Wasm layer `desc` from `store` into `path`, verified, refusing
/// content that does not start like a WebAssembly binary. Returns what its
/// header says it is (a component or a core module), when it says.
pub async fn write_verified(
    store: &dyn ReadStore,
    desc: &Descriptor,
    path: &Path,
    progress: Option<&dyn Progress>,
) -> Result<Option<WasmKind>> {
    let mut watch = HeaderWatch::new(desc, progress);
    let mut offset = 0u64;
    let see = |piece: &bytes::Bytes| {
        let at = offset;
        offset += piece.len() as u64;
        watch.see(at, piece)
    };
    write_file_verified(store.fetch(desc).await?, desc, path, see).await?;
    Ok(watch.kind)
}

/// [`write_verified`] by chunks where it can: the layer `desc` of the manifest
/// `subject`, its chunks the cache holds read locally and the others fetched
/// by range when the store has a chunk index of it, else whole
/// ([`wharf_oci::chunks::pull_layer`]); verified and written atomically the same.
pub async fn pull_verified(
    store: &dyn ReadStore,
    subject: &Digest,
    desc: &Descriptor,
    path: &Path,
    cache: Option<&ChunkCache>,
    progress: Option<&dyn Progress>,
) -> Result<(Option<WasmKind>, LayerTransfer)> {
    let mut watch = HeaderWatch::new(desc, progress);
    let mut inspect = |offset: u64, piece: &bytes::Bytes| watch.see(offset, piece);
    let transfer = pull_layer(store, subject, desc, path, cache, &mut inspect).await?;
    Ok((watch.kind, transfer))
}

/// Sees a layer's bytes go by: refuses a first piece without the `\0asm`
/// header, notes the kind it says, and reports progress.
struct HeaderWatch<'a> {
    desc: &'a Descriptor,
    progress: Option<&'a dyn Progress>,
    kind: Option<WasmKind>,
}

impl<'a> HeaderWatch<'a> {
    fn new(desc: &'a Descriptor, progress: Option<&'a dyn Progress>) -> Self {
        HeaderWatch { desc, progress, kind: None }
    }

    /// The piece of the layer at `offset` (a pull that starts over sees offset 0 again).
    fn see(&mut self, offset: u64, piece: &bytes::Bytes) -> Result<()> {
        if offset == 0 && piece.len() >= 4 {
            if !piece.starts_with(b"\0asm") {
                return Err(Error::NotWasmArtifact(format!(
                    "the layer {} does not hold a WebAssembly binary (no \\0asm header)",
                    self.desc.digest
                )));
            }
            self.kind = kind_of_header(piece);
        }
        if let Some(p) = self.progress {
            p.advanced(self.desc, piece.len() as u64);
        }
        Ok(())
    }
}

/// How the warning of [`kind_warning`] ends: the fix (a front end may name its own push command).
pub const PUSH_AGAIN: &str = "push it again to fix the config";

/// A warning when the config's `os` says another kind than the Wasm's header
/// (wkg 0.16 labels core modules `wasip2`): runtimes that trust the config
/// would treat the binary as what it is not.
pub fn kind_warning(config: Option<&WasmConfig>, kind: Option<WasmKind>) -> Option<String> {
    let (config, kind) = (config?, kind?);
    (config.os != kind.os()).then(|| {
        let what = match kind {
            WasmKind::Component => "a component",
            WasmKind::Module => "a core module",
        };
        format!(
            "the config says os {:?}, but the layer holds {what} (os {:?}); runtimes that go by the config may \
             refuse or misload it ({PUSH_AGAIN})",
            config.os,
            kind.os()
        )
    })
}

/// Largest Wasm binary [`fetch_wasm`] reads into memory.
pub const MAX_WASM_IN_MEMORY: u64 = 1 << 30;

/// Refuses content of `size` bytes over `limit` before any of it is read:
/// `what` names it in the error, and `purpose` says what it would be read for.
/// The one size check of every read of a whole binary into memory.
pub fn within_limit(what: &str, size: u64, limit: u64, purpose: Option<&str>) -> Result<()> {
    if size <= limit {
        return Ok(());
    }
    let purpose = purpose.map(|p| format!(" for {p}")).unwrap_or_default();
    Err(Error::Usage(format!("{what} is {size} bytes, over the {limit}-byte limit{purpose}")))
}

/// Reads the Wasm binary of `reference` into memory, verified against its
/// digest, with the artifact it came from. For commands that must parse the
/// whole binary (checks, composition); pulls to disk use `wharf::pull`.
pub async fn fetch_wasm(reference: &Reference, transport: &TransportOptions) -> Result<(Resolved, Vec<u8>)> {
    fetch_wasm_within(reference, transport, MAX_WASM_IN_MEMORY).await
}

/// [`fetch_wasm`], refusing a layer over `max_bytes` before reading any of it
/// (the admission webhook's `limits.componentSize`).
pub async fn fetch_wasm_within(
    reference: &Reference,
    transport: &TransportOptions,
    max_bytes: u64,
) -> Result<(Resolved, Vec<u8>)> {
    let store = open_source(reference, transport).await?;
    let resolved = resolve_artifact(store.as_ref(), &reference.selector()).await?;
    let layer = &resolved.layer;
    within_limit(&format!("the Wasm layer of {reference}"), layer.size, max_bytes, None)?;
    let bytes = collect_verified(store.fetch(layer).await?, layer).await?;
    Ok((resolved, bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

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
