//! `wharf pull REF --for RUNTIME -o DIR`: writes what a runtime runs locally,
//! from any shape wharf reads (CNCF, an index, runwasi, crun, Spin), and the
//! command line that runs it:
//! - wasmtime: `NAME.wasm`, run with `wasmtime serve` (a `wasi:http` handler),
//!   `wasmtime run` (a command) or `wasmtime run --invoke` (plain functions).
//! - Spin: `NAME.wasm` and a `spin.toml` (one component, see [`super::spin`]),
//!   run with `spin up --from DIR/spin.toml`.
//! - runwasi: `NAME.tar`, the OCI image layout archive runwasi's
//!   `oci-tar-builder` writes (`crates/oci-tar-builder/src/lib.rs`: `blobs/sha256/*`,
//!   `index.json` whose entry carries the platform and the
//!   `io.containerd.image.name` / `org.opencontainers.image.ref.name`
//!   annotations, `oci-layout`, and Docker's `manifest.json`) holding the
//!   runwasi OCI-layer form, for `ctr images import` then `ctr run`.
//!
//! Everything is written into a temporary directory beside `DIR` and moved in
//! at the end: a failure leaves `DIR` as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::convert::{self, Overlay, Shape};
use super::tar::tar_append;
use crate::artifact::{self, MAX_WASM_IN_MEMORY, Resolved, within_limit};
use crate::entry_point::{self, Entry, EntryPoint};
use crate::error::{Error, Result};
use crate::media::RUNWASI_LAYER;
use crate::runtimes::spin::SpinApp;
use wharf_oci::annotations::REF_NAME;
use wharf_oci::chunks::{ChunkCache, LayerTransfer};
use wharf_oci::copy::Progress;
use wharf_oci::digest::Digest;
use wharf_oci::manifest::{Descriptor, Index, Manifest, Platform};
use wharf_oci::open::open_source;
use wharf_oci::reference::Reference;
use wharf_oci::store::{MemoryStore, ReadStore, collect_verified};
use wharf_oci::transport::TransportOptions;

/// The runtime to pull for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// The wasmtime CLI.
    Wasmtime,
    /// Spin (`spin up`).
    Spin,
    /// containerd with a runwasi shim.
    Runwasi,
}

impl Runtime {
    /// The name `--for` takes.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Wasmtime => "wasmtime",
            Runtime::Spin => "spin",
            Runtime::Runwasi => "runwasi",
        }
    }
}

impl std::str::FromStr for Runtime {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "wasmtime" => Ok(Runtime::Wasmtime),
            "spin" => Ok(Runtime::Spin),
            "runwasi" => Ok(Runtime::Runwasi),
            other => Err(Error::Usage(format!("unknown runtime {other:?}: give wasmtime, spin or runwasi"))),
        }
    }
}

/// Options for [`pull_for`].
pub struct RuntimePullOptions {
    /// The runtime.
    pub runtime: Runtime,
    /// The output directory (created if missing; its parent must exist).
    pub dir: PathBuf,
    /// Transport settings.
    pub transport: TransportOptions,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
    /// The chunk cache the Wasm layer comes through, as `wharf pull` takes it
    /// (wasmtime and Spin; runwasi's archive is built in memory from a whole fetch).
    pub chunk_cache: Option<ChunkCache>,
}

/// What [`pull_for`] wrote.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePullReport {
    /// `location@digest` of the manifest read.
    pub reference: String,
    /// The manifest digest read.
    pub digest: Digest,
    /// The shape read.
    pub shape: String,
    /// The runtime.
    pub runtime: Runtime,
    /// The output directory.
    pub dir: PathBuf,
    /// The files written, in `dir`.
    pub files: Vec<PathBuf>,
    /// The Wasm blob's digest.
    pub wasm_digest: Digest,
    /// How the runtime starts it (wasmtime and Spin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryPoint>,
    /// The Spin application (Spin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spin: Option<SpinApp>,
    /// The command lines that run it, in order, as argument vectors.
    pub commands: Vec<Vec<String>>,
    /// How the Wasm layer came (whole, by chunks, from the cache), when it was
    /// written as a file (wasmtime and Spin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<LayerTransfer>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Pulls `reference` and writes what `options.runtime` runs into `options.dir`.
pub async fn pull_for(reference: &Reference, options: &RuntimePullOptions) -> Result<RuntimePullReport> {
    let out = OutputDir::prepare(&options.dir)?;
    let source = open_source(reference, &options.transport).await?;
    let selector = reference.selector();
    let staged = MemoryStore::new();
    let resolved = convert::resolve_any(source.as_ref(), &selector, &staged).await?;
    let overlay = Overlay { staged, source: source.as_ref() };
    let stem = file_stem(&resolved, reference);
    let written = match options.runtime {
        Runtime::Wasmtime => write_wasmtime(&resolved, &overlay, &out, &stem, options).await?,
        Runtime::Spin => write_spin(&resolved, &overlay, &out, &stem, reference, options).await?,
        Runtime::Runwasi => write_runwasi(&resolved, source.as_ref(), &out, &stem, reference).await?,
    };
    out.commit(&written.files)?;
    Ok(RuntimePullReport {
        reference: reference.pinned(&resolved.manifest_descriptor.digest),
        digest: resolved.manifest_descriptor.digest.clone(),
        shape: resolved.shape.clone(),
        runtime: options.runtime,
        dir: options.dir.clone(),
        files: written.files.iter().map(PathBuf::from).collect(),
        wasm_digest: resolved.layer.digest.clone(),
        entry: written.entry.map(|e| e.point),
        spin: written.spin,
        commands: written.commands,
        transfer: written.transfer,
        warnings: resolved.warnings,
    })
}

/// What one runtime's writer produced.
struct Written {
    files: Vec<String>,
    entry: Option<Entry>,
    spin: Option<SpinApp>,
    commands: Vec<Vec<String>>,
    transfer: Option<LayerTransfer>,
}

/// The name the files get: the Wasm's original file name without `.wasm`,
/// else the repository's last segment.
fn file_stem(resolved: &Resolved, reference: &Reference) -> String {
    let from_title = convert::wasm_file_name(resolved)
        .and_then(|t| Path::new(t).file_name())
        .map(|n| n.to_string_lossy().trim_end_matches(".wasm").to_string())
        .filter(|n| !n.is_empty() && !n.starts_with('.'));
    from_title.unwrap_or_else(|| reference.short_name())
}

/// How the written Wasm at `path` is started: from the config when it tells, else read from the file.
fn entry_of(resolved: &Resolved, path: &Path) -> Result<Entry> {
    if let Some(entry) = convert::config_entry(resolved) {
        return Ok(entry);
    }
    within_limit("the Wasm", resolved.layer.size, MAX_WASM_IN_MEMORY, Some("reading its exports"))?;
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    entry_point::of_binary(&path.display().to_string(), &bytes)
}

/// Writes the Wasm as `STEM.wasm` into the staging directory and tells how it
/// starts and how its bytes came. A layer of the source comes as `wharf pull`
/// brings it (through the chunk cache, by chunks where the source has an index
/// of it); one staged by a conversion is written from memory.
async fn stage_wasm(
    resolved: &Resolved,
    overlay: &Overlay<'_>,
    out: &OutputDir,
    stem: &str,
    options: &RuntimePullOptions,
) -> Result<(String, Entry, Option<LayerTransfer>)> {
    let name = format!("{stem}.wasm");
    let staged_path = out.staging_path(&name);
    let progress = options.progress.as_deref();
    let transfer = if overlay.staged.exists(&resolved.layer).await? {
        artifact::read::write_verified(overlay, &resolved.layer, &staged_path, progress).await?;
        None
    } else {
        let subject = &resolved.manifest_descriptor.digest;
        let cache = options.chunk_cache.as_ref();
        let (_, transfer) =
            artifact::read::pull_verified(overlay.source, subject, &resolved.layer, &staged_path, cache, progress)
                .await?;
        Some(transfer)
    };
    let entry = entry_of(resolved, &staged_path)?;
    Ok((name, entry, transfer))
}

async fn write_wasmtime(
    resolved: &Resolved,
    overlay: &Overlay<'_>,
    out: &OutputDir,
    stem: &str,
    options: &RuntimePullOptions,
) -> Result<Written> {
    let (name, entry, transfer) = stage_wasm(resolved, overlay, out, stem, options).await?;
    let command = wasmtime_command(&entry, &out.final_path(&name));
    Ok(Written { files: vec![name], entry: Some(entry), spin: None, commands: vec![command], transfer })
}

/// The interfaces of the `wasi:http/proxy` world (0.2), the only ones
/// `wasmtime serve` links unless given `-Scli`.
const PROXY_IMPORTS: &[&str] = &[
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:http/outgoing-handler",
    "wasi:http/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
];

/// The wasmtime command line running `entry` from `path`.
pub fn wasmtime_command(entry: &Entry, path: &Path) -> Vec<String> {
    let file = path.display().to_string();
    let mut command = vec!["wasmtime".to_string()];
    match &entry.point {
        EntryPoint::Http { .. } => {
            command.push("serve".into());
            let unversioned = |i: &String| i.split('@').next().unwrap_or_default().to_string();
            if entry.imports.iter().any(|i| !PROXY_IMPORTS.contains(&unversioned(i).as_str())) {
                command.push("-Scli".into());
            }
        }
        EntryPoint::Command => command.push("run".into()),
        EntryPoint::Functions { names } => {
            command.push("run".into());
            if let Some(first) = names.first() {
                command.push("--invoke".into());
                command.push(match entry.kind {
                    crate::inspect::WasmKind::Component => format!("{first}(…)"),
                    crate::inspect::WasmKind::Module => first.clone(),
                });
            }
        }
    }
    command.push(file);
    command
}

async fn write_spin(
    resolved: &Resolved,
    overlay: &Overlay<'_>,
    out: &OutputDir,
    stem: &str,
    reference: &Reference,
    options: &RuntimePullOptions,
) -> Result<Written> {
    let (name, entry, transfer) = stage_wasm(resolved, overlay, out, stem, options).await?;
    let annotations = convert::carried_annotations(resolved, None)?;
    let app = convert::spin_app(resolved, &annotations, &entry, &reference.short_name())?;
    let manifest = out.staging_path("spin.toml");
    std::fs::write(&manifest, app.spin_toml(&name)).map_err(|e| Error::io("cannot write", &manifest, e))?;
    let command = vec!["spin".into(), "up".into(), "--from".into(), out.final_path("spin.toml").display().to_string()];
    let files = vec![name, "spin.toml".into()];
    Ok(Written { files, entry: Some(entry), spin: Some(app), commands: vec![command], transfer })
}

/// The runwasi documents of `resolved`: its own when it is runwasi's form,
/// else the ones `wharf convert --to runwasi` writes (the same manifest digest).
async fn runwasi_documents(
    resolved: &Resolved,
    source: &dyn ReadStore,
    reference: &Reference,
) -> Result<(MemoryStore, Descriptor)> {
    if convert::runtime_shape(&resolved.manifest) == Some(Shape::Runwasi.name()) {
        return Ok((MemoryStore::new(), resolved.manifest_descriptor.clone()));
    }
    let staged = convert::stage(source, &reference.selector(), Shape::Runwasi, &reference.short_name()).await?;
    Ok((staged.store, staged.root))
}

async fn write_runwasi(
    resolved: &Resolved,
    source: &dyn ReadStore,
    out: &OutputDir,
    stem: &str,
    reference: &Reference,
) -> Result<Written> {
    let (staged, root) = runwasi_documents(resolved, source, reference).await?;
    let overlay = Overlay { staged, source };
    let manifest_bytes = overlay.fetch_bytes(&root).await?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let config_bytes = overlay.fetch_bytes(&manifest.config).await?;
    let Some(layer) = manifest.layers.iter().find(|l| l.media_type == RUNWASI_LAYER) else {
        return Err(Error::NotWasmArtifact(format!(
            "the runwasi manifest {} has no {RUNWASI_LAYER} layer",
            root.digest
        )));
    };
    within_limit("the Wasm", layer.size, MAX_WASM_IN_MEMORY, Some("building the archive"))?;
    let wasm = collect_verified(overlay.fetch(layer).await?, layer).await?;
    let image = image_name(reference);
    let archive = oci_archive(&root, &manifest_bytes, &manifest, &config_bytes, &wasm, &image, reference.tag())?;
    let name = format!("{stem}.tar");
    let path = out.staging_path(&name);
    std::fs::write(&path, archive).map_err(|e| Error::io("cannot write", &path, e))?;
    let tar = out.final_path(&name).display().to_string();
    let commands = vec![
        vec!["ctr".into(), "images".into(), "import".into(), "--all-platforms".into(), tar],
        vec![
            "ctr".into(),
            "run".into(),
            "--rm".into(),
            "--runtime=io.containerd.wasmtime.v1".into(),
            image,
            stem.into(),
        ],
    ];
    Ok(Written { files: vec![name], entry: None, spin: None, commands, transfer: None })
}

/// The image name containerd gives the import: the registry reference with its
/// tag, or `localhost/NAME:TAG` for a layout.
fn image_name(reference: &Reference) -> String {
    let tag = reference.tag().unwrap_or("latest");
    match reference {
        Reference::Registry(_) => format!("{}:{tag}", reference.location()),
        Reference::Layout(_) => format!("localhost/{}:{tag}", reference.short_name()),
    }
}

/// The platform of a runwasi image config (`os`, `architecture`), `wasip1`/`wasm` when absent.
fn config_platform(config: &[u8]) -> Platform {
    let value: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    let field = |key: &str, default: &str| value[key].as_str().unwrap_or(default).to_string();
    Platform { architecture: field("architecture", "wasm"), os: field("os", "wasip1"), os_version: None, variant: None }
}

/// The OCI image layout archive oci-tar-builder writes, holding `manifest`
/// (whose digest is kept: the names go on the index entry only).
fn oci_archive(
    root: &Descriptor,
    manifest_bytes: &[u8],
    manifest: &Manifest,
    config: &[u8],
    wasm: &[u8],
    image: &str,
    tag: Option<&str>,
) -> Result<Vec<u8>> {
    let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let mut entry = Descriptor::of_bytes(wharf_oci::media::OCI_MANIFEST, manifest_bytes);
    entry.annotations.insert("io.containerd.image.name".into(), image.into());
    if let Some(tag) = tag {
        entry.annotations.insert(REF_NAME.into(), tag.into());
    }
    entry.platform = Some(config_platform(config));
    let index = Index::image_index(vec![entry]).to_bytes();
    let layers: Vec<String> = manifest.layers.iter().map(|l| blob(&l.digest)).collect();
    let docker = serde_json::json!([{"Config": blob(&manifest.config.digest), "RepoTags": [image], "Layers": layers}]);
    let mut out = Vec::with_capacity(wasm.len() + 8192);
    for layer in &manifest.layers {
        tar_append(&mut out, &blob(&layer.digest), wasm)?;
    }
    tar_append(&mut out, &blob(&manifest.config.digest), config)?;
    tar_append(&mut out, &blob(&root.digest), manifest_bytes)?;
    tar_append(&mut out, "index.json", &index)?;
    tar_append(&mut out, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar_append(&mut out, "manifest.json", docker.to_string().as_bytes())?;
    out.extend_from_slice(&[0u8; 1024]);
    Ok(out)
}

/// The output directory, written through a staging directory beside it.
struct OutputDir {
    dir: PathBuf,
    existed: bool,
    staging: tempfile::TempDir,
}

impl OutputDir {
    /// Checks `dir` (a directory, or a missing one whose parent exists) and
    /// creates the staging directory.
    fn prepare(dir: &Path) -> Result<Self> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::NotADirectory { path: dir.to_path_buf() });
        }
        let existed = dir.is_dir();
        let parent = if existed { dir } else { wharf_oci::fs::existing_parent_dir(dir)? };
        let staging = tempfile::Builder::new()
            .prefix(".wharf-pull-")
            .tempdir_in(parent)
            .map_err(|e| Error::io("cannot create a directory in", parent, e))?;
        Ok(OutputDir { dir: dir.to_path_buf(), existed, staging })
    }

    fn staging_path(&self, name: &str) -> PathBuf {
        self.staging.path().join(name)
    }

    fn final_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Moves the staged `files` into place: the whole directory when it did not exist, else file by file.
    fn commit(self, files: &[String]) -> Result<()> {
        if !self.existed {
            let staged = self.staging.keep();
            set_mode(&staged, 0o755)?;
            return std::fs::rename(&staged, &self.dir).map_err(|e| Error::io("cannot rename into", &self.dir, e));
        }
        for name in files {
            let target = self.dir.join(name);
            std::fs::rename(self.staging.path().join(name), &target)
                .map_err(|e| Error::io("cannot rename into", &target, e))?;
        }
        Ok(())
    }
}

/// Sets the Unix permission bits of `path` (a no-op elsewhere).
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("cannot set permissions of", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(point: EntryPoint, imports: &[&str]) -> Entry {
        Entry {
            kind: crate::inspect::WasmKind::Component,
            point,
            imports: imports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn wasmtime_commands_follow_the_entry_point() {
        let path = Path::new("out/app.wasm");
        let http = EntryPoint::Http { export: "wasi:http/incoming-handler@0.2.0".into() };
        assert_eq!(
            wasmtime_command(&entry(http.clone(), &["wasi:http/types@0.2.0"]), path),
            ["wasmtime", "serve", "out/app.wasm"]
        );
        assert_eq!(
            wasmtime_command(&entry(http, &["wasi:http/types@0.2.0", "wasi:filesystem/types@0.2.0"]), path),
            ["wasmtime", "serve", "-Scli", "out/app.wasm"]
        );
        assert_eq!(wasmtime_command(&entry(EntryPoint::Command, &[]), path), ["wasmtime", "run", "out/app.wasm"]);
        let greet = EntryPoint::Functions { names: vec!["greet".into()] };
        assert_eq!(
            wasmtime_command(&entry(greet, &[]), path),
            ["wasmtime", "run", "--invoke", "greet(…)", "out/app.wasm"]
        );
    }

    #[test]
    fn unknown_runtimes_name_the_choices() {
        match "docker".parse::<Runtime>() {
            Err(Error::Usage(msg)) => assert!(msg.contains("wasmtime, spin or runwasi"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
