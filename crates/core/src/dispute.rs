//! Optimistic verification of a matmul result. The developer, who holds A
//! and B, checks the whole downloaded C itself ([`find_wrong_row`]:
//! Freivalds with random ±1 vectors, `O(vectors · (mk + kn + mn))`); when a
//! row is wrong it files that row with its Merkle path, and the router
//! recomputes just that row ([`wrong_column`], `O(kn)`) before anyone is
//! paid.
//!
//! What the client check proves: with a ±1 vector, a row of C whose errors
//! sum to `δ` changes `(C·r)_i − (A·(B·r))_i` by exactly `δ` for a single
//! wrong element, and for several wrong elements in a row the signed sum is
//! 0 with probability ≤ 1/2 per vector; `vectors` independent vectors miss a
//! wrong row with probability ≤ 2^-vectors (2⁻⁴⁰ with [`CLIENT_VECTORS`]).
//! "Wrong" means off by more than the check's slack, `CLIENT_RTOL · (|A|·(|B|·|r|))_i`:
//! a statistical bound (honest f32 rounding is far below it) rather than a
//! worst-case one, because a false alarm costs only a rejected fraud proof —
//! the router judges each row with the spot checks' sound element
//! tolerance, so no honest miner is slashed on the client's word.

use crate::api::MatmulSpec;
use crate::challenge::{operand_row, operand_rows, operands_held, AnswerError};
use crate::encoding::f32_to_le_bytes;
use crate::merkle::RowMerkleTree;
use crate::prng::{STREAM_A, STREAM_B};
use crate::router::FraudProof;
use crate::verify::{check_rows, freivalds, mat_vec_f64, SampledRow, Tolerance, VerifyError};
use sha2::{Digest as _, Sha256};

/// Vectors of the client check: a wrong row is missed with p ≤ 2⁻⁴⁰.
pub const CLIENT_VECTORS: u32 = 40;

/// Relative slack of the client check: 16 f32 unit roundoffs of
/// `(|A|·(|B|·|r|))_i` (the spot checks allow `2k` of them per element).
pub const CLIENT_RTOL: f64 = 16.0 / (1u64 << 24) as f64;

/// A ±1 vector of length `n` from `sha256(seed ‖ vector ‖ block)`.
fn sign_vector(seed: &[u8; 32], vector: u32, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    let mut block = 0u64;
    while out.len() < n {
        let digest = Sha256::new()
            .chain_update(seed)
            .chain_update(vector.to_le_bytes())
            .chain_update(block.to_le_bytes())
            .finalize();
        for byte in digest {
            for bit in 0..8 {
                if out.len() < n {
                    out.push(if byte >> bit & 1 == 1 { 1.0 } else { -1.0 });
                }
            }
        }
        block += 1;
    }
    out
}

/// The developer's full check of a downloaded `m × n` result `c` (row-major)
/// of `spec`: the first row found wrong, or `None` when every row passes
/// `vectors` Freivalds checks with ±1 vectors drawn from `seed` (the
/// client's own randomness, which the miner never sees).
pub fn find_wrong_row(
    spec: &MatmulSpec,
    c: &[f32],
    vectors: u32,
    seed: &[u8; 32],
) -> Result<Option<u64>, AnswerError> {
    if !operands_held(spec) {
        return Err(AnswerError::OperandNotHeld);
    }
    let shape = spec.shape();
    if c.len() != shape.m * shape.n {
        return Err(AnswerError::RowShape);
    }
    let slack = Tolerance {
        rtol: CLIENT_RTOL,
        atol: 1e-6,
    };
    for v in 0..vectors {
        let r = sign_vector(seed, v, shape.n);
        let y = mat_vec_f64(c, shape.n, &r);
        let verdict = freivalds(
            shape,
            operand_rows(&spec.a, STREAM_A, shape.k),
            operand_rows(&spec.b, STREAM_B, shape.n),
            &r,
            &y,
            &slack,
        );
        match verdict {
            Ok(()) => {}
            Err(VerifyError::Freivalds { row, .. }) => return Ok(Some(row as u64)),
            Err(_) => return Err(AnswerError::RowShape),
        }
    }
    Ok(None)
}

/// The fraud proof of row `row` of a row-major result with `cols` columns:
/// the row as committed and its Merkle path.
///
/// # Panics
/// If `row` is not a row of the result.
pub fn fraud_proof(values: &[f32], cols: usize, row: u64) -> FraudProof {
    let tree = RowMerkleTree::from_matrix(values, cols);
    let r = row as usize;
    FraudProof {
        row,
        values: f32_to_le_bytes(&values[r * cols..(r + 1) * cols]),
        path: tree
            .proof(row)
            .expect("a row of the result")
            .into_iter()
            .map(|h| serde_bytes::ByteBuf::from(h.0.to_vec()))
            .collect(),
    }
}

/// The router's adjudication of a fraud proof: recomputes row `row` of
/// `A·B` and compares it with `claimed` under the spot checks' tolerance
/// ([`Tolerance::for_inner_dim`]). `Ok(None)`: the row is right; `Ok(Some(col))`:
/// the first wrong column.
pub fn wrong_column(
    spec: &MatmulSpec,
    row: u64,
    claimed: &[f32],
) -> Result<Option<u64>, AnswerError> {
    if !operands_held(spec) {
        return Err(AnswerError::OperandNotHeld);
    }
    let shape = spec.shape();
    if row >= shape.m as u64 || claimed.len() != shape.n {
        return Err(AnswerError::RowShape);
    }
    let sample = SampledRow {
        index: row as usize,
        a_row: operand_row(&spec.a, STREAM_A, shape.k, row as usize),
        claimed: claimed.to_vec(),
    };
    let tolerance = Tolerance::for_inner_dim(shape.k);
    match check_rows(
        shape,
        &[sample],
        operand_rows(&spec.b, STREAM_B, shape.n),
        &tolerance,
    ) {
        Ok(()) => Ok(None),
        Err(VerifyError::Element { col, .. }) => Ok(Some(col as u64)),
        Err(_) => Err(AnswerError::RowShape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MatrixSource;
    use crate::prng;
    use crate::verify::reference_matmul;
    use crate::Digest32;

    fn spec(m: u32, k: u32, n: u32) -> MatmulSpec {
        MatmulSpec {
            m,
            k,
            n,
            a: MatrixSource::Seeded {
                seed: Digest32([7; 32]),
            },
            b: MatrixSource::Seeded {
                seed: Digest32([8; 32]),
            },
        }
    }

    fn honest(spec: &MatmulSpec) -> Vec<f32> {
        let s = spec.shape();
        let a = prng::matrix(&[7; 32], STREAM_A, s.m, s.k);
        let b = prng::matrix(&[8; 32], STREAM_B, s.k, s.n);
        reference_matmul(&a, &b, s)
    }

    #[test]
    fn an_honest_result_passes_and_one_wrong_element_is_found_and_adjudicated() {
        let spec = spec(64, 48, 40);
        let c = honest(&spec);
        assert_eq!(
            find_wrong_row(&spec, &c, CLIENT_VECTORS, &[1; 32]),
            Ok(None)
        );
        for (i, j, delta) in [(0usize, 0usize, 0.05f32), (37, 21, -0.05), (63, 39, 1.0)] {
            let mut bad = c.clone();
            bad[i * 40 + j] += delta;
            let row = find_wrong_row(&spec, &bad, CLIENT_VECTORS, &[1; 32]).unwrap();
            assert_eq!(row, Some(i as u64), "element ({i}, {j}) off by {delta}");
            let claimed = &bad[i * 40..(i + 1) * 40];
            assert_eq!(wrong_column(&spec, i as u64, claimed), Ok(Some(j as u64)));
            // The honest row of the same index is judged right.
            assert_eq!(
                wrong_column(&spec, i as u64, &c[i * 40..(i + 1) * 40]),
                Ok(None)
            );
        }
    }

    #[test]
    fn errors_that_cancel_in_one_vector_are_caught_by_the_next() {
        // Two errors of opposite sign in a row: a ±1 vector sums them to 0
        // when it has equal signs there (p = 1/2); 40 vectors all do with 2⁻⁴⁰.
        let spec = spec(16, 8, 32);
        let mut bad = honest(&spec);
        bad[5 * 32 + 3] += 0.5;
        bad[5 * 32 + 9] -= 0.5;
        let found = (0..50u8)
            .filter(|s| find_wrong_row(&spec, &bad, CLIENT_VECTORS, &[*s; 32]).unwrap() == Some(5))
            .count();
        assert_eq!(found, 50);
        // One vector alone misses it about half the time.
        let single = (0..200u8)
            .filter(|s| find_wrong_row(&spec, &bad, 1, &[*s; 32]).unwrap().is_some())
            .count();
        assert!((60..=140).contains(&single), "{single} of 200");
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let spec = spec(4, 4, 4);
        let c = honest(&spec);
        assert_eq!(
            find_wrong_row(&spec, &c[..15], 1, &[0; 32]),
            Err(AnswerError::RowShape)
        );
        assert_eq!(wrong_column(&spec, 4, &c[..4]), Err(AnswerError::RowShape));
        assert_eq!(wrong_column(&spec, 0, &c[..3]), Err(AnswerError::RowShape));
        let mut url = spec.clone();
        url.b = MatrixSource::Url {
            url: "https://x/b".into(),
            sha256: Digest32([0; 32]),
        };
        assert_eq!(
            wrong_column(&url, 0, &c[..4]),
            Err(AnswerError::OperandNotHeld)
        );
    }
}
