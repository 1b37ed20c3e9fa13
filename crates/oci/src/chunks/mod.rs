//! Pulling only what changed. A new build of a component shares most of its
//! bytes with the build before (and with other apps of the same toolchain),
//! yet a layer is one blob, pulled whole. So wharf cuts each layer it pushes
//! into content-defined chunks and attaches their digests beside the artifact
//! as a small referrer ([`index`], [`referrer`]), the way eStargz and
//! zstd:chunked images carry a table of contents, but beside the artifact
//! instead of inside the blob: the artifact stays byte for byte what every
//! other tool reads. A pull that finds one reads the chunks it already has
//! from a per-user cache of pulled layers ([`cache`]) and fetches only the
//! others with HTTP `Range` requests ([`fetch`]).
//!
//! The index is hostile input: bounded, checked chunk by chunk, and never
//! trusted over the layer's own digest. See docs/chunks.md for the format.

pub mod cache;
pub mod fetch;
pub mod index;
pub mod referrer;

pub use cache::ChunkCache;
pub use fetch::{LayerTransfer, Method, pull_layer};
pub use index::{CHUNK_INDEX, ChunkIndex, Chunking, IndexBuilder};

/// Layers smaller than this get no chunk index, and are pulled whole without
/// looking for one: what a chunked pull could save is worth less than its
/// extra requests.
pub const CHUNKED_ABOVE: u64 = 2 << 20;
