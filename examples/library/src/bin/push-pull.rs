//! Pushes a `.wasm` file as a Wasm OCI artifact, pulls it back into another file,
//! and prints both digests: wharf's push and pull verbs without the command line.
//!
//! ```text
//! push-pull FILE REFERENCE OUT
//! push-pull hello.wasm 127.0.0.1:5000/hello:0.1.0 pulled.wasm
//! push-pull hello.wasm oci:./store:hello-0.1.0 pulled.wasm
//! ```
//!
//! It depends on `wharf` with `default-features = false`: the OCI and Wasm
//! crates only (no signing, no composition, no admission webhook).

use std::path::PathBuf;
use std::process::ExitCode;

use wharf::Reference;
use wharf::oci::annotations::Created;
use wharf::oci::transport::TransportOptions;
use wharf::pull::PullOptions;
use wharf::push::PushOptions;
use wharf::wasm::artifact::BuildOptions;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, reference, out] = args.as_slice() else {
        eprintln!("usage: push-pull FILE REFERENCE OUT");
        return ExitCode::from(2);
    };
    match push_then_pull(file, reference, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn push_then_pull(file: &str, reference: &str, out: &str) -> wharf::Result<()> {
    let reference = Reference::parse(reference)?;
    // Registry credentials come from the docker config; TLS is verified (plain HTTP only on loopback).
    let transport = TransportOptions::default();
    let build = BuildOptions {
        created: Created::reproducible()?,
        annotations: Default::default(),
        target: None,
        scan_cache: None,
    };
    let push = PushOptions {
        build,
        extra_tags: Vec::new(),
        index: false,
        chunk_index: true,
        transport: transport.clone(),
        progress: None,
    };
    let pushed = wharf::push(file.as_ref(), &reference, &push).await?;
    println!("pushed {} ({} bytes sent)", pushed.reference, pushed.transfer.bytes_copied);

    let pull = PullOptions {
        output: Some(PathBuf::from(out)),
        transport,
        progress: None,
        chunk_cache: wharf::oci::chunks::ChunkCache::from_env(),
    };
    let pulled = wharf::pull(&reference, &pull).await?;
    println!("pulled {} into {} (layer {})", pulled.reference, pulled.path.display(), pulled.layer_digest);
    Ok(())
}
