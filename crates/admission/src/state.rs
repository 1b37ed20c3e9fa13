//! The webhook's state and its verdict on one image: the policy in force with its
//! keys ([`Admission::reload`] swaps in a new one under a new generation, so no
//! verdict of the old one is reused), the verdict cache, the counters `/metrics`
//! reads, and [`Admission::check_image`]: the policy's decision, then (for rules
//! that ask) the digest's verification by `verification`, cached.
//!
//! What one image may cost is bounded by the policy's `limits:`: a time budget for
//! its whole review (run over, it is denied whatever the fail mode, since what a
//! repository holds can make a review slow), and for `check: full` a size cap on
//! what is read, with the parsing done on tokio's blocking pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use wharf_oci::digest::Digest;
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;

use crate::cache::{CacheKey, Cached, VerdictCache};
use crate::error::{Error, Result};
use crate::policy::{Action, Authority, ComponentRequirement, Policy, decide};
use crate::verification::{Judge, Loaded};

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
    /// At most this many cached verdicts, counting lookups under way (least recently used out first).
    pub cache_capacity: usize,
    /// How long the API server waits for an answer (the webhook configuration's
    /// `timeoutSeconds`): a review is answered [`ANSWER_MARGIN`] before, counted from its
    /// arrival, and a policy whose `limits.imageSeconds` leaves less is refused.
    pub webhook_timeout: Duration,
    /// How a denial tells to record the world an artifact fits, when a rule requires
    /// one and the artifact declares none: a front end names its own push command.
    pub record_world: String,
}

/// The API server's wait for the webhook unless told otherwise: the `timeoutSeconds`
/// `admission manifests` writes for the default `limits.imageSeconds`.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long before the API server gives up a review is answered: the answer's way back.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// How much longer than one image's budget the API server must wait: the margin, and the
/// time a review takes besides the image (reading it, the other images' queue).
pub const BUDGET_MARGIN: Duration = Duration::from_secs(2);

/// [`Settings::record_world`] unless a front end words it.
pub const RECORD_WORLD: &str = "push it with its WIT world given, to record the world it fits";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            transport: TransportOptions::default(),
            fail_mode: FailMode::Deny,
            ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
            cache_capacity: 1024,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            record_world: RECORD_WORLD.into(),
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

/// The connect and read timeouts of the webhook's registry requests unless
/// given (`--connect-timeout`, `--read-timeout`): well inside the default
/// review budget, so that a registry that does not answer counts as one that
/// could not be asked (the fail mode decides) before the budget runs out (a denial).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);

/// How many images the webhook looks up in registries at once, over all reviews: each
/// lookup may hold a few documents of up to 4 MiB (a manifest, a referrers index, a
/// bundle), so this bounds the bytes in flight (about 4 × 3 × 4 MiB, with their
/// parsed forms). A lookup waits for its turn within its image's time budget.
pub const IMAGE_LOOKUPS: usize = 4;

/// How long a repository's registry connection is reused for resolving tags.
const RESOLVER_REUSE: Duration = Duration::from_secs(60);

/// A repository's open registry connection, for resolving tags, and when it was opened.
type Resolvers = HashMap<String, (Instant, Arc<dyn wharf_oci::store::ReadStore>)>;

/// A loaded policy with its keys, a verdict cache and counters: the webhook's state.
pub struct Admission {
    loaded: RwLock<Arc<Loaded>>,
    settings: Settings,
    resolvers: Mutex<Resolvers>,
    cache: VerdictCache,
    /// Full WIT checks that may hold a component at once: one per core.
    checks: Arc<tokio::sync::Semaphore>,
    /// Registry lookups of images under way at once ([`IMAGE_LOOKUPS`]).
    lookups: tokio::sync::Semaphore,
    /// Counters for `/metrics`.
    pub counters: Counters,
}

/// How the reason of an image admitted by `--fail-mode allow` starts (it also becomes a warning).
pub(crate) const FAIL_OPEN: &str = "admitted without verification (fail mode allow)";

impl Admission {
    /// Loads every key the policy names; an unreadable key is an error (refuse to start), and so
    /// is a policy whose budget does not fit the API server's wait ([`Settings::webhook_timeout`]).
    pub fn new(policy: Policy, settings: Settings) -> Result<Admission> {
        fits_the_wait(&policy, settings.webhook_timeout)?;
        Ok(Admission {
            loaded: RwLock::new(Arc::new(Loaded::new(policy)?)),
            cache: VerdictCache::new(settings.cache_capacity),
            settings,
            resolvers: Mutex::new(HashMap::new()),
            checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            )),
            lookups: tokio::sync::Semaphore::new(IMAGE_LOOKUPS),
            counters: Counters::default(),
        })
    }

    pub(crate) fn loaded(&self) -> Arc<Loaded> {
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
        let loaded = match fits_the_wait(&policy, self.settings.webhook_timeout).and_then(|()| Loaded::new(policy)) {
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
        self.cache.keep_generation(generation);
        self.counters.policy_reloads.fetch_add(1, Ordering::Relaxed);
        Ok(generation)
    }

    /// How many verdicts the cache holds, with the lookups under way (at most
    /// [`Settings::cache_capacity`]).
    pub fn cached_verdicts(&self) -> usize {
        self.cache.len()
    }

    /// How long after a review arrives its answer is due.
    pub fn answer_within(&self) -> Duration {
        self.settings.webhook_timeout.saturating_sub(ANSWER_MARGIN)
    }

    /// What judging an image needs of the webhook.
    fn judge(&self) -> Judge<'_> {
        Judge { transport: &self.settings.transport, checks: &self.checks, record_world: &self.settings.record_world }
    }

    /// Decides one image: policy, then (for rules with authorities) digest and signatures.
    pub async fn check_image(&self, image: &str, namespace: Option<&str>) -> ImageVerdict {
        self.check_image_with(&self.loaded(), image, namespace).await
    }

    pub(crate) async fn check_image_with(&self, loaded: &Loaded, image: &str, namespace: Option<&str>) -> ImageVerdict {
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
            Action::Unreadable(why) => {
                return self.count(verdict(false, format!("cannot read the image: {why}"), None));
            }
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
                    Ok(Err(failed)) => {
                        self.counters.registry_errors.fetch_add(1, Ordering::Relaxed);
                        let (allowed, reason) = self.on_error(&failed);
                        verdict(allowed, reason, None)
                    }
                }
            }
        };
        self.count(out)
    }

    /// The verdict (admitted?, why) on an image whose checks failed: the fail mode
    /// decides only when the registry could not be asked and had answered nothing
    /// about the image yet.
    fn on_error(&self, failed: &Failed) -> (bool, String) {
        use wharf_oci::ErrorKind::{Integrity, Unsupported, Usage};
        let e = &failed.error;
        let rate_limited = e.oci().is_some_and(|o| o.http_status() == Some(429));
        match (e.kind(), self.settings.fail_mode) {
            (Usage | Unsupported | Integrity, _) => (false, e.to_string()),
            (_, FailMode::Deny) => (false, format!("cannot verify: {e}")),
            (_, FailMode::Allow) if failed.answered => (
                false,
                format!(
                    "cannot verify: {e} (the registry had already answered for this image, so fail mode allow \
                     does not apply)"
                ),
            ),
            (_, FailMode::Allow) if rate_limited => (
                false,
                format!(
                    "cannot verify: {e} (a rate limit is the registry's answer, and whoever can make the webhook \
                     ask can use it up, so fail mode allow does not apply)"
                ),
            ),
            (_, FailMode::Allow) if e.oci().is_some_and(could_not_ask) => (true, format!("{FAIL_OPEN}: {e}")),
            (_, FailMode::Allow) => {
                (false, format!("cannot verify: {e} (the registry answered, so fail mode allow does not apply)"))
            }
        }
    }

    /// Counts a verdict for `/metrics`, and returns it.
    fn count(&self, verdict: ImageVerdict) -> ImageVerdict {
        let counter = if verdict.allowed { &self.counters.images_allowed } else { &self.counters.images_denied };
        counter.fetch_add(1, Ordering::Relaxed);
        verdict
    }

    /// Resolves `image` to a digest, then finds the verdict in the cache or verifies. A
    /// digest-pinned image not in the cache has its manifest asked for first: once the
    /// registry answered for the image, a later failure is no longer "could not be asked".
    async fn verify(
        &self,
        loaded: &Loaded,
        image: &str,
        rule: Option<usize>,
        authorities: &[Authority],
        component: &ComponentRequirement,
        deadline: tokio::time::Instant,
    ) -> std::result::Result<(Digest, Cached), Failed> {
        let unanswered = |error: Error| Failed { error, answered: false };
        let reference = Reference::parse(image).map_err(|e| unanswered(e.into()))?;
        if !matches!(reference, Reference::Registry(_)) {
            return Err(unanswered(Error::Usage(format!("{image} is not a registry image"))));
        }
        let (digest, pinned) = match reference.digest() {
            Some(d) => (d.clone(), true),
            None => {
                let _turn = self.turn().await.map_err(unanswered)?;
                (self.resolve_tag(&reference).await.map_err(unanswered)?, false)
            }
        };
        let answered = AtomicBool::new(!pinned);
        let key = CacheKey {
            generation: loaded.generation,
            rule,
            repository: reference.location(),
            digest: digest.to_string(),
        };
        let s = &self.settings;
        let slot = self.cache.slot(&key, s.ttl, s.negative_ttl);
        let judge = self.judge();
        let mut missed = false;
        let cached = slot
            .cell
            .get_or_try_init(|| {
                missed = true;
                // Run over, the verdict is a denial, cached like any other: reviews of the
                // same digest in the meantime share it instead of starting the work again.
                let judged = async {
                    let _turn = self.turn().await?;
                    if pinned {
                        self.resolve_tag(&reference).await?;
                        answered.store(true, Ordering::Relaxed);
                    }
                    judge.digest(loaded, reference.with_digest(digest.clone()), authorities, component).await
                };
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
            .await
            .map_err(|error| {
                self.cache.forget(&key, &slot);
                Failed { error, answered: answered.load(Ordering::Relaxed) }
            })?
            .clone();
        let counter = if missed { &self.counters.cache_misses } else { &self.counters.cache_hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok((digest, cached))
    }

    /// A turn to ask registries about an image ([`IMAGE_LOOKUPS`] at once), held while
    /// the answer is read. Never held while waiting for another review's lookup.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.lookups.acquire().await.map_err(|_| Error::Usage("internal error: the lookup turns are gone".into()))
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
                let store: Arc<dyn wharf_oci::store::ReadStore> =
                    Arc::from(wharf_oci::open::open_source(reference, &self.settings.transport).await?);
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
                Err(e.into())
            }
        }
    }
}

/// Refuses a policy whose budget for one image leaves the API server's wait (`webhook_timeout`)
/// no room to answer in: checked at start and at every reload, since the policy may change
/// without the webhook configuration.
fn fits_the_wait(policy: &Policy, webhook_timeout: Duration) -> Result<()> {
    let budget = policy.limits.image_timeout;
    if budget + BUDGET_MARGIN <= webhook_timeout {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "the policy's limits.imageSeconds {} does not fit the API server's wait of {} s (the webhook's \
         timeoutSeconds): one image's review must end {} s before it; lower imageSeconds to at most {} or raise \
         timeoutSeconds",
        budget.as_secs_f64(),
        webhook_timeout.as_secs(),
        BUDGET_MARGIN.as_secs(),
        webhook_timeout.saturating_sub(BUDGET_MARGIN).as_secs_f64()
    )))
}

/// Why an image's checks failed, and whether the registry had answered for the image
/// before (its tag resolved, or its pinned manifest found): then the failure denies in
/// both fail modes, since the registry was there and the rest of what it holds (a referrers
/// API that fails, a planted tag) is the attacker's to choose.
struct Failed {
    error: Error,
    answered: bool,
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
/// timeout, a connection cut part-way, or an answer of 5xx (down or broken).
/// Only these let `--fail-mode allow` admit, and only before the registry
/// answered anything about the image. Everything else is an answer the registry
/// gave, and what a repository holds is the attacker's to choose (a non-index
/// under the `sha256-<hex>` tag, a referrers list past the cap, 401/403/404, a
/// certificate that does not verify): those deny. So does 429: a rate limit is
/// the registry's answer, and anyone who can make the webhook ask (create pods,
/// or reach it) can use it up.
fn could_not_ask(error: &wharf_oci::Error) -> bool {
    use wharf_oci::Error;
    match error {
        Error::Unreachable { .. } | Error::Transfer { .. } => true,
        Error::RetryLater { .. } | Error::Registry { .. } => {
            error.http_status().is_some_and(|s| (500..=599).contains(&s))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
        let key = wharf_sign::PrivateKey::generate().expect("key");
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

    /// Review of issue 14's fixes, finding 2: what may open the gate in fail mode allow, and when.
    #[test]
    fn only_a_registry_that_answered_nothing_for_the_image_and_could_not_be_asked_fails_open() {
        use wharf_oci::Error;
        let registry =
            |status: &str| Error::Registry { registry: "r".into(), status: status.into(), message: "m".into() };
        let later = |status: &str| Error::RetryLater {
            registry: "r".into(),
            status: status.into(),
            after: Duration::from_secs(1),
            message: "m".into(),
        };
        let unreachable = Error::Unreachable { registry: "r".into(), detail: "refused".into() };
        let cut = Error::Transfer { what: "d".into(), source: std::io::Error::other("reset") };
        let could_not = [unreachable, cut, later("HTTP 503"), registry("HTTP 503"), registry("HTTP 500")];
        let answered = [
            registry("HTTP 429"),
            later("HTTP 429"),
            registry("HTTP 400"),
            registry("an unusable token"),
            Error::NotFound { what: "manifest".into() },
            Error::Unauthorized { registry: "r".into(), detail: "403".into() },
            Error::Certificate { registry: "r".into(), detail: "unknown issuer".into() },
            Error::malformed("referrers tag sha256-00", "it holds an image manifest, not an image index"),
            Error::malformed("referrers of sha256:00", "the registry sent more than 4194304 bytes"),
        ];
        let open = Admission::new(
            Policy::parse("p", "rules: []\n").expect("policy"),
            Settings { fail_mode: FailMode::Allow, ..Settings::default() },
        )
        .expect("admission");
        let judge = |error: Error, answered: bool| open.on_error(&Failed { error: error.into(), answered });
        for e in could_not {
            assert!(could_not_ask(&e), "{e}");
            let text = e.to_string();
            let (admitted, reason) = judge(e, false);
            assert!(admitted && reason.starts_with(FAIL_OPEN), "{text}: {reason}");
            let e = Error::Unreachable { registry: "r".into(), detail: text.clone() };
            let (admitted, reason) = judge(e, true);
            assert!(!admitted && reason.contains("had already answered for this image"), "{text}: {reason}");
        }
        for e in answered {
            assert!(!could_not_ask(&e), "{e}");
            let text = e.to_string();
            let (admitted, reason) = judge(e, false);
            assert!(!admitted && reason.contains("so fail mode allow does not apply"), "{text}: {reason}");
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
        let root =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry-tests/fixtures/keyless/staging_trusted_root.json");
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
