//! `wharf attest`

use std::path::PathBuf;

use wharf::sign::cosign::attest::{self, AttestOptions};

use crate::Verdict;
use crate::args::{Format, ModeArg, OutputArgs, TransportArgs};
use crate::output::{self, Failure, OrFail};
use crate::password;

/// Attest an artifact's digest: a predicate (SLSA provenance, an SBOM, ...) in a signed in-toto
/// statement, stored as cosign stores attestations (registry or OCI layout).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf sbom 127.0.0.1:5000/hello:0.1.0 -o hello.cdx.json
  wharf attest 127.0.0.1:5000/hello:0.1.0 --predicate hello.cdx.json --type cyclonedx --key cosign.key
  wharf attest oci:./wharf-store:hello-0.1.0 --predicate provenance.json --type slsaprovenance1 \\
      --key cosign.key --mode legacy

REF is resolved to its digest first; the in-toto Statement v1 names that digest as its subject (never
the tag), carries the predicate as is, and is signed in a DSSE envelope.
  bundle (default)  a Sigstore bundle v0.3 pushed as an OCI 1.1 referrer, as
                    `cosign attest --new-bundle-format` (cosign v3) writes it; on registries without the
                    referrers API the sha256-<hex> fallback tag index is kept up to date.
  legacy            the envelope as a layer under the sha256-<hex>.att tag (cosign v2's `cosign attest`).
  both              both of the above.
Attestations are appended: earlier ones, of any type, are kept.
--type takes cosign's names (slsaprovenance1, slsaprovenance02, cyclonedx, spdxjson, spdx, link, vuln,
openvex, custom) or a predicate type URI. The key password comes from WHARF_PASSWORD, else
COSIGN_PASSWORD, else a prompt on a terminal. Offline: no transparency-log entry is made.
cosign reads these with `cosign verify-attestation --key cosign.pub --insecure-ignore-tlog --type TYPE REF`.

Exit status: 0 attested; 2 bad predicate, key or password, not found, or a transfer error.")]
pub struct Args {
    /// What to attest: HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: String,
    /// The predicate: a JSON object (an SLSA provenance, a CycloneDX or SPDX document, ...).
    #[arg(long, value_name = "FILE")]
    predicate: PathBuf,
    /// The predicate type: a cosign name (slsaprovenance1, cyclonedx, spdxjson, ...) or a URI.
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: String,
    /// The private key file (cosign's encrypted PEM, or an unencrypted PKCS#8/EC key).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Which formats to write.
    #[arg(long, value_enum, default_value_t = ModeArg::Bundle)]
    mode: ModeArg,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let predicate_type = attest::predicate_type(&args.predicate_type).or_fail(format)?;
    let predicate = attest::read_predicate(&args.predicate).or_fail(format)?;
    let key = password::read_private_key(&args.key).or_fail(format)?;
    let options = AttestOptions {
        predicate_type,
        predicate,
        mode: args.mode.into(),
        transport: args.transport.options_for(Some(&reference), "the attested reference").or_fail(format)?,
    };
    let report = attest::attest(&reference, &key, &options).await.or_fail(format)?;
    if format == Format::Json {
        output::print_json(&report);
        return Ok(Verdict::Pass);
    }
    println!("{}", report.reference);
    for a in &report.attestations {
        let place = output::written_place(a, &report.digest, "attestation");
        let note = if a.appended { "" } else { " (already there)" };
        eprintln!("attested {} {} {}: {}{note}", report.predicate_type, a.format.name(), a.manifest, place);
    }
    Ok(Verdict::Pass)
}
