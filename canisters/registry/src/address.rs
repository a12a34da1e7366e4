//! Bitcoin payout address validation for the configured network: P2WPKH
//! and P2TR (BIP-173/BIP-350 bech32/bech32m), P2PKH and P2SH (base58check).

use crate::types::BtcNetwork;
use bech32::{segwit, Fe32, Hrp};

/// Kinds of payout address the escrow can pay to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    P2wpkh,
    P2tr,
    P2pkh,
    P2sh,
}

fn hrp(network: BtcNetwork) -> &'static str {
    match network {
        BtcNetwork::Mainnet => "bc",
        BtcNetwork::Testnet => "tb",
        BtcNetwork::Regtest => "bcrt",
    }
}

/// (P2PKH, P2SH) base58 version bytes.
fn versions(network: BtcNetwork) -> (u8, u8) {
    match network {
        BtcNetwork::Mainnet => (0x00, 0x05),
        BtcNetwork::Testnet | BtcNetwork::Regtest => (0x6f, 0xc4),
    }
}

fn network_of_hrp(h: &str) -> Option<&'static str> {
    match h {
        "bc" => Some("mainnet"),
        "tb" => Some("testnet"),
        "bcrt" => Some("regtest"),
        _ => None,
    }
}

/// Validates `address` for `network`; returns its kind or why it is refused.
pub fn validate(address: &str, network: BtcNetwork) -> Result<AddressKind, String> {
    if address.is_empty() {
        return Err("empty address".into());
    }
    if address.len() > tensormine_core::registry::MAX_BTC_ADDRESS_LEN {
        return Err(format!(
            "longer than {} characters",
            tensormine_core::registry::MAX_BTC_ADDRESS_LEN
        ));
    }
    if !address.is_ascii() {
        return Err("not ASCII".into());
    }
    let lower = address.to_ascii_lowercase();
    let looks_segwit = ["bc1", "tb1", "bcrt1"].iter().any(|p| lower.starts_with(p));
    if looks_segwit {
        let (got_hrp, version, program) =
            segwit::decode(address).map_err(|e| format!("invalid segwit address: {e}"))?;
        let expected = Hrp::parse(hrp(network)).expect("constant hrp parses");
        if got_hrp != expected {
            let other = network_of_hrp(got_hrp.as_str()).unwrap_or("another network");
            return Err(format!(
                "a {other} address, but the registry is configured for {network:?}"
            ));
        }
        return match (version, program.len()) {
            (Fe32::Q, 20) => Ok(AddressKind::P2wpkh),
            (Fe32::P, 32) => Ok(AddressKind::P2tr),
            (Fe32::Q, 32) => {
                Err("P2WSH addresses are not accepted for payouts; use P2WPKH or P2TR".into())
            }
            (v, len) => Err(format!(
                "unsupported witness version {} with a {len}-byte program",
                v.to_u8()
            )),
        };
    }
    let payload = bs58::decode(address)
        .with_check(None)
        .into_vec()
        .map_err(|e| format!("invalid base58check address: {e}"))?;
    if payload.len() != 21 {
        return Err(format!(
            "base58 payload has {} bytes, expected 21",
            payload.len()
        ));
    }
    let (p2pkh, p2sh) = versions(network);
    match payload[0] {
        v if v == p2pkh => Ok(AddressKind::P2pkh),
        v if v == p2sh => Ok(AddressKind::P2sh),
        0x00 | 0x05 | 0x6f | 0xc4 => Err(format!(
            "an address of another network, but the registry is configured for {network:?}"
        )),
        v => Err(format!("unknown address version byte 0x{v:02x}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressKind::*;
    use BtcNetwork::*;

    #[test]
    fn real_addresses_of_each_network_and_kind() {
        let cases = [
            // Mainnet: bitcoin.org wallet example, BIP-86 first address, the genesis coinbase, BIP-13 style P2SH.
            (
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                Mainnet,
                P2wpkh,
            ),
            (
                "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
                Mainnet,
                P2wpkh,
            ),
            (
                "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
                Mainnet,
                P2tr,
            ),
            ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Mainnet, P2pkh),
            ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Mainnet, P2sh),
            // Testnet: BIP-173 and BIP-350 vectors, bitcoin wiki examples.
            (
                "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
                Testnet,
                P2wpkh,
            ),
            (
                "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
                Testnet,
                P2tr,
            ),
            ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Testnet, P2pkh),
            ("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", Testnet, P2sh),
            // Regtest: bech32 with the bcrt prefix; base58 shares testnet's versions.
            (
                "bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw",
                Regtest,
                P2wpkh,
            ),
            ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Regtest, P2pkh),
            ("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", Regtest, P2sh),
        ];
        for (address, network, kind) in cases {
            assert_eq!(
                validate(address, network),
                Ok(kind),
                "{address} on {network:?}"
            );
        }
    }

    #[test]
    fn wrong_network_and_broken_addresses_are_refused() {
        let refused = [
            (
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                Testnet,
                "mainnet",
            ),
            (
                "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
                Mainnet,
                "testnet",
            ),
            (
                "bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw",
                Testnet,
                "regtest",
            ),
            (
                "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                Testnet,
                "another network",
            ),
            (
                "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
                Mainnet,
                "another network",
            ),
            // One character changed: checksum.
            (
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr",
                Mainnet,
                "segwit",
            ),
            ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", Mainnet, "base58check"),
            // Mixed case, bech32 (not bech32m) checksum on v1, P2WSH.
            (
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mDq",
                Mainnet,
                "segwit",
            ),
            (
                "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
                Mainnet,
                "segwit",
            ),
            (
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
                Mainnet,
                "P2WSH",
            ),
            ("", Mainnet, "empty"),
            ("bc1\u{e9}", Mainnet, "ASCII"),
            ("0OIl", Mainnet, "base58"),
        ];
        for (address, network, expected) in refused {
            let err = validate(address, network).unwrap_err();
            assert!(err.contains(expected), "{address}: {err}");
        }
        assert!(validate(&"1".repeat(91), Mainnet)
            .unwrap_err()
            .contains("longer"));
    }
}
