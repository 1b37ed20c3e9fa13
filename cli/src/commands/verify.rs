//! `wharf verify`

use std::path::PathBuf;

use wharf::sign::{self, VerifyOptions};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, parse_annotation};
use crate::output::{self, Failure, OrFail};

/// Verify an artifact's signatures (cosign's bundle and legacy formats) against a public key.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf verify 127.0.0.1:5000/hello:0.1.0 --key cosign.pub
  wharf verify oci:./wharf-store:hello-0.1.0 --key cosign.pub -a env=prod --format json

REF is resolved to its digest; every signature of that digest is found (bundle referrers through the
referrers API or the sha256-<hex> fallback tag, and the sha256-<hex>.sig tag) and checked: the signature
against the key, the signed digest against REF's, and the required annotations. Each one is listed
with its verdict and, if rejected, the reason. Nothing is fetched but the registry's content.

Exit status: 0 at least one signature satisfies the request; 1 none does (or none was found);
2 unreadable key, bad reference, or a registry error.")]
pub struct Args {
    /// What to verify: HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: String,
    /// The public key file (PEM PUBLIC KEY, as `cosign.pub`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
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
    let key = sign::read_public_key(&args.key).or_fail(format)?;
    let options = VerifyOptions {
        annotations: args.annotations.into_iter().collect(),
        transport: args.transport.options().or_fail(format)?,
    };
    let report = sign::verify(&reference, &key, &options).await.or_fail(format)?;
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
            (_, true) => eprintln!("ok        {} {}", s.format.name(), s.location),
            (Some(reason), false) => eprintln!("rejected  {} {}: {reason}", s.format.name(), s.location),
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
