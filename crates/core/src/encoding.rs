//! Byte layouts of float arrays: little-endian IEEE 754, and their base64
//! (standard alphabet, padded) JSON form, which keeps challenge answers under
//! the IC's 2 MB response limit (a 1024-wide f32 row is 5.3 kB instead of ≈ 12 kB
//! of decimal text) and round-trips bit-exactly.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// f32 values as little-endian bytes.
pub fn f32_to_le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes as f32 values; `None` if the length is not a multiple of 4.
pub fn f32_from_le_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    bytes.len().is_multiple_of(4).then(|| {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

/// f64 values as little-endian bytes.
pub fn f64_to_le_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes as f64 values; `None` if the length is not a multiple of 8.
pub fn f64_from_le_bytes(bytes: &[u8]) -> Option<Vec<f64>> {
    bytes.len().is_multiple_of(8).then(|| {
        bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    })
}

/// An f32 array that serialises as base64 of its little-endian bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct F32Array(pub Vec<f32>);

/// An f64 array that serialises as base64 of its little-endian bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct F64Array(pub Vec<f64>);

impl Serialize for F32Array {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&B64.encode(f32_to_le_bytes(&self.0)))
    }
}

impl<'de> Deserialize<'de> for F32Array {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = B64
            .decode(String::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)?;
        f32_from_le_bytes(&bytes).map(Self).ok_or_else(|| {
            serde::de::Error::custom("f32 array length is not a multiple of 4 bytes")
        })
    }
}

impl Serialize for F64Array {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&B64.encode(f64_to_le_bytes(&self.0)))
    }
}

impl<'de> Deserialize<'de> for F64Array {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = B64
            .decode(String::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)?;
        f64_from_le_bytes(&bytes).map(Self).ok_or_else(|| {
            serde::de::Error::custom("f64 array length is not a multiple of 8 bytes")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_bit_exactly() {
        let f = F32Array(vec![1.5, -0.0, f32::MIN_POSITIVE, 3.0e38]);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.starts_with("\"AADAPw"), "{json}");
        assert_eq!(
            serde_json::to_string(&F32Array(vec![1.5])).unwrap(),
            "\"AADAPw==\""
        );
        assert_eq!(serde_json::from_str::<F32Array>(&json).unwrap(), f);
        let d = F64Array(vec![0.1, -2.5e300]);
        assert_eq!(
            serde_json::from_str::<F64Array>(&serde_json::to_string(&d).unwrap()).unwrap(),
            d
        );
        assert!(serde_json::from_str::<F32Array>("\"AAA=\"").is_err());
    }
}
