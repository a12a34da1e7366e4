//! Committing to a result: Merkle leaves over its rows, its sha256 and the
//! write of `result.bin`, all over the same little-endian bytes, then signed.

use super::JobManager;
use crate::store::JobRecord;
use crate::workloads::ResultMatrix;
use std::sync::Arc;
use tensormine_core::api::{ResultCommitment, SignedResult};
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::Digest32;

impl JobManager {
    /// Commits to the result: Merkle leaves over its rows (split over the
    /// worker's threads), the sha256 of all its bytes and the write of
    /// `result.bin` run at the same time, over the same little-endian bytes.
    pub(super) fn commit(
        &self,
        record: &JobRecord,
        matrix: &ResultMatrix,
    ) -> anyhow::Result<(SignedResult, Arc<RowMerkleTree>)> {
        let bytes = le_bytes(&matrix.data);
        let bytes: &[u8] = &bytes;
        let row_bytes = matrix.cols * 4;
        let job_id = &record.request.job_id;
        let (leaves, sha256, written) = std::thread::scope(|scope| {
            let sha256 = scope.spawn(|| Digest32::sha256(bytes));
            let written = scope.spawn(|| self.inner.store.write_result(job_id, bytes));
            let leaves = row_leaves(
                bytes,
                row_bytes,
                self.inner.threads.saturating_sub(1).max(1),
            );
            (
                leaves,
                sha256.join().expect("sha256 thread"),
                written.join().expect("result writer thread"),
            )
        });
        written?;
        let tree = RowMerkleTree::from_leaves(leaves);
        let commitment = ResultCommitment {
            rows: matrix.rows as u64,
            cols: matrix.cols as u64,
            merkle_root: tree.root(),
            sha256,
            byte_len: bytes.len() as u64,
        };
        let signed = self
            .inner
            .key
            .sign_result(job_id, &record.spec_hash, commitment);
        Ok((signed, Arc::new(tree)))
    }
}

/// The values' little-endian bytes (the result's wire format), without a
/// copy on little-endian machines.
fn le_bytes(values: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f32 has no padding and any byte is a valid u8; u8 needs no
        // alignment; the length is exactly that of the values.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        })
    }
    #[cfg(not(target_endian = "little"))]
    {
        std::borrow::Cow::Owned(tensormine_core::encoding::f32_to_le_bytes(values))
    }
}

/// Merkle leaf of row `index` from its little-endian bytes: the same value as
/// [`tensormine_core::merkle::leaf_hash`], hashed in one pass over the bytes.
fn leaf_from_bytes(index: u64, row: &[u8]) -> Digest32 {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(index.to_le_bytes());
    hasher.update(row);
    Digest32(hasher.finalize().into())
}

/// Leaves of all rows, split over `threads` threads.
fn row_leaves(bytes: &[u8], row_bytes: usize, threads: usize) -> Vec<Digest32> {
    let rows = bytes.len() / row_bytes;
    let per_thread = rows.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = bytes
            .chunks(per_thread * row_bytes)
            .enumerate()
            .map(|(part, chunk)| {
                scope.spawn(move || {
                    chunk
                        .chunks_exact(row_bytes)
                        .enumerate()
                        .map(|(i, row)| leaf_from_bytes((part * per_thread + i) as u64, row))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("leaf thread"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensormine_core::merkle::leaf_hash;
    use tensormine_core::prng::{self, STREAM_A};

    #[test]
    fn leaves_from_bytes_match_the_core_specification() {
        for (rows, cols) in [(1, 1), (7, 3), (33, 64), (5, 1000)] {
            let data = prng::matrix(&[9; 32], STREAM_A, rows, cols);
            let bytes = le_bytes(&data);
            assert_eq!(
                &bytes[..],
                &tensormine_core::encoding::f32_to_le_bytes(&data)[..]
            );
            let expected = RowMerkleTree::from_matrix(&data, cols);
            for threads in [1, 2, 3, 8, 64] {
                let leaves = row_leaves(&bytes, cols * 4, threads);
                assert_eq!(leaves.len(), rows);
                for (i, leaf) in leaves.iter().enumerate() {
                    assert_eq!(*leaf, leaf_hash(i as u64, &data[i * cols..(i + 1) * cols]));
                }
                assert_eq!(RowMerkleTree::from_leaves(leaves).root(), expected.root());
            }
        }
    }
}
