//! Judging one image pinned to a digest, as a rule asks: its signatures against
//! the rule's authorities (wharf-sign), the attestations it requires (wharf-sign's
//! attestation verifier, whose cryptography runs off the runtime), its declared WIT world (the config only),
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
use crate::policy::{
    AttestationRequirement, Authority, Check, ComponentRequirement, Limits, Policy, WorldTrack, builder_match,
};

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
        for required in &component.attestations {
            match self.verify_attestation(loaded, &reference, required).await? {
                Ok(reason) => reasons.push(reason),
                Err(reason) => return Ok(Cached { verified: false, reason, at: Instant::now() }),
            }
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

    /// Whether an attestation `required` asks for is attached to `reference` (pinned to a
    /// digest): of its predicate type, signed by one of its authorities, and from a
    /// builder its glob matches. The inner `Err` is a denial's reason, naming the
    /// attestation and why: missing, not verifying (wrong key, ...), wrong builder.
    async fn verify_attestation(
        &self,
        loaded: &Loaded,
        reference: &Reference,
        required: &AttestationRequirement,
    ) -> Result<std::result::Result<String, String>> {
        let options = cosign::attest::VerifyOptions {
            predicate_type: required.predicate_type.clone(),
            transport: self.transport.clone(),
        };
        let mut failures = Vec::new();
        let mut other_types = Vec::new();
        for authority in &required.authorities {
            let Some((_, trust)) = loaded.trusts.iter().find(|(a, _)| a == authority) else {
                failures.push(format!("the {} was not loaded", authority.describe()));
                continue;
            };
            let report = cosign::attest::verify(reference, trust, &options).await?;
            match judge_attestations(&report, required, authority) {
                AttestationJudgement::Admitted(reason) => return Ok(Ok(reason)),
                AttestationJudgement::Missing(types) => other_types.extend(types),
                AttestationJudgement::Failing(why) => failures.push(why),
            }
        }
        let what = format!("the required attestation {}", required.describe());
        failures.dedup();
        if failures.is_empty() {
            other_types.sort();
            other_types.dedup();
            let others = if other_types.is_empty() {
                String::new()
            } else {
                format!(" (only attestations of other types: {})", other_types.join(", "))
            };
            return Ok(Err(format!("{what} is missing: none is attached to {}{others}", reference_digest(reference))));
        }
        Ok(Err(format!("{what} does not verify: {}", failures.join("; "))))
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

/// What the attestations found say of one required attestation, for one authority.
enum AttestationJudgement {
    /// One verified, from a builder the rule admits: why.
    Admitted(String),
    /// None of the type asked for is there; these other types are (short names or URIs).
    Missing(Vec<String>),
    /// Some of the type are there, and none is admitted: why.
    Failing(String),
}

/// Judges the attestations `report` found against `required`, verified with `authority`.
fn judge_attestations(
    report: &cosign::attest::VerifyReport,
    required: &AttestationRequirement,
    authority: &Authority,
) -> AttestationJudgement {
    use wharf_sign::sigstore::Problem;
    let signer = authority.describe();
    let mut builders = Vec::new();
    for found in report.attestations.iter().filter(|a| a.verified) {
        let Some(glob) = &required.builder else {
            return AttestationJudgement::Admitted(format!("attestation {} verified with {signer}", required.name));
        };
        match provenance_builder(found.predicate.as_ref()) {
            Some(id) if builder_match(glob, id) => {
                return AttestationJudgement::Admitted(format!(
                    "attestation {} verified with {signer}, from the builder {id}",
                    required.name
                ));
            }
            Some(id) => builders.push(format!("the builder {id:?}")),
            None => builders.push("no builder (its predicate has no runDetails.builder.id)".to_string()),
        }
    }
    if !builders.is_empty() {
        builders.dedup();
        let glob = required.builder.as_deref().unwrap_or_default();
        return AttestationJudgement::Failing(format!(
            "it verifies with {signer} and names {}, which does not match the builder {glob:?} the rule requires",
            builders.join(", ")
        ));
    }
    let of_type: Vec<_> =
        report.attestations.iter().filter(|a| a.problem != Some(Problem::OtherPredicateType)).collect();
    if of_type.is_empty() {
        let others = report
            .attestations
            .iter()
            .filter_map(|a| a.predicate_type.as_deref())
            .map(|t| wharf_sign::cosign::attest::short_name(t).unwrap_or(t).to_string())
            .collect();
        return AttestationJudgement::Missing(others);
    }
    let why: Vec<String> =
        of_type.iter().map(|a| format!("{}: {}", a.location, a.reason.as_deref().unwrap_or("rejected"))).collect();
    AttestationJudgement::Failing(format!("none verifies with {signer}: {}", why.join("; ")))
}

/// The `runDetails.builder.id` of an SLSA provenance v1 predicate.
fn provenance_builder(predicate: Option<&serde_json::Value>) -> Option<&str> {
    predicate?.get("runDetails")?.get("builder")?.get("id")?.as_str()
}

/// `sha256:...` of a reference pinned to a digest (the reference itself otherwise).
fn reference_digest(reference: &Reference) -> String {
    reference.digest().map_or_else(|| reference.to_string(), |d| d.to_string())
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
