//! `wharf compose`

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use wharf::compose::{Composition, Delivery, PlugOptions, WacOptions};
use wharf::oci::digest::Digest;
use wharf::push::PushReport;
use wharf::wasm::compose::{Composed, PartRecord};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, reference_input};
use crate::output::{self, Bars, OrFail};

/// Compose components: from a .wac document (`wharf compose FILE.wac`), or by plugging components into
/// a socket (`wharf compose plug`).
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:
  wharf compose app.wac --dep wharf:greeter=greeter.wasm --dep wharf:name=oci:./wharf-store:name-0.1.0 -o app.wasm
  wharf compose app.wac -o app.wasm      # every package found by name through wkg's config
  wharf compose plug greeter.wasm --plug name-source.wasm -o app.wasm

FILE.wac is a wac document (https://github.com/bytecodealliance/wac). A package it uses is given with
--dep NAME=SOURCE, NAME as the document writes it (ns:pkg or ns:pkg@version), SOURCE a .wasm file or a
reference wharf can pull. A package not given is found by its name the way wkg does it: wkg's config
($XDG_CONFIG_HOME/wasm-pkg/config.toml or $WKG_CONFIG_FILE: default_registry, [namespace_registries],
[package_registry_overrides]) names the registry, whose /.well-known/wasm-pkg/registry.json may move it;
ns:pkg@1.2.3 is then REGISTRY/[PREFIX]ns/pkg:1.2.3; without a version, the repository's highest
version tag, as wkg picks it.

The digest each package resolved to is pinned in wharf.lock next to FILE.wac (or --lock), and a package
named without a version keeps its pinned version. When a source that is pinned gives other content
later, the composition fails and names the package; delete its entry to accept the change. With
--locked (for CI), a package the lock does not pin as composed is an error and the lock is never written.

--username and --password-stdin are for the registry of --push; packages read from other registries take
their credentials from the docker config (`wharf login`).

Exit status: 0 composed; 2 the document or a package cannot be read, found or does not fit, a pinned
digest changed, or a transfer failed (nothing is written or pushed)."
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The .wac document to compose.
    #[arg(value_name = "FILE.wac", required = true)]
    file: Option<PathBuf>,
    /// A package the document uses: NAME=SOURCE, NAME as the document writes it (ns:pkg or
    /// ns:pkg@version), SOURCE a .wasm file or a reference (repeatable).
    #[arg(long = "dep", value_name = "NAME=SOURCE")]
    deps: Vec<String>,
    /// The lock file pinning each package to a digest [default: wharf.lock next to FILE.wac].
    #[arg(long, value_name = "PATH")]
    lock: Option<PathBuf>,
    /// Fail unless the lock already pins every package as composed (never write the lock).
    #[arg(long)]
    locked: bool,
    #[command(flatten)]
    destination: Destination,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    format: OutputArgs,
}

/// Where the composed component goes, for both forms: `-o OUT`, `--push REF`, or both.
#[derive(clap::Args)]
#[group(id = "destination", required = true, multiple = true)]
struct Destination {
    /// Write the composed component to this file.
    #[arg(long, short = 'o', value_name = "OUT")]
    output: Option<PathBuf>,
    /// Push the composed component to this reference as a Wasm OCI artifact.
    #[arg(long, value_name = "REF")]
    push: Option<String>,
}

#[derive(clap::Subcommand)]
enum Command {
    Plug(PlugArgs),
}

/// Plug components into a socket, like `wac plug`: each import of the socket (or of another plug) is
/// satisfied by a plug exporting it. Parts are local .wasm files or references wharf can pull.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf compose plug greeter.wasm --plug name-source.wasm -o app.wasm
  wharf compose plug oci:./wharf-store:greeter-0.1.0 --plug 127.0.0.1:5000/name-source:0.1.0 \\
      --push 127.0.0.1:5000/app:0.1.0

An import is satisfied by the first plug exporting the same name, else by one exporting a
semver-compatible version of it; plugs may satisfy each other's imports. What no plug satisfies
stays an import of the result, which exports what the socket exports. Every plug must satisfy
something. The result is validated, and the same parts give the same bytes.

--push records the parts in the manifest annotation dev.wharf.composed.parts (a JSON list of
{role, source, digest}).

--username and --password-stdin are for the registry of --push (without --push, the socket's); parts
read from other registries take their credentials from the docker config (`wharf login`).

Exit status: 0 composed; 2 a part cannot be read, an export does not fit the import it matches,
a plug satisfies nothing, or a transfer failed (nothing is written or pushed).")]
pub struct PlugArgs {
    /// The socket component: a .wasm file, HOST[:PORT]/REPO[:TAG] or oci:PATH[:TAG].
    socket: String,
    /// A plug component, as for SOCKET (repeatable; order decides between plugs exporting the same name).
    #[arg(long = "plug", value_name = "PLUG", required = true)]
    plugs: Vec<String>,
    #[command(flatten)]
    destination: Destination,
    #[command(flatten)]
    transport: TransportArgs,
}

/// What `wharf compose --format json` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    /// The parts, socket first.
    parts: &'a [PartRecord],
    /// The digest of the result (JSON only: text mode hashes nothing it does not show).
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<Digest>,
    /// The result.
    #[serde(flatten)]
    composed: &'a Composed,
    /// Where it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a PathBuf>,
    /// The push, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed: Option<&'a PushReport>,
    /// The lock file (for a .wac document).
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<&'a PathBuf>,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, crate::output::Failure> {
    let format = args.format.format;
    match args.command {
        Some(Command::Plug(a)) => plug(a, format).await,
        None => wac(args, format).await,
    }
}

async fn plug(args: PlugArgs, format: Format) -> Result<Verdict, crate::output::Failure> {
    let main = args.destination.push_reference(format)?.or_else(|| reference_input(&args.socket));
    let role = "the --push destination (without --push, the socket)";
    let transport = args.transport.options_for(main.as_ref(), role).or_fail(format)?;
    let delivery = args.destination.delivery(transport, format)?;
    let options = PlugOptions { socket: args.socket, plugs: args.plugs, record_parts: format == Format::Json };
    let done = wharf::compose::plug(options, delivery).await.or_fail(format)?;
    if format == Format::Json {
        print_json(&done);
        return Ok(Verdict::Pass);
    }
    let (c, sources) = (&done.composed, &done.sources);
    let mut summary = format!(
        "composed {} with {} plug{}: {}\n",
        sources[0],
        sources.len() - 1,
        if sources.len() == 2 { "" } else { "s" },
        output::size(c.size)
    );
    for w in &c.wires {
        let by = if w.export == w.import { String::new() } else { format!(" as {}", w.export) };
        let _ = writeln!(summary, "  {} of {} <- {}{by} ({})", w.import, w.importer, w.exporter, w.exporter_source);
    }
    print_summary(summary, &done);
    Ok(Verdict::Pass)
}

async fn wac(args: Args, format: Format) -> Result<Verdict, crate::output::Failure> {
    let Some(file) = args.file else {
        return Err(wharf::Error::usage("give a .wac file, or use `wharf compose plug`")).or_fail(format);
    };
    let main = args.destination.push_reference(format)?;
    let transport = args.transport.options_for(main.as_ref(), "the --push destination").or_fail(format)?;
    let delivery = args.destination.delivery(transport, format)?;
    let options = WacOptions { file: file.clone(), deps: args.deps, lock: args.lock, locked: args.locked };
    let done = wharf::compose::wac(options, delivery).await.or_fail(format)?;
    if format == Format::Json {
        print_json(&done);
        return Ok(Verdict::Pass);
    }
    let mut summary = format!("composed {}: {}\n", file.display(), output::size(done.composed.size));
    for (part, found_in) in done.parts.iter().zip(&done.found_in) {
        let found = found_in.as_ref().map_or_else(String::new, |r| format!(", found by name through {r}"));
        let name = part.name.as_deref().unwrap_or_default();
        let _ = writeln!(summary, "  {name} = {} ({}{found})", part.source, part.digest);
    }
    if let Some(lock) = &done.lock {
        let _ = writeln!(summary, "  pinned in {}", lock.display());
    }
    print_summary(summary, &done);
    Ok(Verdict::Pass)
}

/// Prints the JSON report of a composition.
fn print_json(done: &Composition) {
    output::print_json(&Report {
        parts: &done.parts,
        digest: Some(done.composed.digest()),
        composed: &done.composed,
        output: done.output.as_ref(),
        pushed: done.pushed.as_ref(),
        lock: done.lock.as_ref(),
    });
}

impl Destination {
    /// The `--push` reference, parsed.
    fn push_reference(&self, format: Format) -> Result<Option<wharf::Reference>, crate::output::Failure> {
        self.push.as_deref().map(wharf::Reference::parse).transpose().or_fail(format)
    }

    /// The delivery to these destinations over `transport` (the push reference parsed).
    fn delivery(
        self,
        transport: wharf::oci::transport::TransportOptions,
        format: Format,
    ) -> Result<Delivery, crate::output::Failure> {
        let push = self.push.as_deref().map(wharf::Reference::parse).transpose().or_fail(format)?;
        Ok(Delivery { output: self.output, push, transport, progress: Bars::for_terminal(format) })
    }
}

/// Prints `summary` and the imports and exports of a composition on stderr, in one write, and its
/// destinations on stdout.
fn print_summary(mut summary: String, done: &Composition) {
    let c = &done.composed;
    let list = |names: &[String]| if names.is_empty() { "none".to_string() } else { names.join(", ") };
    let _ = writeln!(summary, "  imports: {}", list(&c.imports));
    let _ = writeln!(summary, "  exports: {}", list(&c.exports));
    eprint!("{summary}");
    if let Some(path) = &done.output {
        println!("{}", path.display());
    }
    if let Some(p) = &done.pushed {
        println!("{}", p.reference);
    }
}
