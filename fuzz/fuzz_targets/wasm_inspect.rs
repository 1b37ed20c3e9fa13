//! `wasm::inspect` on arbitrary bytes (a pulled layer or a file to push).
//!
//! Invariants: it fails only with `Error::InvalidWasm` naming the file, with
//! an offset inside the input; what it accepts is a valid binary under
//! wasmparser's default features; a module has no world, a component is
//! recognised as one; import and export lists are sorted; the answer is the
//! same when asked twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::wasm::Error;
use wharf::wasm::inspect::{WasmKind, inspect};

const NAME: &str = "fuzz.wasm";

// libfuzzer-sys aborts on every panic, before unwinding; `inspect` catches the
// panics of wit-parser's decoder (and falls back to the top-level names), so
// `init` puts the default hook back: a panic that escapes wharf still reaches
// libfuzzer-sys's own `catch_unwind`, which aborts: a crash.
fuzz_target!(init: drop(std::panic::take_hook()), |data: &[u8]| {
    match inspect(NAME, data) {
        Err(Error::InvalidWasm { path, reason, offset }) => {
            assert_eq!(path, NAME);
            assert!(!reason.is_empty(), "the error says why");
            assert!(offset <= data.len(), "offset {offset} is past the end ({} bytes)", data.len());
        }
        Err(other) => panic!("not an InvalidWasm error: {other:?}"),
        Ok(info) => {
            assert!(data.starts_with(b"\0asm"));
            let is_component = wasmparser::Parser::is_component(data);
            assert_eq!(info.kind == WasmKind::Component, is_component, "kind disagrees with the header");
            if info.kind == WasmKind::Module {
                assert!(info.imports.is_empty() && info.exports.is_empty(), "a module has no world");
            }
            assert!(info.imports.is_sorted(), "imports are not sorted");
            assert!(info.exports.is_sorted(), "exports are not sorted");
            let again = inspect(NAME, data).unwrap_or_else(|e| panic!("a second inspection failed: {e}"));
            assert_eq!(again, info, "inspection is not deterministic");
        }
    }
});
