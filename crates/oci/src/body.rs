//! The one reader for every response body wharf keeps in memory (manifests,
//! token answers, registry metadata, error bodies): it stops at a cap, whatever
//! the headers claim, so a hostile server cannot make wharf allocate without bound.

use bytes::Bytes;
use reqwest::Response;

/// Why [`read_capped`] stopped.
pub enum CappedError {
    /// More than this many bytes.
    TooLarge(u64),
    /// The body could not be read.
    Request(reqwest::Error),
}

/// Reads a response body, refusing more than `cap` bytes (whatever the headers
/// claim): wharf's one reader for every body it keeps in memory.
pub async fn read_capped(mut response: Response, cap: u64) -> std::result::Result<Bytes, CappedError> {
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(CappedError::TooLarge(cap));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CappedError::Request)? {
        if (out.len() + chunk.len()) as u64 > cap {
            return Err(CappedError::TooLarge(cap));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}
