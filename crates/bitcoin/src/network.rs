//! The Bitcoin network a canister is configured for.

use candid::CandidType;
use serde::{Deserialize, Serialize};

/// A Bitcoin network. The variant names match the registry's `BtcNetwork`, so
/// both encode to the same Candid variant.
#[derive(CandidType, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// `bc1…`, `1…`, `3…`.
    Mainnet,
    /// testnet3, testnet4 and signet: `tb1…`, `m…`/`n…`, `2…`.
    Testnet,
    /// regtest: `bcrt1…`, and testnet's base58 versions (`m…`/`n…`, `2…`).
    Regtest,
}

impl Network {
    /// The human-readable part of this network's segwit (bech32/bech32m) addresses.
    pub fn bech32_hrp(self) -> &'static str {
        match self {
            Network::Mainnet => "bc",
            Network::Testnet => "tb",
            Network::Regtest => "bcrt",
        }
    }

    /// The base58check version byte of this network's P2PKH addresses.
    pub fn p2pkh_version(self) -> u8 {
        match self {
            Network::Mainnet => 0x00,
            Network::Testnet | Network::Regtest => 0x6f,
        }
    }

    /// The base58check version byte of this network's P2SH addresses.
    pub fn p2sh_version(self) -> u8 {
        match self {
            Network::Mainnet => 0x05,
            Network::Testnet | Network::Regtest => 0xc4,
        }
    }

    /// The network whose segwit addresses use this human-readable part
    /// (compared in lower case).
    pub fn from_bech32_hrp(hrp: &str) -> Option<Network> {
        match hrp.to_ascii_lowercase().as_str() {
            "bc" => Some(Network::Mainnet),
            "tb" => Some(Network::Testnet),
            "bcrt" => Some(Network::Regtest),
            _ => None,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Regtest => "regtest",
        })
    }
}
