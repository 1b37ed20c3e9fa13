//! `wharf verify-blob`

use std::path::PathBuf;

use wharf::sign;
use wharf::sign::sigstore::{blob, keyless};

use crate::Verdict;
use crate::args::{Format, OutputArgs, identity_matcher};
use crate::output::Failure;
use crate::output::{self, OrFail};

/// Verify a file (or its SHA-256) against a Sigstore bundle, with a public key or keyless against an
/// identity, offline (cosign verify-blob's flags).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf verify-blob app.tar.gz --bundle app.tar.gz.sigstore.json \\
      --certificate-identity https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/tags/v1 \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com
  wharf verify-blob sha256:5e6ae9de58c1177bea615b4fcbfb2fd688e8c4b51c2e56b6a38e817833ec24a2 \\
      --bundle artifact.sigstore.json --key cosign.pub --format json

The trusted root (Fulcio CAs, Rekor logs, CT logs, timestamp authorities) is --trusted-root FILE, else
the Sigstore public-good root compiled into wharf (sigstore/root-signing targets/trusted_root.json as of
2025-09-22). Pass a newer one with --trusted-root: `cosign trusted-root create`, or the TUF target
trusted_root.json (https://tuf-repo-cdn.sigstore.dev/targets/, or sigstore-python's cache).

Exit status: 0 verified; 1 not verified (the reason is printed); 2 unreadable input (a file, the key,
the trusted root) or a usage error.")]
pub struct Args {
    /// The artifact: a file, or `sha256:HEX` (its digest; used when no file of that name exists).
    artifact: String,
    /// The Sigstore bundle (.sigstore.json): v0.1, v0.2 or v0.3.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// The public key the bundle was signed with (PEM PUBLIC KEY).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"])]
    key: Option<PathBuf>,
    /// Keyless: the identity the certificate must name (an email or a URI).
    #[arg(long, value_name = "ID", conflicts_with = "certificate_identity_regexp")]
    certificate_identity: Option<String>,
    /// Keyless: a regular expression the whole identity must match (anchored, unlike cosign's).
    #[arg(long, value_name = "REGEX")]
    certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer the certificate must name.
    #[arg(long, value_name = "ISSUER", conflicts_with = "certificate_oidc_issuer_regexp")]
    certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression the whole OIDC issuer must match (anchored).
    #[arg(long, value_name = "REGEX")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// The Sigstore trusted root (trusted_root.json); default: the public-good root built in (2025-09-22).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

fn trust(args: Args) -> Result<sign::Trust, wharf::Error> {
    let root = match &args.trusted_root {
        Some(path) => sign::read_trusted_root(path)?,
        None => keyless::TrustedRoot::public_good()?,
    };
    if let Some(key) = &args.key {
        return Ok(sign::Trust::ManagedKey { key: sign::read_public_key(key)?, root });
    }
    let identity = identity_matcher(args.certificate_identity, args.certificate_identity_regexp)?;
    let issuer = identity_matcher(args.certificate_oidc_issuer, args.certificate_oidc_issuer_regexp)?;
    match (identity, issuer) {
        (Some(identity), Some(issuer)) => {
            Ok(sign::Trust::Keyless { root, expected: keyless::ExpectedIdentity { identity, issuer } })
        }
        _ => Err(wharf::Error::usage(
            "give --key FILE, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]",
        )),
    }
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let artifact = blob::artifact_digest(&args.artifact).or_fail(format)?;
    let bundle = blob::read_bundle(&args.bundle).or_fail(format)?;
    let trust = trust(args).or_fail(format)?;
    let verdict = blob::verify_blob(&bundle, &artifact, &trust);
    if format == Format::Json {
        output::print_json(&verdict);
    } else if verdict.verified {
        let logged = match (&verdict.log, verdict.log_index) {
            (Some(log), Some(index)) => format!(", logged in {log} #{index}"),
            (Some(log), None) => format!(", logged in {log}"),
            _ => String::new(),
        };
        let times: Vec<String> = verdict
            .integrated_time
            .iter()
            .map(|t| format!("integrated at {t}"))
            .chain(verdict.timestamps.iter().map(|t| format!("timestamped at {t}")))
            .collect();
        let times = if times.is_empty() { String::new() } else { format!(" ({})", times.join(", ")) };
        match &verdict.keyless {
            Some(k) => {
                eprintln!("verified: {} signed by {} ({}){logged}{times}", verdict.artifact, k.identity, k.issuer)
            }
            None => eprintln!("verified: {} signed by the key{logged}{times}", verdict.artifact),
        }
    } else {
        let reason = verdict.reason.as_deref().unwrap_or("no reason given");
        eprintln!("not verified: {}", crate::hints::signature_reason(verdict.problem, reason));
    }
    Ok(if verdict.verified { Verdict::Pass } else { Verdict::Fail })
}
