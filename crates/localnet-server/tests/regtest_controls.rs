//! The local-only regtest controls (`/_/bitcoin/…`): fund an address, mine,
//! look at the mempool, UTXOs and a transaction.

mod common;

async fn get(handle: &localnet_server::Handle, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", handle.url()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

async fn post(
    handle: &localnet_server::Handle,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let (status, bytes) = common::post(handle, path, body.to_string().into_bytes()).await;
    let text = String::from_utf8(bytes).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_mine_and_look_up_over_http() {
    let handle = common::start().await;
    // BIP173's P2WPKH program on regtest.
    let address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let (status, sent) = post(
        &handle,
        "/_/bitcoin/send_to",
        serde_json::json!({"address": address, "sats": 123_456}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let txid = sent["txid"].as_str().unwrap().to_string();
    assert_eq!(txid.len(), 64);
    let (_, mempool) = get(&handle, "/_/bitcoin/mempool").await;
    assert!(
        mempool["txids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == txid.as_str()),
        "{mempool}"
    );
    let (_, tx) = get(&handle, &format!("/_/bitcoin/tx/{txid}")).await;
    assert!(tx["height"].is_null(), "{tx}");
    let (_, before) = get(&handle, "/_/bitcoin/tip").await;
    let (status, mined) = post(&handle, "/_/bitcoin/mine", serde_json::json!({"blocks": 2})).await;
    assert_eq!(status, 200, "{mined}");
    assert_eq!(mined["block_hashes"].as_array().unwrap().len(), 2);
    assert_eq!(
        mined["tip_height"].as_u64().unwrap(),
        before["tip_height"].as_u64().unwrap() + 2
    );
    let (_, tx) = get(&handle, &format!("/_/bitcoin/tx/{txid}")).await;
    assert_eq!(
        tx["height"].as_u64(),
        Some(before["tip_height"].as_u64().unwrap() + 1),
        "{tx}"
    );
    assert!(tx["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["address"] == address && o["value"] == 123_456));
    let (_, utxos) = get(&handle, &format!("/_/bitcoin/utxos/{address}")).await;
    assert_eq!(utxos["utxos"][0]["txid"], txid.as_str(), "{utxos}");
    assert_eq!(utxos["utxos"][0]["value"], 123_456);
    // Errors name the problem.
    let (status, bad) = post(
        &handle,
        "/_/bitcoin/send_to",
        serde_json::json!({"address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "sats": 1000}),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    let (status, _) = get(&handle, &format!("/_/bitcoin/tx/{}", "00".repeat(32))).await;
    assert_eq!(status, 404);
}
