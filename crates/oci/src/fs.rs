//! The one way wharf writes a file that someone else may read while it is written
//! (a layout's blobs and `index.json`, a pulled binary, a composition, a lock file,
//! the docker config): into a temp file beside it, synced to disk, given its mode,
//! then renamed over it. A crash or an error leaves the old file, or none, never a
//! torn one; a temp file dropped before [`AtomicFile::commit`] is removed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temp files' prefix: `.tmp-wharf-*` beside the file being written.
pub const TEMP_PREFIX: &str = ".tmp-wharf-";

/// Who may read the file once it is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The owner only (`0600`): credentials.
    Private,
    /// Everyone may read it (`0644`): content, as oras and skopeo write it.
    Shared,
}

impl Mode {
    #[cfg(unix)]
    fn bits(self) -> u32 {
        match self {
            Mode::Private => 0o600,
            Mode::Shared => 0o644,
        }
    }
}

/// A file being written: a temp file beside its destination until [`AtomicFile::commit`].
pub struct AtomicFile {
    file: std::fs::File,
    temp: tempfile::TempPath,
    path: PathBuf,
    mode: Mode,
}

impl AtomicFile {
    /// Starts writing `path` (its directory must exist: wharf creates files, not directories).
    pub fn create(path: &Path, mode: Mode) -> Result<AtomicFile> {
        let dir = existing_parent_dir(path)?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| Error::io("cannot create a temp file in", dir, e))?;
        let (file, temp) = temp.into_parts();
        Ok(AtomicFile { file, temp, path: path.to_path_buf(), mode })
    }

    /// The temp file's path (removed unless committed).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The path the file goes to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).map_err(|e| Error::io("cannot write", &*self.temp, e))
    }

    /// Appends every chunk `chunks` yields, written on tokio's blocking pool (a pull
    /// of a large binary must not hold a worker); `chunks` may end with an error
    /// (of any crate's type that wraps this one's), which is returned.
    pub async fn write_stream<S, E>(&mut self, mut chunks: S) -> std::result::Result<(), E>
    where
        S: futures::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
        E: From<Error>,
    {
        use futures::StreamExt as _;
        use tokio::io::AsyncWriteExt as _;
        let std_file = self.file.try_clone().map_err(|e| Error::io("cannot write", &*self.temp, e))?;
        let mut file = tokio::fs::File::from_std(std_file);
        while let Some(chunk) = chunks.next().await {
            file.write_all(&chunk?).await.map_err(|e| Error::io("cannot write", &*self.temp, e))?;
        }
        Ok(file.flush().await.map_err(|e| Error::io("cannot write", &*self.temp, e))?)
    }

    /// Syncs the file, gives it its mode and renames it into place.
    pub fn commit(self) -> Result<PathBuf> {
        let AtomicFile { file, temp, path, mode } = self;
        file.sync_all().map_err(|e| Error::io("cannot sync", &*temp, e))?;
        drop(file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode.bits()))
                .map_err(|e| Error::io("cannot set permissions of", &*temp, e))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        temp.persist(&path).map_err(|e| Error::io("cannot rename into", &path, e.error))?;
        Ok(path)
    }
}

/// Writes `bytes` to `path` atomically (see the [module](self)).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> Result<()> {
    let mut file = AtomicFile::create(path, mode)?;
    file.write_all(bytes)?;
    file.commit().map(|_| ())
}

/// The directory a file at `path` goes in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The directory of an output `path`, which must exist: wharf creates files, not directories.
pub fn existing_parent_dir(path: &Path) -> Result<&Path> {
    let parent = parent_dir(path);
    if parent.is_dir() {
        Ok(parent)
    } else {
        Err(Error::Usage(format!("cannot write {}: the directory {} does not exist", path.display(), parent.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_with_its_mode_or_not_at_all() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", ".", e))?;
        let path = dir.path().join("index.json");
        write_atomic(&path, b"{}", Mode::Shared)?;
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"{}"[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode(&path), Some(0o644));
            let secret = dir.path().join("config.json");
            write_atomic(&secret, b"{}", Mode::Private)?;
            assert_eq!(mode(&secret), Some(0o600));
        }
        let mut abandoned = AtomicFile::create(&path, Mode::Shared)?;
        abandoned.write_all(b"half")?;
        let temp = abandoned.temp_path().to_path_buf();
        drop(abandoned);
        assert!(!temp.exists(), "a dropped temp file is removed");
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"{}"[..]), "the old file stays");
        Ok(())
    }
}
