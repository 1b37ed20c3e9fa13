//! Kubernetes admission: verify the signatures of every image a workload runs.
//!
//! [`Admission::review`] takes an `admission.k8s.io/v1` AdmissionReview (as the API
//! server POSTs it), extracts every image of a Pod or of the pod template of a
//! Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or CronJob (containers,
//! initContainers, ephemeralContainers), decides each with the [`Policy`], resolves
//! images that need signatures to a digest and verifies them with [`crate::sign`]
//! (both cosign formats), and answers with an AdmissionReview response: allowed, or
//! denied with a message naming image, rule and reason (in `warn` mode: allowed, with
//! the reasons as warnings). For `/mutate`, verified images are pinned to
//! `repo@sha256:…` with a JSONPatch.
//!
//! A rule may also require a WIT world (`world:`: the artifact config's declared
//! `component.target` on a semver track) and a full WIT check of the component
//! against that world (`check: full`, as `wharf check REF` does).
//!
//! What one image may cost is bounded by the policy's `limits:`: a time budget for
//! its whole review (run over, it is denied whatever the fail mode, since what a
//! repository holds can make a review slow), and for `check: full` a size cap on
//! what is read, with the parsing done on tokio's blocking pool.
//!
//! Verdicts are cached by (policy generation, rule position, repository, digest) for a while (negative
//! verdicts for a shorter while); concurrent requests for the same digest share one
//! lookup. [`Admission::reload`] swaps in a new policy under a new generation, so no
//! verdict of the old one is reused. [`server`] is the HTTPS endpoint around it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::policy::{Action, Authority, Check, ComponentRequirement, Limits, Mode, Policy, WorldTrack, decide};
use crate::reference::Reference;
use crate::sign::{self, Trust, VerifyOptions};
use crate::transport::TransportOptions;

mod file_stamp;
pub mod manifests;
pub mod server;
pub mod tls_reload;

/// One image of a workload, and where it sits in the object (a JSON pointer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSite {
    /// The JSON pointer of the `image` field (`/spec/containers/0/image`).
    pub pointer: String,
    /// The image as written.
    pub image: String,
}

/// The pod spec's JSON pointer for a kind, or `None` for kinds that run no pods.
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "/spec",
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicationController" => {
            "/spec/template/spec"
        }
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    })
}

/// Every image of `object` (a Pod or a workload of `kind`), with where it is.
pub fn extract_images(kind: &str, object: &Value) -> Vec<ImageSite> {
    let Some(spec_ptr) = pod_spec_pointer(kind) else { return Vec::new() };
    let Some(spec) = object.pointer(spec_ptr) else { return Vec::new() };
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Array(containers)) = spec.get(list) {
            for (i, c) in containers.iter().enumerate() {
                if let Some(Value::String(image)) = c.get("image") {
                    out.push(ImageSite { pointer: format!("{spec_ptr}/{list}/{i}/image"), image: image.clone() });
                }
            }
        }
    }
    out
}

/// Every image of a manifest file's documents (YAML, several separated by `---`), for
/// `wharf admission check`: each with the document's kind, name and namespace.
pub fn manifest_images(origin: &str, text: &str) -> Result<Vec<ManifestImage>> {
    let mut out = Vec::new();
    for (n, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| {
            let line = e.location().map(|l| format!(" at line {}", l.line())).unwrap_or_default();
            Error::Usage(format!("cannot read the manifest {origin}{line}: {e}"))
        })?;
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        if kind.is_empty() {
            return Err(Error::Usage(format!("document {} of {origin} has no kind", n + 1)));
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
        for site in extract_images(&kind, &value) {
            out.push(ManifestImage { kind: kind.clone(), name: name.clone(), namespace: namespace.clone(), site });
        }
    }
    Ok(out)
}

/// An image of a manifest document.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestImage {
    /// The document's kind.
    pub kind: String,
    /// Its `metadata.name`.
    pub name: String,
    /// Its `metadata.namespace`, if any.
    pub namespace: Option<String>,
    /// The image and where it is.
    pub site: ImageSite,
}

/// What happens to an image when its registry cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Deny (fail closed, the default).
    #[default]
    Deny,
    /// Admit (fail open).
    Allow,
}

/// Settings of an [`Admission`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Registry transport (credentials come from the docker config unless given).
    pub transport: TransportOptions,
    /// What to do when a registry is unreachable or answers with an error.
    pub fail_mode: FailMode,
    /// How long a positive verdict is cached.
    pub ttl: Duration,
    /// How long a negative verdict is cached.
    pub negative_ttl: Duration,
    /// At most this many cached verdicts.
    pub cache_capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            transport: TransportOptions::default(),
            fail_mode: FailMode::Deny,
            ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
            cache_capacity: 1024,
        }
    }
}

/// The verdict on one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageVerdict {
    /// The image as written.
    pub image: String,
    /// The deciding rule (`unmatched` when none).
    pub rule: String,
    /// Admitted?
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
    /// The verified digest (for pinning), when signatures were checked and accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

impl ImageVerdict {
    /// `image IMAGE: rule RULE: REASON`, as in denial messages.
    pub fn message(&self) -> String {
        format!("image {}: rule {}: {}", self.image, self.rule, self.reason)
    }
}

/// A request the webhook cannot read (answered with HTTP 400).
#[derive(Debug, thiserror::Error)]
#[error("malformed AdmissionReview: {0}")]
pub struct MalformedReview(pub String);

/// Counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Images admitted.
    pub images_allowed: AtomicU64,
    /// Images denied.
    pub images_denied: AtomicU64,
    /// Verdicts served from the cache (including shared in-flight lookups).
    pub cache_hits: AtomicU64,
    /// Verdicts looked up in the registry.
    pub cache_misses: AtomicU64,
    /// Registry errors.
    pub registry_errors: AtomicU64,
    /// Policies reloaded and put in force.
    pub policy_reloads: AtomicU64,
    /// Reloads refused (the new policy was invalid; the old one stayed).
    pub policy_reload_failures: AtomicU64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    generation: u64,
    /// The rule's position in the policy of `generation` (`None`: `unmatched`):
    /// its identity. Two rules may share a name in a policy built in code; their
    /// verdicts must not be shared.
    rule: Option<usize>,
    /// `registry/repository`: signatures live beside the image, so the same digest in
    /// another repository has its own verdict.
    repository: String,
    digest: String,
}

#[derive(Clone)]
struct Cached {
    verified: bool,
    reason: String,
    at: Instant,
}

#[derive(Default)]
struct Slot {
    cell: tokio::sync::OnceCell<Cached>,
}

/// A policy with its keys loaded, under its generation number.
struct Loaded {
    policy: Policy,
    generation: u64,
    trusts: Vec<(Authority, Trust)>,
}

impl Loaded {
    /// Loads every key and trusted root the policy names; an unreadable one is an error.
    fn new(policy: Policy) -> Result<Loaded> {
        let mut trusts = Vec::new();
        for authority in policy.authorities() {
            let trust = match (&authority.key, &authority.keyless) {
                (Some(path), _) => match &authority.trusted_root {
                    Some(root) => {
                        Trust::ManagedKey { key: sign::read_public_key(path)?, root: sign::read_trusted_root(root)? }
                    }
                    None => Trust::Key(sign::read_public_key(path)?),
                },
                (None, Some(k)) => {
                    Trust::Keyless { root: sign::read_trusted_root(&k.trusted_root)?, expected: k.expected()? }
                }
                (None, None) => {
                    return Err(Error::Usage(format!("an authority of the policy is empty: {authority:?}")));
                }
            };
            trusts.push((authority.clone(), trust));
        }
        Ok(Loaded { policy, generation: GENERATION.fetch_add(1, Ordering::Relaxed), trusts })
    }
}

/// The connect and read timeouts of the webhook's registry requests unless
/// given (`--connect-timeout`, `--read-timeout`): well inside the default
/// review budget, so that a registry that does not answer counts as one that
/// could not be asked (the fail mode decides) before the budget runs out (a denial).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);

/// How long a repository's registry connection is reused for resolving tags.
const RESOLVER_REUSE: Duration = Duration::from_secs(60);

/// A repository's open registry connection, for resolving tags, and when it was opened.
type Resolvers = HashMap<String, (Instant, Arc<dyn crate::store::ReadStore>)>;

/// A loaded policy with its keys, a verdict cache and counters: the webhook's state.
pub struct Admission {
    loaded: RwLock<Arc<Loaded>>,
    settings: Settings,
    resolvers: Mutex<Resolvers>,
    cache: Mutex<HashMap<CacheKey, Arc<Slot>>>,
    /// Full WIT checks that may hold a component at once: one per core.
    checks: Arc<tokio::sync::Semaphore>,
    /// Counters for `/metrics`.
    pub counters: Counters,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// How the reason of an image admitted by `--fail-mode allow` starts (it also becomes a warning).
const FAIL_OPEN: &str = "admitted without verification (fail mode allow)";

impl Admission {
    /// Loads every key the policy names; an unreadable key is an error (refuse to start).
    pub fn new(policy: Policy, settings: Settings) -> Result<Admission> {
        Ok(Admission {
            loaded: RwLock::new(Arc::new(Loaded::new(policy)?)),
            settings,
            resolvers: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            )),
            counters: Counters::default(),
        })
    }

    fn loaded(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.loaded().policy.clone()
    }

    /// The generation of the policy in force (a new one on every reload).
    pub fn generation(&self) -> u64 {
        self.loaded().generation
    }

    /// Puts `policy` in force under a new generation, once all its keys load; on error
    /// the old policy stays. Verdicts of older generations are dropped, never reused.
    /// Returns the new generation.
    pub fn reload(&self, policy: Policy) -> Result<u64> {
        let loaded = match Loaded::new(policy) {
            Ok(l) => Arc::new(l),
            Err(e) => {
                self.counters.policy_reload_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let generation = loaded.generation;
        match self.loaded.write() {
            Ok(mut l) => *l = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
        self.lock_cache().retain(|k, _| k.generation == generation);
        self.counters.policy_reloads.fetch_add(1, Ordering::Relaxed);
        Ok(generation)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Slot>>> {
        match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Decides one image: policy, then (for rules with authorities) digest and signatures.
    pub async fn check_image(&self, image: &str, namespace: Option<&str>) -> ImageVerdict {
        self.check_image_with(&self.loaded(), image, namespace).await
    }

    async fn check_image_with(&self, loaded: &Loaded, image: &str, namespace: Option<&str>) -> ImageVerdict {
        let (rule_index, decision) = decide(&loaded.policy, image, namespace);
        let rule = decision.rule_name().to_string();
        let verdict = |allowed: bool, reason: String, digest: Option<Digest>| ImageVerdict {
            image: image.to_string(),
            rule: rule.clone(),
            allowed,
            reason,
            digest,
        };
        let authorities = match decision.action {
            Action::Allow if decision.component.is_empty() => None,
            Action::Allow => Some(Vec::new()),
            Action::Verify(authorities) => Some(authorities),
            Action::Deny if decision.rule.is_none() => {
                return self.count(verdict(false, "no rule matches the image".into(), None));
            }
            Action::Deny => return self.count(verdict(false, "denied by the policy".into(), None)),
        };
        let out = match authorities {
            None => verdict(true, "allowed by the policy".into(), None),
            Some(authorities) => {
                let budget = loaded.policy.limits.image_timeout;
                let deadline = tokio::time::Instant::now() + budget;
                let work = self.verify(loaded, image, rule_index, &authorities, &decision.component, deadline);
                match tokio::time::timeout_at(deadline + BUDGET_GRACE, work).await {
                    Err(_) => verdict(false, over_budget(budget), None),
                    Ok(Ok((digest, cached))) => {
                        verdict(cached.verified, cached.reason, cached.verified.then_some(digest))
                    }
                    Ok(Err(e)) => {
                        self.counters.registry_errors.fetch_add(1, Ordering::Relaxed);
                        let (allowed, reason) = self.on_error(&e);
                        verdict(allowed, reason, None)
                    }
                }
            }
        };
        self.count(out)
    }

    /// The verdict (admitted?, why) on an image whose checks failed with `e`:
    /// the fail mode decides only when the registry could not be asked.
    fn on_error(&self, e: &Error) -> (bool, String) {
        use crate::ErrorKind::{Integrity, Unsupported, Usage};
        match (e.kind(), self.settings.fail_mode) {
            (Usage | Unsupported | Integrity, _) => (false, e.to_string()),
            (_, FailMode::Allow) if could_not_ask(e) => (true, format!("{FAIL_OPEN}: {e}")),
            (_, FailMode::Allow) => {
                (false, format!("cannot verify: {e} (the registry answered, so fail mode allow does not apply)"))
            }
            (_, FailMode::Deny) => (false, format!("cannot verify: {e}")),
        }
    }

    /// Counts a verdict for `/metrics`, and returns it.
    fn count(&self, verdict: ImageVerdict) -> ImageVerdict {
        let counter = if verdict.allowed { &self.counters.images_allowed } else { &self.counters.images_denied };
        counter.fetch_add(1, Ordering::Relaxed);
        verdict
    }

    /// Resolves `image` to a digest, then finds the verdict in the cache or verifies.
    async fn verify(
        &self,
        loaded: &Loaded,
        image: &str,
        rule: Option<usize>,
        authorities: &[Authority],
        component: &ComponentRequirement,
        deadline: tokio::time::Instant,
    ) -> Result<(Digest, Cached)> {
        let reference = Reference::parse(image)?;
        if !matches!(reference, Reference::Registry(_)) {
            return Err(Error::Usage(format!("{image} is not a registry image")));
        }
        let digest = match reference.digest() {
            Some(d) => d.clone(),
            None => self.resolve_tag(&reference).await?,
        };
        let key = CacheKey {
            generation: loaded.generation,
            rule,
            repository: reference.location(),
            digest: digest.to_string(),
        };
        let slot = self.slot(&key);
        let mut missed = false;
        let cached = slot
            .cell
            .get_or_try_init(|| {
                missed = true;
                // Run over, the verdict is a denial, cached like any other: reviews of the
                // same digest in the meantime share it instead of starting the work again.
                let judged = self.judge_digest(loaded, reference.with_digest(digest.clone()), authorities, component);
                async move {
                    match tokio::time::timeout_at(deadline, judged).await {
                        Ok(judged) => judged,
                        Err(_) => Ok(Cached {
                            verified: false,
                            reason: over_budget(loaded.policy.limits.image_timeout),
                            at: Instant::now(),
                        }),
                    }
                }
            })
            .await?
            .clone();
        let counter = if missed { &self.counters.cache_misses } else { &self.counters.cache_hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok((digest, cached))
    }

    /// Resolves a tag to its digest, every time (a moved tag is noticed at once), through
    /// the repository's connection of the last [`RESOLVER_REUSE`] (no new connection,
    /// scheme probe and auth per review); a failure drops the connection.
    async fn resolve_tag(&self, reference: &Reference) -> Result<Digest> {
        let location = reference.location();
        let lock = || match self.resolvers.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let reused = lock().get(&location).filter(|(at, _)| at.elapsed() < RESOLVER_REUSE).map(|(_, s)| s.clone());
        let store = match reused {
            Some(store) => store,
            None => {
                let store: Arc<dyn crate::store::ReadStore> =
                    Arc::from(crate::ops::open_source(reference, &self.settings.transport).await?);
                let mut resolvers = lock();
                resolvers.retain(|_, (at, _)| at.elapsed() < RESOLVER_REUSE);
                resolvers.insert(location.clone(), (Instant::now(), store.clone()));
                store
            }
        };
        match store.resolve(&reference.selector()).await {
            Ok(descriptor) => Ok(descriptor.digest),
            Err(e) => {
                lock().remove(&location);
                Err(e)
            }
        }
    }

    /// The cache slot for `key`: a live one, or a new one (evicting when full).
    fn slot(&self, key: &CacheKey) -> Arc<Slot> {
        let now = Instant::now();
        let live = |slot: &Slot| match slot.cell.get() {
            None => true,
            Some(c) => {
                let ttl = if c.verified { self.settings.ttl } else { self.settings.negative_ttl };
                now.duration_since(c.at) < ttl
            }
        };
        let mut cache = self.lock_cache();
        if let Some(slot) = cache.get(key)
            && live(slot)
        {
            return slot.clone();
        }
        if cache.len() >= self.settings.cache_capacity.max(1) {
            cache.retain(|_, s| live(s));
            while cache.len() >= self.settings.cache_capacity.max(1) {
                let oldest = cache
                    .iter()
                    .filter_map(|(k, s)| s.cell.get().map(|c| (k.clone(), c.at)))
                    .min_by_key(|(_, at)| *at)
                    .map(|(k, _)| k);
                match oldest {
                    Some(k) => cache.remove(&k),
                    None => break,
                };
            }
        }
        let slot = Arc::new(Slot::default());
        cache.insert(key.clone(), slot.clone());
        slot
    }

    /// Judges `reference` (pinned to a digest): its signatures (when the rule names
    /// authorities), then its declared world and its fit (when the rule asks).
    async fn judge_digest(
        &self,
        loaded: &Loaded,
        reference: Reference,
        authorities: &[Authority],
        component: &ComponentRequirement,
    ) -> Result<Cached> {
        let mut reasons = Vec::new();
        if !authorities.is_empty() {
            let signatures = self.verify_digest(loaded, &reference, authorities).await?;
            if !signatures.verified {
                return Ok(signatures);
            }
            reasons.push(signatures.reason);
        }
        if let Some(world) = &component.world {
            match self.check_world(&reference, world).await? {
                Ok(reason) => reasons.push(reason),
                Err(reason) => return Ok(Cached { verified: false, reason, at: Instant::now() }),
            }
        }
        if component.check == Check::Full {
            match self.check_fit(&reference, &loaded.policy.limits).await? {
                Ok(reason) => reasons.push(reason),
                Err(reason) => return Ok(Cached { verified: false, reason, at: Instant::now() }),
            }
        }
        Ok(Cached { verified: true, reason: reasons.join("; "), at: Instant::now() })
    }

    /// Whether the artifact's config declares a target on `world`'s track: reads the
    /// manifest and config only. The inner `Err` is a denial's reason.
    async fn check_world(
        &self,
        reference: &Reference,
        world: &WorldTrack,
    ) -> Result<std::result::Result<String, String>> {
        let store = crate::ops::open_source(reference, &self.settings.transport).await?;
        let resolved = crate::ops::resolve_artifact(store.as_ref(), &reference.selector()).await?;
        let declared = resolved.config.as_ref().and_then(|c| c.component.as_ref()).and_then(|c| c.target.clone());
        Ok(match declared {
            None => Err(format!(
                "the rule requires the world {world}, and the artifact declares no target world (its config has \
                 no component.target); push it with `wharf push FILE REF --wit WIT` to record the world it fits"
            )),
            Some(target) if world.admits(&target) => Ok(format!("declares the world {target}")),
            Some(target) => Err(format!("declares the world {target}, which is not on the required track {world}")),
        })
    }

    /// The full WIT check of the component against the world its artifact declares (the
    /// world's package fetched through wkg's name mapping). The inner `Err` is a denial's reason.
    ///
    /// What a component may cost is bounded: the package and the component are refused
    /// over `limits.component_size` before they are read; parsing and checking run on
    /// tokio's blocking pool, never on a worker that answers reviews; and at most
    /// [`Admission::checks`]'s permits of them hold a component in memory at once.
    async fn check_fit(&self, reference: &Reference, limits: &Limits) -> Result<std::result::Result<String, String>> {
        let transport = &self.settings.transport;
        let cannot_check = |e: Error| {
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            format!("cannot run the full WIT check: {e}{hint}")
        };
        let permit = self.checks.clone().acquire_owned().await.map_err(|_| internal("the check permits are gone"))?;
        let package = match crate::check::fetch_declared_package(
            &reference.to_string(),
            transport,
            limits.component_size,
        )
        .await
        {
            Ok(p) => p,
            Err(e) if e.kind() == crate::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
            Err(e) => return Err(e),
        };
        let world = package.world.clone();
        let (declared, permit) = off_the_runtime(permit, move || package.load()).await?;
        let target = match declared {
            Ok(d) => d.target,
            Err(e) if e.kind() == crate::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
            Err(e) => return Err(e),
        };
        let fetched = crate::check::fetch_component(reference, &target, transport, limits.component_size).await;
        let report = match fetched {
            Ok(crate::check::Component::Decided(report)) => report,
            Ok(crate::check::Component::Fetched { source, bytes }) => {
                match off_the_runtime(permit, move || target.check(&source, bytes)).await?.0 {
                    Ok(report) => report,
                    Err(e) if e.kind() == crate::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
                    Err(e) => return Err(e),
                }
            }
            Err(e) if e.kind() == crate::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
            Err(e) => return Err(e),
        };
        if report.fits {
            return Ok(Ok(format!("fits its declared world {world} (full WIT check)")));
        }
        let problems: Vec<String> = report.problems.iter().map(|p| p.message.clone()).collect();
        Ok(Err(format!(
            "does not fit its declared world {world} ({} problem{}): {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("; ")
        )))
    }

    /// Checks the signatures of `reference` (pinned to a digest) against each authority in turn.
    async fn verify_digest(&self, loaded: &Loaded, reference: &Reference, authorities: &[Authority]) -> Result<Cached> {
        let options = VerifyOptions { annotations: Default::default(), transport: self.settings.transport.clone() };
        let mut reasons = Vec::new();
        for authority in authorities {
            let Some((_, trust)) = loaded.trusts.iter().find(|(a, _)| a == authority) else {
                reasons.push(format!("the {} was not loaded", authority.describe()));
                continue;
            };
            let report = sign::verify_with(reference, trust, &options).await?;
            if report.verified {
                return Ok(Cached {
                    verified: true,
                    reason: format!("signature verified with {}", authority.describe()),
                    at: Instant::now(),
                });
            }
            if report.signatures.is_empty() {
                reasons.push(format!("no signatures found for {}", report.digest));
            } else {
                let why: Vec<String> = report
                    .signatures
                    .iter()
                    .map(|s| format!("{} {}", s.format.name(), s.reason.as_deref().unwrap_or("rejected")))
                    .collect();
                reasons.push(format!("no signature verifies with {}: {}", authority.describe(), why.join("; ")));
            }
        }
        reasons.dedup();
        Ok(Cached { verified: false, reason: reasons.join("; "), at: Instant::now() })
    }

    /// Answers an AdmissionReview body; `mutate` adds the digest-pinning JSONPatch.
    /// A body that is not an AdmissionReview with a request is [`MalformedReview`].
    pub async fn review(&self, body: &[u8], mutate: bool) -> std::result::Result<Value, MalformedReview> {
        let review: AdmissionReview<DynamicObject> =
            serde_json::from_slice(body).map_err(|e| MalformedReview(e.to_string()))?;
        let request: AdmissionRequest<DynamicObject> =
            review.try_into().map_err(|_| MalformedReview("the review has no request".into()))?;
        let mut response = AdmissionResponse::from(&request);
        let Some(object) = &request.object else {
            return to_value(response);
        };
        let object = serde_json::to_value(object).map_err(|e| MalformedReview(e.to_string()))?;
        let namespace = request.namespace.as_deref().or(object.pointer("/metadata/namespace").and_then(Value::as_str));
        let sites = extract_images(&request.kind.kind, &object);
        let loaded = self.loaded();
        let verdicts =
            futures::future::join_all(sites.iter().map(|s| self.check_image_with(&loaded, &s.image, namespace))).await;
        let denials: Vec<String> = verdicts.iter().filter(|v| !v.allowed).map(ImageVerdict::message).collect();
        let unverified: Vec<String> = verdicts
            .iter()
            .filter(|v| v.allowed && v.reason.starts_with(FAIL_OPEN))
            .map(|v| format!("wharf: {}", v.message()))
            .collect();
        if !unverified.is_empty() {
            response.warnings = Some(unverified);
        }
        if !denials.is_empty() {
            match loaded.policy.mode {
                Mode::Enforce => return to_value(response.deny(denials.join("; "))),
                Mode::Warn => {
                    let warnings = response.warnings.get_or_insert_with(Vec::new);
                    warnings.extend(denials.iter().map(|d| format!("wharf: {d}")));
                }
            }
        }
        if mutate {
            let ops: Vec<Value> = sites
                .iter()
                .zip(&verdicts)
                .filter_map(|(site, v)| {
                    let digest = v.digest.as_ref()?;
                    let Ok(Reference::Registry(r)) = Reference::parse(&site.image) else { return None };
                    if r.digest.as_ref() == Some(digest) && r.tag.is_none() {
                        return None;
                    }
                    let pinned = format!("{}/{}@{}", r.registry, r.repository, digest);
                    Some(serde_json::json!({"op": "replace", "path": site.pointer, "value": pinned}))
                })
                .collect();
            if !ops.is_empty() {
                let patch: json_patch::Patch =
                    serde_json::from_value(Value::Array(ops)).map_err(|e| MalformedReview(e.to_string()))?;
                response = response.with_patch(patch).map_err(|e| MalformedReview(e.to_string()))?;
            }
        }
        to_value(response)
    }
}

/// Runs CPU-bound `work` (parsing and checking a component) on tokio's blocking
/// pool, holding `permit` until it is done, even when the review stops waiting
/// for it (its budget ran out): a costly component keeps one permit busy, never a
/// worker that answers reviews. A panic in `work` is an error, not a crash.
async fn off_the_runtime<T: Send + 'static>(
    permit: tokio::sync::OwnedSemaphorePermit,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<(T, tokio::sync::OwnedSemaphorePermit)> {
    tokio::task::spawn_blocking(move || (work(), permit))
        .await
        .map_err(|e| Error::Usage(format!("the WIT check of the component stopped: {e}")))
}

fn internal(what: &str) -> Error {
    Error::Usage(format!("internal error: {what}"))
}

/// How much longer than its budget a review waits for a verdict of the same
/// digest being judged (whose own budget ends first and is then cached).
const BUDGET_GRACE: Duration = Duration::from_millis(200);

/// The reason of an image whose review ran over its budget.
fn over_budget(budget: Duration) -> String {
    format!(
        "its review did not finish within the time budget of {} s (limits.imageSeconds), so it is denied whatever \
         the fail mode: what a repository holds (a flood of referrers, a costly component) can make a review slow",
        budget.as_secs_f64()
    )
}

/// Whether `error` means the registry could not be asked: no connection, a
/// timeout, a connection cut part-way, or an answer of 429 or 5xx (busy or
/// broken). Only these let `--fail-mode allow` admit. Everything else is an
/// answer the registry gave, and what a repository holds is the attacker's to
/// choose (a non-index under the `sha256-<hex>` tag, a referrers list past the
/// cap, 401/403/404, a certificate that does not verify): those deny.
fn could_not_ask(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } | Error::Transfer { .. } | Error::RetryLater { .. } => true,
        Error::Registry { .. } => error.http_status().is_some_and(|s| s == 429 || (500..=599).contains(&s)),
        _ => false,
    }
}

/// The review answer as JSON. kube-core serialises the patch as an array of numbers; the
/// API server reads Go's `[]byte`, which is a base64 string, so it is written as one.
fn to_value(response: AdmissionResponse) -> std::result::Result<Value, MalformedReview> {
    use base64::Engine as _;
    let patch = response.patch.clone();
    let mut value = serde_json::to_value(response.into_review()).map_err(|e| MalformedReview(e.to_string()))?;
    if let (Some(bytes), Some(slot)) = (patch, value.pointer_mut("/response/patch")) {
        *slot = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_pod_and_template_images() {
        let pod = serde_json::json!({"spec": {
            "initContainers": [{"name": "i", "image": "a/init:1"}],
            "containers": [{"name": "c", "image": "a/main:1"}, {"name": "d", "image": "b/side"}],
            "ephemeralContainers": [{"name": "e", "image": "dbg"}]}});
        let images: Vec<(String, String)> =
            extract_images("Pod", &pod).into_iter().map(|s| (s.pointer, s.image)).collect();
        assert_eq!(
            images,
            vec![
                ("/spec/initContainers/0/image".into(), "a/init:1".into()),
                ("/spec/containers/0/image".into(), "a/main:1".into()),
                ("/spec/containers/1/image".into(), "b/side".into()),
                ("/spec/ephemeralContainers/0/image".into(), "dbg".into()),
            ]
        );
        let deploy = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert_eq!(extract_images("Deployment", &deploy)[0].pointer, "/spec/template/spec/containers/0/image");
        let cron = serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "y"}]}}}}}});
        assert_eq!(extract_images("CronJob", &cron)[0].image, "y");
        assert!(extract_images("ConfigMap", &deploy).is_empty());
        assert!(extract_images("Pod", &serde_json::json!({})).is_empty());
    }

    #[test]
    fn manifest_images_reads_every_document() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - {name: c, image: a:1}\n---\nkind: CronJob\nmetadata: {name: j}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: c, image: b}]\n";
        let images = manifest_images("m.yaml", text).expect("reads");
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].namespace.as_deref(), Some("ns"));
        assert_eq!(images[1].site.image, "b");
        let e = manifest_images("m.yaml", "kind: [").expect_err("bad yaml").to_string();
        assert!(e.contains("m.yaml") && e.contains("line"), "{e}");
    }

    fn admission(policy: &str) -> Admission {
        Admission::new(Policy::parse("p", policy).expect("policy"), Settings::default()).expect("admission")
    }

    fn review(kind: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
            "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": kind},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "name": "x", "namespace": "default", "operation": "CREATE",
                "userInfo": {"username": "me"}, "object": object, "dryRun": false}
        }))
        .expect("serialises")
    }

    #[tokio::test]
    async fn static_rules_allow_and_deny_with_messages() {
        let a = admission("rules:\n  - name: sandbox\n    images: ['h:5000/sandbox/**']\n    allow: true\n");
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "image": "h:5000/sandbox/a:1"}]}});
        let out = a.review(&review("Pod", pod), false).await.expect("answers");
        assert_eq!(out.pointer("/response/allowed"), Some(&Value::Bool(true)));
        assert_eq!(out.pointer("/response/uid"), Some(&Value::String("u-1".into())));
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "image": "h:5000/other/a:1"}]}});
        let out = a.review(&review("Pod", pod), false).await.expect("answers");
        assert_eq!(out.pointer("/response/allowed"), Some(&Value::Bool(false)));
        let msg = out.pointer("/response/status/message").and_then(Value::as_str).unwrap_or_default();
        assert!(msg.contains("h:5000/other/a:1") && msg.contains("unmatched") && msg.contains("no rule"), "{msg}");
    }

    #[tokio::test]
    async fn warn_mode_admits_with_warnings() {
        let a = admission("mode: warn\nrules: []\n");
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        let out = a.review(&review("Pod", pod), false).await.expect("answers");
        assert_eq!(out.pointer("/response/allowed"), Some(&Value::Bool(true)));
        let warnings = out.pointer("/response/warnings").and_then(Value::as_array).map(Vec::len);
        assert_eq!(warnings, Some(1));
    }

    #[tokio::test]
    async fn malformed_reviews_are_errors() {
        let a = admission("rules: []\n");
        assert!(a.review(b"not json", false).await.is_err());
        assert!(a.review(br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#, false).await.is_err());
    }

    #[tokio::test]
    async fn unreachable_registry_follows_the_fail_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = crate::sign::PrivateKey::generate().expect("key");
        let pub_path = dir.path().join("k.pub");
        std::fs::write(&pub_path, key.public_key().to_pem()).expect("write");
        let policy = format!(
            "rules:\n  - name: signed\n    images: ['127.0.0.1:1/**']\n    authorities: [{{key: {}}}]\n",
            pub_path.display()
        );
        let policy = Policy::parse("p", &policy).expect("policy");
        let closed = Admission::new(policy.clone(), Settings::default()).expect("admission");
        let v = closed.check_image("127.0.0.1:1/a:1", None).await;
        assert!(!v.allowed && v.reason.contains("cannot verify"), "{v:?}");
        let open =
            Admission::new(policy, Settings { fail_mode: FailMode::Allow, ..Settings::default() }).expect("admission");
        assert!(open.check_image("127.0.0.1:1/a:1", None).await.allowed);
    }

    #[test]
    fn only_a_registry_that_could_not_be_asked_fails_open() {
        let registry =
            |status: &str| Error::Registry { registry: "r".into(), status: status.into(), message: "m".into() };
        let unreachable = Error::Unreachable { registry: "r".into(), detail: "refused".into() };
        let cut = Error::Transfer { what: "d".into(), source: std::io::Error::other("reset") };
        let later = Error::RetryLater {
            registry: "r".into(),
            status: "HTTP 429".into(),
            after: Duration::from_secs(1),
            message: "m".into(),
        };
        for e in [unreachable, cut, later, registry("HTTP 503"), registry("HTTP 500"), registry("HTTP 429")] {
            assert!(could_not_ask(&e), "{e}");
        }
        let answered = [
            registry("HTTP 400"),
            registry("an unusable token"),
            Error::NotFound { what: "manifest".into() },
            Error::Unauthorized { registry: "r".into(), detail: "403".into() },
            Error::Certificate { registry: "r".into(), detail: "unknown issuer".into() },
            Error::malformed("referrers tag sha256-00", "it holds an image manifest, not an image index"),
            Error::malformed("referrers of sha256:00", "the registry sent more than 4194304 bytes"),
        ];
        for e in answered {
            assert!(!could_not_ask(&e), "{e}");
        }
    }

    #[tokio::test]
    async fn reload_changes_the_generation_or_keeps_the_old_policy() {
        let a = admission("rules: []\nunmatched: deny\n");
        let first = a.generation();
        assert!(!a.check_image("nginx", None).await.allowed);
        let missing_key = "rules:\n  - name: k\n    images: ['**']\n    authorities: [{key: /nonexistent/k.pub}]\n";
        let e = a.reload(Policy::parse("p", missing_key).expect("parses")).expect_err("the key cannot be read");
        assert!(e.to_string().contains("/nonexistent/k.pub"), "{e}");
        assert_eq!(a.generation(), first);
        assert_eq!(a.counters.policy_reload_failures.load(Ordering::Relaxed), 1);
        assert!(!a.check_image("nginx", None).await.allowed, "the old policy stays");
        let second = a.reload(Policy::parse("p", "rules: []\nunmatched: allow\n").expect("parses")).expect("reloads");
        assert!(second > first);
        assert_eq!(a.generation(), second);
        assert!(a.check_image("nginx", None).await.allowed);
    }

    #[test]
    fn keyless_authorities_load_their_trusted_root_at_start() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../registry-tests/fixtures/keyless/staging_trusted_root.json");
        let policy = format!(
            "rules:\n  - name: ci\n    images: ['**']\n    authorities:\n      - keyless: {{identity: me@example.com, issuer: https://accounts.example.com, trustedRoot: {root}}}\n"
        );
        let policy = Policy::parse("p", &policy).expect("policy");
        assert!(Admission::new(policy.clone(), Settings::default()).is_ok());
        let missing = policy_with_root(&policy, "/nonexistent/trusted_root.json");
        let e = Admission::new(missing, Settings::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("trusted root"), "{e}");
    }

    fn policy_with_root(policy: &Policy, root: &str) -> Policy {
        let mut p = policy.clone();
        for rule in &mut p.rules {
            if let crate::policy::Requirement::Verify(authorities) = &mut rule.requirement {
                for a in authorities {
                    if let Some(k) = &mut a.keyless {
                        k.trusted_root = root.into();
                    }
                }
            }
        }
        p
    }
}
