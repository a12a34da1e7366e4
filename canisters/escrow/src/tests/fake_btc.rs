//! A fake Bitcoin canister and threshold ECDSA: a UTXO set per address with
//! block heights and paging, a mempool of raw transactions that `mine`
//! parses and applies (the latest of conflicting versions wins, as after
//! RBF; spending a missing UTXO panics: a double spend), fee percentiles,
//! and a real secp256k1 key whose children are derived as the IC does, so
//! every signature the escrow puts in a transaction can be checked.

use hmac::{Hmac, Mac};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::PrimeField;
use k256::Scalar;
use sha2::Sha512;
use std::collections::{BTreeMap, BTreeSet};
use tensormine_bitcoin::{sha256, sha256d, BitcoinAddress, Network, OutPoint, Utxo};

pub struct FakeBitcoin {
    pub root_secret: Scalar,
    pub chain_code: [u8; 32],
    pub utxos: BTreeMap<String, Vec<Utxo>>,
    pub tip: u32,
    pub page_size: usize,
    pub percentiles: Vec<u64>,
    pub mempool: Vec<Vec<u8>>,
    /// Every transaction ever sent, in order.
    pub sent: Vec<Vec<u8>>,
    pub sends_to_refuse: u32,
    pub utxo_calls_to_fail: u32,
    pub key_calls: u32,
    pub signatures: u32,
    next_txid: u64,
}

impl Default for FakeBitcoin {
    fn default() -> Self {
        Self {
            root_secret: Scalar::from_repr(sha256(b"fake threshold key").into()).unwrap(),
            chain_code: sha256(b"fake chain code"),
            utxos: BTreeMap::new(),
            tip: 100,
            page_size: 2,
            percentiles: vec![2_000; 101],
            mempool: vec![],
            sent: vec![],
            sends_to_refuse: 0,
            utxo_calls_to_fail: 0,
            key_calls: 0,
            signatures: 0,
            next_txid: 0,
        }
    }
}

fn public_of(secret: &Scalar) -> Vec<u8> {
    let key = SigningKey::from_bytes(&secret.to_bytes()).unwrap();
    key.verifying_key()
        .to_encoded_point(true)
        .as_bytes()
        .to_vec()
}

/// The IC's derivation (`HMAC-SHA512(chain code, P || index)`, child key
/// `k + I_L`), on the private side; written independently of the crate's
/// public derivation so the two check each other.
fn derive_secret(root: Scalar, chain_code: [u8; 32], path: &[Vec<u8>]) -> Scalar {
    let (mut k, mut cc) = (root, chain_code);
    for index in path {
        let mut mac = Hmac::<Sha512>::new_from_slice(&cc).unwrap();
        mac.update(&public_of(&k));
        mac.update(index);
        let out = mac.finalize().into_bytes();
        let mut il = k256::FieldBytes::default();
        il.copy_from_slice(&out[..32]);
        let tweak = Scalar::from_repr(il).unwrap();
        k += tweak;
        cc.copy_from_slice(&out[32..]);
    }
    k
}

pub struct ParsedTx {
    pub txid: [u8; 32],
    pub inputs: Vec<OutPoint>,
    pub outputs: Vec<(u64, Vec<u8>)>,
    pub witnesses: Vec<Vec<Vec<u8>>>,
}

struct Reader<'a>(&'a [u8], usize);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.0[self.1..self.1 + n];
        self.1 += n;
        s
    }
    fn varint(&mut self) -> usize {
        let b = self.take(1)[0];
        assert!(b < 0xfd, "test transactions have small counts");
        b as usize
    }
}

/// Parses a segwit transaction (BIP-144) and hashes its base serialization.
pub fn parse_tx(bytes: &[u8]) -> ParsedTx {
    let mut r = Reader(bytes, 0);
    let mut base = r.take(4).to_vec();
    assert_eq!(r.take(2), [0x00, 0x01], "segwit marker and flag");
    let start = r.1;
    let n_in = r.varint();
    let mut inputs = vec![];
    for _ in 0..n_in {
        let txid: [u8; 32] = r.take(32).try_into().unwrap();
        let vout = u32::from_le_bytes(r.take(4).try_into().unwrap());
        let script_len = r.varint();
        assert_eq!(script_len, 0, "P2WPKH inputs have an empty scriptSig");
        r.take(4);
        inputs.push(OutPoint { txid, vout });
    }
    let n_out = r.varint();
    let mut outputs = vec![];
    for _ in 0..n_out {
        let value = u64::from_le_bytes(r.take(8).try_into().unwrap());
        let len = r.varint();
        outputs.push((value, r.take(len).to_vec()));
    }
    base.extend_from_slice(&bytes[start..r.1]);
    let mut witnesses = vec![];
    for _ in 0..n_in {
        let items = r.varint();
        witnesses.push(
            (0..items)
                .map(|_| {
                    let n = r.varint();
                    r.take(n).to_vec()
                })
                .collect(),
        );
    }
    base.extend_from_slice(r.take(4));
    assert_eq!(r.1, bytes.len(), "no trailing bytes");
    ParsedTx {
        txid: sha256d(&base),
        inputs,
        outputs,
        witnesses,
    }
}

/// The address of a P2WPKH or P2TR scriptPubKey (what the tests pay to).
pub fn address_of_script(script: &[u8]) -> String {
    let address = match script {
        [0x00, 0x14, rest @ ..] if rest.len() == 20 => {
            BitcoinAddress::P2wpkh(rest.try_into().unwrap())
        }
        [0x51, 0x20, rest @ ..] if rest.len() == 32 => {
            BitcoinAddress::P2tr(rest.try_into().unwrap())
        }
        other => panic!("unexpected scriptPubKey {other:?}"),
    };
    address.encode(Network::Regtest)
}

/// Checks a DER+sighash-type witness signature against `digest` and `key`.
pub fn verify_witness(signature: &[u8], key: &[u8], digest: &[u8; 32]) -> bool {
    let (der, hash_type) = signature.split_at(signature.len() - 1);
    let Ok(sig) = Signature::from_der(der) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_sec1_bytes(key) else {
        return false;
    };
    hash_type == [0x01] && sig.normalize_s().is_none() && vk.verify_prehash(digest, &sig).is_ok()
}

impl FakeBitcoin {
    pub fn master_key(&self) -> (Vec<u8>, Vec<u8>) {
        (public_of(&self.root_secret), self.chain_code.to_vec())
    }

    pub fn public_key_at(&self, path: &[Vec<u8>]) -> Vec<u8> {
        public_of(&derive_secret(self.root_secret, self.chain_code, path))
    }

    pub fn sign(&mut self, path: &[Vec<u8>], digest: [u8; 32]) -> Vec<u8> {
        self.signatures += 1;
        let secret = derive_secret(self.root_secret, self.chain_code, path);
        let key = SigningKey::from_bytes(&secret.to_bytes()).unwrap();
        let sig: Signature = key.sign_prehash(&digest).unwrap();
        sig.to_bytes().to_vec()
    }

    /// A new block paying `value` to `address`.
    pub fn pay(&mut self, address: &str, value: u64) -> OutPoint {
        self.next_txid += 1;
        let outpoint = OutPoint {
            txid: sha256(&self.next_txid.to_be_bytes()),
            vout: 0,
        };
        self.tip += 1;
        let utxo = Utxo {
            outpoint,
            value,
            height: self.tip,
        };
        self.utxos
            .entry(address.to_string())
            .or_default()
            .push(utxo);
        outpoint
    }

    pub fn blocks(&mut self, n: u32) {
        self.tip += n;
    }

    pub fn get_utxos(
        &self,
        address: &str,
        offset: usize,
        min_conf: u32,
    ) -> (Vec<Utxo>, Option<Vec<u8>>) {
        let all: Vec<Utxo> = self
            .utxos
            .get(address)
            .into_iter()
            .flatten()
            .filter(|u| self.tip + 1 - u.height >= min_conf)
            .cloned()
            .collect();
        let page: Vec<Utxo> = all
            .iter()
            .skip(offset)
            .take(self.page_size)
            .cloned()
            .collect();
        let next = offset + page.len();
        let token = (next < all.len())
            .then(|| [next.to_be_bytes().to_vec(), min_conf.to_be_bytes().to_vec()].concat());
        (page, token)
    }

    /// Mines the mempool into one block: for conflicting versions the last
    /// sent wins; inputs must exist (no double spend) and cover the outputs.
    pub fn mine(&mut self) -> Vec<ParsedTx> {
        let mut spent = BTreeSet::new();
        let mut chosen = vec![];
        for raw in std::mem::take(&mut self.mempool).iter().rev() {
            let tx = parse_tx(raw);
            // A conflicting version already chosen, or inputs a mined version
            // already spent (a replacement sent after the original was mined
            // is refused by nodes): not mined.
            if tx
                .inputs
                .iter()
                .any(|i| spent.contains(i) || !self.unspent(i))
            {
                continue;
            }
            spent.extend(tx.inputs.iter().cloned());
            chosen.push(tx);
        }
        self.tip += 1;
        for tx in &chosen {
            let mut input_value = 0;
            for input in &tx.inputs {
                input_value += self.spend(input);
            }
            let output_value: u64 = tx.outputs.iter().map(|(v, _)| v).sum();
            assert!(input_value >= output_value, "outputs exceed inputs");
            for (vout, (value, script)) in tx.outputs.iter().enumerate() {
                let utxo = Utxo {
                    outpoint: OutPoint {
                        txid: tx.txid,
                        vout: vout as u32,
                    },
                    value: *value,
                    height: self.tip,
                };
                self.utxos
                    .entry(address_of_script(script))
                    .or_default()
                    .push(utxo);
            }
        }
        chosen
    }

    fn unspent(&self, outpoint: &OutPoint) -> bool {
        self.utxos
            .values()
            .flatten()
            .any(|u| &u.outpoint == outpoint)
    }

    /// Transactions sent that share an input are versions of one payout
    /// (same inputs): the escrow never spends a coin in two payouts.
    pub fn assert_no_double_spend(&self) {
        let parsed: Vec<ParsedTx> = self.sent.iter().map(|raw| parse_tx(raw)).collect();
        for a in &parsed {
            for b in &parsed {
                if a.inputs.iter().any(|i| b.inputs.contains(i)) {
                    assert_eq!(a.inputs, b.inputs, "a coin spent by two different payouts");
                }
            }
        }
    }

    fn spend(&mut self, outpoint: &OutPoint) -> u64 {
        for list in self.utxos.values_mut() {
            if let Some(i) = list.iter().position(|u| &u.outpoint == outpoint) {
                return list.remove(i).value;
            }
        }
        panic!("double spend or unknown input {outpoint:?}");
    }

    pub fn balance(&self, address: &str) -> u64 {
        self.utxos
            .get(address)
            .into_iter()
            .flatten()
            .map(|u| u.value)
            .sum()
    }
}
