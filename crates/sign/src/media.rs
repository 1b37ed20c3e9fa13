//! The media types of signatures in registries: Sigstore bundles (any version)
//! and cosign's legacy simple-signing layers.

/// What every Sigstore bundle media type starts with (`…bundle+json;version=0.1`,
/// `…bundle.v0.3+json`, …).
pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// The Sigstore bundle v0.3 media type wharf writes.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Media type of a legacy signature layer (its blob is the simple-signing payload).
pub const SIMPLE_SIGNING_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// True for a Sigstore bundle's media type, of any version.
pub fn is_bundle(media_type: &str) -> bool {
    media_type.starts_with(BUNDLE_PREFIX)
}
