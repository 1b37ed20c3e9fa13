//! `wharf admission manifests`: every Kubernetes object the webhook needs, as
//! typed values (k8s-openapi's, for Kubernetes 1.33), written as one YAML
//! stream for `kubectl apply -f -`.
//!
//! What an admin would otherwise assemble by hand, and get wrong: the serving
//! certificate for the Service's DNS name and its CA as the `caBundle` of both
//! webhook configurations ([`certs`]), the files the policy names in a Secret
//! with the policy's paths rewritten to where they are mounted ([`bundle`]),
//! the policy mounted as a directory (never `subPath`, which Kubernetes never
//! updates) so that `admission serve` reloads it, and what a production
//! Deployment needs: non-root, read-only, no capabilities, RuntimeDefault
//! seccomp, probes, requests and limits, spread over nodes and zones, a
//! PodDisruptionBudget and a NetworkPolicy.
//!
//! The output is deterministic except for the generated keys and certificates
//! (absent with [`Certificates::CertManager`]).

pub mod bundle;
pub mod certs;

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1 as admission;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;

use crate::error::{Error, InstallOption, Result};
use crate::state::FailMode;

/// The name of the Service, Deployment, ServiceAccount and the objects' label.
pub const NAME: &str = "wharf-admission";
/// The namespace unless one is given.
pub const DEFAULT_NAMESPACE: &str = "wharf-system";
/// Where the policy (and, under `keys/`, the files it names) is mounted.
pub const POLICY_DIR: &str = "/etc/wharf/policy";
/// The policy's file name in [`POLICY_DIR`] (its ConfigMap key).
pub const POLICY_FILE: &str = "policy.yaml";
/// Where the serving certificate's Secret is mounted.
pub const TLS_DIR: &str = "/etc/wharf/tls";
/// Where the API server's client CA is mounted (`--client-ca`).
pub const CLIENT_CA_DIR: &str = "/etc/wharf/client-ca";
/// Where the registry credentials are mounted (`DOCKER_CONFIG`).
pub const DOCKER_DIR: &str = "/etc/wharf/docker";
/// The webhook's HTTPS port in the pod.
pub const WEBHOOK_PORT: i32 = 8443;
/// The plain-HTTP port of `/metrics`, `/healthz` and `/readyz` in the pod.
pub const METRICS_PORT: i32 = 9090;
/// The user and group the webhook runs as (distroless' `nonroot`).
pub const RUN_AS: i64 = 65532;
/// How long the API server waits for an answer unless the policy's budget needs more (it is 8 s
/// by default): [`timeout_seconds`].
const TIMEOUT_SECONDS: i32 = 10;
/// The most the API server waits for a webhook.
const MAX_TIMEOUT_SECONDS: i32 = 30;
/// The annotation on the pod template that carries the hash of the generated serving
/// certificate and the client CA: generating again rolls the pods onto the new ones.
pub const TLS_HASH_ANNOTATION: &str = "wharf/tls-sha256";
/// cert-manager's annotation that makes its cainjector fill in `caBundle`.
pub const INJECT_CA_ANNOTATION: &str = "cert-manager.io/inject-ca-from";

/// Where the webhook's serving certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certificates {
    /// A CA and a serving certificate generated now, valid this many days.
    Generated {
        /// Validity of both, in days.
        days: u32,
    },
    /// cert-manager issues and renews them (a CA Certificate, its Issuer, the
    /// serving Certificate) and its cainjector sets `caBundle`.
    CertManager,
}

/// The default validity of generated certificates: a year.
pub const DEFAULT_CERTIFICATE_DAYS: u32 = 365;

/// What to generate.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The policy file; the files it names are read too.
    pub policy: PathBuf,
    /// The webhook's image (best pinned by digest).
    pub image: String,
    /// The namespace of the webhook's objects.
    pub namespace: String,
    /// How many webhook pods.
    pub replicas: u32,
    /// `admission serve --fail-mode`: what the webhook does when a registry cannot be asked.
    /// The webhooks' `failurePolicy` is `Fail` either way (see [`FAILURE_POLICY`]).
    pub fail_mode: FailMode,
    /// Generated certificates or cert-manager.
    pub certificates: Certificates,
    /// A PEM file of the CA that issued the API server's client certificate: only clients with one
    /// are answered (`admission serve --client-ca`).
    pub client_ca: Option<PathBuf>,
    /// An existing `kubernetes.io/dockerconfigjson` Secret in the namespace with registry credentials.
    pub registry_secret: Option<String>,
    /// Where the API server calls from: the only sources the NetworkPolicy admits to the webhook port.
    pub apiserver_cidrs: Vec<String>,
}

impl InstallOptions {
    /// Options with the defaults for everything but the policy and image.
    pub fn new(policy: impl Into<PathBuf>, image: impl Into<String>) -> InstallOptions {
        InstallOptions {
            policy: policy.into(),
            image: image.into(),
            namespace: DEFAULT_NAMESPACE.into(),
            replicas: 2,
            fail_mode: FailMode::Deny,
            certificates: Certificates::Generated { days: DEFAULT_CERTIFICATE_DAYS },
            client_ca: None,
            registry_secret: None,
            apiserver_cidrs: Vec::new(),
        }
    }

    /// The Service's DNS name, which the API server calls and the certificate names.
    pub fn service_host(&self) -> String {
        format!("{NAME}.{}.svc", self.namespace)
    }

    /// The names of the webhook configurations (cluster-wide, so with the namespace).
    pub fn configuration_name(&self) -> String {
        format!("{NAME}-{}", self.namespace)
    }
}

/// The generated objects, in the order they are applied.
#[derive(Debug, Clone)]
pub struct Install {
    /// Each object as JSON (apiVersion, kind, metadata, …).
    pub objects: Vec<Value>,
}

impl Install {
    /// One YAML stream, the objects separated by `---`.
    pub fn to_yaml(&self) -> Result<String> {
        let mut out = String::new();
        for object in &self.objects {
            out.push_str("---\n");
            let doc = serde_norway::to_string(object)
                .map_err(|e| Error::Usage(format!("cannot write the manifests as YAML: {e}")))?;
            out.push_str(&doc);
        }
        Ok(out)
    }
}

/// What the webhook's container runs: `admission serve` with these files and addresses in
/// the pod. The command line that says so is the caller's to write ([`generate`]'s
/// `command_line`): the flags are the command line's (wharf-cli's `admission serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// The policy file.
    pub policy: String,
    /// The webhook's HTTPS address.
    pub listen: String,
    /// The serving certificate chain (PEM).
    pub tls_cert: String,
    /// Its private key (PEM).
    pub tls_key: String,
    /// The plain-HTTP address of `/metrics`, `/healthz` and `/readyz`.
    pub metrics_listen: String,
    /// Deny or admit when a registry cannot be asked.
    pub fail_mode: FailMode,
    /// The CA whose client certificates alone are answered, if one is given.
    pub client_ca: Option<String>,
    /// How long the API server waits for an answer (the webhooks' `timeoutSeconds`).
    pub webhook_timeout: u32,
}

/// Generates every object; see the module docs. `command_line` gives the container's
/// arguments that run the webhook as a [`Serve`] says.
pub fn generate(options: &InstallOptions, command_line: impl Fn(&Serve) -> Vec<String>) -> Result<Install> {
    validate(options)?;
    let bundle = bundle::bundle(&options.policy)?;
    let timeout = timeout_seconds(&bundle.limits, &options.policy)?;
    fits_the_memory(&bundle.limits, &options.policy)?;
    let client_ca = options.client_ca.as_deref().map(read_client_ca).transpose()?;
    let tls = match options.certificates {
        Certificates::Generated { days } => {
            let host = options.service_host();
            Some(certs::generate(NAME, &[host.clone(), format!("{host}.cluster.local")], days)?)
        }
        Certificates::CertManager => None,
    };
    let ns = options.namespace.as_str();
    let mut objects = vec![json(&core::Namespace {
        metadata: ObjectMeta {
            name: Some(ns.to_string()),
            labels: Some(labels_with([
                // The webhook's pods meet the restricted Pod Security Standard; so must anything else here.
                ("pod-security.kubernetes.io/enforce", "restricted"),
            ])),
            ..ObjectMeta::default()
        },
        ..core::Namespace::default()
    })?];
    objects.push(json(&core::ServiceAccount {
        metadata: meta(NAME, ns),
        // The webhook never calls the API server.
        automount_service_account_token: Some(false),
        ..core::ServiceAccount::default()
    })?);
    objects.push(json(&core::ConfigMap {
        metadata: meta(&policy_name(), ns),
        data: Some(BTreeMap::from([(POLICY_FILE.to_string(), bundle.policy_yaml.clone())])),
        ..core::ConfigMap::default()
    })?);
    if !bundle.files.is_empty() {
        objects.push(json(&secret(&keys_name(), ns, "Opaque", bundle.files.clone()))?);
    }
    if let Some(ca) = &client_ca {
        let data = BTreeMap::from([("ca.crt".to_string(), ca.clone())]);
        objects.push(json(&secret(&client_ca_name(), ns, "Opaque", data))?);
    }
    let ca_bundle = match &tls {
        Some(tls) => {
            let data = BTreeMap::from([
                ("ca.crt".to_string(), tls.ca_pem.clone().into_bytes()),
                ("tls.crt".to_string(), tls.cert_pem.clone().into_bytes()),
                ("tls.key".to_string(), tls.key_pem.clone().into_bytes()),
            ]);
            objects.push(json(&secret(&tls_name(), ns, "kubernetes.io/tls", data))?);
            Some(tls.ca_pem.clone().into_bytes())
        }
        None => {
            objects.extend(cert_manager_objects(options));
            None
        }
    };
    let tls_hash = tls_hash(tls.as_ref().map(|t| t.cert_pem.as_bytes()), client_ca.as_deref());
    objects.push(json(&deployment(options, &bundle, tls_hash, timeout, command_line))?);
    objects.push(json(&service(ns))?);
    objects.push(json(&PodDisruptionBudget {
        metadata: meta(NAME, ns),
        spec: Some(PodDisruptionBudgetSpec {
            // Not minAvailable: with one replica that would block every node drain.
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })?);
    objects.push(json(&network_policy(options))?);
    objects.push(json(&mutating(options, ca_bundle.clone(), timeout))?);
    objects.push(json(&validating(options, ca_bundle, timeout))?);
    Ok(Install { objects })
}

/// One object as JSON (k8s-openapi's types write their apiVersion and kind).
fn json(object: &impl Serialize) -> Result<Value> {
    serde_json::to_value(object).map_err(|e| Error::Usage(format!("cannot write a manifest: {e}")))
}

/// The hash of the TLS material the pods read at start (the generated serving certificate, the
/// client CA), for the pod template: new material rolls the pods. `None` when there is none.
fn tls_hash(serving_cert: Option<&[u8]>, client_ca: Option<&[u8]>) -> Option<String> {
    if serving_cert.is_none() && client_ca.is_none() {
        return None;
    }
    let mut hash = sha2::Sha256::new();
    for part in [serving_cert, client_ca] {
        let part = part.unwrap_or_default();
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    Some(wharf_oci::digest::hex(&hash.finalize()))
}

/// The webhooks' `timeoutSeconds`: [`TIMEOUT_SECONDS`], or longer when the policy lets one
/// image's review take longer (its budget and the webhook's margin, whole seconds); a budget
/// the API server cannot wait for is refused.
fn timeout_seconds(limits: &crate::policy::Limits, policy: &std::path::Path) -> Result<i32> {
    let needed = (limits.image_timeout + crate::state::BUDGET_MARGIN).as_secs_f64().ceil();
    if needed > f64::from(MAX_TIMEOUT_SECONDS) {
        return Err(Error::InvalidPolicy {
            origin: policy.display().to_string(),
            line: None,
            reason: format!(
                "limits.imageSeconds {} leaves the webhook no time to answer within the {MAX_TIMEOUT_SECONDS} s the \
                 API server waits at most",
                limits.image_timeout.as_secs_f64()
            ),
        });
    }
    // Within 1..=30 by the check above.
    Ok((needed as i32).max(TIMEOUT_SECONDS))
}

/// The container's memory limit, MiB.
const MEMORY_LIMIT_MIB: u64 = 512;
/// What the webhook holds besides a component under a full WIT check (reviews of 8 MiB, registry
/// lookups a few at a time each reading documents of up to 4 MiB, the verdict cache), MiB.
const MEMORY_BESIDES_A_COMPONENT_MIB: u64 = 128;
/// How many times its size a component under a full WIT check costs: its bytes, and the parsed
/// module and WIT resolve made of them.
const COMPONENT_MEMORY_FACTOR: u64 = 4;

/// Refuses a `limits.componentSize` the generated memory limit cannot hold: one component (a
/// full WIT check holds one per core, and the container has one) costs about
/// [`COMPONENT_MEMORY_FACTOR`] times its size, beside what the webhook holds anyway.
fn fits_the_memory(limits: &crate::policy::Limits, policy: &std::path::Path) -> Result<()> {
    let most = ((MEMORY_LIMIT_MIB - MEMORY_BESIDES_A_COMPONENT_MIB) << 20) / COMPONENT_MEMORY_FACTOR;
    if limits.component_size <= most {
        return Ok(());
    }
    Err(Error::InvalidPolicy {
        origin: policy.display().to_string(),
        line: None,
        reason: format!(
            "limits.componentSize {} does not fit the webhook's memory limit of {MEMORY_LIMIT_MIB}Mi: a full WIT \
             check holds about {COMPONENT_MEMORY_FACTOR} times the component's size beside \
             {MEMORY_BESIDES_A_COMPONENT_MIB} MiB for the rest; lower it to at most {most} bytes",
            limits.component_size
        ),
    })
}

/// Refuses options Kubernetes would refuse, before anything is generated.
fn validate(options: &InstallOptions) -> Result<()> {
    let ns = &options.namespace;
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if !label(ns) {
        return Err(Error::Usage(format!(
            "the namespace {ns:?} is not a DNS label: use at most 63 lowercase letters, digits and '-', starting and \
             ending with a letter or digit"
        )));
    }
    if ns == "kube-system" {
        return Err(Error::Usage(
            "the webhook cannot live in kube-system: that namespace is excluded from admission so the cluster can \
             always repair itself; use its own namespace (default wharf-system)"
                .into(),
        ));
    }
    if options.replicas == 0 || options.replicas > 100 {
        return Err(bad_option(InstallOption::Replicas, options.replicas.to_string(), "is not a number from 1 to 100"));
    }
    if let Certificates::Generated { days } = options.certificates
        && !(1..=3650).contains(&days)
    {
        return Err(Error::Usage(format!("a certificate lifetime of {days} days is not from 1 to 3650")));
    }
    match wharf_oci::reference::Reference::parse(&options.image) {
        Ok(wharf_oci::reference::Reference::Registry(_)) => {}
        _ => {
            return Err(bad_option(
                InstallOption::Image,
                format!("{:?}", options.image),
                "is not a registry image; give the webhook image the cluster pulls, e.g. \
                 registry.example.com/wharf@sha256:…",
            ));
        }
    }
    if let Some(name) = &options.registry_secret
        && !(name.len() <= 253 && !name.is_empty() && name.split('.').all(label))
    {
        return Err(bad_option(InstallOption::RegistrySecret, format!("{name:?}"), "is not a Secret name"));
    }
    for cidr in &options.apiserver_cidrs {
        if !is_cidr(cidr) {
            return Err(bad_option(
                InstallOption::ApiserverCidr,
                format!("{cidr:?}"),
                "is not an address range; write ADDRESS/PREFIX, e.g. 10.0.0.0/28",
            ));
        }
    }
    Ok(())
}

/// An option Kubernetes would refuse: `value` as written in the message.
fn bad_option(option: InstallOption, value: String, reason: &'static str) -> Error {
    Error::InstallOption { option, value, reason }
}

fn is_cidr(text: &str) -> bool {
    let Some((addr, prefix)) = text.split_once('/') else { return false };
    let Ok(prefix) = prefix.parse::<u8>() else { return false };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

/// The client CA file: PEM certificates only (never a private key), at least one.
fn read_client_ca(path: &std::path::Path) -> Result<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |reason: String| Error::InvalidTls {
        what: path.display().to_string(),
        reason,
        file: crate::error::TlsFile::ClientCaToInstall,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read the client CA", path, e))?;
    if bytes.len() as u64 > bundle::OBJECT_LIMIT {
        return Err(bad(format!("it is {} bytes, over the limit of a Kubernetes Secret", bytes.len())));
    }
    if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
        return Err(bad("it holds a private key, which must not leave the CA".into()));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(bytes)
}

fn policy_name() -> String {
    format!("{NAME}-policy")
}
fn keys_name() -> String {
    format!("{NAME}-keys")
}
fn tls_name() -> String {
    format!("{NAME}-tls")
}
fn client_ca_name() -> String {
    format!("{NAME}-client-ca")
}

/// The labels every object carries, with `extra`.
fn labels_with<const N: usize>(extra: [(&str, &str); N]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), NAME.to_string()),
        ("app.kubernetes.io/component".to_string(), "admission-webhook".to_string()),
        ("app.kubernetes.io/managed-by".to_string(), "wharf".to_string()),
    ]);
    labels.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
    labels
}

fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels_with([])),
        ..ObjectMeta::default()
    }
}

/// The pods' selector (one label: the name).
fn selector() -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([("app.kubernetes.io/name".to_string(), NAME.to_string())])),
        ..LabelSelector::default()
    }
}

fn secret(name: &str, namespace: &str, kind: &str, data: BTreeMap<String, Vec<u8>>) -> core::Secret {
    core::Secret {
        metadata: meta(name, namespace),
        type_: Some(kind.to_string()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..core::Secret::default()
    }
}

/// Read-only for the owner and the pod's group (`fsGroup`), nobody else.
const SECRET_MODE: i32 = 0o440;

fn deployment(
    options: &InstallOptions,
    bundle: &bundle::PolicyBundle,
    tls_hash: Option<String>,
    timeout: i32,
    command_line: impl Fn(&Serve) -> Vec<String>,
) -> Deployment {
    let ns = options.namespace.as_str();
    let args = command_line(&Serve {
        policy: format!("{POLICY_DIR}/{POLICY_FILE}"),
        listen: format!("0.0.0.0:{WEBHOOK_PORT}"),
        tls_cert: format!("{TLS_DIR}/tls.crt"),
        tls_key: format!("{TLS_DIR}/tls.key"),
        metrics_listen: format!("0.0.0.0:{METRICS_PORT}"),
        fail_mode: options.fail_mode,
        client_ca: options.client_ca.as_ref().map(|_| format!("{CLIENT_CA_DIR}/ca.crt")),
        webhook_timeout: timeout.unsigned_abs(),
    });
    let mut mounts = vec![
        mount("policy", POLICY_DIR),
        mount("tls", TLS_DIR),
        core::VolumeMount { read_only: Some(false), ..mount("tmp", "/tmp") },
    ];
    let mut sources = vec![core::VolumeProjection {
        config_map: Some(core::ConfigMapProjection {
            name: policy_name(),
            items: Some(vec![key_to_path(POLICY_FILE, POLICY_FILE)]),
            ..core::ConfigMapProjection::default()
        }),
        ..core::VolumeProjection::default()
    }];
    if !bundle.files.is_empty() {
        sources.push(core::VolumeProjection {
            secret: Some(core::SecretProjection {
                name: keys_name(),
                items: Some(
                    bundle.files.keys().map(|k| key_to_path(k, &format!("{}/{k}", bundle::KEYS_DIR))).collect(),
                ),
                ..core::SecretProjection::default()
            }),
            ..core::VolumeProjection::default()
        });
    }
    let mut volumes = vec![
        core::Volume {
            name: "policy".into(),
            projected: Some(core::ProjectedVolumeSource { default_mode: Some(SECRET_MODE), sources: Some(sources) }),
            ..core::Volume::default()
        },
        secret_volume("tls", &tls_name(), None),
        core::Volume {
            name: "tmp".into(),
            empty_dir: Some(core::EmptyDirVolumeSource {
                size_limit: Some(Quantity("64Mi".into())),
                ..core::EmptyDirVolumeSource::default()
            }),
            ..core::Volume::default()
        },
    ];
    if options.client_ca.is_some() {
        mounts.push(mount("client-ca", CLIENT_CA_DIR));
        volumes.push(secret_volume("client-ca", &client_ca_name(), None));
    }
    let mut env = vec![env_var("HOME", "/tmp")];
    if let Some(name) = &options.registry_secret {
        env.push(env_var("DOCKER_CONFIG", DOCKER_DIR));
        mounts.push(mount("registry", DOCKER_DIR));
        volumes.push(secret_volume("registry", name, Some(key_to_path(".dockerconfigjson", "config.json"))));
    }
    let probe = |path: &str, period: i32| core::Probe {
        http_get: Some(core::HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("metrics".into()),
            ..core::HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..core::Probe::default()
    };
    let seccomp = || core::SeccompProfile { type_: "RuntimeDefault".into(), ..core::SeccompProfile::default() };
    let container = core::Container {
        name: "wharf".into(),
        image: Some(options.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(args),
        env: Some(env),
        ports: Some(vec![port("https", WEBHOOK_PORT), port("metrics", METRICS_PORT)]),
        readiness_probe: Some(probe("/readyz", 5)),
        liveness_probe: Some(probe("/healthz", 10)),
        resources: Some(core::ResourceRequirements {
            requests: Some(quantities([("cpu", "100m"), ("memory", "128Mi")])),
            // Memory: `check: full` holds at most one component (64 MiB by default) per core;
            // `fits_the_memory` refuses a componentSize this cannot hold.
            limits: Some(quantities([("cpu", "1"), ("memory", &format!("{MEMORY_LIMIT_MIB}Mi"))])),
            ..core::ResourceRequirements::default()
        }),
        security_context: Some(core::SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            capabilities: Some(core::Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
            seccomp_profile: Some(seccomp()),
            ..core::SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..core::Container::default()
    };
    let spread = |key: &str| core::TopologySpreadConstraint {
        max_skew: 1,
        topology_key: key.to_string(),
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(selector()),
        ..core::TopologySpreadConstraint::default()
    };
    let annotations = tls_hash.map(|h| BTreeMap::from([(TLS_HASH_ANNOTATION.to_string(), h)]));
    Deployment {
        metadata: meta(NAME, ns),
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(options.replicas).unwrap_or(i32::MAX)),
            selector: selector(),
            template: core::PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels_with([])), annotations, ..ObjectMeta::default() }),
                spec: Some(core::PodSpec {
                    service_account_name: Some(NAME.into()),
                    automount_service_account_token: Some(false),
                    security_context: Some(core::PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS),
                        run_as_group: Some(RUN_AS),
                        fs_group: Some(RUN_AS),
                        seccomp_profile: Some(seccomp()),
                        ..core::PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(volumes),
                    topology_spread_constraints: Some(vec![
                        spread("kubernetes.io/hostname"),
                        spread("topology.kubernetes.io/zone"),
                    ]),
                    ..core::PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn mount(name: &str, path: &str) -> core::VolumeMount {
    core::VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: Some(true),
        ..core::VolumeMount::default()
    }
}

fn key_to_path(key: &str, path: &str) -> core::KeyToPath {
    core::KeyToPath { key: key.to_string(), path: path.to_string(), mode: None }
}

fn secret_volume(name: &str, secret: &str, item: Option<core::KeyToPath>) -> core::Volume {
    core::Volume {
        name: name.to_string(),
        secret: Some(core::SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            default_mode: Some(SECRET_MODE),
            items: item.map(|i| vec![i]),
            ..core::SecretVolumeSource::default()
        }),
        ..core::Volume::default()
    }
}

fn env_var(name: &str, value: &str) -> core::EnvVar {
    core::EnvVar { name: name.to_string(), value: Some(value.to_string()), ..core::EnvVar::default() }
}

fn port(name: &str, number: i32) -> core::ContainerPort {
    core::ContainerPort {
        name: Some(name.to_string()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..core::ContainerPort::default()
    }
}

fn quantities<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, Quantity> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
}

fn service(ns: &str) -> core::Service {
    core::Service {
        metadata: meta(NAME, ns),
        spec: Some(core::ServiceSpec {
            selector: Some(BTreeMap::from([("app.kubernetes.io/name".to_string(), NAME.to_string())])),
            ports: Some(vec![core::ServicePort {
                name: Some("https".into()),
                port: 443,
                target_port: Some(IntOrString::String("https".into())),
                protocol: Some("TCP".into()),
                ..core::ServicePort::default()
            }]),
            ..core::ServiceSpec::default()
        }),
        ..core::Service::default()
    }
}

fn network_policy(options: &InstallOptions) -> networking::NetworkPolicy {
    let tcp = |number: i32| networking::NetworkPolicyPort {
        port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".into()),
        ..networking::NetworkPolicyPort::default()
    };
    let reviews_from = (!options.apiserver_cidrs.is_empty()).then(|| {
        options
            .apiserver_cidrs
            .iter()
            .map(|cidr| networking::NetworkPolicyPeer {
                ip_block: Some(networking::IPBlock { cidr: cidr.clone(), except: None }),
                ..networking::NetworkPolicyPeer::default()
            })
            .collect()
    });
    networking::NetworkPolicy {
        metadata: meta(NAME, &options.namespace),
        spec: Some(networking::NetworkPolicySpec {
            pod_selector: Some(selector()),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![
                // Reviews: from the API server's addresses when given, else from anywhere.
                networking::NetworkPolicyIngressRule { from: reviews_from, ports: Some(vec![tcp(WEBHOOK_PORT)]) },
                // Probes (the kubelet) and Prometheus: plain HTTP, no reviews there.
                networking::NetworkPolicyIngressRule { from: None, ports: Some(vec![tcp(METRICS_PORT)]) },
            ]),
            ..networking::NetworkPolicySpec::default()
        }),
    }
}

/// What the webhooks see: pods and every workload with a pod template.
fn rules(with_ephemeral: bool) -> Vec<admission::RuleWithOperations> {
    let rule = |group: &str, resources: &[&str]| admission::RuleWithOperations {
        api_groups: Some(vec![group.to_string()]),
        api_versions: Some(vec!["v1".into()]),
        operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        scope: Some("Namespaced".into()),
    };
    let core: &[&str] = if with_ephemeral {
        &["pods", "pods/ephemeralcontainers", "replicationcontrollers"]
    } else {
        &["pods", "replicationcontrollers"]
    };
    vec![
        rule("", core),
        rule("apps", &["deployments", "replicasets", "statefulsets", "daemonsets"]),
        rule("batch", &["jobs", "cronjobs"]),
    ]
}

/// Every namespace but the webhook's own (so its pods can always be restarted) and kube-system.
fn namespace_selector(ns: &str) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".into(),
            operator: "NotIn".into(),
            values: Some(vec![ns.to_string(), "kube-system".into()]),
        }]),
        ..LabelSelector::default()
    }
}

fn client_config(options: &InstallOptions, path: &str, ca_bundle: Option<Vec<u8>>) -> admission::WebhookClientConfig {
    admission::WebhookClientConfig {
        ca_bundle: ca_bundle.map(ByteString),
        service: Some(admission::ServiceReference {
            name: NAME.into(),
            namespace: options.namespace.clone(),
            path: Some(path.to_string()),
            port: Some(443),
        }),
        url: None,
    }
}

fn configuration_meta(options: &InstallOptions) -> ObjectMeta {
    let annotations = (options.certificates == Certificates::CertManager)
        .then(|| BTreeMap::from([(INJECT_CA_ANNOTATION.to_string(), format!("{}/{}", options.namespace, tls_name()))]));
    ObjectMeta {
        name: Some(options.configuration_name()),
        labels: Some(labels_with([])),
        annotations,
        ..ObjectMeta::default()
    }
}

/// The webhooks' `failurePolicy`, in both fail modes: `Fail`, as policy-controller's webhooks
/// and Kyverno's default. `--fail-mode allow` is the webhook's decision about registries it
/// cannot ask; what the API server does when the webhook itself gives no answer is another
/// matter, and `Ignore` would admit every pod whose review someone can make slow or unreadable.
pub const FAILURE_POLICY: &str = "Fail";

fn mutating(
    options: &InstallOptions,
    ca_bundle: Option<Vec<u8>>,
    timeout: i32,
) -> admission::MutatingWebhookConfiguration {
    admission::MutatingWebhookConfiguration {
        metadata: configuration_meta(options),
        webhooks: Some(vec![admission::MutatingWebhook {
            name: format!("pin.{}", options.service_host()),
            admission_review_versions: vec!["v1".into()],
            client_config: client_config(options, "/mutate", ca_bundle),
            failure_policy: Some(FAILURE_POLICY.into()),
            match_policy: Some("Equivalent".into()),
            namespace_selector: Some(namespace_selector(&options.namespace)),
            // Another mutating webhook may change an image after this one pinned it.
            reinvocation_policy: Some("IfNeeded".into()),
            rules: Some(rules(false)),
            side_effects: "None".into(),
            timeout_seconds: Some(timeout),
            ..admission::MutatingWebhook::default()
        }]),
    }
}

fn validating(
    options: &InstallOptions,
    ca_bundle: Option<Vec<u8>>,
    timeout: i32,
) -> admission::ValidatingWebhookConfiguration {
    admission::ValidatingWebhookConfiguration {
        metadata: configuration_meta(options),
        webhooks: Some(vec![admission::ValidatingWebhook {
            name: format!("verify.{}", options.service_host()),
            admission_review_versions: vec!["v1".into()],
            client_config: client_config(options, "/validate", ca_bundle),
            failure_policy: Some(FAILURE_POLICY.into()),
            match_policy: Some("Equivalent".into()),
            namespace_selector: Some(namespace_selector(&options.namespace)),
            rules: Some(rules(true)),
            side_effects: "None".into(),
            timeout_seconds: Some(timeout),
            ..admission::ValidatingWebhook::default()
        }]),
    }
}

/// cert-manager's objects (custom resources, so no k8s-openapi types): a
/// self-signed Issuer that makes a CA, an Issuer of that CA, and the serving
/// Certificate. The caBundle is the CA's, which stays while cert-manager
/// renews the serving certificate; `admission serve` picks the new one up
/// from the mounted Secret.
fn cert_manager_objects(options: &InstallOptions) -> Vec<Value> {
    let ns = options.namespace.as_str();
    let host = options.service_host();
    let meta = |name: &str| serde_json::to_value(meta(name, ns)).unwrap_or(Value::Null);
    let issuer_ref = |name: &str| serde_json::json!({"name": name, "kind": "Issuer", "group": "cert-manager.io"});
    let private_key = serde_json::json!({"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"});
    let ca_name = format!("{NAME}-ca");
    let self_signed = format!("{NAME}-selfsigned");
    vec![
        serde_json::json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": meta(&self_signed),
            "spec": {"selfSigned": {}}}),
        serde_json::json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta(&ca_name),
            "spec": {"isCA": true, "commonName": format!("{NAME} CA"), "secretName": ca_name,
                "duration": "87600h", "renewBefore": "720h", "privateKey": private_key,
                "issuerRef": issuer_ref(&self_signed)}}),
        serde_json::json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": meta(&ca_name),
            "spec": {"ca": {"secretName": ca_name}}}),
        serde_json::json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta(&tls_name()),
            "spec": {"secretName": tls_name(),
                "dnsNames": [host.clone(), format!("{host}.cluster.local")],
                "duration": "2160h", "renewBefore": "720h", "privateKey": private_key,
                "usages": ["server auth", "digital signature"], "issuerRef": issuer_ref(&ca_name)}}),
    ]
}
