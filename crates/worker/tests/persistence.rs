//! Persistence between states: what is on disk at each point of a job's life,
//! and what a worker restarted from exactly that disk state does with it.

mod common;

use axum::http::StatusCode;
use common::*;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tensormine_core::api::*;
use tensormine_worker::store::JobStore;
use tensormine_worker::workloads::{Executor, ProgressFn, ResultMatrix, WorkItem, Workloads};

fn request(job_id: &str) -> JobRequest {
    JobRequest {
        job_id: job_id.into(),
        spec: JobSpec::Matmul(MatmulSpec {
            m: 24,
            k: 8,
            n: 6,
            a: seeded(3),
            b: seeded(4),
        }),
        capability: None,
    }
}

/// Runs the real workload, but only once the test lets it go: a job held in
/// the `running` state for as long as the test wants.
struct Gate {
    inner: Workloads,
    started: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Executor for Gate {
    fn run(&self, item: WorkItem, progress: ProgressFn<'_>) -> anyhow::Result<ResultMatrix> {
        self.started.lock().unwrap().send(()).ok();
        // A dropped sender (the "crashed" worker's test side) also lets it go.
        self.release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60))
            .ok();
        self.inner.run(item, progress)
    }
}

fn on_disk(dir: &std::path::Path, job_id: &str) -> JobState {
    JobStore::open(dir.join("jobs"))
        .unwrap()
        .load_all()
        .into_iter()
        .map(|r| r.unwrap())
        .find(|r| r.request.job_id == job_id)
        .expect("record on disk")
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_running_resumes_the_job_from_its_durable_acceptance() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        inner: tensormine_worker::real_workloads(&config).unwrap(),
        started: Mutex::new(started_tx),
        release: Mutex::new(release_rx),
    });
    let job = request("held");
    let crashed = tempfile::tempdir().unwrap();
    {
        let w = TestWorker::with_config(config.clone(), Some(gate));
        assert_eq!(w.post("/v1/jobs", &job).await.0, StatusCode::OK);
        // Acknowledged means durable: the record is on disk as accepted.
        assert_eq!(on_disk(dir.path(), "held"), JobState::Queued);
        tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("the job starts");
        let (_, body) = w.get("/v1/jobs/held").await;
        let status: JobStatus = serde_json::from_slice(&body).unwrap();
        assert_eq!(status.state, JobState::Running);
        // `running` lives in memory only; the disk still says queued.
        assert_eq!(on_disk(dir.path(), "held"), JobState::Queued);
        // "Crash" here: a copy of the data directory is exactly what a
        // worker killed at this moment would find on restart.
        copy_dir(dir.path(), crashed.path());
        release.send(()).unwrap();
        w.wait_final("held").await;
    }
    let w = TestWorker::start(crashed.path(), None);
    let resumed = w.wait_final("held").await;
    assert_eq!(
        resumed.state,
        JobState::Done,
        "the interrupted job is resumed"
    );
    assert_eq!(on_disk(crashed.path(), "held"), JobState::Done);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_is_on_disk_before_it_is_reported_and_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let job = request("finished");
    let done = {
        let w = TestWorker::start(dir.path(), None);
        assert_eq!(w.post("/v1/jobs", &job).await.0, StatusCode::OK);
        let (status, body) = w.get("/v1/jobs/finished?wait_ms=30000").await;
        assert_eq!(status, StatusCode::OK);
        let done: JobStatus = serde_json::from_slice(&body).unwrap();
        assert_eq!(done.state, JobState::Done);
        // The moment a client can see `done`, the disk already says so.
        let record = JobStore::open(dir.path().join("jobs"))
            .unwrap()
            .load_all()
            .into_iter()
            .map(|r| r.unwrap())
            .find(|r| r.request.job_id == "finished")
            .unwrap();
        assert_eq!(record.state, JobState::Done);
        assert_eq!(record.result, done.result);
        done
        // "Crash" right after reporting.
    };
    let w = TestWorker::start(dir.path(), None);
    let (_, body) = w.get("/v1/jobs/finished").await;
    let after: JobStatus = serde_json::from_slice(&body).unwrap();
    assert_eq!(after, done, "the reported result is served unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_long_poll_waits_for_the_end_or_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let (started_tx, _started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        inner: tensormine_worker::real_workloads(&config).unwrap(),
        started: Mutex::new(started_tx),
        release: Mutex::new(release_rx),
    });
    let w = TestWorker::with_config(config, Some(gate));
    assert_eq!(w.post("/v1/jobs", &request("slow")).await.0, StatusCode::OK);
    // Not finished within the wait: the current (unfinished) status.
    let (status, body) = w.get("/v1/jobs/slow?wait_ms=50").await;
    assert_eq!(status, StatusCode::OK);
    let status: JobStatus = serde_json::from_slice(&body).unwrap();
    assert!(matches!(status.state, JobState::Queued | JobState::Running));
    release.send(()).unwrap();
    let (_, body) = w.get("/v1/jobs/slow?wait_ms=30000").await;
    let status: JobStatus = serde_json::from_slice(&body).unwrap();
    assert_eq!(status.state, JobState::Done);
    expect_error(
        w.get("/v1/jobs/slow?wait=5").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    expect_error(
        w.get("/v1/jobs/nope?wait_ms=10").await,
        StatusCode::NOT_FOUND,
        "unknown_job",
    );
}
