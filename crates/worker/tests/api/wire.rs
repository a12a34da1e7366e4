//! Byte-determinism of responses on the wire.

use super::*;

/// Raw HTTP/1.1 exchange over loopback: the whole response, headers included.
async fn raw_get(address: std::net::SocketAddr, path: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: worker\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_on_the_wire_are_byte_identical_and_undated() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    assert_eq!(
        w.post("/v1/jobs", &matmul_request("wire", 8, 8, 8)).await.0,
        StatusCode::OK
    );
    w.wait_final("wire").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(tensormine_worker::http::serve(
        listener,
        w.router.clone(),
        std::future::pending(),
    ));
    for path in ["/v1/health", "/v1/jobs/wire", "/v1/jobs/wire/result"] {
        let first = raw_get(address, path).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(raw_get(address, path).await, first, "{path}");
        let text = String::from_utf8_lossy(&first).to_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(!text.contains("\r\ndate:"), "{text}");
    }
}
