//! Judging one image pinned to a digest, as a rule asks: its signatures against
//! the rule's authorities (wharf-sign), its declared WIT world (the config only),
//! and a full WIT check of the component against that world (wharf-wasm), each
//! bounded: the component's size before it is read, its parsing off the runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;
use wharf_sign::cosign::VerifyOptions;
use wharf_sign::{Trust, cosign};

use crate::cache::Cached;
use crate::error::{Error, Result};
use crate::policy::{Authority, Check, ComponentRequirement, Limits, Policy, WorldTrack};

/// A policy with its keys loaded, under its generation number.
pub(crate) struct Loaded {
    pub(crate) policy: Policy,
    pub(crate) generation: u64,
    pub(crate) trusts: Vec<(Authority, Trust)>,
}

impl Loaded {
    /// Loads every key and trusted root the policy names; an unreadable one is an error.
    pub(crate) fn new(policy: Policy) -> Result<Loaded> {
        let mut trusts = Vec::new();
        for authority in policy.authorities() {
            let trust = match (&authority.key, &authority.keyless) {
                (Some(path), _) => match &authority.trusted_root {
                    Some(root) => Trust::ManagedKey {
                        key: wharf_sign::read_public_key(path)?,
                        root: wharf_sign::read_trusted_root(root)?,
                    },
                    None => Trust::Key(wharf_sign::read_public_key(path)?),
                },
                (None, Some(k)) => {
                    Trust::Keyless { root: wharf_sign::read_trusted_root(&k.trusted_root)?, expected: k.expected()? }
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

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// What judging an image needs of the webhook: its registry transport, the
/// permits of full WIT checks, and how a denial tells to record a world.
pub(crate) struct Judge<'a> {
    /// Registry transport.
    pub(crate) transport: &'a TransportOptions,
    /// Full WIT checks that may hold a component at once.
    pub(crate) checks: &'a Arc<tokio::sync::Semaphore>,
    /// [`crate::state::Settings::record_world`].
    pub(crate) record_world: &'a str,
}

impl Judge<'_> {
    /// Judges `reference` (pinned to a digest): its signatures (when the rule names
    /// authorities), then its declared world and its fit (when the rule asks).
    pub(crate) async fn digest(
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
        let store = wharf_oci::open::open_source(reference, self.transport).await?;
        let resolved = wharf_wasm::artifact::resolve_artifact(store.as_ref(), &reference.selector()).await?;
        let declared = resolved.config.as_ref().and_then(|c| c.component.as_ref()).and_then(|c| c.target.clone());
        Ok(match declared {
            None => Err(format!(
                "the rule requires the world {world}, and the artifact declares no target world (its config has \
                 no component.target); {}",
                self.record_world
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
        let transport = self.transport;
        let cannot_check = |e: wharf_wasm::Error| {
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            format!("cannot run the full WIT check: {e}{hint}")
        };
        let permit = self.checks.clone().acquire_owned().await.map_err(|_| internal("the check permits are gone"))?;
        let package =
            match wharf_wasm::check::fetch_declared_package(&reference.to_string(), transport, limits.component_size)
                .await
            {
                Ok(p) => p,
                Err(e) if e.kind() == wharf_oci::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
                Err(e) => return Err(e.into()),
            };
        let world = package.world.clone();
        let (declared, permit) = off_the_runtime(permit, move || package.load()).await?;
        let target = match declared {
            Ok(d) => d.target,
            Err(e) if e.kind() == wharf_oci::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
            Err(e) => return Err(e.into()),
        };
        let fetched = wharf_wasm::check::fetch_component(reference, &target, transport, limits.component_size).await;
        let report = match fetched {
            Ok(wharf_wasm::check::Component::Decided(report)) => report,
            Ok(wharf_wasm::check::Component::Fetched { source, bytes }) => {
                match off_the_runtime(permit, move || target.check(&source, bytes)).await?.0 {
                    Ok(report) => report,
                    Err(e) if e.kind() == wharf_oci::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) if e.kind() == wharf_oci::ErrorKind::Usage => return Ok(Err(cannot_check(e))),
            Err(e) => return Err(e.into()),
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
        let options = VerifyOptions { annotations: Default::default(), transport: self.transport.clone() };
        let mut reasons = Vec::new();
        for authority in authorities {
            let Some((_, trust)) = loaded.trusts.iter().find(|(a, _)| a == authority) else {
                reasons.push(format!("the {} was not loaded", authority.describe()));
                continue;
            };
            let report = cosign::verify_with(reference, trust, &options).await?;
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
