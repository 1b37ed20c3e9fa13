//! Hostile graphs and documents, stored in a real registry (written with raw
//! HTTP, not wharf) or a hand-made OCI layout: blobs larger than declared,
//! absurd declared sizes, indexes nested without end, deeply nested JSON.
//! And hostile peers (a scripted server on loopback): a token realm and a
//! wkg metadata host that stream an endless body.
//! Each ends with one clear error, exit 2, bounded memory and nothing written.
//! Graphs that share nodes cost one visit per node, however they fan out.

use std::net::{IpAddr, Ipv4Addr};

use registry_tests::fault_proxy::FaultProxy;
use registry_tests::scripted::{Answer, ScriptedServer, run_with_peak_rss};
use registry_tests::{Registry, TestEnv, check_example, push_blob, push_manifest, sha256_digest, wharf, wharf_bin};
use serde_json::json;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

/// A Wasm artifact manifest over `layer` (with the declared `layer_size`) in `repo`; returns (bytes, digest).
fn wasm_manifest(host: &str, repo: &str, layer: &[u8], layer_size: u64, config_size: Option<u64>) -> (Vec<u8>, String) {
    let layer_digest = push_blob(host, repo, layer);
    let config = json!({"architecture": "wasm", "os": "wasip2", "layerDigests": [layer_digest]}).to_string();
    let config_digest = push_blob(host, repo, config.as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": WASM_CONFIG, "digest": config_digest, "size": config_size.unwrap_or(config.len() as u64)},
        "layers": [{"mediaType": "application/wasm", "digest": layer_digest, "size": layer_size}],
    })
    .to_string()
    .into_bytes();
    let digest = sha256_digest(&manifest);
    (manifest, digest)
}

fn component() -> Vec<u8> {
    wharf_examples::build_hello_component().expect("build the hello component")
}

#[test]
fn blobs_larger_than_declared_and_absurd_sizes_are_refused_without_writing() {
    let registry = Registry::start();
    let host = registry.host();
    let env = TestEnv::new();
    let bytes = component();
    let out = env.path("out.wasm");
    let out_arg = out.to_str().unwrap_or_default().to_string();

    // The layer is declared 10 bytes long; the registry holds (and serves) the whole component.
    let (manifest, _) = wasm_manifest(&host, "hostile/short", &bytes, 10, None);
    push_manifest(&host, "hostile/short", "1", MANIFEST, &manifest);
    let pulled = wharf(&["pull", &registry.reference("hostile/short:1"), "-o", &out_arg], &env);
    pulled.assert_failed_at_once("wrong size");
    assert!(!out.exists());

    // A config declared at 1 TiB is never read (the layer alone is what a pull needs, and it is
    // verified): a warning says so, and the pulled file is the exact component.
    let (manifest, _) = wasm_manifest(&host, "hostile/huge", &bytes, bytes.len() as u64, Some(1 << 40));
    push_manifest(&host, "hostile/huge", "1", MANIFEST, &manifest);
    let pulled = wharf(&["pull", &registry.reference("hostile/huge:1"), "-o", &out_arg], &env);
    pulled.assert_ok();
    assert!(pulled.stderr.contains("the config declares 1099511627776 bytes"), "{pulled}");
    assert_eq!(std::fs::read(&out).expect("pulled"), bytes);

    // A layer declared at 1 TiB: the transfer stops when the real bytes end short of it; nothing written.
    std::fs::remove_file(&out).expect("remove");
    let (manifest, _) = wasm_manifest(&host, "hostile/long", &bytes, 1 << 40, None);
    push_manifest(&host, "hostile/long", "1", MANIFEST, &manifest);
    let pulled = wharf(&["pull", &registry.reference("hostile/long:1"), "-o", &out_arg], &env);
    pulled.assert_failed_at_once("wrong size");
    assert!(!out.exists());
}

#[test]
fn indexes_nested_without_end_are_refused_before_anything_is_copied() {
    let registry = Registry::start();
    let host = registry.host();
    let env = TestEnv::new();
    let bytes = component();
    let (manifest, digest) = wasm_manifest(&host, "hostile/nest", &bytes, bytes.len() as u64, None);
    push_manifest(&host, "hostile/nest", &digest, MANIFEST, &manifest);
    // Twelve indexes, each listing the one below (content addressing rules out a
    // true cycle, so an endless chain is what a hostile registry can serve).
    let (mut child, mut child_type, mut child_size) = (digest, MANIFEST, manifest.len());
    for _ in 0..12 {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [{"mediaType": child_type, "digest": child, "size": child_size}],
        })
        .to_string()
        .into_bytes();
        child = sha256_digest(&index);
        push_manifest(&host, "hostile/nest", &child, INDEX, &index);
        (child_type, child_size) = (INDEX, index.len());
    }
    push_manifest(&host, "hostile/nest", "deep", INDEX, &index_bytes(&child, child_size));

    let layout = env.path("layout");
    let copied =
        wharf(&["copy", &registry.reference("hostile/nest:deep"), &format!("oci:{}:deep", layout.display())], &env);
    copied.assert_failed_at_once("nest more than 8 levels");
    let blobs = layout.join("blobs").join("sha256");
    let written = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 0, "nothing copied into {}", blobs.display());
}

/// Eight levels of indexes (the nesting wharf allows), each node listing both
/// nodes of the next level, over one Wasm manifest: 2^7 paths lead to it. A
/// walk that revisits shared nodes makes 2^8 visits; each node is fetched from
/// the source and checked at the destination once. Counted on the wire by
/// proxies in front of both registries, not by the clock.
#[test]
fn a_diamond_graph_is_walked_once_per_node() {
    let source = Registry::start();
    let destination = Registry::start();
    let host = source.host();
    let env = TestEnv::new();
    let bytes = component();
    let (manifest, manifest_digest) = wasm_manifest(&host, "hostile/diamond", &bytes, bytes.len() as u64, None);
    push_manifest(&host, "hostile/diamond", &manifest_digest, MANIFEST, &manifest);
    let mut manifests = vec![manifest_digest.clone()];
    // Bottom up: both nodes of a level list both nodes of the level below.
    let mut below = vec![(manifest_digest, MANIFEST, manifest.len())];
    for level in (1..=7).rev() {
        let mut nodes = Vec::new();
        for side in ["a", "b"] {
            let entries: Vec<_> =
                below.iter().map(|(d, t, n)| json!({"mediaType": t, "digest": d, "size": n})).collect();
            let index = json!({
                "schemaVersion": 2,
                "mediaType": INDEX,
                "manifests": entries,
                "annotations": {"level": level.to_string(), "side": side},
            })
            .to_string()
            .into_bytes();
            let digest = sha256_digest(&index);
            push_manifest(&host, "hostile/diamond", &digest, INDEX, &index);
            manifests.push(digest.clone());
            nodes.push((digest, INDEX, index.len()));
        }
        below = nodes;
    }
    let entries: Vec<_> = below.iter().map(|(d, t, n)| json!({"mediaType": t, "digest": d, "size": n})).collect();
    let top = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}).to_string().into_bytes();
    push_manifest(&host, "hostile/diamond", "top", INDEX, &top);
    assert_eq!(manifests.len(), 15);

    let src_proxy = FaultProxy::start(&host);
    let dst_proxy = FaultProxy::start(&destination.host());
    let copied = wharf(
        &[
            "copy",
            &format!("{}/hostile/diamond:top", src_proxy.host()),
            &format!("{}/mirror/diamond:top", dst_proxy.host()),
            "--format",
            "json",
        ],
        &env,
    );
    copied.assert_ok();
    let count = |log: &[String], method: &str, digest: &str| {
        log.iter().filter(|l| l.starts_with(&format!("{method} ")) && l.contains(digest)).count()
    };
    let (src_log, dst_log) = (src_proxy.log(), dst_proxy.log());
    for digest in &manifests {
        assert_eq!(count(&src_log, "GET", digest), 1, "{digest} fetched once: {src_log:#?}");
        assert_eq!(count(&dst_log, "HEAD", digest), 1, "{digest} checked once: {dst_log:#?}");
        assert_eq!(count(&dst_log, "PUT", digest), 1, "{digest} is sent once: {dst_log:#?}");
    }
    let layer = sha256_digest(&bytes);
    assert_eq!(count(&src_log, "GET", &layer), 1, "the layer is read once: {src_log:#?}");
    assert_eq!(count(&dst_log, "HEAD", &layer), 1, "the layer is checked once: {dst_log:#?}");
    // 15 manifests + top + config and layer: one walk step each, in the report too.
    let report = copied.json();
    let listed = report["transfer"]["copied"].as_array().map_or(0, Vec::len)
        + report["transfer"]["skipped"].as_array().map_or(0, Vec::len)
        + report["transfer"]["mounted"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, 18, "{report:#}");
    let (status, _, body) =
        registry_tests::registry_get(&destination.host(), "/v2/mirror/diamond/manifests/top", INDEX);
    assert_eq!((status, body), (200, top));
}

fn index_bytes(child: &str, size: usize) -> Vec<u8> {
    json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [{"mediaType": INDEX, "digest": child, "size": size}]})
        .to_string()
        .into_bytes()
}

#[test]
fn deeply_nested_json_in_a_layout_gives_a_clear_error() {
    let env = TestEnv::new();
    let out = env.path("out.wasm");
    // A manifest that is 100 000 arrays deep (a registry would refuse to store it; a layout cannot).
    let mut nested =
        String::from(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":"#);
    nested.push_str(&"[".repeat(100_000));
    nested.push_str(&"]".repeat(100_000));
    nested.push('}');
    let digest = sha256_digest(nested.as_bytes());
    let hex = digest.trim_start_matches("sha256:");
    env.write(&format!("layout/blobs/sha256/{hex}"), nested.as_bytes());
    env.write("layout/oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": MANIFEST, "digest": digest, "size": nested.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "deep"}}],
    });
    env.write("layout/index.json", index.to_string());
    let layout = env.path("layout");
    let pulled =
        wharf(&["pull", &format!("oci:{}:deep", layout.display()), "-o", out.to_str().unwrap_or_default()], &env);
    pulled.assert_failed_at_once("malformed");
    assert!(!out.exists());

    // The same nesting in index.json itself.
    env.write(
        "layout/index.json",
        format!("{{\"schemaVersion\":2,\"manifests\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    let listed = wharf(&["inspect", &format!("oci:{}:deep", layout.display())], &env);
    listed.assert_failed_at_once("index.json");
}

/// How far a hostile endless body goes before the server gives up: far over
/// any cap wharf applies, small enough that a regression does not take the
/// machine down with it.
const ENDLESS_LIMIT: u64 = 256 << 20;

/// The peak memory (KiB) wharf may reach while refusing an endless body: a
/// pull of the example component stays near 20 MiB.
const BOUNDED_KIB: u64 = 64 << 10;

/// A body that never ends: JSON whitespace, which a reader without a cap
/// keeps reading.
fn endless() -> Answer {
    Answer::Endless {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        chunk: vec![b' '; 64 << 10],
        limit: ENDLESS_LIMIT,
    }
}

/// Asserts a refusal of an endless body: a clean failure naming `needle`, in
/// bounded memory, with the server left far short of its limit.
#[track_caller]
fn assert_refused_in_bounded_memory(run: &registry_tests::Run, peak_kib: u64, server: &ScriptedServer, needle: &str) {
    run.assert_failed_cleanly(needle);
    assert!(peak_kib < BOUNDED_KIB, "wharf peaked at {peak_kib} KiB reading an endless body\n{run}");
    let sent = server.endless_bytes_sent();
    eprintln!("refused an endless body: wharf peaked at {peak_kib} KiB; the server sent {sent} bytes");
    assert!(sent < ENDLESS_LIMIT / 4, "wharf kept reading: {sent} bytes sent\n{run}");
}

#[test]
fn an_endless_token_answer_ends_with_a_clear_error_in_bounded_memory() {
    // A registry whose challenge names a realm on itself, and the realm answers without end.
    let server = ScriptedServer::start(IpAddr::V4(Ipv4Addr::LOCALHOST), |request| {
        if request.path.starts_with("/token") {
            endless()
        } else {
            Answer::challenge(&format!(
                r#"Bearer realm="http://{}/token",service="s""#,
                request.header("host").unwrap_or_default()
            ))
        }
    });
    let env = TestEnv::new();
    let out = env.path("out.wasm");
    let mut pull = env.command(wharf_bin());
    pull.args(["pull", &format!("{}/app:1", server.host()), "-o", out.to_str().unwrap_or_default()]);
    let (run, peak_kib) = run_with_peak_rss(pull, "");
    assert_refused_in_bounded_memory(&run, peak_kib, &server, "token server answer from");
    assert!(run.stderr.contains("over 1048576 bytes"), "{run}");
    assert!(!out.exists());
}

#[test]
fn endless_registry_metadata_ends_with_a_clear_error_in_bounded_memory() {
    // A component that declares its world; the world's package is found by name through a
    // wkg registry whose .well-known metadata never ends.
    let registry = Registry::start();
    let mut env = TestEnv::new();
    let filter = "acme:plugins/filter-plugin";
    let component = check_example(&env, "fits", filter);
    let wit = wharf_examples::check_platform_wit();
    let reference = registry.reference("plugins/filter:1.0.0");
    let args = ["push", &component, &reference, "--wit", wit.to_str().unwrap_or_default(), "--world", "filter-plugin"];
    wharf(&args, &env).assert_ok();
    let metadata = ScriptedServer::start(IpAddr::V4(Ipv4Addr::LOCALHOST), |_| endless());
    env.write_wkg_config(&format!("[namespace_registries]\nacme = \"{}\"\n", metadata.host()));

    let mut check = env.command(wharf_bin());
    check.args(["check", &reference]);
    let (run, peak_kib) = run_with_peak_rss(check, "");
    let url = format!("registry metadata at http://{}/.well-known/wasm-pkg/registry.json", metadata.host());
    assert_refused_in_bounded_memory(&run, peak_kib, &metadata, &url);
    assert!(run.stderr.contains("over 65536 bytes"), "{run}");
}
