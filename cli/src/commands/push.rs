//! `wharf push`

use std::path::{Path, PathBuf};

use wharf::oci::annotations::Created;
use wharf::push::{Checked, PushOptions, push_checked};
use wharf::wasm::artifact::BuildOptions;
use wharf::wasm::check::{self, CheckReport};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, parse_annotation};
use crate::output::{self, Bars, Failure, OrFail};

/// Validate a .wasm file and push it as a Wasm OCI artifact (to a registry or a local OCI layout).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf push hello.wasm oci:./wharf-store:hello-0.1.0
  wharf push hello.wasm 127.0.0.1:5000/hello:0.1.0 --tag latest --annotation org.example/team=web
  wharf push filter.wasm 127.0.0.1:5000/filter:1.0.0 --wit wit/ --world filter-plugin
  wharf push hello.wasm 127.0.0.1:5000/hello:0.1.0 --index   (tags an image index with a wasm/wasip2 entry)

Prints REF@sha256:... on stdout. The same file and flags give the same digest on every machine
(created comes from SOURCE_DATE_EPOCH, else the Unix epoch; --created now opts out).

With --wit, a component that does not fit the world is not pushed: the problems are printed as
`wharf check` prints them and the exit status is 1. One that fits is pushed with the world recorded in
the config's component.target (ns:pkg/world@version), which `wharf inspect` shows.

Exit status: 0 pushed; 1 does not fit --wit (nothing pushed); 2 invalid file, WIT or reference, or a
transfer error (nothing is tagged).")]
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
    /// Also push an OCI image index whose one entry is the manifest, with platform wasm/wasip2
    /// (wasm/wasip1 for a core module); the tags point at the index, so platform-aware clients
    /// (containerd, skopeo, docker) select it.
    #[arg(long)]
    index: bool,
    /// Do not attach a chunk index beside the artifact (by default one is attached to layers of
    /// 2 MiB and more, so that pulls of a later version fetch only the chunks that changed).
    #[arg(long)]
    no_chunk_index: bool,
    /// Creation time: `now`, or whole seconds since the Unix epoch.
    #[arg(long, value_name = "WHEN")]
    created: Option<String>,
    /// Refuse to push a component that does not fit this WIT world (a directory, .wit file, binary
    /// WIT package or reference, as for `wharf check`), and record the world in the config's
    /// component.target.
    #[arg(long, value_name = "WIT")]
    wit: Option<String>,
    /// The world of --wit to check against, when its package defines several.
    #[arg(long, value_name = "NAME", requires = "wit")]
    world: Option<String>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn created(flag: Option<&str>) -> Result<Created, wharf::Error> {
    match flag {
        None => Ok(Created::reproducible()?),
        Some("now") => Ok(Created::Now),
        Some(secs) => secs.parse().map(Created::At).map_err(|_| {
            wharf::Error::usage(format!("--created {secs:?}: give `now` or whole seconds since the Unix epoch"))
        }),
    }
}

/// Prints why `file` was not pushed (the check's report, as `wharf check` prints it) and
/// returns the verdict to exit with.
fn not_pushed(file: &Path, report: &CheckReport, format: Format) -> Verdict {
    if format == Format::Json {
        output::print_json(report);
    } else {
        super::check::print_report(&file.display().to_string(), report);
        eprintln!("not pushed: {} does not fit {}", file.display(), report.world);
    }
    Verdict::Fail
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let transport = args.transport.options_for(Some(&reference), "the destination").or_fail(format)?;
    let world = match &args.wit {
        Some(wit) => Some(
            check::load_wit_input(wit, &transport)
                .await
                .or_fail(format)?
                .world(args.world.as_deref())
                .or_fail(format)?,
        ),
        None => None,
    };
    let options = PushOptions {
        build: BuildOptions {
            created: created(args.created.as_deref()).or_fail(format)?,
            annotations: args.annotations.into_iter().collect(),
            target: None,
            scan_cache: wharf::wasm::scan_cache::ScanCache::from_env(),
        },
        extra_tags: args.tags,
        index: args.index,
        chunk_index: !args.no_chunk_index,
        transport,
        progress: Bars::for_terminal(format),
    };
    let report = match &world {
        None => wharf::push(&args.file, &reference, &options).await.or_fail(format)?,
        Some(world) => match push_checked(&args.file, &reference, world, &options).await.or_fail(format)? {
            Checked::Pushed(report) => *report,
            Checked::DoesNotFit(report) => return Ok(not_pushed(&args.file, &report, format)),
        },
    };
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
    if let Some(index) = &report.index {
        eprintln!(
            "  index {} (tagged) -> manifest {} for {}/{}",
            index.digest, report.digest, index.platform.os, index.platform.architecture
        );
    }
    eprintln!(
        "  {} sent ({}), {} already there, {} mounted",
        t.copied.len(),
        output::size(t.bytes_copied),
        t.skipped.len(),
        t.mounted.len()
    );
    if let Some(chunks) = &report.chunk_index {
        eprintln!("  chunk index {} attached ({} chunks)", chunks.digest, chunks.chunks);
    }
    Ok(Verdict::Pass)
}
