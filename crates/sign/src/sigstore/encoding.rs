//! The encodings inside Sigstore's JSON documents (bundles, log entries, legacy
//! annotations), decoded as Go's and protobuf's JSON readers decode them.

use base64::Engine as _;
use base64::engine::general_purpose;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard base64, padded or not: what protobuf JSON readers accept.
const LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a base64 field of a bundle as Go's and protobuf's JSON readers
/// do: the standard alphabet, padding optional, line breaks ignored (a
/// timestamp pasted from `base64` output is wrapped at 76 characters).
pub(crate) fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.contains(['\r', '\n']) {
        let joined: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        return LENIENT_PADDING.decode(joined).ok();
    }
    LENIENT_PADDING.decode(text).ok()
}

/// The certificate (DER) of a legacy signature's PEM annotation.
pub(crate) fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    general_purpose::STANDARD.decode(body.trim()).ok()
}
