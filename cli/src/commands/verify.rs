//! `wharf verify`

use wharf::sign::cosign::{self, VerifyOptions};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, TrustArgs, parse_annotation};
use crate::output::{self, Failure, OrFail};

/// Verify an artifact's signatures (cosign's bundle and legacy formats) against a public key, or
/// keyless against a Sigstore trusted root and an identity.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf verify 127.0.0.1:5000/hello:0.1.0 --key cosign.pub
  wharf verify oci:./wharf-store:hello-0.1.0 --key cosign.pub -a env=prod --format json
  wharf verify REF --certificate-identity you@example.com \
      --certificate-oidc-issuer https://github.com/login/oauth --trusted-root trusted_root.json

REF is resolved to its digest; every signature of that digest is found (bundle referrers through the
referrers API or the sha256-<hex> fallback tag, and the sha256-<hex>.sig tag) and checked: the signature
against the key, the signed digest against REF's, and the required annotations. Each one is listed
with its verdict and, if rejected, the reason. Nothing is fetched but the registry's content.

Keyless (all three options together): a bundle's Fulcio certificate must chain to a CA of the trusted
root at the time of signing, carry an SCT of one of its CT logs, name the identity (SAN) and the OIDC
issuer, and the signature must be in one of its Rekor logs (inclusion promise, or inclusion proof and
checkpoint; Rekor v2 with an RFC 3161 timestamp); all offline, with the same verifier as
`wharf verify-blob`. This holds for bundles and for legacy .sig signatures (certificate and Rekor
bundle in layer annotations). --key with --trusted-root: the signature must also be in one of the
root's logs (see docs/signing.md).

Exit status: 0 at least one signature satisfies the request; 1 none does (or none was found);
2 unreadable key, bad reference, or a registry error.")]
pub struct Args {
    /// What to verify: HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// An annotation every accepted signature must carry, KEY=VALUE (repeatable).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE", value_parser = parse_annotation)]
    annotations: Vec<(String, String)>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let trust = args.trust.trust().or_fail(format)?;
    let options = VerifyOptions {
        annotations: args.annotations.into_iter().collect(),
        transport: args.transport.options_for(Some(&reference), "the reference").or_fail(format)?,
    };
    let report = cosign::verify_with(&reference, &trust, &options).await.or_fail(format)?;
    let verdict = if report.verified { Verdict::Pass } else { Verdict::Fail };
    if format == Format::Json {
        output::print_json(&report);
        return Ok(verdict);
    }
    println!("{}", report.reference);
    if report.signatures.is_empty() {
        eprintln!("no signatures found for {} (neither bundle referrers nor a .sig tag)", report.digest);
    }
    for s in &report.signatures {
        match (&s.reason, s.verified) {
            (_, true) => match &s.keyless {
                Some(k) => eprintln!(
                    "ok        {} {}: {} from {}, logged in {}{}{}",
                    s.format.name(),
                    s.location,
                    k.identity,
                    k.issuer,
                    k.log,
                    k.log_index.map(|i| format!(" #{i}")).unwrap_or_default(),
                    k.integrated_time.map(|t| format!(" at {t}")).unwrap_or_default()
                ),
                None => eprintln!("ok        {} {}", s.format.name(), s.location),
            },
            (Some(reason), false) => eprintln!(
                "rejected  {} {}: {}",
                s.format.name(),
                s.location,
                crate::hints::signature_reason(s.problem, reason)
            ),
            (None, false) => eprintln!("rejected  {} {}", s.format.name(), s.location),
        }
    }
    if report.verified {
        eprintln!(
            "verified: {} of {} signature(s) accepted",
            report.signatures.iter().filter(|s| s.verified).count(),
            report.signatures.len()
        );
    } else {
        eprintln!("verification failed: no signature satisfies the request");
    }
    Ok(verdict)
}
