//! The policy as it goes into the cluster: the files it names (public keys,
//! trusted roots, of rules' and of their attestations' authorities) read into a Secret, and its paths rewritten to where the
//! Deployment mounts them.
//!
//! The policy and the files are projected into one directory (a projected
//! volume of the ConfigMap and the Secret), the files under `keys/`, so the
//! rewritten paths are relative to the policy (`keys/cosign.pub`), as the
//! policy format reads them. One directory also means one atomic update when
//! both change: a policy never sees the keys of another version.
//!
//! The rewrite works on the policy's YAML tree, so nothing else of it changes
//! (comments are lost: the output is YAML written by serde). Every file is
//! read and parsed here, so a policy that would stop the webhook at start is
//! refused now, naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::error::{Error, Result};
use crate::policy::Policy;

/// The directory, beside the policy, that the named files are projected into.
pub const KEYS_DIR: &str = "keys";

/// The most a ConfigMap or a Secret may hold (the API server's limit, 1 MiB).
pub const OBJECT_LIMIT: u64 = 1 << 20;

/// A policy ready for a ConfigMap, and the files it names, for a Secret.
#[derive(Debug)]
pub struct PolicyBundle {
    /// The policy, its paths rewritten to `keys/NAME`.
    pub policy_yaml: String,
    /// The Secret's data: item name (file name under `keys/`) to contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The policy's `limits:` (what the webhook configuration and the pod must allow for).
    pub limits: crate::policy::Limits,
}

/// What kind of file a policy field names.
#[derive(Clone, Copy)]
enum Named {
    Key,
    TrustedRoot,
}

impl Named {
    fn field(self) -> &'static str {
        match self {
            Named::Key => "key",
            Named::TrustedRoot => "keyless.trustedRoot",
        }
    }
}

/// Reads the policy at `path` and every file it names; see the module docs.
pub fn bundle(path: &Path) -> Result<PolicyBundle> {
    let text = read_bounded(path).map_err(|e| e.into_error(path, "cannot read the policy"))?;
    let text = String::from_utf8(text).map_err(|_| Error::InvalidPolicy {
        origin: path.display().to_string(),
        line: None,
        reason: "it is not UTF-8 text".into(),
    })?;
    let origin = path.display().to_string();
    let limits = Policy::parse(&origin, &text)?.limits;
    let mut tree: Value = serde_norway::from_str(&text).map_err(|e| Error::InvalidPolicy {
        origin: origin.clone(),
        line: None,
        reason: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = Files::default();
    let rules = tree.get_mut("rules").and_then(Value::as_sequence_mut).map(std::mem::take).unwrap_or_default();
    let mut rewritten = Vec::with_capacity(rules.len());
    for (i, mut rule) in rules.into_iter().enumerate() {
        let rule_name = rule.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let at = format!("{origin}: rules[{i}] ({rule_name:?})");
        files.rewrite_authorities(rule.get_mut("authorities"), base, &format!("{at}, authorities"))?;
        let attestations = rule.get_mut("attestations").and_then(Value::as_sequence_mut);
        for (k, attestation) in attestations.into_iter().flatten().enumerate() {
            let at = format!("{at}, attestations[{k}].authorities");
            files.rewrite_authorities(attestation.get_mut("authorities"), base, &at)?;
        }
        rewritten.push(rule);
    }
    if let Some(slot) = tree.get_mut("rules") {
        *slot = Value::Sequence(rewritten);
    }
    let policy_yaml = serde_norway::to_string(&tree)
        .map_err(|e| Error::Usage(format!("cannot write the policy {origin} back as YAML: {e}")))?;
    // What goes into the cluster must still be the same valid policy.
    Policy::parse(&origin, &policy_yaml)?;
    let total: u64 = files.by_name.values().map(|b| b.len() as u64).sum();
    if total > OBJECT_LIMIT {
        return Err(Error::Usage(format!(
            "the files {origin} names add up to {total} bytes, over the {OBJECT_LIMIT}-byte limit of a Kubernetes Secret"
        )));
    }
    Ok(PolicyBundle { policy_yaml, files: files.by_name, limits })
}

/// The files named so far: by Secret item name, and which path got which name.
#[derive(Default)]
struct Files {
    by_name: BTreeMap<String, Vec<u8>>,
    by_path: BTreeMap<PathBuf, String>,
}

impl Files {
    /// Bundles the files a list of authorities names (`key`, `trustedRoot`, `keyless.trustedRoot`),
    /// rewriting their paths; `at` (`…, authorities`) names the list in errors.
    fn rewrite_authorities(&mut self, authorities: Option<&mut Value>, base: &Path, at: &str) -> Result<()> {
        let authorities = authorities.and_then(Value::as_sequence_mut);
        for (j, authority) in authorities.into_iter().flatten().enumerate() {
            let at = |field: &str| format!("{at}[{j}].{field}");
            if let Some(slot) = authority.get_mut("key") {
                self.rewrite(slot, base, Named::Key, &at(Named::Key.field()))?;
            }
            if let Some(slot) = authority.get_mut("keyless").and_then(|k| k.get_mut("trustedRoot")) {
                self.rewrite(slot, base, Named::TrustedRoot, &at(Named::TrustedRoot.field()))?;
            }
            if let Some(slot) = authority.get_mut("trustedRoot") {
                self.rewrite(slot, base, Named::TrustedRoot, &at("trustedRoot"))?;
            }
        }
        Ok(())
    }
}

impl Files {
    /// Reads the file `slot` names (relative to `base`), checks it is what the
    /// field says, and points `slot` at its projected place.
    fn rewrite(&mut self, slot: &mut Value, base: &Path, named: Named, at: &str) -> Result<()> {
        let Some(written) = slot.as_str() else {
            return Err(Error::Usage(format!("{at} is not a path")));
        };
        let path = base.join(written);
        let name = match self.by_path.get(&path) {
            Some(name) => name.clone(),
            None => {
                let bytes = read_bounded(&path).map_err(|e| {
                    let action = match named {
                        Named::Key => "cannot read the key file named by",
                        Named::TrustedRoot => "cannot read the trusted root named by",
                    };
                    e.into_named_error(&path, action, at)
                })?;
                let what = format!("{} ({at})", path.display());
                match named {
                    Named::Key => drop(wharf_sign::PublicKey::from_pem(&what, &bytes)?),
                    Named::TrustedRoot => drop(wharf_sign::sigstore::keyless::TrustedRoot::from_json(&what, &bytes)?),
                }
                let name = self.free_name(&path);
                self.by_name.insert(name.clone(), bytes);
                self.by_path.insert(path, name.clone());
                name
            }
        };
        *slot = Value::String(format!("{KEYS_DIR}/{name}"));
        Ok(())
    }

    /// A Secret item name from the file's name (`[-._a-zA-Z0-9]`), unique
    /// among the names so far (`cosign.pub`, `cosign-2.pub`, …).
    fn free_name(&self, path: &Path) -> String {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let clean: String =
            file.chars().map(|c| if c.is_ascii_alphanumeric() || "-._".contains(c) { c } else { '-' }).collect();
        let clean = match clean.trim_start_matches('.') {
            "" => "file".to_string(),
            rest => rest.to_string(),
        };
        let (stem, ext) = match clean.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
            _ => (clean.clone(), String::new()),
        };
        (1..)
            .map(|n| if n == 1 { clean.clone() } else { format!("{stem}-{n}{ext}") })
            .find(|candidate| !self.by_name.contains_key(candidate))
            .unwrap_or(clean)
    }
}

/// Why a file could not be read.
enum ReadError {
    Io(std::io::Error),
    TooLarge(u64),
}

impl ReadError {
    fn into_error(self, path: &Path, action: &'static str) -> Error {
        match self {
            ReadError::Io(e) => Error::io(action, path, e),
            ReadError::TooLarge(size) => Error::Usage(format!(
                "{} is {size} bytes, over the {OBJECT_LIMIT}-byte limit of a Kubernetes ConfigMap or Secret",
                path.display()
            )),
        }
    }

    fn into_named_error(self, path: &Path, action: &str, at: &str) -> Error {
        let reason = match self {
            ReadError::Io(e) => e.to_string(),
            ReadError::TooLarge(size) => {
                format!("it is {size} bytes, over the {OBJECT_LIMIT}-byte limit of a Kubernetes Secret")
            }
        };
        Error::Usage(format!(
            "{action} {at}: {}: {reason}; put the file there or correct the path (relative paths are relative to the \
             policy file)",
            path.display()
        ))
    }
}

/// The file's bytes, refused past [`OBJECT_LIMIT`] without reading more.
fn read_bounded(path: &Path) -> std::result::Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(OBJECT_LIMIT + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > OBJECT_LIMIT {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64);
        return Err(ReadError::TooLarge(size));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pem() -> String {
        wharf_sign::PrivateKey::generate().expect("key").public_key().to_pem()
    }

    #[test]
    fn named_files_are_bundled_and_the_paths_rewritten_relative_to_the_policy() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("a")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("b")).expect("mkdir");
        let (first, second) = (key_pem(), key_pem());
        std::fs::write(dir.path().join("a/cosign.pub"), &first).expect("write");
        std::fs::write(dir.path().join("b/cosign.pub"), &second).expect("write");
        let policy = dir.path().join("policy.yaml");
        let absolute = dir.path().join("b/cosign.pub");
        std::fs::write(
            &policy,
            format!(
                "# a comment\nrules:\n  - name: one\n    images: ['h/one/**']\n    authorities: [{{key: a/cosign.pub}}]\n\
                 \x20 - name: two\n    images: ['h/two/**']\n    authorities: [{{key: '{}'}}, {{key: a/cosign.pub}}]\n\
                 \x20 - name: open\n    images: ['h/open/**']\n    allow: true\n",
                absolute.display()
            ),
        )
        .expect("write");
        let bundle = bundle(&policy).expect("bundles");
        assert_eq!(bundle.files.keys().collect::<Vec<_>>(), ["cosign-2.pub", "cosign.pub"]);
        assert_eq!(bundle.files["cosign.pub"], first.as_bytes());
        assert_eq!(bundle.files["cosign-2.pub"], second.as_bytes());
        let parsed = Policy::parse("out", &bundle.policy_yaml).expect("the rewritten policy parses");
        let keys: Vec<String> =
            parsed.authorities().iter().filter_map(|a| a.key.as_ref()).map(|k| k.display().to_string()).collect();
        assert_eq!(keys, ["keys/cosign.pub", "keys/cosign-2.pub"]);
        assert_eq!(parsed.rules.len(), 3);
    }

    #[test]
    fn a_policy_naming_a_missing_or_wrong_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, "rules:\n  - name: signed\n    images: ['**']\n    authorities: [{key: gone.pub}]\n")
            .expect("write");
        let msg = bundle(&policy).expect_err("missing key").to_string();
        assert!(msg.contains("gone.pub") && msg.contains("rules[0] (\"signed\"), authorities[0].key"), "{msg}");
        std::fs::write(dir.path().join("gone.pub"), "not a key").expect("write");
        let msg = bundle(&policy).expect_err("not a key").to_string();
        assert!(msg.contains("gone.pub"), "{msg}");
        std::fs::write(&policy, "rules:\n  - name: x\n    imgs: [a]\n").expect("write");
        let msg = bundle(&policy).expect_err("invalid policy").to_string();
        assert!(msg.contains("line 3"), "{msg}");
    }

    /// A key authority's `trustedRoot` (a managed key) goes into the Secret like a keyless one's.
    #[test]
    fn a_key_authoritys_trusted_root_is_bundled_and_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cosign.pub"), key_pem()).expect("write");
        let root =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../sign/src/sigstore/public_good_trusted_root.json"))
                .expect("the built-in root");
        std::fs::write(dir.path().join("trusted_root.json"), &root).expect("write");
        let policy = dir.path().join("policy.yaml");
        std::fs::write(
            &policy,
            "rules:\n  - name: managed\n    images: ['**']\n    authorities: [{key: cosign.pub, trustedRoot: trusted_root.json}]\n",
        )
        .expect("write");
        let bundled = bundle(&policy).expect("bundles");
        assert_eq!(bundled.files.keys().collect::<Vec<_>>(), ["cosign.pub", "trusted_root.json"]);
        let parsed = Policy::parse("out", &bundled.policy_yaml).expect("the rewritten policy parses");
        let authority = parsed.authorities()[0];
        assert_eq!(authority.trusted_root.as_deref(), Some(Path::new("keys/trusted_root.json")));
        std::fs::write(dir.path().join("trusted_root.json"), "{}").expect("write");
        let msg = bundle(&policy).expect_err("not a trusted root").to_string();
        assert!(msg.contains("authorities[0].trustedRoot"), "{msg}");
    }

    #[test]
    fn keys_of_attestation_authorities_are_bundled_and_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (signer, builder) = (key_pem(), key_pem());
        std::fs::write(dir.path().join("cosign.pub"), &signer).expect("write");
        std::fs::write(dir.path().join("builder.pub"), &builder).expect("write");
        let policy = dir.path().join("policy.yaml");
        std::fs::write(
            &policy,
            "rules:\n  - name: released\n    images: ['**']\n    authorities: [{key: cosign.pub}]\n    attestations:\n\
             \x20     - {type: slsaprovenance1, authorities: [{key: builder.pub}], builder: 'https://ci/*'}\n\
             \x20     - {type: cyclonedx}\n",
        )
        .expect("write");
        let bundle = bundle(&policy).expect("bundles");
        assert_eq!(bundle.files.keys().collect::<Vec<_>>(), ["builder.pub", "cosign.pub"]);
        assert_eq!(bundle.files["builder.pub"], builder.as_bytes());
        let parsed = Policy::parse("out", &bundle.policy_yaml).expect("the rewritten policy parses");
        let attestations = &parsed.rules[0].component.attestations;
        assert_eq!(attestations[0].authorities[0].key.as_deref(), Some(Path::new("keys/builder.pub")));
        assert_eq!(attestations[1].authorities[0].key.as_deref(), Some(Path::new("keys/cosign.pub")));

        std::fs::remove_file(dir.path().join("builder.pub")).expect("remove");
        let msg = super::bundle(&policy).expect_err("missing key").to_string();
        assert!(msg.contains("rules[0] (\"released\"), attestations[0].authorities[0].key"), "{msg}");
    }
}
