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

fn metrics() -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
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
    {
        gauge(
            "registry_stable_memory_bytes",
            "Stable memory size.",
            (ic_cdk::stable::stable_size() * 65_536).to_string(),
        );
        gauge(
            "registry_heap_memory_bytes",
            "Heap size.",
            (core::arch::wasm32::memory_size(0) * 65_536).to_string(),
        );
        gauge(
            "registry_cycle_balance",
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
                    "principal": event.0.principal.map(|p| p.to_text()),
                    "event": format!("{:?}", event.0.kind),
                });
                let _ = writeln!(out, "{line}");
            }
        }
        out
    })
}
