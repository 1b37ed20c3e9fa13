//! Many components against one world: the question a platform asks before it
//! moves its world to a new version (which of our components still fit, which
//! do not, and why), answered in one run.
//!
//! The inputs are files, references, and repositories: a reference with neither
//! tag nor digest means every tag in it, as `skopeo sync` reads a repository
//! (cosign's signature, attestation and SBOM tags and the referrers fallback
//! tags are left out, and said so). Each reference costs its manifest and
//! config; the layer is fetched only when the config's names do not settle it,
//! as for one component ([`super::fetch`]), and a layer several references share
//! (the tags of one build) is fetched and checked once. At most `jobs` components
//! are in flight at once, one store (one registry session) serves each
//! repository, the bytes of components held in memory at once are bounded, and
//! the checks run on tokio's blocking pool.
//!
//! One component that cannot be read does not stop the others: it is an entry
//! with its error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::{OnceCell, Semaphore};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::Descriptor;
use wharf_oci::open::open_source;
use wharf_oci::reference::Reference;
use wharf_oci::store::registry::Access;
use wharf_oci::store::{LayoutStore, ReadStore, RegistryStore};
use wharf_oci::transport::TransportOptions;

use super::fetch::{Looked, look};
use super::report::{CheckReport, ProblemKind, SemverMatch};
use super::wit::World;
use crate::artifact::{MAX_WASM_IN_MEMORY, within_limit};
use crate::error::{Error, Result};
use crate::source::looks_like_path;

/// Components in flight at once unless the caller says otherwise.
pub const DEFAULT_JOBS: usize = 8;

/// The most components in flight at once a caller may ask for.
pub const MAX_JOBS: usize = 64;

/// The bytes of components a batch holds in memory at once (a component over
/// it is still checked, alone).
pub const BYTES_IN_MEMORY: u64 = 2 << 30;

/// The largest list of components read ([`read_list`]).
pub const MAX_LIST_BYTES: u64 = 4 << 20;

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Components in flight at once (fetched, read or checked), 1 to [`MAX_JOBS`].
    pub jobs: usize,
    /// The largest component read.
    pub max_component_bytes: u64,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { jobs: DEFAULT_JOBS, max_component_bytes: MAX_WASM_IN_MEMORY }
    }
}

/// Whether `input` names a whole repository (a reference with neither tag nor
/// digest), which a batch reads as every tag in it.
pub fn names_a_repository(input: &str) -> bool {
    !is_path(input) && Reference::parse(input).is_ok_and(|r| r.tag().is_none() && r.digest().is_none())
}

/// Reads a list of components from the file at `path` ([`parse_list`]),
/// refusing one over [`MAX_LIST_BYTES`].
pub fn read_list(path: &Path) -> Result<Vec<String>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut text = String::new();
    file.take(MAX_LIST_BYTES + 1).read_to_string(&mut text).map_err(|e| Error::io("cannot read", path, e))?;
    if text.len() as u64 > MAX_LIST_BYTES {
        return Err(Error::Usage(format!(
            "the list {} is over {MAX_LIST_BYTES} bytes; split it into several runs",
            path.display()
        )));
    }
    Ok(parse_list(&text))
}

/// The components a list names: one per line, surrounding blanks trimmed;
/// empty lines and lines starting with `#` are left out.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

/// What a batch found. `E` is what an unreadable component carries: the
/// error, or what a front end made of it ([`Batch::map_errors`]).
pub struct Batch<E = Error> {
    /// The world, `ns:pkg/world@version`.
    pub world: String,
    /// Every component, in the order given (a repository's tags sorted by name).
    pub checked: Vec<Checked<E>>,
    /// Tags of repositories left out, with why.
    pub skipped: Vec<Skipped>,
}

/// One component of a batch.
pub struct Checked<E = Error> {
    /// The component as named: a file or reference as given, or `REPO:TAG`
    /// for a tag found in a repository.
    pub input: String,
    /// Its report, or why it could not be read.
    pub outcome: std::result::Result<CheckReport, E>,
}

/// A tag of a repository that is not a component.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// `REPO:TAG`.
    pub input: String,
    /// What the tag holds.
    pub reason: &'static str,
}

/// Where a component of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It fits.
    Fits,
    /// It does not fit.
    DoesNotFit,
    /// It could not be read.
    Unreadable,
}

impl<E> Checked<E> {
    /// Where it stands.
    pub fn status(&self) -> Status {
        match &self.outcome {
            Ok(report) if report.fits => Status::Fits,
            Ok(_) => Status::DoesNotFit,
            Err(_) => Status::Unreadable,
        }
    }
}

/// One problem and the components that have it.
pub struct ProblemGroup<'b> {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The problem in a sentence (the same for every component in the group).
    pub message: &'b str,
    /// The components that have it, in the batch's order.
    pub inputs: Vec<&'b str>,
}

/// One match across versions and the components that made it.
pub struct SemverGroup<'b> {
    /// The match (its sentence says which way it went and why).
    pub matched: &'b SemverMatch,
    /// The components that made it, in the batch's order.
    pub inputs: Vec<&'b str>,
}

impl<E> Batch<E> {
    /// The same batch with each error turned into what `f` makes of it (a
    /// front end's message and hint, say).
    pub fn map_errors<F>(self, mut f: impl FnMut(E) -> F) -> Batch<F> {
        let checked =
            self.checked.into_iter().map(|c| Checked { input: c.input, outcome: c.outcome.map_err(&mut f) }).collect();
        Batch { world: self.world, checked, skipped: self.skipped }
    }

    /// How many components stand at `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checked.iter().filter(|c| c.status() == status).count()
    }

    /// How many were answered from their artifact's config alone (not downloaded).
    pub fn from_config(&self) -> usize {
        self.checked.iter().filter(|c| c.outcome.as_ref().is_ok_and(|r| !r.types_checked)).count()
    }

    /// The kinds of problem present, in a fixed order.
    pub fn kinds(&self) -> Vec<ProblemKind> {
        ProblemKind::ALL
            .into_iter()
            .filter(|k| self.reports().any(|(_, r)| r.problems.iter().any(|p| p.kind == *k)))
            .collect()
    }

    /// The problems found, each with the components that have it: the most
    /// widespread first, then in the order first met.
    pub fn problem_groups(&self) -> Vec<ProblemGroup<'_>> {
        let mut groups: Vec<ProblemGroup<'_>> = Vec::new();
        for (input, report) in self.reports() {
            for problem in &report.problems {
                match groups.iter_mut().find(|g| g.message == problem.message) {
                    Some(group) if group.inputs.last() != Some(&input) => group.inputs.push(input),
                    Some(_) => {}
                    None => {
                        groups.push(ProblemGroup { kind: problem.kind, message: &problem.message, inputs: vec![input] })
                    }
                }
            }
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.inputs.len()));
        groups
    }

    /// The matches across versions made, each with the components that made it.
    pub fn semver_groups(&self) -> Vec<SemverGroup<'_>> {
        let mut groups: Vec<SemverGroup<'_>> = Vec::new();
        for (input, report) in self.reports() {
            for matched in &report.semver_matches {
                match groups.iter_mut().find(|g| g.matched.message == matched.message) {
                    Some(group) => group.inputs.push(input),
                    None => groups.push(SemverGroup { matched, inputs: vec![input] }),
                }
            }
        }
        groups
    }

    fn reports(&self) -> impl Iterator<Item = (&str, &CheckReport)> {
        self.checked.iter().filter_map(|c| c.outcome.as_ref().ok().map(|r| (c.input.as_str(), r)))
    }
}

/// Checks every component `inputs` name against `world` (see the module's
/// documentation). Errors only when nothing at all is named; a component that
/// cannot be read is an entry with its error.
pub async fn check_many(
    world: World,
    inputs: &[String],
    transport: &TransportOptions,
    options: &BatchOptions,
) -> Result<Batch> {
    if inputs.is_empty() {
        return Err(Error::Usage("no components to check: the list is empty".into()));
    }
    let world_name = world.name().to_string();
    let mut stores = Stores::default();
    let (targets, failed, skipped) = expand(inputs, transport, &mut stores).await;
    let run = Run {
        world: Arc::new(world),
        options: options.clone(),
        budget: Arc::new(Semaphore::new(megabytes(BYTES_IN_MEMORY))),
        layers: Mutex::new(HashMap::new()),
    };
    let jobs = options.jobs.clamp(1, MAX_JOBS);
    let mut checked: Vec<(usize, Checked)> = futures::stream::iter(targets)
        .map(|(order, target)| {
            let run = &run;
            async move { (order, run.check(target).await) }
        })
        .buffered(jobs)
        .collect()
        .await;
    checked.extend(failed);
    checked.sort_by_key(|(order, _)| *order);
    Ok(Batch { world: world_name, checked: checked.into_iter().map(|(_, c)| c).collect(), skipped })
}

/// One component to check.
enum Target {
    File { input: String, path: PathBuf },
    Reference { input: String, reference: Reference, store: Arc<dyn ReadStore> },
}

/// The stores opened so far, one per repository or layout.
#[derive(Default)]
struct Stores {
    open: HashMap<String, Arc<dyn ReadStore>>,
}

impl Stores {
    async fn get(&mut self, reference: &Reference, transport: &TransportOptions) -> Result<Arc<dyn ReadStore>> {
        if let Some(store) = self.open.get(&reference.location()) {
            return Ok(store.clone());
        }
        let store: Arc<dyn ReadStore> = Arc::from(open_source(reference, transport).await?);
        self.open.insert(reference.location(), store.clone());
        Ok(store)
    }
}

/// The targets `inputs` name, each with its place in the batch's order; the
/// inputs that could not be expanded, as entries; the tags left out. A
/// component named twice is checked once.
async fn expand(
    inputs: &[String],
    transport: &TransportOptions,
    stores: &mut Stores,
) -> (Vec<(usize, Target)>, Vec<(usize, Checked)>, Vec<Skipped>) {
    let (mut targets, mut failed, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    let mut order = 0;
    for input in inputs {
        let named = match name(input, transport, stores, &mut skipped).await {
            Ok(named) => named,
            Err(error) => {
                failed.push((order, Checked { input: input.clone(), outcome: Err(error) }));
                order += 1;
                continue;
            }
        };
        for target in named {
            let key = match &target {
                Target::File { input, .. } | Target::Reference { input, .. } => input.clone(),
            };
            if seen.insert(key) {
                targets.push((order, target));
                order += 1;
            }
        }
    }
    (targets, failed, skipped)
}

/// What one input names: a file, a reference, or a repository's tags.
async fn name(
    input: &str,
    transport: &TransportOptions,
    stores: &mut Stores,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<Target>> {
    if is_path(input) {
        return Ok(vec![Target::File { input: input.to_string(), path: PathBuf::from(input) }]);
    }
    let reference = Reference::parse(input)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        let store = stores.get(&reference, transport).await?;
        return Ok(vec![Target::Reference { input: input.to_string(), reference, store }]);
    }
    let (store, names) = repository(&reference, transport).await?;
    stores.open.insert(reference.location(), store.clone());
    let mut targets = Vec::new();
    for (input, reference) in names {
        match reference.tag().and_then(not_a_component) {
            Some(reason) => skipped.push(Skipped { input, reason }),
            None => targets.push(Target::Reference { input, reference, store: store.clone() }),
        }
    }
    if targets.is_empty() {
        let what = if skipped.is_empty() { "no tags" } else { "no tags but signatures and attestations" };
        return Err(Error::Usage(format!("{input} has {what}: there is no component to check")));
    }
    Ok(targets)
}

/// A repository's store and its tags, each as a name and a reference: a
/// registry's tag list, or a layout's entries (by tag, else by digest).
async fn repository(
    reference: &Reference,
    transport: &TransportOptions,
) -> Result<(Arc<dyn ReadStore>, Vec<(String, Reference)>)> {
    let location = reference.location();
    match reference {
        Reference::Registry(registry) => {
            let store = RegistryStore::connect(registry, transport, Access::Read).await?;
            // Sorted: registries list tags in whatever order their storage keeps,
            // and a batch's report reads the same on every run.
            let mut tags = store.tags().await?;
            tags.sort();
            let names = tags
                .into_iter()
                .map(|tag| {
                    let mut tagged = registry.clone();
                    tagged.tag = Some(tag.clone());
                    (format!("{location}:{tag}"), Reference::Registry(tagged))
                })
                .collect();
            Ok((Arc::new(store), names))
        }
        Reference::Layout(layout) => {
            let store = LayoutStore::open(&layout.path)?;
            let names = store.entries()?.iter().map(|entry| layout_entry(reference, &location, entry)).collect();
            Ok((Arc::new(store), names))
        }
    }
}

/// A layout's index entry as a name and a reference: its tag, else its digest.
fn layout_entry(reference: &Reference, location: &str, entry: &Descriptor) -> (String, Reference) {
    let Reference::Layout(layout) = reference else {
        return (location.to_string(), reference.clone());
    };
    let mut named = layout.clone();
    match entry.annotations.get(wharf_oci::annotations::REF_NAME) {
        Some(tag) => {
            named.tag = Some(tag.clone());
            (format!("{location}:{tag}"), Reference::Layout(named))
        }
        None => {
            named.digest = Some(entry.digest.clone());
            (format!("{location}@{}", entry.digest), Reference::Layout(named))
        }
    }
}

/// What a tag holds when it is not a component: cosign's `sha256-HEX.sig`,
/// `.att` and `.sbom` tags, and the referrers API's fallback tag `sha256-HEX`.
fn not_a_component(tag: &str) -> Option<&'static str> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_at_checked(64)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match suffix {
        "" => Some("a referrers index (the fallback tag of the referrers API)"),
        ".sig" => Some("a cosign signature"),
        ".att" => Some("a cosign attestation"),
        ".sbom" => Some("a cosign SBOM"),
        _ => None,
    }
}

/// The state shared by the checks of one batch.
struct Run {
    world: Arc<World>,
    options: BatchOptions,
    /// Megabytes of components that may be in memory at once.
    budget: Arc<Semaphore>,
    /// Layers being or already checked, by digest: `None` when the check failed.
    layers: Mutex<HashMap<Digest, Arc<OnceCell<Option<CheckReport>>>>>,
}

impl Run {
    async fn check(&self, target: Target) -> Checked {
        match target {
            Target::File { input, path } => {
                let outcome = self.check_file(&input, path).await;
                Checked { input, outcome }
            }
            Target::Reference { input, reference, store } => {
                let outcome = self.check_reference(&reference, store.as_ref()).await;
                Checked { input, outcome }
            }
        }
    }

    async fn check_file(&self, input: &str, path: PathBuf) -> Result<CheckReport> {
        let size = std::fs::metadata(&path).map_err(|e| Error::io("cannot read", &path, e))?.len();
        within_limit(input, size, self.options.max_component_bytes, Some("checks"))?;
        let _held = self.hold(size).await?;
        let (world, source) = (self.world.clone(), input.to_string());
        blocking(input, move || {
            let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            world.check(&source, bytes)
        })
        .await
    }

    /// The config first; the layer only when the names do not settle it, and
    /// then once per layer digest however many references share it.
    async fn check_reference(&self, reference: &Reference, store: &dyn ReadStore) -> Result<CheckReport> {
        let (source, layer) = match look(store, reference, &self.world, self.options.max_component_bytes).await? {
            Looked::Decided(report) => return Ok(report),
            Looked::Layer { source, layer } => (source, layer),
        };
        let cell = {
            let mut layers = self.layers.lock().map_err(|_| Error::Usage("a batch check panicked".into()))?;
            layers.entry(layer.digest.clone()).or_default().clone()
        };
        let mut own = None;
        let shared = cell
            .get_or_init(|| async {
                let outcome = self.check_layer(&source, &layer, store).await;
                let report = outcome.as_ref().ok().cloned();
                own = Some(outcome);
                report
            })
            .await;
        match (own, shared) {
            (Some(outcome), _) => outcome,
            (None, Some(report)) => Ok(CheckReport { component: source, ..report.clone() }),
            // Another reference to this layer failed: this one finds out why itself.
            (None, None) => self.check_layer(&source, &layer, store).await,
        }
    }

    async fn check_layer(&self, source: &str, layer: &Descriptor, store: &dyn ReadStore) -> Result<CheckReport> {
        let _held = self.hold(layer.size).await?;
        let bytes = wharf_oci::store::collect_verified(store.fetch(layer).await?, layer).await?;
        let (world, source) = (self.world.clone(), source.to_string());
        blocking(&source.clone(), move || world.check(&source, bytes)).await
    }

    /// Waits until `size` bytes fit in the batch's memory budget.
    async fn hold(&self, size: u64) -> Result<tokio::sync::OwnedSemaphorePermit> {
        let all = megabytes(BYTES_IN_MEMORY);
        let wanted = megabytes(size).clamp(1, all);
        self.budget
            .clone()
            .acquire_many_owned(u32::try_from(wanted).unwrap_or(u32::MAX))
            .await
            .map_err(|_| Error::Usage("the batch's memory budget is gone".into()))
    }
}

/// Runs CPU work (reading and checking a component) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(what: &str, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(Error::InvalidWasm { path: what.to_string(), reason: format!("the check stopped: {e}"), offset: 0 })
    })
}

/// Whole megabytes in `bytes`, rounded up, as semaphore permits.
fn megabytes(bytes: u64) -> usize {
    usize::try_from(bytes.div_ceil(1 << 20)).unwrap_or(usize::MAX)
}

/// Whether `input` is a local file rather than a reference.
fn is_path(input: &str) -> bool {
    Path::new(input).is_file() || looks_like_path(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_skip_blank_lines_and_comments() {
        let text = "# the fleet\n127.0.0.1:5000/a:1\n\n   ./b.wasm  \n#127.0.0.1:5000/c:1\n";
        assert_eq!(parse_list(text), ["127.0.0.1:5000/a:1", "./b.wasm"]);
    }

    #[test]
    fn a_list_over_the_limit_is_refused_before_it_is_read_whole() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("fleet.txt");
        let line = "127.0.0.1:5000/a:1\n";
        let lines = usize::try_from(MAX_LIST_BYTES).expect("fits") / line.len() + 1;
        std::fs::write(&path, line.repeat(lines)).expect("write the list");
        let error = read_list(&path).expect_err("a list over the limit");
        assert!(matches!(error, Error::Usage(ref m) if m.contains("split it into several runs")), "{error}");
        std::fs::write(&path, line.repeat(3)).expect("write the list");
        assert_eq!(read_list(&path).expect("a small list").len(), 3);
    }

    #[test]
    fn signature_attestation_and_referrer_tags_are_not_components() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(not_a_component(&format!("sha256-{hex}.sig")), Some("a cosign signature"));
        assert_eq!(not_a_component(&format!("sha256-{hex}.att")), Some("a cosign attestation"));
        assert!(not_a_component(&format!("sha256-{hex}")).is_some());
        assert_eq!(not_a_component(&format!("sha256-{hex}.tar")), None);
        assert_eq!(not_a_component("sha256-1.0"), None);
        assert_eq!(not_a_component("1.0.0"), None);
    }

    #[test]
    fn a_reference_without_tag_or_digest_names_a_repository() {
        assert!(names_a_repository("127.0.0.1:5000/plugins/filter"));
        assert!(!names_a_repository("127.0.0.1:5000/plugins/filter:1.0"));
        assert!(!names_a_repository(&format!("127.0.0.1:5000/plugins/filter@sha256:{}", "0".repeat(64))));
        assert!(!names_a_repository("./filter.wasm"));
        assert!(names_a_repository("oci:store"));
        assert!(!names_a_repository("oci:store:filter"));
    }
}
