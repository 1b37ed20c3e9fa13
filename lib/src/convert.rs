//! `wharf convert`: rewrites a Wasm artifact into the shape a given runtime
//! reads, reusing the Wasm blob (same digest, never re-uploaded: the copy walk
//! skips or mounts what the destination has).
//!
//! Shapes:
//! - [`Target::Cncf`]: the CNCF TAG Runtime artifact `wharf push` writes.
//! - [`Target::Runwasi`]: runwasi's OCI-layer form, as its `oci-tar-builder`
//!   writes it (`crates/oci-tar-builder/src/bin.rs`): an OCI image config with
//!   `architecture: wasm`, `os: wasip1`, `config.Entrypoint`, the label
//!   `containerd.runwasi.layers` (SHA-256 hex of the concatenated layer digest
//!   hexes) and `rootfs {type: layers, diff_ids: []}`; the layer is the raw
//!   Wasm as `application/vnd.bytecodealliance.wasm.component.layer.v0+wasm`.
//! - [`Target::Crun`]: a classic image for crun's Wasm handler and Docker+Wasm:
//!   `/app.wasm` in a deterministic uncompressed tar layer, config `os: wasi`,
//!   `Entrypoint: ["/app.wasm"]`, `rootfs.diff_ids` = the tar digest, and
//!   `module.wasm.image/variant=compat-smart` on the manifest and in the config
//!   Labels. The only shape that cannot reuse the Wasm blob (it is in the tar).
//! - [`Target::Spin`]: the application `spin registry push` writes and
//!   `spin up --from` runs (see [`crate::spin`] for the sources): an OCI image
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

use crate::artifact::{self, CREATED, Created, TITLE, WasmConfig};
use crate::copy::{CopyOptions, CopyReport, Progress, copy};
use crate::digest::Digest;
use crate::entry::{self, Entry};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Manifest};
use crate::media;
use crate::ops::{self, Resolved, destination_tags, open_destination, open_source};
use crate::reference::{Reference, Selector};
use crate::spin::{self, SPIN_APPLICATION_LAYER, SPIN_WASM_LAYER, SpinApp, SpinTrigger};
use crate::store::{ByteStream, MemoryStore, ReadStore, RepoLocation};
use crate::transport::TransportOptions;

/// The OCI image config media type.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// runwasi's Wasm layer media type (`oci_tar_builder::WASM_LAYER_MEDIA_TYPE`).
pub const RUNWASI_LAYER: &str = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
/// runwasi's config label making each config unique (`oci-tar-builder`).
pub const RUNWASI_LAYERS_LABEL: &str = "containerd.runwasi.layers";
/// The uncompressed OCI tar layer media type (crun's image shape).
pub const OCI_TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
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

/// The shape to convert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The CNCF Wasm OCI artifact (`wharf push`'s form).
    Cncf,
    /// runwasi's OCI-layer form.
    Runwasi,
    /// A classic image for crun's Wasm handler and Docker+Wasm (the Wasm inside a tar layer).
    Crun,
    /// A one-component Spin application (`spin up --from`).
    Spin,
}

impl Target {
    /// The shape name `inspect` reports for it.
    pub fn shape(self) -> &'static str {
        match self {
            Target::Cncf => "cncf-wasm-v0",
            Target::Runwasi => "runwasi-oci",
            Target::Crun => "crun-image",
            Target::Spin => "spin-app",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cncf" => Ok(Target::Cncf),
            "runwasi" => Ok(Target::Runwasi),
            "crun" => Ok(Target::Crun),
            "spin" => Ok(Target::Spin),
            other => Err(Error::Usage(format!("unknown target shape {other:?}: give cncf, runwasi, crun or spin"))),
        }
    }
}

/// Which runtimes read a shape, as docs/runtimes.md and the research in
/// formats.md §3 support it (sources there).
pub fn runtimes_for(shape: &str) -> &'static [&'static str] {
    match shape {
        "cncf-wasm-v0" => &[
            "wasmtime (after `wharf pull`)",
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
    if config == media::WASM_CONFIG_V0 {
        Some(Target::Cncf.shape())
    } else if config == OCI_IMAGE_CONFIG && manifest.layers.iter().any(|l| l.media_type == RUNWASI_LAYER) {
        Some(Target::Runwasi.shape())
    } else if manifest.layers.iter().any(|l| l.media_type == SPIN_APPLICATION_LAYER) {
        Some(Target::Spin.shape())
    } else if manifest.annotations.contains_key(CRUN_VARIANT) {
        Some(Target::Crun.shape())
    } else {
        None
    }
}

/// Options for [`convert`].
pub struct ConvertOptions {
    /// The shape to write.
    pub to: Target,
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
        source: format!("{}@{}", src.location(), staged.resolved.manifest_descriptor.digest),
        source_shape: staged.resolved.shape,
        reference: format!("{}@{}", dst.location(), staged.root.digest),
        digest: staged.root.digest,
        shape: options.to.shape().into(),
        tags,
        wasm_digest: staged.resolved.layer.digest,
        transfer,
        spin: staged.spin,
    })
}

/// A conversion staged in memory: the new manifest and the documents it
/// adds, to be read over the source store (which holds the Wasm blob).
pub(crate) struct Staged {
    /// The source artifact (for a crun image, `layer` is the Wasm taken out of the tar, staged).
    pub resolved: Resolved,
    /// The new manifest's descriptor.
    pub root: Descriptor,
    /// The new manifest, config and layers (not the reused Wasm blob).
    pub store: MemoryStore,
    /// The Spin application, for [`Target::Spin`].
    pub spin: Option<SpinApp>,
}

/// Resolves any shape wharf reads at `selector`, reading manifests and config
/// only, except for a crun image, whose Wasm is taken out of its tar and staged
/// in `store` (then `layer` describes that Wasm).
pub(crate) async fn resolve_any(source: &dyn ReadStore, selector: &Selector, store: &MemoryStore) -> Result<Resolved> {
    match resolve_crun(source, selector, store).await? {
        Some(resolved) => Ok(resolved),
        None => ops::resolve_artifact(source, selector).await,
    }
}

/// Stages the artifact at `selector` in `source` in the shape `to`; `name`
/// names it when nothing in the artifact does (a Spin app's name).
pub(crate) async fn stage(source: &dyn ReadStore, selector: &Selector, to: Target, name: &str) -> Result<Staged> {
    let store = MemoryStore::new();
    let resolved = resolve_any(source, selector, &store).await?;
    // A CNCF source's config, verbatim: carried so the way back is byte-exact.
    let cncf_config = if resolved.manifest.config.media_type == media::WASM_CONFIG_V0 {
        Some(source.fetch_bytes(&resolved.manifest.config).await?)
    } else {
        None
    };
    let reads = overlay_of(&store, source);
    let (manifest, spin) = match to {
        Target::Cncf => (to_cncf(&resolved, &store)?, None),
        Target::Runwasi => (to_runwasi(&resolved, cncf_config, &store)?, None),
        Target::Crun => {
            let wasm = wasm_bytes(&reads, &resolved.layer).await?;
            (to_crun(&resolved, cncf_config, &wasm, &store)?, None)
        }
        Target::Spin => {
            let (manifest, app) = to_spin(&resolved, cncf_config, &reads, name).await?;
            (manifest, Some(app))
        }
    };
    let bytes = Bytes::from(manifest.to_bytes());
    let root = Descriptor::of_bytes(media::OCI_MANIFEST, &bytes);
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
        return Err(Error::Usage(format!(
            "this {} artifact was not made by `wharf convert`, so its CNCF config is unknown; pull the Wasm \
             (`wharf pull`) and push it (`wharf push`) to make the CNCF form",
            resolved.shape
        )));
    };
    let annotations: BTreeMap<String, String> =
        serde_json::from_str(annotations).map_err(|e| Error::malformed(format!("annotation {CNCF_ANNOTATIONS}"), e))?;
    Ok(CncfFacts { config: Bytes::from(config.clone()), annotations, title: a.get(CNCF_TITLE).cloned() })
}

fn to_cncf(resolved: &Resolved, staged: &MemoryStore) -> Result<Manifest> {
    if resolved.manifest.config.media_type == media::WASM_CONFIG_V0 {
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
    let config_desc = Descriptor::of_bytes(media::WASM_CONFIG_V0, &facts.config);
    staged.add_bytes(&config_desc, facts.config);
    let mut layer = wasm_layer(resolved, media::WASM_LAYER);
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
pub(crate) fn carried_annotations(resolved: &Resolved, cncf_config: Option<Bytes>) -> Result<BTreeMap<String, String>> {
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
            entry::of_binary(resolved.layer.digest.as_str(), &bytes)?
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
pub(crate) fn config_entry(resolved: &Resolved) -> Option<Entry> {
    let world = resolved.config.as_ref()?.component.as_ref()?;
    Some(entry::of_component_world(&world.exports, &world.imports))
}

/// The Spin application of `resolved` (with its manifest `annotations`, see
/// [`carried_annotations`]): named by the `title` annotation, else the Wasm's
/// file name, else `name`; or why Spin cannot run `entry`.
pub(crate) fn spin_app(
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
pub(crate) fn wasm_file_name(resolved: &Resolved) -> Option<&str> {
    resolved.manifest.annotations.get(CNCF_TITLE).or_else(|| resolved.layer.annotations.get(TITLE)).map(String::as_str)
}

fn overlay_of<'a>(staged: &'a MemoryStore, source: &'a dyn ReadStore) -> OverlayRef<'a> {
    OverlayRef { staged, source }
}

/// Reads the Wasm blob into memory, verified (a crun image holds it inside a tar).
async fn wasm_bytes(store: &OverlayRef<'_>, layer: &Descriptor) -> Result<Vec<u8>> {
    if layer.size > ops::MAX_WASM_IN_MEMORY {
        return Err(Error::Usage(format!(
            "the Wasm layer is {} bytes, over the {}-byte limit for building a tar layer",
            layer.size,
            ops::MAX_WASM_IN_MEMORY
        )));
    }
    let stream = if store.staged.exists(layer).await? {
        store.staged.fetch(layer).await?
    } else {
        store.source.fetch(layer).await?
    };
    crate::store::collect_verified(stream, layer).await
}

/// A borrowed view of staged content over a source (for reads before the copy).
struct OverlayRef<'a> {
    staged: &'a MemoryStore,
    source: &'a dyn ReadStore,
}

/// One file in a deterministic ustar archive: fixed mtime (0), uid/gid (0),
/// mode 0644, empty user and group names.
pub fn tar_one_file(name: &str, content: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len() + 2048);
    tar_append(&mut out, name, content)?;
    out.extend_from_slice(&[0u8; 1024]);
    Ok(out)
}

/// Appends one file entry (header, content, padding) to a ustar archive
/// being built in `out`, with the fixed owner, mode and mtime of [`tar_one_file`].
pub fn tar_append(out: &mut Vec<u8>, name: &str, content: &[u8]) -> Result<()> {
    if name.len() > 99 {
        return Err(Error::Usage(format!("tar entry name {name:?} is over 99 bytes")));
    }
    if content.len() as u64 >= 1 << 33 {
        return Err(Error::Usage(format!("{name} is over the 8 GiB a ustar entry holds")));
    }
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let width = field.len() - 1;
        let text = format!("{value:0width$o}");
        field[..width].copy_from_slice(text.as_bytes());
    };
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], content.len() as u64);
    octal(&mut header[136..148], 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    Ok(())
}

/// The content of the file `name` in an uncompressed tar archive.
pub fn tar_find(archive: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut at = 0;
    while at + 512 <= archive.len() {
        let header = &archive[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            return None;
        }
        let entry = String::from_utf8_lossy(&header[..100]).trim_end_matches('\0').to_string();
        let size_text = String::from_utf8_lossy(&header[124..136]).trim_matches(|c| c == '\0' || c == ' ').to_string();
        let size = usize::from_str_radix(&size_text, 8).ok()?;
        let start = at + 512;
        let end = start.checked_add(size)?;
        if entry.trim_start_matches("./").trim_start_matches('/') == name.trim_start_matches('/') {
            return archive.get(start..end).map(<[u8]>::to_vec);
        }
        at = start + size.div_ceil(512) * 512;
    }
    None
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
pub(crate) async fn resolve_crun_manifest(store: &dyn ReadStore, selector: &Selector) -> Result<Option<Resolved>> {
    let root = store.resolve(selector).await?;
    let manifest_descriptor = if media::is_index(&root.media_type) {
        let index = crate::manifest::Index::parse(&store.fetch_bytes(&root).await?)?;
        match artifact::pick_from_index(&index.manifests) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        }
    } else {
        root.clone()
    };
    if !manifest_descriptor.is_manifest() || media::is_index(&manifest_descriptor.media_type) {
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
        shape: Target::Crun.shape().into(),
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
    if tar_layer.size > ops::MAX_WASM_IN_MEMORY {
        return Err(Error::Usage(format!("the tar layer is {} bytes, over the in-memory limit", tar_layer.size)));
    }
    let tar = crate::store::collect_verified(store.fetch(tar_layer).await?, tar_layer).await?;
    let Some(wasm) = tar_find(&tar, CRUN_WASM_PATH) else {
        return Err(Error::NotWasmArtifact(format!("the tar layer {} has no {CRUN_WASM_PATH}", tar_layer.digest)));
    };
    let layer = Descriptor::of_bytes(media::WASM_LAYER, &wasm);
    staged.add_bytes(&layer, Bytes::from(wasm));
    resolved.layer = layer;
    Ok(Some(resolved))
}

/// The staged documents over the source store: the walk reads new documents
/// from memory and everything else (the Wasm blob) from the source.
pub(crate) struct Overlay<'a> {
    /// Content staged in memory.
    pub staged: MemoryStore,
    /// The source store.
    pub source: &'a dyn ReadStore,
}

#[async_trait]
impl ReadStore for Overlay<'_> {
    async fn resolve(&self, selector: &Selector) -> Result<crate::manifest::Descriptor> {
        self.source.resolve(selector).await
    }
    async fn fetch(&self, desc: &Descriptor) -> Result<ByteStream> {
        if self.staged.exists(desc).await? { self.staged.fetch(desc).await } else { self.source.fetch(desc).await }
    }
    async fn exists(&self, desc: &Descriptor) -> Result<bool> {
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
    fn tar_of_one_file_is_deterministic_and_reads_back() {
        let content = b"\0asm\x01\0\0\0";
        let tar = tar_one_file("app.wasm", content).unwrap_or_default();
        assert_eq!(tar.len(), 512 + 512 + 1024);
        assert_eq!(tar_one_file("app.wasm", content).ok(), Some(tar.clone()));
        assert_eq!(tar_find(&tar, "/app.wasm").as_deref(), Some(&content[..]));
        assert_eq!(tar_find(&tar, "other.wasm"), None);
        assert!(tar_one_file(&"x".repeat(100), content).is_err());
    }

    #[test]
    fn targets_parse_and_unknown_ones_name_the_choices() {
        assert_eq!("crun".parse::<Target>().ok(), Some(Target::Crun));
        assert_eq!("runwasi".parse::<Target>().ok(), Some(Target::Runwasi));
        assert_eq!("spin".parse::<Target>().ok(), Some(Target::Spin));
        match "wasmedge".parse::<Target>() {
            Err(Error::Usage(msg)) => assert!(msg.contains("cncf, runwasi, crun or spin"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
