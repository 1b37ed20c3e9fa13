//! Chunk indexes beside artifacts, and pulls that fetch only what changed,
//! against a real docker-registry (which has no referrers API: the index is
//! listed under the referrers fallback tag) and `oci:` layouts.

use registry_tests::fault_proxy::{FaultProxy, Link};
use registry_tests::{Registry, TestEnv, registry_get, registry_get_json, sha256_digest, wharf};
use serde_json::Value;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CHUNK_INDEX: &str = "application/vnd.wharf.chunk-index.v1+json";

/// A core module whose one data segment holds `payload`: a Wasm binary of any
/// size whose bytes the test chooses (a rebuild is an edit of the payload).
fn module_with(payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len(), out);
        out.extend_from_slice(body);
    }
    let pages = payload.len() / 65536 + 1;
    let mut memory = vec![1, 0];
    leb(pages, &mut memory);
    // One active segment: memory 0, offset (i32.const 0), the bytes.
    let mut data = vec![1, 0, 0x41, 0, 0x0b];
    leb(payload.len(), &mut data);
    data.extend_from_slice(payload);
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    section(5, &memory, &mut out);
    section(11, &data, &mut out);
    out
}

/// Pseudo-random bytes (xorshift), the same every run.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A 4 MiB module, over the size from which wharf attaches chunk indexes.
fn big_module(seed: u64) -> Vec<u8> {
    module_with(&noise(4 << 20, seed))
}

fn push(env: &TestEnv, file: &std::path::Path, reference: &str, extra: &[&str]) -> Value {
    let mut args = vec!["push", file.to_str().unwrap_or_default(), reference, "--format", "json"];
    args.extend_from_slice(extra);
    let pushed = wharf(&args, env);
    pushed.assert_ok();
    pushed.json()
}

/// The referrers fallback index of `digest` in `repo` (`None`: no such tag).
fn fallback_index(registry: &Registry, repo: &str, digest: &str) -> Option<Value> {
    let tag = digest.replace(':', "-");
    let (status, _, body) = registry_get(&registry.host(), &format!("/v2/{repo}/manifests/{tag}"), INDEX);
    (status == 200).then(|| serde_json::from_slice(&body).expect("fallback index JSON"))
}

/// The chunk index document of `digest` in `repo`, through its referrer.
fn chunk_index(registry: &Registry, repo: &str, digest: &str) -> Value {
    let fallback = fallback_index(registry, repo, digest).expect("a referrers fallback tag");
    let entries = fallback["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 1, "{fallback}");
    assert_eq!(entries[0]["artifactType"], CHUNK_INDEX);
    let referrer = entries[0]["digest"].as_str().unwrap_or_default();
    let (_, manifest) = registry_get_json(&registry.host(), &format!("/v2/{repo}/manifests/{referrer}"), MANIFEST);
    assert_eq!(manifest["subject"]["digest"], digest);
    let blob = manifest["layers"][0]["digest"].as_str().unwrap_or_default();
    let (_, index) = registry_get_json(&registry.host(), &format!("/v2/{repo}/blobs/{blob}"), "*/*");
    index
}

/// Checks that `index` tiles the layer `layer` exactly, each chunk's digest its bytes'.
fn assert_index_describes(index: &Value, layer: &[u8]) {
    assert_eq!(index["mediaType"], CHUNK_INDEX);
    assert_eq!(index["layer"]["digest"], sha256_digest(layer));
    let chunks = index["chunks"].as_array().expect("chunks");
    let mut next = 0usize;
    for chunk in chunks {
        let (offset, size) =
            (chunk["offset"].as_u64().unwrap_or(0) as usize, chunk["size"].as_u64().unwrap_or(0) as usize);
        assert_eq!(offset, next);
        assert_eq!(chunk["digest"], sha256_digest(&layer[offset..offset + size]));
        next = offset + size;
    }
    assert_eq!(next, layer.len());
    let average = layer.len() / chunks.len();
    assert!((8 << 10..32 << 10).contains(&average), "{average} bytes per chunk on average");
}

#[test]
fn a_pushed_artifact_is_byte_for_byte_the_same_with_and_without_its_chunk_index() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = big_module(1);
    let file = env.write("big.wasm", &bytes);

    let with = push(&env, &file, &registry.reference("with/big:1"), &["--chunk-index"]);
    let without = push(&env, &file, &registry.reference("without/big:1"), &[]);
    let digest = with["digest"].as_str().unwrap_or_default();
    assert_eq!(with["digest"], without["digest"]);
    assert_eq!(with["chunkIndex"]["indexed"], "fallback-tag", "{with}");
    assert!(without.get("chunkIndex").is_none(), "{without}");
    assert!(fallback_index(&registry, "without/big", digest).is_none());

    // The artifact is the one-layer artifact; the index lies beside it.
    let (manifest_bytes, manifest) = registry_get_json(&registry.host(), "/v2/with/big/manifests/1", MANIFEST);
    assert_eq!(sha256_digest(&manifest_bytes), digest);
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));
    assert_index_describes(&chunk_index(&registry, "with/big", digest), &bytes);

    // A push again attaches nothing more.
    let again = push(&env, &file, &registry.reference("with/big:1"), &["--chunk-index"]);
    assert!(again.get("chunkIndex").is_none(), "{again}");
    assert_eq!(
        fallback_index(&registry, "with/big", digest).expect("tag")["manifests"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_registry_that_refuses_the_chunk_index_still_gets_the_artifact() {
    let registry = Registry::start();
    let proxy = registry_tests::fault_proxy::FaultProxy::start(&registry.host());
    proxy.add(registry_tests::fault_proxy::Rule {
        method: Some("PUT".into()),
        path: "/manifests/sha256".into(),
        times: usize::MAX,
        fault: registry_tests::fault_proxy::Fault::Status(400, Vec::new()),
    });
    let env = TestEnv::new();
    let bytes = big_module(11);
    let file = env.write("big.wasm", &bytes);
    let pushed = push(&env, &file, &format!("{}/refusing/big:1", proxy.host()), &["--chunk-index"]);
    assert!(pushed.get("chunkIndex").is_none(), "{pushed}");
    let warnings = pushed["warnings"].to_string();
    assert!(warnings.contains("no chunk index was attached"), "{pushed}");
    let (manifest_bytes, _) = registry_get_json(&registry.host(), "/v2/refusing/big/manifests/1", MANIFEST);
    assert_eq!(pushed["digest"], sha256_digest(&manifest_bytes));
}

#[test]
fn a_small_layer_gets_no_chunk_index() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let file = env.write("small.wasm", module_with(&noise(100_000, 2)));
    let pushed = push(&env, &file, &registry.reference("small/one:1"), &["--chunk-index"]);
    assert!(pushed.get("chunkIndex").is_none(), "{pushed}");
    assert!(fallback_index(&registry, "small/one", pushed["digest"].as_str().unwrap_or_default()).is_none());
}

#[test]
fn without_the_flag_a_push_attaches_no_index_and_a_pull_leaves_the_chunk_cache_empty() {
    let registry = Registry::start();
    let proxy = registry_tests::fault_proxy::FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let bytes = big_module(12);
    let file = env.write("big.wasm", &bytes);
    let reference = format!("{}/plain/big:1", proxy.host());

    // A push and a re-push: no index, and no request about one (no referrers lookup, no fallback tag).
    for _ in 0..2 {
        let pushed = push(&env, &file, &reference, &[]);
        assert!(pushed.get("chunkIndex").is_none(), "{pushed}");
    }
    let digest = sha256_digest(&registry_get_json(&registry.host(), "/v2/plain/big/manifests/1", MANIFEST).0);
    assert!(fallback_index(&registry, "plain/big", &digest).is_none());
    let about_an_index = |l: &&String| l.contains("sha256-") || l.contains("/referrers/");
    assert!(!proxy.log().iter().any(|l| about_an_index(&l)), "{:?}", proxy.log());

    // A pull of an artifact without an index: one lookup, the layer whole, nothing in the cache.
    proxy.clear_log();
    let pulled = pull(&env, &reference, "pulled.wasm");
    assert_eq!(std::fs::read(env.path("pulled.wasm")).expect("pulled"), bytes);
    assert_eq!(pulled["transfer"]["method"], "whole", "{pulled}");
    assert!(pulled["transfer"]["fallback"].as_str().unwrap_or_default().contains("no chunk index"), "{pulled}");
    assert!(!env.path(".cache/wharf/chunks").exists(), "the chunk cache was written");
    // The one lookup: the referrers API, then (docker-registry has none) its fallback tag.
    let lookups: Vec<_> = proxy.log().into_iter().filter(|l| about_an_index(&l)).collect();
    assert_eq!(lookups.len(), 2, "{lookups:?}");
}

#[test]
fn wharf_index_attaches_one_to_an_artifact_pushed_without() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let bytes = big_module(3);
    let file = env.write("big.wasm", &bytes);
    let reference = registry.reference("other/big:1");
    let pushed = push(&env, &file, &reference, &[]);
    let digest = pushed["digest"].as_str().unwrap_or_default();

    let indexed = wharf(&["index", &reference, "--format", "json"], &env);
    indexed.assert_ok();
    let report = indexed.json();
    assert_eq!(report["digest"], digest);
    assert_eq!(report["attached"]["indexed"], "fallback-tag", "{report}");
    assert_index_describes(&chunk_index(&registry, "other/big", digest), &bytes);

    let again = wharf(&["index", &reference, "--format", "json"], &env);
    again.assert_ok();
    assert!(again.json().get("attached").is_none(), "{}", again.stdout);
}

#[test]
fn an_oci_layout_gets_the_chunk_index_under_the_fallback_tag() {
    let env = TestEnv::new();
    let bytes = big_module(4);
    let file = env.write("big.wasm", &bytes);
    let layout = env.path("store");
    let reference = format!("oci:{}:big-1", layout.display());
    let pushed = push(&env, &file, &reference, &["--chunk-index"]);
    let digest = pushed["digest"].as_str().unwrap_or_default();
    assert_eq!(pushed["chunkIndex"]["indexed"], "fallback-tag", "{pushed}");
    let top: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json")).expect("JSON");
    let tag = digest.replace(':', "-");
    let tagged = top["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .any(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str());
    assert!(tagged, "{top}");
    let indexed = wharf(&["index", &reference, "--format", "json"], &env);
    indexed.assert_ok();
    assert!(indexed.json().get("attached").is_none(), "{}", indexed.stdout);

    // A pull from the layout reads it whole, and leaves the chunk cache alone (as local as the cache).
    let pulled = pull(&env, &reference, "pulled.wasm");
    assert_eq!(pulled["transfer"]["method"], "whole", "{pulled}");
    assert!(pulled["transfer"]["fallback"].as_str().unwrap_or_default().contains("local"), "{pulled}");
    assert_eq!(std::fs::read(env.path("pulled.wasm")).expect("pulled"), bytes);
    assert!(!cached_layer(&env, &bytes).exists());

    // A layout that is not there is not made by indexing it.
    let missing = env.path("typo");
    wharf(&["index", &format!("oci:{}:big-1", missing.display())], &env).assert_code(2);
    assert!(!missing.exists());
}

/// A rebuild of [`big_module`]'s payload: 64 KiB rewritten in place at three
/// places (the same size, so an index of the old build can be made to claim
/// the new one), about 5 % of the bytes; `edit` seeds the new bytes.
fn rebuilt(payload_seed: u64, edit: u64) -> Vec<u8> {
    let mut payload = noise(4 << 20, payload_seed);
    for at in [500_000usize, 2_000_000, 3_500_000] {
        payload[at..at + 65536].copy_from_slice(&noise(65536, ((at as u64) << 8) + 2 * edit + 1));
    }
    module_with(&payload)
}

/// A 40 MB/s link to `registry` (the fault proxy at that rate): slow enough
/// that a pull by chunks beats a whole one, as on the links chunks are for
/// (on loopback a whole pull is quicker, and wharf measures that).
fn slow_link(registry: &Registry) -> FaultProxy {
    FaultProxy::start_throttled(&registry.host(), Link::new(40_000_000, std::time::Duration::ZERO))
}

fn pull(env: &TestEnv, reference: &str, out: &str) -> Value {
    let pulled = wharf(&["pull", reference, "-o", env.path(out).to_str().unwrap_or_default(), "--format", "json"], env);
    pulled.assert_ok();
    pulled.json()
}

/// The layer file the chunk cache of `env` keeps for `bytes`.
fn cached_layer(env: &TestEnv, bytes: &[u8]) -> std::path::PathBuf {
    env.path(".cache/wharf/chunks/layers").join(sha256_digest(bytes).trim_start_matches("sha256:"))
}

/// [`big_module`] of `seed` and its rebuild, pushed with chunk indexes as `REPO:1` and `REPO:2`.
fn push_two_versions(env: &TestEnv, registry: &Registry, repo: &str, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let (old, new) = (big_module(seed), rebuilt(seed, 0));
    push(env, &env.write("old.wasm", &old), &registry.reference(&format!("{repo}:1")), &["--chunk-index"]);
    push(env, &env.write("new.wasm", &new), &registry.reference(&format!("{repo}:2")), &["--chunk-index"]);
    (old, new)
}

#[test]
fn a_rebuilt_component_is_pulled_by_its_changed_chunks() {
    let registry = Registry::start();
    let proxy = slow_link(&registry);
    let env = TestEnv::new();
    let (old, new) = push_two_versions(&env, &registry, "app/one", 5);
    let via_proxy = |tag: &str| format!("{}/app/one:{tag}", proxy.host());

    // The first pull: nothing cached, the layer comes whole.
    let first = pull(&env, &via_proxy("1"), "pulled-1.wasm");
    assert_eq!(first["transfer"]["method"], "whole", "{first}");
    assert_eq!(std::fs::read(env.path("pulled-1.wasm")).expect("pulled"), old);
    assert!(cached_layer(&env, &old).is_file());

    // The rebuild: only its changed chunks cross the wire.
    proxy.reset_body_bytes();
    let second = pull(&env, &via_proxy("2"), "pulled-2.wasm");
    let moved = proxy.body_bytes_sent();
    assert_eq!(std::fs::read(env.path("pulled-2.wasm")).expect("pulled"), new);
    let transfer = &second["transfer"];
    assert_eq!(transfer["method"], "chunks", "{second}");
    let fetched = transfer["bytesFetched"].as_u64().unwrap_or(u64::MAX);
    assert_eq!(transfer["bytesReused"].as_u64().unwrap_or(0) + fetched, new.len() as u64, "{transfer}");
    // 3 x 64 KiB changed; with the chunks each edit touches, well under a fifth of the layer.
    assert!(fetched < new.len() as u64 / 5, "{transfer}");
    assert!(moved < new.len() as u64 / 5, "{moved} bytes on the wire: {transfer}");
    assert!(moved >= fetched, "{moved} bytes on the wire, {fetched} counted by wharf");
    let ranges = proxy.log().iter().filter(|l| l.contains("/blobs/sha256:")).count();
    assert!(ranges <= 8, "adjacent chunks are fetched together: {:?}", proxy.log());

    // The same again: from the cache, no blob moved.
    proxy.clear_log();
    let third = pull(&env, &via_proxy("2"), "pulled-3.wasm");
    assert_eq!(third["transfer"]["method"], "cache", "{third}");
    assert_eq!(std::fs::read(env.path("pulled-3.wasm")).expect("pulled"), new);
    let layer = sha256_digest(&new);
    assert!(!proxy.log().iter().any(|l| l.contains(&layer)), "{:?}", proxy.log());
}

#[test]
fn a_small_layer_is_pulled_whole_without_looking_for_an_index() {
    let registry = Registry::start();
    let proxy = registry_tests::fault_proxy::FaultProxy::start(&registry.host());
    let env = TestEnv::new();
    let bytes = module_with(&noise(100_000, 6));
    push(&env, &env.write("small.wasm", &bytes), &registry.reference("small/two:1"), &[]);
    let pulled = pull(&env, &format!("{}/small/two:1", proxy.host()), "small.wasm");
    assert_eq!(pulled["transfer"]["method"], "whole");
    assert_eq!(std::fs::read(env.path("small.wasm")).expect("pulled"), bytes);
    assert!(!proxy.log().iter().any(|l| l.contains("sha256-")), "no referrers lookup: {:?}", proxy.log());
}

#[test]
fn a_corrupted_cached_chunk_is_detected_and_fetched_again() {
    let registry = Registry::start();
    let proxy = slow_link(&registry);
    let env = TestEnv::new();
    let builds = [big_module(7), rebuilt(7, 0), rebuilt(7, 1)];
    for (i, build) in builds.iter().enumerate() {
        let file = env.write(&format!("build-{i}.wasm"), build);
        push(&env, &file, &registry.reference(&format!("app/two:{i}")), &["--chunk-index"]);
    }
    pull(&env, &format!("{}/app/two:0", proxy.host()), "pulled-0.wasm");
    let second = pull(&env, &format!("{}/app/two:1", proxy.host()), "pulled-1.wasm");
    assert_eq!(second["transfer"]["method"], "chunks", "{second}");

    // A byte of both cached builds flips, in a chunk all three share (and the
    // cache holds the index of each, made when they were whole).
    let cached = [cached_layer(&env, &builds[0]), cached_layer(&env, &builds[1])];
    for path in &cached {
        let mut damaged = std::fs::read(path).expect("cached layer");
        damaged[1_000_000] ^= 0xff;
        std::fs::write(path, &damaged).expect("damage the cache");
    }

    let third = pull(&env, &format!("{}/app/two:2", proxy.host()), "pulled-2.wasm");
    assert_eq!(std::fs::read(env.path("pulled-2.wasm")).expect("pulled"), builds[2]);
    let transfer = &third["transfer"];
    assert_eq!(transfer["method"], "chunks", "{third}");
    assert!(transfer["chunksRefetched"].as_u64().unwrap_or(0) >= 1, "{transfer}");
    assert!(cached.iter().any(|path| !path.exists()), "the damaged layer read leaves the cache");
    assert!(cached_layer(&env, &builds[2]).is_file());
}

/// Pushes `index` as a chunk index referrer of the manifest tagged `tag` in
/// `repo`, as the only entry of its referrers fallback tag: what a registry
/// (or anyone who can push there) could serve.
fn attach_index(registry: &Registry, repo: &str, tag: &str, index: &Value) {
    let host = registry.host();
    let (subject_bytes, _) = registry_get_json(&host, &format!("/v2/{repo}/manifests/{tag}"), MANIFEST);
    let subject = sha256_digest(&subject_bytes);
    let index_bytes = serde_json::to_vec(index).expect("index JSON");
    let blob = registry_tests::push_blob(&host, repo, &index_bytes);
    let config = registry_tests::push_blob(&host, repo, b"{}");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": CHUNK_INDEX,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": CHUNK_INDEX, "digest": blob, "size": index_bytes.len()}],
        "subject": {"mediaType": MANIFEST, "digest": subject, "size": subject_bytes.len()},
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest JSON");
    let manifest_digest = sha256_digest(&manifest_bytes);
    registry_tests::push_manifest(&host, repo, &manifest_digest, MANIFEST, &manifest_bytes);
    let fallback = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{
            "mediaType": MANIFEST,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "artifactType": CHUNK_INDEX,
        }],
    });
    let fallback_bytes = serde_json::to_vec(&fallback).expect("fallback JSON");
    registry_tests::push_manifest(&host, repo, &subject.replace(':', "-"), INDEX, &fallback_bytes);
}

#[test]
fn a_lying_chunk_index_never_produces_a_wrong_file() {
    let registry = Registry::start();
    let proxy = slow_link(&registry);
    let env = TestEnv::new();
    let old = big_module(8);
    push(&env, &env.write("old.wasm", &old), &registry.reference("app/three:1"), &["--chunk-index"]);
    let old_digest = sha256_digest(&registry_get_json(&registry.host(), "/v2/app/three/manifests/1", MANIFEST).0);
    let old_index = chunk_index(&registry, "app/three", &old_digest);
    pull(&env, &format!("{}/app/three:1", proxy.host()), "pulled-1.wasm");

    // Each lie about a new build (pushed without an index, then given the lie).
    type Lie = fn(&mut Value, &Value);
    let lies: [(&str, Lie); 3] = [
        // The old build's chunks, every one of them in the cache and true to its digest.
        ("the old build's chunks", |lie, old| lie["chunks"] = old["chunks"].clone()),
        // A boundary moved by 100 bytes, the digests kept (the chunks still tile the layer).
        ("a moved boundary", |lie, _| {
            let chunks = lie["chunks"].as_array_mut().expect("chunks");
            let i = (0..chunks.len() - 1)
                .find(|&i| chunks[i]["size"].as_u64() < Some(60_000) && chunks[i + 1]["size"].as_u64() > Some(5_000))
                .expect("two chunks to move a boundary between");
            chunks[i]["size"] = Value::from(chunks[i]["size"].as_u64().unwrap_or(0) + 100);
            chunks[i + 1]["offset"] = Value::from(chunks[i + 1]["offset"].as_u64().unwrap_or(0) + 100);
            chunks[i + 1]["size"] = Value::from(chunks[i + 1]["size"].as_u64().unwrap_or(0) - 100);
        }),
        // Every chunk's digest another's (the first chunk's).
        ("wrong digests", |lie, _| {
            let chunks = lie["chunks"].as_array_mut().expect("chunks");
            let first = chunks[0]["digest"].clone();
            for chunk in chunks.iter_mut() {
                chunk["digest"] = first.clone();
            }
        }),
    ];
    for (n, (what, lie)) in lies.iter().enumerate() {
        let new = rebuilt(8, n as u64 + 1);
        let tag = format!("{}", n + 2);
        // The true index of the new build, from another repository.
        let truth = push(
            &env,
            &env.write("new.wasm", &new),
            &registry.reference(&format!("truth/three:{tag}")),
            &["--chunk-index"],
        );
        let mut index = chunk_index(&registry, "truth/three", truth["digest"].as_str().unwrap_or_default());
        push(&env, &env.path("new.wasm"), &registry.reference(&format!("app/three:{tag}")), &[]);
        lie(&mut index, &old_index);
        attach_index(&registry, "app/three", &tag, &index);

        let out = format!("pulled-{tag}.wasm");
        let pulled = pull(&env, &format!("{}/app/three:{tag}", proxy.host()), &out);
        assert_eq!(std::fs::read(env.path(&out)).expect("pulled"), new, "{what}: {pulled}");
        assert_eq!(pulled["transfer"]["method"], "whole", "{what}: {pulled}");
        assert!(pulled["transfer"]["fallback"].as_str().is_some(), "{what}: {pulled}");
    }
}

#[test]
fn a_registry_that_ignores_range_still_pulls_correctly() {
    let registry = Registry::start();
    let proxy = slow_link(&registry);
    let env = TestEnv::new();
    let (_, new) = push_two_versions(&env, &registry, "app/four", 9);
    pull(&env, &format!("{}/app/four:1", proxy.host()), "pulled-1.wasm");

    proxy.add(registry_tests::fault_proxy::Rule {
        method: Some("GET".into()),
        path: sha256_digest(&new),
        times: usize::MAX,
        fault: registry_tests::fault_proxy::Fault::DropRequestHeader("Range".into()),
    });
    proxy.reset_body_bytes();
    let pulled = pull(&env, &format!("{}/app/four:2", proxy.host()), "pulled-2.wasm");
    assert_eq!(std::fs::read(env.path("pulled-2.wasm")).expect("pulled"), new);
    let transfer = &pulled["transfer"];
    assert_eq!(transfer["method"], "whole", "{pulled}");
    assert!(transfer["fallback"].as_str().unwrap_or_default().contains("Range"), "{transfer}");
    assert_eq!(transfer["bytesFetched"], new.len(), "{transfer}");
    assert!(proxy.faults_served() >= 1, "{:?}", proxy.log());
    // The whole blob the registry sent for the range request is the pull: it is not fetched twice.
    let moved = proxy.body_bytes_sent();
    assert!(moved < new.len() as u64 * 6 / 5, "{moved} bytes moved: {:?}", proxy.log());
}

#[test]
fn concurrent_pulls_share_the_chunk_cache_safely() {
    let registry = Registry::start();
    let mut env = TestEnv::new();
    // 10 MiB: room for two of these layers, so the pulls prune what the others may be reading.
    env.set_var("WHARF_CHUNK_CACHE_MAX", "10");
    let builds = [big_module(10), rebuilt(10, 0), rebuilt(10, 1), rebuilt(10, 2)];
    for (i, build) in builds.iter().enumerate() {
        push(
            &env,
            &env.write(&format!("build-{i}.wasm"), build),
            &registry.reference(&format!("app/five:{i}")),
            &["--chunk-index"],
        );
    }
    let proxy = slow_link(&registry);
    pull(&env, &format!("{}/app/five:0", proxy.host()), "pulled-0.wasm");
    // Three pulls at once into one cache: each reads the cached build, adds its own, and prunes.
    std::thread::scope(|scope| {
        for i in 1..builds.len() {
            let (env, proxy) = (&env, &proxy);
            scope.spawn(move || pull(env, &format!("{}/app/five:{i}", proxy.host()), &format!("pulled-{i}.wasm")));
        }
    });
    for (i, build) in builds.iter().enumerate() {
        assert_eq!(&std::fs::read(env.path(&format!("pulled-{i}.wasm"))).expect("pulled"), build, "build {i}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(env.path(".cache/wharf/chunks/layers"))
        .expect("layers")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

/// The blob file of `bytes` in the `oci:` layout at `layout`.
fn layout_blob(layout: &std::path::Path, bytes: &[u8]) -> std::path::PathBuf {
    layout.join("blobs/sha256").join(sha256_digest(bytes).trim_start_matches("sha256:"))
}

#[test]
fn copying_a_rebuild_into_a_layout_moves_only_its_changed_chunks() {
    let registry = Registry::start();
    let proxy = slow_link(&registry);
    let env = TestEnv::new();
    let (old, new) = push_two_versions(&env, &registry, "app/layout", 21);
    let layout = env.path("layout");
    let copy = |tag: &str| {
        let copied = wharf(
            &[
                "copy",
                &format!("{}/app/layout:{tag}", proxy.host()),
                &format!("oci:{}:{tag}", layout.display()),
                "--format",
                "json",
            ],
            &env,
        );
        copied.assert_ok();
        copied.json()
    };

    // v1 into the layout: whole (nothing cached yet), and kept in the chunk cache.
    let first = copy("1");
    assert_eq!(std::fs::read(layout_blob(&layout, &old)).expect("v1's blob"), old);
    assert!(cached_layer(&env, &old).is_file(), "{first}");
    assert_eq!(first["transfer"]["layers"][0]["transfer"]["method"], "whole", "{first}");

    // v2 beside it: only the changed chunks cross the wire.
    proxy.reset_body_bytes();
    let second = copy("2");
    let moved = proxy.body_bytes_sent();
    assert_eq!(std::fs::read(layout_blob(&layout, &new)).expect("v2's blob"), new, "byte-exact");
    assert_eq!(std::fs::read(layout_blob(&layout, &old)).expect("v1's blob"), old, "v1 untouched");
    // 3 x 64 KiB changed (4.7 %): with the chunks each edit touches, the index
    // and the manifests, well under a fifth of the layer.
    assert!(moved < new.len() as u64 / 5, "{moved} bytes on the wire: {second}");
    assert_eq!(second["transfer"]["layers"][0]["transfer"]["method"], "chunks", "{second}");

    // Both versions stay readable from the layout.
    for (tag, bytes) in [("1", &old), ("2", &new)] {
        let out = format!("from-layout-{tag}.wasm");
        let pulled = pull(&env, &format!("oci:{}:{tag}", layout.display()), &out);
        assert_eq!(pulled["transfer"]["method"], "whole", "{pulled}");
        assert_eq!(&std::fs::read(env.path(&out)).expect("pulled"), bytes);
    }
}

/// `pull --for` stages the Wasm as `wharf pull` brings it: after v1 was pulled, v2 for wasmtime
/// moves only its changed chunks, and the staged file is byte-exact.
#[test]
fn pull_for_a_runtime_fetches_a_rebuild_by_its_changed_chunks() {
    let registry = Registry::start();
    let proxy = slow_link(&registry);
    let env = TestEnv::new();
    let (_, new) = push_two_versions(&env, &registry, "app/run", 23);
    pull(&env, &format!("{}/app/run:1", proxy.host()), "v1.wasm");

    proxy.reset_body_bytes();
    let dir = env.path("run");
    let args = ["pull", &format!("{}/app/run:2", proxy.host()), "--for", "wasmtime", "-o", &dir.to_string_lossy()];
    let staged = wharf(&[&args[..], &["--format", "json"]].concat(), &env);
    staged.assert_ok();
    let report = staged.json();
    let moved = proxy.body_bytes_sent();
    assert_eq!(report["transfer"]["method"], "chunks", "{report}");
    assert!(moved < new.len() as u64 / 5, "{moved} bytes on the wire: {report}");
    let file = dir.join(report["files"][0].as_str().unwrap_or_default());
    assert_eq!(std::fs::read(file).expect("the staged Wasm"), new, "byte-exact");
}

/// A rebuild of [`big_module`]'s payload with 4 KiB rewritten at 40 places
/// spread over the layer: about 40 range requests for a chunked pull.
fn rebuilt_in_many_places(payload_seed: u64) -> Vec<u8> {
    let mut payload = noise(4 << 20, payload_seed);
    for i in 0..40usize {
        let at = 50_000 + i * 100_000;
        payload[at..at + 4096].copy_from_slice(&noise(4096, 1000 + i as u64));
    }
    module_with(&payload)
}

#[test]
fn a_rebuild_is_pulled_whole_where_the_measured_link_makes_that_quicker() {
    let registry = Registry::start();
    let (old, new) = (big_module(23), rebuilt_in_many_places(23));
    let pusher = TestEnv::new();
    push(&pusher, &pusher.write("old.wasm", &old), &registry.reference("app/rule:1"), &["--chunk-index"]);
    push(&pusher, &pusher.write("new.wasm", &new), &registry.reference("app/rule:2"), &["--chunk-index"]);

    // Loopback: the first pull measures the link; about 40 range requests
    // (4 ms each) cost more than the reused 2.5 MB take to arrive whole.
    let env = TestEnv::new();
    pull(&env, &registry.reference("app/rule:1"), "old.wasm");
    let fast = pull(&env, &registry.reference("app/rule:2"), "new.wasm");
    assert_eq!(std::fs::read(env.path("new.wasm")).expect("pulled"), new);
    assert_eq!(fast["transfer"]["method"], "whole", "{fast}");
    assert!(fast["transfer"]["fallback"].as_str().unwrap_or_default().contains("link is fast"), "{fast}");

    // The same pulls over a 10 MB/s link: the reused bytes are worth the requests.
    let proxy = FaultProxy::start_throttled(&registry.host(), Link::new(10_000_000, std::time::Duration::ZERO));
    let env = TestEnv::new();
    pull(&env, &format!("{}/app/rule:1", proxy.host()), "old.wasm");
    proxy.reset_body_bytes();
    let slow = pull(&env, &format!("{}/app/rule:2", proxy.host()), "new.wasm");
    assert_eq!(std::fs::read(env.path("new.wasm")).expect("pulled"), new);
    assert_eq!(slow["transfer"]["method"], "chunks", "{slow}");
    assert!(proxy.body_bytes_sent() < new.len() as u64 * 3 / 4, "{slow}");
}
