//! Verifies the cosign signatures of an artifact against a public key, offline
//! but for the registry (or layout) that holds it, and says for each signature
//! found whether it verifies: wharf's verifier without the command line.
//!
//! ```text
//! verify-signature REFERENCE KEY.pub
//! verify-signature 127.0.0.1:5000/hello:0.1.0 cosign.pub
//! ```
//!
//! Exit status: 0 a signature verifies; 1 none does; 2 an error. It depends on
//! `wharf-sign` and `wharf-oci` alone: nothing of WebAssembly is compiled in.

use std::path::Path;
use std::process::ExitCode;

use wharf_oci::Reference;
use wharf_oci::transport::TransportOptions;
use wharf_sign::Trust;
use wharf_sign::cosign::{VerifyOptions, verify_with};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [reference, key] = args.as_slice() else {
        eprintln!("usage: verify-signature REFERENCE KEY.pub");
        return ExitCode::from(2);
    };
    match verify(reference, Path::new(key)).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// True when a signature of `reference` verifies with the public key at `key`.
async fn verify(reference: &str, key: &Path) -> wharf_sign::Result<bool> {
    let reference = Reference::parse(reference)?;
    let trust = Trust::Key(wharf_sign::read_public_key(key)?);
    let options = VerifyOptions { annotations: Default::default(), transport: TransportOptions::default() };
    let report = verify_with(&reference, &trust, &options).await?;
    for signature in &report.signatures {
        match (&signature.reason, signature.verified) {
            (_, true) => println!("verified  {} {}", signature.format.name(), signature.location),
            (Some(reason), false) => println!("rejected  {} {}: {reason}", signature.format.name(), signature.location),
            (None, false) => println!("rejected  {} {}", signature.format.name(), signature.location),
        }
    }
    println!("{} signature(s) of {}, {} verified", report.signatures.len(), report.reference, report.verified);
    Ok(report.verified)
}
