//! `/metrics` (Prometheus text) and `/logs` (recent events, JSON lines)
//! served by the `http_request` query.

use crate::state::read_state;
use std::fmt::Write;

pub use tensormine_core::http::{HttpRequest, HttpResponse};

pub fn http_request(request: HttpRequest) -> HttpResponse {
    tensormine_core::http::serve(&request, metrics, logs)
}

pub fn metrics() -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        tensormine_core::http::write_gauge(&mut out, name, help, value)
    };
    read_state(|s| {
        let t = s.totals();
        let sats = [
            (
                "escrow_deposits_sats",
                "Deposits credited (lifetime).",
                t.deposits,
            ),
            (
                "escrow_withdrawals_sats",
                "Withdrawals confirmed by the ledger (lifetime).",
                t.withdrawals,
            ),
            (
                "escrow_available_sats",
                "Sum of available balances.",
                t.available,
            ),
            ("escrow_held_sats", "Sum of job holds.", t.held),
            (
                "escrow_bonded_sats",
                "Sum of bonds, unbonding included.",
                t.bonded,
            ),
            (
                "escrow_treasury_sats",
                "Protocol fees not withdrawn.",
                t.treasury,
            ),
            (
                "escrow_pending_payouts_sats",
                "Debited, not yet confirmed out.",
                t.pending_payouts,
            ),
        ];
        let counts = [
            ("escrow_accounts", "Non-empty accounts.", t.accounts),
            ("escrow_holds_open", "Holds not settled.", t.holds_open),
            (
                "escrow_holds_settled",
                "Holds released or refunded.",
                t.holds_settled,
            ),
            ("escrow_slashes", "Slashes applied.", t.slashes),
            (
                "escrow_ledger_ops",
                "Ledger calls not finished (in flight, unknown, under review).",
                t.ledger_ops,
            ),
            (
                "escrow_ckbtc_blocks_credited",
                "ckBTC ledger blocks credited.",
                s.ckbtc_blocks.len(),
            ),
            ("escrow_events", "Entries in the event log.", s.events.len()),
            (
                "escrow_read_only",
                "1 in read-only mode.",
                u64::from(s.config().read_only),
            ),
            (
                "escrow_invariant_ok",
                "1 when the conservation invariant holds.",
                u64::from(s.check_invariants().is_ok()),
            ),
        ];
        for (name, help, value) in sats.into_iter().chain(counts).chain(btc_gauges(s)) {
            gauge(name, help, value.to_string());
        }
    });
    #[cfg(target_arch = "wasm32")]
    tensormine_core::http::write_canister_gauges(
        &mut out,
        "escrow",
        &tensormine_core::http::CanisterGauges {
            stable_memory_bytes: ic_cdk::stable::stable_size() * 65_536,
            heap_memory_bytes: core::arch::wasm32::memory_size(0) as u64 * 65_536,
            cycle_balance: ic_cdk::api::canister_cycle_balance(),
        },
    );
    out
}

/// The native BTC side: pool, queue, transactions in flight, deposits seen.
fn btc_gauges(s: &crate::state::State) -> Vec<(&'static str, &'static str, u64)> {
    let pool = s.btc_pool_utxos();
    let queued = s.btc_queued();
    let batches = s.btc_batches_list();
    let now_ns = s
        .events
        .len()
        .checked_sub(1)
        .and_then(|i| s.events.get(i))
        .map(|e| e.0.at_ns)
        .unwrap_or(0);
    let oldest_wait = queued
        .first()
        .map(|r| now_ns.saturating_sub(r.requested_at_ns) / 1_000_000_000)
        .unwrap_or(0);
    vec![
        (
            "escrow_btc_pool_utxos",
            "Spendable BTC UTXOs.",
            pool.len() as u64,
        ),
        (
            "escrow_btc_pool_sats",
            "Value of the spendable BTC UTXOs.",
            pool.iter().map(|p| p.utxo.value).sum(),
        ),
        (
            "escrow_btc_payouts_queued",
            "BTC payouts not in a transaction yet.",
            queued.len() as u64,
        ),
        (
            "escrow_btc_payouts_queued_sats",
            "Value of the queued BTC payouts.",
            queued.iter().map(|r| r.amount).sum(),
        ),
        (
            "escrow_btc_oldest_queued_secs",
            "Age of the oldest queued payout at the last event.",
            oldest_wait,
        ),
        (
            "escrow_btc_transactions_unconfirmed",
            "Payout transactions not confirmed.",
            batches.len() as u64,
        ),
        (
            "escrow_btc_transactions_unsent",
            "Payout transactions not (yet) accepted by the Bitcoin canister.",
            batches.iter().filter(|b| b.last_sent_ns == 0).count() as u64,
        ),
        (
            "escrow_btc_replacements",
            "RBF replacements among the unconfirmed transactions.",
            batches.iter().map(|b| b.versions.len() as u64 - 1).sum(),
        ),
        (
            "escrow_btc_deposit_utxos_seen",
            "Deposit UTXOs seen (credited or too small).",
            s.btc_deposits.len(),
        ),
        (
            "escrow_btc_watched_addresses",
            "Deposit addresses the timer checks.",
            s.btc_watch.len(),
        ),
        (
            "escrow_btc_batch_problem",
            "1 when the last round could not build a due batch (see the logs).",
            u64::from(s.btc_last_problem.is_some()),
        ),
    ]
}

fn logs(limit: u64) -> String {
    read_state(|s| {
        let len = s.events.len();
        let mut out = String::new();
        for i in len.saturating_sub(limit)..len {
            if let Some(event) = s.events.get(i) {
                let line = serde_json::json!({
                    "index": i,
                    "at_ns": event.0.at_ns,
                    "event": format!("{:?}", event.0.kind),
                });
                let _ = writeln!(out, "{line}");
            }
        }
        out
    })
}
