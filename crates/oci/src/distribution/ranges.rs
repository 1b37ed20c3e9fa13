//! Parts of blobs (`Range` requests), for pulls that fetch only the chunks
//! they lack (crate::chunks::fetch). A registry may ignore `Range` (HTTP
//! allows it): its `200` answer is handed back as the whole blob, to be read
//! instead of the parts.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, RANGE};
use reqwest::{Method, Response, StatusCode};

use super::{Body, Endpoint, ResumingStream, Session};
use crate::body::{CappedError, read_capped};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::retry::retry_after;
use crate::transport::describe_request_error;

/// What a registry sent for a byte range of a blob.
pub enum BlobRange {
    /// Exactly the bytes asked for (`206 Partial Content`, its `Content-Range` checked).
    Part(Bytes),
    /// The whole blob (`200`: the registry ignores `Range`), as a stream from its start.
    Whole(ResumingStream),
}

impl Session {
    /// `GET`s the bytes `range` of blob `digest` under the retry policy (the
    /// request and the read are one attempt). A registry that answers with
    /// the whole blob gets it back as a stream, to be read instead.
    pub async fn blob_range(self: &Arc<Self>, digest: &Digest, range: Range<u64>) -> Result<BlobRange> {
        let what = format!("bytes {}-{} of blob {digest}", range.start, range.end.saturating_sub(1));
        if range.is_empty() {
            return Err(Error::Usage(format!("internal error: an empty range of blob {digest} was asked for")));
        }
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&format!("bytes={}-{}", range.start, range.end - 1)) {
            headers.insert(RANGE, value);
        }
        let target = Endpoint::Api(format!("blobs/{digest}"));
        let mut attempts = self.retry.attempts();
        loop {
            let result = match self.attempt(&Method::GET, &target, &headers, &Body::Empty).await {
                Ok(response) if response.status() == StatusCode::PARTIAL_CONTENT => {
                    self.read_part(response, &range, &what).await.map(BlobRange::Part)
                }
                Ok(response) if response.status().is_success() => {
                    return Ok(BlobRange::Whole(self.stream_from(digest, response)));
                }
                Ok(response) => {
                    if attempts.again_after_answer(response.status(), retry_after(response.headers())).await {
                        continue;
                    }
                    return Err(self.failure(response, &what).await);
                }
                Err(e) => Err(e),
            };
            match result {
                Err(e) if self.again(&mut attempts, &e).await => {}
                other => return other,
            }
        }
    }

    /// The body of a `206` answer: exactly the range asked for, as its
    /// `Content-Range` must say (a registry that sends another range, or more
    /// or fewer bytes, is refused).
    async fn read_part(&self, response: Response, range: &Range<u64>, what: &str) -> Result<Bytes> {
        let sent = response.headers().get(reqwest::header::CONTENT_RANGE).and_then(|v| v.to_str().ok());
        let expected = (range.start, range.end - 1);
        if content_range(sent) != Some(expected) {
            return Err(Error::Registry {
                registry: self.registry.clone(),
                status: "HTTP 206".into(),
                message: format!("asked for {what}, it sent the range {sent:?}"),
            });
        }
        let len = range.end - range.start;
        let bytes = read_capped(response, len).await.map_err(|e| match e {
            CappedError::TooLarge(_) => Error::Registry {
                registry: self.registry.clone(),
                status: "HTTP 206".into(),
                message: format!("asked for {what}, it sent more"),
            },
            CappedError::Request(e) => {
                Error::Transfer { what: what.to_string(), source: std::io::Error::other(describe_request_error(&e)) }
            }
        })?;
        if bytes.len() as u64 != len {
            return Err(Error::Transfer {
                what: what.to_string(),
                source: std::io::Error::other(format!("the answer ended after {} of {len} bytes", bytes.len())),
            });
        }
        Ok(bytes)
    }
}

/// `(first, last)` of a `Content-Range: bytes FIRST-LAST/TOTAL` value.
fn content_range(value: Option<&str>) -> Option<(u64, u64)> {
    let (span, _) = value?.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    Some((first.trim().parse().ok()?, last.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_give_both_ends() {
        assert_eq!(content_range(Some("bytes 100-199/1000")), Some((100, 199)));
        assert_eq!(content_range(Some("bytes 100-199/*")), Some((100, 199)));
        assert_eq!(content_range(Some("bytes */1000")), None);
        assert_eq!(content_range(Some("100-199/1000")), None);
        assert_eq!(content_range(None), None);
    }
}
