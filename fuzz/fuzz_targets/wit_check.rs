//! WIT packages and components from untrusted bytes: `Wit::from_wasm` (a WIT
//! package pulled from a registry) and `World::check` of the bytes as a
//! component against two fixed worlds from `examples/check/`.
//!
//! Invariants: a WIT package that loads has a name, and each world it lists
//! can be selected by that name (or fails to encode with `InvalidWit`, never
//! "no such world"); a check fails only with `InvalidWasm` or `Usage` (a core
//! module), else gives a report whose `fits` is exactly "no problems", names
//! the world and the component, and compared types; a component that fits
//! also passes the names-only check on the world `inspect` reads from it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wharf::wasm::Error;
use wharf::wasm::check::{Wit, World};

const SOURCE: &str = "fuzz.wasm";
const MAX_WORLDS: usize = 4;

/// `acme:plugins/filter-plugin` (a record, a `use`) and `acme:platform/service`
/// (interfaces on semver tracks), loaded once from the example WIT sources.
fn load_targets() -> Vec<World> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/check");
    [("platform/wit", "filter-plugin"), ("platform-semver/wit", "service")]
        .into_iter()
        .map(|(dir, world)| {
            let wit = Wit::load(&examples.join(dir)).unwrap_or_else(|e| panic!("fixture {dir}: {e}"));
            wit.world(Some(world)).unwrap_or_else(|e| panic!("fixture {dir} {world}: {e}"))
        })
        .collect()
}

thread_local! {
    static TARGETS: Vec<World> = load_targets();
}

// libfuzzer-sys aborts on every panic, before unwinding; wharf itself catches
// the panics wac-types raises on shapes it cannot represent (`check::guarded`)
// and turns them into errors. `init` puts the default hook back so those are
// caught as in production; a panic that escapes wharf still reaches
// libfuzzer-sys's own `catch_unwind`, which aborts: a crash.
fuzz_target!(init: drop(std::panic::take_hook()), |data: &[u8]| {
    check_wit_package(data);
    TARGETS.with(|targets| {
        for target in targets {
            check_component(target, data);
        }
    });
});

fn check_wit_package(data: &[u8]) {
    let wit = match Wit::from_wasm(SOURCE, data) {
        Ok(wit) => wit,
        Err(Error::InvalidWit { location, reason }) => {
            assert_eq!(location, SOURCE);
            assert!(!reason.is_empty());
            return;
        }
        Err(other) => panic!("Wit::from_wasm: not an InvalidWit error: {other:?}"),
    };
    assert!(!wit.package_name().is_empty(), "a loaded WIT package has a name");
    let worlds = wit.worlds();
    for world in worlds.iter().take(MAX_WORLDS) {
        match wit.world(Some(world)) {
            Ok(target) => assert_eq!(target.name(), world),
            Err(Error::InvalidWit { .. }) => {}
            Err(other) => panic!("world {world} is listed but cannot be selected: {other}"),
        }
    }
    if worlds.len() == 1 {
        match wit.world(None) {
            Ok(target) => assert_eq!(target.name(), worlds[0]),
            Err(Error::InvalidWit { .. }) => {}
            Err(other) => panic!("the only world {} is not the default: {other}", worlds[0]),
        }
    }
}

fn check_component(target: &World, data: &[u8]) {
    let report = match target.check(SOURCE, data.to_vec()) {
        Ok(report) => report,
        Err(Error::InvalidWasm { path, reason, .. }) => {
            assert_eq!(path, SOURCE);
            assert!(!reason.is_empty());
            return;
        }
        Err(Error::Usage(reason)) => {
            assert!(data.starts_with(b"\0asm\x01\0\0\0"), "Usage error for a non-module: {reason}");
            return;
        }
        Err(other) => panic!("check: unexpected error {other:?}"),
    };
    assert_eq!(report.fits, report.problems.is_empty(), "fits must mean no problems");
    assert_eq!(report.world, target.name());
    assert_eq!(report.component, SOURCE);
    assert!(report.types_checked);
    for problem in &report.problems {
        assert!(!problem.to_string().is_empty());
    }
    if report.fits {
        let info = wharf::wasm::inspect::inspect(SOURCE, data).unwrap_or_else(|e| panic!("a component that fits: {e}"));
        let by_name = target.check_names(SOURCE, &info.imports, &info.exports);
        assert!(by_name.fits, "fits by type but not by name: {:?}", by_name.problems);
    }
}
