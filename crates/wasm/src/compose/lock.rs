//! `wharf.lock`: what each package of a `.wac` document resolved to, pinned, so a
//! later composition notices when a source changed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use wharf_oci::fs::{Mode, write_atomic};

use super::package::Dependency;
use crate::error::{Error, PackageProblem, Result};

/// `wharf.lock`: the digest each `--dep` source resolved to, so a later
/// composition notices when a source changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Lock {
    /// Format version (1).
    pub version: u32,
    /// The pinned packages, sorted by name.
    pub packages: Vec<Locked>,
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    /// `ns:pkg` or `ns:pkg@version`, as given to `--dep`.
    pub name: String,
    /// The source as given to `--dep`.
    pub source: String,
    /// Where it resolved to (`location@manifest-digest` for references).
    pub resolved: String,
    /// The digest of the package's Wasm (`sha256:...`).
    pub digest: String,
}

impl Lock {
    /// Reads the lock at `path`; an absent file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Composition {
                reason: format!("{} is not a wharf lock file: {e}", path.display()),
                fix: format!("delete {} to pin the current sources again", path.display()).into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock { version: 1, packages: Vec::new() }),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// Fails when `dep` was pinned from the same source to another digest.
    pub fn verify(&self, dep: &Dependency, path: &Path) -> Result<()> {
        let digest = dep.part.digest();
        match self.packages.iter().find(|l| l.name == dep.name && l.source == dep.input) {
            Some(locked) if locked.digest != digest.as_str() => Err(Error::Composition {
                reason: format!(
                    "the package {} from {} changed: {} pins {} (from {}), it is now {} (from {})",
                    dep.name,
                    dep.input,
                    path.display(),
                    locked.digest,
                    locked.resolved,
                    digest,
                    dep.part.source
                ),
                fix: format!(
                    "if the change is expected, delete the entry for {} from {} (or the file) and compose again; \
                     otherwise give the pinned content, e.g. {}",
                    dep.name,
                    path.display(),
                    locked.resolved
                )
                .into(),
            }),
            _ => Ok(()),
        }
    }

    /// For a composition that must not change the lock: fails, naming them, when some of `deps` are not pinned
    /// in this lock with the same source and digest (composing would change it).
    pub fn require_pinned(&self, deps: &[Dependency], path: &Path) -> Result<()> {
        let unpinned: Vec<String> = deps
            .iter()
            .filter(|d| {
                let digest = d.part.digest();
                !self.packages.iter().any(|l| l.name == d.name && l.source == d.input && l.digest == digest.as_str())
            })
            .map(|d| format!("{} ({})", d.name, d.input))
            .collect();
        if unpinned.is_empty() {
            return Ok(());
        }
        Err(Error::package(PackageProblem::NotPinned { lock: path.to_path_buf(), unpinned }))
    }

    /// This lock with `deps` pinned (entries of other names kept).
    pub fn pinned(&self, deps: &[Dependency]) -> Lock {
        let mut packages: Vec<Locked> =
            self.packages.iter().filter(|l| !deps.iter().any(|d| d.name == l.name)).cloned().collect();
        packages.extend(deps.iter().map(|d| Locked {
            name: d.name.clone(),
            source: d.input.clone(),
            resolved: d.part.source.clone(),
            digest: d.part.digest().as_str().to_string(),
        }));
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Lock { version: 1, packages }
    }

    /// Writes the lock to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Usage(format!("cannot write the lock file {}: {e}", path.display())))?;
        text.push(b'\n');
        Ok(write_atomic(path, &text, Mode::Shared)?)
    }
}
