//! Native BTC records in stable memory and the synchronous state changes of
//! deposits and payouts. Each method checks, moves money, updates the totals
//! and appends its event — or changes nothing — so an `await` can never
//! separate a debit from its record.
//!
//! Where the money is, for the conservation invariant:
//! - a credited deposit UTXO adds to `deposits` and joins the pool;
//! - a payout request moves `amount` from available into pending payouts;
//! - a batch moves change that is too small to keep (given to the miners'
//!   fee) from the treasury into pending payouts;
//! - a confirmed batch moves its requests and that treasury part from
//!   pending payouts to `withdrawals`.

use super::{Cbor, State};
use crate::types::EventKind;
use crate::types::*;
use candid::Principal;
use serde::{Deserialize, Serialize};
use tensormine_bitcoin::tx::txid_to_string;
use tensormine_bitcoin::{BuiltTransaction, ExtendedPublicKey, OutPoint, Utxo};

/// A deposit UTXO seen at a deposit address.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SeenDeposit {
    pub owner: Principal,
    pub amount: Sats,
    /// `false`: below the minimum deposit, never credited (and not spent).
    pub credited: bool,
}

/// A UTXO the escrow can spend, with the derivation path of its key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PoolUtxo {
    pub utxo: Utxo,
    pub path: Vec<Vec<u8>>,
}

/// A payout transaction, from submission to confirmation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: u64,
    pub requests: Vec<u64>,
    /// The latest version (the original or the last RBF replacement).
    pub built: BuiltTransaction,
    /// Derivation path of each input, in input order.
    pub paths: Vec<Vec<Vec<u8>>>,
    /// Change given to the fee, taken from the treasury.
    pub treasury_debit: Sats,
    /// Every version's txid: any of them may be the one that confirms.
    pub versions: Vec<[u8; 32]>,
    /// The signed latest version, once signed.
    pub signed: Option<serde_bytes::ByteBuf>,
    pub created_at_ns: u64,
    /// When the Bitcoin canister last accepted it (0: not yet).
    pub last_sent_ns: u64,
    pub last_error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct BtcMeta {
    pub key: Option<ExtendedPublicKey>,
    pub next_request_id: u64,
    pub next_batch_id: u64,
}

/// A deposit address the timer checks for a while after it was requested.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    pub requested_at_ns: u64,
    pub checked_at_ns: u64,
}

/// What became of one UTXO found at a deposit address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepositOutcome {
    Known,
    Credited,
    TooSmall,
}

pub fn outpoint_key(o: &OutPoint) -> String {
    format!("{}:{}", txid_to_string(&o.txid), o.vout)
}

pub fn utxo_info(u: &Utxo) -> BtcUtxo {
    BtcUtxo {
        txid: txid_to_string(&u.outpoint.txid),
        vout: u.outpoint.vout,
        amount: u.value,
        height: u.height,
    }
}

impl Batch {
    pub fn info(&self) -> BtcBatchInfo {
        BtcBatchInfo {
            id: self.id,
            txids: self.versions.iter().map(txid_to_string).collect(),
            requests: self.requests.clone(),
            fee: self.built.fee,
            treasury_debit: self.treasury_debit,
            inputs: self.built.spent_utxos.len() as u32,
            last_sent_ns: self.last_sent_ns,
            last_error: self.last_error.clone(),
        }
    }
}

impl State {
    fn meta(&self) -> BtcMeta {
        self.btc_meta.get().0.clone()
    }

    fn update_meta<R>(&mut self, f: impl FnOnce(&mut BtcMeta) -> R) -> R {
        let mut m = self.meta();
        let r = f(&mut m);
        self.btc_meta.set(Cbor(m));
        r
    }

    pub fn btc_key(&self) -> Option<ExtendedPublicKey> {
        self.meta().key
    }

    /// Caches the key; a key already cached wins (addresses were derived from it).
    pub fn set_btc_key(&mut self, key: ExtendedPublicKey) -> ExtendedPublicKey {
        self.update_meta(|m| m.key.get_or_insert(key).clone())
    }

    /// Pending payouts of the BTC side: queued and submitted requests plus
    /// the treasury part of unconfirmed batches.
    pub fn btc_pending_sum(&self) -> Sats {
        let requests: Sats = self.btc_requests.iter().map(|e| e.value().0.amount).sum();
        let treasury: Sats = self
            .btc_batches
            .iter()
            .map(|e| e.value().0.treasury_debit)
            .sum();
        requests + treasury
    }

    pub fn btc_pool_utxos(&self) -> Vec<PoolUtxo> {
        self.btc_pool.iter().map(|e| e.value().0).collect()
    }

    pub fn btc_batches_list(&self) -> Vec<Batch> {
        self.btc_batches.iter().map(|e| e.value().0).collect()
    }

    pub fn btc_batch(&self, id: u64) -> Option<Batch> {
        self.btc_batches.get(&id).map(|b| b.0)
    }

    pub fn put_btc_batch(&mut self, batch: Batch) {
        self.btc_batches.insert(batch.id, Cbor(batch));
    }

    pub fn btc_request(&self, id: u64) -> Option<BtcPayoutRequest> {
        self.btc_requests.get(&id).map(|r| r.0)
    }

    /// Requests not in a batch yet, oldest first.
    pub fn btc_queued(&self) -> Vec<BtcPayoutRequest> {
        self.btc_requests
            .iter()
            .map(|e| e.value().0)
            .filter(|r| r.batch.is_none())
            .collect()
    }

    pub fn watch_btc(&mut self, owner: Principal, now: u64) {
        let mut w = self.btc_watch.get(&owner).map(|w| w.0).unwrap_or_default();
        w.requested_at_ns = now;
        self.btc_watch.insert(owner, Cbor(w));
    }

    /// Up to `n` watched principals, least recently checked first; entries
    /// older than `window_ns` are dropped.
    pub fn btc_watch_due(&mut self, now: u64, window_ns: u64, n: usize) -> Vec<Principal> {
        let expired: Vec<Principal> = self
            .btc_watch
            .iter()
            .filter(|e| now.saturating_sub(e.value().0.requested_at_ns) > window_ns)
            .map(|e| *e.key())
            .collect();
        for p in expired {
            self.btc_watch.remove(&p);
        }
        let mut due: Vec<(u64, Principal)> = self
            .btc_watch
            .iter()
            .map(|e| (e.value().0.checked_at_ns, *e.key()))
            .collect();
        due.sort();
        due.into_iter().take(n).map(|(_, p)| p).collect()
    }

    pub fn btc_watch_checked(&mut self, owner: Principal, now: u64) {
        if let Some(mut w) = self.btc_watch.get(&owner).map(|w| w.0) {
            w.checked_at_ns = now;
            self.btc_watch.insert(owner, Cbor(w));
        }
    }

    // ---- deposits ----------------------------------------------------------

    /// Considers a UTXO found at `owner`'s deposit address (key path `path`)
    /// once, ever: credits it and adds it to the pool, or records it as too
    /// small.
    pub fn take_btc_deposit(
        &mut self,
        owner: Principal,
        utxo: &Utxo,
        path: &[Vec<u8>],
        min_deposit: Sats,
        now: u64,
    ) -> DepositOutcome {
        let key = outpoint_key(&utxo.outpoint);
        if self.btc_deposits.contains_key(&key) {
            return DepositOutcome::Known;
        }
        let credited = utxo.value >= min_deposit;
        let seen = SeenDeposit {
            owner,
            amount: utxo.value,
            credited,
        };
        self.btc_deposits.insert(key.clone(), Cbor(seen));
        let info = utxo_info(utxo);
        if !credited {
            self.record(
                now,
                EventKind::BtcDepositIgnored {
                    owner,
                    utxo: info,
                    min_deposit,
                },
            );
            return DepositOutcome::TooSmall;
        }
        let pooled = PoolUtxo {
            utxo: *utxo,
            path: path.to_vec(),
        };
        self.btc_pool.insert(key, Cbor(pooled));
        let mut b = self.balance(&owner);
        b.available += utxo.value;
        self.put_balance(owner, b);
        self.update_totals(|t| t.deposits += utxo.value);
        self.record(now, EventKind::BtcDeposited { owner, utxo: info });
        DepositOutcome::Credited
    }

    // ---- payout requests ---------------------------------------------------

    /// Debits `amount` from `owner`'s available funds into pending payouts
    /// and queues the request. `Err(available)`.
    pub fn request_btc_payout(
        &mut self,
        owner: Principal,
        address: String,
        amount: Sats,
        now: u64,
    ) -> Result<BtcPayoutRequest, Sats> {
        let mut b = self.balance(&owner);
        b.available = b.available.checked_sub(amount).ok_or(b.available)?;
        self.put_balance(owner, b);
        self.update_totals(|t| t.pending_payouts += amount);
        let id = self.update_meta(|m| {
            m.next_request_id += 1;
            m.next_request_id
        });
        let request = BtcPayoutRequest {
            id,
            owner,
            address: address.clone(),
            amount,
            requested_at_ns: now,
            batch: None,
        };
        self.btc_requests.insert(id, Cbor(request.clone()));
        self.record(
            now,
            EventKind::BtcPayoutRequested {
                request_id: id,
                owner,
                address,
                amount,
            },
        );
        Ok(request)
    }

    /// A queued request that cannot be paid (dust after its fee share, or an
    /// address no longer valid): the amount goes back to available.
    pub fn reject_btc_payout(&mut self, id: u64, reason: String, now: u64) {
        let Some(r) = self.btc_request(id) else {
            return;
        };
        if r.batch.is_some() {
            return;
        }
        self.btc_requests.remove(&id);
        self.update_totals(|t| t.pending_payouts -= r.amount);
        let mut b = self.balance(&r.owner);
        b.available += r.amount;
        self.put_balance(r.owner, b);
        self.record(
            now,
            EventKind::BtcPayoutRejected {
                request_id: id,
                owner: r.owner,
                amount: r.amount,
                reason,
            },
        );
    }

    // ---- batches -----------------------------------------------------------

    /// Commits `built` before anything is signed or sent: its inputs leave
    /// the pool (never spent twice), its requests are tied to the batch, and
    /// change given to the fee moves from the treasury into pending payouts.
    /// `Err(treasury)` when the treasury cannot cover that change.
    pub fn commit_btc_batch(
        &mut self,
        built: BuiltTransaction,
        request_ids: Vec<u64>,
        now: u64,
    ) -> Result<u64, Sats> {
        let treasury = self.totals().treasury;
        let left = treasury.checked_sub(built.change_to_fee).ok_or(treasury)?;
        let paths: Vec<Vec<Vec<u8>>> = built
            .spent_utxos
            .iter()
            .map(|u| {
                let pooled = self.btc_pool.remove(&outpoint_key(&u.outpoint));
                pooled.expect("the builder only spends pool UTXOs").0.path
            })
            .collect();
        self.update_totals(|t| {
            t.treasury = left;
            t.pending_payouts += built.change_to_fee;
        });
        let id = self.update_meta(|m| {
            m.next_batch_id += 1;
            m.next_batch_id
        });
        for rid in &request_ids {
            let mut r = self.btc_request(*rid).expect("batched request exists");
            r.batch = Some(id);
            self.btc_requests.insert(*rid, Cbor(r));
        }
        let txid = built.txid();
        self.record(
            now,
            EventKind::BtcTransactionSubmitted {
                batch_id: id,
                txid: txid_to_string(&txid),
                requests: request_ids.clone(),
                fee: built.fee,
                treasury_debit: built.change_to_fee,
            },
        );
        let batch = Batch {
            id,
            requests: request_ids,
            treasury_debit: built.change_to_fee,
            built,
            paths,
            versions: vec![txid],
            signed: None,
            created_at_ns: now,
            last_sent_ns: 0,
            last_error: None,
        };
        self.put_btc_batch(batch);
        Ok(id)
    }

    /// Records an RBF replacement (same inputs, same requests, higher fee)
    /// before it is signed and sent.
    pub fn replace_btc_batch(&mut self, id: u64, built: BuiltTransaction, now: u64) {
        let Some(mut batch) = self.btc_batch(id) else {
            return;
        };
        let txid = built.txid();
        self.record(
            now,
            EventKind::BtcTransactionReplaced {
                batch_id: id,
                txid: txid_to_string(&txid),
                fee: built.fee,
            },
        );
        // Each input keeps the path of the key that owns its coin, whatever
        // order the replacement lists the inputs in.
        let path_of: std::collections::BTreeMap<OutPoint, Vec<Vec<u8>>> = batch
            .built
            .spent_utxos
            .iter()
            .map(|u| u.outpoint)
            .zip(batch.paths.iter().cloned())
            .collect();
        batch.paths = built
            .spent_utxos
            .iter()
            .map(|u| path_of[&u.outpoint].clone())
            .collect();
        batch.built = built;
        batch.versions.push(txid);
        batch.signed = None;
        batch.last_sent_ns = 0;
        self.put_btc_batch(batch);
    }

    /// A version of the batch is confirmed: its requests and treasury part
    /// leave the books as withdrawals, and its change (if any) joins the pool.
    pub fn confirm_btc_batch(
        &mut self,
        id: u64,
        txid: [u8; 32],
        change: Option<PoolUtxo>,
        now: u64,
    ) {
        let Some(batch) = self.btc_batches.remove(&id).map(|b| b.0) else {
            return;
        };
        let mut amount = batch.treasury_debit;
        for rid in &batch.requests {
            if let Some(r) = self.btc_requests.remove(rid) {
                amount += r.0.amount;
            }
        }
        self.update_totals(|t| {
            t.pending_payouts -= amount;
            t.withdrawals += amount;
        });
        if let Some(c) = change {
            self.btc_pool
                .insert(outpoint_key(&c.utxo.outpoint), Cbor(c));
        }
        self.record(
            now,
            EventKind::BtcPayoutConfirmed {
                batch_id: id,
                txid: txid_to_string(&txid),
                requests: batch.requests,
                amount,
            },
        );
    }
}
