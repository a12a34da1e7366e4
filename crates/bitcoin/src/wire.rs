//! Consensus encoding primitives: compact-size integers and the sinks
//! encoded bytes go to (a buffer, the txid hasher, a byte counter).

use crate::hash::Sha256d;

/// The number of bytes of a compact-size integer.
pub fn compact_size_len(n: usize) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Where encoded bytes go: a buffer, a hasher, or a counter.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256d {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

#[derive(Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

pub(crate) fn put_compact_size(n: usize, s: &mut impl Sink) {
    match compact_size_len(n) {
        1 => s.put(&[n as u8]),
        3 => {
            s.put(&[0xfd]);
            s.put(&(n as u16).to_le_bytes());
        }
        5 => {
            s.put(&[0xfe]);
            s.put(&(n as u32).to_le_bytes());
        }
        _ => {
            s.put(&[0xff]);
            s.put(&(n as u64).to_le_bytes());
        }
    }
}
