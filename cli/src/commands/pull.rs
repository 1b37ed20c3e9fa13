//! `wharf pull`

use std::path::PathBuf;

use wharf::oci::chunks::Method;
use wharf::pull::PullOptions;
use wharf::wasm::runtimes::local_files::{self, Runtime, RuntimePullOptions, RuntimePullReport};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs};
use crate::output::{self, Bars, Failure, OrFail};

/// Pull the Wasm binary of an artifact into a file, verified while it streams.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf pull oci:./wharf-store:hello-0.1.0 -o hello.wasm
  wharf pull 127.0.0.1:5000/hello:0.1.0            (writes the layer's title, else hello.wasm)
  wharf pull 127.0.0.1:5000/hello:0.1.0 --for wasmtime -o run/   (then: the printed command)
  wharf pull 127.0.0.1:5000/api:1.0 --for spin -o api/            (api/spin.toml + api/api.wasm)
  wharf pull 127.0.0.1:5000/hello:0.1.0 --for runwasi -o img/     (img/hello.tar for ctr images import)

--for RUNTIME writes what that runtime runs locally into the directory -o (created if missing, its
parent must exist), from any shape (CNCF, an index, runwasi, crun, Spin), and prints the command lines
that run it: wasmtime: NAME.wasm, run with `wasmtime serve` (a wasi:http handler), `wasmtime run` (a
command) or `wasmtime run --invoke` (exported functions); spin: NAME.wasm and spin.toml, run with
`spin up --from DIR/spin.toml` (a wasi:http handler or a command); runwasi: NAME.tar, the OCI image
layout archive runwasi's oci-tar-builder writes, for `ctr images import --all-platforms` and `ctr run`.

Reads the CNCF Wasm artifact and the legacy Wasm layouts still in registries, and says which it read.
A failed or interrupted pull leaves nothing at the output path.

A layer of 2 MiB and more with a chunk index beside it (wharf push --chunk-index or wharf index attaches
one) is pulled by chunks: the chunks in the per-user chunk cache ($XDG_CACHE_HOME/wharf/chunks) are read
locally, the others fetched with HTTP Range requests, and the whole layer is verified before the rename.
Only layers with an index are kept in the cache. --format json says how
under transfer (method whole, chunks or cache, and the bytes moved). WHARF_NO_CACHE=1 turns it off.

Exit status: 0 pulled; 2 bad reference, not found, not a Wasm artifact, or a transfer error.")]
pub struct Args {
    /// Source: HOST[:PORT]/REPO[:TAG][@sha256:...] or oci:PATH[:TAG|@sha256:...].
    reference: String,
    /// Output file, or a directory for the default name (with --for: the directory to write into).
    #[arg(long, short = 'o', value_name = "PATH")]
    output_path: Option<PathBuf>,
    /// Write what RUNTIME runs locally (wasmtime, spin or runwasi) and print the command that runs it.
    #[arg(long = "for", value_name = "RUNTIME", value_parser = parse_runtime)]
    for_runtime: Option<Runtime>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_runtime(s: &str) -> Result<Runtime, String> {
    s.parse().map_err(|e: wharf::wasm::Error| e.to_string())
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let transport = args.transport.options_for(Some(&reference), "the source").or_fail(format)?;
    if let Some(runtime) = args.for_runtime {
        let options = RuntimePullOptions {
            runtime,
            dir: args.output_path.unwrap_or_else(|| PathBuf::from(".")),
            transport,
            progress: Bars::for_terminal(format),
            chunk_cache: wharf::oci::chunks::ChunkCache::from_env(),
        };
        let report = local_files::pull_for(&reference, &options).await.or_fail(format)?;
        print_runtime_report(&report, format);
        return Ok(Verdict::Pass);
    }
    let options = PullOptions {
        output: args.output_path,
        transport,
        progress: Bars::for_terminal(format),
        chunk_cache: wharf::oci::chunks::ChunkCache::from_env(),
    };
    let mut report = wharf::pull(&reference, &options).await.or_fail(format)?;
    crate::hints::pull_warnings(&mut report.warnings);
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
    let t = &report.transfer;
    match t.method {
        Method::Chunks => eprintln!(
            "  by chunks: {} fetched in {} range requests, {} of {} chunks ({}) from the cache",
            output::size(t.bytes_fetched),
            t.range_requests,
            t.chunks_reused,
            t.chunks,
            output::size(t.bytes_reused)
        ),
        Method::Cache => eprintln!("  from the chunk cache (pulled before)"),
        Method::Whole => {}
    }
    Ok(Verdict::Pass)
}

/// Prints what `--for` wrote: the command lines on stdout (one per line, shell-quoted), a summary on stderr.
fn print_runtime_report(report: &RuntimePullReport, format: Format) {
    if format == Format::Json {
        output::print_json(report);
        return;
    }
    output::print_warnings(&report.warnings);
    for command in &report.commands {
        println!("{}", command.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" "));
    }
    let files: Vec<String> = report.files.iter().map(|f| f.display().to_string()).collect();
    eprintln!(
        "pulled {} ({}) from {} for {} into {}: {}",
        report.wasm_digest,
        report.shape,
        report.reference,
        report.runtime.name(),
        report.dir.display(),
        files.join(", ")
    );
}

/// `arg`, single-quoted when a POSIX shell would otherwise split or expand it.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@%+-,".contains(c));
    if plain { arg.to_string() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}
