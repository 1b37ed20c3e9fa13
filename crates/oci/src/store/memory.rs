//! An in-memory store used to stage an artifact before a push: small documents
//! live in memory, large blobs stay in their files and are streamed from there.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ByteStream, ReadStore, bytes_stream, file_stream};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::Descriptor;
use crate::reference::Selector;

enum Content {
    Bytes(Bytes),
    File(PathBuf),
}

/// Staged content, keyed by digest.
#[derive(Default)]
pub struct MemoryStore {
    nodes: Mutex<HashMap<Digest, (Descriptor, Content)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an in-memory document.
    pub fn add_bytes(&self, desc: &Descriptor, bytes: Bytes) {
        self.insert(desc, Content::Bytes(bytes));
    }

    /// Adds a blob backed by a file whose digest and size the caller checked.
    pub fn add_file(&self, desc: &Descriptor, path: PathBuf) {
        self.insert(desc, Content::File(path));
    }

    fn insert(&self, desc: &Descriptor, content: Content) {
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.insert(desc.digest.clone(), (desc.clone(), content));
        }
    }

    fn lookup(&self, digest: &Digest) -> Option<(Descriptor, Result<Bytes, PathBuf>)> {
        let nodes = self.nodes.lock().ok()?;
        let (desc, content) = nodes.get(digest)?;
        Some((
            desc.clone(),
            match content {
                Content::Bytes(b) => Ok(b.clone()),
                Content::File(p) => Err(p.clone()),
            },
        ))
    }
}

#[async_trait]
impl ReadStore for MemoryStore {
    async fn resolve(&self, selector: &Selector) -> Result<Descriptor> {
        match selector {
            Selector::Digest(d) => self
                .lookup(d)
                .map(|(desc, _)| desc)
                .ok_or_else(|| Error::NotFound { what: format!("staged content {d}") }),
            _ => Err(Error::Usage("a staged artifact is addressed by digest only".into())),
        }
    }

    async fn fetch(&self, desc: &Descriptor) -> Result<ByteStream> {
        match self.lookup(&desc.digest) {
            Some((_, Ok(bytes))) => Ok(bytes_stream(bytes)),
            Some((_, Err(path))) => file_stream(&path).await,
            None => Err(Error::NotFound { what: format!("staged content {}", desc.digest) }),
        }
    }

    async fn exists(&self, desc: &Descriptor) -> Result<bool> {
        Ok(self.lookup(&desc.digest).is_some())
    }

    /// Documents were hashed when added; files were scanned (hashed) by the
    /// caller of [`MemoryStore::add_file`].
    fn vouches_for_content(&self) -> bool {
        true
    }

    /// Staged content has no tags, so no fallback index: nothing refers to it yet.
    async fn referrers(&self, _subject: &Digest) -> Result<Vec<Descriptor>> {
        Ok(Vec::new())
    }
}
