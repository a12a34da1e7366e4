//! The Merkle tree over a result matrix's rows.
//!
//! # Specification (v1)
//!
//! * leaf `i` = `sha256(0x00 ‖ u64_le(i) ‖ row_i)`, where `row_i` is the row's
//!   f32 values in little-endian byte order (the result's wire format);
//! * inner node = `sha256(0x01 ‖ left ‖ right)`; on a level with an odd number
//!   of nodes the last node is promoted unchanged to the next level (never
//!   duplicated, so two different row counts cannot share a tree);
//! * root = `sha256(0x02 ‖ u64_le(leaf_count) ‖ top)`, binding the row count.
//!
//! A proof is the list of sibling hashes from the leaf's level upwards,
//! skipping the levels on which the node was promoted without a sibling.

use crate::Digest32;
use sha2::{Digest as _, Sha256};

const LEAF_TAG: u8 = 0x00;
const NODE_TAG: u8 = 0x01;
const ROOT_TAG: u8 = 0x02;

/// Hash of row `index` (leaf of the tree).
pub fn leaf_hash(index: u64, row: &[f32]) -> Digest32 {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_TAG]);
    hasher.update(index.to_le_bytes());
    for value in row {
        hasher.update(value.to_le_bytes());
    }
    Digest32(hasher.finalize().into())
}

/// [`leaf_hash`] of a row given in the wire format (little-endian f32 bytes).
fn leaf_hash_of_bytes(index: u64, row: &[u8]) -> Digest32 {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_TAG]);
    hasher.update(index.to_le_bytes());
    hasher.update(row);
    Digest32(hasher.finalize().into())
}

/// The root of a result in its wire format (row-major little-endian f32,
/// `cols` per row), or `None` unless the bytes are whole, non-empty rows.
/// Whoever downloads a result checks every byte against the committed root
/// with this: the root is the result's identity, what spot checks opened
/// rows of.
pub fn root_of_bytes(bytes: &[u8], cols: usize) -> Option<Digest32> {
    let row_bytes = cols.checked_mul(4)?;
    if row_bytes == 0 || bytes.is_empty() || !bytes.len().is_multiple_of(row_bytes) {
        return None;
    }
    let leaves = bytes
        .chunks_exact(row_bytes)
        .enumerate()
        .map(|(i, row)| leaf_hash_of_bytes(i as u64, row))
        .collect();
    Some(RowMerkleTree::from_leaves(leaves).root())
}

/// Hash of an inner node.
pub fn node_hash(left: &Digest32, right: &Digest32) -> Digest32 {
    let mut hasher = Sha256::new();
    hasher.update([NODE_TAG]);
    hasher.update(left.0);
    hasher.update(right.0);
    Digest32(hasher.finalize().into())
}

fn root_hash(leaf_count: u64, top: &Digest32) -> Digest32 {
    let mut hasher = Sha256::new();
    hasher.update([ROOT_TAG]);
    hasher.update(leaf_count.to_le_bytes());
    hasher.update(top.0);
    Digest32(hasher.finalize().into())
}

/// A complete tree, all levels kept so proofs are cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMerkleTree {
    /// `levels[0]` are the leaves, the last level holds the single top node.
    levels: Vec<Vec<Digest32>>,
}

impl RowMerkleTree {
    /// Builds the tree over a row-major matrix with `cols` columns.
    ///
    /// # Panics
    /// If `cols` is zero, the matrix is empty or its length is not a multiple
    /// of `cols`.
    pub fn from_matrix(data: &[f32], cols: usize) -> Self {
        assert!(
            cols > 0 && !data.is_empty() && data.len().is_multiple_of(cols),
            "matrix must have whole, non-empty rows"
        );
        let leaves = data
            .chunks_exact(cols)
            .enumerate()
            .map(|(i, row)| leaf_hash(i as u64, row))
            .collect();
        Self::from_leaves(leaves)
    }

    /// Builds the tree from precomputed leaf hashes (at least one).
    pub fn from_leaves(leaves: Vec<Digest32>) -> Self {
        assert!(!leaves.is_empty(), "a Merkle tree needs at least one leaf");
        let mut levels = vec![leaves];
        while levels.last().map_or(0, Vec::len) > 1 {
            let below = levels.last().expect("non-empty");
            let above = below
                .chunks(2)
                .map(|pair| {
                    if pair.len() == 2 {
                        node_hash(&pair[0], &pair[1])
                    } else {
                        pair[0]
                    }
                })
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// Number of leaves (rows).
    pub fn leaf_count(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The root, binding the leaf count.
    pub fn root(&self) -> Digest32 {
        root_hash(
            self.leaf_count(),
            &self.levels.last().expect("non-empty")[0],
        )
    }

    /// Sibling path for leaf `index`, or `None` if out of range.
    pub fn proof(&self, index: u64) -> Option<Vec<Digest32>> {
        if index >= self.leaf_count() {
            return None;
        }
        let mut position = index as usize;
        let mut path = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = position ^ 1;
            if sibling < level.len() {
                path.push(level[sibling]);
            }
            position /= 2;
        }
        Some(path)
    }
}

/// Recomputes the root from a leaf hash and its path; `None` if the path has
/// the wrong length for `(index, leaf_count)`.
pub fn root_from_path(
    leaf_count: u64,
    index: u64,
    leaf: Digest32,
    path: &[Digest32],
) -> Option<Digest32> {
    if index >= leaf_count {
        return None;
    }
    let (mut position, mut width, mut node) = (index, leaf_count, leaf);
    let mut siblings = path.iter();
    while width > 1 {
        let has_sibling = (position ^ 1) < width;
        if has_sibling {
            let sibling = siblings.next()?;
            node = if position.is_multiple_of(2) {
                node_hash(&node, sibling)
            } else {
                node_hash(sibling, &node)
            };
        }
        position /= 2;
        width = width.div_ceil(2);
    }
    if siblings.next().is_some() {
        return None;
    }
    Some(root_hash(leaf_count, &node))
}

/// True when `row` is row `index` of the matrix committed to by `root`.
pub fn verify_row(
    root: &Digest32,
    leaf_count: u64,
    index: u64,
    row: &[f32],
    path: &[Digest32],
) -> bool {
    root_from_path(leaf_count, index, leaf_hash(index, row), path).as_ref() == Some(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matrix(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect()
    }

    #[test]
    fn root_of_bytes_is_the_root_of_the_matrix() {
        let m: Vec<f32> = (0..12).map(|x| x as f32 * 0.5).collect();
        let bytes: Vec<u8> = m.iter().flat_map(|v| v.to_le_bytes()).collect();
        for cols in [1, 2, 3, 4, 6, 12] {
            assert_eq!(
                root_of_bytes(&bytes, cols),
                Some(RowMerkleTree::from_matrix(&m, cols).root())
            );
        }
        // Other bytes under the same length: another root.
        let mut other = bytes.clone();
        other[5] ^= 1;
        assert_ne!(root_of_bytes(&other, 3), root_of_bytes(&bytes, 3));
        // Not whole rows, empty, or zero columns.
        assert_eq!(root_of_bytes(&bytes[..47], 3), None);
        assert_eq!(root_of_bytes(&[], 3), None);
        assert_eq!(root_of_bytes(&bytes, 0), None);
        assert_eq!(root_of_bytes(&bytes, 5), None);
    }

    #[test]
    fn single_row_tree() {
        let data = matrix(1, 4);
        let tree = RowMerkleTree::from_matrix(&data, 4);
        assert_eq!(tree.proof(0).unwrap(), Vec::<Digest32>::new());
        assert!(verify_row(&tree.root(), 1, 0, &data, &[]));
    }

    #[test]
    fn row_count_is_bound() {
        // Three rows vs. the same three rows plus a promoted duplicate must differ.
        let three = RowMerkleTree::from_matrix(&matrix(3, 2), 2);
        let leaves = three.levels[0].clone();
        let two_level =
            RowMerkleTree::from_leaves(vec![node_hash(&leaves[0], &leaves[1]), leaves[2]]);
        assert_ne!(three.root(), two_level.root());
    }

    #[test]
    fn tampered_row_index_or_path_fails() {
        let data = matrix(7, 3);
        let tree = RowMerkleTree::from_matrix(&data, 3);
        let path = tree.proof(4).unwrap();
        let row = &data[12..15];
        assert!(verify_row(&tree.root(), 7, 4, row, &path));
        let mut bad_row = row.to_vec();
        bad_row[1] += 1e-6;
        assert!(!verify_row(&tree.root(), 7, 4, &bad_row, &path));
        assert!(!verify_row(&tree.root(), 7, 5, row, &path));
        assert!(!verify_row(&tree.root(), 8, 4, row, &path));
        let mut bad_path = path.clone();
        bad_path[0].0[0] ^= 1;
        assert!(!verify_row(&tree.root(), 7, 4, row, &bad_path));
        let mut long_path = path;
        long_path.push(Digest32::default());
        assert!(!verify_row(&tree.root(), 7, 4, row, &long_path));
    }

    proptest! {
        #[test]
        fn every_proof_verifies(rows in 1usize..70, cols in 1usize..5) {
            let data = matrix(rows, cols);
            let tree = RowMerkleTree::from_matrix(&data, cols);
            for i in 0..rows {
                let path = tree.proof(i as u64).unwrap();
                prop_assert!(verify_row(&tree.root(), rows as u64, i as u64, &data[i * cols..(i + 1) * cols], &path));
            }
            prop_assert!(tree.proof(rows as u64).is_none());
        }
    }
}
