//! The `http_request` query every tensormine canister serves: `/metrics`
//! (Prometheus text) and `/logs?limit=N` (recent events, JSON lines).

use candid::CandidType;
use serde::Deserialize;
use serde_bytes::ByteBuf;
use std::fmt::Write;

/// Most log lines one `/logs` request returns.
pub const MAX_LOG_LINES: u64 = 1_000;
/// Log lines returned when the request names no `limit`.
pub const DEFAULT_LOG_LINES: u64 = 100;

/// The argument of `http_request` (the HTTP gateway's request).
#[derive(CandidType, Deserialize, Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: ByteBuf,
}

/// The answer of `http_request`.
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

/// Routes a request to `metrics()` or `logs(limit)`; anything else is a 404.
pub fn serve(
    request: &HttpRequest,
    metrics: impl FnOnce() -> String,
    logs: impl FnOnce(u64) -> String,
) -> HttpResponse {
    let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
    match path {
        "/metrics" => response(200, "text/plain; version=0.0.4", metrics()),
        "/logs" => {
            let limit = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("limit="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(DEFAULT_LOG_LINES)
                .min(MAX_LOG_LINES);
            response(200, "application/x-ndjson", logs(limit))
        }
        _ => response(
            404,
            "text/plain",
            "not found: try /metrics or /logs\n".into(),
        ),
    }
}

/// Appends one Prometheus gauge, with its HELP and TYPE lines, to `out`.
pub fn write_gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// What every canister reports about itself, read from the system API by the caller.
pub struct CanisterGauges {
    pub stable_memory_bytes: u64,
    pub heap_memory_bytes: u64,
    pub cycle_balance: u128,
}

/// Appends `<prefix>_stable_memory_bytes`, `<prefix>_heap_memory_bytes` and
/// `<prefix>_cycle_balance`.
pub fn write_canister_gauges(out: &mut String, prefix: &str, g: &CanisterGauges) {
    write_gauge(
        out,
        &format!("{prefix}_stable_memory_bytes"),
        "Stable memory size.",
        g.stable_memory_bytes,
    );
    write_gauge(
        out,
        &format!("{prefix}_heap_memory_bytes"),
        "Heap size.",
        g.heap_memory_bytes,
    );
    write_gauge(
        out,
        &format!("{prefix}_cycle_balance"),
        "Cycle balance.",
        g.cycle_balance,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> HttpResponse {
        let request = HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: ByteBuf::new(),
        };
        serve(&request, || "m 1\n".into(), |limit| format!("{limit}\n"))
    }

    #[test]
    fn routes_metrics_logs_and_unknown_paths() {
        assert_eq!(get("/metrics").body.as_slice(), b"m 1\n");
        assert_eq!(get("/logs").body.as_slice(), b"100\n");
        assert_eq!(get("/logs?x=1&limit=7").body.as_slice(), b"7\n");
        assert_eq!(get("/logs?limit=99999").body.as_slice(), b"1000\n");
        assert_eq!(get("/logs?limit=nope").body.as_slice(), b"100\n");
        assert_eq!(get("/other").status_code, 404);
    }

    #[test]
    fn gauges_carry_help_and_type() {
        let mut out = String::new();
        write_gauge(&mut out, "x_total", "Things.", 3);
        assert_eq!(
            out,
            "# HELP x_total Things.\n# TYPE x_total gauge\nx_total 3\n"
        );
    }

    #[test]
    fn canister_gauges_are_prefixed() {
        let mut out = String::new();
        let g = CanisterGauges {
            stable_memory_bytes: 65_536,
            heap_memory_bytes: 131_072,
            cycle_balance: 7,
        };
        write_canister_gauges(&mut out, "reg", &g);
        assert!(out.contains("\nreg_stable_memory_bytes 65536\n"), "{out}");
        assert!(out.contains("\nreg_heap_memory_bytes 131072\n"), "{out}");
        assert!(out.ends_with("\nreg_cycle_balance 7\n"), "{out}");
    }
}
