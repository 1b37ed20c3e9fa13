//! A per-user cache of file scans: what [`crate::inspect::inspect_reader`] found
//! for a file (validation passed, kind, world, metadata, SHA-256, size), keyed
//! by the file's identity (device, inode, size, modification and change times
//! to the nanosecond). A re-push of an unchanged file then knows its digest
//! without reading it, which is what lets it cost one request, as it does
//! for clients that keep digests beside the content (skopeo's blob-info cache,
//! an OCI layout, docker's content store).
//!
//! Safety: the change time (`ctime`) cannot be set by users; any write,
//! truncate, chmod or rename moves it. An entry is stored only when the file
//! was last changed at least [`SETTLED`] before the scan started and did not
//! change during it, so a later change, even within the file system's
//! timestamp granularity, always gives a different identity (the racy-file rule
//! git's index uses). Every store still checks the bytes it sends against the
//! digest, so even a wrong entry could not push content under a wrong digest.
//!
//! The cache lives in `$WHARF_CACHE_DIR`, else `$XDG_CACHE_HOME/wharf/scans`,
//! else `~/.cache/wharf/scans`; `WHARF_NO_CACHE=1` turns it off. Any failure to
//! read or write it only means a scan.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::inspect::{Scanned, WasmInfo};
use wharf_oci::digest::Digest;

/// How long before a scan a file must have last changed for its scan to be cached.
pub const SETTLED: Duration = Duration::from_secs(1);

/// Entries kept; beyond this the oldest are removed when a new one is stored.
const MAX_ENTRIES: usize = 512;

/// Bump when the entry format or the scan's output changes meaning.
const FORMAT: u32 = 1;

/// A directory of scan entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCache {
    dir: PathBuf,
}

/// What identifies one version of a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    identity: FileIdentity,
    digest: String,
    info: WasmInfo,
}

impl ScanCache {
    /// A cache in `dir` (created when the first entry is stored).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        ScanCache { dir: dir.into() }
    }

    /// The user's cache, from the environment (see the module docs); `None`
    /// when turned off or when no directory can be named.
    pub fn from_env() -> Option<Self> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if var("WHARF_NO_CACHE").is_some_and(|v| v != "0") {
            return None;
        }
        if let Some(dir) = var("WHARF_CACHE_DIR") {
            return Some(Self::at(dir));
        }
        let base = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".cache")))?;
        Some(Self::at(base.join("wharf").join("scans")))
    }

    /// The cached scan of the file whose metadata is `meta`, if any.
    pub fn lookup(&self, meta: &fs::Metadata) -> Option<Scanned> {
        let identity = FileIdentity::of(meta)?;
        let bytes = fs::read(self.entry_path(&identity)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        if entry.format != FORMAT || entry.identity != identity {
            return None;
        }
        let digest = entry.digest.parse::<Digest>().ok()?;
        Some(Scanned { info: entry.info, digest, size: identity.size })
    }

    /// Stores `scanned` for the file that had metadata `before` when a scan
    /// started at `started` and `after` when it ended, if the file had settled
    /// (see the module docs). Errors are ignored: the cache is an optimisation.
    pub fn store(&self, before: &fs::Metadata, after: &fs::Metadata, started: SystemTime, scanned: &Scanned) {
        let (Some(identity), Some(now)) = (FileIdentity::of(before), FileIdentity::of(after)) else {
            return;
        };
        if identity != now || identity.size != scanned.size || !identity.settled_before(started) {
            return;
        }
        let entry = Entry { format: FORMAT, identity, digest: scanned.digest.to_string(), info: scanned.info.clone() };
        if let Err(e) = self.write_entry(&identity, &entry) {
            tracing::debug!(error = %e, dir = %self.dir.display(), "scan cache not written");
        }
    }

    fn entry_path(&self, identity: &FileIdentity) -> PathBuf {
        let key =
            format!("{}:{}:{}:{}:{}", identity.dev, identity.ino, identity.size, identity.mtime_ns, identity.ctime_ns);
        self.dir.join(Digest::of(key.as_bytes()).hex())
    }

    fn write_entry(&self, identity: &FileIdentity, entry: &Entry) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        self.prune();
        let path = self.entry_path(identity);
        let json = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        let tmp = self.dir.join(format!(".tmp-{}-{}", std::process::id(), Digest::of(&json).hex()));
        fs::write(&tmp, &json)?;
        fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// Removes the oldest entries once there are [`MAX_ENTRIES`].
    fn prune(&self) {
        let Ok(dir) = fs::read_dir(&self.dir) else { return };
        let mut entries: Vec<(SystemTime, PathBuf)> =
            dir.flatten().filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path()))).collect();
        if entries.len() < MAX_ENTRIES {
            return;
        }
        entries.sort();
        for (_, path) in entries.iter().take(entries.len() + 1 - MAX_ENTRIES / 2) {
            let _ = fs::remove_file(path);
        }
    }
}

impl FileIdentity {
    /// The identity of a regular file (`None` elsewhere, and on platforms
    /// without inode numbers and change times).
    #[cfg(unix)]
    pub fn of(meta: &fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        meta.is_file().then(|| FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// The identity of a regular file (`None` elsewhere, and on platforms
    /// without inode numbers and change times).
    #[cfg(not(unix))]
    pub fn of(_meta: &fs::Metadata) -> Option<Self> {
        None
    }

    /// True when both times lie at least [`SETTLED`] before `started`.
    fn settled_before(&self, started: SystemTime) -> bool {
        let Ok(since_epoch) = started.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let limit = i128::try_from(since_epoch.saturating_sub(SETTLED).as_nanos()).unwrap_or(i128::MAX);
        self.mtime_ns < limit && self.ctime_ns < limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::inspect_reader;

    /// A cache in a temporary directory and a scanned file beside it.
    struct Fixture {
        _dir: tempfile::TempDir,
        cache: ScanCache,
        file: PathBuf,
        meta: fs::Metadata,
        scanned: Scanned,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = ScanCache::at(dir.path().join("cache"));
        let file = dir.path().join("a.wasm");
        fs::write(&file, wharf_test_module()).expect("write");
        let meta = fs::metadata(&file).expect("meta");
        let scanned = inspect_reader("t", fs::File::open(&file).expect("open"), meta.len()).expect("scan");
        Fixture { _dir: dir, cache, file, meta, scanned }
    }

    /// Rewrites the fixture's file with the same bytes (a new change time) and returns its metadata.
    fn rewrite(f: &Fixture) -> fs::Metadata {
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&f.file, wharf_test_module()).expect("rewrite");
        fs::metadata(&f.file).expect("meta")
    }

    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(5)
    }

    #[test]
    fn a_settled_file_is_found_again_and_a_changed_one_is_not() {
        let f = fixture();
        assert!(f.cache.lookup(&f.meta).is_none());
        f.cache.store(&f.meta, &f.meta, later(), &f.scanned);
        let hit = f.cache.lookup(&fs::metadata(&f.file).expect("meta")).expect("cached");
        assert_eq!(hit, f.scanned);
        // Rewriting the same bytes changes ctime: no hit.
        assert!(f.cache.lookup(&rewrite(&f)).is_none());
    }

    #[test]
    fn a_file_changed_just_before_or_during_the_scan_is_not_stored() {
        let f = fixture();
        // Scan started now: the file changed less than SETTLED before.
        f.cache.store(&f.meta, &f.meta, SystemTime::now(), &f.scanned);
        assert!(f.cache.lookup(&f.meta).is_none());
        // Changed during the scan: metadata before and after differ.
        let after = rewrite(&f);
        f.cache.store(&f.meta, &after, later(), &f.scanned);
        assert!(f.cache.lookup(&f.meta).is_none() && f.cache.lookup(&after).is_none());
    }

    #[test]
    fn damaged_entries_are_misses() {
        let f = fixture();
        f.cache.store(&f.meta, &f.meta, later(), &f.scanned);
        let identity = FileIdentity::of(&f.meta).expect("identity");
        fs::write(f.cache.entry_path(&identity), b"{not json").expect("damage");
        assert!(f.cache.lookup(&f.meta).is_none());
    }

    /// The smallest valid core module.
    fn wharf_test_module() -> &'static [u8] {
        b"\0asm\x01\0\0\0"
    }
}
