//! `wharf verify-attestation`

use wharf::sign::cosign::attest::{self, VerifyOptions, VerifyReport};
use wharf::sign::sigstore::Problem;

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, TrustArgs};
use crate::output::{self, Failure, OrFail};

/// Verify an artifact's attestations of one predicate type against a public key, or keyless against a
/// Sigstore trusted root and an identity, and print the predicates that verified.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf verify-attestation 127.0.0.1:5000/hello:0.1.0 --type slsaprovenance1 --key cosign.pub
  wharf verify-attestation oci:./wharf-store:hello-0.1.0 --type cyclonedx --key cosign.pub --format json
  wharf verify-attestation REF --type slsaprovenance1 --trusted-root trusted_root.json \\
      --certificate-identity-regexp 'https://github\\.com/acme/.*' \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com

REF is resolved to its digest; every attestation of that digest is found (bundle referrers through the
referrers API or the sha256-<hex> fallback tag, and the layers under the sha256-<hex>.att tag) and, if
its statement claims the predicate type asked for, checked: the DSSE signature against the key, the
statement's type, and that the digest is among its subjects. Image signatures are skipped; attestations
of other types are listed, unchecked.
Text: each verified predicate as JSON on stdout (one document per line), verdicts on stderr.
JSON: the report, with the predicate of each verified attestation.
With --key alone no transparency-log entry is looked for (as cosign's --insecure-ignore-tlog); keyless
(--trusted-root with an identity and an issuer) checks the Fulcio certificate, its SCT, the identity
and the log entry offline, as `wharf verify` does (see docs/signing.md).

Exit status: 0 at least one attestation of the type verified; 1 none did (or none was found);
2 unreadable key, unknown type, bad reference, or a registry error.")]
pub struct Args {
    /// What to check: HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: String,
    /// The predicate type: a cosign name (slsaprovenance1, cyclonedx, spdxjson, ...) or a URI.
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: String,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let predicate_type = attest::predicate_type(&args.predicate_type).or_fail(format)?;
    let trust = args.trust.trust().or_fail(format)?;
    let options = VerifyOptions {
        predicate_type,
        transport: args.transport.options_for(Some(&reference), "the reference").or_fail(format)?,
    };
    let report = attest::verify(&reference, &trust, &options).await.or_fail(format)?;
    let verdict = if report.verified { Verdict::Pass } else { Verdict::Fail };
    if format == Format::Json {
        output::print_json(&report);
    } else {
        print_text(&report);
    }
    Ok(verdict)
}

fn print_text(report: &VerifyReport) {
    eprintln!("{}", report.reference);
    if report.attestations.is_empty() {
        eprintln!("no attestations found for {} (neither bundle referrers nor an .att tag)", report.digest);
    }
    for a in &report.attestations {
        match (&a.reason, a.verified) {
            (_, true) => match &a.keyless {
                Some(k) => eprintln!("ok        {} {}: {} from {}", a.format.name(), a.location, k.identity, k.issuer),
                None => eprintln!("ok        {} {}", a.format.name(), a.location),
            },
            (Some(reason), false) if a.problem == Some(Problem::OtherPredicateType) => {
                eprintln!("other     {} {}: {reason}", a.format.name(), a.location)
            }
            (Some(reason), false) => eprintln!("rejected  {} {}: {reason}", a.format.name(), a.location),
            (None, false) => eprintln!("rejected  {} {}", a.format.name(), a.location),
        }
    }
    for predicate in report.predicates() {
        println!("{}", serde_json::to_string(predicate).unwrap_or_default());
    }
    let accepted = report.attestations.iter().filter(|a| a.verified).count();
    if report.verified {
        eprintln!("verified: {accepted} attestation(s) of {} accepted", report.predicate_type);
    } else {
        eprintln!("verification failed: no attestation of {} verifies", report.predicate_type);
    }
}
