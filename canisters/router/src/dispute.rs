//! Fraud proofs against a verified matmul result, heard inside its dispute
//! window (`Config::dispute_window_secs`), before the miners are paid. The
//! submitter holds A and B and checks the whole result itself
//! (`tensormine_core::dispute::find_wrong_row`); a wrong row it finds comes
//! here with its Merkle path. The router recomputes that one row from the
//! seeded or inline operands (`O(k·n)`): if it is wrong the miner is
//! rejected and suspended, its bond is slashed to the submitter and the job
//! refunded; if it is right nothing changes.

use crate::guard::job_guard;
use crate::job::Job;
use crate::state::audit::{reject_proven, save, start_refund};
use crate::state::{mutate_state, read_state};
use candid::Principal;
use tensormine_core::api::JobSpec;
use tensormine_core::challenge::operands_held;
use tensormine_core::dispute::wrong_column;
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::router::{FraudProof, FraudProofError, FraudVerdict, JobStatus};
use tensormine_core::{merkle, Digest32};

/// Whether a verified job's result can be disputed: a matmul whose operands
/// the router holds (it can recompute any row), whatever the tier.
pub fn disputable(job: &Job) -> bool {
    matches!(&job.spec, JobSpec::Matmul(s) if operands_held(s))
}

/// `submit_fraud_proof`: adjudicates `proof` against job `id`'s accepted result.
pub fn submit(
    caller: Principal,
    now: u64,
    id: &str,
    proof: FraudProof,
) -> Result<FraudVerdict, FraudProofError> {
    let _guard = job_guard(id).map_err(|_| FraudProofError::Busy)?;
    let mut job = read_state(|s| s.job(id)).ok_or(FraudProofError::NotFound)?;
    if job.submitter != caller {
        return Err(FraudProofError::NotAuthorized);
    }
    let accepted = in_window(&job, now)?;
    let (row, column) = adjudicate(&job, accepted, &proof)?;
    let miner = job.assignments[accepted].miner;
    let reason = format!("fraud proof: row {row} differs from A·B at column {column}");
    reject_proven(&mut job, accepted, reason.clone(), now);
    job.accepted = None;
    job.dispute_until_ns = None;
    mutate_state(|s| s.results.remove(&job.id));
    job.stored_result_bytes = 0;
    start_refund(&mut job, now, reason);
    save(&job);
    Ok(FraudVerdict { miner, row, column })
}

/// The accepted assignment of a job whose dispute window is open at `now`.
fn in_window(job: &Job, now: u64) -> Result<usize, FraudProofError> {
    let not = |reason: &str| FraudProofError::NotDisputable {
        reason: reason.into(),
    };
    if !disputable(job) {
        return Err(not(
            "only matmul results with seeded or inline operands can be disputed",
        ));
    }
    match (job.status, job.dispute_until_ns, job.accepted) {
        (JobStatus::Settling, Some(until), Some(i)) if now < until => Ok(i),
        (JobStatus::Settling, Some(_), Some(_)) => Err(not("the dispute window has closed")),
        (JobStatus::Settled, ..) => Err(not("the job is settled: the dispute window has closed")),
        _ => Err(not("the job has no verified result in a dispute window")),
    }
}

/// `(row, first wrong column)` when the proof opens a wrong row of the
/// accepted result; typed errors for malformed proofs and right rows.
fn adjudicate(job: &Job, i: usize, proof: &FraudProof) -> Result<(u64, u64), FraudProofError> {
    let invalid = |reason: String| FraudProofError::InvalidProof { reason };
    let JobSpec::Matmul(spec) = &job.spec else {
        unreachable!("disputable jobs are matmul")
    };
    let (m, n) = (spec.m as u64, spec.n as usize);
    if proof.row >= m {
        return Err(invalid(format!("row {} of a {m}-row result", proof.row)));
    }
    let values = f32_from_le_bytes(&proof.values)
        .filter(|v| v.len() == n)
        .ok_or_else(|| {
            invalid(format!(
                "values must be {n} little-endian f32 ({} bytes)",
                4 * n
            ))
        })?;
    let path = proof
        .path
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()).map(Digest32))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("every path hash must be 32 bytes".into()))?;
    let root = job.assignments[i]
        .commitment
        .as_ref()
        .expect("an accepted result is committed")
        .commitment
        .merkle_root;
    if !merkle::verify_row(&root, m, proof.row, &values, &path) {
        return Err(invalid(
            "the row does not open against the accepted result's Merkle root".into(),
        ));
    }
    match wrong_column(spec, proof.row, &values) {
        Ok(Some(column)) => Ok((proof.row, column)),
        Ok(None) => Err(FraudProofError::RowIsCorrect),
        Err(e) => Err(invalid(e.to_string())),
    }
}
