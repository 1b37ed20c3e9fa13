//! `wharf compose`

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use wharf::oci::annotations::Created;
use wharf::oci::digest::Digest;
use wharf::push::{PushOptions, PushReport};
use wharf::wasm::artifact::BuildOptions;
use wharf::wasm::compose::{self, Composed, PartRecord, Role, Staged};

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

/// What `wharf compose plug --format json` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// The parts, socket first.
    parts: Vec<PartRecord>,
    /// The digest of the result (JSON only: text mode hashes nothing it does not show).
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<Digest>,
    /// The result.
    #[serde(flatten)]
    composed: Composed,
    /// Where it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<PathBuf>,
    /// The push, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed: Option<PushReport>,
    /// The lock file (for a .wac document).
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<PathBuf>,
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

    let socket = compose::load_part(&args.socket, &delivery.transport).await.or_fail(format)?;
    let mut plugs = Vec::with_capacity(args.plugs.len());
    for input in &args.plugs {
        plugs.push(compose::load_part(input, &delivery.transport).await.or_fail(format)?);
    }
    // The parts' digests are shown in JSON and recorded on a push; text mode names the parts only.
    let parts: Vec<PartRecord> = if format == Format::Json || delivery.push.is_some() {
        std::iter::once(socket.record(Role::Socket)).chain(plugs.iter().map(|p| p.record(Role::Plug))).collect()
    } else {
        Vec::new()
    };
    let sources: Vec<String> =
        std::iter::once(socket.source.clone()).chain(plugs.iter().map(|p| p.source.clone())).collect();
    let plug_inputs: Vec<(&str, Vec<u8>)> =
        plugs.into_iter().zip(&sources[1..]).map(|(p, source)| (source.as_str(), p.bytes)).collect();
    let composed = compose::plug((&sources[0], socket.bytes), plug_inputs).or_fail(format)?;

    let (output, pushed) = delivery.deliver(&composed, &parts, || Ok(()), format).await?;
    let digest = (format == Format::Json).then(|| composed.digest());
    let report = Report { parts, digest, composed, output, pushed, lock: None };
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    let c = &report.composed;
    let mut summary = format!(
        "composed {} with {} plug{}: {}\n",
        sources[0],
        sources.len() - 1,
        if sources.len() == 2 { "" } else { "s" },
        output::size(c.size)
    );
    for w in &c.wires {
        let by = if w.export == w.import { String::new() } else { format!(" as {}", w.export) };
        let source = part_source(&sources, &w.exporter);
        let _ = writeln!(summary, "  {} of {} <- {}{by} ({source})", w.import, w.importer, w.exporter);
    }
    print_summary(summary, &report);
    Ok(Verdict::Pass)
}

async fn wac(args: Args, format: Format) -> Result<Verdict, crate::output::Failure> {
    let Some(file) = args.file else {
        return Err(wharf::Error::usage("give a .wac file, or use `wharf compose plug`")).or_fail(format);
    };
    let main = args.destination.push_reference(format)?;
    let transport = args.transport.options_for(main.as_ref(), "the --push destination").or_fail(format)?;
    let delivery = args.destination.delivery(transport, format)?;
    let text = std::fs::read_to_string(&file).map_err(|e| wharf::Error::io("cannot read", &file, e)).or_fail(format)?;
    let lock_path = args.lock.unwrap_or_else(|| match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("wharf.lock"),
        _ => PathBuf::from("wharf.lock"),
    });
    let lock = compose::Lock::read(&lock_path).or_fail(format)?;

    let mut deps = Vec::with_capacity(args.deps.len());
    for value in &args.deps {
        let (name, input) = compose::parse_dep(value).or_fail(format)?;
        let part = compose::load_part(&input, &delivery.transport).await.or_fail(format)?;
        let dep = compose::Dependency { name, input, part, registry: None };
        lock.verify(&dep, &lock_path).or_fail(format)?;
        deps.push(dep);
    }
    let (composed, deps) = compose::compose_with_registries(
        &file.display().to_string(),
        &text,
        deps,
        (&lock, &lock_path),
        &delivery.transport,
    )
    .await
    .or_fail(format)?;
    let parts: Vec<PartRecord> = deps.iter().map(|d| d.part.record(Role::Package).named(&d.name)).collect();

    if args.locked {
        lock.require_pinned(&deps, &lock_path).or_fail(format)?;
    }
    let pinned = lock.pinned(&deps);
    let changed = pinned.packages != lock.packages;
    let write_lock = || if changed { pinned.write(&lock_path).map_err(Into::into) } else { Ok(()) };
    let (output, pushed) = delivery.deliver(&composed, &parts, write_lock, format).await?;
    let digest = (format == Format::Json).then(|| composed.digest());
    let report = Report { parts, digest, composed, output, pushed, lock: Some(lock_path) };
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    let mut summary = format!("composed {}: {}\n", file.display(), output::size(report.composed.size));
    for (part, dep) in report.parts.iter().zip(&deps) {
        let found = dep.registry.as_ref().map_or_else(String::new, |r| format!(", found by name through {r}"));
        let name = part.name.as_deref().unwrap_or_default();
        let _ = writeln!(summary, "  {name} = {} ({}{found})", part.source, part.digest);
    }
    if let Some(lock) = &report.lock {
        let _ = writeln!(summary, "  pinned in {}", lock.display());
    }
    print_summary(summary, &report);
    Ok(Verdict::Pass)
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
        Ok(Delivery { output: self.output, push, transport })
    }
}

/// Where a composed component goes, and the transport for the parts and the push.
struct Delivery {
    output: Option<PathBuf>,
    push: Option<wharf::Reference>,
    transport: wharf::oci::transport::TransportOptions,
}

impl Delivery {
    /// Stages the file, pushes, runs `before_commit` (the lock), then renames the file into place:
    /// on any error nothing is left at the output path.
    async fn deliver(
        self,
        composed: &Composed,
        parts: &[PartRecord],
        before_commit: impl FnOnce() -> Result<(), wharf::Error>,
        format: Format,
    ) -> Result<(Option<PathBuf>, Option<PushReport>), crate::output::Failure> {
        let staged =
            self.output.as_deref().map(|path| Staged::write(path, &composed.bytes)).transpose().or_fail(format)?;
        let pushed = match &self.push {
            Some(reference) => {
                let options = PushOptions {
                    build: BuildOptions {
                        created: Created::reproducible().or_fail(format)?,
                        annotations: Default::default(),
                        target: None,
                        // A composition was just written: too fresh to cache.
                        scan_cache: None,
                    },
                    extra_tags: Vec::new(),
                    index: false,
                    transport: self.transport,
                    progress: Bars::for_terminal(format),
                };
                let name = self
                    .output
                    .as_deref()
                    .and_then(Path::file_name)
                    .map_or_else(|| format!("{}.wasm", reference.short_name()), |n| n.to_string_lossy().into_owned());
                Some(
                    wharf::compose::push_composed(&composed.bytes, &name, parts, reference, &options)
                        .await
                        .or_fail(format)?,
                )
            }
            None => None,
        };
        before_commit().or_fail(format)?;
        let output = staged.map(Staged::commit).transpose().or_fail(format)?;
        Ok((output, pushed))
    }
}

/// Prints `summary` and the imports and exports of a composition on stderr, in one write, and its
/// destinations on stdout.
fn print_summary(mut summary: String, report: &Report) {
    let c = &report.composed;
    let list = |names: &[String]| if names.is_empty() { "none".to_string() } else { names.join(", ") };
    let _ = writeln!(summary, "  imports: {}", list(&c.imports));
    let _ = writeln!(summary, "  exports: {}", list(&c.exports));
    eprint!("{summary}");
    if let Some(path) = &report.output {
        println!("{}", path.display());
    }
    if let Some(p) = &report.pushed {
        println!("{}", p.reference);
    }
}

/// The source of the part labelled `socket` or `plug N`, from the sources socket first.
fn part_source<'a>(sources: &'a [String], label: &str) -> &'a str {
    let index = label.strip_prefix("plug ").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    sources.get(index).map_or("", String::as_str)
}
