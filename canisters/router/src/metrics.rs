//! `/metrics` (Prometheus text) and `/logs` (recent events, JSON lines)
//! served by the `http_request` query.

use crate::state::read_state;
use std::fmt::Write;

pub use tensormine_core::http::{HttpRequest, HttpResponse};

pub fn http_request(request: HttpRequest) -> HttpResponse {
    tensormine_core::http::serve(&request, metrics, logs)
}

fn metrics() -> String {
    let mut out = String::new();
    let (t, events, read_only) = read_state(|s| (s.totals(), s.events.len(), s.config().read_only));
    let rows: [(&str, &str, String); 19] = [
        ("router_jobs_total", "Jobs submitted.", t.jobs.to_string()),
        (
            "router_jobs_active",
            "Jobs not final.",
            t.active_jobs.to_string(),
        ),
        (
            "router_jobs_settled_total",
            "Jobs settled (miners paid).",
            t.settled.to_string(),
        ),
        (
            "router_jobs_refunded_total",
            "Jobs refunded.",
            t.refunded.to_string(),
        ),
        (
            "router_jobs_rejected_total",
            "Jobs whose hold was refused.",
            t.rejected.to_string(),
        ),
        (
            "router_miners_known",
            "Miners synced from the registry.",
            t.miners_known.to_string(),
        ),
        (
            "router_registry_seq",
            "Registry change-feed position.",
            t.registry_seq.to_string(),
        ),
        (
            "router_receipts_total",
            "Receipts in the tree.",
            t.receipts.to_string(),
        ),
        (
            "router_receipt_batches_total",
            "Signed receipt batches.",
            t.receipt_batches.to_string(),
        ),
        (
            "router_outcalls_total",
            "HTTPS outcalls to workers.",
            t.outcalls.to_string(),
        ),
        (
            "router_outcall_cycles_total",
            "Cycles paid for outcalls.",
            t.outcall_cycles.to_string(),
        ),
        (
            "router_signatures_total",
            "Threshold signatures.",
            t.signatures.to_string(),
        ),
        (
            "router_signature_cycles_total",
            "Cycles paid for signatures.",
            t.signature_cycles.to_string(),
        ),
        (
            "router_slashes_total",
            "Slashes asked of the escrow.",
            t.slashes.to_string(),
        ),
        (
            "router_paid_sats_total",
            "Sats paid to miners.",
            t.paid_sats.to_string(),
        ),
        (
            "router_fee_sats_total",
            "Protocol fees.",
            t.fee_sats.to_string(),
        ),
        (
            "router_refunded_sats_total",
            "Sats refunded to submitters.",
            t.refunded_sats.to_string(),
        ),
        (
            "router_events",
            "Entries in the event log.",
            events.to_string(),
        ),
        (
            "router_read_only",
            "1 when in read-only mode.",
            (read_only as u8).to_string(),
        ),
    ];
    for (name, help, value) in rows {
        tensormine_core::http::write_gauge(&mut out, name, help, value);
    }
    #[cfg(target_arch = "wasm32")]
    tensormine_core::http::write_canister_gauges(
        &mut out,
        "router",
        &tensormine_core::http::CanisterGauges {
            stable_memory_bytes: ic_cdk::stable::stable_size() * 65_536,
            heap_memory_bytes: core::arch::wasm32::memory_size(0) as u64 * 65_536,
            cycle_balance: ic_cdk::api::canister_cycle_balance(),
        },
    );
    out
}

fn logs(limit: u64) -> String {
    read_state(|s| {
        let len = s.events.len();
        let mut out = String::new();
        for i in len.saturating_sub(limit)..len {
            if let Some(e) = s.events.get(i) {
                let line = serde_json::json!({
                    "index": i,
                    "at_ns": e.0.at_ns,
                    "job": e.0.job,
                    "event": e.0.kind,
                });
                let _ = writeln!(out, "{line}");
            }
        }
        out
    })
}
