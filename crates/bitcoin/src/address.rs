//! Bitcoin addresses: parsing and validation for a network, encoding,
//! scriptPubKeys and dust thresholds.
//!
//! Supported: P2WPKH and P2WSH (segwit v0, BIP-173 bech32), P2TR (segwit v1
//! with a 32-byte program, BIP-350 bech32m), P2PKH and P2SH (base58check).
//! Other witness versions and v1 programs that are not 32 bytes long are valid
//! addresses but not standard outputs we would pay to: they are refused with
//! [`AddressError::UnsupportedWitnessVersion`] or
//! [`AddressError::UnsupportedWitnessProgram`].

use crate::hash::hash160;
use crate::network::Network;
use bech32::primitives::decode::{
    CharError, ChecksumError, SegwitHrpstringError, UncheckedHrpstring, UncheckedHrpstringError,
};
use bech32::{segwit, Bech32, Bech32m, Fe32, Hrp};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// The longest address accepted: bech32's limit of 90 characters (base58
/// addresses are at most 35).
pub const MAX_ADDRESS_LEN: usize = 90;

/// Bitcoin Core's default `-dustrelayfee`, in satoshi per 1000 virtual bytes.
pub const DUST_RELAY_FEE_SAT_PER_KVB: u64 = 3_000;

/// A destination address, without its network (parse it with
/// [`BitcoinAddress::parse`] for a network; print it with
/// [`BitcoinAddress::encode`]).
#[derive(
    CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub enum BitcoinAddress {
    /// Pay to witness public key hash (segwit v0, 20-byte program): `bc1q…` (42 characters).
    P2wpkh([u8; 20]),
    /// Pay to witness script hash (segwit v0, 32-byte program): `bc1q…` (62 characters).
    P2wsh([u8; 32]),
    /// Pay to taproot (segwit v1, the 32-byte x-only output key): `bc1p…`.
    P2tr([u8; 32]),
    /// Pay to public key hash (legacy): `1…`, `m…`/`n…`.
    P2pkh([u8; 20]),
    /// Pay to script hash (legacy): `3…`, `2…`.
    P2sh([u8; 20]),
}

/// The kind of an address.
#[derive(CandidType, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// Segwit v0 key hash.
    P2wpkh,
    /// Segwit v0 script hash.
    P2wsh,
    /// Segwit v1 taproot.
    P2tr,
    /// Legacy key hash.
    P2pkh,
    /// Legacy script hash.
    P2sh,
}

/// The two checksums of segwit addresses.
#[derive(CandidType, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bech32Variant {
    /// BIP-173: witness version 0.
    Bech32,
    /// BIP-350: witness versions 1 to 16.
    Bech32m,
}

impl std::fmt::Display for Bech32Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bech32Variant::Bech32 => "bech32",
            Bech32Variant::Bech32m => "bech32m",
        })
    }
}

/// Why an address was refused.
#[derive(CandidType, Serialize, Deserialize, thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// The empty string.
    #[error("the address is empty")]
    Empty,
    /// Longer than [`MAX_ADDRESS_LEN`].
    #[error("the address is {length} characters long; the longest valid address has {max}")]
    TooLong {
        /// Its length in bytes.
        length: u32,
        /// [`MAX_ADDRESS_LEN`].
        max: u32,
    },
    /// A character outside the address's alphabet (or not ASCII).
    #[error("invalid character {character:?} at position {position}")]
    InvalidCharacter {
        /// The character.
        character: String,
        /// Its byte offset in the address.
        position: u32,
    },
    /// A segwit address mixing upper and lower case.
    #[error("the address mixes upper and lower case")]
    MixedCase,
    /// A valid address of another network.
    #[error("a {found} address, but the network is {expected}")]
    WrongNetwork {
        /// The configured network.
        expected: Network,
        /// The address's network.
        found: Network,
    },
    /// A well-formed bech32 string whose human-readable part is none of
    /// `bc`, `tb` or `bcrt`.
    #[error("unknown human-readable part {hrp:?} (expected bc, tb or bcrt)")]
    UnknownHrp {
        /// The human-readable part.
        hrp: String,
    },
    /// A base58check payload whose version byte is not a P2PKH or P2SH version.
    #[error("unknown base58 version byte {version:#04x}")]
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// The checksum does not match: a typo, or not an address.
    #[error("bad checksum")]
    BadChecksum,
    /// A segwit address with the other checksum: bech32m for witness version
    /// 0, or bech32 for versions 1 and up (BIP-350).
    #[error("witness version {version} requires a {expected} checksum, but the address has a {found} checksum")]
    WrongChecksumVariant {
        /// The witness version.
        version: u8,
        /// The checksum that version requires.
        expected: Bech32Variant,
        /// The checksum the address has.
        found: Bech32Variant,
    },
    /// A witness version above 16: not a segwit address.
    #[error("invalid witness version {version} (at most 16)")]
    InvalidWitnessVersion {
        /// The version.
        version: u8,
    },
    /// A valid segwit address of a witness version we do not pay to (2 to 16).
    #[error(
        "unsupported witness version {version}: only v0 (P2WPKH, P2WSH) and v1 (P2TR) are accepted"
    )]
    UnsupportedWitnessVersion {
        /// The version.
        version: u8,
    },
    /// A valid v1 address whose program is not 32 bytes: not taproot.
    #[error("unsupported witness v{version} program of {length} bytes (P2TR has 32)")]
    UnsupportedWitnessProgram {
        /// The version.
        version: u8,
        /// The program's length in bytes.
        length: u32,
    },
    /// A witness program of a length its version forbids (v0: 20 or 32 bytes;
    /// others: 2 to 40 bytes).
    #[error("invalid witness program length {length} for witness version {version}")]
    InvalidProgramLength {
        /// The version.
        version: u8,
        /// The program's length in bytes.
        length: u32,
    },
    /// Extra or non-zero padding bits at the end of a segwit program.
    #[error("invalid padding of the witness program")]
    InvalidPadding,
    /// A base58check payload that is not 21 bytes (version + 20-byte hash).
    #[error("base58 payload of {length} bytes (expected 21: a version byte and a 20-byte hash)")]
    InvalidLength {
        /// The payload's length, without the checksum.
        length: u32,
    },
    /// Another malformation of a bech32 string (no separator, no data, ...).
    #[error("malformed segwit address: {reason}")]
    MalformedBech32 {
        /// What is wrong, as the bech32 decoder says it.
        reason: String,
    },
    /// Not a compressed secp256k1 public key (33 bytes, 0x02/0x03 prefix, on the curve).
    #[error("not a compressed secp256k1 public key: {reason}")]
    InvalidPublicKey {
        /// What is wrong.
        reason: String,
    },
}

impl BitcoinAddress {
    /// Parses and validates `address` as an address of `network` that this
    /// crate can pay to.
    ///
    /// Segwit addresses may be all lower or all upper case. Testnet and
    /// regtest share base58 version bytes, so `m…`/`n…`/`2…` addresses are
    /// valid on both; bech32 addresses are only valid with their network's
    /// human-readable part (`bc`, `tb`, `bcrt`).
    pub fn parse(address: &str, network: Network) -> Result<Self, AddressError> {
        if address.is_empty() {
            return Err(AddressError::Empty);
        }
        if address.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong {
                length: address.len() as u32,
                max: MAX_ADDRESS_LEN as u32,
            });
        }
        if let Some((position, character)) = address.char_indices().find(|(_, c)| !c.is_ascii()) {
            return Err(AddressError::InvalidCharacter {
                character: character.to_string(),
                position: position as u32,
            });
        }
        let lower = address.to_ascii_lowercase();
        if ["bc1", "tb1", "bcrt1"].iter().any(|p| lower.starts_with(p)) {
            return parse_segwit(address, network);
        }
        // Not a known segwit prefix. A well-formed bech32 string with some
        // other human-readable part gets a precise error; anything else is
        // treated as base58check.
        if let Ok(unchecked) = UncheckedHrpstring::new(address) {
            if !unchecked.data_part_ascii().is_empty()
                && (unchecked.has_valid_checksum::<Bech32>()
                    || unchecked.has_valid_checksum::<Bech32m>())
            {
                return Err(AddressError::UnknownHrp {
                    hrp: unchecked.hrp().to_string(),
                });
            }
        }
        parse_base58(address, network)
    }

    /// The P2WPKH address of a compressed (33-byte SEC1) secp256k1 public key:
    /// the key hash is HASH160 (RIPEMD-160 of SHA-256) of the 33 bytes.
    pub fn p2wpkh_from_public_key(public_key: &[u8]) -> Result<Self, AddressError> {
        validate_compressed_public_key(public_key)?;
        Ok(BitcoinAddress::P2wpkh(hash160(public_key)))
    }

    /// The kind of this address.
    pub fn kind(&self) -> AddressKind {
        match self {
            BitcoinAddress::P2wpkh(_) => AddressKind::P2wpkh,
            BitcoinAddress::P2wsh(_) => AddressKind::P2wsh,
            BitcoinAddress::P2tr(_) => AddressKind::P2tr,
            BitcoinAddress::P2pkh(_) => AddressKind::P2pkh,
            BitcoinAddress::P2sh(_) => AddressKind::P2sh,
        }
    }

    /// The address as a string for `network` (segwit addresses in lower case).
    pub fn encode(&self, network: Network) -> String {
        let hrp = || Hrp::parse(network.bech32_hrp()).expect("constant hrp is valid");
        let segwit_encode = |version: Fe32, program: &[u8]| {
            segwit::encode(hrp(), version, program)
                .expect("a 20- or 32-byte program of version 0 or 1 always encodes")
        };
        let base58_encode = |version: u8, hash: &[u8; 20]| {
            let mut payload = Vec::with_capacity(21);
            payload.push(version);
            payload.extend_from_slice(hash);
            bs58::encode(payload).with_check().into_string()
        };
        match self {
            BitcoinAddress::P2wpkh(h) => segwit_encode(Fe32::Q, h),
            BitcoinAddress::P2wsh(h) => segwit_encode(Fe32::Q, h),
            BitcoinAddress::P2tr(k) => segwit_encode(Fe32::P, k),
            BitcoinAddress::P2pkh(h) => base58_encode(network.p2pkh_version(), h),
            BitcoinAddress::P2sh(h) => base58_encode(network.p2sh_version(), h),
        }
    }

    /// The scriptPubKey (locking script) of an output paying to this address.
    ///
    /// | kind   | script                                              | bytes |
    /// |--------|-----------------------------------------------------|-------|
    /// | P2WPKH | `OP_0 <20>`                                         | 22    |
    /// | P2WSH  | `OP_0 <32>`                                         | 34    |
    /// | P2TR   | `OP_1 <32>`                                         | 34    |
    /// | P2PKH  | `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG` | 25    |
    /// | P2SH   | `OP_HASH160 <20> OP_EQUAL`                          | 23    |
    pub fn script_pubkey(&self) -> Vec<u8> {
        const OP_0: u8 = 0x00;
        const OP_1: u8 = 0x51;
        const OP_DUP: u8 = 0x76;
        const OP_HASH160: u8 = 0xa9;
        const OP_EQUAL: u8 = 0x87;
        const OP_EQUALVERIFY: u8 = 0x88;
        const OP_CHECKSIG: u8 = 0xac;
        let mut s = Vec::with_capacity(34);
        match self {
            BitcoinAddress::P2wpkh(h) => {
                s.extend_from_slice(&[OP_0, 20]);
                s.extend_from_slice(h);
            }
            BitcoinAddress::P2wsh(h) => {
                s.extend_from_slice(&[OP_0, 32]);
                s.extend_from_slice(h);
            }
            BitcoinAddress::P2tr(k) => {
                s.extend_from_slice(&[OP_1, 32]);
                s.extend_from_slice(k);
            }
            BitcoinAddress::P2pkh(h) => {
                s.extend_from_slice(&[OP_DUP, OP_HASH160, 20]);
                s.extend_from_slice(h);
                s.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
            }
            BitcoinAddress::P2sh(h) => {
                s.extend_from_slice(&[OP_HASH160, 20]);
                s.extend_from_slice(h);
                s.push(OP_EQUAL);
            }
        }
        s
    }

    /// The length of [`Self::script_pubkey`] in bytes.
    pub fn script_pubkey_len(&self) -> usize {
        match self {
            BitcoinAddress::P2wpkh(_) => 22,
            BitcoinAddress::P2wsh(_) | BitcoinAddress::P2tr(_) => 34,
            BitcoinAddress::P2pkh(_) => 25,
            BitcoinAddress::P2sh(_) => 23,
        }
    }

    /// Whether the scriptPubKey is a witness program (segwit).
    pub fn is_segwit(&self) -> bool {
        matches!(
            self,
            BitcoinAddress::P2wpkh(_) | BitcoinAddress::P2wsh(_) | BitcoinAddress::P2tr(_)
        )
    }

    /// The serialized size of an output paying to this address: 8-byte
    /// value, compact-size script length, script.
    pub fn output_size(&self) -> usize {
        let script = self.script_pubkey_len();
        8 + crate::wire::compact_size_len(script) + script
    }

    /// Bitcoin Core's dust threshold for an output to this address: an output
    /// whose value is below it is not relayed.
    ///
    /// Core (`GetDustThreshold`, policy.cpp) charges the output's own size
    /// plus the size of a typical input spending it, at the dust relay fee of
    /// 3 sat/vB: `3 × (output size + spend size)`, where the spend size is
    /// 148 bytes for non-witness outputs (outpoint 36 + script length 1 +
    /// a 107-byte scriptSig + sequence 4) and 67 for witness programs (the
    /// same with the 107 witness bytes discounted to 107/4 = 26). So:
    ///
    /// | kind   | output | spend | threshold |
    /// |--------|--------|-------|-----------|
    /// | P2WPKH | 31     | 67    | 294       |
    /// | P2WSH  | 43     | 67    | 330       |
    /// | P2TR   | 43     | 67    | 330       |
    /// | P2PKH  | 34     | 148   | 546       |
    /// | P2SH   | 32     | 148   | 540       |
    ///
    /// Core calls an output dust when `value < threshold`; this crate's
    /// builder is one satoshi stricter and refuses `value <= threshold`.
    pub fn dust_threshold(&self) -> u64 {
        let spend_size = if self.is_segwit() {
            32 + 4 + 1 + 107 / 4 + 4
        } else {
            32 + 4 + 1 + 107 + 4
        };
        DUST_RELAY_FEE_SAT_PER_KVB * (self.output_size() + spend_size) as u64 / 1000
    }
}

/// Checks that `public_key` is a compressed SEC1 point on secp256k1.
pub(crate) fn validate_compressed_public_key(public_key: &[u8]) -> Result<(), AddressError> {
    if public_key.len() != 33 {
        return Err(AddressError::InvalidPublicKey {
            reason: format!("{} bytes, expected 33", public_key.len()),
        });
    }
    if public_key[0] != 0x02 && public_key[0] != 0x03 {
        return Err(AddressError::InvalidPublicKey {
            reason: format!("prefix {:#04x}, expected 0x02 or 0x03", public_key[0]),
        });
    }
    k256::PublicKey::from_sec1_bytes(public_key).map_err(|_| AddressError::InvalidPublicKey {
        reason: "not a point on the curve".into(),
    })?;
    Ok(())
}

fn bech32_error_reason(e: &impl std::fmt::Display) -> AddressError {
    AddressError::MalformedBech32 {
        reason: e.to_string(),
    }
}

fn map_unchecked_error(address: &str, e: UncheckedHrpstringError) -> AddressError {
    match e {
        UncheckedHrpstringError::Char(CharError::MixedCase) => AddressError::MixedCase,
        UncheckedHrpstringError::Char(CharError::InvalidChar(c)) => {
            AddressError::InvalidCharacter {
                character: c.to_string(),
                position: address
                    .rfind('1')
                    .and_then(|sep| address[sep..].find(c).map(|i| (sep + i) as u32))
                    .or_else(|| address.find(c).map(|i| i as u32))
                    .unwrap_or(0),
            }
        }
        other => bech32_error_reason(&other),
    }
}

fn parse_segwit(address: &str, network: Network) -> Result<BitcoinAddress, AddressError> {
    let unchecked =
        UncheckedHrpstring::new(address).map_err(|e| map_unchecked_error(address, e))?;
    // The data part: witness version, program, 6-character checksum.
    let data = unchecked.data_part_ascii();
    if data.len() < 7 {
        return Err(AddressError::MalformedBech32 {
            reason: "no witness version and program before the checksum".into(),
        });
    }
    let first = data[0];
    let version = Fe32::from_char(first.into())
        .expect("UncheckedHrpstring checked the characters")
        .to_u8();
    // The checksum first: a typo should be reported as one, whatever it hit.
    let (expected, other) = if version == 0 {
        (Bech32Variant::Bech32, Bech32Variant::Bech32m)
    } else {
        (Bech32Variant::Bech32m, Bech32Variant::Bech32)
    };
    let valid = |variant: Bech32Variant| match variant {
        Bech32Variant::Bech32 => unchecked.has_valid_checksum::<Bech32>(),
        Bech32Variant::Bech32m => unchecked.has_valid_checksum::<Bech32m>(),
    };
    if !valid(expected) {
        if version <= 16 && valid(other) {
            return Err(AddressError::WrongChecksumVariant {
                version,
                expected,
                found: other,
            });
        }
        return Err(AddressError::BadChecksum);
    }
    if version > 16 {
        return Err(AddressError::InvalidWitnessVersion { version });
    }
    let (hrp, _, program) = segwit::decode(address).map_err(|e| match e.0 {
        SegwitHrpstringError::Padding(_) => AddressError::InvalidPadding,
        SegwitHrpstringError::WitnessLength(_) => {
            // Recount the program: 5 bits per character after the version,
            // without the 6-character checksum.
            let chars = data.len().saturating_sub(1 + 6);
            AddressError::InvalidProgramLength {
                version,
                length: (chars * 5 / 8) as u32,
            }
        }
        SegwitHrpstringError::InvalidWitnessVersion(v) => {
            AddressError::InvalidWitnessVersion { version: v.to_u8() }
        }
        SegwitHrpstringError::Checksum(ChecksumError::InvalidResidue) => AddressError::BadChecksum,
        SegwitHrpstringError::Unchecked(u) => map_unchecked_error(address, u),
        other => bech32_error_reason(&other),
    })?;
    let found = Network::from_bech32_hrp(hrp.as_str()).ok_or_else(|| AddressError::UnknownHrp {
        hrp: hrp.to_string(),
    })?;
    if found != network {
        return Err(AddressError::WrongNetwork {
            expected: network,
            found,
        });
    }
    match (version, program.len()) {
        (0, 20) => Ok(BitcoinAddress::P2wpkh(
            program.try_into().expect("20 bytes"),
        )),
        (0, 32) => Ok(BitcoinAddress::P2wsh(program.try_into().expect("32 bytes"))),
        (0, length) => Err(AddressError::InvalidProgramLength {
            version,
            length: length as u32,
        }),
        (1, 32) => Ok(BitcoinAddress::P2tr(program.try_into().expect("32 bytes"))),
        (1, length) => Err(AddressError::UnsupportedWitnessProgram {
            version,
            length: length as u32,
        }),
        (version, _) => Err(AddressError::UnsupportedWitnessVersion { version }),
    }
}

fn parse_base58(address: &str, network: Network) -> Result<BitcoinAddress, AddressError> {
    let payload = bs58::decode(address)
        .with_check(None)
        .into_vec()
        .map_err(|e| match e {
            bs58::decode::Error::InvalidCharacter { character, index } => {
                AddressError::InvalidCharacter {
                    character: character.to_string(),
                    position: index as u32,
                }
            }
            bs58::decode::Error::NonAsciiCharacter { index } => AddressError::InvalidCharacter {
                character: address[index..].chars().next().unwrap_or('?').to_string(),
                position: index as u32,
            },
            bs58::decode::Error::InvalidChecksum { .. } => AddressError::BadChecksum,
            // Fewer than the 4 checksum bytes.
            bs58::decode::Error::NoChecksum => AddressError::InvalidLength { length: 0 },
            _ => AddressError::BadChecksum,
        })?;
    if payload.len() != 21 {
        return Err(AddressError::InvalidLength {
            length: payload.len() as u32,
        });
    }
    let hash: [u8; 20] = payload[1..].try_into().expect("20 bytes");
    let (found, address) = match payload[0] {
        0x00 => (Network::Mainnet, BitcoinAddress::P2pkh(hash)),
        0x05 => (Network::Mainnet, BitcoinAddress::P2sh(hash)),
        0x6f => (Network::Testnet, BitcoinAddress::P2pkh(hash)),
        0xc4 => (Network::Testnet, BitcoinAddress::P2sh(hash)),
        version => return Err(AddressError::UnknownVersion { version }),
    };
    let same = match network {
        Network::Mainnet => found == Network::Mainnet,
        Network::Testnet | Network::Regtest => found == Network::Testnet,
    };
    if !same {
        return Err(AddressError::WrongNetwork {
            expected: network,
            found,
        });
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dust_thresholds_match_bitcoin_core() {
        assert_eq!(BitcoinAddress::P2wpkh([0; 20]).dust_threshold(), 294);
        assert_eq!(BitcoinAddress::P2wsh([0; 32]).dust_threshold(), 330);
        assert_eq!(BitcoinAddress::P2tr([0; 32]).dust_threshold(), 330);
        assert_eq!(BitcoinAddress::P2pkh([0; 20]).dust_threshold(), 546);
        assert_eq!(BitcoinAddress::P2sh([0; 20]).dust_threshold(), 540);
    }

    #[test]
    fn script_pubkey_len_matches_script() {
        for a in [
            BitcoinAddress::P2wpkh([1; 20]),
            BitcoinAddress::P2wsh([2; 32]),
            BitcoinAddress::P2tr([3; 32]),
            BitcoinAddress::P2pkh([4; 20]),
            BitcoinAddress::P2sh([5; 20]),
        ] {
            assert_eq!(a.script_pubkey().len(), a.script_pubkey_len());
        }
    }
}
