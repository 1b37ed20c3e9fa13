//! Content digests: strict parsing, streaming SHA-256, and a verifying stream
//! that checks size and digest as bytes flow past (no second pass).

use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A `sha256:<64 hex>` content digest. Other algorithms are refused: every
/// store wharf talks to addresses content by SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex(&Sha256::digest(bytes))))
    }

    /// The full `sha256:<hex>` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidDigest { input: s.to_string(), reason: reason.to_string() };
        let Some(hex) = s.strip_prefix("sha256:") else {
            return Err(bad("only sha256:<64 lowercase hex digits> digests are supported"));
        };
        if hex.len() != 64 {
            return Err(bad("a sha256 digest has exactly 64 hex digits"));
        }
        if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad("a sha256 digest uses lowercase hex digits only"));
        }
        Ok(Digest(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// The bytes of a hex string (either case); `None` unless it is an even
/// number of hex digits and nothing else (no sign, no spaces).
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// Incremental SHA-256 with a byte count.
#[derive(Default, Clone)]
pub struct Digester {
    hasher: Sha256,
    len: u64,
}

impl Digester {
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }
    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// True if nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest(format!("sha256:{}", hex(&self.hasher.finalize())))
    }
}

/// Wraps a byte stream and fails it when it runs past `size`, ends short of
/// it, or ends with a different digest. The failure is the stream's last item,
/// so a consumer that writes to a temp file and renames only after a clean end
/// never keeps bad content.
pub struct VerifyingStream<S> {
    inner: S,
    expected: Digest,
    size: u64,
    digester: Option<Digester>,
}

impl<S> VerifyingStream<S> {
    /// Verify `inner` against `expected` and `size`.
    pub fn new(inner: S, expected: Digest, size: u64) -> Self {
        VerifyingStream { inner, expected, size, digester: Some(Digester::default()) }
    }
}

fn integrity_error(e: Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

impl<S> Stream for VerifyingStream<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(digester) = this.digester.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                digester.update(&chunk);
                if digester.len() > this.size {
                    let actual = digester.len();
                    this.digester = None;
                    return Poll::Ready(Some(Err(integrity_error(Error::SizeMismatch {
                        digest: this.expected.to_string(),
                        expected: this.size,
                        actual,
                    }))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.digester = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                let Some(digester) = this.digester.take() else {
                    return Poll::Ready(None);
                };
                if digester.len() != this.size {
                    return Poll::Ready(Some(Err(integrity_error(Error::SizeMismatch {
                        digest: this.expected.to_string(),
                        expected: this.size,
                        actual: digester.len(),
                    }))));
                }
                let actual = digester.finish();
                if actual != this.expected {
                    return Poll::Ready(Some(Err(integrity_error(Error::DigestMismatch {
                        expected: this.expected.to_string(),
                        actual: actual.to_string(),
                    }))));
                }
                Poll::Ready(None)
            }
        }
    }
}

/// Checks a whole in-memory document against a descriptor's digest and size.
pub fn verify_bytes(bytes: &[u8], expected: &Digest, size: u64) -> Result<()> {
    if bytes.len() as u64 != size {
        return Err(Error::SizeMismatch { digest: expected.to_string(), expected: size, actual: bytes.len() as u64 });
    }
    let actual = Digest::of(bytes);
    if &actual != expected {
        return Err(Error::DigestMismatch { expected: expected.to_string(), actual: actual.to_string() });
    }
    Ok(())
}

/// Recovers a wharf error carried inside an `io::Error` (see [`VerifyingStream`]);
/// any other I/O error goes through `context`.
pub fn unwrap_io_error(e: std::io::Error, context: impl FnOnce(std::io::Error) -> Error) -> Error {
    if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return context(e);
    }
    match e.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(err)) => *err,
        // Unreachable: checked above that the inner error is ours.
        _ => Error::Usage("internal error: an integrity error was lost".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn hex_decode_is_strict_and_inverts_hex() {
        let bytes = [0u8, 0x0f, 0xa5, 0xff];
        assert_eq!(hex_decode(&hex(&bytes)).as_deref(), Some(&bytes[..]));
        assert_eq!(hex_decode("00FFaB"), Some(vec![0, 0xff, 0xab]));
        assert_eq!(hex_decode(""), Some(vec![]));
        for bad in ["0", "+f", "0g", " 0f", "0f ", "é"] {
            assert_eq!(hex_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_strictly() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(good.parse::<Digest>().is_ok());
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(format!("sha512:{}", "a".repeat(128)).parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "A".repeat(64)).parse::<Digest>().is_err());
    }

    #[test]
    fn digest_of_empty_is_the_well_known_one() {
        assert_eq!(Digest::of(b"").as_str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    async fn drain(chunks: Vec<&'static [u8]>, expected: Digest, size: u64) -> std::io::Result<Vec<u8>> {
        let inner = futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))));
        let mut s = VerifyingStream::new(inner, expected, size);
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            out.extend_from_slice(&item?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn verifying_stream_accepts_good_and_rejects_bad_content() {
        let d = Digest::of(b"hello world");
        assert_eq!(drain(vec![b"hello ", b"world"], d.clone(), 11).await.ok(), Some(b"hello world".to_vec()));
        let wrong = drain(vec![b"hello ", b"there"], d.clone(), 11).await.err();
        assert!(matches!(
            wrong.map(|e| unwrap_io_error(e, |e| Error::Transfer { what: String::new(), source: e })),
            Some(Error::DigestMismatch { .. })
        ));
        let long = drain(vec![b"hello world!"], d.clone(), 11).await.err();
        assert!(matches!(
            long.map(|e| unwrap_io_error(e, |e| Error::Transfer { what: String::new(), source: e })),
            Some(Error::SizeMismatch { .. })
        ));
        let short = drain(vec![b"hello"], d, 11).await.err();
        assert!(matches!(
            short.map(|e| unwrap_io_error(e, |e| Error::Transfer { what: String::new(), source: e })),
            Some(Error::SizeMismatch { .. })
        ));
    }
}
