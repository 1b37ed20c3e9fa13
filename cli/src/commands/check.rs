//! `wharf check`

use wharf::wasm::check::{self, CheckReport, ProblemKind};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, reference_input};
use crate::output::{self, Failure, OrFail};

/// Check that a component fits a WIT world: it exports everything the world requires, imports
/// nothing the world does not provide, and the types agree. Every problem is reported, in WIT.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf check filter.wasm --wit wit/                          (a WIT directory, deps/ inside)
  wharf check filter.wasm --wit plugins.wit --world filter-plugin
  wharf check 127.0.0.1:5000/filter:1.0 --wit acme-plugins.wasm --format json
  wharf check oci:./store:filter --wit 127.0.0.1:5000/acme/plugins:0.1.0   (a WIT package in a registry)
  wharf check 127.0.0.1:5000/filter:1.0                      (the world the artifact declares)

Without --wit, a reference is checked against the world its artifact declares (config component.target,
recorded by `wharf push FILE REF --wit WIT`). That world's WIT package is fetched by name, the way wkg
maps names: wkg's config ($XDG_CONFIG_HOME/wasm-pkg/config.toml, or WKG_CONFIG_FILE) chooses the registry
(package_registry_overrides, namespace_registries, default_registry), whose
/.well-known/wasm-pkg/registry.json (or inline metadata) gives HOST/PREFIXns/pkg:version.

Versions match along semver tracks (0.2.0 with 0.2.3, 1.0.0 with 1.4.0) when the types agree and the
direction is safe: the component may import an older version than the world provides, and export a newer
one than the world requires. 0.0.x and pre-release versions match only exactly.
For a reference, the artifact's config is read first; when its import and export names already show that
the component does not fit, that is the answer and the component is not downloaded.

--username and --password-stdin are for the component's registry (for a local component, the registry of
--wit); a WIT package found by name takes its credentials from the docker config (`wharf login`).

Exit status: 0 fits; 1 does not fit; 2 unreadable input (WIT, component, reference) or usage error.")]
pub struct Args {
    /// The component: a local .wasm file, or a reference (HOST[:PORT]/REPO[:TAG], oci:PATH[:TAG]).
    component: String,
    /// The world's WIT: a directory (dependencies in deps/), a .wit file, a binary WIT package (.wasm),
    /// or a reference to a binary WIT package. Without it, the world the artifact declares is used.
    #[arg(long, value_name = "WIT")]
    wit: Option<String>,
    /// The world of --wit to check against (a name like filter-plugin, or ns:pkg/world@version);
    /// needed when the package defines several worlds.
    #[arg(long, value_name = "NAME", requires = "wit")]
    world: Option<String>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let transport = args.transport.options_for(main_reference(&args).as_ref(), MAIN_ROLE).or_fail(format)?;
    let target = match &args.wit {
        Some(wit) => check::load_wit_input(wit, &transport)
            .await
            .or_fail(format)?
            .world(args.world.as_deref())
            .or_fail(format)?,
        None => {
            let declared = check::load_declared_target(&args.component, &transport).await.or_fail(format)?;
            tracing::info!(
                "checking against the declared world {} from {}",
                declared.world,
                declared.package_reference
            );
            declared.target
        }
    };
    let report = check::check_input(&args.component, &target, &transport).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
    } else {
        print_report(&args.component, &report);
    }
    Ok(if report.fits { Verdict::Pass } else { Verdict::Fail })
}

/// What --username is for in `check`, for messages.
const MAIN_ROLE: &str = "the component (or --wit, when the component is a local file)";

/// The reference whose registry gets --username: the component's, else
/// (for a local component) the WIT package's. Other registries (a WIT
/// package found by name, say) use the docker config.
fn main_reference(args: &Args) -> Option<wharf::Reference> {
    let in_registry = |r: &wharf::Reference| matches!(r, wharf::Reference::Registry(_));
    reference_input(&args.component)
        .filter(in_registry)
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
    [ProblemKind::MissingExport, ProblemKind::ImportNotAllowed, ProblemKind::TypeMismatch, ProblemKind::VersionMismatch]
        .into_iter()
        .filter(|k| report.problems.iter().any(|p| p.kind == *k))
        .collect()
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
