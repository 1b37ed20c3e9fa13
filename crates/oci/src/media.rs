//! The OCI and Docker media types wharf writes and reads. Media types of Wasm
//! artifacts and runtime shapes are `wharf_wasm::media`'s; signature layers are
//! `wharf_sign`'s.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest (read only).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (read only).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The empty JSON descriptor's media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The OCI image config.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An uncompressed OCI tar layer.
pub const OCI_TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Every manifest media type a registry may answer with; sent as `Accept`.
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// True if the media type names a manifest or an index (a node with children).
pub fn is_manifest(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

/// True if the media type names an index (children are manifests).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}
