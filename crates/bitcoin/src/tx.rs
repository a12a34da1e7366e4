//! Transactions: types, consensus serialization (BIP-144 with witness),
//! txid/wtxid, sizes, the BIP-143 sighash of P2WPKH inputs, signatures and
//! witnesses.
//!
//! Every transaction this crate builds is version 2, lock time 0, and every
//! input spends a P2WPKH output with sequence `0xfffffffd` (opts in to
//! replace-by-fee, BIP-125, without enabling relative lock times).
//!
//! Signing, for the escrow:
//!
//! ```text
//! let hasher = SighashCache::new(&tx);
//! for each input i, spending an output of key K (derivation path p):
//!     digest = hasher.p2wpkh(i, &hash160(K))?
//!     sig64  = sign_with_ecdsa(digest, p)          // management canister
//!     witnesses.push(InputWitness::from_compact(&sig64, K)?)
//! let signed = tx.sign(witnesses)?;                 // then bitcoin_send_transaction(signed.serialize())
//! ```

use crate::address::{validate_compressed_public_key, BitcoinAddress};
use crate::hash::{hash160, sha256d, Sha256d};
pub use crate::wire::compact_size_len;
use crate::wire::{put_compact_size, Counter, Sink};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Transaction version (2: BIP-68 relative lock times are defined, though we use none).
pub const TX_VERSION: u32 = 2;
/// Sequence of every input: replaceable (BIP-125: below `0xfffffffe`) and no
/// relative lock time (BIP-68: bit 31 clear, but `0xfffffffd` has the
/// disable flag set).
pub const SEQUENCE_RBF: u32 = 0xffff_fffd;
/// Lock time of every transaction.
pub const LOCK_TIME: u32 = 0;
/// The sighash type of every signature: commits to all inputs and outputs.
pub const SIGHASH_ALL: u32 = 1;
/// Length of a compressed public key.
pub const PUBLIC_KEY_LEN: usize = 33;
/// The longest witness signature this crate produces: a DER signature with a
/// 33-byte R (a leading zero when R's top bit is set) and, being low-S, an S
/// of at most 32 bytes (2 + 2 + 33 + 2 + 32 = 71 bytes), plus the sighash
/// byte: 72.
pub const MAX_WITNESS_SIGNATURE_LEN: usize = 72;

const SEGWIT_MARKER: u8 = 0x00;
const SEGWIT_FLAG: u8 = 0x01;

/// An output of a previous transaction. `txid` is in internal byte order (as
/// serialized and hashed, and as the Bitcoin canister returns it), the
/// reverse of how block explorers print it; see [`txid_to_string`].
#[derive(
    CandidType, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub struct OutPoint {
    /// The transaction's id.
    pub txid: [u8; 32],
    /// The output's index in it.
    pub vout: u32,
}

/// An unspent output owned by the escrow, as the Bitcoin canister's
/// `bitcoin_get_utxos` reports it.
#[derive(
    CandidType, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub struct Utxo {
    /// Where it is.
    pub outpoint: OutPoint,
    /// Its value in satoshi.
    pub value: u64,
    /// The height of the block that contains it.
    pub height: u32,
}

/// An output: value and destination.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TxOut {
    /// Satoshi.
    pub value: u64,
    /// Whose scriptPubKey it locks to.
    pub address: BitcoinAddress,
}

/// An input before signing; it remembers the value it spends, which the
/// BIP-143 sighash commits to.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnsignedInput {
    /// The P2WPKH output it spends.
    pub previous_output: OutPoint,
    /// That output's value.
    pub value: u64,
    /// [`SEQUENCE_RBF`] for transactions this crate builds.
    pub sequence: u32,
}

/// A transaction whose inputs all spend P2WPKH outputs, before signing.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnsignedTransaction {
    /// Inputs, in order.
    pub inputs: Vec<UnsignedInput>,
    /// Outputs, in order.
    pub outputs: Vec<TxOut>,
    /// [`LOCK_TIME`] for transactions this crate builds.
    pub lock_time: u32,
}

/// The witness of a P2WPKH input: `<signature> <public key>`.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InputWitness {
    /// Strict DER, low-S, followed by the sighash byte (`0x01`, SIGHASH_ALL).
    pub signature: Vec<u8>,
    /// The compressed public key whose HASH160 the spent output commits to.
    pub public_key: Vec<u8>,
}

/// A signed input.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SignedInput {
    /// The output it spends.
    pub previous_output: OutPoint,
    /// Its sequence number.
    pub sequence: u32,
    /// Its witness (the scriptSig is empty).
    pub witness: InputWitness,
}

/// A signed transaction, ready for `bitcoin_send_transaction`.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    /// Inputs, in order.
    pub inputs: Vec<SignedInput>,
    /// Outputs, in order.
    pub outputs: Vec<TxOut>,
    /// Lock time.
    pub lock_time: u32,
}

/// Why a signature or witness was refused.
#[derive(CandidType, Serialize, Deserialize, thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// A compact signature is 64 bytes: r || s, 32 bytes each, big-endian.
    #[error("a compact (r || s) signature has 64 bytes, got {length}")]
    InvalidCompactLength {
        /// Its length.
        length: u32,
    },
    /// r or s is zero or not below the curve order.
    #[error("r or s is zero or not below the curve order")]
    ScalarOutOfRange,
    /// Not a strict DER encoding (BIP-66) followed by a sighash byte.
    #[error("invalid DER signature: {reason}")]
    InvalidDer {
        /// What is wrong.
        reason: String,
    },
    /// S is above half the curve order (BIP-62 low-S, a standardness rule).
    #[error("S is not low (above half the curve order)")]
    HighS,
    /// The sighash byte is not SIGHASH_ALL.
    #[error("sighash type {sighash_type:#04x}, expected SIGHASH_ALL (0x01)")]
    WrongSighashType {
        /// The byte found.
        sighash_type: u8,
    },
    /// Not a compressed public key.
    #[error("invalid public key: {reason}")]
    InvalidPublicKey {
        /// What is wrong.
        reason: String,
    },
    /// [`UnsignedTransaction::sign`] got a different number of witnesses than inputs.
    #[error("{witnesses} witnesses for {inputs} inputs")]
    WitnessCount {
        /// Inputs of the transaction.
        inputs: u32,
        /// Witnesses given.
        witnesses: u32,
    },
    /// An input index past the last input.
    #[error("input {index} does not exist: the transaction has {inputs} inputs")]
    InputIndexOutOfRange {
        /// The index asked for.
        index: u32,
        /// Inputs of the transaction.
        inputs: u32,
    },
}

/// The txid or wtxid as block explorers and Bitcoin Core print it: hex of
/// the reversed bytes.
pub fn txid_to_string(txid: &[u8; 32]) -> String {
    let mut s = String::with_capacity(64);
    for b in txid.iter().rev() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn put_outpoint(o: &OutPoint, s: &mut impl Sink) {
    s.put(&o.txid);
    s.put(&o.vout.to_le_bytes());
}

fn put_input(previous_output: &OutPoint, sequence: u32, s: &mut impl Sink) {
    put_outpoint(previous_output, s);
    put_compact_size(0, s); // empty scriptSig: the signature is in the witness
    s.put(&sequence.to_le_bytes());
}

fn put_output(o: &TxOut, s: &mut impl Sink) {
    s.put(&o.value.to_le_bytes());
    let script = o.address.script_pubkey();
    put_compact_size(script.len(), s);
    s.put(&script);
}

fn put_outputs(outputs: &[TxOut], s: &mut impl Sink) {
    put_compact_size(outputs.len(), s);
    for o in outputs {
        put_output(o, s);
    }
}

/// The P2WPKH scriptCode of BIP-143: `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY
/// OP_CHECKSIG`, with its length prefix (0x19).
fn put_p2wpkh_script_code(pubkey_hash: &[u8; 20], s: &mut impl Sink) {
    s.put(&[0x19, 0x76, 0xa9, 0x14]);
    s.put(pubkey_hash);
    s.put(&[0x88, 0xac]);
}

impl UnsignedTransaction {
    fn encode(&self, s: &mut impl Sink) {
        s.put(&TX_VERSION.to_le_bytes());
        put_compact_size(self.inputs.len(), s);
        for i in &self.inputs {
            put_input(&i.previous_output, i.sequence, s);
        }
        put_outputs(&self.outputs, s);
        s.put(&self.lock_time.to_le_bytes());
    }

    /// The serialization without witnesses (the form the txid hashes).
    pub fn serialize(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// The txid: it does not depend on the witnesses, so it is known before
    /// signing and equals the signed transaction's.
    pub fn txid(&self) -> [u8; 32] {
        let mut h = Sha256d::new();
        self.encode(&mut h);
        h.finish()
    }

    /// The sum of the values of the inputs.
    pub fn input_value(&self) -> u64 {
        self.inputs.iter().map(|i| i.value).sum()
    }

    /// The sum of the values of the outputs.
    pub fn output_value(&self) -> u64 {
        self.outputs.iter().map(|o| o.value).sum()
    }

    /// Attaches one witness per input, in input order, after checking each
    /// (strict DER, low S, SIGHASH_ALL, compressed public key). It does not
    /// verify the signatures: see [`verify_p2wpkh_signature`].
    pub fn sign(&self, witnesses: Vec<InputWitness>) -> Result<SignedTransaction, SignatureError> {
        if witnesses.len() != self.inputs.len() {
            return Err(SignatureError::WitnessCount {
                inputs: self.inputs.len() as u32,
                witnesses: witnesses.len() as u32,
            });
        }
        for w in &witnesses {
            validate_witness_signature(&w.signature)?;
            validate_compressed_public_key(&w.public_key).map_err(|e| {
                SignatureError::InvalidPublicKey {
                    reason: e.to_string(),
                }
            })?;
        }
        Ok(self.attach(witnesses))
    }

    fn attach(&self, witnesses: Vec<InputWitness>) -> SignedTransaction {
        SignedTransaction {
            inputs: self
                .inputs
                .iter()
                .zip(witnesses)
                .map(|(i, witness)| SignedInput {
                    previous_output: i.previous_output,
                    sequence: i.sequence,
                    witness,
                })
                .collect(),
            outputs: self.outputs.clone(),
            lock_time: self.lock_time,
        }
    }
}

/// The transaction signed with dummy signatures of the maximum size
/// ([`MAX_WITNESS_SIGNATURE_LEN`]) and dummy 33-byte keys: its size is an
/// upper bound of the size of the really signed transaction, to compute the
/// fee before signing.
pub fn fake_sign(tx: &UnsignedTransaction) -> SignedTransaction {
    let mut signature = vec![0u8; MAX_WITNESS_SIGNATURE_LEN];
    // 0x30 len 0x02 0x21 0x00 R(32) 0x02 0x20 S(32) sighash
    signature[0] = 0x30;
    signature[1] = (MAX_WITNESS_SIGNATURE_LEN - 3) as u8;
    signature[2] = 0x02;
    signature[3] = 33;
    signature[5] = 0x80;
    signature[37] = 0x02;
    signature[38] = 32;
    signature[39] = 0x7f;
    signature[MAX_WITNESS_SIGNATURE_LEN - 1] = SIGHASH_ALL as u8;
    let mut public_key = vec![0u8; PUBLIC_KEY_LEN];
    public_key[0] = 0x02;
    tx.attach(
        tx.inputs
            .iter()
            .map(|_| InputWitness {
                signature: signature.clone(),
                public_key: public_key.clone(),
            })
            .collect(),
    )
}

impl SignedTransaction {
    fn encode_base(&self, s: &mut impl Sink) {
        s.put(&TX_VERSION.to_le_bytes());
        put_compact_size(self.inputs.len(), s);
        for i in &self.inputs {
            put_input(&i.previous_output, i.sequence, s);
        }
        put_outputs(&self.outputs, s);
        s.put(&self.lock_time.to_le_bytes());
    }

    fn encode_full(&self, s: &mut impl Sink) {
        s.put(&TX_VERSION.to_le_bytes());
        s.put(&[SEGWIT_MARKER, SEGWIT_FLAG]);
        put_compact_size(self.inputs.len(), s);
        for i in &self.inputs {
            put_input(&i.previous_output, i.sequence, s);
        }
        put_outputs(&self.outputs, s);
        for i in &self.inputs {
            put_compact_size(2, s);
            put_compact_size(i.witness.signature.len(), s);
            s.put(&i.witness.signature);
            put_compact_size(i.witness.public_key.len(), s);
            s.put(&i.witness.public_key);
        }
        s.put(&self.lock_time.to_le_bytes());
    }

    /// The consensus serialization with witnesses (BIP-144): what
    /// `bitcoin_send_transaction` takes.
    pub fn serialize(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_full(&mut v);
        v
    }

    /// The serialization without witnesses.
    pub fn serialize_base(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_base(&mut v);
        v
    }

    /// The txid: double SHA-256 of the serialization without witnesses.
    pub fn txid(&self) -> [u8; 32] {
        let mut h = Sha256d::new();
        self.encode_base(&mut h);
        h.finish()
    }

    /// The wtxid: double SHA-256 of the serialization with witnesses.
    pub fn wtxid(&self) -> [u8; 32] {
        sha256d(&self.serialize())
    }

    /// Size in bytes without witnesses.
    pub fn base_size(&self) -> usize {
        let mut c = Counter::default();
        self.encode_base(&mut c);
        c.0
    }

    /// Size in bytes with witnesses.
    pub fn total_size(&self) -> usize {
        let mut c = Counter::default();
        self.encode_full(&mut c);
        c.0
    }

    /// Weight units (BIP-141): 3 × base size + total size.
    pub fn weight(&self) -> u64 {
        (3 * self.base_size() + self.total_size()) as u64
    }

    /// Virtual size: weight / 4, rounded up. Fee rates are per vbyte.
    pub fn vsize(&self) -> u64 {
        self.weight().div_ceil(4)
    }
}

/// The weight of a transaction with `num_inputs` P2WPKH inputs signed with
/// maximum-size signatures and outputs to `outputs`; equal to
/// `fake_sign(tx).weight()`.
///
/// `4 × (10 + cs(inputs) − 1 + cs(outputs) − 1 + 41·inputs + Σ output sizes)
/// + 2 + 108·inputs`, where 10 is version, lock time and the two one-byte
/// counts, 41 an input without witness (outpoint 36, empty scriptSig 1,
/// sequence 4), 108 a witness (item count 1, signature 1 + 72, key 1 + 33)
/// and 2 the segwit marker and flag. With one-byte counts and P2WPKH outputs
/// (31 bytes each): `42 + 272·inputs + 124·outputs`, i.e. `10.5 + 68·inputs
/// + 31·outputs` vbytes.
pub fn estimate_weight(num_inputs: usize, outputs: &[BitcoinAddress]) -> u64 {
    let base = 4
        + compact_size_len(num_inputs)
        + 41 * num_inputs
        + compact_size_len(outputs.len())
        + outputs.iter().map(|a| a.output_size()).sum::<usize>()
        + 4;
    let witness = 2 + num_inputs * (1 + 1 + MAX_WITNESS_SIGNATURE_LEN + 1 + PUBLIC_KEY_LEN);
    (4 * base + witness) as u64
}

/// [`estimate_weight`] in vbytes, rounded up.
pub fn estimate_vsize(num_inputs: usize, outputs: &[BitcoinAddress]) -> u64 {
    estimate_weight(num_inputs, outputs).div_ceil(4)
}

/// BIP-143 signature hashes of a transaction's P2WPKH inputs, with the
/// hashes shared by all inputs computed once.
pub struct SighashCache<'a> {
    tx: &'a UnsignedTransaction,
    hash_prevouts: [u8; 32],
    hash_sequence: [u8; 32],
    hash_outputs: [u8; 32],
}

impl<'a> SighashCache<'a> {
    /// Precomputes hashPrevouts, hashSequence and hashOutputs.
    pub fn new(tx: &'a UnsignedTransaction) -> Self {
        let mut prevouts = Sha256d::new();
        let mut sequence = Sha256d::new();
        for i in &tx.inputs {
            put_outpoint(&i.previous_output, &mut prevouts);
            sequence.put(&i.sequence.to_le_bytes());
        }
        let mut outputs = Sha256d::new();
        for o in &tx.outputs {
            put_output(o, &mut outputs);
        }
        Self {
            tx,
            hash_prevouts: prevouts.finish(),
            hash_sequence: sequence.finish(),
            hash_outputs: outputs.finish(),
        }
    }

    /// The digest that input `index` signs with SIGHASH_ALL when it spends a
    /// P2WPKH output of the key whose HASH160 is `pubkey_hash` (BIP-143):
    /// double SHA-256 of version, hashPrevouts, hashSequence, the outpoint,
    /// the scriptCode, the spent value, the sequence, hashOutputs, lock time
    /// and the sighash type.
    pub fn p2wpkh(&self, index: usize, pubkey_hash: &[u8; 20]) -> Result<[u8; 32], SignatureError> {
        let input = self
            .tx
            .inputs
            .get(index)
            .ok_or(SignatureError::InputIndexOutOfRange {
                index: index as u32,
                inputs: self.tx.inputs.len() as u32,
            })?;
        let mut h = Sha256d::new();
        h.put(&TX_VERSION.to_le_bytes());
        h.put(&self.hash_prevouts);
        h.put(&self.hash_sequence);
        put_outpoint(&input.previous_output, &mut h);
        put_p2wpkh_script_code(pubkey_hash, &mut h);
        h.put(&input.value.to_le_bytes());
        h.put(&input.sequence.to_le_bytes());
        h.put(&self.hash_outputs);
        h.put(&self.tx.lock_time.to_le_bytes());
        h.put(&SIGHASH_ALL.to_le_bytes());
        Ok(h.finish())
    }

    /// [`Self::p2wpkh`] for the key itself (33-byte compressed).
    pub fn p2wpkh_for_key(
        &self,
        index: usize,
        public_key: &[u8],
    ) -> Result<[u8; 32], SignatureError> {
        self.p2wpkh(index, &hash160(public_key))
    }
}

/// Converts a 64-byte compact signature (r || s, big-endian, as
/// `sign_with_ecdsa` returns it) to strict DER (BIP-66) with a low S
/// (replacing S by n − S when S > n/2, BIP-62: the same signature, and the
/// only form nodes relay). Without the sighash byte.
pub fn der_from_compact(signature: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let bytes: [u8; 64] =
        signature
            .try_into()
            .map_err(|_| SignatureError::InvalidCompactLength {
                length: signature.len() as u32,
            })?;
    let sig =
        k256::ecdsa::Signature::from_slice(&bytes).map_err(|_| SignatureError::ScalarOutOfRange)?;
    let sig = sig.normalize_s().unwrap_or(sig);
    let (r, s) = sig.split_bytes();

    fn put_integer(out: &mut Vec<u8>, bytes: &[u8]) {
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        let value = &bytes[start..];
        let pad = value[0] & 0x80 != 0;
        out.push(0x02);
        out.push((value.len() + pad as usize) as u8);
        if pad {
            out.push(0x00);
        }
        out.extend_from_slice(value);
    }
    let mut der = vec![0x30, 0];
    put_integer(&mut der, &r);
    put_integer(&mut der, &s);
    der[1] = (der.len() - 2) as u8;
    Ok(der)
}

/// [`der_from_compact`] followed by the SIGHASH_ALL byte: the first witness
/// item of a P2WPKH input.
pub fn witness_signature_from_compact(signature: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let mut der = der_from_compact(signature)?;
    der.push(SIGHASH_ALL as u8);
    Ok(der)
}

impl InputWitness {
    /// The witness of a P2WPKH input from `sign_with_ecdsa`'s 64-byte
    /// signature and the signing key (33-byte compressed).
    pub fn from_compact(signature: &[u8], public_key: &[u8]) -> Result<Self, SignatureError> {
        validate_compressed_public_key(public_key).map_err(|e| {
            SignatureError::InvalidPublicKey {
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            signature: witness_signature_from_compact(signature)?,
            public_key: public_key.to_vec(),
        })
    }
}

/// Checks a witness signature as Bitcoin Core's standardness rules do:
/// strict DER (`IsValidSignatureEncoding`, BIP-66), low S (BIP-62), and
/// here also that the sighash type is SIGHASH_ALL.
pub fn validate_witness_signature(sig: &[u8]) -> Result<(), SignatureError> {
    let der_err = |reason: &str| SignatureError::InvalidDer {
        reason: reason.to_string(),
    };
    // 0x30 [total-length] 0x02 [R-length] [R] 0x02 [S-length] [S] [sighash]
    if sig.len() < 9 || sig.len() > 73 {
        return Err(der_err("length outside 9..=73 bytes"));
    }
    if sig[0] != 0x30 {
        return Err(der_err("not a DER sequence"));
    }
    if sig[1] as usize != sig.len() - 3 {
        return Err(der_err("sequence length does not cover the signature"));
    }
    let r_len = sig[3] as usize;
    if 5 + r_len >= sig.len() {
        return Err(der_err("S is outside the signature"));
    }
    let s_len = sig[5 + r_len] as usize;
    if r_len + s_len + 7 != sig.len() {
        return Err(der_err("lengths of R and S do not add up"));
    }
    if sig[2] != 0x02 {
        return Err(der_err("R is not an integer"));
    }
    if r_len == 0 {
        return Err(der_err("R is empty"));
    }
    if sig[4] & 0x80 != 0 {
        return Err(der_err("R is negative"));
    }
    if r_len > 1 && sig[4] == 0 && sig[5] & 0x80 == 0 {
        return Err(der_err("R has a superfluous leading zero"));
    }
    if sig[r_len + 4] != 0x02 {
        return Err(der_err("S is not an integer"));
    }
    if s_len == 0 {
        return Err(der_err("S is empty"));
    }
    if sig[r_len + 6] & 0x80 != 0 {
        return Err(der_err("S is negative"));
    }
    if s_len > 1 && sig[r_len + 6] == 0 && sig[r_len + 7] & 0x80 == 0 {
        return Err(der_err("S has a superfluous leading zero"));
    }
    let sighash_type = sig[sig.len() - 1];
    if sighash_type as u32 != SIGHASH_ALL {
        return Err(SignatureError::WrongSighashType { sighash_type });
    }
    // Low S: compare S with n/2.
    let s = &sig[r_len + 6..r_len + 6 + s_len];
    let s = &s[s.iter().position(|&b| b != 0).unwrap_or(s.len())..];
    if s.len() > 32 {
        return Err(SignatureError::HighS);
    }
    let mut s32 = [0u8; 32];
    s32[32 - s.len()..].copy_from_slice(s);
    const HALF_ORDER: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b,
        0x20, 0xa0,
    ];
    if s32 > HALF_ORDER {
        return Err(SignatureError::HighS);
    }
    Ok(())
}

/// Verifies a 64-byte compact ECDSA signature (high or low S) of `digest`
/// by a compressed public key: a check of `sign_with_ecdsa`'s answer before
/// broadcasting.
pub fn verify_p2wpkh_signature(public_key: &[u8], digest: &[u8; 32], signature: &[u8]) -> bool {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let Ok(key) = k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key) else {
        return false;
    };
    let Ok(sig) = k256::ecdsa::Signature::from_slice(signature) else {
        return false;
    };
    let sig = sig.normalize_s().unwrap_or(sig);
    key.verify_prehash(digest, &sig).is_ok()
}

#[cfg(test)]
mod tests;
