//! Addresses: published vectors (BIP-173/BIP-350, well-known base58
//! addresses), typed errors, and agreement with rust-bitcoin on every
//! kind and network.

use crate::common::{bytes, private_key, rb_network, NETWORKS};
use std::str::FromStr;
use tensormine_bitcoin::address::Bech32Variant;
use tensormine_bitcoin::{AddressError, AddressKind, BitcoinAddress, Network};

fn parse(a: &str, n: Network) -> Result<BitcoinAddress, AddressError> {
    BitcoinAddress::parse(a, n)
}

/// BIP-350's valid segwit addresses (which include BIP-173's, corrected).
/// Supported kinds parse to the published scriptPubKey and encode back (in
/// lower case); the rest are valid but refused as unsupported.
#[test]
fn bip350_valid_vectors() {
    let supported = [
        (
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            Network::Mainnet,
            "0014751e76e8199196d454941c45d1b3a323f1433bd6",
            AddressKind::P2wpkh,
        ),
        (
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            Network::Testnet,
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
            AddressKind::P2wsh,
        ),
        (
            "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
            Network::Testnet,
            "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
            AddressKind::P2wsh,
        ),
        (
            "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
            Network::Testnet,
            "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
            AddressKind::P2tr,
        ),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            Network::Mainnet,
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            AddressKind::P2tr,
        ),
        // BIP-173's P2WSH example on mainnet.
        (
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            Network::Mainnet,
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
            AddressKind::P2wsh,
        ),
    ];
    for (address, network, script, kind) in supported {
        let parsed = parse(address, network).unwrap_or_else(|e| panic!("{address}: {e}"));
        assert_eq!(parsed.kind(), kind, "{address}");
        assert_eq!(hex::encode(parsed.script_pubkey()), script, "{address}");
        assert_eq!(parsed.encode(network), address.to_lowercase(), "{address}");
    }

    let unsupported = [
        (
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
            AddressError::UnsupportedWitnessProgram {
                version: 1,
                length: 40,
            },
        ),
        (
            "BC1SW50QGDZ25J",
            AddressError::UnsupportedWitnessVersion { version: 16 },
        ),
        (
            "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
            AddressError::UnsupportedWitnessVersion { version: 2 },
        ),
    ];
    for (address, error) in unsupported {
        assert_eq!(parse(address, Network::Mainnet), Err(error), "{address}");
    }
}

/// BIP-350's invalid segwit addresses, each with the error naming its fault.
#[test]
fn bip350_invalid_vectors() {
    use AddressError::*;
    let cases = [
        (
            "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
            Network::Testnet,
            UnknownHrp { hrp: "tc".into() },
        ),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
            Network::Mainnet,
            WrongChecksumVariant {
                version: 1,
                expected: Bech32Variant::Bech32m,
                found: Bech32Variant::Bech32,
            },
        ),
        (
            "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
            Network::Testnet,
            WrongChecksumVariant {
                version: 2,
                expected: Bech32Variant::Bech32m,
                found: Bech32Variant::Bech32,
            },
        ),
        (
            "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
            Network::Mainnet,
            WrongChecksumVariant {
                version: 16,
                expected: Bech32Variant::Bech32m,
                found: Bech32Variant::Bech32,
            },
        ),
        (
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
            Network::Mainnet,
            WrongChecksumVariant {
                version: 0,
                expected: Bech32Variant::Bech32,
                found: Bech32Variant::Bech32m,
            },
        ),
        (
            "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
            Network::Testnet,
            WrongChecksumVariant {
                version: 0,
                expected: Bech32Variant::Bech32,
                found: Bech32Variant::Bech32m,
            },
        ),
        (
            "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
            Network::Mainnet,
            InvalidCharacter {
                character: "o".into(),
                position: 59,
            },
        ),
        (
            "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
            Network::Mainnet,
            InvalidWitnessVersion { version: 17 },
        ),
        (
            "bc1pw5dgrnzv",
            Network::Mainnet,
            InvalidProgramLength {
                version: 1,
                length: 1,
            },
        ),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
            Network::Mainnet,
            InvalidProgramLength {
                version: 1,
                length: 41,
            },
        ),
        (
            "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
            Network::Mainnet,
            InvalidProgramLength {
                version: 0,
                length: 16,
            },
        ),
        (
            "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
            Network::Testnet,
            MixedCase,
        ),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
            Network::Mainnet,
            InvalidPadding,
        ),
        (
            "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
            Network::Testnet,
            InvalidPadding,
        ),
    ];
    for (address, network, error) in cases {
        assert_eq!(parse(address, network), Err(error), "{address}");
    }
    // Empty data part.
    assert!(matches!(
        parse("bc1gmk9yu", Network::Mainnet),
        Err(MalformedBech32 { .. })
    ));
}

/// Well-known base58 addresses: the genesis coinbase's P2PKH and the
/// Bitcoin wiki's P2SH example.
#[test]
fn base58_published_addresses() {
    let genesis = parse("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Network::Mainnet).unwrap();
    assert_eq!(genesis.kind(), AddressKind::P2pkh);
    assert_eq!(
        hex::encode(genesis.script_pubkey()),
        "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
    );
    assert_eq!(
        genesis.encode(Network::Mainnet),
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    );

    let p2sh = parse("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Network::Mainnet).unwrap();
    assert_eq!(p2sh.kind(), AddressKind::P2sh);
    assert_eq!(
        hex::encode(p2sh.script_pubkey()),
        "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"
    );
    assert_eq!(
        p2sh.encode(Network::Mainnet),
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
    );

    // The same hashes on testnet/regtest ("m…"/"n…", "2…").
    for network in [Network::Testnet, Network::Regtest] {
        for a in [&genesis, &p2sh] {
            let s = a.encode(network);
            assert!(s.starts_with(['m', 'n', '2']), "{s}");
            assert_eq!(parse(&s, network).as_ref(), Ok(a));
        }
    }
}

#[test]
fn network_mismatches_are_named() {
    use AddressError::WrongNetwork;
    let main_segwit = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    let test_segwit = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7";
    let cases = [
        (main_segwit, Network::Testnet, Network::Mainnet),
        (main_segwit, Network::Regtest, Network::Mainnet),
        (test_segwit, Network::Mainnet, Network::Testnet),
        // Regtest's bech32 prefix is bcrt, not tb.
        (test_segwit, Network::Regtest, Network::Testnet),
        (
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            Network::Testnet,
            Network::Mainnet,
        ),
        (
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            Network::Regtest,
            Network::Mainnet,
        ),
    ];
    for (address, expected, found) in cases {
        assert_eq!(
            parse(address, expected),
            Err(WrongNetwork { expected, found }),
            "{address} on {expected}"
        );
    }
    let regtest = BitcoinAddress::P2wpkh([7; 20]).encode(Network::Regtest);
    assert!(regtest.starts_with("bcrt1q"));
    assert_eq!(
        parse(&regtest, Network::Testnet),
        Err(WrongNetwork {
            expected: Network::Testnet,
            found: Network::Regtest
        })
    );
    let testnet_p2pkh = BitcoinAddress::P2pkh([7; 20]).encode(Network::Testnet);
    assert_eq!(
        parse(&testnet_p2pkh, Network::Mainnet),
        Err(WrongNetwork {
            expected: Network::Mainnet,
            found: Network::Testnet
        })
    );
}

#[test]
fn typos_and_garbage() {
    use AddressError::*;
    // One character changed.
    assert_eq!(
        parse(
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
            Network::Mainnet
        ),
        Err(BadChecksum)
    );
    assert_eq!(
        parse("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", Network::Mainnet),
        Err(BadChecksum)
    );
    assert_eq!(parse("", Network::Mainnet), Err(Empty));
    assert_eq!(
        parse(&"1".repeat(91), Network::Mainnet),
        Err(TooLong {
            length: 91,
            max: 90
        })
    );
    assert_eq!(
        parse("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNé", Network::Mainnet),
        Err(InvalidCharacter {
            character: "é".into(),
            position: 33
        })
    );
    // 0, O, I and l are not base58.
    assert_eq!(
        parse("1A1zP1eP5QGefi2DMPTfTL5SLmv7Div0Na", Network::Mainnet),
        Err(InvalidCharacter {
            character: "0".into(),
            position: 31
        })
    );
    // A valid base58check payload of the wrong length or version.
    let short = bs58::encode([0u8; 20]).with_check().into_string();
    assert_eq!(
        parse(&short, Network::Mainnet),
        Err(InvalidLength { length: 20 })
    );
    let mut payload = vec![0x30]; // Litecoin's P2PKH version
    payload.extend([1u8; 20]);
    let ltc = bs58::encode(payload).with_check().into_string();
    assert_eq!(
        parse(&ltc, Network::Mainnet),
        Err(UnknownVersion { version: 0x30 })
    );
    // Leading/trailing spaces are not trimmed: the caller decides.
    assert!(parse(
        " bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        Network::Mainnet
    )
    .is_err());
    // Errors print what is wrong.
    assert_eq!(
        WrongNetwork {
            expected: Network::Mainnet,
            found: Network::Testnet
        }
        .to_string(),
        "a testnet address, but the network is mainnet"
    );
}

fn sample_addresses(i: u64) -> Vec<BitcoinAddress> {
    vec![
        BitcoinAddress::P2wpkh(bytes("p2wpkh", i)),
        BitcoinAddress::P2wsh(bytes("p2wsh", i)),
        BitcoinAddress::P2tr(bytes("p2tr", i)),
        BitcoinAddress::P2pkh(bytes("p2pkh", i)),
        BitcoinAddress::P2sh(bytes("p2sh", i)),
    ]
}

/// Every kind on every network: our encoding is rust-bitcoin's, rust-bitcoin
/// parses it to the same scriptPubKey, we parse rust-bitcoin's string back,
/// and the dust threshold is rust-bitcoin's `minimal_non_dust`.
#[test]
fn agrees_with_rust_bitcoin() {
    for i in 0..50 {
        for a in sample_addresses(i) {
            let script = bitcoin::ScriptBuf::from_bytes(a.script_pubkey());
            assert_eq!(script.minimal_non_dust().to_sat(), a.dust_threshold());
            for network in NETWORKS {
                let theirs = bitcoin::Address::from_script(&script, rb_network(network))
                    .expect("standard script")
                    .to_string();
                assert_eq!(a.encode(network), theirs, "{a:?} on {network}");
                assert_eq!(parse(&theirs, network).as_ref(), Ok(&a));
                let back = bitcoin::Address::from_str(&a.encode(network))
                    .unwrap()
                    .require_network(rb_network(network))
                    .unwrap();
                assert_eq!(back.script_pubkey().as_bytes(), a.script_pubkey());
            }
        }
    }
}

#[test]
fn p2wpkh_from_public_key_matches_rust_bitcoin() {
    for i in 0..20 {
        let key = private_key(&format!("addr-key-{i}"))
            .public_key()
            .serialize_sec1(true);
        let ours = BitcoinAddress::p2wpkh_from_public_key(&key).unwrap();
        let theirs_key = bitcoin::CompressedPublicKey::from_slice(&key).unwrap();
        for network in NETWORKS {
            let theirs = bitcoin::Address::p2wpkh(&theirs_key, rb_network(network));
            assert_eq!(ours.encode(network), theirs.to_string());
        }
    }
    let uncompressed = private_key("u").public_key().serialize_sec1(false);
    assert!(matches!(
        BitcoinAddress::p2wpkh_from_public_key(&uncompressed),
        Err(AddressError::InvalidPublicKey { .. })
    ));
    let mut not_on_curve = [0u8; 33];
    not_on_curve[0] = 0x02;
    not_on_curve[32] = 0x05; // x = 5: x^3 + 7 = 132 is not a square mod p
    assert!(matches!(
        BitcoinAddress::p2wpkh_from_public_key(&not_on_curve),
        Err(AddressError::InvalidPublicKey { .. })
    ));
}

#[test]
fn candid_round_trip() {
    use candid::{Decode, Encode};
    for a in sample_addresses(1) {
        let bytes = Encode!(&a).unwrap();
        assert_eq!(Decode!(&bytes, BitcoinAddress).unwrap(), a);
    }
    let e = AddressError::WrongNetwork {
        expected: Network::Mainnet,
        found: Network::Regtest,
    };
    assert_eq!(Decode!(&Encode!(&e).unwrap(), AddressError).unwrap(), e);
}
