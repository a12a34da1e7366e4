//! Batch payout transactions and their replacements (RBF).
//!
//! # Building ([`build_payout`])
//!
//! 1. **Checks**: 1 to [`MAX_REQUESTS`] requests; no UTXO listed twice.
//! 2. **UTXO selection, largest first**: the UTXOs (zero-value ones left
//!    out) are sorted by value, largest first, ties by outpoint, and taken
//!    in that order until they cover the sum of the requested amounts.
//!    The fee is deducted from the payouts, so the inputs only need to cover
//!    the amounts. Largest-first uses the fewest inputs, so the smallest fee;
//!    the price is that small deposit UTXOs are left for later (a
//!    consolidation is a payout to the escrow's own address). More than
//!    [`MAX_INPUTS`] needed: [`BuildError::TooManyInputs`]; not enough in
//!    all: [`BuildError::InsufficientFunds`]. The result does not depend on
//!    the order of the given UTXOs.
//! 3. **Outputs**: one per request, in request order, then the change
//!    (inputs − amounts) to the change address if it is above that
//!    address's dust threshold. Otherwise there is no change output and the
//!    change goes to the fee.
//! 4. **Fee**: `ceil(vsize × rate / 1000)` satoshi, the vsize measured on
//!    the transaction signed with dummy maximum-size signatures
//!    ([`fake_sign`]), so it is an upper bound of the
//!    real size. Change dropped to the fee pays for part of it.
//! 5. **Fee shares**: the rest of the fee is split equally among the
//!    payouts and deducted from each (as the ckBTC minter does): with `F`
//!    to share among `n`, each pays `F / n` and the first `F mod n` pay one
//!    satoshi more. The change output pays no share.
//! 6. **Dust**: a payout whose amount minus its share would be at or under
//!    its address's dust threshold (294 P2WPKH, 330 P2TR/P2WSH, 546 P2PKH,
//!    540 P2SH) is refused: [`BuildError::DustOutputs`] lists every such
//!    request by index, for the caller to drop them (or wait) and rebuild.
//!
//! Value is conserved: Σ inputs = Σ outputs + fee, and fee = Σ shares +
//! change dropped to the fee.
//!
//! # Replacing ([`replace`])
//!
//! A stuck transaction is replaced by one spending the **same inputs**
//! (so the two conflict), with the same payouts and change rule and a higher
//! fee. BIP-125 as Bitcoin Core applies it: the original signals
//! replaceability (sequence `0xfffffffd`, rule 1); the replacement adds no
//! unconfirmed inputs (rule 2: it adds none); pays an absolute fee at least
//! the original's (rule 3) plus the replacement's own vsize at the
//! incremental relay fee, 1 sat/vB (rule 4). So the new fee is
//! `max(fee at the new rate, old fee + vsize × 1 sat/vB)`, its vsize the
//! same as the old (same inputs and outputs). The payouts bear the increase
//! through their shares, so a replacement can fail with
//! [`BuildError::DustOutputs`] where the original did not.

use crate::address::BitcoinAddress;
use crate::fees::{fee_for_vsize, MillisatPerVbyte, INCREMENTAL_RELAY_FEE_RATE};
use crate::tx::{
    fake_sign, OutPoint, TxOut, UnsignedInput, UnsignedTransaction, Utxo, LOCK_TIME, SEQUENCE_RBF,
};
use candid::CandidType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most inputs in one transaction.
pub const MAX_INPUTS: usize = 100;
/// Most payout requests (so payout outputs) in one transaction; the change
/// output comes on top.
pub const MAX_REQUESTS: usize = 100;

/// One payout: `amount` satoshi are debited from the requester; the
/// address receives `amount` minus its fee share.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PayoutRequest {
    /// Destination.
    pub address: BitcoinAddress,
    /// Satoshi, fee share included.
    pub amount: u64,
}

/// A built, unsigned payout transaction and how its value splits.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BuiltTransaction {
    /// The transaction: outputs `0..requests.len()` are the payouts in
    /// request order; the change output, if any, is last.
    pub tx: UnsignedTransaction,
    /// The requests it pays.
    pub requests: Vec<PayoutRequest>,
    /// The UTXOs it spends: `tx.inputs[i]` spends `spent_utxos[i]`.
    pub spent_utxos: Vec<Utxo>,
    /// Where change goes.
    pub change_address: BitcoinAddress,
    /// The change output's value, `None` when there is no change output.
    pub change: Option<u64>,
    /// Change too small for an output, added to the fee (0 when there is a
    /// change output). The escrow pays it, not the requesters.
    pub change_to_fee: u64,
    /// Each request's share of the fee, in request order.
    pub fee_shares: Vec<u64>,
    /// The fee: Σ inputs − Σ outputs = Σ fee_shares + change_to_fee.
    pub fee: u64,
    /// The fee rate asked for, millisat/vB.
    pub fee_rate: MillisatPerVbyte,
    /// The vsize with maximum-size signatures (the real one is at most this).
    pub vsize: u64,
}

impl BuiltTransaction {
    /// The txid (known before signing).
    pub fn txid(&self) -> [u8; 32] {
        self.tx.txid()
    }

    /// What each payout address receives, in request order.
    pub fn payout_values(&self) -> Vec<u64> {
        self.tx.outputs[..self.requests.len()]
            .iter()
            .map(|o| o.value)
            .collect()
    }
}

/// A payout that would be dust after its fee share.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DustOutput {
    /// Index of the request in the slice given to the builder.
    pub request_index: u32,
    /// Its address.
    pub address: BitcoinAddress,
    /// Its amount.
    pub amount: u64,
    /// Its share of the fee.
    pub fee_share: u64,
    /// Its address's dust threshold: amount − share must exceed it.
    pub dust_threshold: u64,
}

/// Why no transaction was built.
#[derive(CandidType, Serialize, Deserialize, thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// No requests.
    #[error("no payout requests")]
    NoRequests,
    /// More than [`MAX_REQUESTS`] requests.
    #[error("{count} payout requests; at most {max} per transaction")]
    TooManyRequests {
        /// How many were given.
        count: u32,
        /// [`MAX_REQUESTS`].
        max: u32,
    },
    /// The same outpoint twice among the UTXOs.
    #[error("UTXO {txid}:{vout} is listed twice", txid = crate::tx::txid_to_string(&outpoint.txid), vout = outpoint.vout)]
    DuplicateUtxo {
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// The amounts add up to more than a u64.
    #[error("the requested amounts overflow")]
    AmountOverflow,
    /// All UTXOs together do not cover the requested amounts.
    #[error("insufficient funds: {requested} sat requested, {available} sat available")]
    InsufficientFunds {
        /// Σ amounts.
        requested: u64,
        /// Σ UTXO values.
        available: u64,
    },
    /// The amounts are covered only with more than [`MAX_INPUTS`] inputs.
    #[error("{needed} inputs needed to pay {requested} sat; at most {max} per transaction")]
    TooManyInputs {
        /// Inputs needed, largest first.
        needed: u32,
        /// [`MAX_INPUTS`].
        max: u32,
        /// Σ amounts.
        requested: u64,
    },
    /// Payouts that would be dust after their fee share.
    #[error("{} payout(s) at or under dust after the fee share (requests {})", .outputs.len(), .outputs.iter().map(|o| o.request_index.to_string()).collect::<Vec<_>>().join(", "))]
    DustOutputs {
        /// Every such payout.
        outputs: Vec<DustOutput>,
    },
}

/// Splits `amount` into `n` shares as equal as possible, the first
/// `amount mod n` one larger: `distribute(5, 3) = [2, 2, 1]`.
pub fn distribute(amount: u64, n: usize) -> Vec<u64> {
    if n == 0 {
        return vec![];
    }
    let (each, rest) = (amount / n as u64, (amount % n as u64) as usize);
    (0..n).map(|i| each + u64::from(i < rest)).collect()
}

/// Builds a batch payout: see the [module documentation](self) for the
/// rules. `fee_rate` is in millisat/vB (see [`crate::fees`]);
/// `change_address` is the escrow's own (P2WPKH) address. Deterministic.
pub fn build_payout(
    requests: &[PayoutRequest],
    utxos: &[Utxo],
    change_address: &BitcoinAddress,
    fee_rate: MillisatPerVbyte,
) -> Result<BuiltTransaction, BuildError> {
    let requested = check_requests(requests)?;
    let mut seen = BTreeSet::new();
    for u in utxos {
        if !seen.insert(u.outpoint) {
            return Err(BuildError::DuplicateUtxo {
                outpoint: u.outpoint,
            });
        }
    }
    let mut candidates: Vec<Utxo> = utxos.iter().filter(|u| u.value > 0).copied().collect();
    candidates.sort_by(|a, b| b.value.cmp(&a.value).then(a.outpoint.cmp(&b.outpoint)));

    let mut selected = Vec::new();
    let mut total: u128 = 0;
    for u in &candidates {
        if total >= requested as u128 {
            break;
        }
        selected.push(*u);
        total += u.value as u128;
    }
    if total < requested as u128 {
        return Err(BuildError::InsufficientFunds {
            requested,
            available: u64::try_from(total).unwrap_or(u64::MAX),
        });
    }
    if selected.len() > MAX_INPUTS {
        return Err(BuildError::TooManyInputs {
            needed: selected.len() as u32,
            max: MAX_INPUTS as u32,
            requested,
        });
    }
    assemble(requests, selected, change_address, fee_rate, 0)
}

/// A replacement of `previous` (BIP-125) at `fee_rate`: same inputs, same
/// payouts, fee `max(fee at fee_rate, previous.fee + vsize × 1 sat/vB)`.
/// See the [module documentation](self).
pub fn replace(
    previous: &BuiltTransaction,
    fee_rate: MillisatPerVbyte,
) -> Result<BuiltTransaction, BuildError> {
    check_requests(&previous.requests)?;
    let min_fee = previous
        .fee
        .saturating_add(fee_for_vsize(previous.vsize, INCREMENTAL_RELAY_FEE_RATE));
    assemble(
        &previous.requests,
        previous.spent_utxos.clone(),
        &previous.change_address,
        fee_rate,
        min_fee,
    )
}

fn check_requests(requests: &[PayoutRequest]) -> Result<u64, BuildError> {
    if requests.is_empty() {
        return Err(BuildError::NoRequests);
    }
    if requests.len() > MAX_REQUESTS {
        return Err(BuildError::TooManyRequests {
            count: requests.len() as u32,
            max: MAX_REQUESTS as u32,
        });
    }
    requests
        .iter()
        .try_fold(0u64, |sum, r| sum.checked_add(r.amount))
        .ok_or(BuildError::AmountOverflow)
}

/// Builds the transaction spending exactly `spent` (in that order) with a
/// fee of at least `min_fee` and at least `fee_rate` × vsize.
fn assemble(
    requests: &[PayoutRequest],
    spent: Vec<Utxo>,
    change_address: &BitcoinAddress,
    fee_rate: MillisatPerVbyte,
    min_fee: u64,
) -> Result<BuiltTransaction, BuildError> {
    let requested = check_requests(requests)?;
    let input_value = spent
        .iter()
        .try_fold(0u64, |sum, u| sum.checked_add(u.value))
        .ok_or(BuildError::AmountOverflow)?;
    let Some(change_value) = input_value.checked_sub(requested) else {
        return Err(BuildError::InsufficientFunds {
            requested,
            available: input_value,
        });
    };
    let keep_change = change_value > change_address.dust_threshold();

    let mut outputs: Vec<TxOut> = requests
        .iter()
        .map(|r| TxOut {
            value: r.amount,
            address: r.address.clone(),
        })
        .collect();
    if keep_change {
        outputs.push(TxOut {
            value: change_value,
            address: change_address.clone(),
        });
    }
    let mut tx = UnsignedTransaction {
        inputs: spent
            .iter()
            .map(|u| UnsignedInput {
                previous_output: u.outpoint,
                value: u.value,
                sequence: SEQUENCE_RBF,
            })
            .collect(),
        outputs,
        lock_time: LOCK_TIME,
    };
    // Output values do not change the size: measure now.
    let vsize = fake_sign(&tx).vsize();
    let network_fee = fee_for_vsize(vsize, fee_rate).max(min_fee);
    let change_to_fee = if keep_change { 0 } else { change_value };
    let fee_shares = distribute(network_fee.saturating_sub(change_to_fee), requests.len());

    let dust: Vec<DustOutput> = requests
        .iter()
        .zip(&fee_shares)
        .enumerate()
        .filter(|(_, (r, share))| r.amount <= share.saturating_add(r.address.dust_threshold()))
        .map(|(i, (r, share))| DustOutput {
            request_index: i as u32,
            address: r.address.clone(),
            amount: r.amount,
            fee_share: *share,
            dust_threshold: r.address.dust_threshold(),
        })
        .collect();
    if !dust.is_empty() {
        return Err(BuildError::DustOutputs { outputs: dust });
    }
    for (output, share) in tx.outputs.iter_mut().zip(&fee_shares) {
        output.value -= share;
    }
    let fee = input_value - tx.output_value();
    debug_assert_eq!(fee, fee_shares.iter().sum::<u64>() + change_to_fee);
    debug_assert!(fee >= network_fee);
    Ok(BuiltTransaction {
        tx,
        requests: requests.to_vec(),
        spent_utxos: spent,
        change_address: change_address.clone(),
        change: keep_change.then_some(change_value),
        change_to_fee,
        fee_shares,
        fee,
        fee_rate,
        vsize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribute_spreads_the_remainder_first() {
        assert_eq!(distribute(5, 3), vec![2, 2, 1]);
        assert_eq!(distribute(6, 3), vec![2, 2, 2]);
        assert_eq!(distribute(0, 2), vec![0, 0]);
        assert_eq!(distribute(7, 0), Vec::<u64>::new());
    }
}
