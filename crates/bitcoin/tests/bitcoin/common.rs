//! Conversions to rust-bitcoin and test keys.

use bitcoin::hashes::Hash;
use tensormine_bitcoin::tx::{SignedTransaction, UnsignedTransaction};
use tensormine_bitcoin::Network;

pub fn rb_network(n: Network) -> bitcoin::Network {
    match n {
        Network::Mainnet => bitcoin::Network::Bitcoin,
        Network::Testnet => bitcoin::Network::Testnet,
        Network::Regtest => bitcoin::Network::Regtest,
    }
}

pub const NETWORKS: [Network; 3] = [Network::Mainnet, Network::Testnet, Network::Regtest];

/// rust-bitcoin's view of a transaction; `witnesses[i]` are the items of input i.
pub fn to_rust_bitcoin(
    inputs: &[(tensormine_bitcoin::OutPoint, u32, Vec<Vec<u8>>)],
    outputs: &[tensormine_bitcoin::TxOut],
    lock_time: u32,
) -> bitcoin::Transaction {
    bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::from_consensus(lock_time),
        input: inputs
            .iter()
            .map(|(o, sequence, witness)| bitcoin::TxIn {
                previous_output: bitcoin::OutPoint {
                    txid: bitcoin::Txid::from_byte_array(o.txid),
                    vout: o.vout,
                },
                script_sig: bitcoin::ScriptBuf::new(),
                sequence: bitcoin::Sequence(*sequence),
                witness: bitcoin::Witness::from_slice(witness),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|o| bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(o.value),
                script_pubkey: bitcoin::ScriptBuf::from_bytes(o.address.script_pubkey()),
            })
            .collect(),
    }
}

pub fn unsigned_to_rust_bitcoin(tx: &UnsignedTransaction) -> bitcoin::Transaction {
    let inputs: Vec<_> = tx
        .inputs
        .iter()
        .map(|i| (i.previous_output, i.sequence, vec![]))
        .collect();
    to_rust_bitcoin(&inputs, &tx.outputs, tx.lock_time)
}

pub fn signed_to_rust_bitcoin(tx: &SignedTransaction) -> bitcoin::Transaction {
    let inputs: Vec<_> = tx
        .inputs
        .iter()
        .map(|i| {
            (
                i.previous_output,
                i.sequence,
                vec![i.witness.signature.clone(), i.witness.public_key.clone()],
            )
        })
        .collect();
    to_rust_bitcoin(&inputs, &tx.outputs, tx.lock_time)
}

/// Deterministic pseudo-random bytes for test data.
pub fn bytes<const N: usize>(seed: &str, i: u64) -> [u8; N] {
    let mut out = [0u8; N];
    let mut counter = 0u64;
    let mut pos = 0;
    while pos < N {
        let block = tensormine_bitcoin::sha256(format!("{seed}/{i}/{counter}").as_bytes());
        let take = (N - pos).min(32);
        out[pos..pos + take].copy_from_slice(&block[..take]);
        pos += take;
        counter += 1;
    }
    out
}

/// A deterministic private key.
pub fn private_key(seed: &str) -> ic_secp256k1::PrivateKey {
    ic_secp256k1::PrivateKey::generate_from_seed(seed.as_bytes())
}
