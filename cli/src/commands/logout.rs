//! `wharf logout`

use crate::Verdict;
use crate::args::{Format, OutputArgs};
use crate::output::{self, Failure, OrFail};

/// Remove a registry's credentials from the docker config.
#[derive(clap::Args)]
#[command(after_help = "Exit status: 0 removed (or there were none); 2 the config cannot be read or written.")]
pub struct Args {
    /// Registry host, with port if any.
    registry: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let removed = wharf::logout(&args.registry).or_fail(format)?;
    if format == Format::Json {
        output::print_json(&serde_json::json!({ "registry": args.registry, "removed": removed }));
    } else if removed {
        println!("Removed credentials for {}", args.registry);
    } else {
        println!("No credentials were stored for {}", args.registry);
    }
    Ok(Verdict::Pass)
}
