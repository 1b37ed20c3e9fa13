//! `wharf admission serve`, `wharf admission check` (and `wharf admission manifests`, in
//! `admission/manifests.rs`)

mod manifests;

use std::net::SocketAddr;
use std::path::PathBuf;

use wharf::admission::manifests::Serve;
use wharf::admission::policy::{self, Policy};
use wharf::admission::server::{ReloadCause, ReloadEvent};
use wharf::admission::state::{self, Admission, FailMode, Settings};

use crate::Verdict;
use crate::args::{Format, OutputArgs, TransportArgs};
use crate::output::{self, Failure, OrFail};

/// Verify signatures at Kubernetes admission time (a validating and mutating webhook).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AdmissionCommand,
}

#[derive(clap::Subcommand)]
enum AdmissionCommand {
    Serve(ServeArgs),
    Check(CheckArgs),
    Manifests(manifests::ManifestsArgs),
}

/// Serve the admission webhook over HTTPS: /validate, /mutate, /healthz, /readyz, /metrics.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf admission serve --policy policy.yaml --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key
  wharf admission serve ... --client-ca apiserver-client-ca.crt --metrics-listen 0.0.0.0:9090

With --client-ca only clients with a certificate from that CA (the API server) get past the TLS
handshake; probe /healthz and /readyz on the --metrics-listen address then, which needs none.

The policy is read and its keys loaded at start; an invalid policy (the error names the line) or an
unreadable key stops the server before it listens. On SIGHUP, and when the file changes (checked
every 2 s; a ConfigMap update's symlink swap counts), it is read again: a valid policy takes over under a new generation (no
verdict of the old one is reused), an invalid one is logged on stderr and the old one stays. Registry credentials come from the docker config
(DOCKER_CONFIG). Registry requests time out after 4 s unless --connect-timeout / --read-timeout say
otherwise; the whole review of one image is bounded by the policy's limits.imageSeconds (default 8).
The serving certificate is read again when --tls-cert and --tls-key change (cert-manager renewing it):
a matching pair is served from then on, a mismatched one is logged and the old pair stays.
See docs/admission.md for the policy format, and `wharf admission manifests` for the Kubernetes objects.

Exit status: 2 the policy, a key, a certificate or the address cannot be used (it never exits otherwise).")]
struct ServeArgs {
    /// The policy file (YAML).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// The server's certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    tls_cert: PathBuf,
    /// The server's private key (PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: PathBuf,
    /// Require a client certificate issued by a CA in FILE (PEM), as the API server presents from its
    /// AdmissionConfiguration; other clients are refused in the TLS handshake.
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// What to do with an image whose registry cannot be asked: deny (fail closed) or allow.
    #[arg(long, value_name = "MODE", default_value = "deny", value_parser = parse_fail_mode)]
    fail_mode: FailMode,
    /// Seconds a positive verdict is cached.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    cache_ttl: u64,
    /// Seconds a negative verdict is cached.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    negative_cache_ttl: u64,
    /// Serve /metrics (and /healthz, /readyz) on this address over plain HTTP instead of the HTTPS listener.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Seconds a client may take over each of the TLS handshake, the request head and the body.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    client_timeout: u64,
    /// Seconds the API server waits for an answer (the webhooks' timeoutSeconds): every review is
    /// answered a second before, counted from its arrival, and a policy whose limits.imageSeconds
    /// does not end 2 s before is refused.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(3..=30))]
    webhook_timeout: u64,
    #[command(flatten)]
    transport: TransportArgs,
}

/// Evaluate the policy on a manifest file (offline unless a rule needs signatures), for CI.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf admission check --policy policy.yaml deploy.yaml

Every image of every Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job and CronJob in the
file (several YAML documents may be separated by ---) is decided as the webhook would; rules with
authorities resolve the image and verify its signatures in the registry.

Exit status: 0 every image admitted; 1 some image denied; 2 the policy or manifest cannot be read.")]
struct CheckArgs {
    /// The policy file (YAML).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The manifest file (YAML).
    manifest: PathBuf,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `--fail-mode`'s words: deny or allow.
pub(super) fn parse_fail_mode(s: &str) -> Result<FailMode, String> {
    match s {
        "deny" => Ok(FailMode::Deny),
        "allow" => Ok(FailMode::Allow),
        _ => Err("use deny or allow".into()),
    }
}

/// The word [`parse_fail_mode`] reads as `mode`.
fn fail_mode_word(mode: FailMode) -> &'static str {
    match mode {
        FailMode::Deny => "deny",
        FailMode::Allow => "allow",
    }
}

/// The arguments of `wharf admission serve` that run the webhook as `serve` says: the
/// container's command line in `admission manifests`' Deployment.
pub(super) fn serve_command_line(serve: &Serve) -> Vec<String> {
    let mut args: Vec<String> = [
        "admission",
        "serve",
        "--policy",
        &serve.policy,
        "--listen",
        &serve.listen,
        "--tls-cert",
        &serve.tls_cert,
        "--tls-key",
        &serve.tls_key,
        "--metrics-listen",
        &serve.metrics_listen,
        "--fail-mode",
        fail_mode_word(serve.fail_mode),
        "--webhook-timeout",
        &serve.webhook_timeout.to_string(),
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    if let Some(ca) = &serve.client_ca {
        args.extend(["--client-ca".to_string(), ca.clone()]);
    }
    args
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    match args.command {
        AdmissionCommand::Serve(a) => serve(a).await,
        AdmissionCommand::Check(a) => check(a).await,
        AdmissionCommand::Manifests(a) => manifests::run(a),
    }
}

async fn serve(args: ServeArgs) -> Result<Verdict, Failure> {
    let format = Format::Text;
    let policy = Policy::load(&args.policy).or_fail(format)?;
    let mut transport = args.transport.options().or_fail(format)?;
    transport.connect_timeout.get_or_insert(state::REQUEST_TIMEOUT);
    transport.read_timeout.get_or_insert(state::REQUEST_TIMEOUT);
    let settings = Settings {
        transport,
        fail_mode: args.fail_mode,
        ttl: std::time::Duration::from_secs(args.cache_ttl),
        negative_ttl: std::time::Duration::from_secs(args.negative_cache_ttl),
        webhook_timeout: std::time::Duration::from_secs(args.webhook_timeout),
        record_world: crate::hints::RECORD_WORLD.into(),
        ..Settings::default()
    };
    let admission = Admission::new(policy, settings).or_fail(format)?;
    let generation = admission.generation();
    let (tls, certificate) =
        wharf::admission::tls_reload::tls_config(&args.tls_cert, &args.tls_key, args.client_ca.as_deref())
            .or_fail(format)?;
    let mut server = wharf::admission::server::Server::bind(args.listen, tls, admission)
        .await
        .or_fail(format)?
        .client_timeout(std::time::Duration::from_secs(args.client_timeout.max(1)))
        .or_fail(format)?;
    if let Some(metrics) = args.metrics_listen {
        server = server.metrics_on(metrics).await.or_fail(format)?;
    }
    let addr = server.local_addr().or_fail(format)?;
    if let Some(metrics) = server.metrics_addr() {
        eprintln!("wharf admission: metrics on http://{metrics}/metrics");
    }
    server.watch_policy(args.policy.clone(), RELOAD_POLL, log_reload).or_fail(format)?;
    certificate.watch(RELOAD_POLL, log_certificate_reload);
    eprintln!(
        "wharf admission: listening on https://{addr} (policy {}, generation {generation})",
        args.policy.display()
    );
    server.run().await.or_fail(format)?;
    Ok(Verdict::Pass)
}

/// How often the policy and certificate files are checked for a change.
const RELOAD_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// One line on stderr per reload: the new generation, or why the old policy stays.
fn log_reload(event: ReloadEvent) {
    let cause = |c: ReloadCause| match c {
        ReloadCause::Signal => "SIGHUP",
        ReloadCause::FileChanged => "the policy file changed",
    };
    match event {
        ReloadEvent::Reloaded { cause: c, generation } => {
            eprintln!("wharf admission: policy reloaded ({}): generation {generation}", cause(c));
        }
        ReloadEvent::Refused { cause: c, error, generation } => {
            let hint = error.hint().map(|h| format!(" (hint: {h})")).unwrap_or_default();
            eprintln!(
                "wharf admission: policy not reloaded ({}): {error}{hint}; generation {generation} stays in force",
                cause(c)
            );
        }
    }
}

/// One line on stderr when `admission serve` puts a renewed serving certificate in force, or cannot.
fn log_certificate_reload(event: wharf::admission::tls_reload::CertReload) {
    use wharf::admission::tls_reload::CertReload;
    match event {
        CertReload::Reloaded => eprintln!("wharf admission: serving certificate reloaded"),
        CertReload::Refused(error) => {
            eprintln!("wharf admission: serving certificate not reloaded: {error}; the old one is still served")
        }
    }
}

async fn check(args: CheckArgs) -> Result<Verdict, Failure> {
    let format = args.output.format;
    let policy = Policy::load(&args.policy).or_fail(format)?;
    let text = std::fs::read_to_string(&args.manifest)
        .map_err(|e| wharf::Error::io("cannot read the manifest", &args.manifest, e))
        .or_fail(format)?;
    let images =
        wharf::admission::images::manifest_images(&args.manifest.display().to_string(), &text).or_fail(format)?;
    let settings = Settings {
        transport: args.transport.options().or_fail(format)?,
        record_world: crate::hints::RECORD_WORLD.into(),
        ..Settings::default()
    };
    let admission = Admission::new(policy, settings).or_fail(format)?;
    let mut verdicts = Vec::with_capacity(images.len());
    for image in &images {
        let v = admission.check_image(&image.site.image, image.namespace.as_deref()).await;
        verdicts.push((image, v));
    }
    let denied = verdicts.iter().any(|(_, v)| !v.allowed);
    let enforce = admission.policy().mode == policy::Mode::Enforce;
    if format == Format::Json {
        let list: Vec<serde_json::Value> = verdicts
            .iter()
            .map(|(i, v)| serde_json::json!({"kind": i.kind, "name": i.name, "namespace": i.namespace, "verdict": v}))
            .collect();
        output::print_json(&serde_json::json!({"admitted": !denied || !enforce, "images": list}));
    } else {
        for (i, v) in &verdicts {
            let word = if v.allowed { "allowed" } else { "denied " };
            println!("{word} {}/{} {}: rule {}: {}", i.kind, i.name, v.image, v.rule, v.reason);
        }
        if images.is_empty() {
            eprintln!("no images found in {}", args.manifest.display());
        }
    }
    Ok(if denied && enforce { Verdict::Fail } else { Verdict::Pass })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// The Deployment's command line is one `wharf admission serve` reads back as it was meant.
    #[test]
    fn the_manifests_command_line_is_read_back_by_admission_serve() {
        let serve = Serve {
            policy: "/etc/wharf/policy/policy.yaml".into(),
            listen: "0.0.0.0:8443".into(),
            tls_cert: "/etc/wharf/tls/tls.crt".into(),
            tls_key: "/etc/wharf/tls/tls.key".into(),
            metrics_listen: "0.0.0.0:9090".into(),
            fail_mode: FailMode::Allow,
            client_ca: Some("/etc/wharf/client-ca/ca.crt".into()),
            webhook_timeout: 22,
        };
        let args = std::iter::once("wharf".to_string()).chain(serve_command_line(&serve));
        let cli = crate::Cli::try_parse_from(args).expect("admission serve reads its own command line");
        let crate::Command::Admission(Args { command: AdmissionCommand::Serve(parsed) }) = cli.command else {
            panic!("not admission serve");
        };
        assert_eq!(parsed.policy, PathBuf::from(&serve.policy));
        assert_eq!(parsed.listen.to_string(), serve.listen);
        assert_eq!(parsed.tls_cert, PathBuf::from(&serve.tls_cert));
        assert_eq!(parsed.tls_key, PathBuf::from(&serve.tls_key));
        assert_eq!(parsed.metrics_listen.map(|a| a.to_string()).as_deref(), Some(serve.metrics_listen.as_str()));
        assert_eq!(parsed.fail_mode, FailMode::Allow);
        assert_eq!(parsed.client_ca, serve.client_ca.map(PathBuf::from));
        assert_eq!(parsed.webhook_timeout, 22);
    }
}
