//! The seeded input generator.
//!
//! # Specification (v1)
//!
//! Element `k` (row-major index, `k = row * cols + col`) of a seeded matrix is
//! derived from a 32-byte `seed` and a 64-bit `stream` id as follows:
//!
//! 1. Run the ChaCha20 block function (D. J. Bernstein's original layout: 20
//!    rounds; state words 0–3 the constants `"expand 32-byte k"`, words 4–11
//!    the seed as eight little-endian u32, words 12–13 a 64-bit block counter,
//!    words 14–15 the 64-bit stream id, both little-endian low word first) with
//!    block counter `k / 16`.
//! 2. Take output word `w = block[k % 16]` (the serialized keystream read as
//!    little-endian u32 — this is exactly `rand_chacha::ChaCha20Rng` with
//!    `set_stream(stream)` and `set_word_pos(k)`).
//! 3. Map it to `f32`: `((w >> 8) as f32) * 2^-23 - 1.0`, a value in
//!    `[-1, 1)` that is a multiple of `2^-23`. Every step is exact, so all
//!    platforms (x86, wasm32) produce identical bits.
//!
//! The stream ids separate matrices drawn from one seed: [`STREAM_A`] for the
//! left operand, [`STREAM_B`] for the right one and [`STREAM_R`] for a
//! Freivalds challenge vector. Because any block can be computed on its own,
//! a canister regenerates one row of A in `cols / 16` block evaluations.

/// Stream id of the left matrix `A` ("A").
pub const STREAM_A: u64 = 0x41;
/// Stream id of the right matrix `B` ("B").
pub const STREAM_B: u64 = 0x42;
/// Stream id of a Freivalds challenge vector `r` ("R").
pub const STREAM_R: u64 = 0x52;

const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
const WORDS_PER_BLOCK: u64 = 16;

#[inline(always)]
fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The ChaCha20 block function with a 64-bit counter and a 64-bit stream id.
pub fn chacha20_block(seed: &[u8; 32], counter: u64, stream: u64) -> [u32; 16] {
    let mut input = [0u32; 16];
    input[..4].copy_from_slice(&CONSTANTS);
    for (word, bytes) in input[4..12].iter_mut().zip(seed.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    input[12] = counter as u32;
    input[13] = (counter >> 32) as u32;
    input[14] = stream as u32;
    input[15] = (stream >> 32) as u32;
    let mut state = input;
    for _ in 0..10 {
        quarter_round(&mut state, 0, 4, 8, 12);
        quarter_round(&mut state, 1, 5, 9, 13);
        quarter_round(&mut state, 2, 6, 10, 14);
        quarter_round(&mut state, 3, 7, 11, 15);
        quarter_round(&mut state, 0, 5, 10, 15);
        quarter_round(&mut state, 1, 6, 11, 12);
        quarter_round(&mut state, 2, 7, 8, 13);
        quarter_round(&mut state, 3, 4, 9, 14);
    }
    for (out, inp) in state.iter_mut().zip(input.iter()) {
        *out = out.wrapping_add(*inp);
    }
    state
}

/// Maps a keystream word to an f32 in `[-1, 1)` (step 3 of the spec).
#[inline]
pub fn word_to_f32(word: u32) -> f32 {
    ((word >> 8) as f32) * (1.0 / 8_388_608.0) - 1.0
}

/// Fills `out` with elements `start .. start + out.len()` of the stream.
pub fn fill_range(seed: &[u8; 32], stream: u64, start: u64, out: &mut [f32]) {
    let mut index = start;
    let mut filled = 0;
    while filled < out.len() {
        let block = chacha20_block(seed, index / WORDS_PER_BLOCK, stream);
        let offset = (index % WORDS_PER_BLOCK) as usize;
        let take = (16 - offset).min(out.len() - filled);
        for (dst, word) in out[filled..filled + take]
            .iter_mut()
            .zip(&block[offset..offset + take])
        {
            *dst = word_to_f32(*word);
        }
        filled += take;
        index += take as u64;
    }
}

/// One element of a seeded stream.
pub fn element(seed: &[u8; 32], stream: u64, index: u64) -> f32 {
    word_to_f32(
        chacha20_block(seed, index / WORDS_PER_BLOCK, stream)[(index % WORDS_PER_BLOCK) as usize],
    )
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
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn matches_rand_chacha_at_arbitrary_positions() {
        let seed = [7u8; 32];
        for &(stream, pos) in &[
            (0u64, 0u64),
            (STREAM_A, 5),
            (STREAM_B, 17),
            (STREAM_R, 1_000_003),
            (u64::MAX, 64),
        ] {
            let mut rng = ChaCha20Rng::from_seed(seed);
            rng.set_stream(stream);
            rng.set_word_pos(pos as u128);
            let expected = rng.next_u32();
            let block = chacha20_block(&seed, pos / 16, stream);
            assert_eq!(
                block[(pos % 16) as usize],
                expected,
                "stream {stream} pos {pos}"
            );
        }
    }

    #[test]
    fn rfc7539_style_known_answer() {
        // Zero key, zero counter, zero nonce: first keystream words of ChaCha20
        // (RFC 7539 test vector A.1 #1, identical in the original layout).
        let block = chacha20_block(&[0; 32], 0, 0);
        assert_eq!(block[0], u32::from_le_bytes([0x76, 0xb8, 0xe0, 0xad]));
        assert_eq!(block[1], u32::from_le_bytes([0xa0, 0xf1, 0x3d, 0x90]));
        assert_eq!(block[2], u32::from_le_bytes([0x40, 0x5d, 0x6a, 0xe5]));
        assert_eq!(block[3], u32::from_le_bytes([0x53, 0x86, 0xbd, 0x28]));
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
