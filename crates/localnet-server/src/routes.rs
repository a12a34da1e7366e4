//! Routing: the IC HTTP interface and the local regtest controls, CORS, and
//! `/api/v2/status`.

use crate::call::{call_canister, call_subnet};
use crate::http::cbor_response;
use crate::query::{query_canister, query_subnet};
use crate::read_state::{read_state_canister, read_state_subnet};
use crate::regtest::{btc_mempool, btc_mine, btc_send_to, btc_tip, btc_tx, btc_utxos};
use crate::shared::Shared;
use crate::{cbor, IC_API_VERSION};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ciborium::value::Value;
use std::sync::Arc;

/// Requests larger than this are refused with 413 (the IC's 2 MiB ingress limit
/// plus room for the envelope).
const MAX_REQUEST_BYTES: usize = localnet::MAX_INGRESS_BYTES + 64 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/{version}/canister/{id}/call", post(call_canister))
        .route("/api/{version}/subnet/{id}/call", post(call_subnet))
        .route("/api/{version}/canister/{id}/query", post(query_canister))
        .route("/api/{version}/subnet/{id}/query", post(query_subnet))
        .route(
            "/api/{version}/canister/{id}/read_state",
            post(read_state_canister),
        )
        .route(
            "/api/{version}/subnet/{id}/read_state",
            post(read_state_subnet),
        )
        .route("/_/bitcoin/send_to", post(btc_send_to))
        .route("/_/bitcoin/mine", post(btc_mine))
        .route("/_/bitcoin/tip", get(btc_tip))
        .route("/_/bitcoin/mempool", get(btc_mempool))
        .route("/_/bitcoin/utxos/{address}", get(btc_utxos))
        .route("/_/bitcoin/tx/{txid}", get(btc_tx))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(cors))
        .with_state(shared)
}

/// Browsers (`@dfinity/agent` in a page) need CORS, as the replica allows it.
async fn cors(request: Request<Body>, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Accept, Authorization, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("7200"),
    );
    response
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    cbor_response(
        StatusCode::OK,
        cbor::map(vec![
            ("ic_api_version", Value::Text(IC_API_VERSION.into())),
            (
                "impl_source",
                Value::Text("https://github.com/tensormine/tensormine".into()),
            ),
            (
                "impl_version",
                Value::Text(format!("localnet-server {}", env!("CARGO_PKG_VERSION"))),
            ),
            ("replica_health_status", Value::Text("healthy".into())),
            ("root_key", Value::Bytes(shared.root_key_der.clone())),
        ]),
    )
}
