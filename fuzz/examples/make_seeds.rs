//! Writes the generated seeds under `fuzz/seeds/<target>/`: Wasm binaries
//! built from `examples/`, manifest documents (ordinary and hostile), and a
//! key encrypted with the `key_files` target's password. Deterministic except
//! for the encrypted key (fresh salt and nonce). Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example make-seeds`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wharf::oci::manifest::{Descriptor, Index, Manifest, Platform};
use wharf::oci::media;
use wharf::wasm::media::{WASM_CONFIG_V0, WASM_LAYER};
use wharf::sign::keys::PrivateKey;
use wharf_examples::{build_check_component, build_compose_component, build_wit_package, check_dir};

fn seeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

fn write(target: &str, name: &str, bytes: &[u8]) -> Result<()> {
    let dir = seeds().join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(name), bytes).with_context(|| format!("writing seed {target}/{name}"))
}

fn wasm_seeds() -> Result<()> {
    let hello = wharf_examples::build_hello_component()?;
    let module = wharf_examples::build_hello_module()?;
    write("wasm_inspect", "hello.wasm", &hello)?;
    write("wasm_inspect", "hello-module.wasm", &module)?;
    write("wit_check", "hello.wasm", &hello)?;
    write("wit_check", "hello-module.wasm", &module)?;
    for part in ["greeter", "relay"] {
        write("wasm_inspect", &format!("{part}.wasm"), &build_compose_component(part)?)?;
    }
    let cases = [
        ("fits", "filter-plugin"),
        ("storage", "storage-plugin"),
        ("extra-import", "filter-plugin"),
        ("missing-export", "meter"),
        ("record-mismatch", "filter-plugin"),
        ("resource-mismatch", "storage-plugin"),
        ("semver-safe", "component"),
        ("semver-unsafe", "component"),
        ("signature-mismatch", "filter-plugin"),
        ("prerelease", "component"),
    ];
    for (case, world) in cases {
        write("wit_check", &format!("{case}.wasm"), &build_check_component(case, world)?)?;
    }
    for (name, dir) in [("platform", "platform/wit"), ("platform-semver", "platform-semver/wit")] {
        let package = build_wit_package(&check_dir().join(dir))?;
        write("wit_check", &format!("{name}.wit.wasm"), &package)?;
        write("wasm_inspect", &format!("{name}.wit.wasm"), &package)?;
    }
    Ok(())
}

fn manifest_seeds() -> Result<()> {
    let config = Descriptor::of_bytes(WASM_CONFIG_V0, b"{}");
    let layer = Descriptor::of_bytes(WASM_LAYER, b"\0asm\x0d\0\x01\0");
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.title".to_string(), "hello.wasm".to_string());
    let manifest = Manifest::image(config, vec![layer], annotations);
    write("manifest", "wasm-manifest.json", &manifest.to_bytes())?;
    let mut entry = Descriptor::of_bytes(media::OCI_MANIFEST, &manifest.to_bytes());
    entry.platform =
        Some(Platform { architecture: "wasm".into(), os: "wasip2".into(), os_version: None, variant: None });
    let index = Index::image_index(vec![entry.clone()]);
    write("manifest", "wasm-index.json", &index.to_bytes())?;
    // An index whose entry is an index of the same digest as the entry before:
    // content addressing makes a true self-reference impossible, so this is
    // the closest a document can come.
    let mut looping = entry;
    looping.media_type = media::OCI_INDEX.into();
    write("manifest", "index-of-index.json", &Index::image_index(vec![looping]).to_bytes())?;
    let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let absurd = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"sha256:{hex}","size":18446744073709551615}},"layers":[{{"mediaType":"application/wasm","digest":"sha256:{hex}","size":1e400}}]}}"#,
        media::OCI_MANIFEST,
        WASM_CONFIG_V0
    );
    write("manifest", "absurd-sizes.json", absurd.as_bytes())?;
    let docker = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"sha256:{hex}","size":7,"platform":{{"architecture":"amd64","os":"linux","os.version":"10","variant":"v8"}}}}]}}"#,
        media::DOCKER_MANIFEST_LIST,
        media::DOCKER_MANIFEST
    );
    write("manifest", "docker-list.json", docker.as_bytes())?;
    let depth = 1000;
    let nested = format!(r#"{{"schemaVersion":2,"manifests":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    write("manifest", "deeply-nested.json", nested.as_bytes())?;
    let objects = format!(r#"{{"config":{}1{}}}"#, r#"{"a":"#.repeat(depth), "}".repeat(depth));
    write("manifest", "deeply-nested-objects.json", objects.as_bytes())?;
    Ok(())
}

fn key_seeds() -> Result<()> {
    // The key_files target's password; scrypt N = 2^15, the cheapest cosign reads.
    let key = PrivateKey::generate()?;
    write("key_files", "wharf-encrypted-p256.key", key.to_encrypted_pem_with(b"fuzz-password-0c7e", 15)?.as_bytes())?;
    write("key_files", "wharf-p256.pub", key.public_key().to_pem().as_bytes())?;
    Ok(())
}

fn main() -> Result<()> {
    wasm_seeds()?;
    manifest_seeds()?;
    key_seeds()?;
    println!("seeds written under {}", seeds().display());
    Ok(())
}
