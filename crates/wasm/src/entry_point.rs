//! How a runtime starts a Wasm binary, read from what it exports: an HTTP
//! handler (`wasmtime serve`, Spin's HTTP trigger), a command (`wasmtime run`,
//! Spin's WAGI executor) or plain exported functions (`wasmtime run --invoke`).

use serde::Serialize;
use wasmparser::{ExternalKind, Parser, Payload};

use crate::error::{Error, Result};
use crate::inspect::{self, WasmKind};

/// Export name prefixes of the HTTP handlers Spin's HTTP trigger accepts
/// (spinframework/spin `crates/http/src/trigger.rs`, `HandlerType::from_instance_pre`):
/// `wasi:http` 0.2 (with its release candidates), 0.3, and Spin's own.
const HTTP_EXPORTS: &[&str] = &["wasi:http/incoming-handler@0.2", "wasi:http/handler@0.3", "fermyon:spin/inbound-http"];
/// The export a WASI 0.2 command component runs through.
const CLI_RUN_EXPORT: &str = "wasi:cli/run@0.2";
/// The export a WASI 0.1 command module runs through.
const START_EXPORT: &str = "_start";

/// How the binary is started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum EntryPoint {
    /// It handles HTTP requests through `export`.
    Http {
        /// The handler export, as the world names it.
        export: String,
    },
    /// A command: a component exporting `wasi:cli/run`, or a core module exporting `_start`.
    Command,
    /// Neither: only the exported functions can be called.
    Functions {
        /// The exported function (or interface) names.
        names: Vec<String>,
    },
}

/// What a runtime needs to know to start a binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Component or core module.
    pub kind: WasmKind,
    /// How it is started.
    pub point: EntryPoint,
    /// The component's world imports (empty for a core module).
    pub imports: Vec<String>,
}

/// The entry of a component whose world exports and imports are known (the
/// CNCF config's `component` field, or [`crate::inspect`]).
pub fn of_component_world(exports: &[String], imports: &[String]) -> Entry {
    let http = exports.iter().find(|e| HTTP_EXPORTS.iter().any(|p| e.starts_with(p)));
    let point = match http {
        Some(export) => EntryPoint::Http { export: export.clone() },
        None if exports.iter().any(|e| e.starts_with(CLI_RUN_EXPORT)) => EntryPoint::Command,
        None => EntryPoint::Functions { names: exports.to_vec() },
    };
    Entry { kind: WasmKind::Component, point, imports: imports.to_vec() }
}

/// The entry of a binary, validated first. `name` is used in error messages.
pub fn of_binary(name: &str, bytes: &[u8]) -> Result<Entry> {
    let info = inspect::inspect(name, bytes)?;
    if info.kind == WasmKind::Component {
        return Ok(of_component_world(&info.exports, &info.imports));
    }
    let names = core_function_exports(name, bytes)?;
    let point =
        if names.iter().any(|n| n == START_EXPORT) { EntryPoint::Command } else { EntryPoint::Functions { names } };
    Ok(Entry { kind: WasmKind::Module, point, imports: Vec::new() })
}

/// The names of a core module's function exports, in order.
fn core_function_exports(name: &str, bytes: &[u8]) -> Result<Vec<String>> {
    let invalid = |e: wasmparser::BinaryReaderError| Error::InvalidWasm {
        path: name.to_string(),
        reason: e.message().to_string(),
        offset: usize::try_from(e.offset()).unwrap_or(usize::MAX),
    };
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ExportSection(reader) = payload.map_err(invalid)? {
            for export in reader {
                let export = export.map_err(invalid)?;
                if export.kind == ExternalKind::Func {
                    names.push(export.name.to_string());
                }
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn http_handlers_commands_and_functions_are_told_apart() {
        let http = of_component_world(&names(&["wasi:http/incoming-handler@0.2.3"]), &[]);
        assert_eq!(http.point, EntryPoint::Http { export: "wasi:http/incoming-handler@0.2.3".into() });
        let p3 = of_component_world(&names(&["wasi:http/handler@0.3.0-rc-2026-03-15"]), &[]);
        assert!(matches!(p3.point, EntryPoint::Http { .. }));
        let cli = of_component_world(&names(&["wasi:cli/run@0.2.0"]), &[]);
        assert_eq!(cli.point, EntryPoint::Command);
        let plain = of_component_world(&names(&["greet"]), &[]);
        assert_eq!(plain.point, EntryPoint::Functions { names: names(&["greet"]) });
    }

    #[test]
    fn a_core_module_with_start_is_a_command() {
        // (module (func (export "_start")) (func (export "add")))
        let module: &[u8] = &[
            0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 3, 2, 0, 0, 7, 16, 2, 6, 95, 115, 116, 97, 114, 116, 0,
            0, 3, 97, 100, 100, 0, 1, 10, 7, 2, 2, 0, 11, 2, 0, 11,
        ];
        let entry = of_binary("m.wasm", module).map_err(|e| e.to_string());
        assert_eq!(entry.map(|e| e.point), Ok(EntryPoint::Command));
    }
}
