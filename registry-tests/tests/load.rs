//! Load: 200 small components pushed concurrently to a real registry, from one
//! process (the library, with bounded concurrency and one shared connection
//! pool) and from several `wharf push` processes at once. Every push must
//! succeed and every tag must name exactly what was pushed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures::StreamExt;
use registry_tests::{Registry, TestEnv, registry_get_json, sha256_digest, wharf};
use wharf::oci::annotations::Created;
use wharf::oci::transport::TransportOptions;
use wharf::push::{PushOptions, push};
use wharf::wasm::artifact::BuildOptions;

const COMPONENTS: usize = 200;
/// Pushes in flight at once from the one process.
const CONCURRENCY: usize = 16;
/// Processes pushing at once, each pushing its share in turn.
const PROCESSES: usize = 8;

/// `COMPONENTS` distinct valid components: the hello component with a custom
/// section naming its number (custom sections may follow any section).
fn distinct_components(env: &TestEnv) -> Vec<PathBuf> {
    let hello = wharf_examples::build_hello_component().expect("build the hello component");
    (0..COMPONENTS)
        .map(|i| {
            let mut bytes = hello.clone();
            let name = format!("wharf-load-{i}");
            let payload = [&[name.len() as u8][..], name.as_bytes()].concat();
            bytes.push(0);
            bytes.push(payload.len() as u8);
            bytes.extend_from_slice(&payload);
            env.write(&format!("c{i}.wasm"), &bytes)
        })
        .collect()
}

/// The manifest under `repo:tag`, read without wharf: its digest and its (first) layer's digest.
fn tagged(registry: &Registry, repo: &str, tag: &str) -> (String, String) {
    let (body, manifest) = registry_get_json(
        &registry.host(),
        &format!("/v2/{repo}/manifests/{tag}"),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer digest").to_string();
    (sha256_digest(&body), layer)
}

#[test]
fn two_hundred_concurrent_pushes_from_one_process_all_land() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let files = distinct_components(&env);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    // One options value for all pushes: its HTTP client (and so its connections) is shared.
    let transport = TransportOptions::default();
    // At most CONCURRENCY pushes in flight, interleaved on the runtime.
    let results: Vec<(usize, Result<String, String>)> = runtime.block_on(
        futures::stream::iter(files.iter().enumerate())
            .map(|(i, file)| {
                let transport = transport.clone();
                let reference = wharf::Reference::parse(&registry.reference(&format!("load/one:{i}")));
                async move {
                    let options = PushOptions {
                        build: BuildOptions {
                            created: Created::At(0),
                            annotations: BTreeMap::new(),
                            target: None,
                            scan_cache: None,
                        },
                        extra_tags: Vec::new(),
                        index: false,
                        chunk_index: false,
                        transport,
                        progress: None,
                    };
                    let pushed = match reference {
                        Ok(reference) => push(file, &reference, &options).await,
                        Err(e) => Err(e.into()),
                    };
                    (i, pushed.map(|r| r.digest.to_string()).map_err(|e| e.to_string()))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect(),
    );
    let failures: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failures.is_empty(), "{} of {COMPONENTS} pushes failed: {failures:#?}", failures.len());
    for (i, result) in &results {
        let reported = result.as_ref().expect("checked above");
        let (digest, layer) = tagged(&registry, "load/one", &i.to_string());
        assert_eq!(&digest, reported, "tag {i}");
        let bytes = std::fs::read(&files[*i]).expect("component");
        assert_eq!(layer, sha256_digest(&bytes), "layer of tag {i}");
    }
}

#[test]
fn two_hundred_pushes_from_eight_processes_at_once_all_land() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let files = distinct_components(&env);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..PROCESSES)
            .map(|p| {
                let (files, registry, env) = (&files, &registry, &env);
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    for i in (p..COMPONENTS).step_by(PROCESSES) {
                        let file = files[i].to_string_lossy().into_owned();
                        let run = wharf(&["push", &file, &registry.reference(&format!("load/many:{i}"))], env);
                        if run.code != 0 {
                            failed.push(format!("push {i}: {run}"));
                        }
                    }
                    failed
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker thread")).collect()
    });
    assert!(failures.is_empty(), "{} pushes failed:\n{}", failures.len(), failures.join("\n"));
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).expect("component");
        let (_, layer) = tagged(&registry, "load/many", &i.to_string());
        assert_eq!(layer, sha256_digest(&bytes), "tag {i}");
    }
}
