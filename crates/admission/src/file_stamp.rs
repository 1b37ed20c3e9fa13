//! What identifies one version of a watched file (the policy, the serving
//! certificate), so that a poll notices when it was replaced.
//!
//! Kubernetes updates a ConfigMap or Secret volume by writing every file into
//! a new hidden directory and swapping the `..data` symlink to it; NixOS and
//! other symlink-farm deployments swap a symlink too. The path then leads to
//! another file: another inode, whatever its modification time and size say.
//! Files from reproducible builds carry fixed timestamps, so a swap to a
//! version of the same size would look unchanged by (mtime, size) alone. So
//! the stamp is the file the path leads to now (device and inode), its
//! status-change time (which no one can set back), its modification time
//! and its size.

use std::path::Path;
use std::time::SystemTime;

/// One version of a file, as seen through its path (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// (device, inode, ctime seconds, ctime nanoseconds) on Unix.
    #[cfg(unix)]
    identity: (u64, u64, i64, i64),
    modified: Option<SystemTime>,
    len: u64,
}

/// The stamp of the file `path` leads to now; `None` when it cannot be read.
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let identity = {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
    };
    Some(FileStamp {
        #[cfg(unix)]
        identity,
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Lays out `dir` as the kubelet does: `..<version>/policy.yaml`, `..data`
    /// pointing at it, and `policy.yaml` pointing through `..data`.
    fn project(dir: &Path, version: &str, text: &str, modified: SystemTime) {
        let data = dir.join(format!("..{version}"));
        std::fs::create_dir_all(&data).expect("mkdir");
        let file = std::fs::File::create(data.join("policy.yaml")).expect("create");
        std::io::Write::write_all(&mut &file, text.as_bytes()).expect("write");
        file.set_modified(modified).expect("set mtime");
        let tmp = dir.join("..data_tmp");
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).expect("symlink");
        std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
        if std::fs::symlink_metadata(dir.join("policy.yaml")).is_err() {
            std::os::unix::fs::symlink("..data/policy.yaml", dir.join("policy.yaml")).expect("symlink");
        }
    }

    #[test]
    fn a_swap_of_the_data_symlink_is_a_change_even_with_the_same_size_and_mtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A reproducible build's timestamp: both versions carry it.
        let epoch = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        project(dir.path(), "v1", "key: keys/first.pub\n", epoch);
        let path = dir.path().join("policy.yaml");
        let before = file_stamp(&path).expect("readable");
        assert_eq!(file_stamp(&path), Some(before), "nothing changed");
        project(dir.path(), "v2", "key: keys/other.pub\n", epoch);
        std::fs::remove_dir_all(dir.path().join("..v1")).expect("the kubelet removes the old version");
        let after = file_stamp(&path).expect("readable");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "key: keys/other.pub\n");
        assert_ne!(after, before, "the path leads to another file");
        assert_eq!(file_stamp(&dir.path().join("gone.yaml")), None);
    }
}
