//! `localnet-server --port 4943 [--state-seed N]`: serves the IC HTTP interface
//! of a fresh localnet on 127.0.0.1, prints one JSON line
//! `{"url":"http://127.0.0.1:4943","root_key":"<hex DER>"}` and serves until killed.

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: localnet-server [--port PORT] [--state-seed N]");
    eprintln!("  --port PORT      loopback port to listen on (default 4943; 0 = any free port)");
    eprintln!("  --state-seed N   seed (u64) of the root key, node key and raw_rand (default 0)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut port: u16 = 4943;
    let mut seed: u64 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = |args: &mut dyn Iterator<Item = String>| args.next();
        match arg.as_str() {
            "--port" => match value(&mut args).and_then(|v| v.parse().ok()) {
                Some(p) => port = p,
                None => return usage(),
            },
            "--state-seed" => match value(&mut args).and_then(|v| v.parse().ok()) {
                Some(s) => seed = s,
                None => return usage(),
            },
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut config = localnet_server::Config::with_seed(seed_bytes);
    config.port = port;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("localnet-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let handle = match localnet_server::Server::start(config).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("localnet-server: cannot listen on 127.0.0.1:{port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let line = serde_json::json!({ "url": handle.url(), "root_key": hex::encode(handle.root_key_der()) });
        println!("{line}");
        // Serve until killed (SIGINT / SIGTERM end it cleanly).
        wait_for_signal().await;
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
