//! `wharf key generate`

use std::path::PathBuf;

use crate::Verdict;
use crate::args::{Format, OutputArgs};
use crate::output::{self, Failure, OrFail};
use crate::password;

/// Manage signing keys (cosign's file formats).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(clap::Subcommand)]
enum KeyCommand {
    Generate(GenerateArgs),
}

/// Generate an ECDSA P-256 key pair: PREFIX.key (encrypted, cosign's format) and PREFIX.pub.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  WHARF_PASSWORD=... wharf key generate                 writes cosign.key and cosign.pub
  wharf key generate --output release                   prompts for a password, writes release.key and release.pub

The password comes from WHARF_PASSWORD, else COSIGN_PASSWORD, else a prompt on a terminal
(asked twice); an empty password is allowed. The .key file is an ENCRYPTED SIGSTORE PRIVATE KEY
(scrypt N=2^16 + nacl/secretbox around PKCS#8), readable by cosign; existing files are never overwritten.

Exit status: 0 written; 2 a file exists, or no password could be read.")]
struct GenerateArgs {
    /// Path prefix of the two files written (PREFIX.key, PREFIX.pub).
    #[arg(long, short = 'o', value_name = "PREFIX", default_value = "cosign")]
    output: PathBuf,
    #[command(flatten)]
    format: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    match args.command {
        KeyCommand::Generate(a) => generate(a),
    }
}

fn generate(args: GenerateArgs) -> Result<Verdict, Failure> {
    let format = args.format.format;
    let password = password::for_new_key().or_fail(format)?;
    let (key_path, pub_path, public) =
        wharf::sign::keys::generate_key_pair(&args.output, password.as_bytes()).or_fail(format)?;
    if format == Format::Json {
        output::print_json(&serde_json::json!({
            "privateKey": key_path,
            "publicKey": pub_path,
            "algorithm": "ecdsa-p256-sha256",
            "keyHint": public.hint(),
        }));
    } else {
        println!("{}", pub_path.display());
        eprintln!("wrote {} (private, encrypted) and {} (public)", key_path.display(), pub_path.display());
    }
    Ok(Verdict::Pass)
}
