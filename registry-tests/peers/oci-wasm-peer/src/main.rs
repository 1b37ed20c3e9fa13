//! Interop peer for wharf's registry tests.
//!
//! Pushes and pulls WebAssembly with `oci_wasm::WasmClient` -- the same client
//! `wkg` is built on -- so tests can check that what wharf pushes is accepted by
//! oci-wasm, and that what oci-wasm pushes is accepted by wharf.
//!
//! ```text
//! oci-wasm-peer pull REF OUT_FILE
//!     stdout: {"manifestDigest":..,"config":{..},"layerMediaType":..,"layerDigest":..,"size":N}
//! oci-wasm-peer push FILE REF
//!     stdout: {"manifestDigest":..,"manifestUrl":..,"configUrl":..,"os":..}
//! ```
//!
//! Anonymous auth only. Registries on loopback hosts (localhost, 127.*, ::1)
//! are spoken to over plain HTTP, everything else over HTTPS.
//! Any failure prints `error: ...` to stderr and exits with status 2.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol},
    secrets::RegistryAuth,
};
use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WasmClient, WasmConfig};
use sha2::Digest;

const USAGE: &str = "usage:\n  oci-wasm-peer pull REF OUT_FILE\n  oci-wasm-peer push FILE REF";

/// Version+layer field (bytes 4..8) after the `\0asm` magic.
const COMPONENT_HEADER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
const MODULE_HEADER: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow::Error::new(e).context("starting tokio runtime")),
    };
    let result = runtime.block_on(async {
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["pull", reference, out] => pull(reference, out).await,
            ["push", file, reference] => push(file, reference).await,
            ["-h" | "--help" | "help"] => {
                println!("{USAGE}");
                Ok(())
            }
            _ => bail!("bad arguments\n{USAGE}"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(2)
}

fn parse_reference(s: &str) -> Result<Reference> {
    s.parse::<Reference>()
        .with_context(|| format!("invalid reference {s:?}"))
}

/// Host part of `registry` (`host`, `host:port`, `[v6]:port`), without the port.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.") || host == "::1"
}

fn client_for(reference: &Reference) -> WasmClient {
    let registry = reference.resolve_registry().to_string();
    let protocol = if is_loopback(&registry) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    WasmClient::new(Client::new(ClientConfig {
        protocol,
        ..Default::default()
    }))
}

fn sha256_digest(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

async fn pull(reference: &str, out: &str) -> Result<()> {
    let reference = parse_reference(reference)?;
    let client = client_for(&reference);
    let auth = RegistryAuth::Anonymous;

    // Strict metadata path (what wkg uses): manifest media type, config media
    // type, exactly one layer, config parses as WasmConfig.
    let (manifest, config, manifest_digest) = client
        .pull_manifest_and_config(&reference, &auth)
        .await
        .context("oci-wasm pull_manifest_and_config")?;
    let layer = &manifest.layers[0];
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        bail!(
            "layer media type is {:?}, expected {WASM_LAYER_MEDIA_TYPE:?}",
            layer.media_type
        );
    }

    // Full pull: WasmClient::pull only accepts application/wasm layers and
    // verifies each layer blob against its descriptor digest.
    let image = client
        .pull(&reference, &auth)
        .await
        .context("oci-wasm pull")?;
    if let Some(digest) = &image.digest
        && *digest != manifest_digest
    {
        bail!("manifest changed between requests: {manifest_digest} then {digest}");
    }
    let data = &image.layers[0].data;
    let actual = sha256_digest(data);
    if actual != layer.digest {
        bail!("layer digest mismatch: manifest says {}, got {actual}", layer.digest);
    }
    if u64::try_from(layer.size).ok() != Some(data.len() as u64) {
        bail!("layer size mismatch: manifest says {}, got {}", layer.size, data.len());
    }

    tokio::fs::write(out, data)
        .await
        .with_context(|| format!("writing {out}"))?;

    let report = serde_json::json!({
        "manifestDigest": manifest_digest,
        "config": serde_json::to_value(&config).context("re-serializing WasmConfig")?,
        "layerMediaType": layer.media_type,
        "layerDigest": layer.digest,
        "size": data.len(),
    });
    println!("{report}");
    Ok(())
}

async fn push(file: &str, reference: &str) -> Result<()> {
    let reference = parse_reference(reference)?;
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading {file}"))?;
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        bail!("{file} is not a WebAssembly binary");
    }
    let header: [u8; 4] = bytes[4..8].try_into().context("short header")?;
    let (config, layer) = match header {
        COMPONENT_HEADER => WasmConfig::from_component(file, None)
            .await
            .context("oci-wasm WasmConfig::from_component")?,
        MODULE_HEADER => WasmConfig::from_module(file, None)
            .await
            .context("oci-wasm WasmConfig::from_module")?,
        other => bail!("{file}: unknown wasm version/layer field {other:02x?}"),
    };
    let os = config.os.clone();

    let client = client_for(&reference);
    let auth = RegistryAuth::Anonymous;
    let response = client
        .push(&reference, &auth, layer, config, None)
        .await
        .context("oci-wasm push")?;
    let manifest_digest = client
        .fetch_manifest_digest(&reference, &auth)
        .await
        .context("fetching digest of pushed manifest")?;

    let report = serde_json::json!({
        "manifestDigest": manifest_digest,
        "manifestUrl": response.manifest_url,
        "configUrl": response.config_url,
        "os": os,
    });
    println!("{report}");
    Ok(())
}
