//! CBOR as the HTTP interface uses it: bodies behind the self-describing tag
//! 55799, and the representation-independent hash (`hash_of_map`) that request
//! ids, delegations and query-response signatures are computed with.
//!
//! Hashes are computed over the CBOR value as received, not over a re-encoding
//! of the fields this server knows, so a request carrying fields added by a
//! newer spec still has the request id its sender signed.

use ciborium::value::{Integer, Value};
use sha2::{Digest, Sha256};

/// The CBOR tag `55799` ("self-described CBOR").
pub const SELF_DESCRIBING_TAG: u64 = 55799;
/// RFC 8949 unsigned bignum.
const BIGNUM_TAG: u64 = 2;

/// Decodes a body, removing the self-describing tag if present.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let value: Value =
        ciborium::from_reader(bytes).map_err(|e| format!("the body is not valid CBOR: {e}"))?;
    Ok(untag(value))
}

fn untag(value: Value) -> Value {
    match value {
        Value::Tag(SELF_DESCRIBING_TAG, inner) => untag(*inner),
        other => other,
    }
}

/// Encodes a value behind the self-describing tag, as the IC sends responses.
pub fn encode_tagged(value: Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Tag(SELF_DESCRIBING_TAG, Box::new(value)), &mut out)
        .expect("writing CBOR to a Vec cannot fail");
    out
}

/// A text-keyed map.
pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.to_string()), v))
            .collect(),
    )
}

/// The representation-independent hash of a value (interface spec,
/// "Representation-independent hashing of structured data").
pub fn hash_value(value: &Value) -> Result<[u8; 32], String> {
    Ok(match value {
        Value::Bytes(b) => Sha256::digest(b).into(),
        Value::Text(t) => Sha256::digest(t.as_bytes()).into(),
        Value::Integer(i) => {
            let i = i128::from(*i);
            let mut buf = Vec::new();
            if i >= 0 {
                leb128::write::unsigned(&mut buf, i as u64).expect("writing to a Vec");
            } else {
                leb128::write::signed(&mut buf, i as i64).expect("writing to a Vec");
            }
            Sha256::digest(&buf).into()
        }
        Value::Tag(BIGNUM_TAG, inner) => {
            let Value::Bytes(be) = inner.as_ref() else {
                return Err("a bignum must hold a byte string".into());
            };
            Sha256::digest(leb128_of_big_endian(be)).into()
        }
        Value::Tag(SELF_DESCRIBING_TAG, inner) => hash_value(inner)?,
        Value::Array(items) => {
            let mut hasher = Sha256::new();
            for item in items {
                hasher.update(hash_value(item)?);
            }
            hasher.finalize().into()
        }
        Value::Map(_) => hash_of_map(value)?,
        other => {
            return Err(format!(
                "a value of this CBOR type cannot be hashed: {other:?}"
            ))
        }
    })
}

/// `hash_of_map`: fields hashed as `H(key) · H(value)`, sorted, concatenated, hashed.
pub fn hash_of_map(value: &Value) -> Result<[u8; 32], String> {
    let Value::Map(entries) = value else {
        return Err("expected a CBOR map".into());
    };
    let mut parts = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let Value::Text(key) = key else {
            return Err("map keys must be text".into());
        };
        let mut part = Vec::with_capacity(64);
        part.extend_from_slice(&Sha256::digest(key.as_bytes()));
        part.extend_from_slice(&hash_value(value)?);
        parts.push(part);
    }
    parts.sort();
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Ok(hasher.finalize().into())
}

/// Unsigned LEB128 of an arbitrarily large big-endian number.
fn leb128_of_big_endian(be: &[u8]) -> Vec<u8> {
    // Little-endian base-256 digits, then regrouped into 7-bit groups.
    let mut bits: Vec<bool> = Vec::new();
    for byte in be.iter().rev() {
        for i in 0..8 {
            bits.push(byte >> i & 1 == 1);
        }
    }
    while bits.last() == Some(&false) {
        bits.pop();
    }
    if bits.is_empty() {
        return vec![0];
    }
    let mut out = Vec::new();
    for chunk in bits.chunks(7) {
        let mut byte = 0u8;
        for (i, bit) in chunk.iter().enumerate() {
            if *bit {
                byte |= 1 << i;
            }
        }
        out.push(byte | 0x80);
    }
    *out.last_mut().expect("not empty") &= 0x7f;
    out
}

/// Field access on a decoded map.
pub struct Fields<'a>(pub &'a [(Value, Value)]);

impl<'a> Fields<'a> {
    pub fn of(value: &'a Value, what: &str) -> Result<Self, String> {
        match value {
            Value::Map(entries) => Ok(Fields(entries)),
            _ => Err(format!("{what} must be a CBOR map")),
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v)
    }

    pub fn bytes(&self, key: &str) -> Result<Option<&'a [u8]>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b)),
            Some(_) => Err(format!("field `{key}` must be a byte string")),
        }
    }

    pub fn required_bytes(&self, key: &str) -> Result<&'a [u8], String> {
        self.bytes(key)?
            .ok_or_else(|| format!("missing field `{key}`"))
    }

    pub fn text(&self, key: &str) -> Result<&'a str, String> {
        match self.get(key) {
            Some(Value::Text(t)) => Ok(t),
            Some(_) => Err(format!("field `{key}` must be a text string")),
            None => Err(format!("missing field `{key}`")),
        }
    }

    pub fn nat(&self, key: &str) -> Result<u64, String> {
        match self.get(key) {
            Some(v) => {
                nat(v).ok_or_else(|| format!("field `{key}` must be a natural number below 2^64"))
            }
            None => Err(format!("missing field `{key}`")),
        }
    }
}

/// A natural number (plain or bignum) that fits in 64 bits.
pub fn nat(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(i) => u64::try_from(i128::from(*i)).ok(),
        Value::Tag(BIGNUM_TAG, inner) => match inner.as_ref() {
            Value::Bytes(be) => {
                let significant: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
                if significant.len() > 8 {
                    return None;
                }
                Some(
                    significant
                        .iter()
                        .fold(0u64, |acc, b| acc << 8 | u64::from(*b)),
                )
            }
            _ => None,
        },
        _ => None,
    }
}

pub fn int(n: u64) -> Value {
    Value::Integer(Integer::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the interface spec ("Request ids").
    #[test]
    fn request_id_of_the_spec_example() {
        let content = map(vec![
            ("request_type", Value::Text("call".into())),
            ("sender", Value::Bytes(vec![0x04])),
            ("ingress_expiry", int(1_685_570_400_000_000_000)),
            (
                "canister_id",
                Value::Bytes(vec![0, 0, 0, 0, 0, 0, 0x04, 0xD2]),
            ),
            ("method_name", Value::Text("hello".into())),
            ("arg", Value::Bytes(b"DIDL\x00\xFD*".to_vec())),
        ]);
        assert_eq!(
            hex::encode(hash_of_map(&content).unwrap()),
            "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101"
        );
    }

    #[test]
    fn leb128_of_bignums_matches_u64_encoding() {
        for n in [0u64, 1, 127, 128, 624_485, u64::MAX] {
            let mut expected = Vec::new();
            leb128::write::unsigned(&mut expected, n).unwrap();
            assert_eq!(leb128_of_big_endian(&n.to_be_bytes()), expected, "{n}");
        }
        assert_eq!(
            nat(&Value::Tag(2, Box::new(Value::Bytes(vec![0, 1, 0])))),
            Some(256)
        );
    }

    #[test]
    fn self_describing_tag_is_optional_on_input() {
        let tagged = encode_tagged(map(vec![("a", int(1))]));
        let mut plain = Vec::new();
        ciborium::into_writer(&map(vec![("a", int(1))]), &mut plain).unwrap();
        assert_eq!(decode(&tagged).unwrap(), decode(&plain).unwrap());
        assert_eq!(&tagged[..3], &[0xd9, 0xd9, 0xf7]);
    }
}
