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
    let mut gauge = |name: &str, help: &str, value: String| {
        tensormine_core::http::write_gauge(&mut out, name, help, value)
    };
    read_state(|s| {
        let t = &s.totals;
        let c = s.counters();
        gauge(
            "registry_miners",
            "Registered miners.",
            t.miners.to_string(),
        );
        gauge(
            "registry_miners_pending",
            "Miners not yet probed.",
            t.pending.to_string(),
        );
        gauge(
            "registry_miners_online",
            "Miners online.",
            t.online.to_string(),
        );
        gauge(
            "registry_miners_offline",
            "Miners offline.",
            t.offline.to_string(),
        );
        gauge(
            "registry_miners_suspended",
            "Miners suspended by a failed challenge.",
            t.suspended.to_string(),
        );
        gauge("registry_gpus", "GPUs registered.", t.gpus.to_string());
        gauge(
            "registry_gpu_memory_bytes",
            "GPU memory registered.",
            t.gpu_memory_bytes.to_string(),
        );
        gauge(
            "registry_change_seq",
            "Last change-feed sequence number.",
            c.last_seq.to_string(),
        );
        gauge(
            "registry_probes_ok_total",
            "Health probes answered.",
            c.probes_ok.to_string(),
        );
        gauge(
            "registry_probes_failed_total",
            "Health probes failed.",
            c.probes_failed.to_string(),
        );
        gauge(
            "registry_probe_rounds_total",
            "Probe rounds run.",
            c.probe_rounds.to_string(),
        );
        gauge(
            "registry_challenges_passed_total",
            "Capability challenges passed.",
            c.challenges_passed.to_string(),
        );
        gauge(
            "registry_challenges_failed_total",
            "Capability challenges failed.",
            c.challenges_failed.to_string(),
        );
        gauge(
            "registry_job_outcomes_total",
            "Job outcomes reported by the router.",
            c.job_outcomes.to_string(),
        );
        gauge(
            "registry_outcall_cycles_total",
            "Cycles attached to HTTPS outcalls.",
            c.outcall_cycles.to_string(),
        );
        gauge(
            "registry_events",
            "Entries in the event log.",
            s.events.len().to_string(),
        );
        gauge(
            "registry_read_only",
            "1 when in read-only mode.",
            (s.config().read_only as u8).to_string(),
        );
    });
    #[cfg(target_arch = "wasm32")]
    tensormine_core::http::write_canister_gauges(
        &mut out,
        "registry",
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
            if let Some(event) = s.events.get(i) {
                let line = serde_json::json!({
                    "index": i,
                    "at_ns": event.0.at_ns,
                    "principal": event.0.principal.map(|p| p.to_text()),
                    "event": format!("{:?}", event.0.kind),
                });
                let _ = writeln!(out, "{line}");
            }
        }
        out
    })
}
