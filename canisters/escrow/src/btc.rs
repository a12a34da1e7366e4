//! Native BTC: deposit addresses derived from the escrow's threshold ECDSA
//! key, deposits credited once per UTXO, and payouts batched into
//! transactions signed with `sign_with_ecdsa` (logic in `tensormine-bitcoin`,
//! state changes in [`crate::state::btc`]).
//!
//! Ordering rules that keep every satoshi counted once:
//! - a payout is debited in `withdraw_btc` itself (no `await` at all);
//! - a batch is committed (inputs out of the pool, requests tied to it,
//!   event) before the first `sign_with_ecdsa`, and a replacement is recorded
//!   before it is signed, so a trap or an upgrade mid-way leaves a record
//!   the next round resumes (it can re-sign and re-send, never spend again);
//! - UTXOs found at deposit addresses are credited in one synchronous step
//!   keyed by outpoint after all pages were read.
//!
//! Network fees: the payouts bear them (each request's `amount − fee share`
//! reaches the recipient, as with the ckBTC minter); change too small to keep
//! goes to the fee and is paid by the treasury.

use crate::guard::{Guard, Task};
use crate::runtime::{Runtime, UtxoFilter};
use crate::state::btc::{utxo_info, Batch, DepositOutcome, PoolUtxo};
use crate::state::{mutate_state, read_state};
use crate::types::*;
use candid::Principal;
use std::collections::BTreeSet;
use tensormine_bitcoin::derive::{main_address, main_derivation_path};
use tensormine_bitcoin::tx::verify_p2wpkh_signature;
use tensormine_bitcoin::{
    build_payout, deposit_derivation_path, estimate_fee_rate, replace, BitcoinAddress, BuildError,
    BuiltTransaction, ExtendedPublicKey, InputWitness, MillisatPerVbyte, PayoutRequest,
    SighashCache, Utxo,
};

const NS: u64 = 1_000_000_000;
/// Most `bitcoin_get_utxos` pages read for one address (a bound on one
/// message's cost; 1000 UTXOs a page on the IC).
const MAX_PAGES: usize = 100;

/// The escrow's threshold key, fetched once and cached in stable memory.
pub async fn canister_key<R: Runtime>(rt: &R) -> Result<ExtendedPublicKey, String> {
    if let Some(key) = read_state(|s| s.btc_key()) {
        return Ok(key);
    }
    let name = read_state(|s| s.config().ecdsa_key_name);
    let (public_key, chain_code) = rt.ecdsa_public_key(name).await?;
    let key = ExtendedPublicKey::new(&public_key, &chain_code).map_err(|e| e.to_string())?;
    Ok(mutate_state(|s| s.set_btc_key(key)))
}

fn network() -> tensormine_bitcoin::Network {
    read_state(|s| s.config().btc_network)
}

fn address_at(key: &ExtendedPublicKey, path: &[Vec<u8>]) -> Result<BitcoinAddress, String> {
    key.derive(path)
        .and_then(|k| k.p2wpkh_address())
        .map_err(|e| e.to_string())
}

/// `owner`'s deposit address (the caller's by default); when the caller asks
/// for its own, the timer watches it for a while.
pub async fn get_deposit_address<R: Runtime>(
    rt: &R,
    owner: Option<Principal>,
) -> Result<String, BtcAddressError> {
    let owner = owner.unwrap_or_else(|| rt.caller());
    if owner == Principal::anonymous() {
        return Err(BtcAddressError::AnonymousOwner);
    }
    let key = canister_key(rt)
        .await
        .map_err(|message| BtcAddressError::KeyUnavailable { message })?;
    let address = address_at(&key, &deposit_derivation_path(&owner, None))
        .map_err(|message| BtcAddressError::KeyUnavailable { message })?;
    // Only an owner's own request is watched: anyone may look up an address,
    // but strangers must not be able to crowd the timer's per-round budget.
    if owner == rt.caller() {
        mutate_state(|s| s.watch_btc(owner, rt.time()));
    }
    Ok(address.encode(network()))
}

/// Every UTXO of `address` with `min_confirmations`, all pages.
async fn all_utxos<R: Runtime>(
    rt: &R,
    address: &str,
    min_confirmations: u32,
) -> Result<Vec<Utxo>, String> {
    Ok(utxos_and_tip(rt, address, min_confirmations).await?.0)
}

/// [`all_utxos`] and the chain tip height of the answer.
async fn utxos_and_tip<R: Runtime>(
    rt: &R,
    address: &str,
    min_confirmations: u32,
) -> Result<(Vec<Utxo>, u32), String> {
    let net = network();
    let mut filter = UtxoFilter::MinConfirmations(min_confirmations);
    let mut utxos = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = rt
            .bitcoin_get_utxos(net, address.to_string(), filter)
            .await?;
        utxos.extend(page.utxos);
        match page.next_page {
            Some(token) => filter = UtxoFilter::Page(token),
            None => return Ok((utxos, page.tip_height)),
        }
    }
    Err(format!(
        "{address} has more than {MAX_PAGES} pages of UTXOs"
    ))
}

/// `update_btc_balance`: credits the caller's new deposit UTXOs.
pub async fn update_balance<R: Runtime>(rt: &R) -> Result<BtcBalanceUpdate, BtcBalanceError> {
    let owner = rt.caller();
    if owner == Principal::anonymous() {
        return Err(BtcBalanceError::AnonymousCaller);
    }
    if read_state(|s| s.config().read_only) {
        return Err(BtcBalanceError::ReadOnly);
    }
    let _guard =
        Guard::new(Task::Principal(owner)).map_err(|_| BtcBalanceError::AlreadyProcessing)?;
    let key = canister_key(rt)
        .await
        .map_err(|message| BtcBalanceError::KeyUnavailable { message })?;
    credit_deposits(rt, owner, &key)
        .await
        .map_err(|message| BtcBalanceError::BitcoinCanister { message })
}

/// Reads `owner`'s deposit address and credits what is new (callers hold
/// `owner`'s guard).
async fn credit_deposits<R: Runtime>(
    rt: &R,
    owner: Principal,
    key: &ExtendedPublicKey,
) -> Result<BtcBalanceUpdate, String> {
    let path = deposit_derivation_path(&owner, None);
    let address = address_at(key, &path)?.encode(network());
    let config = read_state(|s| s.config());
    let utxos = all_utxos(rt, &address, config.btc_min_confirmations).await?;
    let mut update = BtcBalanceUpdate {
        credited: vec![],
        ignored_too_small: vec![],
        min_deposit: config.btc_min_deposit,
        balance: Balance::default(),
    };
    mutate_state(|s| {
        for utxo in &utxos {
            let now = rt.time();
            match s.take_btc_deposit(owner, utxo, &path, config.btc_min_deposit, now) {
                DepositOutcome::Credited => update.credited.push(utxo_info(utxo)),
                DepositOutcome::TooSmall => update.ignored_too_small.push(utxo_info(utxo)),
                DepositOutcome::Known => {}
            }
        }
        s.btc_watch_checked(owner, rt.time());
        update.balance = s.balance(&owner);
    });
    Ok(update)
}

/// `withdraw_btc`: debits and queues a payout (no call: batches go out from
/// the timer).
pub fn withdraw<R: Runtime>(
    rt: &R,
    address: String,
    amount: Sats,
) -> Result<BtcPayoutRequest, BtcWithdrawError> {
    let caller = rt.caller();
    if caller == Principal::anonymous() {
        return Err(BtcWithdrawError::AnonymousCaller);
    }
    let config = read_state(|s| s.config());
    if config.read_only {
        return Err(BtcWithdrawError::ReadOnly);
    }
    let net = config.btc_network;
    let parsed = BitcoinAddress::parse(address.trim(), net)
        .map_err(|reason| BtcWithdrawError::InvalidAddress { reason })?;
    if amount < config.btc_min_withdrawal {
        return Err(BtcWithdrawError::AmountTooSmall {
            min: config.btc_min_withdrawal,
        });
    }
    let _guard =
        Guard::new(Task::Principal(caller)).map_err(|_| BtcWithdrawError::AlreadyProcessing)?;
    mutate_state(|s| s.request_btc_payout(caller, parsed.encode(net), amount, rt.time()))
        .map_err(|available| BtcWithdrawError::InsufficientFunds { available })
}

// ---- the timer round -------------------------------------------------------

/// One round: finalise confirmed batches, resume or bump unconfirmed ones,
/// build a new batch when due, check watched deposit addresses.
pub async fn round<R: Runtime>(rt: &R) {
    let Ok(_guard) = Guard::new(Task::BtcRound) else {
        return;
    };
    if !read_state(|s| s.btc_batches.is_empty()) {
        let mined = finalize_confirmed(rt).await;
        for id in read_state(|s| s.btc_batches.keys().collect::<Vec<_>>()) {
            if !mined.contains(&id) {
                resume_or_bump(rt, id).await;
            }
        }
    }
    if batch_due(rt) {
        if let Some(id) = build_batch(rt).await {
            sign_and_send(rt, id).await;
        }
    }
    scan_watched(rt).await;
}

fn problem(p: Option<String>) {
    mutate_state(|s| s.btc_last_problem = p);
}

/// At least `btc_batch_min_requests` queued, or the oldest waited long enough.
fn batch_due<R: Runtime>(rt: &R) -> bool {
    read_state(|s| {
        let c = s.config();
        let queued = s.btc_queued();
        let Some(oldest) = queued.first() else {
            return false;
        };
        queued.len() >= c.btc_batch_min_requests as usize
            || rt.time().saturating_sub(oldest.requested_at_ns) >= c.btc_batch_max_wait_secs * NS
    })
}

async fn fee_rate<R: Runtime>(rt: &R) -> Result<MillisatPerVbyte, String> {
    let net = network();
    let percentiles = rt.bitcoin_fee_percentiles(net).await?;
    estimate_fee_rate(net, &percentiles).map_err(|e| e.to_string())
}

/// Builds and commits a batch from the queue; `None` when nothing could be
/// built (the reason is kept for `/metrics`).
async fn build_batch<R: Runtime>(rt: &R) -> Option<u64> {
    let inputs = async {
        let rate = fee_rate(rt).await?;
        let key = canister_key(rt).await?;
        let change = main_address(&key).map_err(|e| e.to_string())?;
        Ok::<_, String>((rate, change))
    };
    let (rate, change) = match inputs.await {
        Ok(v) => v,
        Err(e) => {
            problem(Some(e));
            return None;
        }
    };
    // Synchronous from here to the commit: no request or UTXO changes under us.
    let result = mutate_state(|s| plan(s, rate, &change, rt.time()));
    problem(result.as_ref().err().cloned());
    result.ok()
}

/// Chooses the requests (oldest first, as many as the pool covers, at most
/// 100), rejects those that would be dust after their fee share, builds and
/// commits. Each retry drops requests, so the loop ends.
fn plan(
    s: &mut crate::state::State,
    rate: MillisatPerVbyte,
    change: &BitcoinAddress,
    now: u64,
) -> Result<u64, String> {
    let net = s.config().btc_network;
    let pool: Vec<Utxo> = s.btc_pool_utxos().into_iter().map(|p| p.utxo).collect();
    let pool_total: u64 = pool.iter().map(|u| u.value).sum();
    let mut limit = tensormine_bitcoin::build::MAX_REQUESTS;
    loop {
        let chosen = choose(s, pool_total, limit, net, now);
        if chosen.is_empty() {
            return Err(format!("no queued payout fits the pool ({pool_total} sat)"));
        }
        let requests: Vec<PayoutRequest> = chosen.iter().map(|(_, r)| r.clone()).collect();
        match build_payout(&requests, &pool, change, rate) {
            Ok(built) => match commit(s, built, &chosen, now) {
                // Fewer requests leave a different change: try that rather
                // than hold up the queue until the treasury grows.
                Err(_) if chosen.len() > 1 => limit = chosen.len() - 1,
                done => return done,
            },
            Err(BuildError::DustOutputs { outputs }) => {
                for o in outputs {
                    let (id, _) = &chosen[o.request_index as usize];
                    let reason = format!(
                        "{} sat minus a fee share of {} is at or under the dust threshold {}",
                        o.amount, o.fee_share, o.dust_threshold
                    );
                    s.reject_btc_payout(*id, reason, now);
                }
            }
            Err(BuildError::TooManyInputs { .. }) if chosen.len() > 1 => limit = chosen.len() / 2,
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn commit(
    s: &mut crate::state::State,
    built: BuiltTransaction,
    chosen: &[(u64, PayoutRequest)],
    now: u64,
) -> Result<u64, String> {
    let needed = built.change_to_fee;
    let ids = chosen.iter().map(|(id, _)| *id).collect();
    s.commit_btc_batch(built, ids, now).map_err(|treasury| {
        format!("change of {needed} sat would go to the fee but the treasury has {treasury}")
    })
}

/// Queued requests, oldest first, while their sum stays within the pool;
/// requests whose address no longer parses (network changed) are rejected.
fn choose(
    s: &mut crate::state::State,
    pool_total: u64,
    limit: usize,
    net: tensormine_bitcoin::Network,
    now: u64,
) -> Vec<(u64, PayoutRequest)> {
    let mut chosen = Vec::new();
    let mut sum = 0u64;
    for r in s.btc_queued() {
        let address = match BitcoinAddress::parse(&r.address, net) {
            Ok(a) => a,
            Err(e) => {
                s.reject_btc_payout(r.id, format!("address: {e}"), now);
                continue;
            }
        };
        if chosen.len() == limit || sum + r.amount > pool_total {
            break;
        }
        sum += r.amount;
        chosen.push((
            r.id,
            PayoutRequest {
                address,
                amount: r.amount,
            },
        ));
    }
    chosen
}

/// Signs the batch's latest version if needed (one `sign_with_ecdsa` per
/// input, with the path of the key that owns it) and sends it.
async fn sign_and_send<R: Runtime>(rt: &R, id: u64) {
    let Some(batch) = read_state(|s| s.btc_batch(id)) else {
        return;
    };
    let signed = match batch.signed.clone() {
        Some(bytes) => Ok(bytes.into_vec()),
        None => sign(rt, &batch).await,
    };
    let result = match signed {
        Ok(bytes) => {
            let txid = batch.built.txid();
            mutate_state(|s| store_signed(s, id, txid, bytes.clone()));
            rt.bitcoin_send_transaction(network(), bytes).await
        }
        Err(e) => Err(e),
    };
    let now = rt.time();
    mutate_state(|s| {
        if let Some(mut b) = s.btc_batch(id) {
            match result {
                Ok(()) => (b.last_sent_ns, b.last_error) = (now, None),
                Err(e) => b.last_error = Some(e),
            }
            s.put_btc_batch(b);
        }
    });
}

/// Keeps the signature only for the version it signs (a replacement recorded
/// meanwhile would otherwise get the old bytes).
fn store_signed(s: &mut crate::state::State, id: u64, txid: [u8; 32], bytes: Vec<u8>) {
    if let Some(mut b) = s.btc_batch(id) {
        if b.built.txid() == txid {
            b.signed = Some(serde_bytes::ByteBuf::from(bytes));
            s.put_btc_batch(b);
        }
    }
}

async fn sign<R: Runtime>(rt: &R, batch: &Batch) -> Result<Vec<u8>, String> {
    let key = canister_key(rt).await?;
    let key_name = read_state(|s| s.config().ecdsa_key_name);
    let hasher = SighashCache::new(&batch.built.tx);
    let mut witnesses = Vec::with_capacity(batch.paths.len());
    for (i, path) in batch.paths.iter().enumerate() {
        let public_key = key.derive(path).map_err(|e| e.to_string())?.public_key;
        let digest = hasher
            .p2wpkh_for_key(i, &public_key)
            .map_err(|e| e.to_string())?;
        let signature = rt
            .sign_with_ecdsa(key_name.clone(), path.clone(), digest)
            .await?;
        // Checked before broadcasting: a bad signature would make the node
        // refuse the whole transaction.
        if !verify_p2wpkh_signature(&public_key, &digest, &signature) {
            return Err(format!(
                "sign_with_ecdsa gave an invalid signature for input {i}"
            ));
        }
        witnesses
            .push(InputWitness::from_compact(&signature, &public_key).map_err(|e| e.to_string())?);
    }
    let signed = batch.built.tx.sign(witnesses).map_err(|e| e.to_string())?;
    Ok(signed.serialize())
}

/// Unsigned or unsent: sign and send. Sent longer ago than the resubmit
/// delay: replace it at the current fee rate (RBF) or, if the replacement
/// cannot be built, send the current version again.
async fn resume_or_bump<R: Runtime>(rt: &R, id: u64) {
    let Some(batch) = read_state(|s| s.btc_batch(id)) else {
        return;
    };
    if batch.signed.is_none() || batch.last_sent_ns == 0 {
        return sign_and_send(rt, id).await;
    }
    let delay = read_state(|s| s.config().btc_resubmit_after_secs) * NS;
    if rt.time().saturating_sub(batch.last_sent_ns) < delay {
        return;
    }
    let replacement = match fee_rate(rt).await {
        Ok(rate) => replace(&batch.built, rate).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match replacement {
        Ok(built) => mutate_state(|s| s.replace_btc_batch(id, built, rt.time())),
        Err(e) => mutate_state(|s| {
            if let Some(mut b) = s.btc_batch(id) {
                b.last_sent_ns = 0;
                b.last_error = Some(format!("replacement: {e}; sending again"));
                s.put_btc_batch(b);
            }
        }),
    }
    sign_and_send(rt, id).await;
}

/// Payout addresses of a change-less batch queried per round for its outputs
/// (a recipient may already have spent one).
const PAYOUT_ADDRESSES_CHECKED: usize = 3;

/// Where a batch's outputs were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Nowhere,
    /// In a block, with fewer than `btc_min_confirmations`: do not replace it.
    Mined,
    Confirmed,
}

/// Looks for an output of each unconfirmed batch among the UTXOs of the
/// addresses it paid: the escrow's own address when the batch has change
/// (one query for all of them), else up to three payout addresses. Batches
/// with enough confirmations are finalised; the ids of those mined but not
/// yet final are returned (they must not be replaced).
async fn finalize_confirmed<R: Runtime>(rt: &R) -> BTreeSet<u64> {
    let mut mined = BTreeSet::new();
    let Ok(key) = canister_key(rt).await else {
        return mined;
    };
    let Ok(main) = main_address(&key) else {
        return mined;
    };
    let net = network();
    let mut own: Option<(Vec<Utxo>, u32)> = None;
    for batch in read_state(|s| s.btc_batches_list()) {
        let seen = if batch.built.change.is_some() {
            if own.is_none() {
                own = utxos_and_tip(rt, &main.encode(net), 1).await.ok();
            }
            match &own {
                Some((utxos, tip)) => settle_if_seen(rt, &batch, utxos, *tip),
                None => Seen::Nowhere,
            }
        } else {
            seen_at_payees(rt, &batch).await
        };
        if seen == Seen::Mined {
            mined.insert(batch.id);
        }
    }
    mined
}

async fn seen_at_payees<R: Runtime>(rt: &R, batch: &Batch) -> Seen {
    let net = network();
    let mut addresses: Vec<String> = batch
        .built
        .requests
        .iter()
        .map(|r| r.address.encode(net))
        .collect();
    addresses.dedup();
    for address in addresses.iter().take(PAYOUT_ADDRESSES_CHECKED) {
        if let Ok((utxos, tip)) = utxos_and_tip(rt, address, 1).await {
            let seen = settle_if_seen(rt, batch, &utxos, tip);
            if seen != Seen::Nowhere {
                return seen;
            }
        }
    }
    Seen::Nowhere
}

/// Finalises `batch` if one of its versions has an output among `utxos`
/// with enough confirmations.
fn settle_if_seen<R: Runtime>(rt: &R, batch: &Batch, utxos: &[Utxo], tip: u32) -> Seen {
    let Some(seen) = utxos
        .iter()
        .find(|u| batch.versions.contains(&u.outpoint.txid))
    else {
        return Seen::Nowhere;
    };
    let min_conf = read_state(|s| s.config().btc_min_confirmations);
    if tip.saturating_add(1).saturating_sub(seen.height) < min_conf {
        return Seen::Mined;
    }
    let txid = seen.outpoint.txid;
    let change_vout = batch.requests.len() as u32;
    let change = batch.built.change.and_then(|_| {
        utxos
            .iter()
            .find(|u| u.outpoint.txid == txid && u.outpoint.vout == change_vout)
            .map(|u| PoolUtxo {
                utxo: *u,
                path: main_derivation_path(),
            })
    });
    mutate_state(|s| s.confirm_btc_batch(batch.id, txid, change, rt.time()));
    Seen::Confirmed
}

/// Credits new deposits of a bounded number of recently requested addresses.
async fn scan_watched<R: Runtime>(rt: &R) {
    let c = read_state(|s| s.config());
    let due = mutate_state(|s| {
        s.btc_watch_due(
            rt.time(),
            c.btc_watch_secs * NS,
            c.btc_watch_per_round as usize,
        )
    });
    if due.is_empty() || c.read_only {
        return;
    }
    let Ok(key) = canister_key(rt).await else {
        return;
    };
    for owner in due {
        let Ok(_guard) = Guard::new(Task::Principal(owner)) else {
            continue;
        };
        if credit_deposits(rt, owner, &key).await.is_err() {
            continue;
        }
    }
}
