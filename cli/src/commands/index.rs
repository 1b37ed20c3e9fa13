//! `wharf index`

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs};
use crate::output::{self, Failure, OrFail};

/// Attach a chunk index beside an artifact, so pulls of its later versions fetch only what changed.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf index 127.0.0.1:5000/hello:0.1.0
  wharf index oci:./wharf-store:hello-0.1.0 --format json

`wharf push --chunk-index` attaches a chunk index itself to layers of 2 MiB and more; this is for
artifacts pushed without it, by wharf or another tool. The layer is read once (checked against its
digest), cut into content-defined chunks, and the index (application/vnd.wharf.chunk-index.v1+json) is
pushed as an OCI referrer of the manifest: the artifact itself is not changed. Nothing is pushed when the manifest already has one.

Exit status: 0 attached or already there; 2 bad reference, not found, not a Wasm artifact, or a transfer error.")]
pub struct Args {
    /// The artifact: HOST[:PORT]/REPO[:TAG][@sha256:...] or oci:PATH[:TAG|@sha256:...].
    reference: String,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let transport = args.transport.options_for(Some(&reference), "the artifact").or_fail(format)?;
    let report = wharf::index::index(&reference, &transport).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    println!("{}", report.reference);
    match &report.attached {
        Some(a) => eprintln!(
            "attached chunk index {} ({} chunks, {}) of layer {} ({})",
            a.digest,
            a.chunks,
            output::size(a.size),
            report.layer_digest,
            output::size(report.layer_size)
        ),
        None => eprintln!("layer {} already has a chunk index", report.layer_digest),
    }
    Ok(Verdict::Pass)
}
