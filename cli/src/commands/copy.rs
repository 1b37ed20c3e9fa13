//! `wharf copy`

use crate::Verdict;
use crate::args::{CredentialFlags, Format, OutputArgs, TransportArgs, bound_registry, read_credentials};
use crate::output::{self, Bars, Failure, OrFail};

/// Copy an artifact from any store to any store (registry or OCI layout), digests preserved.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf copy oci:./wharf-store:hello-0.1.0 127.0.0.1:5000/hello:0.1.0
  wharf copy 127.0.0.1:5000/hello:0.1.0 oci:./mirror      (keeps the source tag)

Blobs the destination has are skipped; on the same registry they are mounted.

Credentials: --src-username with --src-password-stdin for the source's registry, --dest-username with
--dest-password-stdin (or -u/--username with --password-stdin) for the destination's. Each registry gets
its own only (or, when source and destination share a registry, the other side's as a fallback); a
registry named by neither takes its credentials from the docker config (`wharf login`). With both
passwords on standard input, it holds two lines: the source's password, then the destination's:
  printf '%s\\n%s\\n' \"$SRC_TOKEN\" \"$DST_TOKEN\" | wharf copy ghcr.io/a/app:1 registry.example/app:1 \\
      --src-username me --src-password-stdin --dest-username ci --dest-password-stdin
(skopeo's --src-creds USER:PASSWORD form is left out: a password on the command line shows in ps.)

--with-signatures also copies the artifact's cosign signatures: its Sigstore bundle referrers
(listed at the destination through its referrers API, or in a rebuilt sha256-<hex> fallback
index) and its legacy sha256-<hex>.sig tag (which replaces the destination's .sig tag).

Exit status: 0 copied; 2 bad reference, not found, or a transfer error.")]
pub struct Args {
    /// Source reference.
    source: String,
    /// Destination reference (without a tag, the source's tag is used).
    destination: String,
    /// Also copy the artifact's signatures (bundle referrers and the legacy `.sig` tag).
    #[arg(long)]
    with_signatures: bool,
    /// User name for the source's registry (with --src-password-stdin); otherwise the docker config is used.
    #[arg(long, value_name = "USER")]
    src_username: Option<String>,
    /// Read the source registry's password (or token) from standard input (with --dest-password-stdin
    /// too: its first line).
    #[arg(long)]
    src_password_stdin: bool,
    /// User name for the destination's registry (with --dest-password-stdin); the same as --username.
    #[arg(long, value_name = "USER", conflicts_with = "username")]
    dest_username: Option<String>,
    /// Read the destination registry's password (or token) from standard input; the same as
    /// --password-stdin.
    #[arg(long, conflicts_with = "password_stdin")]
    dest_password_stdin: bool,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let src = wharf::Reference::parse(&args.source).or_fail(format)?;
    let dst = wharf::Reference::parse(&args.destination).or_fail(format)?;
    let (src_transport, dst_transport) = transports(&args, &src, &dst).or_fail(format)?;
    let request = wharf::CopyRequest {
        src_transport,
        dst_transport,
        progress: Bars::for_terminal(format),
        with_signatures: args.with_signatures,
        chunk_cache: wharf::oci::chunks::ChunkCache::from_env(),
    };
    let result = wharf::copy(&src, &dst, request).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&result);
        return Ok(Verdict::Pass);
    }
    println!("{}", result.destination);
    let t = &result.transfer;
    eprintln!(
        "copied from {}: {} sent ({}), {} already there, {} mounted; tags [{}]",
        result.source,
        t.copied.len(),
        output::size(t.bytes_copied),
        t.skipped.len(),
        t.mounted.len(),
        result.tags.join(", ")
    );
    if let Some(signatures) = &t.referrers {
        eprintln!(
            "signatures: {} bundle referrer(s){}{}",
            signatures.referrers.len(),
            signatures.tags.iter().map(|tag| format!(", legacy tag {tag}")).collect::<String>(),
            match signatures.other_referrers_skipped {
                0 => String::new(),
                n => format!("; {n} other referrer(s) left behind"),
            }
        );
    }
    Ok(Verdict::Pass)
}

/// The transport of each side: the source's credentials bound to its
/// registry, the destination's to its own; each side falls back on the
/// other's only when they share a registry.
fn transports(
    args: &Args,
    src: &wharf::Reference,
    dst: &wharf::Reference,
) -> Result<(wharf::oci::transport::TransportOptions, wharf::oci::transport::TransportOptions), wharf::Error> {
    let source_flags = CredentialFlags {
        username: args.src_username.as_deref(),
        password_stdin: args.src_password_stdin,
        names: ("--src-username", "--src-password-stdin"),
    };
    let destination_flags = match &args.dest_username {
        Some(user) => CredentialFlags {
            username: Some(user),
            password_stdin: args.dest_password_stdin || args.transport.password_stdin,
            names: ("--dest-username", "--dest-password-stdin"),
        },
        None => CredentialFlags {
            password_stdin: args.dest_password_stdin || args.transport.password_stdin,
            ..args.transport.credential_flags(("--username", "--password-stdin"))
        },
    };
    let names = (source_flags.names.0, destination_flags.names.0);
    let mut read = read_credentials(&[source_flags, destination_flags])?.into_iter();
    let (src_credentials, dst_credentials) = (read.next().flatten(), read.next().flatten());
    let mut bound = Vec::new();
    if let Some(c) = src_credentials {
        bound.push((bound_registry(Some(src), "the source", names.0)?, c));
    }
    if let Some(c) = dst_credentials {
        bound.push((bound_registry(Some(dst), "the destination", names.1)?, c));
    }
    let base = args.transport.base_options();
    let bind = |order: &mut dyn Iterator<Item = &(String, wharf::oci::credentials::Credentials)>| {
        order.fold(base.clone(), |options, (registry, c)| options.with_credentials(registry, c.clone()))
    };
    let src_transport = bind(&mut bound.iter());
    let dst_transport = bind(&mut bound.iter().rev());
    Ok((src_transport, dst_transport))
}
