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
  wharf push hello.wasm 127.0.0.1:5000/hello:0.1.0 --sbom --key cosign.key   (and attests its SBOM)
  wharf push app.wasm 127.0.0.1:5000/app:2.0.0 --chunk-index   (later pulls fetch only changed chunks)

Prints REF@sha256:... on stdout. The same file and flags give the same digest on every machine
(created comes from SOURCE_DATE_EPOCH, else the Unix epoch; --created now opts out).

With --wit, a component that does not fit the world is not pushed: the problems are printed as
`wharf check` prints them and the exit status is 1. One that fits is pushed with the world recorded in
the config's component.target (ns:pkg/world@version), which `wharf inspect` shows.

--sbom[=cyclonedx|spdx] also writes the component's SBOM (as `wharf sbom` does) and attests it with
--key about the pushed manifest's digest, as `wharf attest --type cyclonedx|spdxjson` does (a bundle
referrer; --sbom-mode legacy|both for the .att tag). The key and its password are read before the
push, so a bad key pushes nothing.

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
    /// Also attach a chunk index beside the artifact (layers of 2 MiB and more), so that pulls of a
    /// later version fetch only the chunks that changed. Off by default: it costs the push the
    /// cutting and a few requests (an 18 MiB component: 162 ms fresh without, 220 ms with).
    #[arg(long)]
    chunk_index: bool,
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
    /// Also attest the component's SBOM (CycloneDX by default, or SPDX) about the pushed manifest.
    #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "cyclonedx", requires = "key")]
    sbom: Option<SbomKind>,
    /// The private key that signs the SBOM attestation (with --sbom).
    #[arg(long, value_name = "FILE", requires = "sbom")]
    key: Option<PathBuf>,
    /// Where the SBOM attestation is stored: a bundle referrer, the .att tag, or both.
    #[arg(long, value_enum, value_name = "MODE", requires = "sbom", default_value_t = SbomMode::Bundle)]
    sbom_mode: SbomMode,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `--sbom`: the SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SbomKind {
    /// CycloneDX 1.5 JSON (predicate type https://cyclonedx.org/bom).
    Cyclonedx,
    /// SPDX 2.3 JSON (predicate type https://spdx.dev/Document).
    Spdx,
}

/// `--sbom-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SbomMode {
    /// Sigstore bundle v0.3 as an OCI 1.1 referrer (cosign v3 --new-bundle-format).
    Bundle,
    /// A DSSE layer under the sha256-<hex>.att tag (cosign v2).
    Legacy,
    /// Both formats.
    Both,
}

/// What `--sbom` needs, ready before the push: the format, the key, where to store.
struct SbomRequest {
    format: wharf::wasm::sbom::Format,
    key: wharf::sign::PrivateKey,
    mode: wharf::sign::cosign::Mode,
}

/// Reads the key (asking for its password) for `--sbom`, before anything is pushed.
fn sbom_request(args: &Args) -> Result<Option<SbomRequest>, wharf::Error> {
    let (Some(kind), Some(path)) = (args.sbom, &args.key) else {
        return Ok(None);
    };
    let key = crate::password::read_private_key(path)?;
    let format = match kind {
        SbomKind::Cyclonedx => wharf::wasm::sbom::Format::CycloneDx,
        SbomKind::Spdx => wharf::wasm::sbom::Format::Spdx,
    };
    let mode = match args.sbom_mode {
        SbomMode::Bundle => wharf::sign::cosign::Mode::Bundle,
        SbomMode::Legacy => wharf::sign::cosign::Mode::Legacy,
        SbomMode::Both => wharf::sign::cosign::Mode::Both,
    };
    Ok(Some(SbomRequest { format, key, mode }))
}

/// The push report, with the SBOM attestation when one was asked for (`--format json`).
#[derive(serde::Serialize)]
struct Pushed<'a> {
    #[serde(flatten)]
    push: &'a wharf::push::PushReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    sbom: Option<&'a wharf::sign::cosign::attest::AttestReport>,
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
    let sbom = sbom_request(&args).or_fail(format)?;
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
        chunk_index: args.chunk_index,
        transport: transport.clone(),
        progress: Bars::for_terminal(format),
    };
    let report = match &world {
        None => wharf::push(&args.file, &reference, &options).await.or_fail(format)?,
        Some(world) => match push_checked(&args.file, &reference, world, &options).await.or_fail(format)? {
            Checked::Pushed(report) => *report,
            Checked::DoesNotFit(report) => return Ok(not_pushed(&args.file, &report, format)),
        },
    };
    let attested = match &sbom {
        Some(request) => {
            let document = wharf::sbom::sbom_of_pushed_file(&args.file, &reference, &report.digest, request.format)
                .or_fail(format)?;
            let attest = wharf::sbom::attest_sbom(
                &reference,
                &report.digest,
                &document,
                request.format,
                &request.key,
                request.mode,
                &transport,
            );
            Some(attest.await.or_fail(format)?)
        }
        None => None,
    };
    if format == Format::Json {
        output::print_json(&Pushed { push: &report, sbom: attested.as_ref() });
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
    if let Some(attested) = &attested {
        for a in &attested.attestations {
            eprintln!("  SBOM attested ({}): {} {}", attested.predicate_type, a.format.name(), a.manifest);
        }
    }
    Ok(Verdict::Pass)
}
