//! Checks of a claimed matrix product `C = A·B` (A: m×k, B: k×n, row-major f32).
//!
//! * [`freivalds`] — given `y ≈ C·r` from the worker, checks `A·(B·r) ≈ y`:
//!   four matrix-vector products, O(m·k + k·n) multiply-adds.
//! * [`check_rows`] — recomputes s sampled rows of `A·B` and compares them with
//!   the worker's rows: O(s·k·n) multiply-adds, streaming B once.
//!
//! Both accumulate in f64 and read the operands through row callbacks, so a
//! canister can regenerate seeded rows on the fly instead of holding A and B.
//!
//! # Tolerances
//! A value passes when `|claimed − exact| ≤ atol + rtol · magnitude`, where
//! `magnitude` is the same sum computed over absolute values (for an element
//! of C: `Σ_l |a_il|·|b_lj|`; for `y_i`: `(|A|·(|B|·|r|))_i`). Any f32
//! dot product of length k, in any summation order, errs by at most
//! `k · 2⁻²⁴ · magnitude` (Higham, Accuracy and Stability of Numerical
//! Algorithms, §3.1), and `y` computed in f64 from such a C inherits the bound.
//! So an honest worker always passes when `rtol ≥ k · 2⁻²⁴`. The default
//! (`rtol = 5e-4, atol = 1e-4`, the architecture's figures) is sound for
//! k ≤ 4194 with a 2× margin; [`Tolerance::for_inner_dim`] gives the tightest
//! sound value, `rtol = 2 · k · 2⁻²⁴` (1.2e-4 at k = 1024, 2.4e-4 at k = 2048),
//! and is what verifiers should use: it still never rejects an honest f32
//! product in any summation order, and it catches more. With inputs uniform in
//! [-1, 1) an element's magnitude is ≈ k/4, so at k = 1024 a row element off by
//! more than ≈ 0.03 (≈ 0.3 % of a typical |c_ij| ≈ 10) fails the row check;
//! Freivalds' magnitude is ≈ k·n/8, so it catches a single element off by more
//! than ≈ 16 at n = k = 1024 (whole-row or systematic cheating, skipped work),
//! and the sampled rows catch the small, local corruptions. TF32 or fp16
//! tensor-core arithmetic does not meet these bounds and must be disabled by
//! the worker.

/// Accepted deviation: `|claimed − exact| ≤ atol + rtol · magnitude`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tolerance {
    /// Relative tolerance, applied to the absolute-value magnitude.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

/// Unit roundoff of f32 (2⁻²⁴).
pub const F32_UNIT_ROUNDOFF: f64 = 1.0 / 16_777_216.0;

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            rtol: 5e-4,
            atol: 1e-4,
        }
    }
}

impl Tolerance {
    /// The tightest tolerance that is sound for an f32 product with inner
    /// dimension `k`: `rtol = 2 · k · 2⁻²⁴` (twice the worst-case relative
    /// error of a length-k f32 dot product), `atol = 1e-4`.
    pub fn for_inner_dim(k: usize) -> Self {
        Self {
            rtol: 2.0 * k.max(1) as f64 * F32_UNIT_ROUNDOFF,
            atol: Self::default().atol,
        }
    }

    /// Largest accepted deviation for a value of the given magnitude.
    pub fn allowed(&self, magnitude: f64) -> f64 {
        self.atol + self.rtol * magnitude
    }

    /// True when `claimed` is close enough to `exact`; NaN never passes.
    pub fn accepts(&self, claimed: f64, exact: f64, magnitude: f64) -> bool {
        (claimed - exact).abs() <= self.allowed(magnitude)
    }
}

/// Dimensions of `C = A·B`: A is m×k, B is k×n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of A, rows of B.
    pub k: usize,
    /// Columns of B and C.
    pub n: usize,
}

/// Why a claimed product was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// An input has the wrong length for the shape.
    #[error("{what} has length {got}, expected {expected}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Length found.
        got: usize,
        /// Length required.
        expected: usize,
    },
    /// `y_i` differs from `(A·(B·r))_i` by more than the tolerance.
    #[error(
        "Freivalds check failed at row {row}: claimed {claimed}, expected {expected} ± {allowed}"
    )]
    Freivalds {
        /// Row of y.
        row: usize,
        /// Worker's value.
        claimed: f64,
        /// Verifier's value.
        expected: f64,
        /// Tolerance at this value.
        allowed: f64,
    },
    /// A sampled element of C differs from the recomputed one.
    #[error("row {row}, column {col}: claimed {claimed}, expected {expected} ± {allowed}")]
    Element {
        /// Row of C.
        row: usize,
        /// Column of C.
        col: usize,
        /// Worker's value.
        claimed: f64,
        /// Verifier's value.
        expected: f64,
        /// Tolerance at this value.
        allowed: f64,
    },
}

fn expect_len(what: &'static str, got: usize, expected: usize) -> Result<(), VerifyError> {
    if got == expected {
        Ok(())
    } else {
        Err(VerifyError::Length {
            what,
            got,
            expected,
        })
    }
}

/// `(M·v, |M|·|v|)` for a rows×cols matrix given row by row.
fn mat_vec_with_magnitude(
    rows: usize,
    cols: usize,
    mut row_of: impl FnMut(usize, &mut [f32]),
    v: &[f64],
    v_abs: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut row = vec![0f32; cols];
    let mut product = Vec::with_capacity(rows);
    let mut magnitude = Vec::with_capacity(rows);
    for i in 0..rows {
        row_of(i, &mut row);
        let (mut sum, mut abs_sum) = (0f64, 0f64);
        for ((&a, &x), &x_abs) in row.iter().zip(v).zip(v_abs) {
            sum += a as f64 * x;
            abs_sum += (a as f64).abs() * x_abs;
        }
        product.push(sum);
        magnitude.push(abs_sum);
    }
    (product, magnitude)
}

/// Freivalds' check: is `y ≈ A·(B·r)`?
///
/// `a_row(i, buf)` must fill `buf` (length k) with row i of A, `b_row(l, buf)`
/// row l of B (length n). `r` has length n, `y` length m. A product that is
/// wrong in a row is caught with probability ≥ 1/2 per independent `r` for
/// entries from a continuous range, in practice ≈ 1.
pub fn freivalds(
    shape: Shape,
    a_row: impl FnMut(usize, &mut [f32]),
    b_row: impl FnMut(usize, &mut [f32]),
    r: &[f32],
    y: &[f64],
    tolerance: &Tolerance,
) -> Result<(), VerifyError> {
    expect_len("r", r.len(), shape.n)?;
    expect_len("y", y.len(), shape.m)?;
    let r64: Vec<f64> = r.iter().map(|&x| x as f64).collect();
    let r_abs: Vec<f64> = r64.iter().map(|x| x.abs()).collect();
    let (br, br_magnitude) = mat_vec_with_magnitude(shape.k, shape.n, b_row, &r64, &r_abs);
    let (abr, magnitude) = mat_vec_with_magnitude(shape.m, shape.k, a_row, &br, &br_magnitude);
    for (row, ((&claimed, &expected), &mag)) in y.iter().zip(&abr).zip(&magnitude).enumerate() {
        if !tolerance.accepts(claimed, expected, mag) {
            return Err(VerifyError::Freivalds {
                row,
                claimed,
                expected,
                allowed: tolerance.allowed(mag),
            });
        }
    }
    Ok(())
}

/// A row of C claimed by the worker, with the matching row of A.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledRow {
    /// Row index in C.
    pub index: usize,
    /// Row `index` of A (length k).
    pub a_row: Vec<f32>,
    /// Row `index` of C as claimed (length n).
    pub claimed: Vec<f32>,
}

/// Recomputes every sampled row of `A·B` (B streamed once through `b_row`)
/// and compares it element by element with the claim.
pub fn check_rows(
    shape: Shape,
    samples: &[SampledRow],
    mut b_row: impl FnMut(usize, &mut [f32]),
    tolerance: &Tolerance,
) -> Result<(), VerifyError> {
    for sample in samples {
        expect_len("sampled row of A", sample.a_row.len(), shape.k)?;
        expect_len("sampled row of C", sample.claimed.len(), shape.n)?;
    }
    let mut exact = vec![vec![0f64; shape.n]; samples.len()];
    let mut magnitude = vec![vec![0f64; shape.n]; samples.len()];
    let mut b = vec![0f32; shape.n];
    for l in 0..shape.k {
        b_row(l, &mut b);
        for (s, sample) in samples.iter().enumerate() {
            let a = sample.a_row[l] as f64;
            for ((acc, mag), &b_lj) in exact[s].iter_mut().zip(magnitude[s].iter_mut()).zip(&b) {
                *acc += a * b_lj as f64;
                *mag += a.abs() * (b_lj as f64).abs();
            }
        }
    }
    for (s, sample) in samples.iter().enumerate() {
        for (col, &claimed) in sample.claimed.iter().enumerate() {
            let (expected, mag) = (exact[s][col], magnitude[s][col]);
            if !tolerance.accepts(claimed as f64, expected, mag) {
                let allowed = tolerance.allowed(mag);
                return Err(VerifyError::Element {
                    row: sample.index,
                    col,
                    claimed: claimed as f64,
                    expected,
                    allowed,
                });
            }
        }
    }
    Ok(())
}

/// `y = C·r` accumulated in f64, as the worker answers a challenge.
pub fn mat_vec_f64(c: &[f32], cols: usize, r: &[f32]) -> Vec<f64> {
    c.chunks_exact(cols)
        .map(|row| {
            row.iter()
                .zip(r)
                .map(|(&c_ij, &r_j)| c_ij as f64 * r_j as f64)
                .sum()
        })
        .collect()
}

/// Row callback over a row-major slice, for the checks above.
pub fn rows_of(data: &[f32], cols: usize) -> impl FnMut(usize, &mut [f32]) + '_ {
    move |i, buf| buf.copy_from_slice(&data[i * cols..(i + 1) * cols])
}

/// Row callback over a seeded matrix ([`crate::prng`]).
pub fn seeded_rows(seed: [u8; 32], stream: u64, cols: usize) -> impl FnMut(usize, &mut [f32]) {
    move |i, buf| crate::prng::fill_range(&seed, stream, (i as u64) * cols as u64, buf)
}

/// Reference product in f64-accumulated f32, O(m·k·n): for tests and tiny sizes.
pub fn reference_matmul(a: &[f32], b: &[f32], shape: Shape) -> Vec<f32> {
    let mut c = vec![0f32; shape.m * shape.n];
    for i in 0..shape.m {
        let mut acc = vec![0f64; shape.n];
        for l in 0..shape.k {
            let a_il = a[i * shape.k + l] as f64;
            for (dst, &b_lj) in acc.iter_mut().zip(&b[l * shape.n..(l + 1) * shape.n]) {
                *dst += a_il * b_lj as f64;
            }
        }
        for (dst, v) in c[i * shape.n..(i + 1) * shape.n].iter_mut().zip(acc) {
            *dst = v as f32;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng;

    fn setup(shape: Shape) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let seed = [9u8; 32];
        let a = prng::matrix(&seed, prng::STREAM_A, shape.m, shape.k);
        let b = prng::matrix(&seed, prng::STREAM_B, shape.k, shape.n);
        let c = reference_matmul(&a, &b, shape);
        (a, b, c)
    }

    /// Plain f32 accumulation in naive order: the worst honest worker.
    fn naive_f32_matmul(a: &[f32], b: &[f32], s: Shape) -> Vec<f32> {
        let mut c = vec![0f32; s.m * s.n];
        for i in 0..s.m {
            for j in 0..s.n {
                c[i * s.n + j] =
                    (0..s.k).fold(0f32, |acc, l| acc + a[i * s.k + l] * b[l * s.n + j]);
            }
        }
        c
    }

    #[test]
    fn honest_f32_product_passes_both_checks() {
        let shape = Shape {
            m: 40,
            k: 300,
            n: 24,
        };
        let (a, b, _) = setup(shape);
        let c = naive_f32_matmul(&a, &b, shape);
        let r = prng::challenge_vector(&[1; 32], shape.n);
        let y = mat_vec_f64(&c, shape.n, &r);
        let tol = Tolerance::for_inner_dim(shape.k);
        freivalds(
            shape,
            rows_of(&a, shape.k),
            rows_of(&b, shape.n),
            &r,
            &y,
            &tol,
        )
        .unwrap();
        let samples: Vec<SampledRow> = [0usize, 17, 39]
            .iter()
            .map(|&i| SampledRow {
                index: i,
                a_row: a[i * shape.k..(i + 1) * shape.k].to_vec(),
                claimed: c[i * shape.n..(i + 1) * shape.n].to_vec(),
            })
            .collect();
        check_rows(shape, &samples, rows_of(&b, shape.n), &tol).unwrap();
    }

    #[test]
    fn corrupted_element_is_caught_by_both_checks() {
        let shape = Shape {
            m: 16,
            k: 64,
            n: 16,
        };
        let (a, b, mut c) = setup(shape);
        c[5 * shape.n + 3] += 0.5;
        let r = prng::challenge_vector(&[2; 32], shape.n);
        let y = mat_vec_f64(&c, shape.n, &r);
        let err = freivalds(
            shape,
            rows_of(&a, shape.k),
            rows_of(&b, shape.n),
            &r,
            &y,
            &Tolerance::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, VerifyError::Freivalds { row: 5, .. }),
            "{err}"
        );
        let sample = SampledRow {
            index: 5,
            a_row: a[5 * 64..6 * 64].to_vec(),
            claimed: c[5 * 16..6 * 16].to_vec(),
        };
        let err = check_rows(
            shape,
            &[sample],
            rows_of(&b, shape.n),
            &Tolerance::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, VerifyError::Element { row: 5, col: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn nan_and_wrong_lengths_fail() {
        let shape = Shape { m: 4, k: 4, n: 4 };
        let (a, b, c) = setup(shape);
        let r = prng::challenge_vector(&[2; 32], 4);
        let mut y = mat_vec_f64(&c, 4, &r);
        y[2] = f64::NAN;
        assert!(freivalds(
            shape,
            rows_of(&a, 4),
            rows_of(&b, 4),
            &r,
            &y,
            &Tolerance::default()
        )
        .is_err());
        let short = &y[..3];
        assert!(matches!(
            freivalds(
                shape,
                rows_of(&a, 4),
                rows_of(&b, 4),
                &r,
                short,
                &Tolerance::default()
            ),
            Err(VerifyError::Length { what: "y", .. })
        ));
    }

    #[test]
    fn seeded_rows_match_materialised_matrix() {
        let shape = Shape { m: 8, k: 33, n: 5 };
        let seed = [9u8; 32];
        let (a, b, c) = setup(shape);
        let r = prng::challenge_vector(&[4; 32], shape.n);
        let y = mat_vec_f64(&c, shape.n, &r);
        freivalds(
            shape,
            seeded_rows(seed, prng::STREAM_A, shape.k),
            seeded_rows(seed, prng::STREAM_B, shape.n),
            &r,
            &y,
            &Tolerance::default(),
        )
        .unwrap();
        let _ = (a, b);
    }

    #[test]
    fn tolerance_scales_with_inner_dimension() {
        assert!((Tolerance::for_inner_dim(1024).rtol - 1.220703125e-4).abs() < 1e-15);
        assert!(Tolerance::for_inner_dim(100_000).rtol > 5e-4);
        assert!(Tolerance::for_inner_dim(16).rtol < 1e-5);
    }

    #[test]
    fn tight_tolerance_accepts_worst_case_honest_products() {
        // Long naive f32 sums of same-signed terms accumulate the most error.
        let shape = Shape {
            m: 3,
            k: 4096,
            n: 2,
        };
        let a: Vec<f32> = (0..shape.m * shape.k)
            .map(|i| 0.5 + (i % 7) as f32 * 0.07)
            .collect();
        let b: Vec<f32> = (0..shape.k * shape.n)
            .map(|i| 0.3 + (i % 5) as f32 * 0.11)
            .collect();
        let c = naive_f32_matmul(&a, &b, shape);
        let samples: Vec<SampledRow> = (0..shape.m)
            .map(|i| SampledRow {
                index: i,
                a_row: a[i * shape.k..(i + 1) * shape.k].to_vec(),
                claimed: c[i * shape.n..(i + 1) * shape.n].to_vec(),
            })
            .collect();
        check_rows(
            shape,
            &samples,
            rows_of(&b, shape.n),
            &Tolerance::for_inner_dim(shape.k),
        )
        .unwrap();
        let r = [1.0f32, -0.5];
        let y = mat_vec_f64(&c, shape.n, &r);
        freivalds(
            shape,
            rows_of(&a, shape.k),
            rows_of(&b, shape.n),
            &r,
            &y,
            &Tolerance::for_inner_dim(shape.k),
        )
        .unwrap();
    }
}
