//! `wharf push`

use std::path::PathBuf;

use wharf::artifact::{BuildOptions, Created};
use wharf::ops::{self, PushOptions};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, parse_annotation};
use crate::output::{self, Bars, Failure, OrFail};

/// Validate a .wasm file and push it as a Wasm OCI artifact (to a registry or a local OCI layout).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf push hello.wasm oci:./wharf-store:hello-0.1.0
  wharf push hello.wasm 127.0.0.1:5000/hello:0.1.0 --tag latest --annotation org.example/team=web

Prints REF@sha256:... on stdout. The same file and flags give the same digest on every machine
(created comes from SOURCE_DATE_EPOCH, else the Unix epoch; --created now opts out).

Exit status: 0 pushed; 2 invalid file or reference, or a transfer error (nothing is tagged).")]
pub struct Args {
    /// The component or core module (.wasm).
    file: PathBuf,
    /// Destination: HOST[:PORT]/REPO[:TAG] or oci:PATH[:TAG] (tag defaults to latest).
    reference: String,
    /// A manifest annotation KEY=VALUE (repeatable; overrides the ones from the component's metadata).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE", value_parser = parse_annotation)]
    annotations: Vec<(String, String)>,
    /// Another tag to point at the pushed manifest (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,
    /// Creation time: `now`, or whole seconds since the Unix epoch.
    #[arg(long, value_name = "WHEN")]
    created: Option<String>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn created(flag: Option<&str>) -> Result<Created, wharf::Error> {
    match flag {
        None => Created::reproducible(),
        Some("now") => Ok(Created::Now),
        Some(secs) => secs.parse().map(Created::At).map_err(|_| {
            wharf::Error::Usage(format!("--created {secs:?}: give `now` or whole seconds since the Unix epoch"))
        }),
    }
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let options = PushOptions {
        build: BuildOptions {
            created: created(args.created.as_deref()).or_fail(format)?,
            annotations: args.annotations.into_iter().collect(),
        },
        extra_tags: args.tags,
        transport: args.transport.options().or_fail(format)?,
        progress: Bars::for_terminal(format),
    };
    let report = ops::push(&args.file, &reference, &options).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    output::print_warnings(&report.warnings);
    println!("{}", report.reference);
    let t = &report.transfer;
    let world = report.config.component.as_ref().map_or_else(
        || "core module".to_string(),
        |c| format!("exports [{}], imports [{}]", c.exports.join(", "), c.imports.join(", ")),
    );
    eprintln!("pushed {} ({}): tags [{}]", report.config.os, world, report.tags.join(", "));
    eprintln!(
        "  {} sent ({}), {} already there, {} mounted",
        t.copied.len(),
        output::size(t.bytes_copied),
        t.skipped.len(),
        t.mounted.len()
    );
    Ok(Verdict::Pass)
}
