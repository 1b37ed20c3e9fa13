//! `sbom`: a component's SBOM from its own bytes, read from a local file or
//! pulled (verified) from a registry or layout, written atomically.
//!
//! The document itself is [`wharf_wasm::sbom`]'s; this verb only finds the
//! bytes, names the subject (a file's stem, or the repository and the manifest
//! digest the reference resolved to, for the package URL) and writes the file
//! through [`wharf_oci::fs`], so that a reader never sees half an SBOM.
//! [`attest_sbom`] (feature `sign`) attaches one to a pushed artifact as a
//! signed attestation (`wharf push --sbom`).

use std::io::Read;
use std::path::Path;

use wharf_oci::digest::Digest;
use wharf_oci::fs::{Mode, write_atomic};
use wharf_oci::reference::Reference;
use wharf_oci::transport::TransportOptions;
use wharf_wasm::artifact::{MAX_WASM_IN_MEMORY, fetch_wasm, within_limit};
use wharf_wasm::sbom::{self, Format, OciOrigin, Subject};

use crate::error::{Error, Result};

/// The SBOM of the local Wasm file at `path`, in `format`.
pub fn sbom_of_file(path: &Path, format: Format) -> Result<Vec<u8>> {
    let bytes = read_bounded(path)?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "component".into());
    let subject = Subject { name, oci: None };
    Ok(sbom::generate(&path.display().to_string(), &bytes, &subject, format)?)
}

/// The SBOM of the Wasm artifact `reference` names (its layer read in full and
/// checked against its digest), in `format`; the subject's package URL pins the
/// manifest digest it resolved to.
pub async fn sbom_of_reference(reference: &Reference, transport: &TransportOptions, format: Format) -> Result<Vec<u8>> {
    let (resolved, bytes) = fetch_wasm(reference, transport).await?;
    let oci = OciOrigin {
        repository: reference.location(),
        manifest: resolved.manifest_descriptor.digest.clone(),
        tag: reference.tag().map(str::to_string),
    };
    let subject = Subject { name: reference.short_name(), oci: Some(oci) };
    Ok(sbom::generate(&reference.to_string(), &bytes, &subject, format)?)
}

/// The SBOM of the local Wasm file at `path` as pushed to `reference` with the
/// manifest `digest`: the same document [`sbom_of_reference`] gives for it.
pub fn sbom_of_pushed_file(path: &Path, reference: &Reference, manifest: &Digest, format: Format) -> Result<Vec<u8>> {
    let bytes = read_bounded(path)?;
    let oci = OciOrigin {
        repository: reference.location(),
        manifest: manifest.clone(),
        tag: reference.tag().map(str::to_string),
    };
    let subject = Subject { name: reference.short_name(), oci: Some(oci) };
    Ok(sbom::generate(&path.display().to_string(), &bytes, &subject, format)?)
}

/// The in-toto predicate type of an SBOM format (cosign's `cyclonedx` and `spdxjson`).
pub fn predicate_type(format: Format) -> &'static str {
    match format {
        Format::CycloneDx => "https://cyclonedx.org/bom",
        Format::Spdx => "https://spdx.dev/Document",
    }
}

/// Attests `document` (an SBOM in `format`) about the manifest `digest` of
/// `reference`, signed with `key`, stored as `mode` says (see
/// [`wharf_sign::cosign::attest`]).
#[cfg(feature = "sign")]
pub async fn attest_sbom(
    reference: &Reference,
    manifest: &Digest,
    document: &[u8],
    format: Format,
    key: &wharf_sign::PrivateKey,
    mode: wharf_sign::cosign::Mode,
    transport: &TransportOptions,
) -> Result<wharf_sign::cosign::attest::AttestReport> {
    use wharf_sign::cosign::attest::{self, AttestOptions};
    let options = AttestOptions {
        predicate_type: predicate_type(format).to_string(),
        predicate: attest::predicate_of("the SBOM", document)?,
        mode,
        transport: transport.clone(),
    };
    Ok(attest::attest(&reference.with_digest(manifest.clone()), key, &options).await?)
}

/// Writes `document` to `path` atomically (a temporary file beside it, renamed
/// over it), readable by all as any build output.
pub fn write_document(path: &Path, document: &[u8]) -> Result<()> {
    Ok(write_atomic(path, document, Mode::Shared)?)
}

/// Reads the file at `path`, refusing one over the in-memory limit for Wasm
/// before reading it, and never reading past that limit if it grows meanwhile.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let size = file.metadata().map_err(|e| Error::io("cannot read", path, e))?.len();
    within_limit(&path.display().to_string(), size, MAX_WASM_IN_MEMORY, Some("an SBOM"))?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_WASM_IN_MEMORY + 1).read_to_end(&mut bytes).map_err(|e| Error::io("cannot read", path, e))?;
    within_limit(&path.display().to_string(), bytes.len() as u64, MAX_WASM_IN_MEMORY, Some("an SBOM"))?;
    Ok(bytes)
}
