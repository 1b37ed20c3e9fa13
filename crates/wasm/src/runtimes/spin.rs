//! Spin's application shape: the OCI form `spin registry push` writes (and
//! `spin up --from REF` runs), and the local `spin.toml` `spin up` runs.
//!
//! Field for field from spinframework/spin (snapshot 2026-08-21, 94a8fc8):
//! - `crates/oci/src/client.rs` (`push_locked_core`, `assemble_layers_composed`,
//!   `content_ref_for_layer`, `all_annotations`): one layer per component
//!   (`application/vnd.wasm.content.layer.v1+wasm`, no layer annotations; a
//!   component without dependencies is pushed byte for byte, so the blob is the
//!   same), then the locked app as the last layer
//!   (`application/vnd.fermyon.spin.application.v1+config`, compact JSON). The
//!   image config is oci-client's `ConfigFile` with `architecture: wasm`,
//!   `os: Wasip1` and the label `com.fermyon.spin.lockedAppDigest`; manifest
//!   annotations are the explicit ones, then the inferred `authors`, `title`
//!   (app name), `description`, `version` and `created` where not given.
//! - `crates/locked-app/src/locked.rs`: `LockedApp` (`spin_lock_version` 0 when
//!   there are no host requirements, `metadata`, `triggers`, `components`),
//!   `LockedComponent`, `ContentRef` (`inline` is unpadded standard base64, set
//!   for content of at most 128 bytes, `digest` the layer digest).
//! - `crates/loader/src/local.rs` (`locked_metadata`, `load_component`) and
//!   `crates/manifest/src/normalize.rs`: what a `spin.toml` with one component
//!   and one trigger locks to: `metadata.triggers {}`, `metadata.trigger
//!   {type}`, trigger id `<component>-<type>-trigger`.
//! - `crates/http/src/config.rs`: the HTTP trigger's `executor` (absent: a
//!   `wasi:http` or Spin HTTP handler; `{type: wagi}`: a command run as CGI).

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};

use crate::entry_point::{Entry, EntryPoint};
use crate::error::{Error, Result};
use wharf_oci::annotations::{AUTHORS, CREATED, DESCRIPTION, TITLE, VERSION};
use wharf_oci::digest::Digest;
use wharf_oci::manifest::Descriptor;

use crate::media::WASM_LAYER;
pub use crate::media::{SPIN_APPLICATION_LAYER, SPIN_WASM_LAYER};

/// The image config label holding the locked-app layer's digest.
pub const LOCKED_APP_DIGEST_LABEL: &str = "com.fermyon.spin.lockedAppDigest";
/// The image config's `os` (capital W, as Spin writes it).
pub const SPIN_OS: &str = "Wasip1";
/// Content up to this size is inlined into the locked app (Spin's `DEFAULT_CONTENT_REF_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: u64 = 128;
/// The route wharf gives the HTTP trigger: every path.
pub const CATCH_ALL_ROUTE: &str = "/...";

/// How Spin runs the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpinTrigger {
    /// The HTTP trigger with the default executor (a `wasi:http` or Spin HTTP handler).
    Http,
    /// The HTTP trigger with the WAGI executor (a command, run once per request as CGI).
    Wagi,
}

impl SpinTrigger {
    /// The trigger Spin needs for `entry`, or why Spin cannot run it.
    pub fn for_entry(entry: &Entry) -> Result<Self> {
        match &entry.point {
            EntryPoint::Http { .. } => Ok(SpinTrigger::Http),
            EntryPoint::Command => Ok(SpinTrigger::Wagi),
            EntryPoint::Functions { names } => Err(Error::SpinCannotRun {
                kind: match entry.kind {
                    crate::inspect::WasmKind::Component => "component",
                    crate::inspect::WasmKind::Module => "core module",
                }
                .into(),
                exports: names.clone(),
            }),
        }
    }

    /// The HTTP trigger config (keys sorted, as Spin's locked JSON has them).
    fn config(self, component: &str) -> BTreeMap<&'static str, Value> {
        let mut config = BTreeMap::from([("component", json!(component)), ("route", json!(CATCH_ALL_ROUTE))]);
        if self == SpinTrigger::Wagi {
            config.insert("executor", json!({"type": "wagi"}));
        }
        config
    }
}

/// A one-component Spin application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpinApp {
    /// The application name (`metadata.name`; the manifest's `title`).
    pub name: String,
    /// Its version, when known.
    pub version: Option<String>,
    /// Its description, when known.
    pub description: Option<String>,
    /// Its authors.
    pub authors: Vec<String>,
    /// The component id (kebab-case, from the name).
    pub component: String,
    /// How Spin runs it.
    pub trigger: SpinTrigger,
}

impl SpinApp {
    /// The application of an artifact: named by its `title` annotation, else
    /// `fallback_name`; version, description and authors from its annotations.
    pub fn new(annotations: &BTreeMap<String, String>, fallback_name: &str, trigger: SpinTrigger) -> Self {
        let name = annotations.get(TITLE).cloned().unwrap_or_else(|| fallback_name.to_string());
        let component = component_id(&name);
        SpinApp {
            version: annotations.get(VERSION).cloned(),
            description: annotations.get(DESCRIPTION).cloned(),
            authors: annotations.get(AUTHORS).map(|a| vec![a.clone()]).unwrap_or_default(),
            name,
            component,
            trigger,
        }
    }

    /// The locked app referencing `wasm` by digest (and inline when it is at
    /// most [`INLINE_MAX_SIZE`] bytes: give its bytes as `small_wasm`), as the
    /// compact JSON Spin pushes.
    pub fn locked_app(&self, wasm: &Descriptor, small_wasm: Option<&[u8]>) -> Vec<u8> {
        let mut metadata: BTreeMap<&str, Value> =
            BTreeMap::from([("name", json!(self.name)), ("trigger", json!({"type": "http"})), ("triggers", json!({}))]);
        if let Some(v) = &self.version {
            metadata.insert("version", json!(v));
        }
        if let Some(d) = &self.description {
            metadata.insert("description", json!(d));
        }
        if !self.authors.is_empty() {
            metadata.insert("authors", json!(self.authors));
        }
        let inline = small_wasm
            .filter(|b| b.len() as u64 <= INLINE_MAX_SIZE)
            .map(|b| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b));
        let locked = LockedApp {
            spin_lock_version: 0,
            metadata,
            triggers: vec![LockedTrigger {
                id: format!("{}-http-trigger", self.component),
                trigger_type: "http",
                trigger_config: self.trigger.config(&self.component),
            }],
            components: vec![LockedComponent {
                id: &self.component,
                source: ComponentSource { content_type: WASM_LAYER, inline, digest: wasm.digest.to_string() },
            }],
        };
        // Plain structs and string-keyed maps: serialising cannot fail.
        serde_json::to_vec(&locked).unwrap_or_default()
    }

    /// The manifest annotations: `explicit` first, then the ones Spin infers
    /// where not given (authors joined with ", ", title, description, version,
    /// and `created`).
    pub fn annotations(&self, explicit: BTreeMap<String, String>, created: &str) -> BTreeMap<String, String> {
        let mut out = explicit;
        let inferred = [
            (AUTHORS, (!self.authors.is_empty()).then(|| self.authors.join(", "))),
            (TITLE, Some(self.name.clone())),
            (DESCRIPTION, self.description.clone()),
            (VERSION, self.version.clone()),
            (CREATED, Some(created.to_string())),
        ];
        for (key, value) in inferred {
            if let Some(value) = value {
                out.entry(key.to_string()).or_insert(value);
            }
        }
        out
    }

    /// A `spin.toml` (manifest version 2) running `wasm_file` (a path relative to it).
    pub fn spin_toml(&self, wasm_file: &str) -> String {
        let quote = |s: &str| Value::String(s.to_string()).to_string();
        let mut out = String::from("spin_manifest_version = 2\n\n[application]\n");
        out.push_str(&format!("name = {}\n", quote(&self.name)));
        if let Some(v) = &self.version {
            out.push_str(&format!("version = {}\n", quote(v)));
        }
        if let Some(d) = &self.description {
            out.push_str(&format!("description = {}\n", quote(d)));
        }
        if !self.authors.is_empty() {
            let list: Vec<String> = self.authors.iter().map(|a| quote(a)).collect();
            out.push_str(&format!("authors = [{}]\n", list.join(", ")));
        }
        out.push_str(&format!(
            "\n[[trigger.http]]\nroute = {}\ncomponent = {}\n",
            quote(CATCH_ALL_ROUTE),
            quote(&self.component)
        ));
        if self.trigger == SpinTrigger::Wagi {
            out.push_str("executor = { type = \"wagi\" }\n");
        }
        out.push_str(&format!("\n[component.{}]\nsource = {}\n", self.component, quote(wasm_file)));
        out
    }
}

/// Spin's image config for a locked app of digest `locked`: oci-client's
/// `ConfigFile` serialised as Spin builds it (no `created`, no `history`).
pub fn image_config(locked: &Digest) -> Vec<u8> {
    let config = ImageConfig {
        architecture: "wasm",
        os: SPIN_OS,
        config: ImageExec { labels: BTreeMap::from([(LOCKED_APP_DIGEST_LABEL, locked.to_string())]) },
        rootfs: RootFs { kind: "layers", diff_ids: [] },
    };
    serde_json::to_vec(&config).unwrap_or_default()
}

/// oci-client's `ConfigFile`, the fields Spin sets, in its order.
#[derive(Serialize)]
struct ImageConfig {
    architecture: &'static str,
    os: &'static str,
    config: ImageExec,
    rootfs: RootFs,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageExec {
    labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: [String; 0],
}

/// A Spin component id from a name: lowercase ASCII words joined by `-`, each
/// starting with a letter (Spin's `KebabId`); `app` when nothing is left.
pub fn component_id(name: &str) -> String {
    let lower = name.trim_end_matches(".wasm").to_ascii_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| if w.starts_with(|c: char| c.is_ascii_digit()) { format!("v{w}") } else { w.to_string() })
        .collect();
    if words.is_empty() { "app".into() } else { words.join("-") }
}

#[derive(Serialize)]
struct LockedApp<'a> {
    spin_lock_version: u32,
    metadata: BTreeMap<&'a str, Value>,
    triggers: Vec<LockedTrigger<'a>>,
    components: Vec<LockedComponent<'a>>,
}

#[derive(Serialize)]
struct LockedTrigger<'a> {
    id: String,
    trigger_type: &'a str,
    trigger_config: BTreeMap<&'static str, Value>,
}

#[derive(Serialize)]
struct LockedComponent<'a> {
    id: &'a str,
    source: ComponentSource,
}

#[derive(Serialize)]
struct ComponentSource {
    content_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline: Option<String>,
    digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(trigger: SpinTrigger) -> SpinApp {
        let annotations = BTreeMap::from([
            (TITLE.to_string(), "Hello World".to_string()),
            (VERSION.to_string(), "0.1.0".to_string()),
        ]);
        SpinApp::new(&annotations, "fallback", trigger)
    }

    #[test]
    fn locked_app_is_spins_compact_json() {
        let wasm = Descriptor::of_bytes(SPIN_WASM_LAYER, &[0u8; 200]);
        let locked = String::from_utf8(app(SpinTrigger::Http).locked_app(&wasm, None)).unwrap_or_default();
        let expected = format!(
            r#"{{"spin_lock_version":0,"metadata":{{"name":"Hello World","trigger":{{"type":"http"}},"triggers":{{}},"version":"0.1.0"}},"triggers":[{{"id":"hello-world-http-trigger","trigger_type":"http","trigger_config":{{"component":"hello-world","route":"/..."}}}}],"components":[{{"id":"hello-world","source":{{"content_type":"application/wasm","digest":"{}"}}}}]}}"#,
            wasm.digest
        );
        assert_eq!(locked, expected);
    }

    #[test]
    fn small_content_is_inlined_and_wagi_sets_the_executor() {
        let bytes = b"\0asm\x01\0\0\0";
        let wasm = Descriptor::of_bytes(SPIN_WASM_LAYER, bytes);
        let locked: Value =
            serde_json::from_slice(&app(SpinTrigger::Wagi).locked_app(&wasm, Some(bytes))).unwrap_or_default();
        assert_eq!(locked["components"][0]["source"]["inline"], "AGFzbQEAAAA");
        assert_eq!(locked["triggers"][0]["trigger_config"]["executor"], json!({"type": "wagi"}));
    }

    #[test]
    fn component_ids_are_kebab_case() {
        assert_eq!(component_id("Hello World"), "hello-world");
        assert_eq!(component_id("hello.wasm"), "hello");
        assert_eq!(component_id("my_app 2"), "my-app-v2");
        assert_eq!(component_id("***"), "app");
    }

    #[test]
    fn image_config_matches_oci_client_field_order() {
        let digest = Digest::of(b"x");
        let config = String::from_utf8(image_config(&digest)).unwrap_or_default();
        assert_eq!(
            config,
            format!(
                r#"{{"architecture":"wasm","os":"Wasip1","config":{{"Labels":{{"com.fermyon.spin.lockedAppDigest":"{digest}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
            )
        );
    }
}
