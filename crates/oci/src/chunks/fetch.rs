//! Pulling a layer by its chunks: the chunks the cache holds are read
//! locally, the others are fetched with `Range` requests (runs of missing
//! chunks one request each, a few at a time), and the layer is assembled in
//! order into a temp file that is renamed into place only once the whole
//! layer's digest matches, as a whole pull is.
//!
//! What decides: the whole layer's digest. Before it, every chunk is hashed
//! and compared with the index, from the cache (a damaged cached chunk is
//! fetched again, and its layer leaves the cache) and from the registry (a
//! chunk that differs means the index or the registry lies: the assembly is
//! dropped and the layer pulled whole). Whatever keeps a chunked pull from
//! working (no cache, a layer below [`CHUNKED_ABOVE`], a local store, no index, nothing
//! reusable, a registry that ignores `Range`, a failed range request) falls
//! back to a whole pull and says why ([`LayerTransfer::fallback`]); a registry
//! that answers a range with the whole blob has that answer read as the whole pull.
//!
//! Only a layer whose store has a chunk index of it is kept in the cache:
//! chunks are opt-in on the pushing side, so a user whose registry has no
//! indexes pays one referrers lookup per large layer and no disk.
//!
//! A chunked pull costs requests and CPU a whole one does not (a range request
//! costs docker-registry about 4 ms, and every chunk is hashed besides the
//! whole layer), and saves only the time its reused bytes would take on the
//! link. On a fast link (loopback, a LAN) that saving is smaller than the
//! cost, so the pull decides by measurement ([`worth_chunks`]): each whole
//! pull of a large layer records the rate it arrived at, per registry, in the
//! cache, and a later pull goes by chunks only when the reused bytes at that
//! rate take longer than the range requests and the hashing would.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;

use super::CHUNKED_ABOVE;
use super::cache::{ChunkCache, Source};
use super::index::ChunkIndex;
use super::referrer;
use crate::digest::{Digest, Digester, VerifyingStream};
use crate::error::Error;
use crate::fs::{AtomicFile, Mode};
use crate::manifest::Descriptor;
use crate::store::{ByteStream, RangeAnswer, ReadStore};

/// Longest range asked for in one request (the requests in flight are held in memory).
const MAX_RANGE: u64 = 2 << 20;
/// Range requests in flight at once.
const CONCURRENT_RANGES: usize = 4;
/// Most range requests for one layer: past it, the runs closest to each other
/// are joined (fetching the reusable chunks between them), as containers/storage
/// bounds its partial pulls.
const MAX_RANGES: usize = 256;
/// Longest run of cached chunks read at once.
const MAX_LOCAL_READ: u64 = 4 << 20;
/// What one range request costs besides its bytes (docker-registry 2.8 on
/// loopback answered 19 ranges of an 18 MiB layer in 67 to 85 ms, four at a
/// time or one by one, against 27 ms for the whole blob in one request).
const RANGE_COST: Duration = Duration::from_millis(4);
/// The CPU a chunked pull spends per MiB of layer beyond a whole pull's
/// (reading cached chunks, hashing every chunk as well as the whole layer):
/// 70 ms against 40 ms of CPU for an 18 MiB layer, about 1.7 ms per MiB.
const CHUNKED_CPU_PER_MIB: Duration = Duration::from_millis(2);
/// Cutting a cached layer that came without an index (the previous version,
/// pulled whole): 24 ms for 18 MiB, about 1.3 ms per MiB.
const CUT_CPU_PER_MIB: Duration = Duration::from_micros(1300);

/// How a layer reached the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The whole blob, from the store.
    Whole,
    /// By chunks: the cached ones read locally, the others fetched by range.
    Chunks,
    /// The whole layer, from the chunk cache (it was pulled before).
    Cache,
}

/// What a layer's pull did ([`pull_layer`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerTransfer {
    /// How the layer came.
    pub method: Method,
    /// Why it was pulled whole rather than by chunks, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Layer bytes received from the store.
    pub bytes_fetched: u64,
    /// Layer bytes taken from the chunk cache.
    pub bytes_reused: u64,
    /// Bytes of the chunk index and its referrer manifest read.
    pub index_bytes: u64,
    /// Chunks in the layer's index (0 without one).
    pub chunks: usize,
    /// Chunks taken from the cache.
    pub chunks_reused: usize,
    /// Range requests made.
    pub range_requests: usize,
    /// Cached chunks found damaged and fetched again.
    pub chunks_refetched: usize,
}

impl LayerTransfer {
    fn whole(fallback: impl Into<String>, size: u64) -> LayerTransfer {
        LayerTransfer {
            method: Method::Whole,
            fallback: Some(fallback.into()),
            bytes_fetched: size,
            bytes_reused: 0,
            index_bytes: 0,
            chunks: 0,
            chunks_reused: 0,
            range_requests: 0,
            chunks_refetched: 0,
        }
    }
}

/// Sees each piece of the layer before it is written, with its offset (it may
/// refuse it); a pull that falls back starts again at offset 0.
pub type Inspect<'a, E> = dyn FnMut(u64, &Bytes) -> std::result::Result<(), E> + Send + 'a;

/// Pulls the layer `layer` of the manifest `subject` from `store` into `path`,
/// by chunks where it can (see the module docs), else whole; verified, written
/// atomically, then kept in `cache` for later pulls when the store has a chunk
/// index of it (a layer without one never enters the cache).
pub async fn pull_layer<E: From<Error>>(
    store: &dyn ReadStore,
    subject: &Digest,
    layer: &Descriptor,
    path: &Path,
    cache: Option<&ChunkCache>,
    inspect: &mut Inspect<'_, E>,
) -> std::result::Result<LayerTransfer, E> {
    let Some(cache) = cache else {
        write_whole(store.fetch(layer).await?, layer, path, inspect).await?;
        return Ok(LayerTransfer::whole("the chunk cache is off", layer.size));
    };
    if layer.size < CHUNKED_ABOVE {
        write_whole(store.fetch(layer).await?, layer, path, inspect).await?;
        return Ok(LayerTransfer::whole(format!("layers under {CHUNKED_ABOVE} bytes are pulled whole"), layer.size));
    }
    if store.location().is_none() {
        // A layout (or memory) store is as local as the cache: nothing to save, no index to look for.
        write_whole(store.fetch(layer).await?, layer, path, inspect).await?;
        return Ok(LayerTransfer::whole("a local store is read whole", layer.size));
    }
    if cache.has_layer(layer) {
        if copy_from_cache(cache, layer, path, inspect).await? {
            cache.touch(&layer.digest);
            return Ok(LayerTransfer {
                method: Method::Cache,
                fallback: None,
                bytes_fetched: 0,
                bytes_reused: layer.size,
                ..transfer(layer)
            });
        }
        tracing::warn!(layer = %layer.digest, "the cached layer is damaged; pulling it again");
        cache.remove_layer(&layer.digest);
    }
    // On a link measured fast, where even the whole layer found in the cache
    // (one range request, its cached layer cut first) would not be worth it,
    // the pull is whole without a lookup; it measures the link again.
    let registry = store.location().map(|at| at.registry);
    let rate = registry.as_deref().and_then(|registry| cache.link_rate(registry));
    let fast = |rate: u64| {
        format!("the link is fast (the last whole pull from this registry came at {} MB/s)", rate / 1_000_000)
    };
    let cut = CUT_CPU_PER_MIB.mul_f64(layer.size as f64 / f64::from(1u32 << 20));
    if let Some(rate) = rate.filter(|&rate| !worth_chunks(layer.size, 1, layer.size, rate, cut)) {
        let started = Instant::now();
        write_whole(store.fetch(layer).await?, layer, path, inspect).await?;
        if let Some(registry) = &registry {
            cache.record_link_rate(registry, layer.size, started.elapsed());
        }
        let why = format!("{}: the whole layer arrives sooner than a pull by chunks", fast(rate));
        return Ok(LayerTransfer::whole(why, layer.size));
    }
    // Only a layer with a chunk index enters the cache: a user whose registry
    // has no indexes pays this one lookup and no disk.
    let found = match referrer::find(store, subject, layer).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            write_whole(store.fetch(layer).await?, layer, path, inspect).await?;
            return Ok(LayerTransfer::whole("the registry has no chunk index of this layer", layer.size));
        }
        Err(e) => {
            write_whole(store.fetch(layer).await?, layer, path, inspect).await?;
            return Ok(LayerTransfer::whole(format!("the chunk index could not be read ({e})"), layer.size));
        }
    };
    let sources = cache.sources(&found.index.chunking, &layer.digest);
    let plan = Plan::new(&found.index, &sources);
    let fast_link =
        rate.filter(|&rate| !worth_chunks(plan.reused_bytes, plan.remote_count(), layer.size, rate, Duration::ZERO));
    if plan.reused_bytes == 0 || fast_link.is_some() {
        let why = match fast_link {
            Some(rate) if plan.reused_bytes > 0 => {
                format!("{}: the whole layer arrives sooner than {} range requests", fast(rate), plan.remote_count())
            }
            _ => "no chunk of this layer is in the cache".into(),
        };
        let mut t = whole_into_cache(store, layer, path, cache, inspect, &why).await?;
        t.index_bytes = found.bytes_read;
        t.chunks = found.index.chunks.len();
        return Ok(t);
    }
    let mut assembly = Assembly::new(store, layer, &found.index, &sources, &plan);
    let outcome = assembly.run(path, inspect).await;
    for source in &assembly.damaged {
        tracing::warn!(layer = %sources[*source].index.layer.digest, "a cached layer is damaged; it leaves the cache");
        cache.remove_layer(&sources[*source].index.layer.digest);
    }
    let mut t = match outcome? {
        Assembled::Done => {
            cache.add_layer(path, layer);
            cache.add_index(&found.index);
            for used in plan.sources_used() {
                cache.touch(&sources[used].index.layer.digest);
            }
            assembly.report
        }
        Assembled::Whole(stream, why) => {
            write_whole(stream, layer, path, inspect).await?;
            cache.add_layer(path, layer);
            LayerTransfer { range_requests: 1, ..LayerTransfer::whole(why, layer.size) }
        }
        Assembled::Fallback(why) => {
            let requests = assembly.report.range_requests;
            let wasted = assembly.report.bytes_fetched;
            let mut t = whole_into_cache(store, layer, path, cache, inspect, &why).await?;
            t.range_requests = requests;
            t.bytes_fetched += wasted;
            t
        }
    };
    t.index_bytes = found.bytes_read;
    t.chunks = found.index.chunks.len();
    Ok(t)
}

/// Whether reusing `reused` bytes at the cost of `ranges` range requests
/// beats a whole pull of `size` bytes on a link of `rate` bytes per second:
/// the reused bytes would take longer to arrive than the range requests, the
/// extra hashing and `extra` cost.
fn worth_chunks(reused: u64, ranges: usize, size: u64, rate: u64, extra: Duration) -> bool {
    let saved = Duration::from_secs_f64(reused as f64 / rate.max(1) as f64);
    let requests = RANGE_COST.saturating_mul(u32::try_from(ranges).unwrap_or(u32::MAX));
    let hashing = CHUNKED_CPU_PER_MIB.mul_f64(size as f64 / f64::from(1u32 << 20));
    saved > requests.saturating_add(hashing).saturating_add(extra)
}

/// A transfer report of `layer` with nothing counted yet.
fn transfer(layer: &Descriptor) -> LayerTransfer {
    LayerTransfer { method: Method::Chunks, fallback: None, ..LayerTransfer::whole("", layer.size) }
}

/// A whole pull, then the layer kept in the cache. Not the registry's index
/// of it, which nothing checked here: a later pull cuts the cached layer
/// itself when it needs its chunks ([`ChunkCache::sources`]).
async fn whole_into_cache<E: From<Error>>(
    store: &dyn ReadStore,
    layer: &Descriptor,
    path: &Path,
    cache: &ChunkCache,
    inspect: &mut Inspect<'_, E>,
    why: &str,
) -> std::result::Result<LayerTransfer, E> {
    let started = Instant::now();
    write_whole(store.fetch(layer).await?, layer, path, inspect).await?;
    if let Some(at) = store.location() {
        cache.record_link_rate(&at.registry, layer.size, started.elapsed());
    }
    cache.add_layer(path, layer);
    Ok(LayerTransfer::whole(why, layer.size))
}

/// Streams `content` into `path` through a size and digest check, atomically.
async fn write_whole<E: From<Error>>(
    content: ByteStream,
    layer: &Descriptor,
    path: &Path,
    inspect: &mut Inspect<'_, E>,
) -> std::result::Result<(), E> {
    let mut offset = 0u64;
    crate::store::write_file_verified(content, layer, path, |chunk: &Bytes| {
        let at = offset;
        offset += chunk.len() as u64;
        inspect(at, chunk)
    })
    .await
}

/// Copies the cached layer into `path` through a size and digest check; false
/// when the cached file does not hold the layer (nothing is written then).
async fn copy_from_cache<E: From<Error>>(
    cache: &ChunkCache,
    layer: &Descriptor,
    path: &Path,
    inspect: &mut Inspect<'_, E>,
) -> std::result::Result<bool, E> {
    let content = crate::store::file_stream(&cache.layer_path(&layer.digest)).await?;
    let mut verified = VerifyingStream::new(content, layer.digest.clone(), layer.size);
    let mut file = AtomicFile::create(path, Mode::Shared)?;
    let mut offset = 0u64;
    while let Some(piece) = verified.next().await {
        let Ok(piece) = piece else { return Ok(false) };
        inspect(offset, &piece)?;
        offset += piece.len() as u64;
        file.write_all(&piece)?;
    }
    file.commit()?;
    Ok(true)
}

/// What each stretch of the layer comes from, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Chunks `chunks` read from the cached layer `source`, starting at its byte `at`.
    Local { source: usize, at: u64, chunks: Range<usize> },
    /// Chunks `chunks` fetched in one range request.
    Remote { chunks: Range<usize> },
}

/// The segments of a chunked pull.
#[derive(Debug)]
struct Plan {
    segments: Vec<Segment>,
    reused_bytes: u64,
}

impl Plan {
    /// Finds each chunk of `index` in `sources` (by digest and size), and
    /// groups the chunks into local reads and range requests.
    fn new(index: &ChunkIndex, sources: &[Source]) -> Plan {
        let mut found: HashMap<&Digest, (usize, u64, u32)> = HashMap::new();
        for (s, source) in sources.iter().enumerate() {
            for chunk in &source.index.chunks {
                found.entry(&chunk.digest).or_insert((s, chunk.offset, chunk.size));
            }
        }
        let mut segments: Vec<Segment> = Vec::new();
        let mut reused_bytes = 0;
        for (i, chunk) in index.chunks.iter().enumerate() {
            let here = found.get(&chunk.digest).filter(|(_, _, size)| *size == chunk.size);
            match (here, segments.last_mut()) {
                (Some(&(source, at, _)), Some(Segment::Local { source: s, at: a, chunks }))
                    if *s == source
                        && *a + span(index, chunks) == at
                        && span(index, chunks) + u64::from(chunk.size) <= MAX_LOCAL_READ =>
                {
                    chunks.end = i + 1;
                }
                (Some(&(source, at, _)), _) => segments.push(Segment::Local { source, at, chunks: i..i + 1 }),
                (None, Some(Segment::Remote { chunks }))
                    if span(index, chunks) + u64::from(chunk.size) <= MAX_RANGE =>
                {
                    chunks.end = i + 1;
                }
                (None, _) => segments.push(Segment::Remote { chunks: i..i + 1 }),
            }
            if here.is_some() {
                reused_bytes += u64::from(chunk.size);
            }
        }
        let mut plan = Plan { segments, reused_bytes };
        plan.bound_requests(index);
        plan
    }

    /// Joins the remote runs closest to each other until at most [`MAX_RANGES`] remain.
    fn bound_requests(&mut self, index: &ChunkIndex) {
        while self.remote_count() > MAX_RANGES {
            // The local stretch between two remote runs that is cheapest to fetch.
            let Some(i) = (1..self.segments.len().saturating_sub(1))
                .filter(|&i| {
                    matches!(self.segments[i], Segment::Local { .. })
                        && matches!(self.segments[i - 1], Segment::Remote { .. })
                        && matches!(self.segments[i + 1], Segment::Remote { .. })
                })
                .min_by_key(|&i| match &self.segments[i] {
                    Segment::Local { chunks, .. } | Segment::Remote { chunks } => span(index, chunks),
                })
            else {
                return;
            };
            let (Segment::Remote { chunks: before }, Segment::Remote { chunks: after }) =
                (&self.segments[i - 1], &self.segments[i + 1])
            else {
                return;
            };
            let joined = before.start..after.end;
            if let Segment::Local { chunks, .. } = &self.segments[i] {
                self.reused_bytes -= span(index, chunks);
            }
            self.segments.splice(i - 1..i + 2, [Segment::Remote { chunks: joined }]);
        }
    }

    fn remote_count(&self) -> usize {
        self.segments.iter().filter(|s| matches!(s, Segment::Remote { .. })).count()
    }

    /// The sources a local read uses.
    fn sources_used(&self) -> HashSet<usize> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Local { source, .. } => Some(*source),
                Segment::Remote { .. } => None,
            })
            .collect()
    }
}

/// Bytes of the chunks `chunks` of `index`.
fn span(index: &ChunkIndex, chunks: &Range<usize>) -> u64 {
    match (index.chunks.get(chunks.start), chunks.end.checked_sub(1).and_then(|l| index.chunks.get(l))) {
        (Some(first), Some(last)) if chunks.start < chunks.end => last.end() - first.offset,
        _ => 0,
    }
}

/// The byte range of the chunks `chunks` in the layer.
fn byte_range(index: &ChunkIndex, chunks: &Range<usize>) -> Range<u64> {
    let start = index.chunks.get(chunks.start).map_or(0, |c| c.offset);
    start..start + span(index, chunks)
}

/// How an assembly ended.
enum Assembled {
    /// The layer is in place.
    Done,
    /// The registry answered a range with the whole blob: read it instead.
    Whole(ByteStream, String),
    /// Nothing was written; pull the layer whole, for this reason.
    Fallback(String),
}

/// One chunked pull under way.
struct Assembly<'a> {
    store: &'a dyn ReadStore,
    layer: &'a Descriptor,
    index: &'a ChunkIndex,
    sources: &'a [Source],
    plan: &'a Plan,
    report: LayerTransfer,
    /// Sources whose bytes did not match their index (damaged).
    damaged: HashSet<usize>,
}

impl<'a> Assembly<'a> {
    fn new(
        store: &'a dyn ReadStore,
        layer: &'a Descriptor,
        index: &'a ChunkIndex,
        sources: &'a [Source],
        plan: &'a Plan,
    ) -> Self {
        let report = LayerTransfer { bytes_fetched: 0, ..transfer(layer) };
        Assembly { store, layer, index, sources, plan, report, damaged: HashSet::new() }
    }

    /// Writes the layer into `path` segment by segment, the range requests
    /// running ahead of the writing; the first request goes alone, so that a
    /// registry that ignores `Range` sends the whole blob once. The hashing,
    /// reading and writing run on a blocking thread while the range requests
    /// keep arriving (before, the two took turns and their times added up).
    async fn run<E: From<Error>>(
        &mut self,
        path: &Path,
        inspect: &mut Inspect<'_, E>,
    ) -> std::result::Result<Assembled, E> {
        let (store, layer) = (self.store, self.layer);
        let ranges: Vec<Range<u64>> = self
            .plan
            .segments
            .iter()
            .filter_map(|s| match s {
                Segment::Remote { chunks } => Some(byte_range(self.index, chunks)),
                Segment::Local { .. } => None,
            })
            .collect();
        let mut ranges = ranges.into_iter();
        let first = match ranges.next() {
            None => None,
            Some(range) => {
                self.report.range_requests += 1;
                match store.fetch_range(layer, range).await {
                    Ok(RangeAnswer::Part(bytes)) => Some(bytes),
                    Ok(RangeAnswer::Whole(stream)) => {
                        return Ok(Assembled::Whole(stream, "the registry ignores Range requests".into()));
                    }
                    Ok(RangeAnswer::Unsupported) => {
                        return Ok(Assembled::Fallback("the store does not serve parts of blobs".into()));
                    }
                    Err(e) => return Ok(Assembled::Fallback(format!("a range request failed ({e})"))),
                }
            }
        };
        self.report.range_requests += ranges.len();
        let (sender, parts) = futures::channel::mpsc::channel(CONCURRENT_RANGES);
        let fetching = std::pin::pin!(fetch_parts(store, layer, ranges, sender));
        let writing = std::pin::pin!(self.write_segments(first, parts, path, inspect));
        // The writing decides: when it ends first (done, or a fallback), the
        // requests still in flight are dropped.
        match futures::future::select(writing, fetching).await {
            futures::future::Either::Left((outcome, _)) => outcome,
            futures::future::Either::Right(((), writing)) => writing.await,
        }
    }

    /// Writes the segments in order: the fetched parts as `parts` delivers
    /// them (`first` before them), the local ones read from the cache.
    async fn write_segments<E: From<Error>>(
        &mut self,
        mut first: Option<Bytes>,
        mut parts: futures::channel::mpsc::Receiver<std::result::Result<Bytes, String>>,
        path: &Path,
        inspect: &mut Inspect<'_, E>,
    ) -> std::result::Result<Assembled, E> {
        let mut sink = Some(Sink::create(path)?);
        let index = Arc::new(self.index.clone());
        let paths: Arc<Vec<PathBuf>> = Arc::new(self.sources.iter().map(|s| s.path.clone()).collect());
        let mut offset = 0u64;
        for segment in &self.plan.segments {
            let step = match segment {
                Segment::Remote { chunks } => {
                    let part = match first.take() {
                        Some(part) => Ok(part),
                        None => parts.next().await.unwrap_or_else(|| Err("a range request went missing".into())),
                    };
                    match part {
                        Ok(part) => {
                            self.report.bytes_fetched += part.len() as u64;
                            Step::Fetched(part, chunks.clone())
                        }
                        Err(why) => return Ok(Assembled::Fallback(why)),
                    }
                }
                Segment::Local { source, at, chunks } => {
                    Step::Local { source: *source, at: *at, chunks: chunks.clone() }
                }
            };
            let written = match Sink::take(&mut sink)?.write(step, &index, &paths, &mut sink).await? {
                Written::Bytes(bytes) => {
                    if let Segment::Local { chunks, .. } = segment {
                        self.report.bytes_reused += bytes.len() as u64;
                        self.report.chunks_reused += chunks.len();
                    }
                    bytes
                }
                Written::Mismatch(i) => {
                    return Ok(Assembled::Fallback(format!(
                        "chunk {i} of the index does not match the registry's bytes at its offset (a wrong index, or a registry sending other bytes)"
                    )));
                }
                Written::LocalMissing(source, chunks) => {
                    self.damaged.insert(source);
                    let part = match self.refetch(&chunks).await {
                        Ok(part) => part,
                        Err(why) => return Ok(Assembled::Fallback(why)),
                    };
                    match Sink::take(&mut sink)?.write(Step::Fetched(part, chunks), &index, &paths, &mut sink).await? {
                        Written::Bytes(bytes) => bytes,
                        _ => return Ok(Assembled::Fallback("refetched chunks do not match the index".into())),
                    }
                }
            };
            inspect(offset, &written)?;
            offset += written.len() as u64;
        }
        let Sink { file, whole, .. } = Sink::take(&mut sink)?;
        let (size, digest) = (whole.len(), whole.finish());
        if size != self.layer.size || digest != self.layer.digest {
            return Ok(Assembled::Fallback(format!(
                "the assembled layer is {digest} ({size} bytes), not {} (a wrong index)",
                self.layer.digest
            )));
        }
        file.commit()?;
        Ok(Assembled::Done)
    }

    /// Fetches chunks the cache should have held but did not.
    async fn refetch(&mut self, chunks: &Range<usize>) -> std::result::Result<Bytes, String> {
        self.report.range_requests += 1;
        let part = match self.store.fetch_range(self.layer, byte_range(self.index, chunks)).await {
            Ok(RangeAnswer::Part(part)) => part,
            Ok(_) => return Err("the registry answered a range request with the whole blob".into()),
            Err(e) => return Err(format!("a range request failed ({e})")),
        };
        self.report.bytes_fetched += part.len() as u64;
        self.report.chunks_refetched += chunks.len();
        check(self.index, chunks, &part)
            .map_err(|i| format!("chunk {i} of the index does not match the registry's bytes"))?;
        Ok(part)
    }
}

/// Sends the answers to `ranges` of `layer` into `parts`, in order, a few in
/// flight; stops at the first failure, or when nobody listens any more.
async fn fetch_parts(
    store: &dyn ReadStore,
    layer: &Descriptor,
    ranges: impl Iterator<Item = Range<u64>>,
    mut parts: futures::channel::mpsc::Sender<std::result::Result<Bytes, String>>,
) {
    use futures::SinkExt;
    let mut answers =
        futures::stream::iter(ranges).map(|range| store.fetch_range(layer, range)).buffered(CONCURRENT_RANGES);
    while let Some(answer) = answers.next().await {
        let part = match answer {
            Ok(RangeAnswer::Part(part)) => Ok(part),
            Ok(_) => Err("the registry answered a range request with the whole blob".to_string()),
            Err(e) => Err(format!("a range request failed ({e})")),
        };
        let failed = part.is_err();
        if parts.send(part).await.is_err() || failed {
            return;
        }
    }
}

/// Checks each chunk of `chunks` of `index` in `bytes` (their bytes, in
/// order) against its digest; the index of the first that differs.
fn check(index: &ChunkIndex, chunks: &Range<usize>, bytes: &[u8]) -> std::result::Result<(), usize> {
    let base = byte_range(index, chunks).start;
    for i in chunks.clone() {
        let chunk = &index.chunks[i];
        let from = usize::try_from(chunk.offset - base).map_err(|_| i)?;
        let piece = bytes.get(from..from + chunk.size as usize).ok_or(i)?;
        if Digest::of(piece) != chunk.digest {
            return Err(i);
        }
    }
    Ok(())
}

/// What one segment brings.
enum Step {
    /// Fetched bytes of the chunks `.1`.
    Fetched(Bytes, Range<usize>),
    /// Chunks `chunks` to read from the cached layer `source` at its byte `at`.
    Local { source: usize, at: u64, chunks: Range<usize> },
}

/// What writing a segment did.
enum Written {
    /// These bytes were checked, hashed and written.
    Bytes(Bytes),
    /// Fetched chunk `.0` does not match its digest: nothing was written.
    Mismatch(usize),
    /// The cached layer `.0` does not hold the chunks `.1` (damaged or gone): nothing was written.
    LocalMissing(usize, Range<usize>),
}

/// The file being assembled, the whole layer's digest so far and the cached
/// layers open: moved to a blocking thread for each segment, and back.
struct Sink {
    file: AtomicFile,
    whole: Digester,
    open: HashMap<usize, std::fs::File>,
}

impl Sink {
    fn create(path: &Path) -> std::result::Result<Sink, Error> {
        Ok(Sink { file: AtomicFile::create(path, Mode::Shared)?, whole: Digester::default(), open: HashMap::new() })
    }

    /// The sink out of its slot (where [`Sink::write`] puts it back).
    fn take(slot: &mut Option<Sink>) -> std::result::Result<Sink, Error> {
        slot.take().ok_or_else(|| Error::Usage("internal error: the assembly lost its file".into()))
    }

    /// Checks, hashes and writes `step` on a blocking thread, then puts the sink back into `slot`.
    async fn write(
        self,
        step: Step,
        index: &Arc<ChunkIndex>,
        paths: &Arc<Vec<PathBuf>>,
        slot: &mut Option<Sink>,
    ) -> std::result::Result<Written, Error> {
        let (index, paths) = (Arc::clone(index), Arc::clone(paths));
        let (sink, written) = tokio::task::spawn_blocking(move || self.write_now(step, &index, &paths))
            .await
            .map_err(|e| Error::Usage(format!("internal error: the assembly task failed: {e}")))?;
        *slot = Some(sink);
        written
    }

    fn write_now(
        mut self,
        step: Step,
        index: &ChunkIndex,
        paths: &[PathBuf],
    ) -> (Sink, std::result::Result<Written, Error>) {
        let bytes = match step {
            Step::Fetched(bytes, chunks) => match check(index, &chunks, &bytes) {
                Ok(()) => bytes,
                Err(i) => return (self, Ok(Written::Mismatch(i))),
            },
            Step::Local { source, at, chunks } => match self.read_local(index, paths, source, at, &chunks) {
                Some(bytes) => bytes,
                None => return (self, Ok(Written::LocalMissing(source, chunks))),
            },
        };
        self.whole.update(&bytes);
        let written = self.file.write_all(&bytes).map(|()| Written::Bytes(bytes));
        (self, written)
    }

    /// The chunks `chunks` read from the cached layer `source` at `at`, if it
    /// holds them (each checked against its digest).
    fn read_local(
        &mut self,
        index: &ChunkIndex,
        paths: &[PathBuf],
        source: usize,
        at: u64,
        chunks: &Range<usize>,
    ) -> Option<Bytes> {
        let file = match self.open.entry(source) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(std::fs::File::open(paths.get(source)?).ok()?)
            }
        };
        let mut bytes = vec![0u8; usize::try_from(span(index, chunks)).ok()?];
        file.seek(SeekFrom::Start(at)).ok()?;
        file.read_exact(&mut bytes).ok()?;
        check(index, chunks, &bytes).ok()?;
        Some(Bytes::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::index::{Chunk, Chunking, IndexedLayer};

    fn index_of_sizes(sizes: &[u32]) -> ChunkIndex {
        let mut offset = 0;
        let chunks = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let chunk = Chunk { offset, size, digest: Digest::of(format!("chunk {i}").as_bytes()) };
                offset += u64::from(size);
                chunk
            })
            .collect();
        ChunkIndex {
            schema_version: 1,
            media_type: super::super::index::CHUNK_INDEX.into(),
            layer: IndexedLayer { digest: Digest::of(b"layer"), size: offset },
            chunking: Chunking::default(),
            chunks,
        }
    }

    fn source_with(index: &ChunkIndex, keep: &[usize]) -> Source {
        let mut offset = 0;
        let chunks = keep
            .iter()
            .map(|&i| {
                let mut chunk = index.chunks[i].clone();
                chunk.offset = offset;
                offset += u64::from(chunk.size);
                chunk
            })
            .collect();
        let index =
            ChunkIndex { layer: IndexedLayer { digest: Digest::of(b"old"), size: offset }, chunks, ..index.clone() };
        Source { path: "old".into(), index }
    }

    #[test]
    fn runs_of_missing_chunks_are_one_request_each() {
        let index = index_of_sizes(&[5000; 8]);
        let sources = [source_with(&index, &[0, 1, 4, 5])];
        let plan = Plan::new(&index, &sources);
        assert_eq!(
            plan.segments,
            [
                Segment::Local { source: 0, at: 0, chunks: 0..2 },
                Segment::Remote { chunks: 2..4 },
                Segment::Local { source: 0, at: 10000, chunks: 4..6 },
                Segment::Remote { chunks: 6..8 },
            ]
        );
        assert_eq!(plan.reused_bytes, 20000);
    }

    #[test]
    fn chunks_out_of_order_in_the_cache_are_separate_reads() {
        let index = index_of_sizes(&[5000; 3]);
        let sources = [source_with(&index, &[2, 1, 0])];
        let plan = Plan::new(&index, &sources);
        assert_eq!(plan.segments.len(), 3);
        assert_eq!(plan.reused_bytes, 15000);
    }

    #[test]
    fn too_many_runs_are_joined_where_the_reusable_gap_is_smallest() {
        let mut sizes = Vec::new();
        let mut keep = Vec::new();
        for i in 0..(2 * MAX_RANGES + 2) {
            sizes.push(if i % 2 == 1 && i == 7 { 4096 } else { 8192 });
            if i % 2 == 1 {
                keep.push(i);
            }
        }
        let index = index_of_sizes(&sizes);
        let sources = [source_with(&index, &keep)];
        let plan = Plan::new(&index, &sources);
        assert_eq!(plan.remote_count(), MAX_RANGES);
        // The smallest reusable gap (chunk 7) is fetched now.
        assert!(plan.segments.iter().any(|s| matches!(s, Segment::Remote { chunks } if chunks.contains(&7))));
    }

    #[test]
    fn chunks_are_worth_it_on_a_slow_link_and_not_on_a_fast_one() {
        // 18 MiB, 60 % reused, in 20 range requests.
        let mut keep = Vec::new();
        for i in 0..1150 {
            if i % 57 >= 23 {
                keep.push(i);
            }
        }
        let index = index_of_sizes(&[16384; 1150]);
        let plan = Plan::new(&index, &[source_with(&index, &keep)]);
        assert_eq!(plan.remote_count(), 21);
        let size = index.layer.size;
        let worth = |rate| worth_chunks(plan.reused_bytes, plan.remote_count(), size, rate, Duration::ZERO);
        assert!(worth(5_000_000), "40 Mbit/s");
        assert!(worth(50_000_000), "400 Mbit/s");
        assert!(!worth(500_000_000), "loopback");
        assert!(!worth_chunks(size, 1, size, 1_000_000_000, Duration::ZERO), "not even all of it at 1 GB/s");
        let cut = CUT_CPU_PER_MIB.mul_f64(size as f64 / f64::from(1u32 << 20));
        assert!(!worth_chunks(size, 1, size, 429_000_000, cut), "loopback as measured, the cached layer to cut");
        assert!(worth_chunks(size, 1, size, 100_000_000, cut), "800 Mbit/s: worth a look for an index");
    }

    #[test]
    fn long_runs_are_split_into_bounded_requests() {
        let index = index_of_sizes(&[60000; 100]);
        let plan = Plan::new(&index, &[]);
        assert!(plan.segments.iter().all(|s| match s {
            Segment::Remote { chunks } => span(&index, chunks) <= MAX_RANGE,
            Segment::Local { .. } => false,
        }));
        assert_eq!(plan.reused_bytes, 0);
    }
}
