//! What bitcoind's mempool accepts, with its reject reasons.
//!
//! A transaction is accepted when it decodes, passes the context-free consensus
//! checks and bitcoind's standardness policy, spends outputs that exist (in the
//! UTXO set at the tip or created by a mempool transaction) and are not spent,
//! pays at least the minimum relay fee, and every input script verifies with
//! Bitcoin Core's consensus code. A transaction spending an output a mempool
//! transaction already spends is a replacement and must follow BIP125.

use super::chain::Chain;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::{Amount, OutPoint, Transaction, TxOut, Txid, Weight};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// bitcoind's `-minrelaytxfee` and `-incrementalrelayfee` defaults: 1 sat/vB.
pub const MIN_RELAY_FEE_SAT_PER_VB: u64 = 1;
/// bitcoind's `MAX_STANDARD_TX_WEIGHT`.
pub const MAX_STANDARD_TX_WEIGHT: Weight = Weight::from_wu(400_000);
/// bitcoind's `MIN_STANDARD_TX_NONWITNESS_SIZE`.
pub const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// bitcoind's `MAX_STANDARD_SCRIPTSIG_SIZE`.
pub const MAX_STANDARD_SCRIPTSIG_SIZE: usize = 1650;
/// bitcoind's `-datacarriersize` default: an OP_RETURN script of at most 83 bytes.
pub const MAX_OP_RETURN_RELAY: usize = 83;
/// BIP125 rule 5: at most this many transactions replaced at once.
pub const MAX_REPLACEMENT_CANDIDATES: usize = 100;
/// The highest standard transaction version in Bitcoin Core 26 (the consensus
/// library's version).
pub const MAX_STANDARD_TX_VERSION: i32 = 2;
/// The script flags of the taproot era that `libbitcoinconsensus` accepts:
/// P2SH, strict DER, NULLDUMMY, CLTV, CSV, witness and taproot.
pub const SCRIPT_VERIFY_FLAGS: u32 =
    bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;

/// Why a transaction was refused; bitcoind's reject reason is in the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // each variant's doc and message name its fields
pub enum SendError {
    #[error("MalformedTransaction: {0}")]
    /// The bytes are not a transaction (the canister's `MalformedTransaction`).
    Malformed(String),
    #[error("{0}")]
    /// Fails a context-free consensus check (bitcoind's reason).
    Invalid(&'static str),
    #[error("non-standard transaction: {0}")]
    /// Fails bitcoind's standardness policy.
    NonStandard(String),
    #[error("dust: output {vout} of {value} sat is below the dust threshold of {threshold} sat")]
    /// An output below the dust threshold (3 sat/vB dust relay fee).
    Dust {
        vout: usize,
        value: u64,
        threshold: u64,
    },
    #[error("bad-txns-inputs-missingorspent: input {input} spends {outpoint}, which is not an unspent output")]
    /// An input spends an output that does not exist or is spent in a block.
    MissingOrSpent { input: usize, outpoint: OutPoint },
    #[error("bad-txns-in-belowout: inputs {inputs} sat < outputs {outputs} sat")]
    /// The outputs exceed the inputs.
    InputsBelowOutputs { inputs: u64, outputs: u64 },
    #[error("min relay fee not met: {fee} sat < {required} sat")]
    /// Pays less than 1 sat/vB.
    MinRelayFeeNotMet { fee: u64, required: u64 },
    #[error("mandatory-script-verify-flag-failed: input {input}: {reason}")]
    /// An input script fails Bitcoin Core's consensus verification.
    ScriptVerification { input: usize, reason: String },
    #[error("txn-mempool-conflict: {conflict} spends the same output and does not signal replaceability (BIP125)")]
    /// Spends what a mempool transaction spends, and that one does not signal BIP125.
    ConflictNotReplaceable { conflict: Txid },
    #[error("replacement-adds-unconfirmed: input {input} spends an unconfirmed output the replaced transactions did not spend")]
    /// BIP125 rule 2.
    ReplacementAddsUnconfirmed { input: usize },
    #[error("bad-txns-spends-conflicting-tx: input {input} spends an output of a transaction it replaces")]
    /// Spends an output of a transaction it would replace.
    SpendsConflictingTransaction { input: usize },
    #[error("too many potential replacements: {count} > {MAX_REPLACEMENT_CANDIDATES}")]
    /// BIP125 rule 5.
    TooManyReplacements { count: usize },
    #[error("insufficient fee: {reason}")]
    /// BIP125 rules 3 and 4, or a fee rate not above a conflict's.
    InsufficientReplacementFee { reason: String },
}

/// A transaction in the mempool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolEntry {
    /// The transaction.
    pub tx: Transaction,
    /// Inputs minus outputs.
    pub fee: Amount,
    /// Virtual size (weight / 4, rounded up).
    pub vsize: u64,
    /// Arrival order: a parent always arrives before its children, so blocks
    /// take transactions in this order.
    sequence: u64,
}

/// What `submit` did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant's doc and message name its fields
pub enum Submitted {
    /// Entered the mempool, replacing the listed transactions (BIP125).
    Accepted { txid: Txid, replaced: Vec<Txid> },
    /// Already in the mempool or in a block: nothing changes (the IC's
    /// Bitcoin canister does not tell callers either).
    AlreadyKnown { txid: Txid },
}

/// Transactions waiting for a block.
#[derive(Default)]
pub struct Mempool {
    entries: BTreeMap<Txid, MempoolEntry>,
    /// Which mempool transaction spends each outpoint.
    spenders: HashMap<OutPoint, Txid>,
    next_sequence: u64,
}

/// A transaction that passed the checks that need no mempool state.
struct Candidate {
    tx: Transaction,
    txid: Txid,
    prevouts: Vec<TxOut>,
    fee: Amount,
    vsize: u64,
}

impl Mempool {
    /// A mempool transaction.
    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// Entries in arrival order.
    pub fn entries(&self) -> Vec<&MempoolEntry> {
        let mut entries: Vec<&MempoolEntry> = self.entries.values().collect();
        entries.sort_by_key(|e| e.sequence);
        entries
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no transaction waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spenders.get(outpoint).copied()
    }

    /// Validates a serialised transaction and adds it (see the module docs).
    pub fn submit(&mut self, chain: &Chain, bytes: &[u8]) -> Result<Submitted, SendError> {
        let tx: Transaction =
            deserialize(bytes).map_err(|e| SendError::Malformed(e.to_string()))?;
        let txid = tx.compute_txid();
        if self.entries.contains_key(&txid) || chain.transaction(&txid).is_some() {
            return Ok(Submitted::AlreadyKnown { txid });
        }
        check_transaction(&tx)?;
        check_standard(&tx)?;
        let prevouts = self.resolve_inputs(chain, &tx)?;
        let candidate = Candidate::new(tx, txid, prevouts)?;
        verify_scripts(&candidate.tx, &candidate.prevouts)?;
        let replaced = self.check_replacement(&candidate)?;
        for txid in &replaced {
            self.remove(txid);
        }
        self.insert(candidate);
        Ok(Submitted::Accepted { txid, replaced })
    }

    /// The spent output of every input: in the UTXO set at the tip, or an
    /// output of a mempool transaction.
    fn resolve_inputs(&self, chain: &Chain, tx: &Transaction) -> Result<Vec<TxOut>, SendError> {
        tx.input
            .iter()
            .enumerate()
            .map(|(input, txin)| {
                let outpoint = txin.previous_output;
                chain
                    .unspent_output(&outpoint)
                    .cloned()
                    .or_else(|| self.mempool_output(&outpoint))
                    .ok_or(SendError::MissingOrSpent { input, outpoint })
            })
            .collect()
    }

    fn mempool_output(&self, outpoint: &OutPoint) -> Option<TxOut> {
        self.entries
            .get(&outpoint.txid)?
            .tx
            .output
            .get(outpoint.vout as usize)
            .cloned()
    }

    /// BIP125: the transactions a replacement evicts, or why it may not.
    fn check_replacement(&self, candidate: &Candidate) -> Result<Vec<Txid>, SendError> {
        let conflicts: BTreeSet<Txid> = candidate
            .tx
            .input
            .iter()
            .filter_map(|txin| self.spender(&txin.previous_output))
            .collect();
        if conflicts.is_empty() {
            return Ok(Vec::new());
        }
        // Rule 1 (signalling is checked on the conflicts themselves; inherited
        // signalling through unconfirmed ancestors is not modelled).
        if let Some(conflict) = conflicts
            .iter()
            .find(|txid| !self.entries[*txid].tx.is_explicitly_rbf())
        {
            return Err(SendError::ConflictNotReplaceable {
                conflict: *conflict,
            });
        }
        let evicted = self.with_descendants(&conflicts);
        if evicted.len() > MAX_REPLACEMENT_CANDIDATES {
            return Err(SendError::TooManyReplacements {
                count: evicted.len(),
            }); // rule 5
        }
        self.check_replacement_inputs(candidate, &conflicts, &evicted)?;
        self.check_replacement_fees(candidate, &conflicts, &evicted)?;
        Ok(evicted.into_iter().collect())
    }

    /// Rule 2: no new unconfirmed inputs; and no spending what is replaced.
    fn check_replacement_inputs(
        &self,
        candidate: &Candidate,
        conflicts: &BTreeSet<Txid>,
        evicted: &BTreeSet<Txid>,
    ) -> Result<(), SendError> {
        let original_inputs: BTreeSet<OutPoint> = conflicts
            .iter()
            .flat_map(|txid| {
                self.entries[txid]
                    .tx
                    .input
                    .iter()
                    .map(|i| i.previous_output)
            })
            .collect();
        for (input, txin) in candidate.tx.input.iter().enumerate() {
            let parent = txin.previous_output.txid;
            if evicted.contains(&parent) {
                return Err(SendError::SpendsConflictingTransaction { input });
            }
            if self.entries.contains_key(&parent)
                && !original_inputs.contains(&txin.previous_output)
            {
                return Err(SendError::ReplacementAddsUnconfirmed { input });
            }
        }
        Ok(())
    }

    /// Rules 3 and 4, and bitcoind's rule that the replacement's fee rate beats
    /// each direct conflict's.
    fn check_replacement_fees(
        &self,
        candidate: &Candidate,
        conflicts: &BTreeSet<Txid>,
        evicted: &BTreeSet<Txid>,
    ) -> Result<(), SendError> {
        let fee = candidate.fee.to_sat();
        for txid in conflicts {
            let original = &self.entries[txid];
            // fee / vsize > original.fee / original.vsize, without division
            if u128::from(fee) * u128::from(original.vsize)
                <= u128::from(original.fee.to_sat()) * u128::from(candidate.vsize)
            {
                return Err(SendError::InsufficientReplacementFee {
                    reason: format!(
                        "rejecting replacement {}; new feerate is not above that of {txid}",
                        candidate.txid
                    ),
                });
            }
        }
        let replaced_fees: u64 = evicted
            .iter()
            .map(|txid| self.entries[txid].fee.to_sat())
            .sum();
        if fee < replaced_fees {
            return Err(SendError::InsufficientReplacementFee {
                reason: format!("rejecting replacement {}, less fees than conflicting txs; {fee} < {replaced_fees}", candidate.txid),
            });
        }
        let required_extra = candidate.vsize * MIN_RELAY_FEE_SAT_PER_VB;
        if fee - replaced_fees < required_extra {
            return Err(SendError::InsufficientReplacementFee {
                reason: format!(
                    "rejecting replacement {}, not enough additional fees to relay; {} < {required_extra}",
                    candidate.txid,
                    fee - replaced_fees
                ),
            });
        }
        Ok(())
    }

    /// `roots` and every mempool transaction that spends their outputs, transitively.
    fn with_descendants(&self, roots: &BTreeSet<Txid>) -> BTreeSet<Txid> {
        let mut found = roots.clone();
        let mut pending: Vec<Txid> = roots.iter().copied().collect();
        while let Some(txid) = pending.pop() {
            let outputs = self.entries[&txid].tx.output.len() as u32;
            for vout in 0..outputs {
                if let Some(child) = self.spender(&OutPoint::new(txid, vout)) {
                    if found.insert(child) {
                        pending.push(child);
                    }
                }
            }
        }
        found
    }

    fn insert(&mut self, candidate: Candidate) {
        for txin in &candidate.tx.input {
            self.spenders.insert(txin.previous_output, candidate.txid);
        }
        let entry = MempoolEntry {
            tx: candidate.tx,
            fee: candidate.fee,
            vsize: candidate.vsize,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        self.entries.insert(candidate.txid, entry);
    }

    fn remove(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let entry = self.entries.remove(txid)?;
        for txin in &entry.tx.input {
            if self.spenders.get(&txin.previous_output) == Some(txid) {
                self.spenders.remove(&txin.previous_output);
            }
        }
        Some(entry)
    }

    /// Empties the mempool into a block template: transactions in arrival
    /// order (parents first) and their total fee.
    pub fn take_all(&mut self) -> (Vec<Transaction>, Amount) {
        let entries: Vec<MempoolEntry> = self.entries().into_iter().cloned().collect();
        self.entries.clear();
        self.spenders.clear();
        let fees = entries.iter().map(|e| e.fee).sum();
        (entries.into_iter().map(|e| e.tx).collect(), fees)
    }
}

impl Candidate {
    /// Fee and size; the fee must cover the inputs and the minimum relay fee.
    fn new(tx: Transaction, txid: Txid, prevouts: Vec<TxOut>) -> Result<Self, SendError> {
        let inputs: u64 = prevouts.iter().map(|o| o.value.to_sat()).sum();
        let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        if inputs < outputs {
            return Err(SendError::InputsBelowOutputs { inputs, outputs });
        }
        let vsize = tx.vsize() as u64;
        let fee = inputs - outputs;
        let required = vsize * MIN_RELAY_FEE_SAT_PER_VB;
        if fee < required {
            return Err(SendError::MinRelayFeeNotMet { fee, required });
        }
        Ok(Candidate {
            tx,
            txid,
            prevouts,
            fee: Amount::from_sat(fee),
            vsize,
        })
    }
}

/// Bitcoin Core's `CheckTransaction`: the checks that need no context.
fn check_transaction(tx: &Transaction) -> Result<(), SendError> {
    if tx.input.is_empty() {
        return Err(SendError::Invalid("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(SendError::Invalid("bad-txns-vout-empty"));
    }
    if tx.is_coinbase() {
        return Err(SendError::Invalid("coinbase"));
    }
    let mut total = Amount::ZERO;
    for output in &tx.output {
        if output.value > Amount::MAX_MONEY {
            return Err(SendError::Invalid("bad-txns-vout-toolarge"));
        }
        total = total
            .checked_add(output.value)
            .filter(|t| *t <= Amount::MAX_MONEY)
            .ok_or(SendError::Invalid("bad-txns-txouttotal-toolarge"))?;
    }
    let distinct: BTreeSet<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
    if distinct.len() != tx.input.len() {
        return Err(SendError::Invalid("bad-txns-inputs-duplicate"));
    }
    if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(SendError::Invalid("bad-txns-prevout-null"));
    }
    Ok(())
}

/// Bitcoin Core's `IsStandardTx` (default policy), less bare multisig outputs,
/// which localnet refuses (see docs/localnet.md).
fn check_standard(tx: &Transaction) -> Result<(), SendError> {
    let version = tx.version.0;
    if !(1..=MAX_STANDARD_TX_VERSION).contains(&version) {
        return Err(SendError::NonStandard("version".into()));
    }
    if tx.weight() > MAX_STANDARD_TX_WEIGHT {
        return Err(SendError::NonStandard("tx-size".into()));
    }
    if tx.base_size() < MIN_STANDARD_TX_NONWITNESS_SIZE {
        return Err(SendError::NonStandard("tx-size-small".into()));
    }
    for txin in &tx.input {
        if txin.script_sig.len() > MAX_STANDARD_SCRIPTSIG_SIZE {
            return Err(SendError::NonStandard("scriptsig-size".into()));
        }
        if !txin.script_sig.is_push_only() {
            return Err(SendError::NonStandard("scriptsig-not-pushonly".into()));
        }
    }
    check_standard_outputs(tx)
}

fn check_standard_outputs(tx: &Transaction) -> Result<(), SendError> {
    let mut op_returns = 0;
    for (vout, output) in tx.output.iter().enumerate() {
        let script = &output.script_pubkey;
        if script.is_op_return() {
            if script.len() > MAX_OP_RETURN_RELAY {
                return Err(SendError::NonStandard(format!(
                    "scriptpubkey: output {vout} is an OP_RETURN of {} bytes",
                    script.len()
                )));
            }
            op_returns += 1;
            continue;
        }
        if !(script.is_p2pkh() || script.is_p2sh() || script.is_witness_program()) {
            return Err(SendError::NonStandard(format!(
                "scriptpubkey: output {vout} has an unknown script type"
            )));
        }
        let threshold = script.minimal_non_dust();
        if output.value < threshold {
            return Err(SendError::Dust {
                vout,
                value: output.value.to_sat(),
                threshold: threshold.to_sat(),
            });
        }
    }
    if op_returns > 1 {
        return Err(SendError::NonStandard("multi-op-return".into()));
    }
    Ok(())
}

/// Every input script, with the spent outputs (taproot signs all of them).
fn verify_scripts(tx: &Transaction, prevouts: &[TxOut]) -> Result<(), SendError> {
    let tx_bytes = serialize(tx);
    let spent: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|o| bitcoinconsensus::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    for (input, prevout) in prevouts.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            prevout.script_pubkey.as_bytes(),
            prevout.value.to_sat(),
            &tx_bytes,
            Some(&spent),
            input,
            SCRIPT_VERIFY_FLAGS,
        )
        .map_err(|e| SendError::ScriptVerification {
            input,
            reason: consensus_error(e),
        })?;
    }
    Ok(())
}

/// `ERR_SCRIPT` is the library's "the script failed" (its Display says the
/// error was not set, which misleads).
fn consensus_error(e: bitcoinconsensus::Error) -> String {
    match e {
        bitcoinconsensus::Error::ERR_SCRIPT => "the script does not verify".to_string(),
        other => other.to_string(),
    }
}
