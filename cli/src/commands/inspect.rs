//! `wharf inspect`

use std::path::Path;

use wharf::inspect::{self, Inspection};
use wharf::oci::annotations::{Created, TITLE};
use wharf::wasm::artifact::BuildOptions;

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs};
use crate::output::{self, Failure, OrFail};

/// Show what an artifact (or a local .wasm file) holds: digest, media types, os, WIT imports and exports.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf inspect oci:./wharf-store:hello-0.1.0
  wharf inspect 127.0.0.1:5000/hello:0.1.0 --format json
  wharf inspect hello.wasm          (shows the artifact a push would make, and its digest)

For a reference only the manifest and config are read, never the layer.

Exit status: 0 shown; 2 bad input, not found, or not a Wasm artifact.")]
pub struct Args {
    /// A reference (HOST/REPO[:TAG], oci:PATH[:TAG]) or a local .wasm file.
    target: String,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let path = Path::new(&args.target);
    let mut inspection = if path.is_file() {
        let build = BuildOptions {
            created: Created::reproducible().or_fail(format)?,
            annotations: Default::default(),
            target: None,
            scan_cache: wharf::wasm::scan_cache::ScanCache::from_env(),
        };
        inspect::inspect_file(path, &build).or_fail(format)?
    } else {
        let reference = wharf::Reference::parse(&args.target).or_fail(format)?;
        let transport = args.transport.options_for(Some(&reference), "the reference").or_fail(format)?;
        inspect::inspect_reference(&reference, &transport).await.or_fail(format)?
    };
    crate::hints::runtimes(&mut inspection.runtimes);
    if format == Format::Json {
        output::print_json(&inspection);
    } else {
        print_text(&inspection);
    }
    Ok(Verdict::Pass)
}

fn print_text(i: &Inspection) {
    println!("{}", i.source);
    if let Some(index) = &i.index {
        println!("  index:      {} ({}), resolved to its wasm entry below", index.digest, output::size(index.size));
    }
    println!("  digest:     {}", i.digest);
    println!("  media type: {} ({})", i.media_type, output::size(i.size));
    match &i.runtime_shape {
        Some(shape) if shape != &i.shape => println!("  shape:      {} ({shape})", i.shape),
        _ => println!("  shape:      {}", i.shape),
    }
    if !i.runtimes.is_empty() {
        println!("  runs on:    {}", i.runtimes.join("; "));
    }
    println!("  config:     {}", i.config_media_type);
    println!("  layer:      {} {} ({})", i.layer.media_type, i.layer.digest, output::size(i.layer.size));
    if let Some(title) = i.layer.annotations.get(TITLE) {
        println!("  file name:  {title}");
    }
    if let Some(c) = &i.config {
        println!("  os:         {} / {}", c.os, c.architecture);
        if let Some(created) = &c.created {
            println!("  created:    {created}");
        }
        if let Some(author) = &c.author {
            println!("  author:     {author}");
        }
        match &c.component {
            Some(world) => {
                if let Some(target) = &world.target {
                    println!("  target:     {target}");
                }
                print_list("exports", &world.exports);
                print_list("imports", &world.imports);
            }
            None => println!("  kind:       core module (no WIT world)"),
        }
    }
    if !i.annotations.is_empty() {
        println!("  annotations:");
        for (k, v) in &i.annotations {
            println!("    {k}: {v}");
        }
    }
    output::print_warnings(&i.warnings);
}

fn print_list(label: &str, items: &[String]) {
    if items.is_empty() {
        println!("  {label}:    (none)");
    } else {
        println!("  {label}:");
        for item in items {
            println!("    {item}");
        }
    }
}
