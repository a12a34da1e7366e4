//! 32-byte digests (sha256 outputs, Merkle roots, spec hashes) with a
//! lowercase-hex JSON form.

use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A 32-byte digest. Serialises as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest32(pub [u8; 32]);

/// Why a string is not a valid [`Digest32`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string does not have the expected number of characters.
    #[error("expected {expected} hex characters, got {got}")]
    Length {
        /// Characters required.
        expected: usize,
        /// Characters found.
        got: usize,
    },
    /// A character outside `0-9a-fA-F`.
    #[error("invalid hex character {0:?}")]
    Character(char),
}

impl Digest32 {
    /// sha256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        let bytes = from_hex(text)?;
        let array: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| HexError::Length {
            expected: 64,
            got: v.len() * 2,
        })?;
        Ok(Self(array))
    }
}

/// Lowercase hex of arbitrary bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

/// Decodes hex (either case) of even length.
pub fn from_hex(text: &str) -> Result<Vec<u8>, HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::Length {
            expected: text.len() + 1,
            got: text.len(),
        });
    }
    let nibble = |c: char| {
        c.to_digit(16)
            .map(|d| d as u8)
            .ok_or(HexError::Character(c))
    };
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(2)
        .map(|pair| Ok((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

impl fmt::Debug for Digest32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest32({})", self.to_hex())
    }
}

impl fmt::Display for Digest32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Digest32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest32::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let d = Digest32::sha256(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest32::from_hex(&d.to_hex().to_uppercase()).unwrap(), d);
        assert!(matches!(
            Digest32::from_hex("abcd"),
            Err(HexError::Length { .. })
        ));
        assert!(matches!(
            Digest32::from_hex(&"zz".repeat(32)),
            Err(HexError::Character('z'))
        ));
    }

    #[test]
    fn serde_is_hex_string() {
        let d = Digest32([0xab; 32]);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Digest32>(&json).unwrap(), d);
    }
}
