//! Results the router did not store come from the worker in chunks
//! (`GET {endpoint}/v1/jobs/{id}/result?offset=&length=`) and are accepted
//! only if their length and sha256 match the accepted commitment. The worker
//! here is a loopback HTTP server written in the test.

use ic_agent::identity::BasicIdentity;
use ic_agent::Agent;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use tensormine_cli::config::CanisterIds;
use tensormine_cli::{job, Env};
use tensormine_core::router::CommitmentView;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `body` (with one byte flipped at `flip`, if set) and records each request line.
async fn worker(
    body: Vec<u8>,
    flip: Option<usize>,
    status: u16,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let line = String::from_utf8_lossy(&req)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().push(line.clone());
            let target = line.split(' ').nth(1).unwrap_or("");
            let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
            let get = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap()
            };
            let (offset, length) = (get("offset"), get("length"));
            let mut data = body.clone();
            if let Some(i) = flip {
                data[i] ^= 1;
            }
            let chunk = &data[offset.min(data.len())..(offset + length).min(data.len())];
            let (reason, payload): (&str, &[u8]) = if status == 200 {
                ("OK", chunk)
            } else {
                ("Conflict", b"{\"error\":\"result_not_ready\"}")
            };
            let head = format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/octet-stream\r\nx-tensormine-result-length: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                data.len(),
                payload.len()
            );
            sock.write_all(head.as_bytes()).await.unwrap();
            sock.write_all(payload).await.unwrap();
            sock.shutdown().await.ok();
        }
    });
    (url, seen)
}

fn env() -> Env {
    // Nothing is called on this agent: the worker is reached over plain HTTP.
    let agent = Agent::builder()
        .with_url("http://127.0.0.1:9")
        .with_identity(BasicIdentity::from_raw_key(&[1; 32]))
        .build()
        .unwrap();
    let p = candid::Principal::from_slice(&[1]);
    Env::new(
        agent,
        CanisterIds {
            registry: p,
            escrow: p,
            router: p,
            ckbtc_ledger: None,
        },
        true,
    )
    .unwrap()
}

fn commitment(body: &[u8]) -> CommitmentView {
    CommitmentView {
        rows: 1,
        cols: (body.len() / 4) as u64,
        merkle_root: tensormine_core::merkle::root_of_bytes(body, body.len() / 4)
            .unwrap()
            .0
            .to_vec(),
        sha256: Sha256::digest(body).to_vec(),
        byte_len: body.len() as u64,
        signature: vec![],
    }
}

/// A job without a capability on the stand-in worker.
fn access(endpoint: &str, job_id: &str) -> job::WorkerAccess {
    job::WorkerAccess {
        endpoint: endpoint.to_string(),
        worker_job_id: job_id.to_string(),
        capability: None,
    }
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn a_large_result_comes_in_chunks_and_is_checked() {
    let data = body(4_500_000);
    let (url, seen) = worker(data.clone(), None, 200).await;
    let got = job::fetch_from_worker(
        &env(),
        &access(&format!("{url}/"), "job-7"),
        data.len() as u64,
    )
    .await
    .unwrap();
    assert_eq!(got, data);
    assert_eq!(
        job::check_result("job-7", &got, &commitment(&data)).unwrap(),
        <[u8; 32]>::from(Sha256::digest(&data))
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "GET /v1/jobs/job-7/result?offset=0&length=2000000 HTTP/1.1",
            "GET /v1/jobs/job-7/result?offset=2000000&length=2000000 HTTP/1.1",
            "GET /v1/jobs/job-7/result?offset=4000000&length=500000 HTTP/1.1",
        ]
    );
}

#[tokio::test]
async fn a_faulty_worker_is_caught() {
    let data = body(10_000);
    let (url, _) = worker(data.clone(), Some(1234), 200).await;
    let got = job::fetch_from_worker(&env(), &access(&url, "job-8"), data.len() as u64)
        .await
        .unwrap();
    let e = job::check_result("job-8", &got, &commitment(&data))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not match its committed Merkle root") && e.contains("do not use it"),
        "{e}"
    );
    // The review's attack: a commitment whose sha256 is of the delivered
    // bytes but whose root is of the honest result (which passed the spot
    // checks). The sha256 alone would accept it; the root does not.
    let mut forged = commitment(&data);
    forged.sha256 = Sha256::digest(&got).to_vec();
    let e = job::check_result("job-8", &got, &forged)
        .unwrap_err()
        .to_string();
    assert!(e.contains("committed Merkle root"), "{e}");
    // A short result is refused too.
    let e = job::check_result("job-8", &data[..9_996], &commitment(&data))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("has 9996 bytes, the commitment says 10000"),
        "{e}"
    );
}

#[tokio::test]
async fn worker_errors_are_reported() {
    let data = body(100);
    let (url, _) = worker(data.clone(), None, 409).await;
    let e = job::fetch_from_worker(&env(), &access(&url, "job-9"), 100)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("answered 409") && e.contains("result_not_ready"),
        "{e}"
    );
    let e = job::fetch_from_worker(&env(), &access("http://127.0.0.1:9", "job-9"), 100)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot reach the worker at http://127.0.0.1:9"),
        "{e}"
    );
}
