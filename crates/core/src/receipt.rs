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
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;
    use std::cell::Cell;

    type MemoryTree = ReceiptTree<BTreeMap<(u8, u64), Digest32>>;

    // ---- RFC 6962 reference: the recursive definitions, verbatim ----

    fn ref_split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn ref_mth(leaves: &[Digest32]) -> Digest32 {
        match leaves.len() {
            0 => Digest32::sha256(b""),
            1 => leaves[0],
            n => {
                let k = ref_split(n);
                node_hash(&ref_mth(&leaves[..k]), &ref_mth(&leaves[k..]))
            }
        }
    }

    fn ref_path(m: usize, leaves: &[Digest32]) -> Vec<Digest32> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = ref_split(n);
        let (mut path, sibling) = if m < k {
            (ref_path(m, &leaves[..k]), ref_mth(&leaves[k..]))
        } else {
            (ref_path(m - k, &leaves[k..]), ref_mth(&leaves[..k]))
        };
        path.push(sibling);
        path
    }

    fn synthetic_leaves(n: u64) -> Vec<Digest32> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    fn tree_of(leaves: &[Digest32]) -> MemoryTree {
        let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(tree.append(*leaf), i as u64);
        }
        tree
    }

    fn hex(text: &str) -> Digest32 {
        Digest32::from_hex(text).unwrap()
    }

    // ---- the tree ----

    /// Certificate Transparency's reference leaves and tree heads (the RFC 6962
    /// vectors in certificate-transparency and transparency-dev/merkle).
    const CT_LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn certificate_transparency_vectors() {
        let leaves: Vec<Digest32> = CT_LEAVES.iter().map(|l| leaf_hash(l)).collect();
        let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
        assert_eq!(tree.root(), hex(CT_ROOTS[0]));
        for (i, leaf) in leaves.iter().enumerate() {
            tree.append(*leaf);
            assert_eq!(tree.root(), hex(CT_ROOTS[i + 1]), "size {}", i + 1);
        }
        for (size, root) in CT_ROOTS.iter().enumerate() {
            assert_eq!(tree.root_at(size as u64), hex(root), "older size {size}");
        }
        // The two published audit paths in the tree of 8.
        let vectors: [(u64, [&str; 3]); 2] = [
            (
                0,
                [
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                [
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (index, expected) in vectors {
            let expected: Vec<Digest32> = expected.iter().map(|h| hex(h)).collect();
            assert_eq!(tree.inclusion_proof(index, 8), expected);
            let root = hex(CT_ROOTS[8]);
            assert!(verify_inclusion(
                &leaves[index as usize],
                index,
                8,
                &expected,
                &root
            ));
        }
    }

    #[test]
    fn matches_reference_for_every_size_and_index_up_to_70() {
        let leaves = synthetic_leaves(70);
        let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
        for (i, leaf) in leaves.iter().enumerate() {
            tree.append(*leaf);
            assert_eq!(tree.root(), ref_mth(&leaves[..=i]));
        }
        // After all 70 appends, every older size still gives its own root and paths.
        for size in 1..=70usize {
            let prefix = &leaves[..size];
            let root = tree.root_at(size as u64);
            assert_eq!(root, ref_mth(prefix), "size {size}");
            for (index, leaf) in prefix.iter().enumerate() {
                let path = tree.inclusion_proof(index as u64, size as u64);
                assert_eq!(path, ref_path(index, prefix), "leaf {index} of {size}");
                assert!(verify_inclusion(
                    leaf,
                    index as u64,
                    size as u64,
                    &path,
                    &root
                ));
            }
        }
    }

    #[test]
    fn resumes_from_a_persisted_store_and_size() {
        let leaves = synthetic_leaves(23);
        let first = tree_of(&leaves[..10]);
        let mut resumed = ReceiptTree::new(first.into_store(), 10);
        for leaf in &leaves[10..] {
            resumed.append(*leaf);
        }
        assert_eq!(resumed.size(), 23);
        assert_eq!(resumed.root(), ref_mth(&leaves));
        assert_eq!(resumed.store(), tree_of(&leaves).store());
    }

    #[test]
    fn borrowed_store_works() {
        let leaves = synthetic_leaves(5);
        let mut store = BTreeMap::new();
        let mut tree = ReceiptTree::new(&mut store, 0);
        for leaf in &leaves {
            tree.append(*leaf);
        }
        assert_eq!(tree.root(), ref_mth(&leaves));
        assert_eq!(store.len(), 2 * 5 - 2);
    }

    /// Counts the store's reads and writes.
    #[derive(Default)]
    struct CountingStore {
        nodes: BTreeMap<(u8, u64), Digest32>,
        reads: Cell<u64>,
        writes: u64,
    }

    impl NodeStore for CountingStore {
        fn get(&self, level: u8, index: u64) -> Option<Digest32> {
            self.reads.set(self.reads.get() + 1);
            NodeStore::get(&self.nodes, level, index)
        }

        fn put(&mut self, level: u8, index: u64, hash: Digest32) {
            assert!(
                self.nodes.insert((level, index), hash).is_none(),
                "node ({level}, {index}) written twice"
            );
            self.writes += 1;
        }
    }

    #[test]
    fn appends_write_fewer_than_two_nodes_each() {
        let mut tree = ReceiptTree::new(CountingStore::default(), 0);
        for (n, leaf) in (1..=1000u64).zip(synthetic_leaves(1000)) {
            tree.append(leaf);
            let writes = tree.store().writes;
            assert!(writes < 2 * n, "{writes} writes for {n} leaves");
            assert_eq!(writes, 2 * n - u64::from(n.count_ones()));
        }
    }

    #[test]
    fn roots_and_paths_read_few_nodes() {
        let mut tree = ReceiptTree::new(CountingStore::default(), 0);
        for leaf in synthetic_leaves(300) {
            tree.append(leaf);
        }
        for size in 1..=300u64 {
            let reads = |f: &dyn Fn()| {
                tree.store().reads.set(0);
                f();
                tree.store().reads.get()
            };
            // One stored node per complete subtree of the root's decomposition.
            assert_eq!(
                reads(&|| {
                    let _ = tree.root_at(size);
                }),
                u64::from(size.count_ones())
            );
            let depth = u64::from(64 - (size - 1).leading_zeros());
            for index in 0..size {
                let n = reads(&|| {
                    let _ = tree.inclusion_proof(index, size);
                });
                assert!(
                    n <= depth * depth + 1,
                    "{n} reads for leaf {index} of {size}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "lacks node")]
    fn a_missing_node_is_reported() {
        let tree: MemoryTree = ReceiptTree::new(BTreeMap::new(), 3);
        tree.root();
    }

    #[test]
    #[should_panic(expected = "asked of a tree of 4 leaves")]
    fn proof_beyond_size_panics() {
        tree_of(&synthetic_leaves(4)).inclusion_proof(4, 5);
    }

    #[test]
    fn inclusion_rejects_wrong_inputs() {
        let leaves = synthetic_leaves(40);
        let tree = tree_of(&leaves);
        for size in 1..=40u64 {
            let root = tree.root_at(size);
            for index in 0..size {
                let leaf = leaves[index as usize];
                let path = tree.inclusion_proof(index, size);
                for other in (0..size).filter(|&o| o != index) {
                    assert!(!verify_inclusion(&leaf, other, size, &path, &root));
                }
                assert!(!verify_inclusion(
                    &leaf,
                    index,
                    size,
                    &path,
                    &Digest32([7; 32])
                ));
                assert!(!verify_inclusion(
                    &Digest32([7; 32]),
                    index,
                    size,
                    &path,
                    &root
                ));
                let mut longer = path.clone();
                longer.push(root);
                assert!(!verify_inclusion(&leaf, index, size, &longer, &root));
                if let Some((_, shorter)) = path.split_last() {
                    assert!(!verify_inclusion(&leaf, index, size, shorter, &root));
                }
                for i in 0..path.len() {
                    let mut bad = path.clone();
                    bad[i].0[31] ^= 0x80;
                    assert!(!verify_inclusion(&leaf, index, size, &bad, &root));
                }
            }
            assert!(!verify_inclusion(&leaves[0], size, size, &[], &root));
        }
        assert!(!verify_inclusion(
            &leaves[0],
            0,
            0,
            &[],
            &Digest32::sha256(b"")
        ));
        // A lone leaf is its own root.
        assert!(verify_inclusion(&leaves[0], 0, 1, &[], &leaves[0]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn matches_reference_for_large_trees(
            size in 1u64..3000,
            index_seed in any::<u64>(),
            older_seed in any::<u64>(),
        ) {
            let leaves = synthetic_leaves(size);
            let tree = tree_of(&leaves);
            let index = index_seed % size;
            prop_assert_eq!(tree.root(), ref_mth(&leaves));
            let path = tree.inclusion_proof(index, size);
            prop_assert_eq!(&path, &ref_path(index as usize, &leaves));
            prop_assert!(verify_inclusion(&leaves[index as usize], index, size, &path, &tree.root()));
            // An older tree head, after more appends.
            let older = 1 + older_seed % size;
            let older_index = index % older;
            let prefix = &leaves[..older as usize];
            prop_assert_eq!(tree.root_at(older), ref_mth(prefix));
            prop_assert_eq!(tree.inclusion_proof(older_index, older), ref_path(older_index as usize, prefix));
        }
    }

    // ---- receipts ----

    const ROUTER: [u8; 10] = [0, 0, 0, 0, 0, 0x30, 0, 0x01, 0x01, 0x01];

    fn receipt(index: u64) -> Receipt {
        Receipt {
            version: RECEIPT_VERSION,
            router: HexBytes(ROUTER.to_vec()),
            index,
            job_id: format!("job-{index}"),
            spec_hash: Digest32([0x11; 32]),
            submitter: HexBytes(vec![0xab, 0xcd, 0x02]),
            workload: Workload::Matmul,
            tier: VerificationTier::Redundant { k: 2 },
            outcome: ReceiptOutcome::Verified,
            result: Some(ResultRef {
                rows: 4,
                cols: 8,
                merkle_root: Digest32([0x22; 32]),
                sha256: Digest32([0x33; 32]),
            }),
            miners: vec![
                MinerLine {
                    miner: HexBytes(vec![0x01]),
                    paid_sats: 900,
                    verdict: MinerVerdict::Accepted,
                    slashed_sats: 0,
                },
                MinerLine {
                    miner: HexBytes(vec![0x02]),
                    paid_sats: 0,
                    verdict: MinerVerdict::Rejected {
                        reason: "row 3 mismatch".into(),
                    },
                    slashed_sats: 500,
                },
            ],
            held_sats: 2000,
            fee_sats: 100,
            refunded_sats: 1000,
            submitted_at_ns: 1_700_000_000_000_000_000,
            settled_at_ns: 1_700_000_060_000_000_000 + index,
        }
    }

    #[test]
    fn receipt_json_is_pinned_and_round_trips() {
        let r = receipt(7);
        let json = String::from_utf8(r.to_bytes()).unwrap();
        // Pinned: receipts already in a log must keep hashing to their leaves.
        let expected = format!(
            concat!(
                r#"{{"version":1,"router":"00000000003000010101","index":7,"job_id":"job-7","#,
                r#""spec_hash":"{}","submitter":"abcd02","workload":"matmul","#,
                r#""tier":{{"kind":"redundant","k":2}},"outcome":{{"kind":"verified"}},"#,
                r#""result":{{"rows":4,"cols":8,"merkle_root":"{}","sha256":"{}"}},"#,
                r#""miners":[{{"miner":"01","paid_sats":900,"verdict":{{"kind":"accepted"}},"slashed_sats":0}},"#,
                r#"{{"miner":"02","paid_sats":0,"verdict":{{"kind":"rejected","reason":"row 3 mismatch"}},"slashed_sats":500}}],"#,
                r#""held_sats":2000,"fee_sats":100,"refunded_sats":1000,"#,
                r#""submitted_at_ns":1700000000000000000,"settled_at_ns":1700000060000000007}}"#
            ),
            "11".repeat(32),
            "22".repeat(32),
            "33".repeat(32)
        );
        assert_eq!(json, expected);
        assert_eq!(Receipt::from_bytes(json.as_bytes()).unwrap(), r);
        assert_eq!(r.leaf_hash(), leaf_hash(json.as_bytes()));

        // Every variant round-trips too.
        let variants = [
            (
                VerificationTier::None,
                ReceiptOutcome::Unverified,
                MinerVerdict::TimedOut,
            ),
            (
                VerificationTier::Audit { rate_ppm: 50_000 },
                ReceiptOutcome::Refunded {
                    reason: "all miners timed out".into(),
                },
                MinerVerdict::TimedOut,
            ),
            (
                VerificationTier::Freivalds,
                ReceiptOutcome::Verified,
                MinerVerdict::Accepted,
            ),
        ];
        for (tier, outcome, verdict) in variants {
            let mut r = receipt(1);
            r.tier = tier;
            r.outcome = outcome;
            r.result = None;
            r.miners[0].verdict = verdict;
            assert_eq!(Receipt::from_bytes(&r.to_bytes()).unwrap(), r);
        }
        let mut r = receipt(1);
        r.tier = VerificationTier::None;
        r.outcome = ReceiptOutcome::Unverified;
        let json = String::from_utf8(r.to_bytes()).unwrap();
        assert!(json.contains(r#""tier":{"kind":"none"},"outcome":{"kind":"unverified"}"#));
    }

    #[test]
    fn only_canonical_receipts_parse() {
        let json = String::from_utf8(receipt(3).to_bytes()).unwrap();
        let pretty = serde_json::to_string_pretty(&receipt(3)).unwrap();
        let upper = json.replace(&"11".repeat(32), &"11".repeat(32).to_uppercase());
        let upper = upper.replace("abcd02", "ABCD02");
        let extra = json.replacen('{', r#"{"extra":1,"#, 1);
        let v2 = String::from_utf8(
            Receipt {
                version: 2,
                ..receipt(3)
            }
            .to_bytes(),
        )
        .unwrap();
        for text in [
            pretty.as_str(),
            upper.as_str(),
            extra.as_str(),
            v2.as_str(),
            "",
            "null",
            &json[1..],
        ] {
            assert!(
                matches!(
                    Receipt::from_bytes(text.as_bytes()),
                    Err(ReceiptError::Malformed(_))
                ),
                "{text}"
            );
        }
        // Sanity: the edits above did change the text.
        assert_ne!(upper, json);
    }

    // ---- signed batches and offline verification ----

    struct Log {
        key: SigningKey,
        tree: MemoryTree,
        texts: Vec<String>,
    }

    impl Log {
        fn new(receipts: impl IntoIterator<Item = Receipt>) -> Self {
            let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
            let texts: Vec<String> = receipts
                .into_iter()
                .map(|r| String::from_utf8(r.to_bytes()).unwrap())
                .collect();
            for text in &texts {
                tree.append(leaf_hash(text.as_bytes()));
            }
            Self {
                key: SigningKey::from_bytes(&[9; 32]),
                tree,
                texts,
            }
        }

        fn public_key(&self) -> [u8; 32] {
            self.key.verifying_key().to_bytes()
        }

        fn batch(&self, index: u64, tree_size: u64) -> SignedBatch {
            let root = self.tree.root_at(tree_size);
            let message = batch_message(&ROUTER, index, tree_size, &root);
            SignedBatch {
                router: HexBytes(ROUTER.to_vec()),
                index,
                tree_size,
                root,
                signature: HexBytes(self.key.sign(&message.0).to_bytes().to_vec()),
            }
        }

        fn proof(&self, leaf: u64, tree_size: u64) -> ReceiptProof {
            ReceiptProof {
                receipt: self.texts[leaf as usize].clone(),
                leaf_index: leaf,
                path: self.tree.inclusion_proof(leaf, tree_size),
                batch: self.batch(tree_size / 4, tree_size),
            }
        }
    }

    fn honest_log(n: u64) -> Log {
        Log::new((0..n).map(receipt))
    }

    #[test]
    fn valid_proofs_verify_offline() {
        let log = honest_log(13);
        for size in 1..=13 {
            for leaf in 0..size {
                let proof = log.proof(leaf, size);
                assert_eq!(verify_receipt(&proof, &log.public_key()), Ok(receipt(leaf)));
                // What the CLI saves and reloads.
                let saved = serde_json::to_string(&proof).unwrap();
                let loaded: ReceiptProof = serde_json::from_str(&saved).unwrap();
                assert_eq!(
                    verify_receipt(&loaded, &log.public_key()),
                    Ok(receipt(leaf))
                );
            }
        }
    }

    fn flip_each_byte(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
        (0..bytes.len()).map(move |i| {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            b
        })
    }

    fn assert_rejected(proof: &ReceiptProof, key: &[u8; 32], what: &str) {
        let result = verify_receipt(proof, key);
        assert!(result.is_err(), "{what}: accepted");
    }

    #[test]
    fn any_single_change_is_rejected() {
        let log = honest_log(13);
        let key = log.public_key();
        for (leaf, size) in [(0, 1), (5, 13), (12, 13), (6, 8)] {
            let proof = log.proof(leaf, size);
            verify_receipt(&proof, &key).unwrap();

            for text in flip_each_byte(proof.receipt.as_bytes()) {
                let receipt = String::from_utf8(text).unwrap(); // ASCII stays ASCII
                assert_rejected(
                    &ReceiptProof {
                        receipt,
                        ..proof.clone()
                    },
                    &key,
                    "receipt byte",
                );
            }
            for (entry, digest) in proof.path.iter().enumerate() {
                for bytes in flip_each_byte(&digest.0) {
                    let mut p = proof.clone();
                    p.path[entry] = Digest32(bytes.try_into().unwrap());
                    assert_rejected(&p, &key, "path byte");
                }
            }
            for bytes in flip_each_byte(&proof.batch.root.0) {
                let mut p = proof.clone();
                p.batch.root = Digest32(bytes.try_into().unwrap());
                assert_rejected(&p, &key, "root byte");
            }
            for bytes in flip_each_byte(&proof.batch.signature.0) {
                let mut p = proof.clone();
                p.batch.signature = HexBytes(bytes);
                assert_rejected(&p, &key, "signature byte");
            }
            for bytes in flip_each_byte(&proof.batch.router.0) {
                let mut p = proof.clone();
                p.batch.router = HexBytes(bytes);
                assert_rejected(&p, &key, "router byte");
            }
            for delta in [1i64, -1] {
                let shift = |v: u64| v.wrapping_add_signed(delta);
                let mut p = proof.clone();
                p.leaf_index = shift(p.leaf_index);
                assert_rejected(&p, &key, "leaf index");
                let mut p = proof.clone();
                p.batch.tree_size = shift(p.batch.tree_size);
                assert_rejected(&p, &key, "tree size");
                let mut p = proof.clone();
                p.batch.index = shift(p.batch.index);
                assert_rejected(&p, &key, "batch index");
            }
            let mut p = proof.clone();
            p.path.push(Digest32::default());
            assert_rejected(&p, &key, "longer path");
            let other = SigningKey::from_bytes(&[10; 32]).verifying_key().to_bytes();
            assert_eq!(
                verify_receipt(&proof, &other),
                Err(ReceiptError::BadSignature)
            );
        }
    }

    #[test]
    fn every_error_is_reachable() {
        let log = honest_log(13);
        let key = log.public_key();
        let good = log.proof(4, 13);

        let p = ReceiptProof {
            receipt: "{}".into(),
            ..good.clone()
        };
        assert!(matches!(
            verify_receipt(&p, &key),
            Err(ReceiptError::Malformed(_))
        ));

        // A log whose receipt 2 claims to be receipt 3, honestly signed.
        let shuffled = Log::new([receipt(0), receipt(1), receipt(3)]);
        assert_eq!(
            verify_receipt(&shuffled.proof(2, 3), &shuffled.public_key()),
            Err(ReceiptError::IndexMismatch {
                receipt: 3,
                leaf: 2
            })
        );

        // A receipt naming another router, in this router's honestly signed batch.
        let foreign = Log::new((0..3).map(|i| Receipt {
            router: HexBytes(vec![0x42]),
            ..receipt(i)
        }));
        assert_eq!(
            verify_receipt(&foreign.proof(1, 3), &foreign.public_key()),
            Err(ReceiptError::RouterMismatch)
        );

        // Leaf 12 with an honestly signed batch over the first 12 leaves.
        let p = ReceiptProof {
            batch: log.batch(3, 12),
            ..log.proof(12, 13)
        };
        assert_eq!(
            verify_receipt(&p, &key),
            Err(ReceiptError::LeafBeyondTreeSize {
                leaf_index: 12,
                tree_size: 12
            })
        );

        let mut p = good.clone();
        p.path[1].0[0] ^= 1;
        assert_eq!(
            verify_receipt(&p, &key),
            Err(ReceiptError::BadInclusionPath)
        );

        // A y coordinate with no point on the curve, and the (small-order) identity.
        let off_curve = (0..=255u8)
            .map(|b| {
                let mut k = [0u8; 32];
                k[0] = b;
                k
            })
            .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
            .expect("half of all y values are off the curve");
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for bad_key in [off_curve, identity] {
            assert_eq!(
                verify_receipt(&good, &bad_key),
                Err(ReceiptError::BadPublicKey)
            );
        }

        let mut p = good.clone();
        p.batch.signature.0.pop();
        assert_eq!(verify_receipt(&p, &key), Err(ReceiptError::BadSignature));
        let mut p = good.clone();
        p.batch.index += 1;
        assert_eq!(verify_receipt(&p, &key), Err(ReceiptError::BadSignature));

        assert_eq!(verify_receipt(&good, &key), Ok(receipt(4)));
    }

    #[test]
    fn batch_message_binds_every_field() {
        let root = Digest32([5; 32]);
        let base = batch_message(&ROUTER, 1, 2, &root);
        assert_ne!(base, batch_message(&ROUTER[..9], 1, 2, &root));
        assert_ne!(base, batch_message(&ROUTER, 2, 2, &root));
        assert_ne!(base, batch_message(&ROUTER, 1, 3, &root));
        assert_ne!(base, batch_message(&ROUTER, 1, 2, &Digest32([6; 32])));
        // Swapping the two integers must not collide either.
        assert_ne!(
            batch_message(&ROUTER, 2, 1, &root),
            batch_message(&ROUTER, 1, 2, &root)
        );
        // Pinned: the router canister computes the same digest independently.
        let mut expected = vec![BATCH_TAG.len() as u8];
        expected.extend_from_slice(BATCH_TAG.as_bytes());
        expected.extend_from_slice(&10u64.to_le_bytes());
        expected.extend_from_slice(&ROUTER);
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.extend_from_slice(&root.0);
        assert_eq!(base, Digest32::sha256(&expected));
    }
}
