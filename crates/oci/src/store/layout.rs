//! A local OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`), as
//! the OCI image-layout spec defines it, so skopeo and oras read what wharf
//! writes and wharf reads what they write.
//!
//! Writes are atomic: blobs are written to a temp file beside their final
//! path, verified, synced and renamed; `index.json` is rewritten the same way
//! under an advisory lock, so concurrent wharf processes never lose entries
//! and a killed process leaves a valid layout.

use std::fs;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use super::{ByteStream, ReadStore, Store, file_stream, write_file_verified};
use crate::digest::{Digest, verify_bytes};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Index, declared_media_type};
use crate::reference::Selector;

/// Layout files are content, for everyone to read.
fn write_atomic_shared(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs::write_atomic(path, bytes, crate::fs::Mode::Shared)
}

/// The annotation that names an entry of `index.json`.
pub use crate::annotations::REF_NAME;
const LOCK_FILE: &str = ".wharf-index.lock";

/// A local OCI image layout directory.
pub struct LayoutStore {
    root: PathBuf,
}

impl LayoutStore {
    /// Opens an existing layout for reading.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if !root.join("oci-layout").is_file() || !root.join("index.json").is_file() {
            return Err(Error::NotFound {
                what: format!("OCI layout at {} (a layout has oci-layout and index.json files)", root.display()),
            });
        }
        Ok(LayoutStore { root })
    }

    /// Opens a layout for writing, creating it if it does not exist.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| Error::io("cannot create layout directory", &blobs, e))?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            write_atomic_shared(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            let _lock = IndexLock::acquire(&root)?;
            if !index.exists() {
                write_atomic_shared(&index, &Index::image_index(Vec::new()).to_bytes())?;
            }
        }
        Ok(LayoutStore { root })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    fn read_index(&self) -> Result<Value> {
        read_index(&self.root)
    }

    /// The entries of `index.json`.
    pub fn entries(&self) -> Result<Vec<Descriptor>> {
        let index = self.read_index()?;
        let manifests = index.get("manifests").cloned().unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(manifests)
            .map_err(|e| Error::malformed(format!("{}/index.json", self.root.display()), e))
    }

    /// Writes `bytes` as a blob (verified against `desc`), atomically.
    fn put_small_blob(&self, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
        verify_bytes(bytes, &desc.digest, desc.size)?;
        let path = self.blob_path(&desc.digest);
        if blob_is_present(&path, desc.size) {
            return Ok(());
        }
        write_atomic_shared(&path, bytes)
    }
}

fn read_index(root: &Path) -> Result<Value> {
    let path = root.join("index.json");
    let text = fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    let value: Value = serde_json::from_slice(&text).map_err(|e| Error::malformed(path.display().to_string(), e))?;
    if !value.get("manifests").is_none_or(Value::is_array) {
        return Err(Error::malformed(path.display().to_string(), "`manifests` is not a list"));
    }
    Ok(value)
}

fn blob_is_present(path: &Path, size: u64) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == size)
}

/// An exclusive advisory lock on the layout's index, released on drop.
struct IndexLock(fs::File);

impl IndexLock {
    fn acquire(root: &Path) -> Result<Self> {
        let path = root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open lock file", &path, e))?;
        file.lock().map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(IndexLock(file))
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn entry_name(entry: &Value) -> Option<&str> {
    entry.get("annotations")?.get(REF_NAME)?.as_str()
}

fn entry_digest(entry: &Value) -> Option<&str> {
    entry.get("digest")?.as_str()
}

/// Points `tags` at `desc` in `index.json` (replacing entries with those names),
/// or adds an unnamed entry when there are no tags and the digest is not listed yet.
fn update_index(root: &Path, desc: &Descriptor, tags: &[String]) -> Result<()> {
    let _lock = IndexLock::acquire(root)?;
    let mut index = read_index(root)?;
    let mut entries = match index.get_mut("manifests").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut plain = desc.clone();
    plain.annotations.remove(REF_NAME);
    if tags.is_empty() {
        if !entries.iter().any(|e| entry_digest(e) == Some(desc.digest.as_str())) {
            entries.push(descriptor_value(&plain)?);
        }
    } else {
        entries.retain(|e| !entry_name(e).is_some_and(|n| tags.iter().any(|t| t == n)));
        for tag in tags {
            let mut named = plain.clone();
            named.annotations.insert(REF_NAME.into(), tag.clone());
            entries.push(descriptor_value(&named)?);
        }
    }
    match &mut index {
        Value::Object(map) => {
            map.insert("manifests".into(), Value::Array(entries));
        }
        _ => return Err(Error::malformed("index.json", "it is not a JSON object")),
    }
    let bytes = serde_json::to_vec(&index).map_err(|e| Error::malformed("index.json", e))?;
    write_atomic_shared(&root.join("index.json"), &bytes)
}

fn descriptor_value(desc: &Descriptor) -> Result<Value> {
    serde_json::to_value(desc).map_err(|e| Error::malformed("descriptor", e))
}

#[async_trait]
impl ReadStore for LayoutStore {
    async fn resolve(&self, selector: &Selector) -> Result<Descriptor> {
        let entries = self.entries()?;
        let found = match selector {
            Selector::Tag(tag) => entries.into_iter().find(|e| e.annotations.get(REF_NAME) == Some(tag)),
            Selector::Digest(d) => match entries.into_iter().find(|e| &e.digest == d) {
                Some(e) => Some(e),
                None => self.describe_blob(d).await?,
            },
            Selector::Default => match entries.len() {
                1 => entries.into_iter().next(),
                0 => None,
                n => {
                    return Err(Error::Usage(format!(
                        "the layout at {} holds {n} manifests; name one as oci:PATH:TAG or oci:PATH@sha256:...",
                        self.root.display()
                    )));
                }
            },
        };
        found.ok_or_else(|| Error::NotFound {
            what: match selector {
                Selector::Tag(t) => format!("tag {t:?} in the OCI layout at {}", self.root.display()),
                Selector::Digest(d) => format!("manifest {d} in the OCI layout at {}", self.root.display()),
                Selector::Default => format!("any manifest in the OCI layout at {}", self.root.display()),
            },
        })
    }

    async fn fetch(&self, desc: &Descriptor) -> Result<ByteStream> {
        let path = self.blob_path(&desc.digest);
        if !path.is_file() {
            return Err(Error::NotFound {
                what: format!("blob {} in the OCI layout at {}", desc.digest, self.root.display()),
            });
        }
        file_stream(&path).await
    }

    async fn exists(&self, desc: &Descriptor) -> Result<bool> {
        Ok(blob_is_present(&self.blob_path(&desc.digest), desc.size))
    }
}

impl LayoutStore {
    /// Describes a manifest stored as a blob but not listed in `index.json`.
    async fn describe_blob(&self, digest: &Digest) -> Result<Option<Descriptor>> {
        let path = self.blob_path(digest);
        let Ok(meta) = fs::metadata(&path) else { return Ok(None) };
        if meta.len() > crate::manifest::MAX_DOCUMENT_SIZE {
            return Ok(None);
        }
        let bytes = fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        verify_bytes(&bytes, digest, meta.len())?;
        let media_type = declared_media_type(&bytes)?;
        let mut desc = Descriptor::of_bytes(&media_type, &bytes);
        desc.digest = digest.clone();
        Ok(Some(desc))
    }
}

#[async_trait]
impl Store for LayoutStore {
    async fn push(&self, desc: &Descriptor, content: ByteStream) -> Result<()> {
        let path = self.blob_path(&desc.digest);
        if blob_is_present(&path, desc.size) {
            return Ok(());
        }
        write_file_verified(content, desc, &path, |_| Ok(())).await
    }

    async fn push_manifest(&self, desc: &Descriptor, bytes: Bytes, tags: &[String]) -> Result<()> {
        self.put_small_blob(desc, &bytes)?;
        let root = self.root.clone();
        let desc = desc.clone();
        let tags = tags.to_vec();
        tokio::task::spawn_blocking(move || update_index(&root, &desc, &tags))
            .await
            .map_err(|e| Error::Usage(format!("internal error: index update task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample blob media type (wharf-wasm's layer, without depending on it).
    mod media {
        pub use crate::media::*;
        pub const WASM_LAYER: &str = "application/wasm";
    }

    #[tokio::test]
    async fn tags_replace_and_digests_do_not_duplicate() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", ".", e))?;
        let store = LayoutStore::create(dir.path())?;
        let a = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#);
        let da = Descriptor::of_bytes(media::OCI_MANIFEST, &a);
        store.push_manifest(&da, a.clone(), &["v1".into()]).await?;
        store.push_manifest(&da, a.clone(), &["v1".into(), "latest".into()]).await?;
        store.push_manifest(&da, a.clone(), &[]).await?;
        let entries = store.entries()?;
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(store.resolve(&Selector::Tag("latest".into())).await?.digest, da.digest);
        let reopened = LayoutStore::open(dir.path())?;
        assert_eq!(reopened.resolve(&Selector::Digest(da.digest.clone())).await?.size, da.size);
        assert!(matches!(reopened.resolve(&Selector::Tag("nope".into())).await, Err(Error::NotFound { .. })));
        Ok(())
    }

    /// A layout is content for everyone to read, as oras and skopeo write it: its
    /// index, marker and blobs are 0644, whichever way they were written.
    #[cfg(unix)]
    #[tokio::test]
    async fn every_file_of_a_layout_is_readable_by_everyone() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", ".", e))?;
        let store = LayoutStore::create(dir.path())?;
        let bytes = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#);
        let desc = Descriptor::of_bytes(media::OCI_MANIFEST, &bytes);
        store.push_manifest(&desc, bytes, &["t".into()]).await?;
        let blob = dir.path().join("blobs/sha256").join(desc.digest.hex());
        for file in [dir.path().join("index.json"), dir.path().join("oci-layout"), blob] {
            let mode = std::fs::metadata(&file).map_err(|e| Error::io("stat", &file, e))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{}", file.display());
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_blob_that_does_not_match_its_digest_is_not_kept() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", ".", e))?;
        let store = LayoutStore::create(dir.path())?;
        let desc = Descriptor::of_bytes(media::WASM_LAYER, b"the real bytes");
        let lie = super::super::bytes_stream(Bytes::from_static(b"other bytes!!!"));
        assert!(matches!(store.push(&desc, lie).await, Err(Error::DigestMismatch { .. })));
        assert!(!store.exists(&desc).await?);
        let leftovers = fs::read_dir(dir.path().join("blobs/sha256")).map(|d| d.count()).unwrap_or(99);
        assert_eq!(leftovers, 0);
        Ok(())
    }
}
