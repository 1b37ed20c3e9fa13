//! `wharf convert`

use wharf::wasm::runtimes::convert::{self, ConvertOptions, Shape};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs};
use crate::output::{self, Bars, Failure, OrFail};

/// Rewrite an artifact in the shape a runtime reads, reusing the same Wasm blob (no re-upload).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf convert 127.0.0.1:5000/hello:0.1.0 127.0.0.1:5000/hello:0.1.0-runwasi --to runwasi
  wharf convert 127.0.0.1:5000/hello:0.1.0-runwasi 127.0.0.1:5000/hello:0.1.0 --to cncf
  wharf convert 127.0.0.1:5000/api:1.0 127.0.0.1:5000/api:1.0-spin --to spin   (then: spin up --from ...)

Shapes: cncf (the CNCF Wasm OCI artifact `wharf push` writes: wkg, wasmCloud, runwasi artifact
mode); runwasi (runwasi's OCI-layer form: OCI image config with os wasip1, architecture wasm,
Entrypoint, and the Wasm as an application/vnd.bytecodealliance.wasm.component.layer.v0+wasm layer);
crun (a classic image for crun's Wasm handler and Docker+Wasm: /app.wasm in a deterministic tar layer,
os wasi, Entrypoint [/app.wasm], annotation module.wasm.image/variant=compat-smart);
spin (the one-component application `spin registry push` writes and `spin up --from` runs: the Wasm
as an application/vnd.wasm.content.layer.v1+wasm layer, then the locked app naming it by digest as an
application/vnd.fermyon.spin.application.v1+config layer; a wasi:http handler gets the HTTP trigger
on route /..., a command (wasi:cli/run, or _start in a core module) the WAGI executor; a component
exporting only functions is refused, as Spin cannot run it).
The Wasm blob keeps its digest, so the destination skips or mounts it (except for crun, whose
layer is a tar holding the Wasm). A converted manifest carries
the original CNCF config and annotations, so converting back gives the original digest.
See docs/runtimes.md.

Exit status: 0 converted; 2 bad reference or shape, not found, or a transfer error.")]
pub struct Args {
    /// Source reference (any shape wharf reads; an index resolves to its wasm entry).
    source: String,
    /// Destination reference (without a tag, the source's tag is used).
    destination: String,
    /// The shape to write: cncf, runwasi, crun or spin.
    #[arg(long, value_name = "SHAPE", value_parser = parse_target)]
    to: Shape,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_target(s: &str) -> Result<Shape, String> {
    s.parse().map_err(|e: wharf::wasm::Error| e.to_string())
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let src = wharf::Reference::parse(&args.source).or_fail(format)?;
    let dst = wharf::Reference::parse(&args.destination).or_fail(format)?;
    let options = ConvertOptions {
        to: args.to,
        transport: args.transport.options_for(Some(&dst), "the destination").or_fail(format)?,
        progress: Bars::for_terminal(format),
    };
    let report = convert::convert(&src, &dst, &options).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    println!("{}", report.reference);
    if let Some(app) = &report.spin {
        eprintln!(
            "spin app {:?}: component {} on the HTTP trigger ({}), route {}",
            app.name,
            app.component,
            match app.trigger {
                wharf::wasm::runtimes::spin::SpinTrigger::Http => "wasi:http handler",
                wharf::wasm::runtimes::spin::SpinTrigger::Wagi => "WAGI executor",
            },
            wharf::wasm::runtimes::spin::CATCH_ALL_ROUTE
        );
    }
    let t = &report.transfer;
    eprintln!(
        "converted {} ({}) to {}: wasm {} reused; {} sent ({}), {} already there, {} mounted; tags [{}]",
        report.source,
        report.source_shape,
        report.shape,
        report.wasm_digest,
        t.copied.len(),
        output::size(t.bytes_copied),
        t.skipped.len(),
        t.mounted.len(),
        report.tags.join(", ")
    );
    Ok(Verdict::Pass)
}
