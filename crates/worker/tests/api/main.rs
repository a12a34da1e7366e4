//! API contract, idempotency, signatures, Merkle proofs, Freivalds over the
//! worker's own output, a cheating worker caught by the challenge, bad input,
//! persistence across restarts and byte-determinism on the wire.
//!
//! One test binary (link time is the cost of each), one submodule per concern.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod challenges;
mod lifecycle;
mod operands;
mod wire;

use axum::http::StatusCode;
use common::*;
use std::sync::Arc;
use tensormine_core::api::*;
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::signing::{spec_hash, verify_result};
use tensormine_core::verify::{
    check_rows, freivalds, mat_vec_f64, seeded_rows, SampledRow, Tolerance,
};
use tensormine_core::Digest32;
use tensormine_worker::store::{JobRecord, JobStore};
use tensormine_worker::workloads::{Executor, ProgressFn, ResultMatrix, WorkItem, Workloads};

fn matmul_request(job_id: &str, m: u32, k: u32, n: u32) -> JobRequest {
    JobRequest {
        job_id: job_id.into(),
        spec: JobSpec::Matmul(MatmulSpec {
            m,
            k,
            n,
            a: seeded(1),
            b: seeded(2),
        }),
        capability: None,
    }
}

fn real_executor(config: &tensormine_worker::config::Config) -> Workloads {
    tensormine_worker::real_workloads(config).unwrap()
}
