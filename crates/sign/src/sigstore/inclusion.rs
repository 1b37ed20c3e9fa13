//! Offline checks of a Rekor entry's inclusion proof: the Merkle audit path
//! from the entry's leaf to the root hash (RFC 9162 §2.1.3.2, the hashing of
//! RFC 6962), and the checkpoint that commits to that root: a C2SP signed note
//! (`ORIGIN\nSIZE\nROOT-BASE64\n[extension lines]\n` then signature lines
//! `— NAME BASE64(KEY-HINT || SIGNATURE)`) signed with the log's key.
//!
//! A checkpoint may carry more signature lines than the log's own: witness
//! cosignatures, or other keys of the same origin. Lines whose key hint is not
//! the log's are skipped (their keys are not in the trusted root); the log's
//! line must be there and verify, wherever it is. A Rekor v2 checkpoint's
//! origin, and its signature line's name, must be the log's host (its
//! `baseUrl`), and its key hint the first four bytes of its C2SP key id, which
//! is the trusted root's `logId` for a Rekor v2 log; a Rekor v1 checkpoint's
//! origin is `HOST - TREE_ID`, and its key hint the first four bytes of the
//! log's key id (SHA-256 of its key).
//!
//! The SET (inclusion promise) says the log accepted the entry; the proof says
//! the entry is in the tree the log signed. Neither is checked against other
//! views of the log (no gossip, no consistency proofs): that needs the network.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use super::encoding::base64_bytes;
use sha2::{Digest as _, Sha256};

use super::trust_root::{LogInstance, LogKey};

/// An entry's `inclusionProof`.
#[derive(Debug, Clone)]
pub(crate) struct InclusionProof {
    /// The leaf's index in the tree (the log shard's own index).
    index: u64,
    tree_size: u64,
    root: Vec<u8>,
    /// The audit path, leaf side first.
    hashes: Vec<Vec<u8>>,
    /// The checkpoint's signed note (required to verify; a v0.1 bundle's may lack it).
    checkpoint: Option<String>,
}

/// A parsed checkpoint (signed note).
struct Checkpoint<'a> {
    origin: &'a str,
    size: u64,
    root: Vec<u8>,
    /// The signed text: the note's body up to and including its last newline before the blank line.
    text: &'a str,
    /// Each signature line: the signer's name and base64-decoded `hint || signature`.
    signatures: Vec<(&'a str, Vec<u8>)>,
}

impl InclusionProof {
    /// The `inclusionProof` of a bundle's log entry, if it has one.
    pub(crate) fn of_entry(entry: &Value) -> Result<Option<InclusionProof>, String> {
        let Some(proof) = entry.get("inclusionProof").filter(|p| !p.is_null()) else {
            return Ok(None);
        };
        let number = |k: &str| -> Result<u64, String> {
            let text = match proof.get(k) {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.clone(),
                _ => return Err(format!("the inclusion proof has no {k}")),
            };
            text.parse().map_err(|_| format!("the inclusion proof's {k} {text:?} is not a non-negative integer"))
        };
        let b64 = |v: &Value, what: &str| {
            v.as_str().and_then(base64_bytes).ok_or_else(|| format!("the inclusion proof's {what} is not base64"))
        };
        let hashes = proof.get("hashes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        Ok(Some(InclusionProof {
            index: number("logIndex")?,
            tree_size: number("treeSize")?,
            root: b64(proof.get("rootHash").unwrap_or(&Value::Null), "rootHash")?,
            hashes: hashes.iter().map(|h| b64(h, "hashes")).collect::<Result<_, _>>()?,
            checkpoint: proof
                .pointer("/checkpoint/envelope")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
        }))
    }

    /// Whether the proof carries a checkpoint.
    pub(crate) fn has_checkpoint(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// Checks that `body` (the canonicalized entry) is in the tree whose root
    /// the checkpoint, signed by `log`, commits to. `rekor_v2` selects the
    /// checkpoint rules of Rekor v2 (origin and signer name are the log's host).
    pub(crate) fn verify(&self, body: &[u8], log: &LogInstance, rekor_v2: bool) -> Result<(), String> {
        let computed = self.root_from_path(&leaf_hash(body))?;
        if computed != self.root {
            return Err("the inclusion proof does not lead from this entry to its root hash".into());
        }
        let checkpoint = self
            .checkpoint
            .as_deref()
            .ok_or("the inclusion proof has no checkpoint: nothing the log signed commits to its root hash")?;
        let checkpoint = Checkpoint::parse(checkpoint)?;
        checkpoint.verify(log, rekor_v2)?;
        if checkpoint.size != self.tree_size || checkpoint.root != self.root {
            return Err(format!(
                "the checkpoint commits to another tree (size {}) than the inclusion proof (size {})",
                checkpoint.size, self.tree_size
            ));
        }
        Ok(())
    }

    /// The root hash the audit path gives for `leaf` (RFC 9162 §2.1.3.2).
    fn root_from_path(&self, leaf: &[u8; 32]) -> Result<Vec<u8>, String> {
        if self.index >= self.tree_size {
            return Err(format!(
                "the inclusion proof's index {} is outside its tree of {}",
                self.index, self.tree_size
            ));
        }
        let (mut fnode, mut snode) = (self.index, self.tree_size - 1);
        let mut hash = leaf.to_vec();
        for sibling in &self.hashes {
            if snode == 0 {
                return Err("the inclusion proof has more hashes than its tree has levels".into());
            }
            if fnode & 1 == 1 || fnode == snode {
                hash = node_hash(sibling, &hash);
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            } else {
                hash = node_hash(&hash, sibling);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        if snode != 0 {
            return Err("the inclusion proof has fewer hashes than its tree has levels".into());
        }
        Ok(hash)
    }
}

fn leaf_hash(body: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update([0u8]).chain_update(body).finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> Vec<u8> {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().to_vec()
}

impl<'a> Checkpoint<'a> {
    /// Parses a signed note: origin, decimal size, base64 root hash (32 bytes),
    /// optional extension lines, a blank line, then `— NAME SIGNATURE` lines.
    fn parse(note: &'a str) -> Result<Checkpoint<'a>, String> {
        let split =
            note.find("\n\n").ok_or("the checkpoint is not a signed note (no blank line before its signatures)")?;
        let (text, signature_block) = (&note[..=split], &note[split + 2..]);
        let mut lines = text.lines();
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or("the checkpoint has no origin line")?;
        let size = lines.next().ok_or("the checkpoint has no tree size")?;
        let size: u64 = size.parse().map_err(|_| {
            format!("the checkpoint's second line {size:?} is not a tree size (its origin or size is missing)")
        })?;
        let root = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .filter(|r| r.len() == 32)
            .ok_or("the checkpoint has no root hash (base64 of 32 bytes) on its third line")?;
        let lines = signature_block.lines().filter(|l| !l.is_empty()).count();
        if lines > MAX_CHECKPOINT_SIGNATURES {
            return Err(format!(
                "the checkpoint carries {lines} signature lines, more than the {MAX_CHECKPOINT_SIGNATURES} a signed note may have"
            ));
        }
        let mut signatures = Vec::new();
        for line in signature_block.lines().filter(|l| !l.is_empty()) {
            let (name, signature) = line
                .strip_prefix("\u{2014} ")
                .and_then(|rest| rest.split_once(' '))
                .ok_or_else(|| format!("the checkpoint's signature line {line:?} is not `— NAME SIGNATURE`"))?;
            let signature =
                B64.decode(signature).map_err(|_| format!("the checkpoint signature of {name} is not base64"))?;
            if signature.len() < 5 {
                return Err(format!("the checkpoint signature of {name} is too short"));
            }
            signatures.push((name, signature));
        }
        if signatures.is_empty() {
            return Err("the checkpoint carries no signature".into());
        }
        Ok(Checkpoint { origin, size, root, text, signatures })
    }

    /// Finds the log's signature lines and verifies each once: every line by
    /// the log's key must verify (as Go's note verifier does, lines of one
    /// name and key hint are verified once), and there must be one.
    fn verify(&self, log: &LogInstance, rekor_v2: bool) -> Result<(), String> {
        if rekor_v2 && self.origin != log.host() {
            return Err(format!(
                "the checkpoint's origin {:?} is not the log's ({:?}, from its baseUrl)",
                self.origin,
                log.host()
            ));
        }
        let hint = log.key_id.get(..4).ok_or("the log's key id is too short")?;
        let mut verified: Vec<&str> = Vec::new();
        for (name, signature) in &self.signatures {
            if signature.get(..4) != Some(hint) || (rekor_v2 && *name != self.origin) || verified.contains(name) {
                continue;
            }
            if verify_note_signature(&log.key, self.text.as_bytes(), &signature[4..]).is_err() {
                return Err(format!(
                    "the checkpoint's signature does not verify with the log's key (the line of {name:?} with the log's key hint {})",
                    wharf_oci::digest::hex(hint)
                ));
            }
            verified.push(name);
        }
        if verified.is_empty() {
            return Err(format!(
                "the checkpoint has no signature by the log {} (key hint {})",
                log.base_url,
                wharf_oci::digest::hex(hint)
            ));
        }
        Ok(())
    }
}

/// Verifies a signed note's signature with a log key: DER ECDSA (SHA-256 for
/// P-256, SHA-384 for P-384) or Ed25519.
fn verify_note_signature(key: &LogKey, text: &[u8], signature: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier as _;
    let bad = || "the checkpoint's signature does not verify".to_string();
    match key {
        LogKey::P256(k) => {
            let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
            k.verify(text, &sig).map_err(|_| bad())
        }
        LogKey::P384(k) => {
            let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
            k.verify(text, &sig).map_err(|_| bad())
        }
        LogKey::Ed25519(k) => {
            let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| bad())?;
            k.verify_strict(text, &sig).map_err(|_| bad())
        }
        LogKey::Rsa(_) => Err("an RSA log key cannot sign checkpoints".into()),
        LogKey::Unusable(why) => Err(why.clone()),
    }
}

/// The most signature lines a checkpoint may carry: the limit of Go's signed
/// note parser (`golang.org/x/mod/sumdb/note`, "avoid spending forever parsing
/// a note with many signatures"), which Rekor and sigstore-go use.
const MAX_CHECKPOINT_SIGNATURES: usize = 100;

impl InclusionProof {
    /// The leaf's index the proof is for (`inclusionProof.logIndex`): in a Rekor v2 log, the
    /// entry's own index; in a sharded Rekor v1 log, its index in the shard's tree.
    pub(crate) fn log_index(&self) -> u64 {
        self.index
    }
}
