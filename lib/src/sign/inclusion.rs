//! Offline checks of a Rekor entry's inclusion proof: the Merkle audit path
//! from the entry's leaf to the root hash (RFC 9162 §2.1.3.2, the hashing of
//! RFC 6962), and the checkpoint that commits to that root: a signed note
//! (`ORIGIN\nSIZE\nROOT-BASE64\n` then `— NAME BASE64(KEY-HINT || SIGNATURE)`)
//! signed with the log's key.
//!
//! The SET (inclusion promise) says the log accepted the entry; the proof says
//! the entry is in the tree the log signed. Neither is checked against other
//! views of the log (no gossip, no consistency proofs): that needs the network.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// An entry's `inclusionProof`.
pub(super) struct InclusionProof {
    /// The leaf's index in the tree (the log shard's own index).
    index: u64,
    tree_size: u64,
    root: Vec<u8>,
    /// The audit path, leaf side first.
    hashes: Vec<Vec<u8>>,
    /// The checkpoint's signed note.
    checkpoint: String,
}

impl InclusionProof {
    /// The `inclusionProof` of a bundle's log entry, if it has one.
    pub(super) fn of_entry(entry: &Value) -> Result<Option<InclusionProof>, String> {
        let Some(proof) = entry.get("inclusionProof").filter(|p| !p.is_null()) else {
            return Ok(None);
        };
        let number = |k: &str| super::keyless::json_int(proof, k, "the inclusion proof");
        let b64 = |v: &Value, what: &str| {
            v.as_str()
                .and_then(|s| B64.decode(s).ok())
                .ok_or_else(|| format!("the inclusion proof's {what} is not base64"))
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
                .ok_or("the inclusion proof has no checkpoint")?
                .to_string(),
        }))
    }

    /// Checks that `body` (the canonicalized entry) is in the tree whose root
    /// the checkpoint, signed with `log_key` (key id `key_id`), commits to.
    pub(super) fn verify(&self, body: &[u8], log_key: &p256::ecdsa::VerifyingKey, key_id: &[u8]) -> Result<(), String> {
        let computed = self.root_from_path(&leaf_hash(body))?;
        if computed != self.root {
            return Err("the inclusion proof does not lead from this entry to its root hash".into());
        }
        let (size, root) = verify_checkpoint(&self.checkpoint, log_key, key_id)?;
        if size != self.tree_size || root != self.root {
            return Err(format!(
                "the checkpoint commits to another tree (size {size}) than the inclusion proof (size {})",
                self.tree_size
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

/// Verifies a checkpoint's signed note with `log_key` (its signature line
/// whose key hint is the first 4 bytes of `key_id`); returns its tree size and
/// root hash.
fn verify_checkpoint(note: &str, log_key: &p256::ecdsa::VerifyingKey, key_id: &[u8]) -> Result<(u64, Vec<u8>), String> {
    use p256::ecdsa::signature::Verifier as _;
    let (text, signatures) = note.split_once("\n\n").ok_or("the checkpoint is not a signed note")?;
    let text = format!("{text}\n");
    let mut lines = text.lines();
    let (_origin, size, root) = (lines.next(), lines.next(), lines.next());
    let size: u64 = size.and_then(|s| s.parse().ok()).ok_or("the checkpoint has no tree size")?;
    let root = root.and_then(|r| B64.decode(r).ok()).ok_or("the checkpoint has no root hash")?;
    let hint = key_id.get(..4).ok_or("the log's key id is too short")?;
    let signed = signatures
        .lines()
        .filter_map(|line| line.strip_prefix("\u{2014} "))
        .filter_map(|line| line.rsplit_once(' ').and_then(|(_, sig)| B64.decode(sig).ok()))
        .find(|sig| sig.get(..4) == Some(hint))
        .ok_or("the checkpoint has no signature by the log's key")?;
    let signature =
        p256::ecdsa::Signature::from_der(&signed[4..]).map_err(|_| "the checkpoint's signature is not DER ECDSA")?;
    log_key
        .verify(text.as_bytes(), &signature)
        .map_err(|_| "the checkpoint's signature does not verify with the log's key".to_string())?;
    Ok((size, root))
}
