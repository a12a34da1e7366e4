//! The developer's side of optimistic verification: `job submit` keeps the
//! request (the operands' seeds or values) in the state directory;
//! `job result` runs the full client check on the downloaded matmul result
//! (`tensormine_core::dispute::find_wrong_row`, 40 ±1 Freivalds vectors: a
//! wrong row is missed with p ≤ 2⁻⁴⁰) and, when a row is wrong and the job's
//! dispute window is open, files that row with its Merkle path
//! (`submit_fraud_proof`): the router recomputes it and, if it is wrong,
//! refunds the job and slashes the miner's bond to the developer.

use crate::env::Env;
use crate::errors::refused;
use crate::job::JobResult;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tensormine_core::api::{MatmulSpec, MatrixSource};
use tensormine_core::dispute::{find_wrong_row, fraud_proof, CLIENT_VECTORS};
use tensormine_core::encoding::{f32_from_le_bytes, F32Array};
use tensormine_core::router::{
    FraudProofError, FraudVerdict, JobRequest, JobStatus, OperandInput, WorkloadInput,
};
use tensormine_core::Digest32;

/// Where `job submit` keeps a job's request: `<state dir>/jobs/<id>.json`.
pub fn request_path(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("jobs").join(format!("{id}.json"))
}

/// Keeps the request of a submitted job for the client check.
pub fn save_request(state_dir: &Path, id: &str, request: &JobRequest) -> Result<()> {
    crate::config::write_json(&request_path(state_dir, id), request)
}

/// The kept request of job `id`, if this machine submitted it.
pub fn load_request(state_dir: &Path, id: &str) -> Result<Option<JobRequest>> {
    let path = request_path(state_dir, id);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a job request", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The worker-API spec of a matmul request whose operands the developer
/// holds (seeded or inline); why not, otherwise.
pub fn held_matmul(request: &JobRequest) -> Result<MatmulSpec, String> {
    let WorkloadInput::Matmul { m, k, n, a, b } = &request.workload else {
        return Err("only matmul results can be checked this way".into());
    };
    let source = |o: &OperandInput| match o {
        OperandInput::Seeded(seed) => <[u8; 32]>::try_from(seed.as_slice())
            .map(|s| MatrixSource::Seeded { seed: Digest32(s) })
            .map_err(|_| "a seed is not 32 bytes".to_string()),
        OperandInput::Inline(bytes) => f32_from_le_bytes(bytes)
            .map(|v| MatrixSource::Inline { data: F32Array(v) })
            .ok_or_else(|| "inline operand is not whole f32 values".to_string()),
        OperandInput::Url { .. } => Err("a URL operand is not held here".to_string()),
    };
    Ok(MatmulSpec {
        m: *m,
        k: *k,
        n: *n,
        a: source(a)?,
        b: source(b)?,
    })
}

/// The outcome of the client check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCheck {
    /// Every row passed `vectors` Freivalds checks.
    Passed { vectors: u32 },
    /// Not checked, and why (not a matmul, operands not held, request not kept here).
    NotChecked { why: String },
    /// Row `row` is wrong; the fraud proof's verdict, or why it was not filed.
    Wrong {
        row: u64,
        filed: Result<FraudVerdict, String>,
    },
}

/// Runs the client check on a downloaded result and files a fraud proof
/// for a wrong row while the job's dispute window is open.
pub async fn check(env: &Env, state_dir: &Path, r: &JobResult) -> Result<ClientCheck> {
    let Some(request) = load_request(state_dir, &r.job.id)? else {
        return Ok(ClientCheck::NotChecked {
            why: format!(
                "its request is not kept in {} (submitted elsewhere)",
                request_path(state_dir, &r.job.id).display()
            ),
        });
    };
    let spec = match held_matmul(&request) {
        Ok(spec) => spec,
        Err(why) => return Ok(ClientCheck::NotChecked { why }),
    };
    let values = r.values();
    let seed: [u8; 32] = rand::random();
    let row = find_wrong_row(&spec, &values, CLIENT_VECTORS, &seed)
        .map_err(|e| anyhow::anyhow!("job {}: the client check cannot run: {e}", r.job.id))?;
    let Some(row) = row else {
        return Ok(ClientCheck::Passed {
            vectors: CLIENT_VECTORS,
        });
    };
    if r.job.status != JobStatus::Settling || r.job.dispute_until_ns.is_none() {
        let filed = Err(format!(
            "the job is {:?}: its dispute window is closed (or it has none)",
            r.job.status
        ));
        return Ok(ClientCheck::Wrong { row, filed });
    }
    let proof = fraud_proof(&values, r.cols as usize, row);
    let (answer,): (Result<FraudVerdict, FraudProofError>,) = env
        .update(
            env.canisters.router,
            "router",
            "submit_fraud_proof",
            (&r.job.id, &proof),
        )
        .await?;
    let filed = answer.map_err(|e| refused("router.submit_fraud_proof", &e, None).to_string());
    Ok(ClientCheck::Wrong { row, filed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensormine_core::encoding::f32_to_le_bytes;
    use tensormine_core::merkle::RowMerkleTree;
    use tensormine_core::router::{Resources, Tier};

    fn request(a: OperandInput, b: OperandInput) -> JobRequest {
        JobRequest {
            workload: WorkloadInput::Matmul {
                m: 2,
                k: 2,
                n: 2,
                a,
                b,
            },
            resources: Resources::default(),
            tier: Tier::None,
            max_price_sats: 1,
            deadline_secs: 60,
            idempotency_key: None,
        }
    }

    #[test]
    fn held_operands_convert_and_others_say_why() {
        let inline = OperandInput::Inline(f32_to_le_bytes(&[1.0, 2.0, 3.0, 4.0]));
        let spec = held_matmul(&request(OperandInput::Seeded(vec![7; 32]), inline)).unwrap();
        assert_eq!(
            spec.a,
            MatrixSource::Seeded {
                seed: Digest32([7; 32])
            }
        );
        let url = OperandInput::Url {
            url: "https://x/b".into(),
            sha256: vec![0; 32],
        };
        let e = held_matmul(&request(OperandInput::Seeded(vec![7; 32]), url)).unwrap_err();
        assert!(e.contains("URL"), "{e}");
        let e = held_matmul(&request(
            OperandInput::Seeded(vec![7; 31]),
            OperandInput::Seeded(vec![1; 32]),
        ))
        .unwrap_err();
        assert!(e.contains("32 bytes"), "{e}");
    }

    #[test]
    fn a_fraud_proof_opens_against_the_results_root() {
        let values: Vec<f32> = (0..15).map(|x| x as f32).collect();
        let root = RowMerkleTree::from_matrix(&values, 3).root();
        for row in 0..5 {
            let p = fraud_proof(&values, 3, row);
            let path: Vec<Digest32> = p
                .path
                .iter()
                .map(|h| Digest32(h.as_slice().try_into().unwrap()))
                .collect();
            let got = f32_from_le_bytes(&p.values).unwrap();
            assert!(tensormine_core::merkle::verify_row(
                &root, 5, row, &got, &path
            ));
        }
    }

    #[test]
    fn requests_round_trip_through_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let r = request(
            OperandInput::Seeded(vec![1; 32]),
            OperandInput::Seeded(vec![2; 32]),
        );
        assert_eq!(load_request(dir.path(), "job-1").unwrap(), None);
        save_request(dir.path(), "job-1", &r).unwrap();
        assert_eq!(load_request(dir.path(), "job-1").unwrap(), Some(r));
    }
}
