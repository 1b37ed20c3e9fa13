//! The per-user chunk cache: layers wharf pulled, kept whole and named by their
//! digest, each with the chunk index of every chunking it was looked up with.
//! A chunk is found by its digest through those indexes, so the cache is
//! content-addressed at the chunk level while holding one file per layer: a
//! pull writes one file, not a thousand, and an unchanged layer is read back
//! whole. containers/storage's partial pulls find chunks the same way, in the
//! layers already on disk.
//!
//! Nothing read from the cache is trusted: every chunk is hashed again when
//! it is used and a layer copied out is checked against its digest, so a
//! damaged file (a disk error, an edit of a pulled file that shares its inode
//! with the cache, see [`ChunkCache::add_layer`]) costs a download, never a
//! wrong file. An index stored beside a layer may be the registry's (a claim
//! that each use checks) or one wharf computed from the layer's bytes.
//!
//! Safe under concurrent pulls: every file appears by an atomic rename or
//! link, is never written in place, and a reader that finds a file gone
//! treats it as a miss. The cache is capped ([`DEFAULT_MAX_BYTES`], or
//! `WHARF_CHUNK_CACHE_MAX` in MiB): after an insertion the least recently
//! used layers go first. It lives in `$WHARF_CHUNK_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/wharf/chunks`, else `~/.cache/wharf/chunks`, created
//! owner-only (0700); `WHARF_NO_CACHE=1` or a cap of 0 turns it off.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::index::{ChunkIndex, Chunking, IndexBuilder};
use crate::digest::Digest;
use crate::manifest::Descriptor;

/// The cap when `WHARF_CHUNK_CACHE_MAX` is not set: 2 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

/// Most layers kept, whatever their size.
const MAX_LAYERS: usize = 256;

/// Most layers whose indexes a pull reads to find chunks (the most recently used).
pub const MAX_SOURCES: usize = 32;

/// Most bytes of cached layers a pull cuts into chunks itself (layers that
/// came without an index, or with another chunking).
const MAX_BYTES_INDEXED_PER_PULL: u64 = 256 << 20;

/// A chunk cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// A cached layer with an index of the chunking asked for.
#[derive(Debug)]
pub struct Source {
    /// The layer file.
    pub path: PathBuf,
    /// Its chunks.
    pub index: ChunkIndex,
}

impl ChunkCache {
    /// A cache in `dir` holding at most `max_bytes` of layers.
    pub fn at(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        ChunkCache { dir: dir.into(), max_bytes }
    }

    /// The user's cache, from the environment (see the module docs); `None`
    /// when turned off or when no directory can be named.
    pub fn from_env() -> Option<Self> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if var("WHARF_NO_CACHE").is_some_and(|v| v != "0") {
            return None;
        }
        let max_bytes = match var("WHARF_CHUNK_CACHE_MAX") {
            Some(v) => v.to_str()?.trim().parse::<u64>().ok()?.saturating_mul(1 << 20),
            None => DEFAULT_MAX_BYTES,
        };
        if max_bytes == 0 {
            return None;
        }
        if let Some(dir) = var("WHARF_CHUNK_CACHE_DIR") {
            return Some(Self::at(dir, max_bytes));
        }
        let base = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".cache")))?;
        Some(Self::at(base.join("wharf").join("chunks"), max_bytes))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn layers(&self) -> PathBuf {
        self.dir.join("layers")
    }

    fn indexes(&self) -> PathBuf {
        self.dir.join("indexes")
    }

    /// Empty files whose modification time says when a layer was last used: a
    /// layer file may share its inode with a pulled file, whose times are the user's.
    fn stamps(&self) -> PathBuf {
        self.dir.join("used")
    }

    /// Where the layer `digest` is kept.
    pub fn layer_path(&self, digest: &Digest) -> PathBuf {
        self.layers().join(digest.hex())
    }

    fn index_path(&self, digest: &Digest, chunking: &Chunking) -> PathBuf {
        self.indexes().join(format!("{}.{}.json", digest.hex(), chunking.key()))
    }

    /// True when the cache holds a file of `layer`'s size under its digest.
    pub fn has_layer(&self, layer: &Descriptor) -> bool {
        fs::metadata(self.layer_path(&layer.digest)).is_ok_and(|m| m.is_file() && m.len() == layer.size)
    }

    /// Creates the cache's directories, owner-only.
    pub(crate) fn create_dirs(&self) -> std::io::Result<()> {
        for dir in [self.dir.clone(), self.layers(), self.indexes(), self.stamps(), self.links()] {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&dir)?;
        }
        Ok(())
    }

    /// Keeps the file at `path`, whose content the caller verified to be
    /// `layer`, then trims the cache to its cap. The file is hard-linked when
    /// it is on the cache's file system (no copy: a pull costs no second
    /// write), else copied. A later edit in place of the pulled file would
    /// change the cached layer too; every read from the cache is checked, so
    /// that costs a download, never a wrong file. Failures are ignored: the
    /// cache is an optimisation.
    pub fn add_layer(&self, path: &Path, layer: &Descriptor) {
        if let Err(e) = self.try_add_layer(path, layer) {
            tracing::debug!(error = %e, dir = %self.dir.display(), "layer not cached");
        }
        self.prune(&layer.digest);
    }

    fn try_add_layer(&self, path: &Path, layer: &Descriptor) -> std::io::Result<()> {
        if layer.size > self.max_bytes {
            return Ok(());
        }
        self.create_dirs()?;
        let target = self.layer_path(&layer.digest);
        self.touch(&layer.digest);
        if self.has_layer(layer) {
            return Ok(());
        }
        match fs::hard_link(path, &target) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(_) => {}
        }
        let temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(self.layers())?;
        fs::copy(path, temp.path())?;
        temp.persist(&target).map(|_| ()).map_err(|e| e.error)
    }

    /// Stores `index` beside its layer (replacing an older one of the same chunking).
    pub fn add_index(&self, index: &ChunkIndex) {
        let write = || -> std::io::Result<()> {
            self.create_dirs()?;
            let temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(self.indexes())?;
            fs::write(temp.path(), index.to_bytes())?;
            temp.persist(self.index_path(&index.layer.digest, &index.chunking)).map(|_| ()).map_err(|e| e.error)
        };
        if let Err(e) = write() {
            tracing::debug!(error = %e, "chunk index not cached");
        }
    }

    /// The rate, in bytes per second, at which the last whole pull of a large
    /// layer from `registry` arrived ([`ChunkCache::record_link_rate`]).
    pub fn link_rate(&self, registry: &str) -> Option<u64> {
        let mut text = String::new();
        fs::File::open(self.link_path(registry)).ok()?.take(32).read_to_string(&mut text).ok()?;
        text.trim().parse::<u64>().ok().filter(|&rate| rate > 0)
    }

    /// Remembers that `bytes` came whole from `registry` in `elapsed`.
    pub fn record_link_rate(&self, registry: &str, bytes: u64, elapsed: std::time::Duration) {
        let rate = (bytes as f64 / elapsed.as_secs_f64().max(1e-6)) as u64;
        let write = || -> std::io::Result<()> {
            self.create_dirs()?;
            let temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(self.links())?;
            fs::write(temp.path(), rate.to_string())?;
            temp.persist(self.link_path(registry)).map(|_| ()).map_err(|e| e.error)
        };
        if let Err(e) = write() {
            tracing::debug!(error = %e, "link rate not cached");
        }
    }

    fn links(&self) -> PathBuf {
        self.dir.join("links")
    }

    /// `links/<hex of the SHA-256 of the registry's name>`: any host name is a file name.
    fn link_path(&self, registry: &str) -> PathBuf {
        self.links().join(Digest::of(registry.as_bytes()).hex())
    }

    /// Forgets a layer found damaged, and its indexes.
    pub fn remove_layer(&self, digest: &Digest) {
        let _ = fs::remove_file(self.layer_path(digest));
        self.forget(digest.hex());
    }

    /// Removes what the cache keeps about the layer `hex` besides its file.
    fn forget(&self, hex: &str) {
        let _ = fs::remove_file(self.stamps().join(hex));
        let Ok(dir) = fs::read_dir(self.indexes()) else { return };
        for entry in dir.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&format!("{hex}.")) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Marks a layer as just used (its place in the least-recently-used order).
    pub fn touch(&self, digest: &Digest) {
        let stamp = self.stamps().join(digest.hex());
        let stamped = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&stamp);
        if let Ok(file) = stamped {
            let _ = file.set_modified(SystemTime::now());
        }
    }

    /// The cached layers, most recently used first (at most [`MAX_SOURCES`],
    /// `except` left out), each with its index for `chunking`: the stored one,
    /// or one cut from the layer's bytes now (within a budget per pull), then
    /// stored. A layer whose index cannot be had is skipped.
    pub fn sources(&self, chunking: &Chunking, except: &Digest) -> Vec<Source> {
        let mut budget = MAX_BYTES_INDEXED_PER_PULL;
        let mut sources = Vec::new();
        for (_, size, path) in self.layer_files().into_iter().rev() {
            if sources.len() == MAX_SOURCES {
                break;
            }
            let Some(digest) = path.file_name().and_then(|n| format!("sha256:{}", n.to_string_lossy()).parse().ok())
            else {
                continue;
            };
            if &digest == except {
                continue;
            }
            let layer = Descriptor::of("application/octet-stream", digest, size);
            let index = match self.read_index(&layer, chunking) {
                Some(index) => index,
                None if size <= budget => {
                    budget -= size;
                    match index_file(&path, &layer, *chunking) {
                        Some(index) => {
                            self.add_index(&index);
                            index
                        }
                        None => continue,
                    }
                }
                None => continue,
            };
            sources.push(Source { path, index });
        }
        sources
    }

    fn read_index(&self, layer: &Descriptor, chunking: &Chunking) -> Option<ChunkIndex> {
        let bytes = fs::read(self.index_path(&layer.digest, chunking)).ok()?;
        let index = ChunkIndex::parse(&bytes, layer, "a cached chunk index").ok()?;
        (index.chunking == *chunking).then_some(index)
    }

    /// The layer files: (last use, size, path), least recently used first.
    fn layer_files(&self) -> Vec<(SystemTime, u64, PathBuf)> {
        let Ok(dir) = fs::read_dir(self.layers()) else { return Vec::new() };
        let stamps = self.stamps();
        let mut files: Vec<(SystemTime, u64, PathBuf)> = dir
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                let used = fs::metadata(stamps.join(e.file_name())).and_then(|m| m.modified());
                meta.is_file().then(|| (used.unwrap_or(SystemTime::UNIX_EPOCH), meta.len(), e.path()))
            })
            .collect();
        files.sort();
        files
    }

    /// Removes the least recently used layers (never `keep`) while the cache
    /// is over its cap, and indexes whose layer is gone.
    fn prune(&self, keep: &Digest) {
        let files = self.layer_files();
        let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
        let mut count = files.len();
        for (_, size, path) in &files {
            if total <= self.max_bytes && count <= MAX_LAYERS {
                break;
            }
            if path.file_name().is_some_and(|n| n.to_string_lossy() == keep.hex()) {
                continue;
            }
            if fs::remove_file(path).is_ok() {
                total -= size;
                count -= 1;
                if let Some(name) = path.file_name() {
                    self.forget(&name.to_string_lossy());
                }
            }
        }
    }
}

/// The index of the layer file at `path`, cut with `chunking`; `None` when it
/// cannot be read or is not `layer` (its size; its digest is checked on use).
fn index_file(path: &Path, layer: &Descriptor, chunking: Chunking) -> Option<ChunkIndex> {
    let mut file = fs::File::open(path).ok()?;
    let mut builder = IndexBuilder::new(chunking).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => builder.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    builder.finish(layer).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::index::index_of;
    use crate::chunks::index::tests::noise;

    fn pulled(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Descriptor) {
        let path = dir.join(name);
        fs::write(&path, bytes).expect("write");
        (path, Descriptor::of_bytes("application/wasm", bytes))
    }

    #[test]
    fn layers_come_back_with_their_indexes_most_recent_first() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cache = ChunkCache::at(tmp.path().join("cache"), 1 << 30);
        let (a_path, a) = pulled(tmp.path(), "a", &noise(200_000, 1));
        let (b_path, b) = pulled(tmp.path(), "b", &noise(300_000, 2));
        cache.add_layer(&a_path, &a);
        cache.add_index(&index_of(&noise(200_000, 1), &a, Chunking::default()).expect("index"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.add_layer(&b_path, &b);
        assert!(cache.has_layer(&a) && cache.has_layer(&b));
        // b has no index yet: it is cut from its bytes and stored.
        let sources = cache.sources(&Chunking::default(), &Digest::of(b"other"));
        let digests: Vec<&Digest> = sources.iter().map(|s| &s.index.layer.digest).collect();
        assert_eq!(digests, [&b.digest, &a.digest]);
        assert!(cache.index_path(&b.digest, &Chunking::default()).is_file());
        assert_eq!(cache.sources(&Chunking::default(), &b.digest).len(), 1);
    }

    #[test]
    fn the_cap_removes_the_least_recently_used_layers() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cache = ChunkCache::at(tmp.path().join("cache"), 500_000);
        let mut layers = Vec::new();
        for i in 0..3 {
            let (path, desc) = pulled(tmp.path(), &format!("l{i}"), &noise(200_000, 2 * i + 1));
            if i == 2 {
                // The first is used again: the second is now the oldest.
                cache.touch(&layers[0]);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            cache.add_layer(&path, &desc);
            layers.push(desc.digest.clone());
        }
        let kept: Vec<bool> = layers.iter().map(|d| cache.layer_path(d).is_file()).collect();
        assert_eq!(kept, [true, false, true]);
    }

    #[test]
    fn the_cache_directory_is_private() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cache = ChunkCache::at(tmp.path().join("cache"), 1 << 30);
        let (path, desc) = pulled(tmp.path(), "a", b"bytes");
        cache.add_layer(&path, &desc);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(cache.dir()).expect("dir").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
