//! Regtest test controls (local only).
//!
//! Not part of the IC interface: the controls `LocalNet` offers tests in Rust
//! (docs/localnet.md, "Test controls"), over JSON, so a demo or a script can
//! fund a deposit address and mine blocks. The server listens on 127.0.0.1 only.

use crate::clock::sync_time;
use crate::http::{bad_request, HttpError};
use crate::shared::{lock, Shared};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use localnet::LocalNet;
use std::sync::Arc;

fn json_response(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn with_net<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut LocalNet) -> T + Send + 'static,
) -> Result<T, HttpError> {
    let net = shared.net.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut net = lock(&net);
        sync_time(&mut net);
        f(&mut net)
    })
    .await
    .map_err(|e| {
        HttpError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("test control failed: {e}"),
        )
    })?;
    shared.progress.send_modify(|g| *g += 1);
    Ok(out)
}

fn json_body(body: &[u8]) -> Result<serde_json::Value, HttpError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("the body is not JSON: {e}")))
}

/// `POST /_/bitcoin/send_to {"address": "bcrt1…", "sats": N}` → `{"txid": "…"}`:
/// the test wallet pays `address` (the transaction waits in the mempool).
pub(crate) async fn btc_send_to(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let v = json_body(&body)?;
    let (Some(address), Some(sats)) =
        (v["address"].as_str().map(str::to_owned), v["sats"].as_u64())
    else {
        return Err(bad_request(
            "expected {\"address\": string, \"sats\": number}",
        ));
    };
    let txid = with_net(&shared, move |net| net.bitcoin_send_to(&address, sats))
        .await?
        .map_err(|e| bad_request(format!("send_to failed: {e}")))?;
    Ok(json_response(
        serde_json::json!({ "txid": txid.to_string() }),
    ))
}

/// `POST /_/bitcoin/mine {"blocks": N, "address": "bcrt1…"?}` → `{"block_hashes":
/// […], "tip_height": H}`; the address defaults to the test wallet's.
pub(crate) async fn btc_mine(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let v = json_body(&body)?;
    let blocks = v["blocks"].as_u64().unwrap_or(1).min(1000) as u32;
    let address = v["address"].as_str().map(str::to_owned);
    let (hashes, tip) = with_net(&shared, move |net| {
        let address = address.unwrap_or_else(|| net.bitcoin_wallet_address());
        net.bitcoin_mine_blocks(blocks, &address)
            .map(|h| (h, net.bitcoin_tip_height()))
    })
    .await?
    .map_err(|e| bad_request(format!("mine failed: {e}")))?;
    let hashes: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
    Ok(json_response(
        serde_json::json!({ "block_hashes": hashes, "tip_height": tip }),
    ))
}

/// `GET /_/bitcoin/tip` → `{"tip_height": H}`.
pub(crate) async fn btc_tip(State(shared): State<Arc<Shared>>) -> Result<Response, HttpError> {
    let tip = with_net(&shared, |net| net.bitcoin_tip_height()).await?;
    Ok(json_response(serde_json::json!({ "tip_height": tip })))
}

/// `GET /_/bitcoin/mempool` → `{"txids": […]}` in arrival order.
pub(crate) async fn btc_mempool(State(shared): State<Arc<Shared>>) -> Result<Response, HttpError> {
    let txids = with_net(&shared, |net| {
        net.bitcoin_mempool()
            .iter()
            .map(|e| e.tx.compute_txid().to_string())
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(json_response(serde_json::json!({ "txids": txids })))
}

/// `GET /_/bitcoin/utxos/{address}` → `{"utxos": [{"txid", "vout", "value", "height"}]}`.
pub(crate) async fn btc_utxos(
    State(shared): State<Arc<Shared>>,
    Path(address): Path<String>,
) -> Result<Response, HttpError> {
    let utxos = with_net(&shared, move |net| net.bitcoin_utxos(&address))
        .await?
        .map_err(|e| bad_request(format!("utxos failed: {e}")))?;
    let utxos: Vec<serde_json::Value> = utxos
        .iter()
        .map(|u| {
            serde_json::json!({
                "txid": u.outpoint.txid.to_string(),
                "vout": u.outpoint.vout,
                "value": u.value,
                "height": u.height,
            })
        })
        .collect();
    Ok(json_response(serde_json::json!({ "utxos": utxos })))
}

/// `GET /_/bitcoin/tx/{txid}` → `{"txid", "height": H|null, "inputs": N,
/// "outputs": [{"value", "address"|null}]}`; 404 for an unknown transaction.
pub(crate) async fn btc_tx(
    State(shared): State<Arc<Shared>>,
    Path(txid): Path<String>,
) -> Result<Response, HttpError> {
    use localnet::localnet_services::bitcoin::rust_bitcoin::{Address, Network, Txid};
    let parsed: Txid = txid
        .parse()
        .map_err(|e| bad_request(format!("bad txid {txid}: {e}")))?;
    let Some((tx, height)) = with_net(&shared, move |net| net.bitcoin_transaction(&parsed)).await?
    else {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("no transaction {txid}"),
        ));
    };
    let outputs: Vec<serde_json::Value> = tx
        .output
        .iter()
        .map(|o| {
            let address = Address::from_script(&o.script_pubkey, Network::Regtest)
                .ok()
                .map(|a| a.to_string());
            serde_json::json!({ "value": o.value.to_sat(), "address": address })
        })
        .collect();
    Ok(json_response(serde_json::json!({
        "txid": tx.compute_txid().to_string(),
        "height": height,
        "inputs": tx.input.len(),
        "outputs": outputs,
    })))
}
