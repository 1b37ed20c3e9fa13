//! The commands, as library calls returning reports: push, pull, inspect, copy.
//! Each is a short composition of a store, the artifact format and the walk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::artifact::{self, BuildOptions, WasmConfig};
use crate::copy::{CopyOptions, CopyReport, Progress, copy};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Index, Manifest};
use crate::media;
use crate::reference::{Reference, Selector};
use crate::store::registry::Access;
use crate::store::{LayoutStore, ReadStore, RegistryStore, Store, collect_verified, write_file_verified};
use crate::transport::TransportOptions;
use crate::wasm::{self, WasmInfo, WasmKind};

/// Opens `reference` for reading.
pub async fn open_source(reference: &Reference, transport: &TransportOptions) -> Result<Box<dyn ReadStore>> {
    Ok(match reference {
        Reference::Registry(r) => Box::new(RegistryStore::connect(r, transport, Access::Read).await?),
        Reference::Layout(l) => Box::new(LayoutStore::open(&l.path)?),
    })
}

/// Opens `reference` for writing (creating a layout if needed).
pub async fn open_destination(reference: &Reference, transport: &TransportOptions) -> Result<Box<dyn Store>> {
    Ok(match reference {
        Reference::Registry(r) => Box::new(RegistryStore::connect(r, transport, Access::Write).await?),
        Reference::Layout(l) => Box::new(LayoutStore::create(&l.path)?),
    })
}

/// The tags a push or copy writes: the reference's tag (or `fallback`), then `extra`.
pub(crate) fn destination_tags(reference: &Reference, fallback: Option<&str>, extra: &[String]) -> Result<Vec<String>> {
    if reference.digest().is_some() {
        return Err(Error::Usage(format!(
            "cannot push to {reference}: a destination is named by tag, not by digest (the digest is computed from the content)"
        )));
    }
    let mut tags: Vec<String> = reference.tag().or(fallback).map(str::to_string).into_iter().collect();
    for t in extra {
        Reference::parse(&format!("oci:x:{t}"))?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(tags)
}

/// Options for [`push`].
pub struct PushOptions {
    /// How the artifact is built.
    pub build: BuildOptions,
    /// Extra tags.
    pub extra_tags: Vec<String>,
    /// Also push an OCI image index over the manifest (one entry, platform
    /// `wasm`/`wasip2` or `wasm`/`wasip1`) and point the tags at the index.
    pub index: bool,
    /// Transport settings.
    pub transport: TransportOptions,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
}

/// The image index a `push --index` wrote.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushedIndex {
    /// Index digest (what the tags point at).
    pub digest: Digest,
    /// Index media type.
    pub media_type: String,
    /// Index size.
    pub size: u64,
    /// The platform of its single entry.
    pub platform: crate::manifest::Platform,
}

/// What a push did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushReport {
    /// `location@digest` of what the tags point at (the index with `--index`,
    /// else the manifest).
    pub reference: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Manifest media type.
    pub media_type: String,
    /// Manifest size.
    pub size: u64,
    /// Tags written.
    pub tags: Vec<String>,
    /// The config that was pushed.
    pub config: WasmConfig,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The index over the manifest, when pushed with `--index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<PushedIndex>,
    /// Blob transfer summary.
    pub transfer: CopyReport,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Validates `file`, builds its artifact and copies it to `reference`
/// (with [`PushOptions::index`], under an image index that the tags name).
pub async fn push(file: &Path, reference: &Reference, options: &PushOptions) -> Result<PushReport> {
    let tags = destination_tags(reference, Some("latest"), &options.extra_tags)?;
    let built = artifact::build(file, &options.build)?;
    let dst = open_destination(reference, &options.transport).await?;
    let copy_options = CopyOptions { tags: tags.clone(), progress: options.progress.clone(), ..CopyOptions::default() };
    let indexed = options.index.then(|| built.with_index());
    let root = indexed.as_ref().map_or(&built.root, |i| &i.root);
    let transfer = copy(&built.store, root, dst.as_ref(), &copy_options).await?;
    let index = indexed.map(|i| PushedIndex {
        digest: i.root.digest,
        media_type: i.root.media_type,
        size: i.root.size,
        platform: i.platform,
    });
    let tagged = index.as_ref().map_or(&built.root.digest, |i| &i.digest);
    Ok(PushReport {
        reference: format!("{}@{}", reference.location(), tagged),
        digest: built.root.digest.clone(),
        media_type: built.root.media_type.clone(),
        size: built.root.size,
        tags,
        config: built.config,
        annotations: built.manifest.annotations,
        index,
        transfer,
        warnings: built.info.warnings,
    })
}

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

/// Resolves `selector` in `store` to a Wasm artifact, reading manifests and
/// config only (never the layer).
pub async fn resolve_artifact(store: &dyn ReadStore, selector: &Selector) -> Result<Resolved> {
    let root = store.resolve(selector).await?;
    let manifest_descriptor = if media::is_index(&root.media_type) {
        let index = Index::parse(&store.fetch_bytes(&root).await?)?;
        artifact::pick_from_index(&index.manifests)?
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
    let layout = artifact::wasm_layout(&manifest)?;
    let mut warnings = layout.warnings;
    let config = if manifest.config.size <= crate::manifest::MAX_DOCUMENT_SIZE {
        let bytes = store.fetch_bytes(&manifest.config).await?;
        artifact::parse_config(&manifest.config.media_type, &bytes)
    } else {
        warnings.push(format!(
            "the config declares {} bytes, over the {}-byte limit for documents: not read",
            manifest.config.size,
            crate::manifest::MAX_DOCUMENT_SIZE
        ));
        None
    };
    if let Some(c) = &config
        && !artifact::config_lists_layer(c, &layout.layer.digest)
    {
        warnings.push(format!("the config's layerDigests do not list the layer {}", layout.layer.digest));
    }
    Ok(Resolved { root, manifest_descriptor, manifest, config, shape: layout.shape, layer: layout.layer, warnings })
}

/// Options for [`pull`].
pub struct PullOptions {
    /// Output file or directory; default: the layer title, else `<repo>.wasm`, in the current directory.
    pub output: Option<PathBuf>,
    /// Transport settings.
    pub transport: TransportOptions,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
}

/// What a pull did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullReport {
    /// `location@digest` of the manifest.
    pub reference: String,
    /// Manifest digest.
    pub digest: Digest,
    /// The shape read.
    pub shape: String,
    /// Where the Wasm was written.
    pub path: PathBuf,
    /// Layer digest.
    pub layer_digest: Digest,
    /// Bytes written.
    pub size: u64,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Pulls the Wasm of `reference` into a file, verifying it while it streams
/// and writing atomically: a failed pull leaves nothing at the output path.
pub async fn pull(reference: &Reference, options: &PullOptions) -> Result<PullReport> {
    let store = open_source(reference, &options.transport).await?;
    let resolved = resolve_artifact(store.as_ref(), &reference.selector()).await?;
    let path = output_path(options.output.as_deref(), &resolved.layer, reference)?;
    if let Some(p) = &options.progress {
        p.started(&resolved.layer);
    }
    // A registry store resumes a download that broke off (retries are the store's).
    let kind = write_verified(store.as_ref(), &resolved.layer, &path, options.progress.as_deref()).await?;
    let mut warnings = resolved.warnings;
    warnings.extend(kind_warning(resolved.config.as_ref(), kind));
    if let Some(p) = &options.progress {
        p.finished(&resolved.layer, crate::copy::Outcome::Copied);
    }
    Ok(PullReport {
        reference: format!("{}@{}", reference.location(), resolved.manifest_descriptor.digest),
        digest: resolved.manifest_descriptor.digest.clone(),
        shape: resolved.shape,
        path,
        layer_digest: resolved.layer.digest.clone(),
        size: resolved.layer.size,
        warnings,
    })
}

/// The file a pull writes: `-o` (a file, or a directory to put the default name in),
/// else the default name in the current directory.
fn output_path(output: Option<&Path>, layer: &Descriptor, reference: &Reference) -> Result<PathBuf> {
    let default_name = || {
        layer
            .annotations
            .get(artifact::TITLE)
            .and_then(|t| Path::new(t).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .unwrap_or_else(|| format!("{}.wasm", reference.short_name()))
    };
    let path = match output {
        Some(p) if p.is_dir() => p.join(default_name()),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(default_name()),
    };
    crate::store::existing_parent_dir(&path)?;
    Ok(path)
}

/// Streams the Wasm layer `desc` from `store` into `path`, verified, refusing
/// content that does not start like a WebAssembly binary. Returns what its
/// header says it is (a component or a core module), when it says.
pub(crate) async fn write_verified(
    store: &dyn ReadStore,
    desc: &Descriptor,
    path: &Path,
    progress: Option<&dyn Progress>,
) -> Result<Option<WasmKind>> {
    let mut first = true;
    let mut kind = None;
    let check_and_count = |chunk: &bytes::Bytes| {
        if std::mem::take(&mut first) && chunk.len() >= 4 {
            if !chunk.starts_with(b"\0asm") {
                return Err(Error::NotWasmArtifact(format!(
                    "the layer {} does not hold a WebAssembly binary (no \\0asm header)",
                    desc.digest
                )));
            }
            kind = wasm::kind_of_header(chunk);
        }
        if let Some(p) = progress {
            p.advanced(desc, chunk.len() as u64);
        }
        Ok(())
    };
    write_file_verified(store.fetch(desc).await?, desc, path, check_and_count).await?;
    Ok(kind)
}

/// A warning when the config's `os` says another kind than the Wasm's header
/// (wkg 0.16 labels core modules `wasip2`): runtimes that trust the config
/// would treat the binary as what it is not.
fn kind_warning(config: Option<&WasmConfig>, kind: Option<WasmKind>) -> Option<String> {
    let (config, kind) = (config?, kind?);
    (config.os != kind.os()).then(|| {
        let what = match kind {
            WasmKind::Component => "a component",
            WasmKind::Module => "a core module",
        };
        format!(
            "the config says os {:?}, but the layer holds {what} (os {:?}); runtimes that go by the config may \
             refuse or misload it (re-push it with wharf push to fix the config)",
            config.os,
            kind.os()
        )
    })
}

/// Largest Wasm binary [`fetch_wasm`] reads into memory.
pub const MAX_WASM_IN_MEMORY: u64 = 1 << 30;

/// Reads the Wasm binary of `reference` into memory, verified against its
/// digest, with the artifact it came from. For commands that must parse the
/// whole binary (checks, composition); pulls to disk use [`pull`].
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
    if layer.size > max_bytes {
        return Err(Error::Usage(format!(
            "the Wasm layer of {reference} is {} bytes, over the {max_bytes}-byte limit",
            layer.size
        )));
    }
    let bytes = collect_verified(store.fetch(layer).await?, layer).await?;
    Ok((resolved, bytes))
}

/// What `inspect` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// What was inspected.
    pub source: String,
    /// The manifest digest (for a file: the digest a push would produce now).
    pub digest: Digest,
    /// The root media type (manifest or index).
    pub media_type: String,
    /// Manifest size.
    pub size: u64,
    /// The image index the reference named, when it named one (the manifest
    /// shown is its Wasm entry, see [`artifact::pick_from_index`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<Descriptor>,
    /// The shape found.
    pub shape: String,
    /// The runtime shape (`cncf-wasm-v0`, `runwasi-oci`), when it is one
    /// `wharf convert` writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_shape: Option<String>,
    /// The runtimes that read this shape ([`crate::convert::runtimes_for`]).
    pub runtimes: Vec<String>,
    /// Config media type.
    pub config_media_type: String,
    /// The Wasm layer.
    pub layer: Descriptor,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The config, when it is a Wasm config.
    pub config: Option<WasmConfig>,
    /// For a file: what inspection of the binary found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmInfo>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Inspects a reference from its manifest and config only.
pub async fn inspect_reference(reference: &Reference, transport: &TransportOptions) -> Result<Inspection> {
    let store = open_source(reference, transport).await?;
    let selector = reference.selector();
    let r = match resolve_artifact(store.as_ref(), &selector).await {
        Ok(r) => r,
        // A crun image holds its Wasm inside a tar layer: named, with the tar as its layer.
        Err(Error::NotWasmArtifact(reason)) => {
            match crate::convert::resolve_crun_manifest(store.as_ref(), &selector).await? {
                Some(r) => r,
                None => return Err(Error::NotWasmArtifact(reason)),
            }
        }
        Err(e) => return Err(e),
    };
    Ok(Inspection {
        source: format!("{}@{}", reference.location(), r.manifest_descriptor.digest),
        digest: r.manifest_descriptor.digest.clone(),
        media_type: r.root.media_type.clone(),
        size: r.manifest_descriptor.size,
        index: media::is_index(&r.root.media_type).then(|| r.root.clone()),
        runtime_shape: crate::convert::runtime_shape(&r.manifest).map(str::to_string),
        runtimes: crate::convert::runtime_shape(&r.manifest)
            .map(|s| crate::convert::runtimes_for(s).iter().map(|r| r.to_string()).collect())
            .unwrap_or_default(),
        shape: r.shape,
        config_media_type: r.manifest.config.media_type.clone(),
        layer: r.layer,
        annotations: r.manifest.annotations,
        config: r.config,
        wasm: None,
        warnings: r.warnings,
    })
}

/// Inspects a local Wasm file, showing the artifact a push would make of it.
pub fn inspect_file(path: &Path, build: &BuildOptions) -> Result<Inspection> {
    let built = artifact::build(path, build)?;
    let mut info = built.info;
    let warnings = std::mem::take(&mut info.warnings);
    Ok(Inspection {
        source: path.display().to_string(),
        digest: built.root.digest.clone(),
        media_type: built.root.media_type.clone(),
        size: built.root.size,
        index: None,
        runtime_shape: Some("cncf-wasm-v0".into()),
        runtimes: crate::convert::runtimes_for("cncf-wasm-v0").iter().map(|r| r.to_string()).collect(),
        shape: "cncf-wasm-v0".into(),
        config_media_type: built.manifest.config.media_type.clone(),
        layer: built.manifest.layers.first().cloned().unwrap_or_else(|| built.manifest.config.clone()),
        annotations: built.manifest.annotations,
        config: Some(built.config),
        wasm: Some(info),
        warnings,
    })
}

/// Describes a file without building anything: kind, world, metadata.
pub fn describe_file(path: &Path) -> Result<WasmInfo> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    wasm::inspect(&path.display().to_string(), &bytes)
}

/// What a copy did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyResult {
    /// Source `location@digest`.
    pub source: String,
    /// Destination `location@digest`.
    pub destination: String,
    /// Root digest (the same on both sides).
    pub digest: Digest,
    /// Tags written.
    pub tags: Vec<String>,
    /// Transfer summary.
    pub transfer: CopyReport,
}

/// Copies the artifact at `src` (reached with `src_transport`) to `dst`
/// (with `dst_transport`: each side may hold its own credentials), any store
/// to any store, digests preserved; with `with_signatures`, its cosign
/// signatures too (bundle referrers and the legacy `.sig` tag, see
/// [`CopyOptions::with_signatures`]).
pub async fn copy_reference(
    src: &Reference,
    dst: &Reference,
    src_transport: &TransportOptions,
    dst_transport: &TransportOptions,
    progress: Option<Arc<dyn Progress>>,
    with_signatures: bool,
) -> Result<CopyResult> {
    let tags = destination_tags(dst, src.tag(), &[])?;
    let source = open_source(src, src_transport).await?;
    let root = source.resolve(&src.selector()).await?;
    let destination = open_destination(dst, dst_transport).await?;
    let options = CopyOptions { tags: tags.clone(), progress, with_signatures, ..CopyOptions::default() };
    let transfer = copy(source.as_ref(), &root, destination.as_ref(), &options).await?;
    Ok(CopyResult {
        source: format!("{}@{}", src.location(), root.digest),
        destination: format!("{}@{}", dst.location(), root.digest),
        digest: root.digest,
        tags,
        transfer,
    })
}

/// Checks `credentials` against `registry` (a host, with port if any; a
/// pasted `https://` prefix or trailing `/` is tolerated) and returns the
/// normalised host to store them under.
pub async fn login(
    registry: &str,
    transport: &TransportOptions,
    credentials: &crate::transport::Credentials,
) -> Result<String> {
    let host = registry.trim().trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let parsed = Reference::parse(&format!("{host}/x"))?;
    let Reference::Registry(r) = parsed else {
        return Err(Error::Usage(format!("{registry:?} is not a registry host")));
    };
    if r.registry != host && !(host == "docker.io" || host.ends_with("docker.io")) {
        return Err(Error::Usage(format!("{registry:?} is not a registry host name (HOST[:PORT])")));
    }
    crate::auth::check_login(&r.registry, transport, credentials).await?;
    Ok(r.registry)
}
