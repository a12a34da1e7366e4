//! Job receipts: an append-only RFC 6962 log of settled jobs, signed in
//! batches, verifiable offline with one public key.
//!
//! # Specification (v1)
//!
//! * A [`Receipt`] is what the router appends when a job settles. Its
//!   canonical bytes are its compact `serde_json` form (struct fields in
//!   declaration order, no maps, digests and byte strings in lowercase hex),
//!   and only those exact bytes are accepted back ([`Receipt::from_bytes`]).
//! * The log is an RFC 6962 / RFC 9162 Merkle tree over those bytes:
//!   leaf = `sha256(0x00 ‖ receipt bytes)`, node = `sha256(0x01 ‖ left ‖ right)`,
//!   the tree over `n > 1` leaves splits at the largest power of two `k < n`,
//!   and the empty tree's hash is `sha256("")`. Receipt `i` is leaf `i`.
//! * The router periodically signs a batch: the 32-byte
//!   [`batch_message`] `= sha256(u8(len(tag)) ‖ tag ‖ u64_le(len(router)) ‖
//!   router ‖ u64_le(batch_index) ‖ u64_le(tree_size) ‖ root)` with
//!   tag `"tensormine/receipt-batch/v1"` (the convention of
//!   [`crate::signing`]), signed with ed25519 (RFC 8032, pure; the router uses
//!   threshold Schnorr over ed25519, which yields standard signatures).
//! * A [`ReceiptProof`] holds the receipt text, its leaf index, its RFC 9162
//!   audit path and the signed batch; [`verify_receipt`] checks it with
//!   nothing but the router's public key.
//!
//! The tree keeps only the roots of complete subtrees ([`NodeStore`]), so a
//! canister can hold them in stable memory: appending writes two nodes on
//! average, and any root or audit path of any past size is rebuilt from
//! `O(log² n)` stored nodes.

use crate::api::{HexBytes, Workload};
use crate::Digest32;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// The receipt format this module writes and accepts.
pub const RECEIPT_VERSION: u32 = 1;
/// Tag of [`batch_message`].
pub const BATCH_TAG: &str = "tensormine/receipt-batch/v1";

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// How a job's result was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum VerificationTier {
    /// Nothing checked beyond the worker's signature.
    None,
    /// A random fraction of jobs re-checked.
    Audit {
        /// Audited jobs per million.
        rate_ppm: u32,
    },
    /// `k` miners compute the same job and must agree.
    Redundant {
        /// Number of miners.
        k: u8,
    },
    /// Freivalds' check plus sampled rows ([`crate::verify`]).
    Freivalds,
}

/// How the job ended for the submitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReceiptOutcome {
    /// The result passed the tier's check.
    Verified,
    /// Tier `none`: accepted on the worker's signature alone.
    Unverified,
    /// No acceptable result; the submitter's funds went back.
    Refunded {
        /// Why.
        reason: String,
    },
}

/// The accepted result (the worker's commitment, see [`crate::api::ResultCommitment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultRef {
    /// Rows of the result.
    pub rows: u64,
    /// Columns of the result.
    pub cols: u64,
    /// Root of the row Merkle tree ([`crate::merkle`]).
    pub merkle_root: Digest32,
    /// sha256 of the result bytes.
    pub sha256: Digest32,
}

/// What the router decided about one miner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MinerVerdict {
    /// The answer was accepted.
    Accepted,
    /// The answer was rejected.
    Rejected {
        /// Why.
        reason: String,
    },
    /// No answer before the deadline.
    TimedOut,
    /// The miner could not run the job (refused it, failed, became
    /// unreachable, or the job was cancelled): not a wrong answer.
    Failed {
        /// Why.
        reason: String,
    },
    /// Its answer was never judged (the job ended first, e.g. refunded).
    Unchecked,
}

/// One miner's part in a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerLine {
    /// The miner's principal bytes.
    pub miner: HexBytes,
    /// Paid to the miner.
    pub paid_sats: u64,
    /// The verdict on its answer.
    pub verdict: MinerVerdict,
    /// Taken from the miner's stake.
    pub slashed_sats: u64,
}

/// What the router appends to the log when a job settles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Format version, [`RECEIPT_VERSION`].
    pub version: u32,
    /// The router canister's principal bytes.
    pub router: HexBytes,
    /// This receipt's leaf index in the router's log.
    pub index: u64,
    /// The job id.
    pub job_id: String,
    /// [`crate::signing::spec_hash`] of the job's spec.
    pub spec_hash: Digest32,
    /// The submitter's principal bytes.
    pub submitter: HexBytes,
    /// The job's workload.
    pub workload: Workload,
    /// How the result was checked.
    pub tier: VerificationTier,
    /// How the job ended.
    pub outcome: ReceiptOutcome,
    /// The accepted result, if any.
    pub result: Option<ResultRef>,
    /// Every miner that was assigned the job.
    pub miners: Vec<MinerLine>,
    /// Held from the submitter when the job was accepted.
    pub held_sats: u64,
    /// Kept by the router.
    pub fee_sats: u64,
    /// Returned to the submitter.
    pub refunded_sats: u64,
    /// When the job was submitted (IC time, ns since the epoch).
    pub submitted_at_ns: u64,
    /// When it settled.
    pub settled_at_ns: u64,
}

impl Receipt {
    /// Canonical bytes: compact JSON, fields in declaration order.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("receipts always serialise")
    }

    /// Parses canonical bytes. Anything [`Self::to_bytes`] would not have
    /// produced (whitespace, upper-case hex, unknown fields, another version)
    /// is rejected, so a receipt and its leaf hash correspond one to one.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let receipt: Receipt =
            serde_json::from_slice(bytes).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        if receipt.version != RECEIPT_VERSION {
            return Err(ReceiptError::Malformed(format!(
                "unsupported receipt version {}",
                receipt.version
            )));
        }
        if receipt.to_bytes() != bytes {
            return Err(ReceiptError::Malformed(
                "not in canonical form (compact JSON, lowercase hex)".into(),
            ));
        }
        Ok(receipt)
    }

    /// The receipt's leaf hash, [`leaf_hash`] of its canonical bytes.
    pub fn leaf_hash(&self) -> Digest32 {
        leaf_hash(&self.to_bytes())
    }
}

/// RFC 6962 leaf hash: `sha256(0x00 ‖ bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Digest32 {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(bytes);
    Digest32(hasher.finalize().into())
}

/// RFC 6962 interior node hash: `sha256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Digest32, right: &Digest32) -> Digest32 {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left.0);
    hasher.update(right.0);
    Digest32(hasher.finalize().into())
}

/// The largest power of two strictly below `n` (RFC 6962's split), `n ≥ 2`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where a [`ReceiptTree`] keeps its nodes.
///
/// Node `(level, index)` is the root of the complete subtree over leaves
/// `[index·2^level, (index+1)·2^level)`; level 0 holds the leaf hashes.
/// Only complete subtrees are ever stored, so a stored node never changes.
pub trait NodeStore {
    /// The node, if stored.
    fn get(&self, level: u8, index: u64) -> Option<Digest32>;
    /// Stores a node (each node is written once).
    fn put(&mut self, level: u8, index: u64, hash: Digest32);
}

/// In-memory store, for tests and callers without stable memory.
impl NodeStore for BTreeMap<(u8, u64), Digest32> {
    fn get(&self, level: u8, index: u64) -> Option<Digest32> {
        BTreeMap::get(self, &(level, index)).copied()
    }

    fn put(&mut self, level: u8, index: u64, hash: Digest32) {
        self.insert((level, index), hash);
    }
}

/// Lets a tree borrow a store that outlives it (e.g. a canister's stable map).
impl<S: NodeStore + ?Sized> NodeStore for &mut S {
    fn get(&self, level: u8, index: u64) -> Option<Digest32> {
        (**self).get(level, index)
    }

    fn put(&mut self, level: u8, index: u64, hash: Digest32) {
        (**self).put(level, index, hash)
    }
}

/// Append-only RFC 6962 Merkle tree over leaf hashes, nodes in a [`NodeStore`].
#[derive(Debug, Clone)]
pub struct ReceiptTree<S: NodeStore> {
    store: S,
    size: u64,
}

impl<S: NodeStore> ReceiptTree<S> {
    /// A tree of `size` leaves whose nodes are already in `store` (an empty
    /// store with size 0 for a new log). The size is persisted by the caller.
    pub fn new(store: S, size: u64) -> Self {
        Self { store, size }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Appends a leaf hash and returns its index.
    ///
    /// Leaf `i` completes one subtree per trailing one bit of `i`; each is
    /// stored, so `n` appends write `2n − popcount(n)` nodes.
    pub fn append(&mut self, leaf: Digest32) -> u64 {
        let index = self.size;
        let size = index.checked_add(1).expect("tree size overflows u64");
        self.store.put(0, index, leaf);
        let (mut level, mut position, mut hash) = (0u8, index, leaf);
        while position & 1 == 1 {
            hash = node_hash(&self.node(level, position - 1), &hash);
            level += 1;
            position >>= 1;
            self.store.put(level, position, hash);
        }
        self.size = size;
        index
    }

    /// The current root, `root_at(size())`.
    pub fn root(&self) -> Digest32 {
        self.root_at(self.size)
    }

    /// RFC 6962 `MTH` of the first `size` leaves (`sha256("")` for none).
    ///
    /// # Panics
    /// If `size` exceeds the tree's size, or the store lacks a node.
    pub fn root_at(&self, size: u64) -> Digest32 {
        assert!(
            size <= self.size,
            "root of size {size} asked of a tree of {} leaves",
            self.size
        );
        if size == 0 {
            return Digest32::sha256(b"");
        }
        self.range_hash(0, size)
    }

    /// RFC 9162 §2.1.3.1 audit path of leaf `index` in the tree of the first
    /// `size` leaves, siblings from the leaf upwards.
    ///
    /// # Panics
    /// If `index ≥ size`, `size` exceeds the tree's size, or the store lacks a node.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Digest32> {
        assert!(
            index < size && size <= self.size,
            "proof of leaf {index} in size {size} asked of a tree of {} leaves",
            self.size
        );
        // Walk RFC 9162's PATH recursion top-down over the range
        // [start, start + n) holding `index`, recording the other half's hash.
        let (mut start, mut n) = (0, size);
        let mut path = Vec::new();
        while n > 1 {
            let k = split(n);
            if index - start < k {
                path.push(self.range_hash(start + k, n - k));
                n = k;
            } else {
                path.push(self.range_hash(start, k));
                start += k;
                n -= k;
            }
        }
        path.reverse();
        path
    }

    /// `MTH` of leaves `[start, start + len)`, `len ≥ 1`, where `start` is a
    /// multiple of the power of two above `len` (true of every range in
    /// RFC 6962's recursion). Such a range is a run of complete subtrees of
    /// decreasing size, one per set bit of `len`, and its `MTH` nests them to
    /// the right: `node(s1, node(s2, … node(s_{m-1}, s_m)))`.
    fn range_hash(&self, start: u64, len: u64) -> Digest32 {
        let mut subtrees = Vec::new();
        let mut offset = start;
        for level in (0..64u8).rev() {
            if (len >> level) & 1 == 1 {
                subtrees.push(self.node(level, offset >> level));
                offset += 1 << level;
            }
        }
        let mut rest = subtrees.pop().expect("len ≥ 1");
        while let Some(left) = subtrees.pop() {
            rest = node_hash(&left, &rest);
        }
        rest
    }

    fn node(&self, level: u8, index: u64) -> Digest32 {
        self.store.get(level, index).unwrap_or_else(|| {
            panic!("receipt tree store lacks node ({level}, {index}): the store is corrupt")
        })
    }
}

/// RFC 9162 §2.1.3.2: is `leaf` leaf `index` of the tree of `size` leaves
/// whose root is `root`, by the audit path `path`?
pub fn verify_inclusion(
    leaf: &Digest32,
    index: u64,
    size: u64,
    path: &[Digest32],
    root: &Digest32,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n, mut r) = (index, size - 1, *leaf);
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // Skip the levels where this node is the last one, without a sibling.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

fn tagged(tag: &str) -> Sha256 {
    // Same framing as `crate::signing`: u8 tag length, then the tag.
    let mut hasher = Sha256::new();
    hasher.update([tag.len() as u8]);
    hasher.update(tag.as_bytes());
    hasher
}

/// The 32-byte digest the router signs for batch `batch_index`, committing
/// to the first `tree_size` receipts of its log by their `root`.
pub fn batch_message(router: &[u8], batch_index: u64, tree_size: u64, root: &Digest32) -> Digest32 {
    let mut hasher = tagged(BATCH_TAG);
    hasher.update((router.len() as u64).to_le_bytes());
    hasher.update(router);
    hasher.update(batch_index.to_le_bytes());
    hasher.update(tree_size.to_le_bytes());
    hasher.update(root.0);
    Digest32(hasher.finalize().into())
}

/// A tree head signed by the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBatch {
    /// The router's principal bytes.
    pub router: HexBytes,
    /// Sequence number of the batch.
    pub index: u64,
    /// Leaves covered.
    pub tree_size: u64,
    /// `root_at(tree_size)`.
    pub root: Digest32,
    /// ed25519 signature over [`Self::message`].
    pub signature: HexBytes,
}

impl SignedBatch {
    /// The signed digest, [`batch_message`] of the batch's fields.
    pub fn message(&self) -> Digest32 {
        batch_message(&self.router.0, self.index, self.tree_size, &self.root)
    }
}

/// Everything needed to check one receipt offline (the CLI saves it as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptProof {
    /// The receipt's canonical JSON text, exactly as hashed into the log.
    pub receipt: String,
    /// Its leaf index.
    pub leaf_index: u64,
    /// Audit path to `batch.root`.
    pub path: Vec<Digest32>,
    /// The signed tree head covering the leaf.
    pub batch: SignedBatch,
}

/// Why a receipt proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The receipt text is not a canonical v1 receipt.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The receipt claims another position in the log than the proof's leaf.
    #[error("receipt index {receipt} differs from the proof's leaf index {leaf}")]
    IndexMismatch {
        /// `receipt.index`.
        receipt: u64,
        /// `proof.leaf_index`.
        leaf: u64,
    },
    /// The receipt names another router than the batch.
    #[error("receipt and batch name different routers")]
    RouterMismatch,
    /// The leaf is not covered by the batch.
    #[error("leaf {leaf_index} is beyond the batch's tree of {tree_size} leaves")]
    LeafBeyondTreeSize {
        /// `proof.leaf_index`.
        leaf_index: u64,
        /// `batch.tree_size`.
        tree_size: u64,
    },
    /// The audit path does not lead from the receipt to the batch's root.
    #[error("inclusion path does not lead to the batch root")]
    BadInclusionPath,
    /// The router key is not a valid, non-small-order ed25519 point.
    #[error("invalid router public key")]
    BadPublicKey,
    /// The signature is not 64 bytes or does not verify.
    #[error("batch signature does not verify")]
    BadSignature,
}

/// Checks a receipt proof with only the router's ed25519 public key, and
/// returns the receipt. Strict verification: small-order keys and malleable
/// signatures are rejected.
pub fn verify_receipt(
    proof: &ReceiptProof,
    router_public_key: &[u8; 32],
) -> Result<Receipt, ReceiptError> {
    let bytes = proof.receipt.as_bytes();
    let receipt = Receipt::from_bytes(bytes)?;
    let batch = &proof.batch;
    if receipt.index != proof.leaf_index {
        return Err(ReceiptError::IndexMismatch {
            receipt: receipt.index,
            leaf: proof.leaf_index,
        });
    }
    if receipt.router != batch.router {
        return Err(ReceiptError::RouterMismatch);
    }
    if proof.leaf_index >= batch.tree_size {
        return Err(ReceiptError::LeafBeyondTreeSize {
            leaf_index: proof.leaf_index,
            tree_size: batch.tree_size,
        });
    }
    let leaf = leaf_hash(bytes);
    if !verify_inclusion(
        &leaf,
        proof.leaf_index,
        batch.tree_size,
        &proof.path,
        &batch.root,
    ) {
        return Err(ReceiptError::BadInclusionPath);
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(router_public_key)
        .ok()
        .filter(|key| !key.is_weak())
        .ok_or(ReceiptError::BadPublicKey)?;
    let signature: [u8; 64] = batch
        .signature
        .0
        .as_slice()
        .try_into()
        .map_err(|_| ReceiptError::BadSignature)?;
    key.verify_strict(
        &batch.message().0,
        &ed25519_dalek::Signature::from_bytes(&signature),
    )
    .map_err(|_| ReceiptError::BadSignature)?;
    Ok(receipt)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tree_tests;
