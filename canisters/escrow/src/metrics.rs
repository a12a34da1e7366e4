//! `/metrics` (Prometheus text) and `/logs` (recent events, JSON lines)
//! served by the `http_request` query.

use crate::state::read_state;
use candid::CandidType;
use serde::Deserialize;
use serde_bytes::ByteBuf;
use std::fmt::Write;

#[derive(CandidType, Deserialize, Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: ByteBuf,
}

#[derive(CandidType, Deserialize, Debug, Clone)]
pub struct HttpResponse {
    pub status_code: u16,
    pub headers: Vec<(String, String)>,
    pub body: ByteBuf,
}

fn response(status_code: u16, content_type: &str, body: String) -> HttpResponse {
    HttpResponse {
        status_code,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("content-length".into(), body.len().to_string()),
        ],
        body: ByteBuf::from(body.into_bytes()),
    }
}

pub fn http_request(request: HttpRequest) -> HttpResponse {
    let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
    match path {
        "/metrics" => response(200, "text/plain; version=0.0.4", metrics()),
        "/logs" => {
            let limit = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("limit="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(100)
                .min(1_000);
            response(200, "application/x-ndjson", logs(limit))
        }
        _ => response(
            404,
            "text/plain",
            "not found: try /metrics or /logs\n".into(),
        ),
    }
}

pub fn metrics() -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
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
        for (name, help, value) in sats.into_iter().chain(counts) {
            gauge(name, help, value.to_string());
        }
    });
    #[cfg(target_arch = "wasm32")]
    {
        gauge(
            "escrow_stable_memory_bytes",
            "Stable memory size.",
            (ic_cdk::stable::stable_size() * 65_536).to_string(),
        );
        gauge(
            "escrow_heap_memory_bytes",
            "Heap size.",
            (core::arch::wasm32::memory_size(0) * 65_536).to_string(),
        );
        gauge(
            "escrow_cycle_balance",
            "Cycle balance.",
            ic_cdk::api::canister_cycle_balance().to_string(),
        );
    }
    out
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
