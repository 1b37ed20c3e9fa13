//! SBOMs of a component from its own bytes: what it is made of (its nested
//! components and core modules, each with digest, size and name), who made
//! them (`producers` sections, wasm-metadata fields), the Rust crates
//! cargo-auditable listed (`.dep-v0`), and the WIT interfaces it imports and
//! exports. syft and its peers read none of that from a component; this does.
//!
//! - [`inventory`]: the one reading of the binary both formats are written from.
//! - [`cyclonedx`]: CycloneDX 1.5 JSON, through the `cyclonedx-bom` crate.
//! - [`spdx`]: SPDX 2.3 JSON.
//!
//! Deterministic: the same bytes (and the same subject) give the same document,
//! byte for byte: no serial number, no clock (SPDX's required creation time
//! comes from `SOURCE_DATE_EPOCH`, else the Unix epoch, as `wharf push` does).

use serde::Serialize;
use wharf_oci::digest::Digest;

use crate::error::Result;

pub mod cyclonedx;
pub mod inventory;
pub mod spdx;

pub use inventory::{Crate, Inventory, Part, Producer};

/// An SBOM format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CycloneDX 1.5, JSON.
    #[default]
    CycloneDx,
    /// SPDX 2.3, JSON.
    Spdx,
}

impl Format {
    /// The document's media type (as in-toto predicates and OCI artifacts name it).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::CycloneDx => "application/vnd.cyclonedx+json",
            Format::Spdx => "application/spdx+json",
        }
    }
}

/// What the SBOM is of, beyond the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    /// The name to give the component when it carries none (a file's stem, a repository's last segment).
    pub name: String,
    /// The OCI artifact the bytes were read from, if any.
    pub oci: Option<OciOrigin>,
}

/// Where a component read from a registry or layout lives, for its package URL
/// (`pkg:oci/NAME@sha256%3A…?repository_url=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciOrigin {
    /// `HOST/REPOSITORY` (or `oci:PATH` for a layout).
    pub repository: String,
    /// The manifest digest the reference resolved to.
    pub manifest: Digest,
    /// The tag the reference named, if any.
    pub tag: Option<String>,
}

/// The version of wharf that writes SBOMs, named as their creating tool.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Reads `bytes` (named `file_name` in errors) and writes its SBOM in `format`.
pub fn generate(file_name: &str, bytes: &[u8], subject: &Subject, format: Format) -> Result<Vec<u8>> {
    let inventory = inventory::read(file_name, bytes)?;
    match format {
        Format::CycloneDx => cyclonedx::write(&inventory, subject),
        Format::Spdx => spdx::write(&inventory, subject),
    }
}

/// The name of a part: its own (name section), else the subject's for the
/// root, else its kind and place (`module-0`).
pub(crate) fn part_name(part: &Part, subject: &Subject) -> String {
    match &part.metadata.name {
        Some(name) if !name.trim().is_empty() => name.clone(),
        _ if part.path == inventory::ROOT_PATH => subject.name.clone(),
        _ => part.path.rsplit('/').next().unwrap_or(&part.path).to_string(),
    }
}

/// The package URL of an OCI artifact (purl-spec's `oci` type): the repository's
/// last segment as the name, the manifest digest as the version.
pub(crate) fn oci_purl(origin: &OciOrigin) -> String {
    let repository = origin.repository.trim_start_matches("oci:");
    let name = repository.rsplit('/').next().unwrap_or(repository).to_ascii_lowercase();
    let mut purl = format!(
        "pkg:oci/{}@{}?repository_url={}",
        percent_encode(&name),
        percent_encode(origin.manifest.as_str()),
        percent_encode(repository)
    );
    if let Some(tag) = &origin.tag {
        purl.push_str(&format!("&tag={}", percent_encode(tag)));
    }
    purl
}

/// Percent-encodes what a package URL component may not hold as is: every byte
/// but ASCII letters, digits and `.-_~`, and `/` (purl-spec keeps it readable in
/// a qualifier's URL). Written here because the `purl` crate cyclonedx-bom uses
/// builds no qualifiers through cyclonedx-bom's `Purl`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' | b'/' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
