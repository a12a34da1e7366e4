//! Persistence of jobs in the data directory: `jobs/<sha256(job id)>/` holds
//! `job.json` (the [`JobRecord`], replaced atomically), downloaded operands
//! (`a.bin`, `b.bin`) and the result (`result.bin`, little-endian f32).
//! Folders are named by hash so no job id can reach outside `jobs/`.
//!
//! Durability: a record is written to a temporary file, fsynced, renamed over
//! `job.json`, and the folder (and, for a new folder, `jobs/` itself) is
//! fsynced, so once [`JobStore::save`] returns the record survives a crash.
//! The worker saves a record when it accepts a job and when the job ends
//! (done or failed); the `running` state is kept in memory only, because a
//! job found `queued` or `running` after a restart is resumed either way.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tensormine_core::api::{JobRequest, JobState, Progress, SignedResult};
use tensormine_core::Digest32;

/// Everything the worker keeps about a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The request as accepted.
    pub request: JobRequest,
    /// Its spec hash.
    pub spec_hash: Digest32,
    /// Lifecycle state.
    pub state: JobState,
    /// Last known progress.
    pub progress: Progress,
    /// Signed commitment once done.
    pub result: Option<SignedResult>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The `jobs/` folder.
#[derive(Debug, Clone)]
pub struct JobStore {
    root: PathBuf,
}

const RECORD_FILE: &str = "job.json";
const RESULT_FILE: &str = "result.bin";

impl JobStore {
    /// A store in `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Self { root })
    }

    /// Folder of a job.
    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.root.join(Digest32::sha256(job_id.as_bytes()).to_hex())
    }

    /// Writes the record durably (temporary file, fsync, rename, fsync of
    /// the folder, and of `jobs/` when the folder is new).
    pub fn save(&self, record: &JobRecord) -> anyhow::Result<()> {
        let dir = self.job_dir(&record.request.job_id);
        let new_dir = !dir.is_dir();
        std::fs::create_dir_all(&dir)?;
        if new_dir {
            sync_dir(&self.root)?;
        }
        write_atomically(
            &dir.join(RECORD_FILE),
            &serde_json::to_vec_pretty(record)?,
            Durability::Synced,
        )?;
        sync_dir(&dir)
    }

    /// Stores a job's file (operand or result) atomically but without fsync:
    /// its sha256 is in the (synced) record, so a file torn by a crash is
    /// detected on restart and the job reported failed, never served.
    pub fn write_file(&self, job_id: &str, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let dir = self.job_dir(job_id);
        std::fs::create_dir_all(&dir)?;
        write_atomically(&dir.join(name), bytes, Durability::Unsynced)
    }

    /// Reads a job's file.
    pub fn read_file(&self, job_id: &str, name: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.job_dir(job_id).join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Stores the result bytes (one write, no fsync; see [`Self::write_file`]).
    pub fn write_result(&self, job_id: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.write_file(job_id, RESULT_FILE, bytes)
    }

    /// Reads the result bytes.
    pub fn read_result(&self, job_id: &str) -> anyhow::Result<Vec<u8>> {
        self.read_file(job_id, RESULT_FILE)
    }

    /// Every record on disk; unreadable ones are reported with their folder.
    pub fn load_all(&self) -> Vec<Result<JobRecord, (PathBuf, anyhow::Error)>> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        dirs.into_iter()
            .map(|dir| read_record(&dir).map_err(|err| (dir, err)))
            .collect()
    }
}

fn read_record(dir: &Path) -> anyhow::Result<JobRecord> {
    let bytes = std::fs::read(dir.join(RECORD_FILE))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Whether a write is flushed to disk before it is renamed into place.
#[derive(PartialEq)]
enum Durability {
    Synced,
    Unsynced,
}

/// Makes the entries of `dir` (new files, renames) durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing folder {}", dir.display()))
}

fn write_atomically(path: &Path, bytes: &[u8], durability: Durability) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes)?;
    if durability == Durability::Synced {
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}
