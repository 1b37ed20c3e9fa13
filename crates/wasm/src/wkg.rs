//! Package names to OCI references, the way wkg (wasm-pkg-tools) maps them.
//!
//! A WIT package `ns:pkg@1.2.3` lives in a registry chosen by wkg's config
//! file (`$XDG_CONFIG_HOME/wasm-pkg/config.toml`, or the file named by
//! `WKG_CONFIG_FILE`):
//!
//! 1. `[package_registry_overrides]` for `"ns:pkg"`,
//! 2. `[namespace_registries]` for `ns`,
//! 3. `default_registry`,
//! 4. wkg's built-in fallbacks: `wasi` → `wasi.dev`, `ba` → `bytecodealliance.org`.
//!
//! A mapping is a registry name (`"example.com"`) or `{ registry, metadata }`
//! with the registry's metadata inline. Without inline metadata, the
//! registry describes itself at `https://<registry>/.well-known/wasm-pkg/registry.json`
//! (`http` for `localhost` and `127.0.0.1`); a registry that does not (404,
//! unreachable) gets the defaults: its OCI registry is itself, with no
//! namespace prefix. The metadata looks like
//! `{"preferredProtocol": "oci", "oci": {"registry": "ghcr.io", "namespacePrefix": "webassembly/"}}`
//! (or the deprecated `{"ociRegistry": ..., "ociNamespacePrefix": ...}`), and
//! the package's reference is `{oci.registry}/{namespacePrefix}{ns}/{pkg}:{version}`;
//! without a version, the repository's highest semantic-version tag, as wkg
//! picks it ([`resolve`]).
//!
//! wkg's config and a registry's metadata are read by wkg's own crate,
//! wasm-pkg-common (its config reader and metadata types; not its HTTP client,
//! which pulls in reqwest's JSON and HTTP/2 features): wharf maps names exactly as
//! wkg does, refuses the files wkg refuses, and reads the metadata itself, bounded.
//!
//! Everything here is a pure function of its input except [`Config::load`]
//! (reads the file), [`fetch_metadata`] (one HTTP request) and, for a package
//! named without a version, the tag list [`resolve`] reads.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasm_pkg_common::config::{Config as WkgConfig, RegistryMapping as WkgMapping};
use wasm_pkg_common::label::Label;
use wasm_pkg_common::metadata::{OCI_PROTOCOL, RegistryMetadata as WkgMetadata};
use wasm_pkg_common::package::PackageRef;

use crate::error::{Error, Result};
use wharf_oci::body::{CappedError, read_capped};
use wharf_oci::retry::RetryPolicy;
use wharf_oci::transport::TransportOptions;

/// Where a registry describes itself (RFC 8615 well-known URI).
pub use wasm_pkg_common::metadata::REGISTRY_METADATA_PATH;

/// The most wharf reads of a registry's metadata (a real `registry.json` is
/// a few hundred bytes).
pub const MAX_METADATA_SIZE: u64 = 64 << 10;

/// The environment variable naming wkg's config file instead of the default.
pub const CONFIG_FILE_ENV: &str = "WKG_CONFIG_FILE";

/// A package name: `ns:pkg` with an optional version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName {
    /// The namespace (`wasi` in `wasi:http`).
    pub namespace: String,
    /// The package's name within its namespace (`http` in `wasi:http`).
    pub name: String,
    /// The version, when one is given.
    pub version: Option<String>,
}

impl PackageName {
    /// Parses `ns:pkg[@version]`.
    pub fn parse(input: &str) -> Result<PackageName> {
        let (base, version) = match input.split_once('@') {
            Some((base, version)) => (base, Some(version)),
            None => (input, None),
        };
        let invalid = |reason: &str| {
            Error::Usage(format!("invalid package name {input:?}: {reason} (expected ns:pkg or ns:pkg@version)"))
        };
        let (namespace, name) = base.split_once(':').ok_or_else(|| invalid("no `:` between namespace and name"))?;
        for part in [namespace, name] {
            if part.is_empty() || !part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(invalid("namespace and name are lowercase words joined by `-`"));
            }
        }
        if let Some(version) = version {
            semver::Version::parse(version).map_err(|e| invalid(&format!("the version is not semver: {e}")))?;
        }
        Ok(PackageName {
            namespace: namespace.to_string(),
            name: name.to_string(),
            version: version.map(str::to_string),
        })
    }

    /// The package of a world or interface name, `ns:pkg/item[@version]`:
    /// `wharf:hello/hello@0.1.0` is in `wharf:hello@0.1.0`.
    pub fn of_item(item: &str) -> Result<PackageName> {
        let (base, version) = match item.split_once('@') {
            Some((base, version)) => (base, Some(version)),
            None => (item, None),
        };
        let (package, rest) = base.split_once('/').ok_or_else(|| {
            Error::Usage(format!("invalid world name {item:?}: expected ns:pkg/world or ns:pkg/world@version"))
        })?;
        if rest.is_empty() || rest.contains('/') {
            return Err(Error::Usage(format!(
                "invalid world name {item:?}: expected ns:pkg/world or ns:pkg/world@version"
            )));
        }
        match version {
            Some(version) => PackageName::parse(&format!("{package}@{version}")),
            None => PackageName::parse(package),
        }
    }

    /// `ns:pkg`, without the version.
    pub fn unversioned(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)?;
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        Ok(())
    }
}

/// A registry's metadata: the protocol it prefers and where its OCI
/// artifacts live, as wasm-pkg-common reads it (`preferredProtocol`, the
/// `oci` table, or the deprecated `ociRegistry` and `ociNamespacePrefix`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryMetadata {
    /// The preferred protocol: `preferredProtocol`, else the one protocol
    /// configured; absent means OCI.
    pub preferred_protocol: Option<String>,
    /// The OCI settings.
    pub oci: Option<OciMetadata>,
}

/// The `oci` part of [`RegistryMetadata`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciMetadata {
    /// The OCI registry (`ghcr.io`); absent means the registry itself.
    #[serde(default)]
    pub registry: Option<String>,
    /// Put before `ns/pkg` in the repository (`webassembly/`).
    #[serde(default)]
    pub namespace_prefix: Option<String>,
}

impl RegistryMetadata {
    /// Parses a `registry.json` document; `location` names it in messages.
    pub fn from_json(location: &str, text: &[u8]) -> Result<RegistryMetadata> {
        let what = || format!("registry metadata at {location}");
        let metadata: WkgMetadata = serde_json::from_slice(text).map_err(|e| Error::malformed(what(), e))?;
        RegistryMetadata::of(&metadata).map_err(|e| Error::malformed(what(), e))
    }

    /// The parts of wasm-pkg-common's metadata wharf uses.
    fn of(metadata: &WkgMetadata) -> std::result::Result<RegistryMetadata, wasm_pkg_common::Error> {
        Ok(RegistryMetadata {
            preferred_protocol: metadata.preferred_protocol().map(str::to_string),
            oci: metadata.protocol_config::<OciMetadata>(OCI_PROTOCOL)?,
        })
    }

    /// The OCI reference of `package` in `registry` described by this
    /// metadata: `{oci.registry}/{namespacePrefix}{ns}/{pkg}:{version}`.
    pub fn oci_reference(&self, registry: &str, package: &PackageName) -> Result<String> {
        if let Some(protocol) = self.preferred_protocol.as_deref().filter(|p| *p != OCI_PROTOCOL) {
            return Err(Error::Usage(format!(
                "the registry {registry} prefers the {protocol:?} protocol for {package}; wharf fetches WIT packages over OCI only"
            )));
        }
        let oci = self.oci.clone().unwrap_or_default();
        let host = oci.registry.unwrap_or_else(|| registry.to_string());
        let prefix = oci.namespace_prefix.unwrap_or_default();
        let tag = package.version.as_deref().unwrap_or("latest");
        // An OCI tag cannot hold `+`: a version with build metadata has no tag.
        if tag.contains('+') {
            return Err(Error::Usage(format!(
                "{package} has build metadata in its version, which an OCI tag cannot hold"
            )));
        }
        Ok(format!("{host}/{prefix}{}/{}:{tag}", package.namespace, package.name))
    }
}

/// Which registry serves a package, as a config entry gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryMapping {
    /// Just the registry's name; its metadata is fetched.
    Registry(String),
    /// The registry with its metadata inline: nothing is fetched.
    Custom {
        /// The registry's name.
        registry: String,
        /// Its metadata.
        metadata: RegistryMetadata,
    },
}

impl RegistryMapping {
    /// The registry's name.
    pub fn registry(&self) -> &str {
        match self {
            RegistryMapping::Registry(registry) | RegistryMapping::Custom { registry, .. } => registry,
        }
    }

    /// The inline metadata, if any.
    pub fn metadata(&self) -> Option<&RegistryMetadata> {
        match self {
            RegistryMapping::Registry(_) => None,
            RegistryMapping::Custom { metadata, .. } => Some(metadata),
        }
    }

    /// A mapping of wkg's config, or why its inline metadata cannot be read.
    fn of(mapping: &WkgMapping) -> Result<RegistryMapping> {
        Ok(match mapping {
            WkgMapping::Registry(registry) => RegistryMapping::Registry(registry.to_string()),
            WkgMapping::Custom(custom) => RegistryMapping::Custom {
                registry: custom.registry.to_string(),
                metadata: RegistryMetadata::of(&custom.metadata).map_err(|e| {
                    Error::Usage(format!(
                        "the wkg config's metadata for the registry {} is not usable: {e}",
                        custom.registry
                    ))
                })?,
            },
        })
    }
}

/// wkg's config, read by wkg's own reader (wasm-pkg-common): the same keys and
/// checks (unknown top-level keys, registry names and labels are refused as wkg
/// refuses them), and wkg's built-in fallbacks (`wasi` → `wasi.dev`, `ba` →
/// `bytecodealliance.org`). Only the tables that map package names to registries
/// are used; `[registry."..."]` auth, for example, is wharf's docker config's job.
#[derive(Debug, Clone, Default)]
pub struct Config(WkgConfig);

impl Config {
    /// Parses the TOML of a config file; `location` names it in messages.
    pub fn from_toml(location: &str, text: &str) -> Result<Config> {
        let parsed = WkgConfig::from_toml(text).map_err(|e| {
            Error::Usage(format!(
                "cannot read the wkg config {location}: {}",
                e.to_string().trim_end().replace('\n', "\n  ")
            ))
        })?;
        // The file's entries over wkg's built-in fallbacks, as wkg merges them.
        let mut config = WkgConfig::default();
        config.merge(parsed);
        Ok(Config(config))
    }

    /// The config file wkg reads: `WKG_CONFIG_FILE` when set, else
    /// `$XDG_CONFIG_HOME/wasm-pkg/config.toml` (`~/.config` when
    /// `XDG_CONFIG_HOME` is unset). `None` when neither can be found out.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(file) = override_path() {
            return Some(file);
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".config")))?;
        Some(base.join("wasm-pkg").join("config.toml"))
    }

    /// Loads wkg's config from [`Config::default_path`], with the path it
    /// came from. No file is an empty config (wkg's built-in fallbacks
    /// only), except when `WKG_CONFIG_FILE` names a file that is not there.
    pub fn load() -> Result<(Config, Option<PathBuf>)> {
        let Some(path) = Config::default_path() else {
            return Ok((Config::default(), None));
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Config::from_toml(&path.display().to_string(), &text)?, Some(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && override_path().is_none() => {
                Ok((Config::default(), None))
            }
            Err(e) => Err(Error::io("cannot read the wkg config", path, e)),
        }
    }

    /// The registry that serves `package`: the package's override, its
    /// namespace's registry, the default registry, then wkg's built-in
    /// fallbacks (wasm-pkg-common's order). `None` when nothing maps it.
    pub fn registry_for(&self, package: &PackageName) -> Option<RegistryMapping> {
        let labels = (package.namespace.parse::<Label>(), package.name.parse::<Label>());
        let (Ok(namespace), Ok(name)) = labels else {
            // Not wkg's kind of name: only the default registry can serve it.
            return self.0.default_registry().map(|r| RegistryMapping::Registry(r.to_string()));
        };
        let package = PackageRef::new(namespace, name);
        let mapping =
            self.0.package_registry_override(&package).or_else(|| self.0.namespace_registry(package.namespace()));
        match mapping {
            // A mapping whose inline metadata cannot be read maps to its registry's own metadata.
            Some(mapping) => {
                Some(RegistryMapping::of(mapping).unwrap_or_else(|_| RegistryMapping::Registry(registry_of(mapping))))
            }
            None => self.0.resolve_registry(&package).map(|r| RegistryMapping::Registry(r.to_string())),
        }
    }
}

/// The registry a mapping names.
fn registry_of(mapping: &WkgMapping) -> String {
    match mapping {
        WkgMapping::Registry(registry) => registry.to_string(),
        WkgMapping::Custom(custom) => custom.registry.to_string(),
    }
}

/// The file `WKG_CONFIG_FILE` names, when it is set and not empty.
fn override_path() -> Option<PathBuf> {
    std::env::var_os(CONFIG_FILE_ENV).filter(|f| !f.is_empty()).map(PathBuf::from)
}

/// The URL of `registry`'s metadata: `https://<registry>/.well-known/wasm-pkg/registry.json`,
/// `http` for `localhost` and `127.0.0.1` (wkg's rule).
pub fn metadata_url(registry: &str) -> String {
    let host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
    let scheme = if host == "localhost" || host == "127.0.0.1" { "http" } else { "https" };
    format!("{scheme}://{registry}{REGISTRY_METADATA_PATH}")
}

/// Fetches `registry`'s metadata from its well-known URL. A registry that
/// does not serve it (404 or any other failure status, or unreachable) gets
/// the defaults, as in wkg; a document that is there but not metadata is an
/// error.
pub async fn fetch_metadata(registry: &str, transport: &TransportOptions) -> Result<RegistryMetadata> {
    let url = metadata_url(registry);
    let client = transport.probe_client()?;
    // A busy answer (5xx, 429) is retried under the one retry policy; a host that
    // cannot be reached is not (most registries serve no metadata at all): its
    // error is made final (`Usage`), and the defaults apply.
    let unreachable_is_final = |e: reqwest::Error| wharf_oci::Error::Usage(e.to_string());
    let response = match RetryPolicy::default().send(|| client.get(&url), unreachable_is_final).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!("no registry metadata at {url}: {e}; using the defaults");
            return Ok(RegistryMetadata::default());
        }
    };
    if !response.status().is_success() {
        tracing::debug!("no registry metadata at {url} ({}); using the defaults", response.status());
        return Ok(RegistryMetadata::default());
    }
    let body = read_capped(response, MAX_METADATA_SIZE).await.map_err(|e| match e {
        CappedError::TooLarge(_) => Error::malformed(
            format!("registry metadata at {url}"),
            format!("it is over {MAX_METADATA_SIZE} bytes, more than wharf reads for registry metadata"),
        ),
        CappedError::Request(e) => {
            wharf_oci::Error::Unreachable { registry: registry.to_string(), detail: format!("reading {url}: {e}") }
                .into()
        }
    })?;
    RegistryMetadata::from_json(&url, &body)
}

/// Where a package was found: its OCI reference and how it was mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The package's OCI reference, `HOST/REPO:TAG`.
    pub reference: String,
    /// The registry the config chose.
    pub registry: String,
    /// Whether the metadata came from the config (true) or the well-known URL.
    pub inline_metadata: bool,
}

/// Maps `package` to its OCI reference with `config`, fetching the
/// registry's metadata unless the config has it inline.
pub async fn resolve(config: &Config, package: &PackageName, transport: &TransportOptions) -> Result<Resolution> {
    resolve_pinned(config, package, None, transport).await
}

/// [`resolve`], where a package named without a version keeps the version of
/// `pinned` (a reference a lock file recorded for it) while the mapping still
/// leads to the same repository, instead of taking the newest release.
pub async fn resolve_pinned(
    config: &Config,
    package: &PackageName,
    pinned: Option<&str>,
    transport: &TransportOptions,
) -> Result<Resolution> {
    let mapping = config.registry_for(package).ok_or_else(|| {
        let path = Config::default_path().map_or_else(|| "wasm-pkg/config.toml".into(), |p| p.display().to_string());
        Error::Usage(format!(
            "no registry is configured for the package {package}: set default_registry, \
             [namespace_registries] {ns} = \"REGISTRY\", or [package_registry_overrides] in {path}",
            ns = package.namespace,
        ))
    })?;
    let registry = mapping.registry().to_string();
    let (metadata, inline_metadata) = match mapping.metadata() {
        Some(metadata) => (metadata.clone(), true),
        None => (fetch_metadata(&registry, transport).await?, false),
    };
    let mut reference = metadata.oci_reference(&registry, package)?;
    if package.version.is_none() {
        let repository = |r: &str| r.rsplit_once(':').map(|(repo, _)| repo.to_string());
        reference = match pinned {
            Some(pinned) if repository(pinned) == repository(&reference) => pinned.to_string(),
            _ => highest_release(&reference, package, transport).await?,
        };
    }
    Ok(Resolution { reference, registry, inline_metadata })
}

/// `reference` (`HOST/REPO:latest`) at the repository's highest version tag,
/// as wkg picks a release when none is named: every tag that parses as a
/// semantic version is a release, and the greatest wins (pre-releases
/// included, ordered as semver orders them). One more request: the tag list.
async fn highest_release(reference: &str, package: &PackageName, transport: &TransportOptions) -> Result<String> {
    let Ok(wharf_oci::Reference::Registry(parsed)) = wharf_oci::Reference::parse(reference) else {
        return Err(Error::Usage(format!("{reference} is not a registry reference")));
    };
    let store =
        wharf_oci::store::RegistryStore::connect(&parsed, transport, wharf_oci::store::registry::Access::Read).await?;
    let tags = store.tags().await?;
    let version = highest_version(&tags).ok_or_else(|| {
        Error::Usage(format!(
            "{}/{} has no version tags ({} tags, none a semantic version such as 0.1.0), so there is no \
             release of {package} to take; push one with a version tag, or name the version ({package}@VERSION)",
            parsed.registry,
            parsed.repository,
            tags.len()
        ))
    })?;
    Ok(format!("{}/{}:{version}", parsed.registry, parsed.repository))
}

/// The tag with the greatest semantic version among `tags`, if any parses as one.
pub fn highest_version(tags: &[String]) -> Option<&str> {
    tags.iter()
        .filter_map(|tag| semver::Version::parse(tag).ok().map(|version| (version, tag.as_str())))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pkg(s: &str) -> PackageName {
        PackageName::parse(s).unwrap()
    }

    #[test]
    fn the_highest_semantic_version_tag_is_the_release() {
        let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(highest_version(&tags(&["latest", "0.1.0", "0.10.0", "0.9.3", "dev"])), Some("0.10.0"));
        assert_eq!(highest_version(&tags(&["1.0.0-rc.1", "0.9.0"])), Some("1.0.0-rc.1"));
        assert_eq!(highest_version(&tags(&["1.0.0-rc.1", "1.0.0"])), Some("1.0.0"));
        assert_eq!(highest_version(&tags(&["latest", "v1.0.0", "1.0"])), None);
    }

    #[test]
    fn package_names_parse_and_come_from_world_names() {
        assert_eq!(
            PackageName::of_item("wharf:hello/hello@0.1.0").unwrap(),
            PackageName { namespace: "wharf".into(), name: "hello".into(), version: Some("0.1.0".into()) }
        );
        assert_eq!(PackageName::of_item("wasi:http/proxy").unwrap().to_string(), "wasi:http");
        for bad in ["hello", "a:b", "a:b/c/d", "a:b/", "A:b/c", "a:b/c@x.y"] {
            assert!(PackageName::of_item(bad).is_err(), "{bad}");
        }
        assert!(PackageName::parse("a:b@1.0.0-rc.1").is_ok());
        assert!(PackageName::parse(":b").is_err());
    }

    #[test]
    fn the_config_chooses_override_then_namespace_then_default_then_fallbacks() {
        let config = Config::from_toml(
            "config.toml",
            r#"
default_registry = "default.example"

[namespace_registries]
acme = "acme.example"
inline = { registry = "inline.example", metadata = { preferredProtocol = "oci", oci = { registry = "ghcr.io", namespacePrefix = "inline/" } } }

[package_registry_overrides]
"acme:special" = "special.example"

[registry."default.example".oci]
auth = { username = "u", password = "p" }
"#,
        )
        .unwrap();
        let registry = |p: &str| config.registry_for(&pkg(p)).map(|m| m.registry().to_string());
        assert_eq!(registry("acme:special@1.0.0").as_deref(), Some("special.example"));
        assert_eq!(registry("acme:other").as_deref(), Some("acme.example"));
        assert_eq!(registry("wasi:http@0.2.0").as_deref(), Some("default.example"), "a default beats the fallbacks");
        let inline = config.registry_for(&pkg("inline:x@1.0.0")).unwrap();
        assert_eq!(
            inline.metadata().unwrap().oci_reference(inline.registry(), &pkg("inline:x@1.0.0")).unwrap(),
            "ghcr.io/inline/inline/x:1.0.0"
        );

        let empty = Config::default();
        assert_eq!(empty.registry_for(&pkg("wasi:http")).unwrap().registry(), "wasi.dev");
        assert_eq!(empty.registry_for(&pkg("ba:sample")).unwrap().registry(), "bytecodealliance.org");
        assert_eq!(empty.registry_for(&pkg("acme:x")), None);
    }

    #[test]
    fn metadata_gives_the_reference_in_both_forms() {
        let current = RegistryMetadata::from_json(
            "m",
            br#"{"preferredProtocol":"oci","oci":{"registry":"ghcr.io","namespacePrefix":"webassembly/"}}"#,
        )
        .unwrap();
        assert_eq!(
            current.oci_reference("wasi.dev", &pkg("wasi:http@0.2.1")).unwrap(),
            "ghcr.io/webassembly/wasi/http:0.2.1"
        );
        let deprecated =
            RegistryMetadata::from_json("m", br#"{"ociRegistry":"r.example:5000","ociNamespacePrefix":"p/"}"#).unwrap();
        assert_eq!(deprecated.oci_reference("x", &pkg("a:b@1.0.0")).unwrap(), "r.example:5000/p/a/b:1.0.0");
        let defaults = RegistryMetadata::default();
        assert_eq!(defaults.oci_reference("127.0.0.1:5000", &pkg("a:b")).unwrap(), "127.0.0.1:5000/a/b:latest");
        let warg = RegistryMetadata::from_json("m", br#"{"preferredProtocol":"warg"}"#).unwrap();
        assert!(warg.oci_reference("x", &pkg("a:b")).is_err());
        assert!(RegistryMetadata::from_json("m", b"not json").is_err());
    }

    #[test]
    fn metadata_urls_use_http_only_on_localhost() {
        assert_eq!(metadata_url("wasi.dev"), "https://wasi.dev/.well-known/wasm-pkg/registry.json");
        assert_eq!(metadata_url("127.0.0.1:8080"), "http://127.0.0.1:8080/.well-known/wasm-pkg/registry.json");
        assert_eq!(metadata_url("localhost"), "http://localhost/.well-known/wasm-pkg/registry.json");
    }

    /// wkg's own reader (wasm-pkg-common) decides: a key wkg does not know is refused
    /// (a typo would otherwise map nothing, silently), and a registry whose only
    /// protocol is not OCI is not taken for an OCI one.
    #[test]
    fn the_config_and_metadata_are_read_as_wkg_reads_them() {
        let error = Config::from_toml("/x/config.toml", "defualt_registry = \"r.example\"\n").unwrap_err();
        assert!(error.to_string().contains("/x/config.toml"), "{error}");
        let warg = RegistryMetadata::from_json("m", br#"{"warg":{"url":"https://warg.example"}}"#).unwrap();
        assert!(warg.oci_reference("x", &pkg("a:b@1.0.0")).is_err(), "{warg:?}");
    }

    #[test]
    fn a_broken_config_says_where() {
        let error = Config::from_toml("/x/config.toml", "default_registry = [").unwrap_err();
        assert!(error.to_string().contains("/x/config.toml"), "{error}");
    }
}
