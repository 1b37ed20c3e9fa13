//! `wharf pull`

use std::path::PathBuf;

use wharf::ops::{self, PullOptions};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs};
use crate::output::{self, Bars, Failure, OrFail};

/// Pull the Wasm binary of an artifact into a file, verified while it streams.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf pull oci:./wharf-store:hello-0.1.0 -o hello.wasm
  wharf pull 127.0.0.1:5000/hello:0.1.0            (writes the layer's title, else hello.wasm)

Reads the CNCF Wasm artifact and the legacy Wasm layouts still in registries, and says which it read.
A failed or interrupted pull leaves nothing at the output path.

Exit status: 0 pulled; 2 bad reference, not found, not a Wasm artifact, or a transfer error.")]
pub struct Args {
    /// Source: HOST[:PORT]/REPO[:TAG][@sha256:...] or oci:PATH[:TAG|@sha256:...].
    reference: String,
    /// Output file, or a directory for the default name.
    #[arg(long, short = 'o', value_name = "PATH")]
    output_path: Option<PathBuf>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let options = PullOptions {
        output: args.output_path,
        transport: args.transport.options().or_fail(format)?,
        progress: Bars::for_terminal(format),
    };
    let report = ops::pull(&reference, &options).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    output::print_warnings(&report.warnings);
    println!("{}", report.path.display());
    eprintln!(
        "pulled {} ({}, {}) from {}",
        report.layer_digest,
        output::size(report.size),
        report.shape,
        report.reference
    );
    Ok(Verdict::Pass)
}
