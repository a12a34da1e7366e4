//! Values in stable structures: [`Cbor`] stores any serde type as CBOR
//! (unbounded size), the encoding every tensormine canister uses for its
//! stable maps and cells, so old records keep decoding after fields are
//! added with `#[serde(default)]`.

use ic_stable_structures::storable::Bound;
use ic_stable_structures::Storable;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;

/// A value stored as CBOR.
#[derive(Debug, Clone, PartialEq)]
pub struct Cbor<T>(pub T);

impl<T: Serialize + DeserializeOwned> Storable for Cbor<T> {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.encode())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.encode()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        // Only what this code wrote is read back; a value that does not
        // decode is a bug, and trapping keeps the state as it was.
        Cbor(ciborium::de::from_reader(bytes.as_ref()).expect("stable CBOR value decodes"))
    }
    const BOUND: Bound = Bound::Unbounded;
}

impl<T: Serialize> Cbor<T> {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&self.0, &mut out).expect("CBOR encoding to memory succeeds");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let v = Cbor((7u64, "job-1".to_string(), vec![1u8, 2, 3]));
        let back = Cbor::<(u64, String, Vec<u8>)>::from_bytes(v.to_bytes());
        assert_eq!(back, v);
        assert_eq!(v.clone().into_bytes(), v.to_bytes().into_owned());
    }
}
