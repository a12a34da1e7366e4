//! The local network: `localnet-server` (the IC HTTP interface in front of a
//! localnet) started in the background, its URL and root key written to
//! `.tensormine/local.json`.

use crate::config::LocalNetworkFile;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Overrides where the server binary is found.
pub const SERVER_ENV: &str = "LOCALNET_SERVER_BIN";
const SERVER_NAME: &str = "localnet-server";

/// The `localnet-server` binary: `$LOCALNET_SERVER_BIN`, next to this
/// executable (the same cargo target directory), or on `PATH`.
pub fn find_server() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(SERVER_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("{SERVER_ENV}={} is not a file", p.display());
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join(SERVER_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(SERVER_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!("cannot find the {SERVER_NAME} binary: build it with `cargo build --release -p localnet-server` (it is looked for next to tensormine and on PATH), or set {SERVER_ENV}")
}

/// The first line a server wrote.
#[derive(serde::Deserialize)]
struct Hello {
    url: String,
    root_key: String,
}

/// Is a server already answering at the URL in `local.json`?
pub async fn is_running(file: &LocalNetworkFile) -> bool {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(_) => return false,
    };
    client
        .get(format!("{}/api/v2/status", file.url.trim_end_matches('/')))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

/// Starts `server` on `port` in the background (its own process group, so a
/// Ctrl-C of the terminal does not end it), waits for its JSON line, and
/// writes `local.json`. Output goes to `localnet.out`/`localnet.log` in the
/// state directory.
pub async fn start(state_dir: &Path, port: u16, server: &Path) -> Result<LocalNetworkFile> {
    if let Ok(existing) = LocalNetworkFile::load(state_dir) {
        if is_running(&existing).await {
            bail!(
                "a local network is already running at {} (pid {}): stop it with `tensormine network stop` first",
                existing.url,
                existing.pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into())
            );
        }
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let out_path = state_dir.join("localnet.out");
    let log_path = state_dir.join("localnet.log");
    let out = std::fs::File::create(&out_path)
        .with_context(|| format!("cannot create {}", out_path.display()))?;
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut command = std::process::Command::new(server);
    command
        .arg("--port")
        .arg(port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    let pid = child.id();
    let started = Instant::now();
    let hello = loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = log.lines().last().unwrap_or("no output");
            bail!("{SERVER_NAME} exited ({status}) before it was ready: {last} (port {port} in use? try --port)");
        }
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if let Some(line) = text.lines().next().filter(|_| text.contains('\n')) {
            let hello: Hello = serde_json::from_str(line)
                .map_err(|e| anyhow!("{SERVER_NAME} printed {line:?}, not its JSON line: {e}"))?;
            break hello;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            bail!(
                "{SERVER_NAME} printed nothing within 60 s (see {}); it was stopped",
                log_path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    hex::decode(&hello.root_key).map_err(|_| anyhow!("{SERVER_NAME}'s root_key is not hex"))?;
    let file = LocalNetworkFile {
        url: hello.url,
        root_key: hello.root_key,
        pid: Some(pid),
    };
    file.save(state_dir)?;
    Ok(file)
}

/// Ends the server recorded in `local.json` (by its pid) and removes the file.
pub fn stop(state_dir: &Path) -> Result<LocalNetworkFile> {
    let file = LocalNetworkFile::load(state_dir)?;
    let pid = file
        .pid
        .ok_or_else(|| anyhow!("local.json has no pid: stop the server by hand"))?;
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .context("cannot run kill")?;
    std::fs::remove_file(LocalNetworkFile::path(state_dir)).ok();
    // Ids of canisters on a network that is gone would only mislead.
    std::fs::remove_file(state_dir.join("canisters-local.json")).ok();
    if !status.success() {
        bail!("process {pid} was not running (removed the stale local.json)");
    }
    Ok(file)
}
