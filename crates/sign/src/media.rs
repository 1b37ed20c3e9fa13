//! The media types of signatures: Sigstore bundles (any version), cosign's legacy
//! simple-signing layers, and Sigstore trusted roots.

/// What every Sigstore bundle media type starts with (`…bundle+json;version=0.1`,
/// `…bundle.v0.3+json`, …).
pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// The Sigstore bundle v0.3 media type wharf writes.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The Sigstore bundle v0.3 media type in its older spelling.
pub const BUNDLE_V03_PARAMETER: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";
/// The Sigstore bundle v0.2 media type.
pub const BUNDLE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
/// The Sigstore bundle v0.1 media type.
pub const BUNDLE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
/// The media types of the Sigstore trusted roots wharf reads (v0.1, v0.2).
pub const TRUSTED_ROOTS: [&str; 2] =
    ["application/vnd.dev.sigstore.trustedroot+json;version=0.1", "application/vnd.dev.sigstore.trustedroot.v0.2+json"];
/// Media type of a legacy signature layer (its blob is the simple-signing payload).
pub const SIMPLE_SIGNING_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// True for a Sigstore bundle's media type, of any version.
pub fn is_bundle(media_type: &str) -> bool {
    media_type.starts_with(BUNDLE_PREFIX)
}
