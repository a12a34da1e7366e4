//! A test wallet: one P2WPKH key from the net's seed, paying addresses with
//! real signed transactions that go through the mempool's checks like any other.

use super::chain::Chain;
use super::mempool::Mempool;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute::LockTime, ecdsa, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Witness,
};
use sha2::{Digest, Sha256};

/// The wallet pays 2 sat/vB, above the minimum relay fee.
pub const WALLET_FEE_RATE_SAT_PER_VB: u64 = 2;
/// A DER signature is at most 72 bytes, plus the sighash byte; sizes are
/// estimated with it so the fee rate never ends up below the target.
const MAX_SIGNATURE_BYTES: usize = 73;

/// Why the wallet cannot pay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // each variant's doc and message name its fields
pub enum WalletError {
    #[error("the wallet holds {available} sat in confirmed outputs and needs {needed} sat")]
    /// Confirmed funds do not cover amount and fee.
    InsufficientFunds { available: u64, needed: u64 },
    #[error("{value} sat to {script} is below the dust threshold of {threshold} sat")]
    /// The payment would be a dust output.
    Dust {
        script: ScriptBuf,
        value: u64,
        threshold: u64,
    },
}

/// The simulator's funded wallet.
pub struct Wallet {
    secret: SecretKey,
    public: CompressedPublicKey,
    secp: Secp256k1<bitcoin::secp256k1::All>,
}

impl Wallet {
    /// The wallet of a net with this seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"localnet bitcoin test wallet")
            .chain_update(seed)
            .finalize();
        let secret = SecretKey::from_slice(&digest)
            .expect("a sha256 digest is a valid secp256k1 key with overwhelming probability");
        let secp = Secp256k1::new();
        let public = CompressedPublicKey(secret.public_key(&secp));
        Wallet {
            secret,
            public,
            secp,
        }
    }

    /// The wallet's P2WPKH regtest address.
    pub fn address(&self) -> Address {
        Address::p2wpkh(&self.public, Network::Regtest)
    }

    /// The wallet's output script.
    pub fn script_pubkey(&self) -> ScriptBuf {
        self.address().script_pubkey()
    }

    /// Confirmed wallet outputs that no mempool transaction spends yet.
    pub fn spendable(&self, chain: &Chain, mempool: &Mempool) -> Vec<(OutPoint, Amount)> {
        chain
            .utxos_at(&self.script_pubkey(), chain.tip_height())
            .into_iter()
            .filter(|u| mempool.spender(&u.outpoint).is_none())
            .map(|u| (u.outpoint, u.value))
            .collect()
    }

    /// A signed transaction paying `amount` to `script`, change back to the wallet.
    pub fn pay(
        &self,
        chain: &Chain,
        mempool: &Mempool,
        script: ScriptBuf,
        amount: Amount,
    ) -> Result<Transaction, WalletError> {
        let threshold = script.minimal_non_dust();
        if amount < threshold {
            return Err(WalletError::Dust {
                script,
                value: amount.to_sat(),
                threshold: threshold.to_sat(),
            });
        }
        let mut coins = self.spendable(chain, mempool);
        coins.sort_by_key(|(outpoint, value)| (std::cmp::Reverse(*value), *outpoint));
        let available: u64 = coins.iter().map(|(_, v)| v.to_sat()).sum();
        let mut selected = Vec::new();
        for coin in coins {
            selected.push(coin);
            if let Some(tx) = self.build(&selected, &script, amount) {
                return Ok(self.sign(tx, &selected));
            }
        }
        let needed = amount.to_sat()
            + self
                .fee_for(&self.unsigned(&selected, &script, amount, Amount::ZERO))
                .to_sat();
        Err(WalletError::InsufficientFunds { available, needed })
    }

    /// The payment with change, if the coins cover amount and fee.
    fn build(
        &self,
        coins: &[(OutPoint, Amount)],
        script: &ScriptBuf,
        amount: Amount,
    ) -> Option<Transaction> {
        let total: Amount = coins.iter().map(|(_, v)| *v).sum();
        let with_change = self.unsigned(coins, script, amount, Amount::ONE_SAT);
        let change = total
            .checked_sub(amount)?
            .checked_sub(self.fee_for(&with_change))?;
        if change >= self.script_pubkey().minimal_non_dust() {
            return Some(self.unsigned(coins, script, amount, change));
        }
        // Change below dust goes to the miner, as wallets do.
        let without_change = self.unsigned(coins, script, amount, Amount::ZERO);
        (total >= amount + self.fee_for(&without_change)).then_some(without_change)
    }

    fn unsigned(
        &self,
        coins: &[(OutPoint, Amount)],
        script: &ScriptBuf,
        amount: Amount,
        change: Amount,
    ) -> Transaction {
        let placeholder = Witness::from_slice(&[
            vec![0u8; MAX_SIGNATURE_BYTES],
            self.public.to_bytes().to_vec(),
        ]);
        let mut output = vec![TxOut {
            value: amount,
            script_pubkey: script.clone(),
        }];
        if change > Amount::ZERO {
            output.push(TxOut {
                value: change,
                script_pubkey: self.script_pubkey(),
            });
        }
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: coins
                .iter()
                .map(|(outpoint, _)| TxIn {
                    previous_output: *outpoint,
                    script_sig: ScriptBuf::new(),
                    // Signals BIP125 replaceability, as bitcoind's wallet does.
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: placeholder.clone(),
                })
                .collect(),
            output,
        }
    }

    fn fee_for(&self, tx_with_placeholder_witnesses: &Transaction) -> Amount {
        Amount::from_sat(tx_with_placeholder_witnesses.vsize() as u64 * WALLET_FEE_RATE_SAT_PER_VB)
    }

    /// Signs every input (P2WPKH, SIGHASH_ALL; RFC 6979 nonces, so deterministic).
    fn sign(&self, mut tx: Transaction, coins: &[(OutPoint, Amount)]) -> Transaction {
        let script = self.script_pubkey();
        let mut cache = SighashCache::new(tx.clone());
        for (index, (_, value)) in coins.iter().enumerate() {
            let sighash = cache
                .p2wpkh_signature_hash(index, &script, *value, EcdsaSighashType::All)
                .expect("the input exists and the script is P2WPKH");
            let message = Message::from_digest(sighash.to_byte_array());
            let signature = ecdsa::Signature {
                signature: self.secp.sign_ecdsa(&message, &self.secret),
                sighash_type: EcdsaSighashType::All,
            };
            tx.input[index].witness = Witness::p2wpkh(&signature, &self.public.0);
        }
        tx
    }
}
