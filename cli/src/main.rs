//! `wharf`: package, push, pull, copy and inspect WebAssembly components as OCI artifacts.
//!
//! Exit status: 0 success, 1 a check or verification failed, 2 usage or I/O error.

mod args;
mod commands;
mod hints;
mod output;
mod password;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ship WebAssembly components through OCI registries and local OCI layouts.
#[derive(Parser)]
#[command(name = "wharf", version, about, long_about = None, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_STATUS: &str = "Exit status: 0 success, 1 a check or verification failed, 2 usage or I/O error.";

/// The commands. Each is built only when it runs (`defer`): clap otherwise builds every command's
/// arguments on every start. The one-line descriptions `wharf --help` lists are therefore here,
/// the same as each command's own doc comment (a test keeps them equal).
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// Validate a .wasm file and push it as a Wasm OCI artifact (to a registry or a local OCI layout).
    Push(commands::push::Args),
    /// Pull the Wasm binary of an artifact into a file, verified while it streams.
    Pull(commands::pull::Args),
    /// Show what an artifact (or a local .wasm file) holds: digest, media types, os, WIT imports and exports.
    Inspect(commands::inspect::Args),
    /// Attach a chunk index beside an artifact, so pulls of its later versions fetch only what changed.
    Index(commands::index::Args),
    /// Write the SBOM of a component (a local .wasm file or an artifact) from its own bytes: CycloneDX 1.5
    /// or SPDX 2.3 JSON.
    Sbom(commands::sbom::Args),
    /// Copy an artifact from any store to any store (registry or OCI layout), digests preserved.
    Copy(commands::copy::Args),
    /// Rewrite an artifact in the shape a runtime reads, reusing the same Wasm blob (no re-upload).
    Convert(commands::convert::Args),
    /// Log in to a registry: check the credentials, then store them in the docker config as docker does.
    Login(commands::login::Args),
    /// Remove a registry's credentials from the docker config.
    Logout(commands::logout::Args),
    /// Check that components fit a WIT world: each exports everything the world requires, imports
    /// nothing the world does not provide, and the types agree. Every problem is reported, in WIT.
    Check(commands::check::Args),
    /// Compose components: from a .wac document (`wharf compose FILE.wac`), or by plugging components into
    /// a socket (`wharf compose plug`).
    Compose(commands::compose::Args),
    /// Manage signing keys (cosign's file formats).
    Key(commands::key::Args),
    /// Sign an artifact's digest with a key, in cosign's formats (registry or OCI layout).
    Sign(commands::sign::Args),
    /// Attest an artifact's digest: a predicate (SLSA provenance, an SBOM, ...) in a signed in-toto
    /// statement, stored as cosign stores attestations (registry or OCI layout).
    Attest(commands::attest::Args),
    /// Verify an artifact's signatures (cosign's bundle and legacy formats) against a public key, or
    /// keyless against a Sigstore trusted root and an identity.
    Verify(commands::verify::Args),
    /// Verify an artifact's attestations of one predicate type against a public key, or keyless against a
    /// Sigstore trusted root and an identity, and print the predicates that verified.
    VerifyAttestation(commands::verify_attestation::Args),
    /// Verify a file (or its SHA-256) against a Sigstore bundle, with a public key or keyless against an
    /// identity, offline (cosign verify-blob's flags).
    VerifyBlob(commands::verify_blob::Args),
    /// Verify signatures at Kubernetes admission time (a validating and mutating webhook).
    Admission(commands::admission::Args),
    /// Generate wharf's man page or a shell's completions, from the same definitions the command line
    /// parses with.
    Generate(commands::generate::Args),
}

impl Command {
    /// Whether the command moves several blobs at once (the copy engine) or serves requests
    /// (admission), and so gets tokio's worker threads; the others run on the main thread alone,
    /// which spares starting and stopping a thread per core.
    fn needs_worker_threads(&self) -> bool {
        matches!(
            self,
            Command::Push(_) | Command::Pull(_) | Command::Copy(_) | Command::Convert(_) | Command::Admission(_)
        )
    }
}

/// What a command concluded (errors are separate).
pub enum Verdict {
    /// Done, or the check passed.
    Pass,
    /// The check or verification failed (exit 1).
    Fail,
    /// The answer is printed, but some of its inputs could not be read (exit 2).
    Incomplete,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    output::init_tracing();
    let mut builder = if cli.command.needs_worker_threads() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Push(a) => commands::push::run(a).await,
            Command::Pull(a) => commands::pull::run(a).await,
            Command::Inspect(a) => commands::inspect::run(a).await,
            Command::Index(a) => commands::index::run(a).await,
            Command::Sbom(a) => commands::sbom::run(a).await,
            Command::Copy(a) => commands::copy::run(a).await,
            Command::Convert(a) => commands::convert::run(a).await,
            Command::Login(a) => commands::login::run(a).await,
            Command::Logout(a) => commands::logout::run(a).await,
            Command::Check(a) => commands::check::run(a).await,
            Command::Compose(a) => commands::compose::run(a).await,
            Command::Key(a) => commands::key::run(a).await,
            Command::Sign(a) => commands::sign::run(a).await,
            Command::Attest(a) => commands::attest::run(a).await,
            Command::Verify(a) => commands::verify::run(a).await,
            Command::VerifyAttestation(a) => commands::verify_attestation::run(a).await,
            Command::VerifyBlob(a) => commands::verify_blob::run(a).await,
            Command::Admission(a) => commands::admission::run(a).await,
            Command::Generate(a) => commands::generate::run(a).await,
        }
    });
    match result {
        Ok(Verdict::Pass) => ExitCode::SUCCESS,
        Ok(Verdict::Fail) => ExitCode::from(1),
        Ok(Verdict::Incomplete) => ExitCode::from(2),
        Err(failure) => {
            failure.report();
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// `wharf --help` lists each command's description before the command is built (deferred);
    /// it must be what the command shows once built, from its own doc comment.
    #[test]
    fn listed_descriptions_are_the_commands_own() {
        let listed = Cli::command();
        let mut built = Cli::command();
        built.build();
        for (short, full) in listed.get_subcommands().zip(built.get_subcommands()) {
            assert_eq!(short.get_name(), full.get_name());
            let about = |c: &clap::Command| c.get_about().map(ToString::to_string);
            assert!(about(short).is_some(), "{} has no description", short.get_name());
            assert_eq!(
                about(short),
                about(full),
                "the description of {} differs from its doc comment",
                short.get_name()
            );
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
