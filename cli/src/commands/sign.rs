//! `wharf sign`

use std::path::PathBuf;

use wharf::sign::cosign::{self, SignOptions};

use crate::Verdict;
use crate::args::{Format, ModeArg, OutputArgs, TransportArgs, parse_annotation};
use crate::output::{self, Failure, OrFail};
use crate::password;

/// Sign an artifact's digest with a key, in cosign's formats (registry or OCI layout).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf sign 127.0.0.1:5000/hello:0.1.0 --key cosign.key
  wharf sign oci:./wharf-store:hello-0.1.0 --key cosign.key --mode both -a env=prod

REF is resolved to its digest first; the digest is signed, never the tag.
  bundle (default)  Sigstore bundle v0.3 (DSSE, in-toto statement) pushed as an OCI 1.1 referrer,
                    as cosign v3 writes it; on registries without the referrers API the
                    sha256-<hex> fallback tag index is kept up to date.
  legacy            simple signing under the sha256-<hex>.sig tag (cosign v2); appended, never replaced.
  both              both of the above.
The key password comes from WHARF_PASSWORD, else COSIGN_PASSWORD, else a prompt on a terminal.
cosign verifies these with `cosign verify --key cosign.pub --insecure-ignore-tlog REF`
(wharf signs offline: no transparency-log entry).

Exit status: 0 signed; 2 bad key or password, not found, or a transfer error.")]
pub struct Args {
    /// What to sign: HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: String,
    /// The private key file (cosign's encrypted PEM, or an unencrypted PKCS#8/EC key).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Which signature formats to write.
    #[arg(long, value_enum, default_value_t = ModeArg::Bundle)]
    mode: ModeArg,
    /// An annotation to sign, KEY=VALUE (repeatable; `wharf verify --annotation` can require it).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE", value_parser = parse_annotation)]
    annotations: Vec<(String, String)>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let key = password::read_private_key(&args.key).or_fail(format)?;
    let options = SignOptions {
        mode: args.mode.into(),
        annotations: args.annotations.into_iter().collect(),
        transport: args.transport.options_for(Some(&reference), "the signed reference").or_fail(format)?,
    };
    let report = cosign::sign(&reference, &key, &options).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    println!("{}", report.reference);
    for s in &report.signatures {
        let place = output::written_place(s, &report.digest, "signature");
        let note = if s.appended { "" } else { " (already there)" };
        eprintln!("signed {} {}: {}{note}", s.format.name(), s.manifest, place);
    }
    Ok(Verdict::Pass)
}
