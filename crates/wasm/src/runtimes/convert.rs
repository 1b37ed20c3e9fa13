//! `wharf convert`: rewrites a Wasm artifact into the shape a given runtime
//! reads, reusing the Wasm blob (same digest, never re-uploaded: the copy walk
//! skips or mounts what the destination has).
//!
//! Shapes:
//! - [`Shape::Cncf`]: the CNCF TAG Runtime artifact `wharf push` writes.
//! - [`Shape::Runwasi`]: runwasi's OCI-layer form, as its `oci-tar-builder`
//!   writes it (`crates/oci-tar-builder/src/bin.rs`): an OCI image config with
//!   `architecture: wasm`, `os: wasip1`, `config.Entrypoint`, the label
//!   `containerd.runwasi.layers` (SHA-256 hex of the concatenated layer digest
//!   hexes) and `rootfs {type: layers, diff_ids: []}`; the layer is the raw
//!   Wasm as `application/vnd.bytecodealliance.wasm.component.layer.v0+wasm`.
//! - [`Shape::Crun`]: a classic image for crun's Wasm handler and Docker+Wasm:
//!   `/app.wasm` in a deterministic uncompressed tar layer, config `os: wasi`,
//!   `Entrypoint: ["/app.wasm"]`, `rootfs.diff_ids` = the tar digest, and
//!   `module.wasm.image/variant=compat-smart` on the manifest and in the config
//!   Labels. The only shape that cannot reuse the Wasm blob (it is in the tar).
//! - [`Shape::Spin`]: the application `spin registry push` writes and
//!   `spin up --from` runs (see [`super::spin`] for the sources): an OCI image
//!   config (`os: Wasip1`, the locked app's digest as a label), the Wasm blob as
//!   an `application/vnd.wasm.content.layer.v1+wasm` layer, then the locked app
//!   referencing it by digest.
//!
//! A converted manifest carries what the CNCF form needs, so converting back
//! gives the original manifest digest: the original config document
//! ([`CNCF_CONFIG`]), manifest annotations ([`CNCF_ANNOTATIONS`]) and layer
//! title ([`CNCF_TITLE`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;

use wharf_oci::annotations::{CREATED, Created, TITLE};
use wharf_oci::media::{OCI_IMAGE_CONFIG, OCI_TAR_LAYER};
use wharf_oci::open::{destination_tags, open_destination, open_source};

use super::spin::{self, SpinApp, SpinTrigger};
use super::tar::{tar_find, tar_one_file};
use crate::artifact::{self, MAX_WASM_IN_MEMORY, Resolved, WasmConfig, within_limit};
use crate::entry_point::{self, Entry};
use crate::error::{Error, Result};
use crate::media::{RUNWASI_LAYER, SPIN_APPLICATION_LAYER, SPIN_WASM_LAYER};
use wharf_oci::copy::{CopyOptions, CopyReport, Progress, copy};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::{Descriptor, Manifest};
use wharf_oci::reference::{Reference, Selector};
use wharf_oci::store::{ByteStream, MemoryStore, ReadStore, RepoLocation};
use wharf_oci::transport::TransportOptions;

/// runwasi's config label making each config unique (`oci-tar-builder`).
pub const RUNWASI_LAYERS_LABEL: &str = "containerd.runwasi.layers";
/// crun's annotation selecting its Wasm handler (`*-smart`: only when `args[0]` ends in `.wasm`).
pub const CRUN_VARIANT: &str = "module.wasm.image/variant";
/// The value wharf writes for [`CRUN_VARIANT`].
pub const CRUN_VARIANT_VALUE: &str = "compat-smart";
/// The path of the Wasm inside the crun image's tar layer (and its entrypoint).
pub const CRUN_WASM_PATH: &str = "/app.wasm";
/// Manifest annotation: the original CNCF config document, verbatim.
pub const CNCF_CONFIG: &str = "dev.wharf.cncf.config";
/// Manifest annotation: the original CNCF manifest annotations, as a JSON object.
pub const CNCF_ANNOTATIONS: &str = "dev.wharf.cncf.annotations";
/// Manifest annotation: the original layer title.
pub const CNCF_TITLE: &str = "dev.wharf.cncf.title";

/// A runtime shape: what `convert` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The CNCF Wasm OCI artifact (`wharf push`'s form).
    Cncf,
    /// runwasi's OCI-layer form.
    Runwasi,
    /// A classic image for crun's Wasm handler and Docker+Wasm (the Wasm inside a tar layer).
    Crun,
    /// A one-component Spin application (`spin up --from`).
    Spin,
}

impl Shape {
    /// The shape's name, as `inspect` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Cncf => "cncf-wasm-v0",
            Shape::Runwasi => "runwasi-oci",
            Shape::Crun => "crun-image",
            Shape::Spin => "spin-app",
        }
    }
}

impl std::str::FromStr for Shape {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cncf" => Ok(Shape::Cncf),
            "runwasi" => Ok(Shape::Runwasi),
            "crun" => Ok(Shape::Crun),
            "spin" => Ok(Shape::Spin),
            other => Err(Error::Usage(format!("unknown target shape {other:?}: give cncf, runwasi, crun or spin"))),
        }
    }
}

/// How [`runtimes_for`] names wasmtime for the CNCF shape: it runs the Wasm once
/// pulled (a front end may name its own pull command).
pub const WASMTIME_AFTER_A_PULL: &str = "wasmtime (after a pull)";

/// Which runtimes read a shape, as docs/runtimes.md and the research in
/// formats.md §3 support it (sources there).
pub fn runtimes_for(shape: &str) -> &'static [&'static str] {
    match shape {
        "cncf-wasm-v0" => &[
            WASMTIME_AFTER_A_PULL,
            "wkg (`wkg oci pull`)",
            "wasmCloud v2 (`wash oci pull`)",
            "runwasi (artifact mode, through CRI)",
            "Spin (as a component `source` in spin.toml, not `spin up --from`)",
        ],
        "runwasi-oci" => &["runwasi (containerd shims, OCI-layer mode)"],
        "crun-image" => &["crun with a Wasm handler", "Docker+Wasm (deprecated by Docker)"],
        "spin-app" => &["Spin (`spin up --from`)", "containerd-shim-spin"],
        _ => &[],
    }
}

/// The runtime shape of a manifest: `cncf-wasm-v0`, `runwasi-oci` (an OCI
/// image config over a runwasi Wasm layer), `spin-app` (a locked-app layer),
/// `crun-image`, else `None` (a legacy shape).
pub fn runtime_shape(manifest: &Manifest) -> Option<&'static str> {
    let config = manifest.config.media_type.as_str();
    if config == crate::media::WASM_CONFIG_V0 {
        Some(Shape::Cncf.name())
    } else if config == OCI_IMAGE_CONFIG && manifest.layers.iter().any(|l| l.media_type == RUNWASI_LAYER) {
        Some(Shape::Runwasi.name())
    } else if manifest.layers.iter().any(|l| l.media_type == SPIN_APPLICATION_LAYER) {
        Some(Shape::Spin.name())
    } else if manifest.annotations.contains_key(CRUN_VARIANT) {
        Some(Shape::Crun.name())
    } else {
        None
    }
}

/// Options for [`convert`].
pub struct ConvertOptions {
    /// The shape to write.
    pub to: Shape,
    /// Transport settings.
    pub transport: TransportOptions,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
}

/// What a conversion did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertReport {
    /// The source `location@digest` (of the manifest read).
    pub source: String,
    /// The shape read.
    pub source_shape: String,
    /// The destination `location@digest`.
    pub reference: String,
    /// The written manifest's digest.
    pub digest: Digest,
    /// The shape written.
    pub shape: String,
    /// Tags written.
    pub tags: Vec<String>,
    /// The Wasm blob, the same digest in both shapes.
    pub wasm_digest: Digest,
    /// Transfer summary (the Wasm blob is skipped or mounted when the destination can reach it).
    pub transfer: CopyReport,
    /// The Spin application written (with `--to spin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spin: Option<SpinApp>,
}

/// Converts the artifact at `src` to the shape `options.to`, written at `dst`.
pub async fn convert(src: &Reference, dst: &Reference, options: &ConvertOptions) -> Result<ConvertReport> {
    let tags = destination_tags(dst, src.tag(), &[])?;
    let source = open_source(src, &options.transport).await?;
    let staged = stage(source.as_ref(), &src.selector(), options.to, &src.short_name()).await?;
    let overlay = Overlay { staged: staged.store, source: source.as_ref() };
    let destination = open_destination(dst, &options.transport).await?;
    let copy_options = CopyOptions { tags: tags.clone(), progress: options.progress.clone(), ..CopyOptions::default() };
    let transfer = copy(&overlay, &staged.root, destination.as_ref(), &copy_options).await?;
    Ok(ConvertReport {
        source: src.pinned(&staged.resolved.manifest_descriptor.digest),
        source_shape: staged.resolved.shape,
        reference: dst.pinned(&staged.root.digest),
        digest: staged.root.digest,
        shape: options.to.name().into(),
        tags,
        wasm_digest: staged.resolved.layer.digest,
        transfer,
        spin: staged.spin,
    })
}

/// A conversion staged in memory: the new manifest and the documents it
/// adds, to be read over the source store (which holds the Wasm blob).
pub struct Staged {
    /// The source artifact (for a crun image, `layer` is the Wasm taken out of the tar, staged).
    pub resolved: Resolved,
    /// The new manifest's descriptor.
    pub root: Descriptor,
    /// The new manifest, config and layers (not the reused Wasm blob).
    pub store: MemoryStore,
    /// The Spin application, for [`Shape::Spin`].
    pub spin: Option<SpinApp>,
}

/// Resolves any shape wharf reads at `selector`, reading manifests and config
/// only, except for a crun image, whose Wasm is taken out of its tar and staged
/// in `store` (then `layer` describes that Wasm).
pub async fn resolve_any(source: &dyn ReadStore, selector: &Selector, store: &MemoryStore) -> Result<Resolved> {
    match resolve_crun(source, selector, store).await? {
        Some(resolved) => Ok(resolved),
        None => artifact::resolve_artifact(source, selector).await,
    }
}

/// Stages the artifact at `selector` in `source` in the shape `to`; `name`
/// names it when nothing in the artifact does (a Spin app's name).
pub async fn stage(source: &dyn ReadStore, selector: &Selector, to: Shape, name: &str) -> Result<Staged> {
    let store = MemoryStore::new();
    let resolved = resolve_any(source, selector, &store).await?;
    // A CNCF source's config, verbatim: carried so the way back is byte-exact.
    let cncf_config = if resolved.manifest.config.media_type == crate::media::WASM_CONFIG_V0 {
        Some(source.fetch_bytes(&resolved.manifest.config).await?)
    } else {
        None
    };
    let reads = overlay_of(&store, source);
    let (manifest, spin) = match to {
        Shape::Cncf => (to_cncf(&resolved, &store)?, None),
        Shape::Runwasi => (to_runwasi(&resolved, cncf_config, &store)?, None),
        Shape::Crun => {
            let wasm = wasm_bytes(&reads, &resolved.layer).await?;
            (to_crun(&resolved, cncf_config, &wasm, &store)?, None)
        }
        Shape::Spin => {
            let (manifest, app) = to_spin(&resolved, cncf_config, &reads, name).await?;
            (manifest, Some(app))
        }
    };
    let bytes = Bytes::from(manifest.to_bytes());
    let root = Descriptor::of_bytes(wharf_oci::media::OCI_MANIFEST, &bytes);
    store.add_bytes(&root, bytes);
    Ok(Staged { resolved, root, store, spin })
}

/// The original CNCF facts of `resolved`: its config bytes, manifest
/// annotations and layer title, from the artifact itself when it is CNCF, else
/// from the annotations a wharf conversion left.
struct CncfFacts {
    config: Bytes,
    annotations: BTreeMap<String, String>,
    title: Option<String>,
}

fn cncf_facts(resolved: &Resolved, staged_config: Option<Bytes>) -> Result<CncfFacts> {
    let a = &resolved.manifest.annotations;
    if let Some(config) = staged_config {
        return Ok(CncfFacts { config, annotations: a.clone(), title: resolved.layer.annotations.get(TITLE).cloned() });
    }
    let (Some(config), Some(annotations)) = (a.get(CNCF_CONFIG), a.get(CNCF_ANNOTATIONS)) else {
        return Err(Error::UnknownCncfConfig { shape: resolved.shape.clone() });
    };
    let annotations: BTreeMap<String, String> =
        serde_json::from_str(annotations).map_err(|e| Error::malformed(format!("annotation {CNCF_ANNOTATIONS}"), e))?;
    Ok(CncfFacts { config: Bytes::from(config.clone()), annotations, title: a.get(CNCF_TITLE).cloned() })
}

fn to_cncf(resolved: &Resolved, staged: &MemoryStore) -> Result<Manifest> {
    if resolved.manifest.config.media_type == crate::media::WASM_CONFIG_V0 {
        // Already CNCF: the same manifest (its config comes from the source).
        return Ok(resolved.manifest.clone());
    }
    let facts = cncf_facts(resolved, None)?;
    let config: WasmConfig =
        serde_json::from_slice(&facts.config).map_err(|e| Error::malformed(format!("annotation {CNCF_CONFIG}"), e))?;
    if !artifact::config_lists_layer(&config, &resolved.layer.digest) {
        return Err(Error::malformed(
            format!("annotation {CNCF_CONFIG}"),
            format!("its layerDigests do not list the Wasm layer {}", resolved.layer.digest),
        ));
    }
    let config_desc = Descriptor::of_bytes(crate::media::WASM_CONFIG_V0, &facts.config);
    staged.add_bytes(&config_desc, facts.config);
    let mut layer = wasm_layer(resolved, crate::media::WASM_LAYER);
    if let Some(title) = facts.title {
        layer.annotations.insert(TITLE.into(), title);
    }
    Ok(Manifest::image(config_desc, vec![layer], facts.annotations))
}

/// The Wasm layer descriptor under `media_type`, same digest and size, no annotations.
fn wasm_layer(resolved: &Resolved, media_type: &str) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: resolved.layer.digest.clone(),
        size: resolved.layer.size,
        urls: None,
        annotations: BTreeMap::new(),
        artifact_type: None,
        platform: None,
    }
}

/// runwasi's image config, in oci-spec's field order.
#[derive(Serialize)]
struct RunwasiConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    architecture: &'static str,
    os: &'static str,
    config: RunwasiExec,
    rootfs: RootFs,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RunwasiExec {
    entrypoint: Vec<String>,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

/// The manifest annotations a converted manifest carries: the source's own,
/// plus the CNCF facts for the way back.
pub fn carried_annotations(resolved: &Resolved, cncf_config: Option<Bytes>) -> Result<BTreeMap<String, String>> {
    let facts = match cncf_config {
        Some(config) => Some(cncf_facts(resolved, Some(config))?),
        None => cncf_facts(resolved, None).ok(),
    };
    let mut out: BTreeMap<String, String> = resolved
        .manifest
        .annotations
        .iter()
        .filter(|(k, _)| !k.starts_with("dev.wharf.cncf."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(f) = facts {
        let config = String::from_utf8(f.config.to_vec()).map_err(|e| Error::malformed("config", e))?;
        out.insert(CNCF_CONFIG.into(), config);
        out.insert(
            CNCF_ANNOTATIONS.into(),
            serde_json::to_string(&f.annotations).map_err(|e| Error::malformed("annotations", e))?,
        );
        if let Some(t) = f.title {
            out.insert(CNCF_TITLE.into(), t);
        }
    }
    Ok(out)
}

fn to_runwasi(resolved: &Resolved, cncf_config: Option<Bytes>, staged: &MemoryStore) -> Result<Manifest> {
    let annotations = carried_annotations(resolved, cncf_config)?;
    let title = annotations
        .get(CNCF_TITLE)
        .or_else(|| resolved.layer.annotations.get(TITLE))
        .cloned()
        .unwrap_or_else(|| "app.wasm".into());
    let created = resolved.config.as_ref().and_then(|c| c.created.clone());
    let unique = Digest::of(resolved.layer.digest.hex().as_bytes());
    let config = RunwasiConfig {
        created: created.as_deref(),
        architecture: "wasm",
        os: "wasip1",
        config: RunwasiExec {
            entrypoint: vec![title.clone()],
            labels: BTreeMap::from([(RUNWASI_LAYERS_LABEL.to_string(), unique.hex().to_string())]),
        },
        rootfs: RootFs { kind: "layers", diff_ids: Vec::new() },
    };
    let bytes = Bytes::from(serde_json::to_vec(&config).map_err(|e| Error::malformed("config", e))?);
    let config_desc = Descriptor::of_bytes(OCI_IMAGE_CONFIG, &bytes);
    staged.add_bytes(&config_desc, bytes);
    let mut layer = wasm_layer(resolved, RUNWASI_LAYER);
    layer.annotations.insert(TITLE.into(), title);
    Ok(Manifest::image(config_desc, vec![layer], annotations))
}

/// Spin's application form of `resolved`: the Wasm blob under Spin's layer
/// type, then the locked app naming it by digest, under Spin's image config.
async fn to_spin(
    resolved: &Resolved,
    cncf_config: Option<Bytes>,
    reads: &OverlayRef<'_>,
    name: &str,
) -> Result<(Manifest, SpinApp)> {
    let small = if resolved.layer.size <= spin::INLINE_MAX_SIZE {
        Some(wasm_bytes(reads, &resolved.layer).await?)
    } else {
        None
    };
    let entry = match config_entry(resolved) {
        Some(entry) => entry,
        None => {
            let bytes = match &small {
                Some(bytes) => bytes.clone(),
                None => wasm_bytes(reads, &resolved.layer).await?,
            };
            entry_point::of_binary(resolved.layer.digest.as_str(), &bytes)?
        }
    };
    let carried = carried_annotations(resolved, cncf_config)?;
    let app = spin_app(resolved, &carried, &entry, name)?;
    let created = match carried.get(CREATED).cloned().or_else(|| resolved.config.as_ref()?.created.clone()) {
        Some(created) => created,
        None => Created::reproducible()?.rfc3339(),
    };
    let locked = Bytes::from(app.locked_app(&resolved.layer, small.as_deref()));
    let locked_desc = Descriptor::of_bytes(SPIN_APPLICATION_LAYER, &locked);
    reads.staged.add_bytes(&locked_desc, locked);
    let config = Bytes::from(spin::image_config(&locked_desc.digest));
    let config_desc = Descriptor::of_bytes(OCI_IMAGE_CONFIG, &config);
    reads.staged.add_bytes(&config_desc, config);
    let annotations = app.annotations(carried, &created);
    let layers = vec![wasm_layer(resolved, SPIN_WASM_LAYER), locked_desc];
    Ok((Manifest::image(config_desc, layers, annotations), app))
}

/// The entry point the CNCF config's `component` field tells, without reading the Wasm.
pub fn config_entry(resolved: &Resolved) -> Option<Entry> {
    let world = resolved.config.as_ref()?.component.as_ref()?;
    Some(entry_point::of_component_world(&world.exports, &world.imports))
}

/// The Spin application of `resolved` (with its manifest `annotations`, see
/// [`carried_annotations`]): named by the `title` annotation, else the Wasm's
/// file name, else `name`; or why Spin cannot run `entry`.
pub fn spin_app(
    resolved: &Resolved,
    annotations: &BTreeMap<String, String>,
    entry: &Entry,
    name: &str,
) -> Result<SpinApp> {
    let trigger = SpinTrigger::for_entry(entry)?;
    let fallback = wasm_file_name(resolved).map_or(name, |t| t.trim_end_matches(".wasm"));
    Ok(SpinApp::new(annotations, fallback, trigger))
}

/// The Wasm's original file name: the carried CNCF layer title, else the layer's title.
pub fn wasm_file_name(resolved: &Resolved) -> Option<&str> {
    resolved.manifest.annotations.get(CNCF_TITLE).or_else(|| resolved.layer.annotations.get(TITLE)).map(String::as_str)
}

fn overlay_of<'a>(staged: &'a MemoryStore, source: &'a dyn ReadStore) -> OverlayRef<'a> {
    OverlayRef { staged, source }
}

/// Reads the Wasm blob into memory, verified (a crun image holds it inside a tar).
async fn wasm_bytes(store: &OverlayRef<'_>, layer: &Descriptor) -> Result<Vec<u8>> {
    within_limit("the Wasm layer", layer.size, MAX_WASM_IN_MEMORY, Some("building a tar layer"))?;
    let stream = if store.staged.exists(layer).await? {
        store.staged.fetch(layer).await?
    } else {
        store.source.fetch(layer).await?
    };
    Ok(wharf_oci::store::collect_verified(stream, layer).await?)
}

/// A borrowed view of staged content over a source (for reads before the copy).
struct OverlayRef<'a> {
    staged: &'a MemoryStore,
    source: &'a dyn ReadStore,
}

/// A crun image's config, in oci-spec's field order.
#[derive(Serialize)]
struct CrunConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    architecture: &'static str,
    os: &'static str,
    config: RunwasiExec,
    rootfs: RootFs,
}

fn to_crun(resolved: &Resolved, cncf_config: Option<Bytes>, wasm: &[u8], staged: &MemoryStore) -> Result<Manifest> {
    let mut annotations = carried_annotations(resolved, cncf_config)?;
    annotations.insert(CRUN_VARIANT.into(), CRUN_VARIANT_VALUE.into());
    let tar = Bytes::from(tar_one_file(CRUN_WASM_PATH.trim_start_matches('/'), wasm)?);
    let mut layer = Descriptor::of_bytes(OCI_TAR_LAYER, &tar);
    staged.add_bytes(&layer, tar);
    let created = resolved.config.as_ref().and_then(|c| c.created.clone());
    let config = CrunConfig {
        created: created.as_deref(),
        architecture: "wasm",
        os: "wasi",
        config: RunwasiExec {
            entrypoint: vec![CRUN_WASM_PATH.into()],
            labels: BTreeMap::from([(CRUN_VARIANT.to_string(), CRUN_VARIANT_VALUE.to_string())]),
        },
        rootfs: RootFs { kind: "layers", diff_ids: vec![layer.digest.to_string()] },
    };
    let bytes = Bytes::from(serde_json::to_vec(&config).map_err(|e| Error::malformed("config", e))?);
    let config_desc = Descriptor::of_bytes(OCI_IMAGE_CONFIG, &bytes);
    staged.add_bytes(&config_desc, bytes);
    layer.annotations.insert(TITLE.into(), CRUN_WASM_PATH.trim_start_matches('/').into());
    Ok(Manifest::image(config_desc, vec![layer], annotations))
}

/// Finds a crun image (the [`CRUN_VARIANT`] annotation over an uncompressed
/// tar layer) at `selector`, reading manifests only: the returned `layer` is
/// the tar layer. `None` when it is not a crun image.
pub async fn resolve_crun_manifest(store: &dyn ReadStore, selector: &Selector) -> Result<Option<Resolved>> {
    let root = store.resolve(selector).await?;
    let manifest_descriptor = if wharf_oci::media::is_index(&root.media_type) {
        let index = wharf_oci::manifest::Index::parse(&store.fetch_bytes(&root).await?)?;
        match artifact::pick_from_index(&index.manifests) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        }
    } else {
        root.clone()
    };
    if !manifest_descriptor.is_manifest() || wharf_oci::media::is_index(&manifest_descriptor.media_type) {
        return Ok(None);
    }
    let manifest = Manifest::parse(&store.fetch_bytes(&manifest_descriptor).await?)?;
    if !manifest.annotations.contains_key(CRUN_VARIANT) {
        return Ok(None);
    }
    let Some(tar_layer) = manifest.layers.iter().find(|l| l.media_type == OCI_TAR_LAYER).cloned() else {
        return Err(Error::NotWasmArtifact(format!(
            "this crun image has no uncompressed tar layer ({OCI_TAR_LAYER}); wharf reads the crun images it writes"
        )));
    };
    Ok(Some(Resolved {
        root,
        manifest_descriptor,
        manifest,
        config: None,
        shape: Shape::Crun.name().into(),
        layer: tar_layer,
        warnings: Vec::new(),
    }))
}

/// Reads a crun image: the Wasm is taken out of the tar and staged as a
/// blob, so the CNCF form can be written from it. `None` when the reference
/// is not a crun image.
async fn resolve_crun(store: &dyn ReadStore, selector: &Selector, staged: &MemoryStore) -> Result<Option<Resolved>> {
    let Some(mut resolved) = resolve_crun_manifest(store, selector).await? else {
        return Ok(None);
    };
    let tar_layer = &resolved.layer;
    within_limit("the tar layer", tar_layer.size, MAX_WASM_IN_MEMORY, Some("taking the Wasm out of it"))?;
    let tar = wharf_oci::store::collect_verified(store.fetch(tar_layer).await?, tar_layer).await?;
    let Some(wasm) = tar_find(&tar, CRUN_WASM_PATH) else {
        return Err(Error::NotWasmArtifact(format!("the tar layer {} has no {CRUN_WASM_PATH}", tar_layer.digest)));
    };
    let layer = Descriptor::of_bytes(crate::media::WASM_LAYER, &wasm);
    staged.add_bytes(&layer, Bytes::from(wasm));
    resolved.layer = layer;
    Ok(Some(resolved))
}

/// The staged documents over the source store: the walk reads new documents
/// from memory and everything else (the Wasm blob) from the source.
pub struct Overlay<'a> {
    /// Content staged in memory.
    pub staged: MemoryStore,
    /// The source store.
    pub source: &'a dyn ReadStore,
}

#[async_trait]
impl ReadStore for Overlay<'_> {
    async fn resolve(&self, selector: &Selector) -> wharf_oci::Result<Descriptor> {
        self.source.resolve(selector).await
    }
    async fn fetch(&self, desc: &Descriptor) -> wharf_oci::Result<ByteStream> {
        if self.staged.exists(desc).await? { self.staged.fetch(desc).await } else { self.source.fetch(desc).await }
    }
    async fn exists(&self, desc: &Descriptor) -> wharf_oci::Result<bool> {
        Ok(self.staged.exists(desc).await? || self.source.exists(desc).await?)
    }
    fn location(&self) -> Option<RepoLocation> {
        self.source.location()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_unknown_ones_name_the_choices() {
        assert_eq!("crun".parse::<Shape>().ok(), Some(Shape::Crun));
        assert_eq!("runwasi".parse::<Shape>().ok(), Some(Shape::Runwasi));
        assert_eq!("spin".parse::<Shape>().ok(), Some(Shape::Spin));
        match "wasmedge".parse::<Shape>() {
            Err(Error::Usage(msg)) => assert!(msg.contains("cncf, runwasi, crun or spin"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
