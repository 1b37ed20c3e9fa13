//! `wharf`: package, push, pull, copy and inspect WebAssembly components as OCI artifacts.
//!
//! Exit status: 0 success, 1 a check or verification failed, 2 usage or I/O error.

mod args;
mod commands;
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

#[derive(Subcommand)]
enum Command {
    Push(commands::push::Args),
    Pull(commands::pull::Args),
    Inspect(commands::inspect::Args),
    Copy(commands::copy::Args),
    Convert(commands::convert::Args),
    Login(commands::login::Args),
    Logout(commands::logout::Args),
    Check(commands::check::Args),
    Compose(commands::compose::Args),
    Key(commands::key::Args),
    Sign(commands::sign::Args),
    Verify(commands::verify::Args),
    Admission(commands::admission::Args),
}

/// What a command concluded (errors are separate).
pub enum Verdict {
    /// Done, or the check passed.
    Pass,
    /// The check or verification failed (exit 1).
    Fail,
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
            Command::Copy(a) => commands::copy::run(a).await,
            Command::Convert(a) => commands::convert::run(a).await,
            Command::Login(a) => commands::login::run(a).await,
            Command::Logout(a) => commands::logout::run(a).await,
            Command::Check(a) => commands::check::run(a).await,
            Command::Compose(a) => commands::compose::run(a).await,
            Command::Key(a) => commands::key::run(a).await,
            Command::Sign(a) => commands::sign::run(a).await,
            Command::Verify(a) => commands::verify::run(a).await,
            Command::Admission(a) => commands::admission::run(a).await,
        }
    });
    match result {
        Ok(Verdict::Pass) => ExitCode::SUCCESS,
        Ok(Verdict::Fail) => ExitCode::from(1),
        Err(failure) => {
            failure.report();
            ExitCode::from(2)
        }
    }
}
