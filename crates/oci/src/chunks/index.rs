//! The chunk index of one layer: where content-defined chunking cut it, and
//! the SHA-256 of every chunk. wharf writes it ([`IndexBuilder`], one pass
//! over the bytes) and reads it from registries ([`ChunkIndex::parse`]), where
//! it is hostile input like any other: its size is bounded, its chunking
//! parameters must lie within what wharf would use, its chunks must cover the
//! layer exactly, in order, without gaps or overlaps, each within the sizes
//! the parameters allow. Chunk digests are only ever claims: every chunk is
//! hashed again before it is used, and the whole layer's digest decides.
//!
//! Chunks are cut with FastCDC (the 2020 paper's algorithm, from the `fastcdc`
//! crate): a gear hash over the bytes picks cut points that depend on the
//! content around them, so an edit moves only the cuts near it and the chunks
//! elsewhere keep their digests, in a rebuilt binary as in another app built
//! by the same toolchain. Fixed-size blocks would all shift after an insertion.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::Descriptor;

/// The index's media type: the referrer's `artifactType` and its layer's type.
pub const CHUNK_INDEX: &str = "application/vnd.wharf.chunk-index.v1+json";

/// The one chunking algorithm wharf knows.
pub const FASTCDC_2020: &str = "fastcdc-2020";

/// Largest chunk index wharf reads (a 1 GiB layer in 16 KiB chunks takes about 7 MiB).
pub const MAX_INDEX_SIZE: u64 = 16 << 20;

/// Bounds on the chunk sizes an index may declare: chunks are held in memory one
/// (or a range of them) at a time, and a chunk count is bounded by the minimum.
const SMALLEST_MIN: u32 = 1 << 10;
const LARGEST_MAX: u32 = 4 << 20;

/// How a layer was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chunking {
    /// The algorithm: always [`FASTCDC_2020`] (kept as a string in the JSON).
    #[serde(with = "algorithm")]
    pub algorithm: Algorithm,
    /// No chunk but the last is shorter.
    pub min_size: u32,
    /// The size chunking aims at.
    pub avg_size: u32,
    /// No chunk is longer.
    pub max_size: u32,
    /// FastCDC's normalization level (0 to 3; 1 is the crate's default).
    pub normalization: u8,
}

/// The chunking algorithms wharf knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// FastCDC as the 2020 paper describes it (`fastcdc::v2020`).
    FastCdc2020,
}

mod algorithm {
    use super::{Algorithm, FASTCDC_2020};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(_: &Algorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(FASTCDC_2020)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Algorithm, D::Error> {
        let name = String::deserialize(d)?;
        if name == FASTCDC_2020 {
            Ok(Algorithm::FastCdc2020)
        } else {
            Err(serde::de::Error::custom(format!("unknown chunking algorithm {name:?}; wharf knows {FASTCDC_2020}")))
        }
    }
}

impl Default for Chunking {
    /// 4 KiB, 16 KiB on average, 64 KiB: small enough that a rebuilt component
    /// shares most of its chunks with the build before, large enough that the
    /// index stays under 1 % of the layer.
    fn default() -> Self {
        Chunking {
            algorithm: Algorithm::FastCdc2020,
            min_size: 4 << 10,
            avg_size: 16 << 10,
            max_size: 64 << 10,
            normalization: 1,
        }
    }
}

impl Chunking {
    /// Refuses parameters outside what wharf would use itself (and outside what
    /// the `fastcdc` crate accepts, which it only checks in debug builds).
    pub fn check(&self) -> std::result::Result<(), String> {
        let Chunking { min_size, avg_size, max_size, normalization, .. } = *self;
        if !(SMALLEST_MIN..=LARGEST_MAX).contains(&min_size) || !(SMALLEST_MIN..=LARGEST_MAX).contains(&max_size) {
            return Err(format!("chunk sizes must lie between {SMALLEST_MIN} and {LARGEST_MAX} bytes"));
        }
        if !(min_size <= avg_size && avg_size <= max_size) {
            return Err("it needs minSize <= avgSize <= maxSize".into());
        }
        if [min_size, avg_size, max_size].iter().any(|s| s % 2 != 0) {
            return Err("chunk sizes must be even".into());
        }
        if normalization > 3 {
            return Err("normalization is a level from 0 to 3".into());
        }
        Ok(())
    }

    /// A short stable name of these parameters (for file names).
    pub fn key(&self) -> String {
        format!("fastcdc2020-{}-{}-{}-{}", self.min_size, self.avg_size, self.max_size, self.normalization)
    }

    fn level(&self) -> fastcdc::v2020::Normalization {
        use fastcdc::v2020::Normalization;
        match self.normalization {
            0 => Normalization::Level0,
            1 => Normalization::Level1,
            2 => Normalization::Level2,
            _ => Normalization::Level3,
        }
    }
}

/// One chunk of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    /// Where it starts in the layer.
    pub offset: u64,
    /// Its length in bytes.
    pub size: u32,
    /// The SHA-256 of its bytes.
    #[serde(with = "digest_string")]
    pub digest: Digest,
}

impl Chunk {
    /// One past its last byte.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.size)
    }
}

mod digest_string {
    use crate::digest::Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.as_str())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The layer an index describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexedLayer {
    /// Its digest.
    #[serde(with = "digest_string")]
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// A layer's chunk index (the JSON document, see docs/chunks.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChunkIndex {
    /// Always 1.
    pub schema_version: u32,
    /// Always [`CHUNK_INDEX`].
    pub media_type: String,
    /// The layer it describes.
    pub layer: IndexedLayer,
    /// How it was cut.
    pub chunking: Chunking,
    /// Its chunks, in order, covering it exactly.
    pub chunks: Vec<Chunk>,
}

impl ChunkIndex {
    /// Parses and checks an index that claims to describe `layer` (see the
    /// module docs for what is checked). `what` names it in errors.
    pub fn parse(bytes: &[u8], layer: &Descriptor, what: &str) -> Result<ChunkIndex> {
        let bad = |reason: String| Error::malformed(what.to_string(), reason);
        if bytes.len() as u64 > MAX_INDEX_SIZE {
            return Err(bad(format!("it is {} bytes, over the {MAX_INDEX_SIZE}-byte limit", bytes.len())));
        }
        let index: ChunkIndex = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        index.check(layer).map_err(bad)?;
        Ok(index)
    }

    /// The checks of [`ChunkIndex::parse`] on a parsed index.
    pub fn check(&self, layer: &Descriptor) -> std::result::Result<(), String> {
        if self.schema_version != 1 || self.media_type != CHUNK_INDEX {
            return Err(format!("it is not a version 1 {CHUNK_INDEX} document"));
        }
        if self.layer.digest != layer.digest || self.layer.size != layer.size {
            return Err(format!(
                "it describes {} ({} bytes), not the layer {} ({} bytes)",
                self.layer.digest, self.layer.size, layer.digest, layer.size
            ));
        }
        self.chunking.check().map_err(|reason| format!("its chunking parameters are refused: {reason}"))?;
        let most = layer.size / u64::from(self.chunking.min_size) + 1;
        if self.chunks.len() as u64 > most {
            return Err(format!(
                "it lists {} chunks; a layer of {} bytes has at most {most}",
                self.chunks.len(),
                layer.size
            ));
        }
        let mut next = 0u64;
        for (i, chunk) in self.chunks.iter().enumerate() {
            if chunk.offset != next {
                return Err(format!("chunk {i} starts at {} where the one before ended at {next}", chunk.offset));
            }
            let last = i + 1 == self.chunks.len();
            if chunk.size == 0 || chunk.size > self.chunking.max_size || (!last && chunk.size < self.chunking.min_size)
            {
                return Err(format!("chunk {i} has {} bytes, outside the sizes its parameters allow", chunk.size));
            }
            next = chunk.end();
        }
        if next != layer.size {
            return Err(format!("its chunks cover {next} bytes of a layer of {}", layer.size));
        }
        Ok(())
    }

    /// The document's bytes (compact JSON; the same index gives the same bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain structs of strings and numbers: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Cuts a stream of bytes into chunks and hashes them, fed in pieces of any size.
pub struct IndexBuilder {
    chunking: Chunking,
    /// Bytes not yet cut, from `start` on.
    pending: Vec<u8>,
    start: usize,
    offset: u64,
    chunks: Vec<Chunk>,
}

impl IndexBuilder {
    /// A builder cutting with `chunking` (checked: see [`Chunking::check`]).
    pub fn new(chunking: Chunking) -> Result<IndexBuilder> {
        chunking.check().map_err(|reason| Error::Usage(format!("chunking parameters refused: {reason}")))?;
        Ok(IndexBuilder {
            chunking,
            pending: Vec::with_capacity(2 * chunking.max_size as usize),
            start: 0,
            offset: 0,
            chunks: Vec::new(),
        })
    }

    /// Feeds the next bytes of the layer.
    pub fn update(&mut self, mut bytes: &[u8]) {
        let max = self.chunking.max_size as usize;
        while !bytes.is_empty() {
            // Keep at least `max` bytes resident before cutting: a cut never
            // looks further, so it is the cut the whole layer would get.
            let room = (2 * max).saturating_sub(self.pending.len() - self.start).max(1);
            let take = room.min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            self.cut(false);
        }
    }

    /// Cuts what is resident: chunks while at least `max` bytes remain, or
    /// everything at the end.
    fn cut(&mut self, end: bool) {
        let max = self.chunking.max_size as usize;
        let c = self.chunking;
        while self.pending.len() - self.start >= max || (end && self.pending.len() > self.start) {
            let window = &self.pending[self.start..];
            let cdc = fastcdc::v2020::FastCDC::with_level(
                window,
                c.min_size as usize,
                c.avg_size as usize,
                c.max_size as usize,
                c.level(),
            );
            let (_, cut) = cdc.cut(0, window.len());
            let cut = cut.clamp(1, window.len());
            let bytes = &window[..cut];
            self.chunks.push(Chunk { offset: self.offset, size: cut as u32, digest: Digest::of(bytes) });
            self.offset += cut as u64;
            self.start += cut;
        }
        if self.start > max {
            self.pending.drain(..self.start);
            self.start = 0;
        }
    }

    /// The index of the layer `layer` (whose bytes were all fed), checked as a
    /// read index would be: a layer whose size or digest differs from what was
    /// fed gives an error.
    pub fn finish(mut self, layer: &Descriptor) -> Result<ChunkIndex> {
        self.cut(true);
        let index = ChunkIndex {
            schema_version: 1,
            media_type: CHUNK_INDEX.to_string(),
            layer: IndexedLayer { digest: layer.digest.clone(), size: layer.size },
            chunking: self.chunking,
            chunks: self.chunks,
        };
        index.check(layer).map_err(|reason| Error::malformed("the chunk index being built", reason))?;
        Ok(index)
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.offset + (self.pending.len() - self.start) as u64
    }

    /// True before anything was fed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The index of `bytes` (a whole layer held in memory), cut with `chunking`.
pub fn index_of(bytes: &[u8], layer: &Descriptor, chunking: Chunking) -> Result<ChunkIndex> {
    let mut builder = IndexBuilder::new(chunking)?;
    builder.update(bytes);
    builder.finish(layer)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Pseudo-random bytes (xorshift), the same every run.
    pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn layer(bytes: &[u8]) -> Descriptor {
        Descriptor::of_bytes("application/wasm", bytes)
    }

    #[test]
    fn feeding_in_pieces_cuts_where_the_whole_layer_is_cut() -> Result<()> {
        let bytes = noise(700_000, 7);
        let c = Chunking::default();
        let whole: Vec<(usize, usize)> = fastcdc::v2020::FastCDC::new(&bytes, 4096, 16384, 65536)
            .map(|chunk| (chunk.offset, chunk.length))
            .collect();
        for piece in [1usize, 333, 4096, 65536, 1 << 20] {
            let mut builder = IndexBuilder::new(c)?;
            for part in bytes.chunks(piece) {
                builder.update(part);
            }
            let index = builder.finish(&layer(&bytes))?;
            let cuts: Vec<(usize, usize)> =
                index.chunks.iter().map(|ch| (ch.offset as usize, ch.size as usize)).collect();
            assert_eq!(cuts, whole, "pieces of {piece}");
            let first = &index.chunks[0];
            assert_eq!(first.digest, Digest::of(&bytes[..first.size as usize]));
        }
        Ok(())
    }

    #[test]
    fn an_edit_keeps_most_chunks() -> Result<()> {
        let old = noise(1_000_000, 3);
        let mut new = old.clone();
        new.splice(500_000..500_010, b"something longer than before".iter().copied());
        let a = index_of(&old, &layer(&old), Chunking::default())?;
        let b = index_of(&new, &layer(&new), Chunking::default())?;
        let known: std::collections::HashSet<&Digest> = a.chunks.iter().map(|c| &c.digest).collect();
        let changed: u64 = b.chunks.iter().filter(|c| !known.contains(&c.digest)).map(|c| u64::from(c.size)).sum();
        assert!(changed < 200_000, "{changed} bytes in new chunks");
        Ok(())
    }

    #[test]
    fn an_index_round_trips_and_lies_are_refused() -> Result<()> {
        let bytes = noise(100_000, 11);
        let desc = layer(&bytes);
        let index = index_of(&bytes, &desc, Chunking::default())?;
        assert_eq!(ChunkIndex::parse(&index.to_bytes(), &desc, "index")?, index);

        let refused = |mutate: &dyn Fn(&mut ChunkIndex), expect: &str| {
            let mut lie = index.clone();
            mutate(&mut lie);
            match ChunkIndex::parse(&lie.to_bytes(), &desc, "index") {
                Err(Error::Malformed { reason, .. }) => assert!(reason.contains(expect), "{reason}"),
                other => panic!("{expect}: {other:?}"),
            }
        };
        refused(&|i| i.chunks[1].offset += 1, "starts at");
        refused(&|i| i.chunks.swap(0, 1), "starts at");
        refused(&|i| i.chunks.pop().map(|_| ()).unwrap_or(()), "cover");
        refused(&|i| i.chunks[0].size = 0, "outside the sizes");
        refused(&|i| i.chunks[0].size = 1 << 30, "outside the sizes");
        refused(&|i| i.layer.size += 1, "not the layer");
        refused(&|i| i.chunking.min_size = 2, "parameters are refused");
        refused(&|i| i.chunking.max_size = 1 << 30, "parameters are refused");
        refused(&|i| i.schema_version = 2, "version 1");
        // Many tiny chunks: over the count the minimum allows.
        refused(
            &|i| {
                i.chunks =
                    (0..desc.size).map(|o| Chunk { offset: o, size: 1, digest: i.chunks[0].digest.clone() }).collect()
            },
            "at most",
        );
        let unknown = String::from_utf8_lossy(&index.to_bytes()).replacen('{', r#"{"extra":1,"#, 1);
        assert!(ChunkIndex::parse(unknown.as_bytes(), &desc, "index").is_err());
        let other_algorithm = String::from_utf8_lossy(&index.to_bytes()).replace(FASTCDC_2020, "rabin");
        assert!(ChunkIndex::parse(other_algorithm.as_bytes(), &desc, "index").is_err());
        Ok(())
    }

    #[test]
    fn an_empty_layer_has_no_chunks() -> Result<()> {
        let index = index_of(b"", &layer(b""), Chunking::default())?;
        assert!(index.chunks.is_empty());
        Ok(())
    }
}
