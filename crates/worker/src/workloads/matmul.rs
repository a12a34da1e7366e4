//! f32 GEMM: the `gemm` crate on the CPU (AVX2/AVX-512/FMA kernels, rayon
//! threads), candle's cuBLAS path on a GPU with the `cuda` feature.
//!
//! Each output element is one dot product whose summation order depends only
//! on the shape and thread count, so reruns reproduce C bit for bit. TF32 is
//! kept off on the GPU: its 10-bit mantissa breaks the verification tolerance.

use super::ProgressFn;
use crate::config::DeviceSpec;
use anyhow::ensure;
use tensormine_core::verify::Shape;

/// Multiplies matrices on one device.
#[derive(Debug, Clone)]
pub struct MatmulEngine {
    device: DeviceSpec,
    threads: usize,
}

/// Rows of C computed per progress step.
fn rows_per_step(m: usize) -> usize {
    m.div_ceil(16).max(256).min(m.max(1))
}

impl MatmulEngine {
    /// An engine on `device` using `threads` CPU threads.
    pub fn new(device: DeviceSpec, threads: usize) -> Self {
        Self {
            device,
            threads: threads.max(1),
        }
    }

    /// `A·B` (row-major), reporting progress in row blocks.
    pub fn multiply(
        &self,
        shape: Shape,
        a: &[f32],
        b: &[f32],
        progress: ProgressFn<'_>,
    ) -> anyhow::Result<Vec<f32>> {
        ensure!(
            a.len() == shape.m * shape.k,
            "A has {} values, expected {}×{}",
            a.len(),
            shape.m,
            shape.k
        );
        ensure!(
            b.len() == shape.k * shape.n,
            "B has {} values, expected {}×{}",
            b.len(),
            shape.k,
            shape.n
        );
        match self.device {
            DeviceSpec::Cpu => Ok(self.multiply_cpu(shape, a, b, progress)),
            DeviceSpec::Cuda(ordinal) => multiply_cuda(ordinal, shape, a, b, progress),
        }
    }

    fn multiply_cpu(
        &self,
        shape: Shape,
        a: &[f32],
        b: &[f32],
        progress: ProgressFn<'_>,
    ) -> Vec<f32> {
        let mut c = vec![0f32; shape.m * shape.n];
        let step = rows_per_step(shape.m);
        let steps = shape.m.div_ceil(step) as u64;
        for (i, (a_rows, c_rows)) in a
            .chunks(step * shape.k)
            .zip(c.chunks_mut(step * shape.n))
            .enumerate()
        {
            let rows = a_rows.len() / shape.k.max(1);
            gemm_rows(rows, shape.k, shape.n, a_rows, b, c_rows, self.threads);
            progress(i as u64 + 1, steps);
        }
        c
    }
}

/// `c = a·b` for row-major `a` (m×k), `b` (k×n), `c` (m×n).
fn gemm_rows(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the slices have exactly the lengths the strides describe (checked
    // above); row-major means column stride 1 and row stride = columns. With
    // read_dst = false the destination is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(feature = "cuda")]
fn multiply_cuda(
    ordinal: usize,
    shape: Shape,
    a: &[f32],
    b: &[f32],
    progress: ProgressFn<'_>,
) -> anyhow::Result<Vec<f32>> {
    use candle_core::{Device, Tensor};
    candle_core::cuda_backend::set_gemm_reduced_precision_f32(false);
    let device = Device::new_cuda(ordinal)?;
    let a = Tensor::from_slice(a, (shape.m, shape.k), &device)?;
    let b = Tensor::from_slice(b, (shape.k, shape.n), &device)?;
    let c = a.matmul(&b)?.flatten_all()?.to_vec1::<f32>()?;
    progress(1, 1);
    Ok(c)
}

#[cfg(not(feature = "cuda"))]
fn multiply_cuda(
    ordinal: usize,
    _: Shape,
    _: &[f32],
    _: &[f32],
    _: ProgressFn<'_>,
) -> anyhow::Result<Vec<f32>> {
    anyhow::bail!("device cuda:{ordinal} needs a worker built with the `cuda` feature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensormine_core::prng;
    use tensormine_core::verify::{reference_matmul, Tolerance};

    #[test]
    fn cpu_gemm_matches_reference_within_tolerance() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (300, 129, 65), (513, 64, 2)] {
            let shape = Shape { m, k, n };
            let a = prng::matrix(&[1; 32], prng::STREAM_A, m, k);
            let b = prng::matrix(&[1; 32], prng::STREAM_B, k, n);
            let steps = std::sync::Mutex::new(Vec::new());
            let c = MatmulEngine::new(DeviceSpec::Cpu, 2)
                .multiply(shape, &a, &b, &|d, t| steps.lock().unwrap().push((d, t)))
                .unwrap();
            let expected = reference_matmul(&a, &b, shape);
            let tol = Tolerance::default();
            for (x, y) in c.iter().zip(&expected) {
                assert!(
                    tol.accepts(*x as f64, *y as f64, k as f64),
                    "{m}x{k}x{n}: {x} vs {y}"
                );
            }
            let steps = steps.into_inner().unwrap();
            assert_eq!(steps.last().map(|s| s.0 == s.1), Some(true));
        }
    }

    #[test]
    fn results_are_reproducible() {
        let shape = Shape {
            m: 200,
            k: 300,
            n: 100,
        };
        let a = prng::matrix(&[2; 32], prng::STREAM_A, 200, 300);
        let b = prng::matrix(&[2; 32], prng::STREAM_B, 300, 100);
        let engine = MatmulEngine::new(DeviceSpec::Cpu, 2);
        assert_eq!(
            engine.multiply(shape, &a, &b, &|_, _| {}).unwrap(),
            engine.multiply(shape, &a, &b, &|_, _| {}).unwrap()
        );
    }

    #[test]
    fn wrong_operand_sizes_are_errors() {
        let shape = Shape { m: 2, k: 2, n: 2 };
        assert!(MatmulEngine::new(DeviceSpec::Cpu, 1)
            .multiply(shape, &[0.0; 3], &[0.0; 4], &|_, _| {})
            .is_err());
    }
}
