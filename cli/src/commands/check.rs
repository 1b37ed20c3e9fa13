//! `wharf check`

use std::path::PathBuf;

use wharf::oci::transport::TransportOptions;
use wharf::wasm::check::batch::{self, Batch, BatchOptions, DEFAULT_JOBS, MAX_JOBS, Status};
use wharf::wasm::check::{self, CheckReport, ProblemKind};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, reference_input};
use crate::output::{self, Failure, OrFail};

/// Check that components fit a WIT world: each exports everything the world requires, imports
/// nothing the world does not provide, and the types agree. Every problem is reported, in WIT.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf check filter.wasm --wit wit/                          (a WIT directory, deps/ inside)
  wharf check filter.wasm --wit plugins.wit --world filter-plugin
  wharf check 127.0.0.1:5000/filter:1.0 --wit acme-plugins.wasm --format json
  wharf check oci:./store:filter --wit 127.0.0.1:5000/acme/plugins:0.1.0   (a WIT package in a registry)
  wharf check 127.0.0.1:5000/filter:1.0                      (the world the artifact declares)
  wharf check --wit wit/ --world plugin 127.0.0.1:5000/plugins/filter    (every tag of a repository)
  wharf check --wit wit/ --world plugin a.wasm 127.0.0.1:5000/b:1 --from fleet.txt

Without --wit, a reference is checked against the world its artifact declares (config component.target,
recorded by `wharf push FILE REF --wit WIT`). That world's WIT package is fetched by name, the way wkg
maps names: wkg's config ($XDG_CONFIG_HOME/wasm-pkg/config.toml, or WKG_CONFIG_FILE) chooses the registry
(package_registry_overrides, namespace_registries, default_registry), whose
/.well-known/wasm-pkg/registry.json (or inline metadata) gives HOST/PREFIXns/pkg:version.

Versions match along semver tracks (0.2.0 with 0.2.3, 1.0.0 with 1.4.0). An older import or a newer
export is safe: semver promises that a newer version keeps what an older one had. The other way round (a
newer import, an older export), the types decide: it fits when the older side has every function, type
and resource the other needs, with compatible types, and what is missing is named. 0.0.x and pre-release
versions match only exactly.
For a reference, the artifact's config is read first; when its import and export names already show that
the component does not fit, that is the answer and the component is not downloaded.

Many components (several COMPONENTs, a repository, --from) are a batch: checked in parallel (--jobs),
a layer shared by several tags checked once, and summed up as fits / does not fit (grouped by problem) /
could not be read; --format json prints one document. A repository is a reference without tag or digest:
every tag in it, leaving out signature, attestation and referrers tags.

--username and --password-stdin are for the registry of the first component reference (for local
components, the registry of --wit); other registries, and a WIT package found by name, take their
credentials from the docker config (`wharf login`).

Exit status: 0 every component fits; 1 some do not fit (and every one could be read); 2 some could not
be read (the answer is incomplete; the others are still reported), unreadable WIT, or usage error.")]
pub struct Args {
    /// The components: local .wasm files, references (HOST[:PORT]/REPO:TAG, oci:PATH:TAG), or
    /// repositories (a reference without tag or digest: every tag in it; needs --wit).
    #[arg(value_name = "COMPONENT", required_unless_present = "from")]
    components: Vec<String>,
    /// Also check the components listed in FILE, one per line (blank lines and # comments skipped).
    #[arg(long, value_name = "FILE", requires = "wit")]
    from: Option<PathBuf>,
    /// The world's WIT: a directory (dependencies in deps/), a .wit file, a binary WIT package (.wasm),
    /// or a reference to a binary WIT package. Without it, the world the artifact declares is used.
    #[arg(long, value_name = "WIT")]
    wit: Option<String>,
    /// The world of --wit to check against (a name like filter-plugin, or ns:pkg/world@version);
    /// needed when the package defines several worlds.
    #[arg(long, value_name = "NAME", requires = "wit")]
    world: Option<String>,
    /// How many components of a batch are fetched and checked at once.
    #[arg(short = 'j', long, value_name = "N", default_value_t = DEFAULT_JOBS as u8,
          value_parser = clap::value_parser!(u8).range(1..=MAX_JOBS as i64))]
    jobs: u8,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl Args {
    /// Whether this run is a batch: several components, a list, or a repository.
    pub fn is_batch(&self) -> bool {
        self.from.is_some()
            || self.components.len() > 1
            || (self.wit.is_some() && self.components.iter().any(|c| batch::names_a_repository(c)))
    }
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let transport = args.transport.options_for(main_reference(&args).as_ref(), MAIN_ROLE).or_fail(format)?;
    if args.is_batch() {
        return run_batch(&args, &transport).await;
    }
    let component = args.components.first().map(String::as_str).unwrap_or_default();
    let target = match &args.wit {
        Some(wit) => check::load_wit_input(wit, &transport)
            .await
            .or_fail(format)?
            .world(args.world.as_deref())
            .or_fail(format)?,
        None => {
            let declared = check::load_declared_target(component, &transport).await.or_fail(format)?;
            tracing::info!(
                "checking against the declared world {} from {}",
                declared.world,
                declared.package_reference
            );
            declared.target
        }
    };
    let report = check::check_input(component, &target, &transport).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
    } else {
        print_report(component, &report);
    }
    Ok(if report.fits { Verdict::Pass } else { Verdict::Fail })
}

/// Checks many components against the world of --wit and prints the summary.
async fn run_batch(args: &Args, transport: &TransportOptions) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let Some(wit) = &args.wit else {
        return Err(wharf::Error::usage(
            "checking several components, a list or a repository needs the world to check them against",
        ))
        .or_fail(format);
    };
    let mut inputs = args.components.clone();
    if let Some(list) = &args.from {
        inputs.extend(batch::read_list(list).or_fail(format)?);
    }
    let world =
        check::load_wit_input(wit, transport).await.or_fail(format)?.world(args.world.as_deref()).or_fail(format)?;
    let options = BatchOptions { jobs: usize::from(args.jobs), ..BatchOptions::default() };
    let found = batch::check_many(world, &inputs, transport, &options).await.or_fail(format)?;
    let found = found.map_errors(|e| Unreadable::from(wharf::Error::from(e)));
    if format == Format::Json {
        output::print_json(&batch_json(&found));
    } else {
        print_batch(&found);
    }
    Ok(if found.count(Status::Unreadable) > 0 {
        Verdict::Incomplete
    } else if found.count(Status::DoesNotFit) > 0 {
        Verdict::Fail
    } else {
        Verdict::Pass
    })
}

/// Why a component of a batch could not be read, in the CLI's words.
struct Unreadable {
    kind: wharf::ErrorKind,
    message: String,
    hint: Option<String>,
}

impl From<wharf::Error> for Unreadable {
    fn from(error: wharf::Error) -> Self {
        Unreadable { kind: error.kind(), message: crate::hints::message(&error), hint: crate::hints::hint(&error) }
    }
}

/// `1 component`, `2 components`.
fn components(n: usize) -> String {
    format!("{n} component{}", if n == 1 { "" } else { "s" })
}

/// Prints a batch: the components that fit, those that do not grouped by
/// problem, those that could not be read, the matches across versions, a
/// summary line and a hint per kind of problem.
fn print_batch(found: &Batch<Unreadable>) {
    let of = |status| found.checked.iter().filter(move |c| c.status() == status);
    let fit = found.count(Status::Fits);
    if fit > 0 {
        println!("fits ({}):", components(fit));
        for checked in of(Status::Fits) {
            println!("  {}", checked.input);
        }
    }
    let misfits = found.count(Status::DoesNotFit);
    if misfits > 0 {
        println!("does not fit ({}):", components(misfits));
        for group in found.problem_groups() {
            println!("  {} ({})", group.message, components(group.inputs.len()));
            for input in group.inputs {
                println!("    {input}");
            }
        }
    }
    let unreadable = found.count(Status::Unreadable);
    if unreadable > 0 {
        println!("could not be read ({}):", components(unreadable));
        for checked in &found.checked {
            if let Err(why) = &checked.outcome {
                println!("  {}: {}", checked.input, why.message);
                if let Some(hint) = &why.hint {
                    println!("    hint: {hint}");
                }
            }
        }
    }
    for group in found.semver_groups() {
        println!("semver: {} ({})", group.matched.message, components(group.inputs.len()));
        for input in group.inputs {
            println!("    {input}");
        }
    }
    for skipped in &found.skipped {
        println!("skipped {}: {}", skipped.input, skipped.reason);
    }
    println!("{}", summary(found));
    for kind in found.kinds() {
        println!("hint: {}", kind.hint());
    }
}

/// `5 components against W: 2 fit, 2 do not fit, 1 could not be read (2 from
/// the artifact's config alone, not downloaded; 3 tags skipped)`.
fn summary(found: &Batch<Unreadable>) -> String {
    let (fit, misfits, unreadable) =
        (found.count(Status::Fits), found.count(Status::DoesNotFit), found.count(Status::Unreadable));
    let mut line = format!(
        "{} against {}: {fit} fit{}, {misfits} {} not fit",
        components(found.checked.len()),
        found.world,
        if fit == 1 { "s" } else { "" },
        if misfits == 1 { "does" } else { "do" },
    );
    if unreadable > 0 {
        line.push_str(&format!(", {unreadable} could not be read"));
    }
    let mut notes = Vec::new();
    match found.from_config() {
        0 => {}
        n => notes.push(format!("{n} answered from the artifact's config alone, not downloaded")),
    }
    match found.skipped.len() {
        0 => {}
        1 => notes.push("1 tag skipped".to_string()),
        n => notes.push(format!("{n} tags skipped")),
    }
    if !notes.is_empty() {
        line.push_str(&format!(" ({})", notes.join("; ")));
    }
    line
}

/// The batch as one JSON document.
fn batch_json(found: &Batch<Unreadable>) -> serde_json::Value {
    use serde_json::json;
    let status = |s: Status| match s {
        Status::Fits => "fits",
        Status::DoesNotFit => "does-not-fit",
        Status::Unreadable => "unreadable",
    };
    let components: Vec<serde_json::Value> = found
        .checked
        .iter()
        .map(|c| match &c.outcome {
            Ok(report) => json!({ "input": c.input, "status": status(c.status()), "report": report }),
            Err(why) => json!({
                "input": c.input,
                "status": status(c.status()),
                "error": { "kind": why.kind, "message": why.message, "hint": why.hint },
            }),
        })
        .collect();
    let problems: Vec<serde_json::Value> = found
        .problem_groups()
        .into_iter()
        .map(|g| json!({ "kind": g.kind, "message": g.message, "components": g.inputs }))
        .collect();
    let semver: Vec<serde_json::Value> = found
        .semver_groups()
        .into_iter()
        .map(|g| {
            let m = g.matched;
            json!({
                "side": m.side, "world": m.world, "component": m.component, "safe": m.safe,
                "decidedBy": m.decided_by, "message": m.message, "components": g.inputs,
            })
        })
        .collect();
    let skipped: Vec<serde_json::Value> =
        found.skipped.iter().map(|s| json!({ "input": s.input, "reason": s.reason })).collect();
    json!({
        "world": found.world,
        "fits": found.count(Status::Fits) == found.checked.len(),
        "summary": {
            "components": found.checked.len(),
            "fit": found.count(Status::Fits),
            "doNotFit": found.count(Status::DoesNotFit),
            "unreadable": found.count(Status::Unreadable),
            "fromConfig": found.from_config(),
            "skipped": found.skipped.len(),
        },
        "components": components,
        "problems": problems,
        "semverMatches": semver,
        "skipped": skipped,
    })
}

/// What --username is for in `check`, for messages.
const MAIN_ROLE: &str = "the first component reference (or --wit, when the components are local files)";

/// The reference whose registry gets --username: the component's, else
/// (for a local component) the WIT package's. Other registries (a WIT
/// package found by name, say) use the docker config.
fn main_reference(args: &Args) -> Option<wharf::Reference> {
    let in_registry = |r: &wharf::Reference| matches!(r, wharf::Reference::Registry(_));
    args.components
        .iter()
        .find_map(|c| reference_input(c).filter(in_registry))
        .or_else(|| args.wit.as_deref().and_then(reference_input).filter(in_registry))
}

/// Prints a check report as text: one line per problem, the semver pairs, a
/// summary line and a hint per kind of problem.
pub fn print_report(component: &str, report: &CheckReport) {
    for problem in &report.problems {
        println!("{problem}");
    }
    for matched in &report.semver_matches {
        println!("semver: {}", matched.message);
    }
    let basis = if report.types_checked {
        ""
    } else {
        " (from the artifact's config alone: the names already settle it, so the component was not downloaded)"
    };
    if report.fits {
        println!("{component} fits {}{basis}", report.world);
        return;
    }
    let count = report.problems.len();
    println!(
        "{component} does not fit {}: {count} problem{} ({}){basis}",
        report.world,
        if count == 1 { "" } else { "s" },
        tally(report)
    );
    for kind in kinds(report) {
        println!("hint: {}", kind.hint());
    }
}

/// The problem kinds present, in a fixed order.
fn kinds(report: &CheckReport) -> Vec<ProblemKind> {
    ProblemKind::ALL.into_iter().filter(|k| report.problems.iter().any(|p| p.kind == *k)).collect()
}

/// `1 missing export, 2 type mismatches`.
fn tally(report: &CheckReport) -> String {
    kinds(report)
        .into_iter()
        .map(|kind| {
            let n = report.problems.iter().filter(|p| p.kind == kind).count();
            let words = match (kind, n) {
                (ProblemKind::MissingExport, 1) => "missing export",
                (ProblemKind::MissingExport, _) => "missing exports",
                (ProblemKind::ImportNotAllowed, 1) => "import not allowed",
                (ProblemKind::ImportNotAllowed, _) => "imports not allowed",
                (ProblemKind::TypeMismatch, 1) => "type mismatch",
                (ProblemKind::TypeMismatch, _) => "type mismatches",
                (ProblemKind::VersionMismatch, 1) => "version mismatch",
                (ProblemKind::VersionMismatch, _) => "version mismatches",
            };
            format!("{n} {words}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
