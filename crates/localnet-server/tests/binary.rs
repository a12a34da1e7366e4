//! The `localnet-server` binary: one JSON line with the URL and root key, then
//! it serves until killed; the root key follows `--state-seed`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    url: String,
    root_key: Vec<u8>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(seed: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_localnet-server"))
        .args(["--port", "0", "--state-seed", seed])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
    let url = json["url"].as_str().unwrap().to_string();
    let root_key = hex::decode(json["root_key"].as_str().unwrap()).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 2, "{line}");
    Server {
        child,
        url,
        root_key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_url_and_root_key_then_serves() {
    let a = spawn("1");
    assert!(a.url.starts_with("http://127.0.0.1:"), "{}", a.url);
    let agent = ic_agent::Agent::builder().with_url(&a.url).build().unwrap();
    agent.fetch_root_key().await.unwrap();
    assert_eq!(agent.read_root_key(), a.root_key);
    // Certificates verify against that key.
    let canister = candid::Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    agent
        .read_state_raw(vec![vec!["time".into()]], canister)
        .await
        .unwrap();

    let same = spawn("1");
    let other = spawn("2");
    assert_eq!(same.root_key, a.root_key);
    assert_ne!(other.root_key, a.root_key);
}

#[test]
fn refuses_unknown_arguments() {
    let status = Command::new(env!("CARGO_BIN_EXE_localnet-server"))
        .arg("--bogus")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
