//! Commit-then-challenge checks of a matmul result, shared by the registry
//! (capability challenges) and the router (Freivalds-tier jobs): drawing the
//! challenge from `raw_rand` bytes obtained *after* the commitment, and
//! checking the worker's answer — Merkle paths against the committed root,
//! Freivalds' `A·(B·r) ≈ y`, and the opened rows recomputed exactly.

use crate::api::{ChallengeRequest, ChallengeResponse, MatmulSpec, MatrixSource};
use crate::prng::{self, STREAM_A, STREAM_B};
use crate::verify::{check_rows, freivalds, rows_of, seeded_rows, SampledRow, Tolerance};
use crate::{merkle, Digest32};

/// Rows to open: `s` distinct indices below `rows` drawn from `rand`.
pub fn sample_rows(rand: &[u8; 32], rows: u64, s: u32) -> Vec<u64> {
    let s = (s as u64).min(rows) as usize;
    let mut picked = Vec::with_capacity(s);
    let mut counter = 0u64;
    while picked.len() < s {
        let mut input = rand.to_vec();
        input.extend_from_slice(b"tensormine/challenge-rows");
        input.extend_from_slice(&counter.to_le_bytes());
        let d = Digest32::sha256(&input);
        let v = u64::from_le_bytes(d.0[..8].try_into().expect("8 bytes")) % rows;
        if !picked.contains(&v) {
            picked.push(v);
        }
        counter += 1;
    }
    picked
}

/// The Freivalds vector's seed, domain-separated from the row sample.
pub fn r_seed(rand: &[u8; 32]) -> Digest32 {
    let mut input = rand.to_vec();
    input.extend_from_slice(b"tensormine/challenge-r");
    Digest32::sha256(&input)
}

/// The challenge for a committed `m`-row result: `s` rows and the r seed.
pub fn challenge_request(rand: &[u8; 32], m: u64, s: u32) -> ChallengeRequest {
    ChallengeRequest {
        r_seed: r_seed(rand),
        rows: sample_rows(rand, m, s),
    }
}

/// Whether the verifier holds both operands (seeded or inline), which
/// Freivalds' check needs.
pub fn operands_held(spec: &MatmulSpec) -> bool {
    [&spec.a, &spec.b]
        .iter()
        .all(|s| !matches!(s, MatrixSource::Url { .. }))
}

/// Fills a buffer with row `i` of an operand.
type RowFill<'a> = Box<dyn FnMut(usize, &mut [f32]) + 'a>;

fn operand_rows(source: &MatrixSource, stream: u64, cols: usize) -> Result<RowFill<'_>, String> {
    match source {
        MatrixSource::Seeded { seed } => Ok(Box::new(seeded_rows(seed.0, stream, cols))),
        MatrixSource::Inline { data } => Ok(Box::new(rows_of(&data.0, cols))),
        MatrixSource::Url { .. } => Err("the verifier does not hold a URL operand".into()),
    }
}

fn operand_row(source: &MatrixSource, stream: u64, cols: usize, row: usize) -> Vec<f32> {
    match source {
        MatrixSource::Seeded { seed } => prng::matrix_row(&seed.0, stream, cols, row),
        MatrixSource::Inline { data } => data.0[row * cols..(row + 1) * cols].to_vec(),
        MatrixSource::Url { .. } => Vec::new(),
    }
}

/// Checks that `answer` opens the asked rows against `root` and that
/// `C = A·B` passes Freivalds and the recomputed rows.
pub fn check_matmul_answer(
    spec: &MatmulSpec,
    root: &Digest32,
    request: &ChallengeRequest,
    answer: &ChallengeResponse,
) -> Result<(), String> {
    let shape = spec.shape();
    if answer.merkle_root != *root {
        return Err("answer opens another Merkle root".into());
    }
    if answer.rows.len() != request.rows.len() {
        return Err(format!(
            "{} rows opened, {} asked",
            answer.rows.len(),
            request.rows.len()
        ));
    }
    let mut samples = Vec::with_capacity(answer.rows.len());
    for (row, &want) in answer.rows.iter().zip(&request.rows) {
        if row.index != want || row.values.0.len() != shape.n {
            return Err(format!(
                "opened row {} is not row {want} of length {}",
                row.index, shape.n
            ));
        }
        if !merkle::verify_row(root, shape.m as u64, row.index, &row.values.0, &row.path) {
            return Err(format!(
                "row {} does not open against the committed root",
                row.index
            ));
        }
        samples.push(SampledRow {
            index: row.index as usize,
            a_row: operand_row(&spec.a, STREAM_A, shape.k, row.index as usize),
            claimed: row.values.0.clone(),
        });
    }
    let tolerance = Tolerance::for_inner_dim(shape.k);
    let r = prng::challenge_vector(&request.r_seed.0, shape.n);
    freivalds(
        shape,
        operand_rows(&spec.a, STREAM_A, shape.k)?,
        operand_rows(&spec.b, STREAM_B, shape.n)?,
        &r,
        &answer.y.0,
        &tolerance,
    )
    .map_err(|e| e.to_string())?;
    check_rows(
        shape,
        &samples,
        operand_rows(&spec.b, STREAM_B, shape.n)?,
        &tolerance,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProvenRow;
    use crate::encoding::{F32Array, F64Array};
    use crate::merkle::RowMerkleTree;
    use crate::verify::{mat_vec_f64, reference_matmul};

    fn spec(m: u32, k: u32, n: u32, inline_a: bool) -> MatmulSpec {
        let a = if inline_a {
            MatrixSource::Inline {
                data: F32Array(prng::matrix(&[7; 32], STREAM_A, m as usize, k as usize)),
            }
        } else {
            MatrixSource::Seeded {
                seed: Digest32([7; 32]),
            }
        };
        MatmulSpec {
            m,
            k,
            n,
            a,
            b: MatrixSource::Seeded {
                seed: Digest32([8; 32]),
            },
        }
    }

    fn honest_answer(
        spec: &MatmulSpec,
        req: &ChallengeRequest,
        corrupt: Option<(usize, f32)>,
    ) -> (Digest32, ChallengeResponse) {
        let s = spec.shape();
        let a = prng::matrix(&[7; 32], STREAM_A, s.m, s.k);
        let b = prng::matrix(&[8; 32], STREAM_B, s.k, s.n);
        let mut c = reference_matmul(&a, &b, s);
        if let Some((i, d)) = corrupt {
            c[i] += d;
        }
        let tree = RowMerkleTree::from_matrix(&c, s.n);
        let r = prng::challenge_vector(&req.r_seed.0, s.n);
        let rows = req
            .rows
            .iter()
            .map(|&i| ProvenRow {
                index: i,
                values: F32Array(c[i as usize * s.n..(i as usize + 1) * s.n].to_vec()),
                path: tree.proof(i).unwrap(),
            })
            .collect();
        let root = tree.root();
        (
            root,
            ChallengeResponse {
                job_id: "j".into(),
                merkle_root: root,
                y: F64Array(mat_vec_f64(&c, s.n, &r)),
                rows,
            },
        )
    }

    #[test]
    fn honest_answers_pass_for_seeded_and_inline_operands() {
        for inline in [false, true] {
            let spec = spec(9, 7, 5, inline);
            let req = challenge_request(&[3; 32], 9, 4);
            let (root, answer) = honest_answer(&spec, &req, None);
            check_matmul_answer(&spec, &root, &req, &answer).unwrap();
        }
    }

    #[test]
    fn a_wrong_element_or_root_is_caught() {
        let spec = spec(9, 7, 5, false);
        let req = challenge_request(&[3; 32], 9, 9);
        let (root, answer) = honest_answer(&spec, &req, Some((12, 0.5)));
        assert!(check_matmul_answer(&spec, &root, &req, &answer).is_err());
        let (_, answer) = honest_answer(&spec, &req, None);
        let err = check_matmul_answer(&spec, &Digest32([0; 32]), &req, &answer).unwrap_err();
        assert!(err.contains("another Merkle root"), "{err}");
    }

    #[test]
    fn url_operands_cannot_be_checked() {
        let mut spec = spec(4, 4, 4, false);
        spec.b = MatrixSource::Url {
            url: "https://x/b".into(),
            sha256: Digest32([0; 32]),
        };
        assert!(!operands_held(&spec));
        let req = challenge_request(&[1; 32], 4, 2);
        let answer = ChallengeResponse {
            job_id: "j".into(),
            merkle_root: Digest32([0; 32]),
            y: F64Array(vec![0.0; 4]),
            rows: vec![],
        };
        assert!(check_matmul_answer(&spec, &Digest32([0; 32]), &req, &answer).is_err());
    }

    #[test]
    fn sampled_rows_are_distinct_and_bounded() {
        let rows = sample_rows(&[9; 32], 10, 20);
        assert_eq!(rows.len(), 10);
        let mut sorted = rows.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
    }
}
