//! What the command line says about a failure: the error's message and its
//! `hint:` line. The library carries typed data (which registry, which worlds,
//! which package) and words its errors without naming any command or flag; here
//! those are worded for `wharf`'s own commands and flags. Everything else is the
//! library's words.
//!
//! Report data the library fills with flag-free words (pull warnings, the
//! runtimes of a shape) is worded here too, before it is printed.

use wharf::oci::reference::SCHEME_GIVEN;
use wharf::oci::retry::MAX_RETRY_AFTER;
use wharf::sign::{self, KeyFix};
use wharf::wasm::artifact::read::PUSH_AGAIN;
use wharf::wasm::error::{Fix, PackageProblem, plain_world_name};
use wharf::wasm::runtimes::convert::WASMTIME_AFTER_A_PULL;

/// `wharf admission`'s words for a denial of an artifact that declares no world.
pub const RECORD_WORLD: &str = "push it with `wharf push FILE REF --wit WIT` to record the world it fits";

/// The first line of the error, after `error: `.
pub fn message(error: &wharf::Error) -> String {
    use wharf::Error::{Admission, Oci, Sign, Wasm};
    use wharf::oci::Error as O;
    use wharf::wasm::Error as W;
    match error {
        Oci(O::InvalidReference { input, reason }) if reason == SCHEME_GIVEN => {
            format!("invalid reference {input:?}: {reason}, see --plain-http")
        }
        Sign(sign::Error::KeyFileExists { path }) => format!(
            "{} already exists; wharf never overwrites a key file (remove it, or choose another --output)",
            path.display()
        ),
        Wasm(W::Package(problem)) => package_message(problem),
        Wasm(W::UnknownCncfConfig { shape }) => format!(
            "this {shape} artifact was not made by `wharf convert`, so its CNCF config is unknown; pull the Wasm \
             (`wharf pull`) and push it (`wharf push`) to make the CNCF form"
        ),
        Wasm(W::SpinCannotRun { kind, exports }) => format!(
            "Spin cannot run this {kind}: Spin starts a component through its HTTP trigger, which needs a wasi:http \
             handler export (wasi:http/incoming-handler@0.2) or a command (wasi:cli/run, or _start in a core \
             module, run through the WAGI executor), and this one exports only [{}]; run it with `wharf pull --for \
             wasmtime` instead",
            exports.join(", ")
        ),
        Admission(wharf::admission::Error::InstallOption { option, value, reason }) => {
            format!("{} {value} {reason}", install_flag(*option))
        }
        Wasm(W::NotADirectory { path }) => format!(
            "-o {} is a file: `pull --for` writes several files, so give a directory (it is created if missing)",
            path.display()
        ),
        other => other.to_string(),
    }
}

/// The flag of `admission manifests` that gives `option`.
fn install_flag(option: wharf::admission::error::InstallOption) -> &'static str {
    use wharf::admission::error::InstallOption;
    match option {
        InstallOption::Replicas => "--replicas",
        InstallOption::Image => "--image",
        InstallOption::RegistrySecret => "--registry-secret",
        InstallOption::ApiserverCidr => "--apiserver-cidr",
    }
}

/// The message of a composition's packages as `--dep` and `--locked` give them.
fn package_message(problem: &PackageProblem) -> String {
    match problem {
        PackageProblem::BadSpec { text, why } => format!(
            "--dep {text:?}: {why}; write NAME=SOURCE, for example --dep wharf:greeter=greeter.wasm or --dep \
             wharf:greeter@0.1.0=127.0.0.1:5000/greeter:0.1.0"
        ),
        PackageProblem::GivenTwice { name } => format!("--dep {name} is given twice"),
        PackageProblem::BadName { name, why } => format!("--dep {name}: {why}"),
        PackageProblem::OtherVersion { place, used, given, .. } => {
            format!("cannot compose: {place}: the document uses `{used}`, and --dep gives {given} instead")
        }
        PackageProblem::Unmapped { place, name, cause, .. } => {
            format!("cannot compose: {place}: unknown package `{name}`: it is not given with --dep, and {cause}")
        }
        PackageProblem::NotPinned { lock, unpinned } => {
            format!("cannot compose: --locked: {} does not pin {}", lock.display(), unpinned.join(", "))
        }
    }
}

/// The hint for `error`, if there is one.
pub fn hint(error: &wharf::Error) -> Option<String> {
    use wharf::Error::{Admission, Oci, Sign, Wasm};
    use wharf::oci::Error as O;
    use wharf::wasm::Error as W;
    Some(match error {
        Oci(O::Unauthorized { registry, .. }) => {
            format!("log in with `wharf login {registry}`, or pass --username and --password-stdin")
        }
        Oci(O::Unreachable { registry, .. }) => format!(
            "check that {registry} is running and reachable; for a plain-HTTP registry off loopback pass --plain-http"
        ),
        Oci(O::Certificate { .. }) => "pass --ca-file with the CA that signed the registry's certificate (or \
                                       --insecure to skip verification, at your own risk)"
            .into(),
        Oci(O::NotFound { .. }) => {
            "check the repository name and tag; `wharf inspect` shows what a reference resolves to".into()
        }
        Oci(O::RetryLater { after, .. }) => format!(
            "the registry is limiting requests; wharf waits up to {} s when asked, so run the command again in {} s",
            MAX_RETRY_AFTER.as_secs(),
            after.as_secs().max(1)
        ),
        Sign(sign::Error::InvalidKey { fix, .. }) => key_fix(fix),
        Wasm(W::WorldSelection { available, .. }) => match available.first() {
            Some(world) => format!("choose one with --world, for example --world {}", plain_world_name(world)),
            None => return error.hint(),
        },
        Wasm(W::DeclaredTarget { fix, .. } | W::Composition { fix, .. }) => wasm_fix(fix),
        Wasm(W::Package(problem)) => return package_hint(problem),
        Admission(wharf::admission::Error::InvalidTls { file, .. }) => match file {
            wharf::admission::error::TlsFile::ServerCertificate => {
                "give a PEM certificate chain (--tls-cert) and its PEM private key (--tls-key)".into()
            }
            wharf::admission::error::TlsFile::ClientCa => {
                "give --client-ca the PEM certificate of the CA that issued the API server's client certificate".into()
            }
            wharf::admission::error::TlsFile::ClientCaToInstall => {
                "give --client-ca the PEM certificate of the CA that issued the API server's client certificate (its \
                 certificate only, never its key)"
                    .into()
            }
        },
        other => return other.hint(),
    })
}

/// A key's fix, in `wharf key generate` and `wharf verify --key` where it needs them.
fn key_fix(fix: &KeyFix) -> String {
    match fix {
        KeyFix::GivePrivateKey => {
            "give a private key file written by `wharf key generate` or `cosign generate-key-pair`".into()
        }
        KeyFix::SignWithPrivateKey => {
            "sign with the private key (the .key file); the .pub file is for `wharf verify --key`".into()
        }
        KeyFix::SignWithSupportedKey => {
            "sign with an ECDSA P-256 (`wharf key generate`) or Ed25519 key; verify RSA signatures with the .pub file"
                .into()
        }
        KeyFix::GenerateP256 => {
            "generate an ECDSA P-256 pair with `wharf key generate` (or `cosign generate-key-pair`)".into()
        }
        KeyFix::Advice(words) => words.clone(),
    }
}

/// A declared target's or a composition's fix, in `--wit`, `--dep` and `wharf push` where it needs them.
fn wasm_fix(fix: &Fix) -> String {
    match fix {
        Fix::Advice(words) => words.clone(),
        Fix::GiveWorld => "give the world with --wit WIT [--world NAME]".into(),
        Fix::GiveWorldOrRecord { reference } => format!(
            "give the world with --wit WIT [--world NAME], or push the component with `wharf push FILE {reference} \
             --wit WIT` to record the world it fits"
        ),
        Fix::MapPackageOrGiveWorld { config } => format!(
            "map the package to a registry in {config} (default_registry, [namespace_registries] or \
             [package_registry_overrides]), or give the world with --wit WIT"
        ),
        Fix::PushPackageOrGiveWorld { reference, config } => format!(
            "push the package there (wharf push PACKAGE.wasm {reference}), fix the mapping in {config}, or give the \
             world with --wit WIT"
        ),
        Fix::GiveEveryPackage { given } => format!(
            "give every package the file uses with --dep NAME=SOURCE (a .wasm file or a reference); given: {given}"
        ),
        Fix::InspectParts { parts } => format!("check each part with `wharf inspect`; parts: {parts}"),
        Fix::PushPackageOrGiveIt { name, reference, config } => format!(
            "push it there (wharf push PACKAGE.wasm {reference}), fix the mapping in {config}, or give it with --dep \
             {name}=SOURCE"
        ),
    }
}

/// The hint for a composition's packages, in `--dep` and `--locked`.
fn package_hint(problem: &PackageProblem) -> Option<String> {
    Some(match problem {
        PackageProblem::BadSpec { .. } | PackageProblem::GivenTwice { .. } | PackageProblem::BadName { .. } => {
            return None;
        }
        PackageProblem::OtherVersion { used, source, .. } => {
            format!("name it as the document does: --dep {used}={source}")
        }
        PackageProblem::Unmapped { name, namespace, config, .. } => format!(
            "give it with --dep {name}=SOURCE (a .wasm file or a reference), or map the namespace {namespace} to a \
             registry in {config} (default_registry or [namespace_registries])"
        ),
        PackageProblem::NotPinned { lock, .. } => {
            format!("compose once without --locked to pin them, and keep {} with the document", lock.display())
        }
    })
}

/// A pull's warnings, in `wharf push` where one names it.
pub fn pull_warnings(warnings: &mut [String]) {
    for warning in warnings {
        if let Some(start) = warning.strip_suffix(&format!("({PUSH_AGAIN})")) {
            *warning = format!("{start}(re-push it with wharf push to fix the config)");
        }
    }
}

/// A rejected signature's reason, with the flags that verify it where the problem
/// says the signature needs other trust than was given (`wharf verify`, `verify-blob`).
pub fn signature_reason(problem: Option<sign::Problem>, reason: &str) -> String {
    match problem {
        Some(sign::Problem::NeedsIdentity) => {
            format!("{reason} (verify it with --certificate-identity and --certificate-oidc-issuer, not --key)")
        }
        Some(sign::Problem::NeedsKey) => format!("{reason} (verify it with --key and the signer's public key)"),
        _ => reason.to_string(),
    }
}

/// The runtimes of a shape, in `wharf pull` where one names it.
pub fn runtimes(runtimes: &mut [String]) {
    for runtime in runtimes {
        if runtime == WASMTIME_AFTER_A_PULL {
            *runtime = "wasmtime (after `wharf pull`)".into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_that_needs_other_trust_gets_the_flags_that_give_it() {
        let keyless = signature_reason(Some(sign::Problem::NeedsIdentity), sign::sigstore::WANTS_IDENTITY);
        assert!(keyless.contains("--certificate-identity") && keyless.contains("not --key"), "{keyless}");
        let keyed = signature_reason(Some(sign::Problem::NeedsKey), sign::sigstore::WANTS_KEY);
        assert!(keyed.contains("verify it with --key"), "{keyed}");
        assert_eq!(signature_reason(Some(sign::Problem::WrongKey), "another key"), "another key");
    }

    /// A WIT package of two worlds, `app` and `other`, and no choice: the hint names `--world`
    /// (moved here from the library's check tests with the words it asserts).
    #[test]
    fn worlds_are_chosen_by_plain_or_full_name_and_ambiguity_lists_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("world.wit");
        let text =
            "package acme:shapes@1.2.0;\nworld app {\n  export f: func();\n}\nworld other {\n  export f: func();\n}\n";
        std::fs::write(&path, text).expect("write");
        let shapes = wharf::wasm::check::Wit::load(&path).expect("loads");
        let Err(error) = shapes.world(None) else { panic!("two worlds and no choice must fail") };
        assert_eq!(hint(&error.into()).as_deref(), Some("choose one with --world, for example --world app"));
    }

    #[test]
    fn the_library_words_name_no_flag_and_the_command_line_words_do() {
        let scheme: wharf::Error = wharf::Reference::parse("https://ghcr.io/x").expect_err("a scheme").into();
        assert!(!scheme.to_string().contains("--"), "{scheme}");
        assert_eq!(
            message(&scheme),
            "invalid reference \"https://ghcr.io/x\": leave out the scheme (https://); wharf picks it, see --plain-http"
        );
        let options = wharf::admission::manifests::InstallOptions {
            replicas: 0,
            ..wharf::admission::manifests::InstallOptions::new("policy.yaml", "registry.example.com/wharf")
        };
        let replicas: wharf::Error =
            wharf::admission::manifests::generate(&options, |_| Vec::new()).expect_err("no pods").into();
        assert_eq!(replicas.to_string(), "the replica count 0 is not a number from 1 to 100");
        assert_eq!(message(&replicas), "--replicas 0 is not a number from 1 to 100");
    }
}
