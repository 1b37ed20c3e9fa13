//! `wharf copy`

use wharf::ops;

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs};
use crate::output::{self, Bars, Failure, OrFail};

/// Copy an artifact from any store to any store (registry or OCI layout), digests preserved.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf copy oci:./wharf-store:hello-0.1.0 127.0.0.1:5000/hello:0.1.0
  wharf copy 127.0.0.1:5000/hello:0.1.0 oci:./mirror      (keeps the source tag)

Blobs the destination has are skipped; on the same registry they are mounted.

--with-signatures also copies the artifact's cosign signatures: its Sigstore bundle referrers
(listed at the destination through its referrers API, or in a rebuilt sha256-<hex> fallback
index) and its legacy sha256-<hex>.sig tag (which replaces the destination's .sig tag).

Exit status: 0 copied; 2 bad reference, not found, or a transfer error.")]
pub struct Args {
    /// Source reference.
    source: String,
    /// Destination reference (without a tag, the source's tag is used).
    destination: String,
    /// Also copy the artifact's signatures (bundle referrers and the legacy `.sig` tag).
    #[arg(long)]
    with_signatures: bool,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let src = wharf::Reference::parse(&args.source).or_fail(format)?;
    let dst = wharf::Reference::parse(&args.destination).or_fail(format)?;
    let transport = args.transport.options().or_fail(format)?;
    let result = ops::copy_reference(&src, &dst, &transport, Bars::for_terminal(format), args.with_signatures)
        .await
        .or_fail(format)?;
    if format == Format::Json {
        output::print_json(&result);
        return Ok(Verdict::Pass);
    }
    println!("{}", result.destination);
    let t = &result.transfer;
    eprintln!(
        "copied from {}: {} sent ({}), {} already there, {} mounted; tags [{}]",
        result.source,
        t.copied.len(),
        output::size(t.bytes_copied),
        t.skipped.len(),
        t.mounted.len(),
        result.tags.join(", ")
    );
    if let Some(signatures) = &t.signatures {
        eprintln!(
            "signatures: {} bundle referrer(s){}{}",
            signatures.referrers.len(),
            signatures.legacy_tag.as_ref().map(|tag| format!(", legacy tag {tag}")).unwrap_or_default(),
            match signatures.other_referrers_skipped {
                0 => String::new(),
                n => format!("; {n} other referrer(s) left behind"),
            }
        );
    }
    Ok(Verdict::Pass)
}
