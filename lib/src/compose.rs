//! `compose`: components plugged into a socket ([`plug`]), or a `.wac` document
//! composed with its packages ([`wac`]), then delivered: written to a file, pushed
//! as a Wasm OCI artifact recording its parts, or both. Nothing is left behind when
//! any step fails: the file is staged beside its destination, pushed, the lock of a
//! document written, and only then the file renamed into place.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use wharf_oci::annotations::Created;
use wharf_oci::copy::Progress;
use wharf_oci::fs::{AtomicFile, Mode};
use wharf_oci::open::destination_tags;
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;
use wharf_wasm::artifact::{self, BuildOptions};
use wharf_wasm::compose::{
    self as wasm_compose, Composed, Dependency, Lock, PARTS_ANNOTATION, PartRecord, Role, load_part, parse_dep,
};

use crate::error::{Error, Result};
use crate::push::{PushOptions, PushReport, publish};

/// Where a composed component goes: a file, a reference, or both.
pub struct Delivery {
    /// Write it to this file.
    pub output: Option<PathBuf>,
    /// Push it to this reference as a Wasm OCI artifact.
    pub push: Option<Reference>,
    /// Transport for the parts read from registries and for the push.
    pub transport: TransportOptions,
    /// Progress of the push.
    pub progress: Option<Arc<dyn Progress>>,
}

/// A composition done and delivered.
pub struct Composition {
    /// The component.
    pub composed: Composed,
    /// Its parts (the socket, then the plugs; or the packages of a document), when
    /// they were recorded (see [`PlugOptions::record_parts`]).
    pub parts: Vec<PartRecord>,
    /// For each package of a document: the registry wkg's mapping found it in, when it
    /// was found by name (in the order of `parts`).
    pub found_in: Vec<Option<String>>,
    /// Where each part came from, socket first (a path, or `location@digest`).
    pub sources: Vec<String>,
    /// The file written.
    pub output: Option<PathBuf>,
    /// The push.
    pub pushed: Option<PushReport>,
    /// The lock file of a document.
    pub lock: Option<PathBuf>,
}

/// Options of [`plug`].
pub struct PlugOptions {
    /// The socket: a `.wasm` file or a reference.
    pub socket: String,
    /// The plugs, in order (order decides between plugs exporting the same name).
    pub plugs: Vec<String>,
    /// Record the parts' digests in the result even without a push (a push always records them).
    pub record_parts: bool,
}

/// Plugs `options.plugs` into `options.socket` (see [`wharf_wasm::compose::plug`]) and delivers the result.
pub async fn plug(options: PlugOptions, delivery: Delivery) -> Result<Composition> {
    let socket = load_part(&options.socket, &delivery.transport).await?;
    let mut plugs = Vec::with_capacity(options.plugs.len());
    for input in &options.plugs {
        plugs.push(load_part(input, &delivery.transport).await?);
    }
    // Hashing the parts costs time; they are recorded only when they are shown or pushed.
    let parts: Vec<PartRecord> = if options.record_parts || delivery.push.is_some() {
        std::iter::once(socket.record(Role::Socket)).chain(plugs.iter().map(|p| p.record(Role::Plug))).collect()
    } else {
        Vec::new()
    };
    let sources: Vec<String> =
        std::iter::once(socket.source.clone()).chain(plugs.iter().map(|p| p.source.clone())).collect();
    let plug_inputs: Vec<(&str, Vec<u8>)> =
        plugs.into_iter().zip(&sources[1..]).map(|(p, source)| (source.as_str(), p.bytes)).collect();
    let composed = wasm_compose::plug((&sources[0], socket.bytes), plug_inputs)?;
    let (output, pushed) = deliver(&composed, &parts, delivery, || Ok(())).await?;
    Ok(Composition { composed, found_in: vec![None; parts.len()], parts, sources, output, pushed, lock: None })
}

/// Options of [`wac`].
pub struct WacOptions {
    /// The `.wac` document.
    pub file: PathBuf,
    /// Packages given: `NAME=SOURCE`, NAME as the document writes it.
    pub deps: Vec<String>,
    /// The lock file (default: `wharf.lock` next to the document).
    pub lock: Option<PathBuf>,
    /// Fail unless the lock already pins every package as composed; never write it.
    pub locked: bool,
}

/// The lock file of the document `file`: `lock` if given, else `wharf.lock` beside it.
pub fn lock_path(file: &Path, lock: Option<PathBuf>) -> PathBuf {
    lock.unwrap_or_else(|| match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("wharf.lock"),
        _ => PathBuf::from("wharf.lock"),
    })
}

/// Composes the `.wac` document `options.file` with the packages given, and the others
/// found by name through wkg's mapping, each checked against the lock; then delivers
/// the result and pins the packages in the lock (unless `locked`, which only checks).
pub async fn wac(options: WacOptions, delivery: Delivery) -> Result<Composition> {
    let file = &options.file;
    let text = std::fs::read_to_string(file).map_err(|e| Error::io("cannot read", file, e))?;
    let lock_path = lock_path(file, options.lock);
    let lock = Lock::read(&lock_path)?;
    let mut deps = Vec::with_capacity(options.deps.len());
    for value in &options.deps {
        let (name, input) = parse_dep(value)?;
        let part = load_part(&input, &delivery.transport).await?;
        let dep = Dependency { name, input, part, registry: None };
        lock.verify(&dep, &lock_path)?;
        deps.push(dep);
    }
    let located = (&lock, lock_path.as_path());
    let (composed, deps) =
        wasm_compose::compose_with_registries(&file.display().to_string(), &text, deps, located, &delivery.transport)
            .await?;
    let parts: Vec<PartRecord> = deps.iter().map(|d| d.part.record(Role::Package).named(&d.name)).collect();
    if options.locked {
        lock.require_pinned(&deps, &lock_path)?;
    }
    let pinned = lock.pinned(&deps);
    let changed = pinned.packages != lock.packages;
    let write_lock = || if changed { Ok(pinned.write(&lock_path)?) } else { Ok(()) };
    let (output, pushed) = deliver(&composed, &parts, delivery, write_lock).await?;
    Ok(Composition {
        composed,
        found_in: deps.iter().map(|d| d.registry.clone()).collect(),
        sources: deps.iter().map(|d| d.part.source.clone()).collect(),
        parts,
        output,
        pushed,
        lock: Some(lock_path),
    })
}

/// Stages the file, pushes, runs `before_commit` (the lock), then renames the file
/// into place: on any error, nothing is left at the output path.
async fn deliver(
    composed: &Composed,
    parts: &[PartRecord],
    delivery: Delivery,
    before_commit: impl FnOnce() -> Result<()>,
) -> Result<(Option<PathBuf>, Option<PushReport>)> {
    let staged = match &delivery.output {
        Some(path) => {
            let mut file = AtomicFile::create(path, Mode::Shared)?;
            file.write_all(&composed.bytes)?;
            Some(file)
        }
        None => None,
    };
    let pushed = match &delivery.push {
        Some(reference) => {
            let options = PushOptions {
                build: BuildOptions {
                    created: Created::reproducible()?,
                    annotations: Default::default(),
                    target: None,
                    // A composition was just made: nothing to cache.
                    scan_cache: None,
                },
                extra_tags: Vec::new(),
                index: false,
                // Chunk indexes are opt-in (they cost the push); `wharf index` adds one.
                chunk_index: false,
                transport: delivery.transport.clone(),
                progress: delivery.progress.clone(),
            };
            let name = delivery
                .output
                .as_deref()
                .and_then(Path::file_name)
                .map_or_else(|| format!("{}.wasm", reference.short_name()), |n| n.to_string_lossy().into_owned());
            Some(push_composed(&composed.bytes, &name, parts, reference, &options).await?)
        }
        None => None,
    };
    before_commit()?;
    let output = staged.map(AtomicFile::commit).transpose()?;
    Ok((output, pushed))
}

/// Pushes a composed component to `reference` as a Wasm OCI artifact, with
/// [`PARTS_ANNOTATION`] recording `parts`. The layer is titled `file_name`.
pub async fn push_composed(
    bytes: &[u8],
    file_name: &str,
    parts: &[PartRecord],
    reference: &Reference,
    options: &PushOptions,
) -> Result<PushReport> {
    let tags = destination_tags(reference, Some("latest"), &options.extra_tags)?;
    let record = serde_json::to_string(parts).map_err(|e| Error::usage(format!("cannot record the parts: {e}")))?;
    let mut build = options.build.clone();
    build.annotations.insert(PARTS_ANNOTATION.to_string(), record);
    let name = Path::new(file_name).file_name().map_or_else(|| "composed.wasm".into(), |n| n.to_os_string());
    let built = artifact::build_bytes(Path::new(&name), Bytes::copy_from_slice(bytes), &build)?;
    publish(built, tags, reference, options).await
}
