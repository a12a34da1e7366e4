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
pub(crate) type RowFill<'a> = Box<dyn FnMut(usize, &mut [f32]) + 'a>;

/// Row source of a held operand (checked by [`operands_held`] first).
pub(crate) fn operand_rows(source: &MatrixSource, stream: u64, cols: usize) -> RowFill<'_> {
    match source {
        MatrixSource::Seeded { seed } => Box::new(seeded_rows(seed.0, stream, cols)),
        MatrixSource::Inline { data } => Box::new(rows_of(&data.0, cols)),
        MatrixSource::Url { .. } => unreachable!("checked by operands_held"),
    }
}

pub(crate) fn operand_row(source: &MatrixSource, stream: u64, cols: usize, row: usize) -> Vec<f32> {
    match source {
        MatrixSource::Seeded { seed } => prng::matrix_row(&seed.0, stream, cols, row),
        MatrixSource::Inline { data } => data.0[row * cols..(row + 1) * cols].to_vec(),
        MatrixSource::Url { .. } => Vec::new(),
    }
}

/// Why a challenge answer was rejected. The texts name no row index and no
/// value: rejection reasons are public (the router's events), and naming the
/// sampled rows would tell the next miner of the job what is checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The answer opens a root other than the committed one.
    #[error("answer opens another Merkle root")]
    OtherRoot,
    /// The challenge asked no rows, or the answer opened a different number.
    #[error("{opened} rows opened, {asked} asked")]
    RowCount {
        /// Rows in the answer.
        opened: usize,
        /// Rows asked (at least 1).
        asked: usize,
    },
    /// An opened row is not the asked one or has the wrong length.
    #[error("an opened row is not the asked row or has the wrong length")]
    RowShape,
    /// An opened row's Merkle path does not lead to the committed root.
    #[error("an opened row does not open against the committed root")]
    RowPath,
    /// `y` has the wrong length, or an opened row `C_i` has `C_i·r ≠ y_i`:
    /// the answer's `y` is not the committed C's.
    #[error("y is not C·r of the committed rows")]
    UnboundY,
    /// `y ≠ A·(B·r)`.
    #[error("failed Freivalds' check A·(B·r) = y")]
    Freivalds,
    /// An opened row differs from the recomputed row of `A·B`.
    #[error("an opened row differs from the recomputed row of A·B")]
    RowValue,
    /// The verifier does not hold an operand (a URL operand).
    #[error("the verifier does not hold a URL operand")]
    OperandNotHeld,
}

/// Relative slack between the worker's `y_i` and the verifier's `C_i·r`,
/// both accumulated in f64 from the same f32 row: only the summation order
/// can differ, worth at most `n · 2⁻⁵³` relative to `Σ|C_ij·r_j|`.
fn y_binds(row: &[f32], r: &[f32], y: f64) -> bool {
    let (mut dot, mut magnitude) = (0f64, 0f64);
    for (&c, &x) in row.iter().zip(r) {
        dot += c as f64 * x as f64;
        magnitude += (c as f64 * x as f64).abs();
    }
    let slack = 1e-12 + magnitude * (row.len().max(1) as f64) * f64::EPSILON;
    (y - dot).abs() <= slack
}

/// Checks that `answer` opens the asked rows against `root`, that every
/// opened row `C_i` agrees with the answer's `y` (`C_i·r = y_i`) and with
/// `A_i·B`, and that `y = A·(B·r)`.
///
/// What it proves against a miner who knows this code: every *opened* row
/// of the committed C is `A_i·B` within [`Tolerance::for_inner_dim`]. `y` is
/// not a witness for the unopened rows — a miner can compute `y = A·(B·r)`
/// without C — so a C with a fraction `f` of wrong rows passes with
/// probability `(1 − f)^s` for `s` opened rows ([`miss_probability`]).
pub fn check_matmul_answer(
    spec: &MatmulSpec,
    root: &Digest32,
    request: &ChallengeRequest,
    answer: &ChallengeResponse,
) -> Result<(), AnswerError> {
    let shape = spec.shape();
    if !operands_held(spec) {
        return Err(AnswerError::OperandNotHeld);
    }
    let r = prng::challenge_vector(&request.r_seed.0, shape.n);
    let samples = opened_rows(root, shape.m as u64, shape.n, &r, request, answer)?
        .into_iter()
        .map(|(index, claimed)| SampledRow {
            index: index as usize,
            a_row: operand_row(&spec.a, STREAM_A, shape.k, index as usize),
            claimed,
        })
        .collect::<Vec<_>>();
    let tolerance = Tolerance::for_inner_dim(shape.k);
    freivalds(
        shape,
        operand_rows(&spec.a, STREAM_A, shape.k),
        operand_rows(&spec.b, STREAM_B, shape.n),
        &r,
        &answer.y.0,
        &tolerance,
    )
    .map_err(|_| AnswerError::Freivalds)?;
    check_rows(
        shape,
        &samples,
        operand_rows(&spec.b, STREAM_B, shape.n),
        &tolerance,
    )
    .map_err(|_| AnswerError::RowValue)
}

/// The opened rows `(index, values)` of an `m × n` result, each checked
/// against the asked index, the committed `root` and the answer's
/// `y_i = C_i·r`. Used where the verifier holds no operand too (replicas
/// compared on `y`): there it is what ties `y` to the commitment.
pub fn opened_rows(
    root: &Digest32,
    m: u64,
    n: usize,
    r: &[f32],
    request: &ChallengeRequest,
    answer: &ChallengeResponse,
) -> Result<Vec<(u64, Vec<f32>)>, AnswerError> {
    if answer.merkle_root != *root {
        return Err(AnswerError::OtherRoot);
    }
    if request.rows.is_empty() || answer.rows.len() != request.rows.len() {
        return Err(AnswerError::RowCount {
            opened: answer.rows.len(),
            asked: request.rows.len(),
        });
    }
    if answer.y.0.len() as u64 != m {
        return Err(AnswerError::UnboundY);
    }
    let mut rows = Vec::with_capacity(answer.rows.len());
    for (row, &want) in answer.rows.iter().zip(&request.rows) {
        if row.index != want || row.values.0.len() != n {
            return Err(AnswerError::RowShape);
        }
        if !merkle::verify_row(root, m, row.index, &row.values.0, &row.path) {
            return Err(AnswerError::RowPath);
        }
        if !y_binds(&row.values.0, r, answer.y.0[row.index as usize]) {
            return Err(AnswerError::UnboundY);
        }
        rows.push((row.index, row.values.0.clone()));
    }
    Ok(rows)
}

/// Probability that `s` distinct rows drawn uniformly from `m` all miss the
/// `bad` wrong rows: `C(m − bad, s) / C(m, s)` (≤ `(1 − bad/m)^s`).
pub fn miss_probability(m: u64, bad: u64, s: u64) -> f64 {
    let s = s.min(m);
    (0..s)
        .map(|i| (m.saturating_sub(bad + i)) as f64 / (m - i) as f64)
        .product()
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
        assert_eq!(err, AnswerError::OtherRoot);
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
        assert_eq!(
            check_matmul_answer(&spec, &Digest32([0; 32]), &req, &answer),
            Err(AnswerError::OperandNotHeld)
        );
    }

    /// The adaptive cheater of the review: commits to a C with `bad` wrong
    /// rows (the last ones), answers with the exact `y = A·(B·r)` — which
    /// needs no C — and opens its committed rows honestly.
    fn forged_y_answer(
        spec: &MatmulSpec,
        req: &ChallengeRequest,
        bad: usize,
    ) -> (Digest32, ChallengeResponse) {
        let s = spec.shape();
        let a = prng::matrix(&[7; 32], STREAM_A, s.m, s.k);
        let b = prng::matrix(&[8; 32], STREAM_B, s.k, s.n);
        let honest = reference_matmul(&a, &b, s);
        let mut c = honest.clone();
        for v in &mut c[(s.m - bad) * s.n..] {
            *v = 0.0;
        }
        let r = prng::challenge_vector(&req.r_seed.0, s.n);
        let tree = RowMerkleTree::from_matrix(&c, s.n);
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
        let y = F64Array(mat_vec_f64(&honest, s.n, &r));
        (
            root,
            ChallengeResponse {
                job_id: "j".into(),
                merkle_root: root,
                y,
                rows,
            },
        )
    }

    #[test]
    fn a_forged_y_passes_only_when_no_wrong_row_is_opened() {
        let spec = spec(64, 8, 8, false);
        let (m, bad, s) = (64u64, 8usize, 4u32);
        let trials = 2_000u32;
        let mut passed = 0u32;
        for t in 0..trials {
            let mut rand = [0u8; 32];
            rand[..4].copy_from_slice(&t.to_le_bytes());
            let req = challenge_request(&rand, m, s);
            let (root, answer) = forged_y_answer(&spec, &req, bad);
            let opened_bad = req.rows.iter().any(|&i| i >= m - bad as u64);
            let verdict = check_matmul_answer(&spec, &root, &req, &answer);
            assert_eq!(verdict.is_ok(), !opened_bad, "trial {t}: {verdict:?}");
            if let Err(e) = &verdict {
                // Its opened wrong row disagrees with the exact y it sent.
                assert_eq!(*e, AnswerError::UnboundY);
            }
            passed += verdict.is_ok() as u32;
        }
        // The pass rate is the hypergeometric miss probability (0.583 here).
        let expected = miss_probability(m, bad as u64, s as u64);
        let rate = passed as f64 / trials as f64;
        assert!(
            (rate - expected).abs() < 0.05,
            "rate {rate}, expected {expected}"
        );
    }

    #[test]
    fn a_y_that_is_not_the_committed_rows_is_rejected() {
        let spec = spec(9, 7, 5, false);
        let req = challenge_request(&[3; 32], 9, 3);
        let (root, mut answer) = honest_answer(&spec, &req, None);
        let row = req.rows[1] as usize;
        answer.y.0[row] += 1e-6 * answer.y.0[row].abs().max(1.0);
        assert_eq!(
            check_matmul_answer(&spec, &root, &req, &answer),
            Err(AnswerError::UnboundY)
        );
        let (root, mut answer) = honest_answer(&spec, &req, None);
        answer.y.0.pop();
        assert_eq!(
            check_matmul_answer(&spec, &root, &req, &answer),
            Err(AnswerError::UnboundY)
        );
    }

    #[test]
    fn an_empty_row_list_is_rejected() {
        let spec = spec(9, 7, 5, false);
        let req = ChallengeRequest {
            r_seed: Digest32([1; 32]),
            rows: vec![],
        };
        let (root, answer) = honest_answer(&spec, &req, None);
        assert_eq!(
            check_matmul_answer(&spec, &root, &req, &answer),
            Err(AnswerError::RowCount {
                opened: 0,
                asked: 0
            })
        );
    }

    #[test]
    fn rejection_texts_name_no_row() {
        let spec = spec(9, 7, 5, false);
        let req = challenge_request(&[3; 32], 9, 9);
        let (root, answer) = honest_answer(&spec, &req, Some((12, 0.5)));
        let text = check_matmul_answer(&spec, &root, &req, &answer)
            .unwrap_err()
            .to_string();
        assert!(!text.chars().any(|c| c.is_ascii_digit()), "{text}");
    }

    #[test]
    fn miss_probability_matches_the_sizing_of_the_default() {
        // 264 rows miss a 10 % corruption with p ≤ 2⁻⁴⁰ at any size.
        for m in [1024u64, 4096, 1 << 20] {
            let p = miss_probability(m, m / 10, 264);
            assert!(p <= 2f64.powi(-40), "m = {m}: {p}");
        }
        // …and 263 do not, for a large result: 264 is the smallest such default.
        assert!(miss_probability(1 << 20, (1 << 20) / 10, 263) > 2f64.powi(-40));
        assert_eq!(miss_probability(10, 1, 10), 0.0);
        assert_eq!(miss_probability(10, 0, 5), 1.0);
    }

    #[test]
    fn challenges_are_batched_to_fit_the_answer_limit() {
        use crate::api::{challenge_response_size, challenge_rows_per_answer};
        let limit = 1_990_000;
        for (m, n) in [(1024u64, 1024u64), (4096, 4096), (65_536, 65_536), (1, 1)] {
            let per = challenge_rows_per_answer(m, n, limit);
            assert!(per >= 1, "{m}×{n}");
            assert!(challenge_response_size(m, n, per) <= limit);
            assert!(challenge_response_size(m, n, per + 1) > limit);
        }
        // The default 264 rows of a 1024² result take one outcall, of a
        // 4096² result four (docs/verification.md).
        assert_eq!(challenge_rows_per_answer(1024, 1024, limit), 315);
        assert_eq!(challenge_rows_per_answer(4096, 4096, limit), 85);
        assert_eq!(challenge_rows_per_answer(1, 1_000_000, limit), 0);
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
