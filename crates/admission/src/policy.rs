//! Admission policies: which images must be signed by whom.
//!
//! A policy is a YAML document of ordered rules; the first rule whose image globs
//! (and namespaces, if given) match an image decides:
//!
//! ```yaml
//! mode: enforce            # or warn: report, never deny
//! rules:
//!   - name: signed-wasm
//!     images: ["127.0.0.1:5000/prod/**"]
//!     namespaces: ["prod"] # optional
//!     authorities:
//!       - key: /etc/wharf/cosign.pub
//!   - name: sandbox
//!     images: ["127.0.0.1:5000/sandbox/**"]
//!     allow: true          # or false: deny outright
//! unmatched: deny          # or allow (deny when omitted)
//! ```
//!
//! `limits:` bounds what one image's review may cost: `componentSize` (bytes,
//! [`DEFAULT_COMPONENT_SIZE`]) for what `check: full` reads, `imageSeconds`
//! ([`DEFAULT_IMAGE_SECONDS`]) for the whole review of one image.
//!
//! A rule with `authorities` or `allow: true` may also require a WIT world:
//! `world: "wasi:http/proxy@0.2"` admits only components whose artifact config
//! declares a `component.target` on that semver track, and `check: full` also
//! checks the component against its declared world (as `wharf check REF`).
//!
//! Such a rule may also require attestations: `attestations: [{type: slsaprovenance1,
//! authorities: [...], builder: "https://github.com/acme/.github/workflows/release.yml@*"}]`,
//! each to verify as `wharf verify-attestation` does (the rule's authorities when an
//! entry names none); `builder` is a glob over an SLSA provenance v1's
//! `runDetails.builder.id` ([`builder_match`]), refused on any other type.
//!
//! Globs match the normalised image (`nginx` is `docker.io/library/nginx`; hosts are
//! lowercased, lose the default port `:443`, and Docker Hub's aliases
//! `index.docker.io` and `registry-1.docker.io` become `docker.io`), without
//! and with what will run: its digest when it has one (a tag beside a digest is
//! ignored), else its tag (`latest` when none is written). `*` matches within one
//! path segment, `**` across segments. [`evaluate`] is pure; verifying signatures
//! is [`crate::state`]'s job.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use wharf_oci::reference::Reference;

/// What the webhook does with a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny what the policy denies.
    #[default]
    Enforce,
    /// Admit everything; report denials as warnings.
    Warn,
}

/// A static verdict (a rule's `allow:`, or `unmatched:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Static {
    /// Admit.
    Allow,
    /// Refuse.
    #[default]
    Deny,
}

/// Who may sign an image: a public key (optionally with the trusted root whose
/// logs must have recorded the signature), or keyless (a Fulcio certificate for
/// an identity from an OIDC issuer, chaining to a Sigstore trusted root). Exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    /// A public key file (PEM, as `cosign.pub`); relative paths are relative to the policy file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Keyless: who must have signed, and the trusted root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<Keyless>,
    /// With `key`: the Sigstore trusted root (`trusted_root.json`) whose
    /// transparency logs must have recorded the signature, with a verified
    /// time (a managed key, cosign's default); relative to the policy file.
    /// Without it, the key's signature alone is checked.
    #[serde(default, rename = "trustedRoot", skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<PathBuf>,
}

/// A keyless authority (checked offline, as `wharf verify --certificate-identity`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Keyless {
    /// The identity the certificate must name (an email or a URI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Or: a regular expression the whole identity must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_regexp: Option<String>,
    /// The OIDC issuer the certificate must name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Or: a regular expression the whole issuer must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_regexp: Option<String>,
    /// The Sigstore trusted root (`trusted_root.json`); relative to the policy file.
    pub trusted_root: PathBuf,
}

impl Keyless {
    /// The identity and issuer to require, exact or as patterns (exactly one
    /// of each, checked when the policy is parsed).
    pub fn expected(&self) -> wharf_sign::Result<wharf_sign::sigstore::keyless::ExpectedIdentity> {
        use wharf_sign::sigstore::keyless::{ExpectedIdentity, Matcher};
        let matcher = |exact: &Option<String>, pattern: &Option<String>, what: &str| match (exact, pattern) {
            (Some(value), None) if !value.trim().is_empty() => Ok(Matcher::Exact(value.clone())),
            (None, Some(text)) if !text.trim().is_empty() => Matcher::pattern(text),
            _ => Err(wharf_sign::Error::Usage(format!(
                "a keyless authority needs exactly one of {what} and {what}Regexp"
            ))),
        };
        Ok(ExpectedIdentity {
            identity: matcher(&self.identity, &self.identity_regexp, "identity")?,
            issuer: matcher(&self.issuer, &self.issuer_regexp, "issuer")?,
        })
    }
}

impl Authority {
    /// Makes its relative paths relative to `base` (the policy file's directory).
    fn rebase(&mut self, base: &Path) {
        if let Some(k) = &mut self.key
            && k.is_relative()
        {
            *k = base.join(&*k);
        }
        if let Some(k) = &mut self.keyless
            && k.trusted_root.is_relative()
        {
            k.trusted_root = base.join(&k.trusted_root);
        }
        if let Some(root) = &mut self.trusted_root
            && root.is_relative()
        {
            *root = base.join(&*root);
        }
    }

    /// An authority of one public key file.
    pub fn key(path: impl Into<PathBuf>) -> Authority {
        Authority { key: Some(path.into()), keyless: None, trusted_root: None }
    }

    /// `key PATH` or `keyless IDENTITY from ISSUER`, for messages.
    pub fn describe(&self) -> String {
        match (&self.key, &self.keyless) {
            (Some(k), _) => match &self.trusted_root {
                Some(root) => format!("key {} logged in trusted root {}", k.display(), root.display()),
                None => format!("key {}", k.display()),
            },
            (None, Some(k)) => {
                match (described(&k.identity, &k.identity_regexp), described(&k.issuer, &k.issuer_regexp)) {
                    (Some(identity), Some(issuer)) => format!("keyless {identity} from {issuer}"),
                    _ => "keyless (incomplete)".to_string(),
                }
            }
            (None, None) => "no authority".into(),
        }
    }
}

/// An exact value or `a match of /PATTERN/` (the wording of [`wharf_sign::sigstore::keyless::Matcher`]'s
/// `Display`), without compiling the pattern; `None` unless exactly one is given.
fn described(exact: &Option<String>, pattern: &Option<String>) -> Option<String> {
    match (exact, pattern) {
        (Some(value), None) if !value.trim().is_empty() => Some(value.clone()),
        (None, Some(text)) if !text.trim().is_empty() => Some(format!("a match of /{text}/")),
        _ => None,
    }
}

/// What a matching rule requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// A signature verified by at least one of the authorities.
    Verify(Vec<Authority>),
    /// Admit without checking.
    Allow,
    /// Refuse.
    Deny,
}

/// A WIT world a rule requires: `ns:pkg/world`, on one semver track or any version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorldTrack {
    /// The world's name without version, `wasi:http/proxy`.
    pub name: String,
    /// The track (`0.2`, `1`, or an exact `0.0.3` / pre-release version); `None`: any version.
    pub track: Option<String>,
}

impl WorldTrack {
    /// Parses `ns:pkg/world[@TRACK]`; the error says what a track looks like.
    pub fn parse(text: &str) -> std::result::Result<WorldTrack, String> {
        let (name, version) = match text.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        let well_formed = name.split_once(':').is_some_and(|(ns, rest)| {
            !ns.is_empty() && rest.split_once('/').is_some_and(|(pkg, world)| !pkg.is_empty() && !world.is_empty())
        });
        if !well_formed || name.contains(char::is_whitespace) {
            return Err(format!(
                "world {text:?} is not a world name; write ns:pkg/world@TRACK, e.g. wasi:http/proxy@0.2"
            ));
        }
        let track = match version {
            None => None,
            Some(v) => Some(track_of_rule_version(v).ok_or_else(|| {
                format!(
                    "world {text:?} has no semver track after @: write MAJOR for 1.0 and later (@1), \
                     0.MINOR before (@0.2), or an exact version (@0.0.3, @1.0.0-rc.1)"
                )
            })?),
        };
        Ok(WorldTrack { name: name.to_string(), track })
    }

    /// Whether a declared target (`ns:pkg/world@X.Y.Z`) is this world on this track.
    pub fn admits(&self, declared: &str) -> bool {
        let (name, version) = match declared.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (declared, None),
        };
        if name != self.name {
            return false;
        }
        match (&self.track, version) {
            (None, _) => true,
            (Some(track), Some(v)) => track_of(v).is_some_and(|t| t == *track),
            (Some(_), None) => false,
        }
    }
}

impl std::fmt::Display for WorldTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.track {
            Some(t) => write!(f, "{}@{t}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A full version's semver track by the rule of wasmtime and wac
/// ([`wharf_wasm::check::semver_track`]): `MAJOR` from 1.0, `0.MINOR` before; `0.0.x`
/// and pre-releases are their own track (they match only exactly). `None`: not semver.
fn track_of(version: &str) -> Option<String> {
    semver::Version::parse(version).ok()?;
    let probe = format!("@{version}");
    Some(match wharf_wasm::check::semver_track(&probe) {
        Some((track, _)) => track[1..].to_string(),
        None => version.to_string(),
    })
}

/// The track a rule names: a full version (its track), `MAJOR` (>= 1) or `0.MINOR` (>= 1).
fn track_of_rule_version(text: &str) -> Option<String> {
    if let Some(track) = track_of(text) {
        return Some(track);
    }
    let parts: Vec<u64> = text.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    match parts.as_slice() {
        [major] if *major > 0 => Some(major.to_string()),
        [0, minor] if *minor > 0 => Some(format!("0.{minor}")),
        _ => None,
    }
}

/// How much of a component a rule checks beyond signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// Nothing beyond `world:` (the config's declared target), the default.
    #[default]
    None,
    /// The full WIT check of the component against its declared world.
    Full,
}

/// What a rule requires of the component itself beyond a signature: its WIT
/// world, and the attestations that must be attached to its digest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ComponentRequirement {
    /// The declared target must be this world on this track.
    pub world: Option<WorldTrack>,
    /// Check the component against its declared world.
    pub check: Check,
    /// Attestations that must each verify (`attestations:`).
    pub attestations: Vec<AttestationRequirement>,
}

impl ComponentRequirement {
    /// Whether it requires nothing.
    pub fn is_empty(&self) -> bool {
        self.world.is_none() && self.check == Check::None && self.attestations.is_empty()
    }
}

/// The predicate type of SLSA provenance v1, the only one whose predicate names a builder.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// One attestation a rule requires: of a predicate type, signed by one of the
/// authorities, and (SLSA provenance v1 only) from a builder matching a glob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttestationRequirement {
    /// The type as the policy writes it (`slsaprovenance1`, `cyclonedx`, a URI), for messages.
    pub name: String,
    /// The predicate type URI it stands for.
    pub predicate_type: String,
    /// Who may have signed it (the rule's `authorities` when the entry names none).
    pub authorities: Vec<Authority>,
    /// A glob the provenance's `runDetails.builder.id` must match ([`builder_match`]).
    pub builder: Option<String>,
}

impl AttestationRequirement {
    /// `slsaprovenance1 (https://slsa.dev/provenance/v1)`, or the URI alone when it was written.
    pub fn describe(&self) -> String {
        if self.name == self.predicate_type {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.predicate_type)
        }
    }
}

/// Matches a builder ID against a `builder:` glob: `*` stands for any characters,
/// `/` included (a builder ID such as `https://github.com/acme/.github/workflows/release.yml@refs/tags/v1`
/// carries its git ref after `@`, slashes and all); everything else is literal.
pub fn builder_match(pattern: &str, builder_id: &str) -> bool {
    let mut normalised = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        if c != '*' {
            normalised.push(c);
        } else if !normalised.ends_with("**") {
            normalised.push_str("**");
        }
    }
    glob_match(&normalised, builder_id)
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Its name, quoted in verdicts.
    pub name: String,
    /// Image globs.
    pub images: Vec<String>,
    /// Namespaces it applies to (all when empty).
    pub namespaces: Vec<String>,
    /// What it requires.
    pub requirement: Requirement,
    /// What it requires of the component's WIT world (`world:`, `check:`).
    pub component: ComponentRequirement,
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Enforce or warn.
    pub mode: Mode,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// The verdict for images no rule matches.
    pub unmatched: Static,
    /// What one image's review may cost.
    pub limits: Limits,
}

/// The largest Wasm layer (or WIT package) `check: full` reads by default:
/// 64 MiB, well above real components (a Python interpreter compiled in is
/// about 40 MiB) and far below the 1 GiB other commands allow.
pub const DEFAULT_COMPONENT_SIZE: u64 = 64 << 20;

/// How long one image's review may take by default: below the API server's
/// usual `timeoutSeconds: 10`, so that the webhook answers before it gives up.
pub const DEFAULT_IMAGE_SECONDS: f64 = 8.0;

/// The longest review budget a policy may set: the API server waits at most
/// 30 s for a webhook (`timeoutSeconds`), and the webhook needs 2 s of it besides
/// ([`crate::state::BUDGET_MARGIN`]).
pub const MAX_IMAGE_SECONDS: f64 = 28.0;

/// What one image's review may cost (`limits:`): the webhook's answer to a
/// component or a repository made to be expensive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The largest Wasm layer, and WIT package, `check: full` reads (bytes);
    /// a larger one is denied before any of it is downloaded.
    pub component_size: u64,
    /// How long the registry lookups and checks of one image may take
    /// together; an image whose review runs over is denied.
    pub image_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            component_size: DEFAULT_COMPONENT_SIZE,
            image_timeout: std::time::Duration::from_secs_f64(DEFAULT_IMAGE_SECONDS),
        }
    }
}

/// The action a policy decides for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Verify signatures against these authorities.
    Verify(Vec<Authority>),
    /// Admit.
    Allow,
    /// Refuse.
    Deny,
    /// Refuse on the image's own account: it is no image reference wharf can read
    /// (why). Matched as a raw string it could dodge a rule that names its host.
    Unreadable(String),
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The matching rule's name; `None` when no rule matched (`unmatched:` decided).
    pub rule: Option<String>,
    /// What to do.
    pub action: Action,
    /// What the component must declare and fit (for `Verify` and `Allow`).
    pub component: ComponentRequirement,
}

impl Decision {
    /// The rule's name, or `unmatched`, for messages.
    pub fn rule_name(&self) -> &str {
        self.rule.as_deref().unwrap_or("unmatched")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    mode: Mode,
    rules: Vec<RuleFile>,
    #[serde(default)]
    unmatched: Static,
    #[serde(default)]
    limits: LimitsFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LimitsFile {
    component_size: Option<u64>,
    image_seconds: Option<f64>,
}

impl LimitsFile {
    /// The limits, or why they cannot be used.
    fn validate(&self) -> std::result::Result<Limits, String> {
        let mut limits = Limits::default();
        if let Some(size) = self.component_size {
            if size == 0 || size > wharf_wasm::artifact::MAX_WASM_IN_MEMORY {
                return Err(format!(
                    "limits.componentSize {size} is not a size from 1 to {} bytes",
                    wharf_wasm::artifact::MAX_WASM_IN_MEMORY
                ));
            }
            limits.component_size = size;
        }
        if let Some(seconds) = self.image_seconds {
            if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_IMAGE_SECONDS) {
                return Err(format!(
                    "limits.imageSeconds {seconds} is not a number of seconds above 0 and at most {MAX_IMAGE_SECONDS} \
                     (the API server waits at most 30 s for a webhook, which answers 2 s before)"
                ));
            }
            limits.image_timeout = std::time::Duration::from_secs_f64(seconds);
        }
        Ok(limits)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: String,
    images: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    authorities: Option<Vec<Authority>>,
    allow: Option<bool>,
    world: Option<String>,
    #[serde(default)]
    check: Check,
    #[serde(default)]
    attestations: Vec<AttestationFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationFile {
    #[serde(rename = "type")]
    kind: String,
    authorities: Option<Vec<Authority>>,
    builder: Option<String>,
}

impl Policy {
    /// Reads and validates a policy file; relative key paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read the policy", path, e))?;
        let mut policy = Policy::parse(&path.display().to_string(), &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for rule in &mut policy.rules {
            if let Requirement::Verify(authorities) = &mut rule.requirement {
                authorities.iter_mut().for_each(|a| a.rebase(base));
            }
            for attestation in &mut rule.component.attestations {
                attestation.authorities.iter_mut().for_each(|a| a.rebase(base));
            }
        }
        Ok(policy)
    }

    /// Parses and validates a policy document; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Policy> {
        let file: PolicyFile = serde_norway::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            invalid(origin, line, e.to_string())
        })?;
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rules.len());
        for (i, r) in file.rules.into_iter().enumerate() {
            let earlier = rules.iter().filter(|rule| rule.name == r.name).count();
            let line = line_of_rule(text, &r.name, earlier);
            let what = format!("rule {} ({:?})", i + 1, r.name);
            if r.name.trim().is_empty() {
                return Err(invalid(origin, line, format!("rule {} has an empty name", i + 1)));
            }
            if let Some(first) = rules.iter().position(|rule| rule.name == r.name) {
                let first_line = line_of_rule(text, &r.name, 0).map_or_else(String::new, |l| format!(", line {l}"));
                return Err(invalid(
                    origin,
                    line,
                    format!(
                        "{what} has the name of rule {}{first_line}; verdicts name their rule, so give each rule \
                         a name of its own",
                        first + 1
                    ),
                ));
            }
            if r.images.is_empty() {
                return Err(invalid(origin, line, format!("{what} lists no images")));
            }
            if let Some(bad) = r.images.iter().find(|g| g.trim().is_empty()) {
                return Err(invalid(origin, line, format!("{what} has an empty image glob {bad:?}")));
            }
            let requirement = match (r.authorities, r.allow) {
                (Some(a), None) if a.is_empty() => {
                    return Err(invalid(origin, line, format!("{what} has an empty authorities list")));
                }
                (Some(a), None) => {
                    check_authorities(&what, &a).map_err(|reason| invalid(origin, line, reason))?;
                    Requirement::Verify(a)
                }
                (None, Some(true)) => Requirement::Allow,
                (None, Some(false)) => Requirement::Deny,
                (Some(_), Some(_)) => {
                    return Err(invalid(origin, line, format!("{what} has both authorities and allow; give one")));
                }
                (None, None) => {
                    return Err(invalid(
                        origin,
                        line,
                        format!("{what} says neither authorities nor allow: true|false"),
                    ));
                }
            };
            let world = match r.world.as_deref().map(WorldTrack::parse).transpose() {
                Ok(w) => w,
                Err(reason) => return Err(invalid(origin, line, format!("{what}: {reason}"))),
            };
            let attestations_line = line.and_then(|first| line_of_key(text, first, "attestations:")).or(line);
            let attestations = attestations_of(&what, r.attestations, &requirement)
                .map_err(|reason| invalid(origin, attestations_line, reason))?;
            let component = ComponentRequirement { world, check: r.check, attestations };
            if requirement == Requirement::Deny && !component.is_empty() {
                return Err(invalid(
                    origin,
                    line,
                    format!(
                        "{what} denies outright, so world:, check: and attestations: would never be used; remove them"
                    ),
                ));
            }
            if component.check == Check::Full && component.world.is_none() {
                let line = line.and_then(|first| line_of_key(text, first, "check:")).or(line);
                return Err(invalid(
                    origin,
                    line,
                    format!(
                        "{what} says check: full without world:, so the component would be checked against the \
                         world it declares itself (found through wkg's mapping, perhaps in a repository its author \
                         can push to); add world: \"ns:pkg/world@TRACK\" to say which world it must fit"
                    ),
                ));
            }
            let images = r.images.iter().map(|glob| normalise_glob(glob)).collect();
            rules.push(Rule { name: r.name, images, namespaces: r.namespaces, requirement, component });
        }
        let limits = file.limits.validate().map_err(|reason| {
            let line = text.lines().position(|l| l.starts_with("limits:")).map(|i| i + 1);
            invalid(origin, line, reason)
        })?;
        Ok(Policy { mode: file.mode, rules, unmatched: file.unmatched, limits })
    }

    /// Every authority the policy names, signatures' and attestations', once each
    /// (to load their keys and roots at start).
    pub fn authorities(&self) -> Vec<&Authority> {
        let mut out: Vec<&Authority> = Vec::new();
        for rule in &self.rules {
            let signers = match &rule.requirement {
                Requirement::Verify(authorities) => authorities.as_slice(),
                _ => &[],
            };
            let attesters = rule.component.attestations.iter().flat_map(|a| &a.authorities);
            for a in signers.iter().chain(attesters) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }
}

/// Why a list of authorities cannot be used, if it cannot: each needs exactly one
/// of key or keyless, a trustedRoot only beside a key, and keyless patterns that compile.
fn check_authorities(what: &str, authorities: &[Authority]) -> std::result::Result<(), String> {
    if let Some(n) = authorities.iter().position(|a| a.key.is_some() == a.keyless.is_some()) {
        return Err(format!("{what}: authority {} needs exactly one of key or keyless", n + 1));
    }
    if let Some(n) = authorities.iter().position(|a| a.trusted_root.is_some() && a.key.is_none()) {
        return Err(format!(
            "{what}: authority {} has a trustedRoot beside keyless; a keyless authority names its trusted root inside keyless",
            n + 1
        ));
    }
    if let Some(e) = authorities.iter().filter_map(|a| a.keyless.as_ref()).find_map(|k| k.expected().err()) {
        let reason = match e {
            wharf_sign::Error::Usage(reason) => reason,
            other => other.to_string(),
        };
        return Err(format!("{what}: {reason}"));
    }
    Ok(())
}

/// The attestations a rule requires, validated: a known type name or a URI, at
/// least one authority (its own or the rule's), and `builder` only on SLSA provenance v1.
fn attestations_of(
    what: &str,
    entries: Vec<AttestationFile>,
    requirement: &Requirement,
) -> std::result::Result<Vec<AttestationRequirement>, String> {
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let which = format!("{what}, attestation {} ({:?})", i + 1, entry.kind);
        let predicate_type = wharf_sign::cosign::attest::predicate_type(entry.kind.trim()).map_err(|e| match e {
            wharf_sign::Error::Usage(reason) => format!("{which}: {reason}"),
            other => format!("{which}: {other}"),
        })?;
        let authorities = match (entry.authorities, requirement) {
            (Some(a), _) if a.is_empty() => return Err(format!("{which} has an empty authorities list")),
            (Some(a), _) => a,
            (None, Requirement::Verify(rule_authorities)) => rule_authorities.clone(),
            (None, _) => {
                return Err(format!(
                    "{which} names no authorities, and the rule has none to lend it; say who must have signed it \
                     (authorities: [{{key: ...}}])"
                ));
            }
        };
        check_authorities(&which, &authorities)?;
        if let Some(builder) = &entry.builder {
            if predicate_type != SLSA_PROVENANCE_V1 {
                return Err(format!(
                    "{which} has a builder, and only SLSA provenance v1 (type slsaprovenance1) names its builder \
                     (runDetails.builder.id); remove builder: or require slsaprovenance1"
                ));
            }
            if builder.trim().is_empty() {
                return Err(format!("{which} has an empty builder glob"));
            }
        }
        if let Some(earlier) = out.iter().position(|a: &AttestationRequirement| {
            a.predicate_type == predicate_type && a.authorities == authorities && a.builder == entry.builder
        }) {
            return Err(format!("{which} repeats attestation {}; remove one", earlier + 1));
        }
        out.push(AttestationRequirement { name: entry.kind, predicate_type, authorities, builder: entry.builder });
    }
    Ok(out)
}

fn invalid(origin: &str, line: Option<usize>, reason: String) -> Error {
    Error::InvalidPolicy { origin: origin.to_string(), line, reason }
}

/// The 1-based line of `key` in the rule that starts at line `rule` (1-based): the
/// first line after it that starts with `key`, before the next rule.
fn line_of_key(text: &str, rule: usize, key: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(rule)
        .take_while(|(_, l)| !l.trim_start().starts_with('-') || !l.contains("name:"))
        .find(|(_, l)| l.trim_start().starts_with(key))
        .map(|(i, _)| i + 1)
}

/// The 1-based line of the `occurrence`-th (from 0) `name: NAME`, the start
/// of a rule of that name, for messages on rules.
fn line_of_rule(text: &str, name: &str, occurrence: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start().trim_start_matches('-').trim();
            l.strip_prefix("name:").is_some_and(|v| v.trim().trim_matches(['"', '\'']) == name)
        })
        .nth(occurrence)
        .map(|(i, _)| i + 1)
}

/// Decides what to do with `image` in `namespace`: the first matching rule, else `unmatched`.
/// An image that is not a registry reference is matched as written.
pub fn evaluate(policy: &Policy, image: &str, namespace: Option<&str>) -> Decision {
    decide(policy, image, namespace).1
}

/// [`evaluate`], with the deciding rule's position among the policy's rules
/// (`None`: `unmatched` decided): within one policy, the rule's identity. Its
/// name is for people; a policy built in code need not keep names unique.
pub fn decide(policy: &Policy, image: &str, namespace: Option<&str>) -> (Option<usize>, Decision) {
    let forms = match match_forms(image) {
        Ok(forms) => forms,
        Err(why) => {
            let action = Action::Unreadable(why);
            return (None, Decision { rule: None, action, component: ComponentRequirement::default() });
        }
    };
    for (index, rule) in policy.rules.iter().enumerate() {
        if !rule.namespaces.is_empty() && !namespace.is_some_and(|ns| rule.namespaces.iter().any(|n| n == ns)) {
            continue;
        }
        if rule.images.iter().any(|g| forms.iter().any(|form| glob_match(g, form))) {
            let action = match &rule.requirement {
                Requirement::Verify(a) => Action::Verify(a.clone()),
                Requirement::Allow => Action::Allow,
                Requirement::Deny => Action::Deny,
            };
            let decision = Decision { rule: Some(rule.name.clone()), action, component: rule.component.clone() };
            return (Some(index), decision);
        }
    }
    let action = match policy.unmatched {
        Static::Allow => Action::Allow,
        Static::Deny => Action::Deny,
    };
    (None, Decision { rule: None, action, component: ComponentRequirement::default() })
}

/// The spellings of `image` that globs are matched against: its location
/// (`docker.io/library/nginx`), and with it what the node will run. An image
/// with a digest runs that digest whatever tag stands beside it (the tag need
/// not even exist), so it is matched as `repo@digest` only: `repo:dev-x@sha256:…`
/// does not select a `repo:dev-*` rule. An image without one is matched as
/// `repo:tag` (`latest` when no tag is written, as the runtime pulls it). An
/// image that is no registry reference wharf can read is an error (why): the
/// runtime may read it as some spelling of a host a rule names.
fn match_forms(image: &str) -> std::result::Result<Vec<String>, String> {
    let r = match Reference::parse(image) {
        Ok(Reference::Registry(r)) => r,
        Ok(_) => return Err("it is not a registry image".to_string()),
        Err(e) => return Err(e.to_string()),
    };
    let location = normalised_location(&r.registry, &r.repository);
    let runs = match (&r.digest, &r.tag) {
        (Some(digest), _) => format!("{location}@{digest}"),
        (None, tag) => format!("{location}:{}", tag.as_deref().unwrap_or("latest")),
    };
    Ok(vec![location, runs])
}

/// Docker Hub's names: `index.docker.io` is distribution/reference's legacy
/// name for `docker.io`, `registry-1.docker.io` the host its API is served
/// from; docker and containerd pull the same repositories through each.
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// A registry host as the runtime reaches it: lowercase (DNS names are
/// case-insensitive), its port read as a number (`:0443` is `:443`, as the
/// runtime reads it) and without HTTPS's default port `443`, and Docker Hub
/// under its one name `docker.io`. [`Reference::parse`] keeps what was
/// written apart from `index.docker.io`, as distribution/reference does; a
/// policy must not let another spelling of a host slip past its rules.
pub fn normalised_host(host: &str) -> String {
    let lower = host.to_ascii_lowercase();
    let bare = match lower.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            match port.trim_start_matches('0') {
                "443" => name.to_string(),
                "" => format!("{name}:0"),
                number => format!("{name}:{number}"),
            }
        }
        _ => lower,
    };
    if DOCKER_HUB_ALIASES.contains(&bare.as_str()) { "docker.io".to_string() } else { bare }
}

/// `host/repository` with the host normalised ([`normalised_host`]) and
/// Docker Hub's single-segment names under `library/`
/// (distribution/reference's rule, which [`Reference::parse`] applies only
/// to `docker.io` and `index.docker.io` as written).
fn normalised_location(host: &str, repository: &str) -> String {
    let host = normalised_host(host);
    if host == "docker.io" && !repository.contains('/') {
        return format!("{host}/library/{repository}");
    }
    format!("{host}/{repository}")
}

/// A rule's image glob with its host normalised as images are, so that
/// `GHCR.IO/acme/**` and `index.docker.io/nginx` mean what they say. A glob
/// whose first segment is no literal host (`**`, `*.example.com/**`) is kept.
fn normalise_glob(glob: &str) -> String {
    match glob.split_once('/') {
        Some((first, rest)) if !first.contains('*') && (first.contains(['.', ':']) || first == "localhost") => {
            let host = normalised_host(first);
            if host == "docker.io" && !rest.contains(['/', '*']) {
                return format!("{host}/library/{rest}");
            }
            format!("{host}/{rest}")
        }
        _ => glob.to_string(),
    }
}

/// Glob matching: `**` any characters, `*` any characters but `/`, everything else literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    // Iterative matcher with memo over (pattern index, text index).
    let mut memo = vec![None; (p.len() + 1) * (t.len() + 1)];
    matches_at(p, t, 0, 0, &mut memo)
}

fn matches_at(p: &[u8], t: &[u8], pi: usize, ti: usize, memo: &mut [Option<bool>]) -> bool {
    let key = pi * (t.len() + 1) + ti;
    if let Some(Some(v)) = memo.get(key) {
        return *v;
    }
    let result = if pi == p.len() {
        ti == t.len()
    } else if p[pi] == b'*' {
        let double = p.get(pi + 1) == Some(&b'*');
        let next = if double { pi + 2 } else { pi + 1 };
        let mut ok = matches_at(p, t, next, ti, memo);
        let mut j = ti;
        while !ok && j < t.len() {
            if !double && t[j] == b'/' {
                break;
            }
            j += 1;
            ok = matches_at(p, t, next, j, memo);
        }
        ok
    } else {
        ti < t.len() && p[pi] == t[ti] && matches_at(p, t, pi + 1, ti + 1, memo)
    };
    if let Some(slot) = memo.get_mut(key) {
        *slot = Some(result);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"mode: enforce
rules:
  - name: signed-wasm
    images: ["127.0.0.1:5000/prod/**"]
    authorities:
      - key: /etc/wharf/cosign.pub
  - name: sandbox
    images: ["127.0.0.1:5000/sandbox/**"]
    allow: true
unmatched: deny
"#;

    fn example() -> Policy {
        Policy::parse("policy.yaml", EXAMPLE).expect("the documented example parses")
    }

    #[test]
    fn parses_the_documented_example() {
        let p = example();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.unmatched, Static::Deny);
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[0].requirement, Requirement::Verify(vec![Authority::key("/etc/wharf/cosign.pub")]));
        assert_eq!(p.rules[1].requirement, Requirement::Allow);
        assert_eq!(p.authorities(), vec![&Authority::key("/etc/wharf/cosign.pub")]);
    }

    #[test]
    fn evaluates_first_matching_rule() {
        let p = example();
        let d = evaluate(&p, "127.0.0.1:5000/prod/app:1.0", Some("default"));
        assert_eq!(d.rule.as_deref(), Some("signed-wasm"));
        assert!(matches!(d.action, Action::Verify(_)));
        let d = evaluate(&p, "127.0.0.1:5000/prod/team/app@sha256:".to_string().as_str(), None);
        // Not a valid reference: denied on its own account, whatever rule its text would match.
        assert!(matches!(d.action, Action::Unreadable(_)), "{d:?}");
        assert_eq!(d.rule, None);
        let d = evaluate(&p, "127.0.0.1:5000/sandbox/x:latest", None);
        assert_eq!(
            d,
            Decision {
                rule: Some("sandbox".into()),
                action: Action::Allow,
                component: ComponentRequirement::default()
            }
        );
        let d = evaluate(&p, "nginx:1.27", None);
        assert_eq!(d, Decision { rule: None, action: Action::Deny, component: ComponentRequirement::default() });
        assert_eq!(d.rule_name(), "unmatched");
    }

    #[test]
    fn an_image_with_a_digest_is_matched_by_its_digest_not_by_the_tag_beside_it() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let p = Policy::parse(
            "p",
            &format!(
                "rules:\n  - name: dev-builds\n    images: ['h:5000/app:dev-*']\n    allow: true\n\
                 \x20 - name: pinned\n    images: ['h:5000/app@{digest}']\n    allow: true\n\
                 \x20 - name: latest\n    images: ['h:5000/app:latest']\n    allow: true\nunmatched: deny\n"
            ),
        )
        .expect("parses");
        // Tag alone: the tag glob applies.
        assert_eq!(evaluate(&p, "h:5000/app:dev-x", None).rule.as_deref(), Some("dev-builds"));
        // Tag and digest: the node runs the digest, so only the digest is matched.
        let both = evaluate(&p, &format!("h:5000/app:dev-x@{digest}"), None);
        assert_eq!(both.rule.as_deref(), Some("pinned"));
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let both = evaluate(&p, &format!("h:5000/app:dev-x@{other}"), None);
        assert_eq!((both.rule, both.action), (None, Action::Deny));
        // No tag and no digest: the runtime pulls latest.
        assert_eq!(evaluate(&p, "h:5000/app", None).rule.as_deref(), Some("latest"));
    }

    #[test]
    fn duplicate_rule_names_are_refused_naming_the_line() {
        let text = "rules:\n  - name: prod\n    images: ['a/**']\n    allow: true\n  - name: other\n    images: ['b/**']\n    allow: false\n  - name: prod\n    images: ['c/**']\n    authorities: [{key: k.pub}]\n";
        let msg = Policy::parse("policy.yaml", text).expect_err("two rules named prod").to_string();
        assert!(msg.contains("policy.yaml at line 8"), "{msg}");
        assert!(msg.contains("rule 3 (\"prod\") has the name of rule 1, line 2"), "{msg}");
        let renamed = text.replacen("name: prod\n    images: ['c", "name: prod-signed\n    images: ['c", 1);
        assert_eq!(Policy::parse("policy.yaml", &renamed).expect("distinct names").rules.len(), 3);
    }

    #[test]
    fn other_spellings_of_a_host_hit_the_rule_of_the_plain_spelling() {
        let p = Policy::parse(
            "p",
            "rules:\n  - name: acme\n    images: ['ghcr.io/acme/**']\n    allow: false\n\
             \x20 - name: nginx\n    images: ['docker.io/library/nginx']\n    allow: false\n\
             \x20 - name: written-oddly\n    images: ['REGISTRY.EXAMPLE.COM:00443/team/**', 'index.docker.io/redis']\n    allow: false\n\
             unmatched: allow\n",
        )
        .expect("parses");
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for image in ["ghcr.io/acme/app:1", "GHCR.IO/acme/app:1", "ghcr.io:443/acme/app:1", "ghcr.io:0443/acme/app:1"] {
            assert_eq!(evaluate(&p, image, None).rule.as_deref(), Some("acme"), "{image}");
        }
        assert_eq!(evaluate(&p, &format!("GHCR.IO:443/acme/app@{digest}"), None).rule.as_deref(), Some("acme"));
        for image in [
            "nginx",
            "docker.io/nginx",
            "index.docker.io/nginx",
            "index.docker.io/library/nginx",
            "registry-1.docker.io/library/nginx",
            "registry-1.docker.io/nginx",
            "DOCKER.IO/library/nginx",
            "docker.io:443/nginx",
            "Registry-1.Docker.IO:443/nginx",
        ] {
            assert_eq!(evaluate(&p, image, None).rule.as_deref(), Some("nginx"), "{image}");
        }
        for image in ["registry.example.com/team/x", "redis", "registry-1.docker.io/redis:7"] {
            assert_eq!(evaluate(&p, image, None).rule.as_deref(), Some("written-oddly"), "{image}");
        }
        // Another port, or another host, is another registry.
        for image in ["ghcr.io:5000/acme/app", "ghcr.io.evil.example/acme/app", "quay.io/acme/app"] {
            assert_eq!(evaluate(&p, image, None).rule, None, "{image}");
        }
    }

    #[test]
    fn limits_have_defaults_and_bounds() {
        let p = Policy::parse("p", "rules: []\n").expect("parses");
        assert_eq!(p.limits.component_size, 64 << 20);
        assert_eq!(p.limits.image_timeout, std::time::Duration::from_secs(8));
        let p =
            Policy::parse("p", "rules: []\nlimits:\n  componentSize: 1048576\n  imageSeconds: 2.5\n").expect("parses");
        assert_eq!(p.limits.component_size, 1 << 20);
        assert_eq!(p.limits.image_timeout, std::time::Duration::from_millis(2500));
        for bad in [
            "componentSize: 0",
            "componentSize: 1073741825",
            "imageSeconds: 0",
            "imageSeconds: 31",
            "imageSeconds: 28.5",
            "imageSeconds: .nan",
        ] {
            let text = format!("rules: []\nlimits:\n  {bad}\n");
            let msg = Policy::parse("p", &text).expect_err(bad).to_string();
            assert!(msg.contains("line 2") && msg.contains("limits."), "{bad}: {msg}");
        }
        let typo = Policy::parse("p", "rules: []\nlimits:\n  componentBytes: 1\n").expect_err("unknown field");
        assert!(typo.to_string().contains("line 3"), "{typo}");
    }

    #[test]
    fn namespaces_restrict_rules() {
        let p = Policy::parse(
            "p",
            "rules:\n  - name: only-prod\n    images: ['**']\n    namespaces: [prod]\n    allow: false\nunmatched: allow\n",
        )
        .expect("parses");
        assert_eq!(evaluate(&p, "nginx", Some("prod")).action, Action::Deny);
        assert_eq!(evaluate(&p, "nginx", Some("dev")).action, Action::Allow);
        assert_eq!(evaluate(&p, "nginx", None).action, Action::Allow);
    }

    #[test]
    fn globs() {
        assert!(glob_match("a/**", "a/b/c"));
        assert!(glob_match("a/*", "a/b"));
        assert!(!glob_match("a/*", "a/b/c"));
        assert!(glob_match("a/*/c", "a/b/c"));
        assert!(glob_match("docker.io/library/*", "docker.io/library/nginx"));
        assert!(glob_match("**", "anything/at/all"));
        assert!(!glob_match("a/b", "a/bc"));
        assert!(glob_match("h:5000/p/**:v1", "h:5000/p/x/y:v1"));
    }

    #[test]
    fn unmatched_defaults_to_deny_and_mode_to_enforce() {
        let p = Policy::parse("p", "rules: []\n").expect("parses");
        assert_eq!(p.unmatched, Static::Deny);
        assert_eq!(p.mode, Mode::Enforce);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = EXAMPLE.replace("mode: enforce", "mode: enforced");
        let e = Policy::parse("policy.yaml", &bad).expect_err("unknown mode");
        let msg = e.to_string();
        assert!(msg.contains("policy.yaml") && msg.contains("line 1"), "{msg}");

        let bad = EXAMPLE.replace("    allow: true", "    allow: true\n    authorities: [{key: k.pub}]");
        let msg = Policy::parse("policy.yaml", &bad).expect_err("both").to_string();
        assert!(msg.contains("line 7") && msg.contains("sandbox") && msg.contains("both"), "{msg}");

        let bad = EXAMPLE.replace("    allow: true\n", "");
        let msg = Policy::parse("policy.yaml", &bad).expect_err("neither").to_string();
        assert!(msg.contains("neither"), "{msg}");

        let bad = EXAMPLE.replace("images: [\"127.0.0.1:5000/sandbox/**\"]", "image: x");
        let msg = Policy::parse("policy.yaml", &bad).expect_err("unknown field").to_string();
        assert!(msg.contains("line 8") && msg.contains("image"), "{msg}");
    }

    #[test]
    fn keyless_authorities() {
        let text = "rules:\n  - name: ci\n    images: ['**']\n    authorities:\n      - keyless:\n          identity: https://github.com/o/r/.github/workflows/release.yml@refs/heads/main\n          issuer: https://token.actions.githubusercontent.com\n          trustedRoot: trusted_root.json\n";
        let p = Policy::parse("p", text).expect("parses");
        let a = p.authorities();
        assert_eq!(a.len(), 1);
        let k = a[0].keyless.as_ref().expect("keyless");
        assert_eq!(k.issuer.as_deref(), Some("https://token.actions.githubusercontent.com"));
        assert_eq!(k.trusted_root, Path::new("trusted_root.json"));
        assert!(a[0].describe().starts_with("keyless https://github.com/o/r/"));
        let patterned = Keyless {
            identity: None,
            identity_regexp: Some("https://github.com/o/.*".into()),
            issuer: Some("https://issuer".into()),
            issuer_regexp: None,
            trusted_root: "t.json".into(),
        };
        let expected = patterned.expected().expect("valid");
        let wording = format!("keyless {} from {}", expected.identity, expected.issuer);
        let authority = Authority { key: None, keyless: Some(patterned.clone()), trusted_root: None };
        assert_eq!(authority.describe(), wording);
        assert_eq!(wording, "keyless a match of /https://github.com/o/.*/ from https://issuer");
        let incomplete = Keyless { issuer: None, ..patterned };
        assert_eq!(
            Authority { key: None, keyless: Some(incomplete), trusted_root: None }.describe(),
            "keyless (incomplete)"
        );

        let both = text.replace("      - keyless:", "      - key: k.pub\n        keyless:");
        let msg = Policy::parse("p", &both).expect_err("both").to_string();
        assert!(msg.contains("exactly one of key or keyless") && msg.contains("line 2"), "{msg}");
        let neither = "rules:\n  - name: n\n    images: ['**']\n    authorities: [{}]\n";
        assert!(Policy::parse("p", neither).is_err());
    }

    #[test]
    fn keyless_identity_patterns() {
        let text = "rules:\n  - name: ci\n    images: ['**']\n    authorities:\n      - keyless:\n          identityRegexp: 'https://github\\.com/acme/.*'\n          issuer: https://token.actions.githubusercontent.com\n          trustedRoot: trusted_root.json\n";
        let policy = Policy::parse("p.yaml", text).expect("parses");
        let Requirement::Verify(a) = &policy.rules[0].requirement else { panic!("authorities") };
        let expected = a[0].keyless.as_ref().expect("keyless").expected().expect("valid");
        assert!(expected.identity.matches("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main"));
        assert!(!expected.identity.matches("https://github.com/acme"));
        let bad = text.replace("'https://github\\.com/acme/.*'", "'('");
        let msg = Policy::parse("p.yaml", &bad).expect_err("invalid pattern").to_string();
        assert!(msg.contains("not a valid regular expression") && msg.contains("line 2"), "{msg}");
        let both = text.replace("          issuer:", "          identity: x\n          issuer:");
        let msg = Policy::parse("p.yaml", &both).expect_err("both").to_string();
        assert!(msg.contains("exactly one of identity and identityRegexp"), "{msg}");
    }

    #[test]
    fn check_full_without_a_world_is_refused_naming_the_line() {
        let any_world = "rules:\n  - name: a\n    images: ['**']\n    allow: true\n  - name: d\n    images: ['**']\n    \
                         allow: true\n    check: full\n";
        let msg = Policy::parse("p", any_world).expect_err("check: full without world:").to_string();
        assert!(msg.contains("at line 8") && msg.contains("check: full without world:"), "{msg}");
        let with_world =
            any_world.replace("    check: full\n", "    world: \"wasi:http/proxy@0.2\"\n    check: full\n");
        assert!(Policy::parse("p", &with_world).is_ok());
    }

    #[test]
    fn world_rules_parse_and_match_semver_tracks() {
        let text = "rules:\n  - name: http\n    images: ['**']\n    allow: true\n    world: \"wasi:http/proxy@0.2\"\n    check: full\n";
        let p = Policy::parse("p", text).expect("parses");
        let c = &p.rules[0].component;
        assert_eq!(c.check, Check::Full);
        let w = c.world.as_ref().expect("a world");
        assert_eq!(w.to_string(), "wasi:http/proxy@0.2");
        assert!(w.admits("wasi:http/proxy@0.2.0") && w.admits("wasi:http/proxy@0.2.6"));
        assert!(!w.admits("wasi:http/proxy@0.3.0") && !w.admits("wasi:http/proxy@0.2.0-rc.1"));
        assert!(!w.admits("wasi:http/incoming@0.2.0") && !w.admits("wasi:http/proxy"));

        let one = WorldTrack::parse("a:b/c@1").expect("major track");
        assert!(one.admits("a:b/c@1.4.0") && !one.admits("a:b/c@2.0.0"));
        let exact = WorldTrack::parse("a:b/c@0.0.3").expect("exact");
        assert!(exact.admits("a:b/c@0.0.3") && !exact.admits("a:b/c@0.0.4"));
        let full = WorldTrack::parse("a:b/c@0.2.1").expect("a full version names its track");
        assert!(full.admits("a:b/c@0.2.9"));
        let any = WorldTrack::parse("a:b/c").expect("any version");
        assert!(any.admits("a:b/c@5.0.0") && any.admits("a:b/c"));

        for bad in ["proxy", "wasi:http", "wasi:http/proxy@0", "wasi:http/proxy@0.0", "wasi:http/proxy@x", "a:b/c@1.2"]
        {
            let text = format!("rules:\n  - name: w\n    images: ['**']\n    allow: true\n    world: \"{bad}\"\n");
            let msg = Policy::parse("p", &text).expect_err(bad).to_string();
            assert!(msg.contains("line 2") && msg.contains(bad), "{msg}");
        }
        let deny = "rules:\n  - name: d\n    images: ['**']\n    allow: false\n    check: full\n";
        let msg = Policy::parse("p", deny).expect_err("deny with check").to_string();
        assert!(msg.contains("never be used"), "{msg}");
        let typo = "rules:\n  - name: d\n    images: ['**']\n    allow: true\n    check: fully\n";
        assert!(Policy::parse("p", typo).expect_err("unknown check").to_string().contains("line 5"));
    }

    #[test]
    fn world_tracks_of_zero_zero_pre_release_and_build_metadata() {
        let zero = WorldTrack::parse("a:b/c@0.0.3").expect("exact 0.0.x");
        assert_eq!(zero.track.as_deref(), Some("0.0.3"));
        assert!(zero.admits("a:b/c@0.0.3") && !zero.admits("a:b/c@0.0.3-rc.1") && !zero.admits("a:b/c@0.0.3+b1"));
        let pre = WorldTrack::parse("a:b/c@1.0.0-rc.1").expect("exact pre-release");
        assert_eq!(pre.track.as_deref(), Some("1.0.0-rc.1"));
        assert!(pre.admits("a:b/c@1.0.0-rc.1") && !pre.admits("a:b/c@1.0.0") && !pre.admits("a:b/c@1.0.0-rc.2"));
        let zero_pre = WorldTrack::parse("a:b/c@0.2.0-rc.1").expect("exact 0.x pre-release");
        assert!(zero_pre.admits("a:b/c@0.2.0-rc.1") && !zero_pre.admits("a:b/c@0.2.0"));
        let built = WorldTrack::parse("a:b/c@1.2.3+b1").expect("build metadata names its track");
        assert_eq!(built.track.as_deref(), Some("1"));
        assert!(built.admits("a:b/c@1.9.0") && built.admits("a:b/c@1.0.0+other") && !built.admits("a:b/c@2.0.0"));
        let zero_built = WorldTrack::parse("a:b/c@0.0.3+b1").expect("exact 0.0.x with build metadata");
        assert_eq!(zero_built.track.as_deref(), Some("0.0.3+b1"));
        assert!(zero_built.admits("a:b/c@0.0.3+b1") && !zero_built.admits("a:b/c@0.0.3"));
        let two = WorldTrack::parse("a:b/c@0.2").expect("0.MINOR");
        assert!(two.admits("a:b/c@0.2.1+b") && !two.admits("a:b/c@0.2") && !two.admits("a:b/c@0.2.x"));
    }

    /// Review of issue 15, finding 6: a key authority may require the signature to be logged.
    #[test]
    fn a_key_authority_may_name_the_trusted_root_whose_logs_must_record_it() {
        let text = "rules:\n  - name: managed\n    images: ['**']\n    authorities:\n      - key: k.pub\n        trustedRoot: trusted_root.json\n";
        let p = Policy::parse("p", text).expect("valid");
        let a = p.authorities();
        assert_eq!(a[0].key.as_deref(), Some(Path::new("k.pub")));
        assert_eq!(a[0].trusted_root.as_deref(), Some(Path::new("trusted_root.json")));
        assert_eq!(a[0].describe(), "key k.pub logged in trusted root trusted_root.json");
        assert_ne!(a[0], &Authority::key("k.pub"), "the key alone is another authority");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).expect("write");
        let loaded = Policy::load(&path).expect("loads");
        assert_eq!(
            loaded.authorities()[0].trusted_root.as_deref(),
            Some(dir.path().join("trusted_root.json").as_path())
        );
        // Beside keyless it would be ambiguous: a keyless authority names its root inside keyless.
        let keyless = "rules:\n  - name: ci\n    images: ['**']\n    authorities:\n      - keyless: {identity: a@b.c, issuer: https://i, trustedRoot: t.json}\n        trustedRoot: t.json\n";
        let msg = Policy::parse("p", keyless).expect_err("trustedRoot beside keyless").to_string();
        assert!(msg.contains("has a trustedRoot beside keyless") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn attestation_requirements_parse_lend_the_rule_authorities_and_refuse_a_builder_off_provenance() {
        let text = "rules:\n  - name: released\n    images: ['**']\n    authorities: [{key: /k.pub}]\n    attestations:\n      - type: slsaprovenance1\n        builder: \"https://github.com/acme/*\"\n      - {type: cyclonedx, authorities: [{key: /sbom.pub}]}\n";
        let policy = Policy::parse("p", text).expect("valid");
        let attestations = &policy.rules[0].component.attestations;
        assert_eq!(attestations[0].predicate_type, SLSA_PROVENANCE_V1);
        assert_eq!(attestations[0].authorities, vec![Authority::key("/k.pub")], "the rule's authorities are lent");
        assert_eq!(attestations[1].predicate_type, "https://cyclonedx.org/bom");
        assert_eq!(policy.authorities().len(), 2, "attestation authorities are loaded too");

        let off = text.replace("type: slsaprovenance1", "type: spdxjson");
        let msg = Policy::parse("p", &off).expect_err("builder on spdxjson").to_string();
        assert!(msg.contains("line 5") && msg.contains("has a builder") && msg.contains("slsaprovenance1"), "{msg}");
        let typo = text.replace("builder:", "buildr:");
        let msg = Policy::parse("p", &typo).expect_err("unknown key").to_string();
        assert!(msg.contains("line 7") && msg.contains("buildr"), "{msg}");
        let unknown = text.replace("type: cyclonedx", "type: 'not a type'");
        let msg = Policy::parse("p", &unknown).expect_err("unknown type").to_string();
        assert!(msg.contains("attestation 2") && msg.contains("neither a name"), "{msg}");
        let lonely =
            "rules:\n  - name: a\n    images: ['**']\n    allow: true\n    attestations: [{type: cyclonedx}]\n";
        let msg = Policy::parse("p", lonely).expect_err("no authorities").to_string();
        assert!(msg.contains("names no authorities") && msg.contains("line 5"), "{msg}");
    }

    #[test]
    fn builder_globs_cross_slashes() {
        let glob = "https://github.com/acme/.github/workflows/release.yml@*";
        assert!(builder_match(glob, "https://github.com/acme/.github/workflows/release.yml@refs/heads/main"));
        assert!(!builder_match(glob, "https://github.com/evil/.github/workflows/release.yml@refs/heads/main"));
        assert!(!builder_match(glob, "https://github.com/acme/.github/workflows/release.yaml@refs/heads/main"));
        assert!(builder_match("https://github.com/acme/*", "https://github.com/acme/a/b@c"));
    }
}
