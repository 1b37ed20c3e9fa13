//! `wharf admission manifests`

use std::path::PathBuf;

use wharf::admission::FailMode;
use wharf::admission::manifests::{self, Certificates, InstallOptions};

use crate::Verdict;
use crate::args::Format;
use crate::output::{Failure, OrFail};

/// Print every Kubernetes object the webhook needs, for `kubectl apply -f -`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf admission manifests --policy policy.yaml --image registry.example.com/wharf@sha256:… | kubectl apply -f -
  wharf admission manifests --policy policy.yaml --image IMAGE --cert-manager --client-ca apiserver-client-ca.crt

One YAML stream: Namespace, ServiceAccount, ConfigMap (the policy), Secret (the keys and trusted roots the
policy names, its paths rewritten to where they are mounted), the TLS Secret (a CA and a serving certificate
for wharf-admission.NAMESPACE.svc generated now; the CA's key is thrown away) or with --cert-manager a
cert-manager CA, Issuers and Certificate, Deployment, Service, PodDisruptionBudget, NetworkPolicy, and the
mutating and validating webhook configurations. The output holds the serving certificate's private key:
pipe it to kubectl, do not keep it. See docs/admission.md.

Exit status: 2 the policy, a file it names, the client CA or an option cannot be used.")]
pub struct ManifestsArgs {
    /// The policy file (YAML); the key and trusted-root files it names are read too.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The webhook's image, as the cluster pulls it (pin it: IMAGE@sha256:…).
    #[arg(long, value_name = "IMAGE")]
    image: String,
    /// The namespace of the webhook's objects.
    #[arg(long, value_name = "NAMESPACE", default_value = manifests::DEFAULT_NAMESPACE)]
    namespace: String,
    /// How many webhook pods.
    #[arg(long, value_name = "N", default_value_t = 2)]
    replicas: u32,
    /// deny: deny an image whose registry cannot be asked; allow: admit it, with a warning (admission
    /// serve --fail-mode). The webhooks' failurePolicy is Fail either way.
    #[arg(long, value_name = "MODE", default_value = "deny", value_parser = super::parse_fail_mode)]
    fail_mode: FailMode,
    /// Let cert-manager issue and renew the serving certificate (and set caBundle) instead of generating one.
    #[arg(long)]
    cert_manager: bool,
    /// Days the generated CA and serving certificate are valid.
    #[arg(long, value_name = "DAYS", default_value_t = manifests::DEFAULT_CERTIFICATE_DAYS, conflicts_with = "cert_manager")]
    certificate_days: u32,
    /// Answer only clients with a certificate from this CA (PEM, the CA's certificate only): the API
    /// server, configured as docs/admission.md shows.
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// An existing kubernetes.io/dockerconfigjson Secret in the namespace: the webhook's registry credentials.
    #[arg(long, value_name = "SECRET")]
    registry_secret: Option<String>,
    /// Where the API server calls from (repeat for several): the NetworkPolicy admits reviews from these only.
    #[arg(long, value_name = "CIDR")]
    apiserver_cidr: Vec<String>,
}

/// Runs the command.
pub fn run(args: ManifestsArgs) -> Result<Verdict, Failure> {
    let format = Format::Text;
    let options = InstallOptions {
        namespace: args.namespace,
        replicas: args.replicas,
        fail_mode: args.fail_mode,
        certificates: if args.cert_manager {
            Certificates::CertManager
        } else {
            Certificates::Generated { days: args.certificate_days }
        },
        client_ca: args.client_ca,
        registry_secret: args.registry_secret,
        apiserver_cidrs: args.apiserver_cidr,
        ..InstallOptions::new(args.policy, args.image)
    };
    let yaml = manifests::generate(&options, super::serve_command_line)
        .and_then(|install| install.to_yaml())
        .or_fail(format)?;
    print!("{yaml}");
    Ok(Verdict::Pass)
}
