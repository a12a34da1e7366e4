//! The seeded input generator.
//!
//! # Specification (v1)
//!
//! Element `k` (row-major index, `k = row * cols + col`) of a seeded matrix is
//! derived from a 32-byte `seed` and a 64-bit `stream` id as follows:
//!
//! 1. Run ChaCha20 (D. J. Bernstein's original layout: 20 rounds, the seed as
//!    key, a 64-bit block counter and the 64-bit stream id as nonce) — this is
//!    `rand_chacha::ChaCha20Rng::from_seed(seed)` with `set_stream(stream)`.
//! 2. Take keystream word `k` read as a little-endian u32 (`set_word_pos(k)`,
//!    then `next_u32()`); it lies in block `k / 16` at word `k % 16`.
//! 3. Map it to `f32`: `((w >> 8) as f32) * 2^-23 - 1.0`, a value in
//!    `[-1, 1)` that is a multiple of `2^-23`. Every step is exact, so all
//!    platforms (x86, wasm32) produce identical bits.
//!
//! The stream ids separate matrices drawn from one seed: [`STREAM_A`] for the
//! left operand, [`STREAM_B`] for the right one and [`STREAM_R`] for a
//! Freivalds challenge vector. Because any block can be computed on its own,
//! a canister regenerates one row of A in `cols / 16` block evaluations.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Stream id of the left matrix `A` ("A").
pub const STREAM_A: u64 = 0x41;
/// Stream id of the right matrix `B` ("B").
pub const STREAM_B: u64 = 0x42;
/// Stream id of a Freivalds challenge vector `r` ("R").
pub const STREAM_R: u64 = 0x52;

/// The generator positioned at element `index` of `stream`.
fn generator(seed: &[u8; 32], stream: u64, index: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    rng.set_stream(stream);
    rng.set_word_pos(u128::from(index));
    rng
}

/// Maps a keystream word to an f32 in `[-1, 1)` (step 3 of the spec).
#[inline]
pub fn word_to_f32(word: u32) -> f32 {
    ((word >> 8) as f32) * (1.0 / 8_388_608.0) - 1.0
}

/// Fills `out` with elements `start .. start + out.len()` of the stream.
pub fn fill_range(seed: &[u8; 32], stream: u64, start: u64, out: &mut [f32]) {
    let mut rng = generator(seed, stream, start);
    for value in out {
        *value = word_to_f32(rng.next_u32());
    }
}

/// One element of a seeded stream.
pub fn element(seed: &[u8; 32], stream: u64, index: u64) -> f32 {
    word_to_f32(generator(seed, stream, index).next_u32())
}

/// A whole `rows × cols` seeded matrix, row-major.
pub fn matrix(seed: &[u8; 32], stream: u64, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    fill_range(seed, stream, 0, &mut out);
    out
}

/// Row `row` of a seeded matrix with `cols` columns.
pub fn matrix_row(seed: &[u8; 32], stream: u64, cols: usize, row: usize) -> Vec<f32> {
    let mut out = vec![0.0; cols];
    fill_range(seed, stream, (row as u64) * (cols as u64), &mut out);
    out
}

/// A Freivalds challenge vector of length `len` from `seed` ([`STREAM_R`]).
pub fn challenge_vector(seed: &[u8; 32], len: usize) -> Vec<f32> {
    matrix(seed, STREAM_R, 1, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7539_known_answer_through_the_mapping() {
        // Zero key, counter and stream: the first ChaCha20 keystream words of
        // RFC 7539 test vector A.1 #1, seen through step 3 of the spec.
        let mut out = [0f32; 2];
        fill_range(&[0; 32], 0, 0, &mut out);
        assert_eq!(
            out[0],
            word_to_f32(u32::from_le_bytes([0x76, 0xb8, 0xe0, 0xad]))
        );
        assert_eq!(
            out[1],
            word_to_f32(u32::from_le_bytes([0xa0, 0xf1, 0x3d, 0x90]))
        );
    }

    #[test]
    fn positions_are_independent_of_how_the_range_is_cut() {
        let seed = [7u8; 32];
        let mut whole = vec![0f32; 100];
        fill_range(&seed, STREAM_R, 1_000_003, &mut whole);
        for (i, value) in whole.iter().enumerate() {
            assert_eq!(element(&seed, STREAM_R, 1_000_003 + i as u64), *value);
        }
        assert_ne!(element(&seed, u64::MAX, 64), element(&seed, 0, 64));
    }

    #[test]
    fn word_mapping_range_and_exactness() {
        assert_eq!(word_to_f32(0), -1.0);
        assert_eq!(word_to_f32(u32::MAX), 1.0 - 1.0 / 8_388_608.0);
        assert_eq!(word_to_f32(0x8000_0000), 0.0);
    }

    #[test]
    fn rows_and_elements_agree_with_whole_matrix() {
        let seed = [3u8; 32];
        let (rows, cols) = (5, 37);
        let m = matrix(&seed, STREAM_A, rows, cols);
        for r in 0..rows {
            assert_eq!(
                matrix_row(&seed, STREAM_A, cols, r),
                m[r * cols..(r + 1) * cols]
            );
        }
        assert_eq!(element(&seed, STREAM_A, 100), m[100]);
        assert_ne!(matrix(&seed, STREAM_B, rows, cols), m);
    }
}
