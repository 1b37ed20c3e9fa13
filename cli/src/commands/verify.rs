//! `wharf verify`

use std::path::PathBuf;

use wharf::sign::cosign::{self, VerifyOptions};
use wharf::sign::{self, sigstore::keyless};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs, parse_annotation};
use crate::output::{self, Failure, OrFail};

/// Verify an artifact's signatures (cosign's bundle and legacy formats) against a public key, or
/// keyless against a Sigstore trusted root and an identity.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf verify 127.0.0.1:5000/hello:0.1.0 --key cosign.pub
  wharf verify oci:./wharf-store:hello-0.1.0 --key cosign.pub -a env=prod --format json
  wharf verify REF --certificate-identity you@example.com \
      --certificate-oidc-issuer https://github.com/login/oauth --trusted-root trusted_root.json

REF is resolved to its digest; every signature of that digest is found (bundle referrers through the
referrers API or the sha256-<hex> fallback tag, and the sha256-<hex>.sig tag) and checked: the signature
against the key, the signed digest against REF's, and the required annotations. Each one is listed
with its verdict and, if rejected, the reason. Nothing is fetched but the registry's content.

Keyless (all three options together): a bundle's Fulcio certificate must chain to a CA of the trusted
root at the time of signing, carry an SCT of one of its CT logs, name the identity (SAN) and the OIDC
issuer, and the signature must be in one of its Rekor logs (inclusion promise, or inclusion proof and
checkpoint; Rekor v2 with an RFC 3161 timestamp); all offline, with the same verifier as
`wharf verify-blob`. This holds for bundles and for legacy .sig signatures (certificate and Rekor
bundle in layer annotations). --key with --trusted-root: the signature must also be in one of the
root's logs (see docs/signing.md).

Exit status: 0 at least one signature satisfies the request; 1 none does (or none was found);
2 unreadable key, bad reference, or a registry error.")]
pub struct Args {
    /// What to verify: HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: String,
    /// The public key file (PEM PUBLIC KEY, as `cosign.pub`): ECDSA P-256, Ed25519 or RSA. With
    /// --trusted-root, each bundle must also carry a log entry of one of its transparency logs.
    #[arg(long, value_name = "FILE", required_unless_present = "trusted_root", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"])]
    key: Option<PathBuf>,
    /// Keyless: the identity the certificate must name (an email or a URI).
    #[arg(long, value_name = "ID", requires = "trusted_root", conflicts_with = "certificate_identity_regexp")]
    certificate_identity: Option<String>,
    /// Keyless: a regular expression the whole identity must match (anchored, unlike cosign's).
    #[arg(long, value_name = "REGEX", requires = "trusted_root")]
    certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer the certificate must name.
    #[arg(long, value_name = "ISSUER", requires = "trusted_root", conflicts_with = "certificate_oidc_issuer_regexp")]
    certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression the whole OIDC issuer must match (anchored).
    #[arg(long, value_name = "REGEX", requires = "trusted_root")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// The Sigstore trusted root (trusted_root.json: Fulcio CAs, Rekor, CT logs, timestamp authorities):
    /// keyless, or with --key to require the signature in one of its transparency logs.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// An annotation every accepted signature must carry, KEY=VALUE (repeatable).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE", value_parser = parse_annotation)]
    annotations: Vec<(String, String)>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// An exact value or an anchored pattern, from the pair of flags that give it.
pub(crate) fn matcher(
    exact: Option<String>,
    pattern: Option<String>,
) -> Result<Option<keyless::Matcher>, wharf::Error> {
    match (exact, pattern) {
        (Some(value), _) => Ok(Some(keyless::Matcher::Exact(value))),
        (None, Some(text)) => Ok(Some(keyless::Matcher::pattern(&text)?)),
        (None, None) => Ok(None),
    }
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let reference = wharf::Reference::parse(&args.reference).or_fail(format)?;
    let identity = matcher(args.certificate_identity, args.certificate_identity_regexp).or_fail(format)?;
    let issuer = matcher(args.certificate_oidc_issuer, args.certificate_oidc_issuer_regexp).or_fail(format)?;
    let trust = match (&args.key, &args.trusted_root, identity, issuer) {
        (Some(key), None, _, _) => sign::Trust::Key(sign::read_public_key(key).or_fail(format)?),
        (Some(key), Some(root), _, _) => sign::Trust::ManagedKey {
            key: sign::read_public_key(key).or_fail(format)?,
            root: sign::read_trusted_root(root).or_fail(format)?,
        },
        (None, Some(root), Some(identity), Some(issuer)) => sign::Trust::Keyless {
            root: sign::read_trusted_root(root).or_fail(format)?,
            expected: keyless::ExpectedIdentity { identity, issuer },
        },
        _ => {
            return Err(wharf::Error::usage(
                "give --key FILE, or --trusted-root with --certificate-identity[-regexp] and \
                 --certificate-oidc-issuer[-regexp]",
            ))
            .or_fail(format);
        }
    };
    let options = VerifyOptions {
        annotations: args.annotations.into_iter().collect(),
        transport: args.transport.options_for(Some(&reference), "the reference").or_fail(format)?,
    };
    let report = cosign::verify_with(&reference, &trust, &options).await.or_fail(format)?;
    let verdict = if report.verified { Verdict::Pass } else { Verdict::Fail };
    if format == Format::Json {
        output::print_json(&report);
        return Ok(verdict);
    }
    println!("{}", report.reference);
    if report.signatures.is_empty() {
        eprintln!("no signatures found for {} (neither bundle referrers nor a .sig tag)", report.digest);
    }
    for s in &report.signatures {
        match (&s.reason, s.verified) {
            (_, true) => match &s.keyless {
                Some(k) => eprintln!(
                    "ok        {} {}: {} from {}, logged in {}{}{}",
                    s.format.name(),
                    s.location,
                    k.identity,
                    k.issuer,
                    k.log,
                    k.log_index.map(|i| format!(" #{i}")).unwrap_or_default(),
                    k.integrated_time.map(|t| format!(" at {t}")).unwrap_or_default()
                ),
                None => eprintln!("ok        {} {}", s.format.name(), s.location),
            },
            (Some(reason), false) => eprintln!("rejected  {} {}: {reason}", s.format.name(), s.location),
            (None, false) => eprintln!("rejected  {} {}", s.format.name(), s.location),
        }
    }
    if report.verified {
        eprintln!(
            "verified: {} of {} signature(s) accepted",
            report.signatures.iter().filter(|s| s.verified).count(),
            report.signatures.len()
        );
    } else {
        eprintln!("verification failed: no signature satisfies the request");
    }
    Ok(verdict)
}
