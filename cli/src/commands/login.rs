//! `wharf login`

use wharf::oci::credentials::Stored;

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, read_password_stdin};
use crate::output::{self, Failure, OrFail};

/// Log in to a registry: check the credentials, then store them in the docker config as docker does.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  echo \"$TOKEN\" | wharf login ghcr.io -u me --password-stdin

Writes $DOCKER_CONFIG/config.json (else ~/.docker/config.json), keeping every other entry.

Exit status: 0 logged in; 2 credentials refused, registry unreachable, or the config cannot be written.")]
pub struct Args {
    /// Registry host, with port if any (for example 127.0.0.1:5000).
    registry: String,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let Some(username) = args.transport.username.clone() else {
        return Err(wharf::Error::usage(
            "give the user name with --username and the password on standard input with --password-stdin",
        ))
        .or_fail(format);
    };
    let password = read_password_stdin().or_fail(format)?;
    let credentials = wharf::oci::credentials::Credentials { username, password };
    let transport = args.transport.base_options();
    let registry = wharf::login(&args.registry, &transport, &credentials).await.or_fail(format)?;
    let stored = wharf::login::store(&registry, &credentials).or_fail(format)?;
    if format == Format::Json {
        output::print_json(&serde_json::json!({ "registry": registry, "stored": stored }));
    } else {
        let place = match &stored {
            Stored::ConfigFile { path } => path.display().to_string(),
            Stored::Helper { name } => format!("the credential helper docker-credential-{name}"),
        };
        println!("Login succeeded: {registry} (credentials stored in {place})");
    }
    Ok(Verdict::Pass)
}
