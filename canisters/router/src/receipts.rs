//! Receipts: each settled or refunded job appends a receipt to an
//! append-only RFC 6962 Merkle tree kept in stable memory; the root is the
//! router's certified data. Batches are signed with threshold Schnorr
//! (ed25519) — one signature for every receipt since the last batch — and
//! `get_receipt` returns a receipt with its inclusion path and the first
//! signed batch covering it, which `tensormine_core::receipt::verify_receipt`
//! checks offline with the router's public key.

use crate::guard::{Task, TaskGuard};
use crate::job::Job;
use crate::runtime::Runtime;
use crate::state::{
    mutate_state, read_state, Cbor, EventKind, StableNodes, StableNodesRead, State,
};
use candid::Principal;
use serde_bytes::ByteBuf;
use tensormine_core::api::HexBytes;
use tensormine_core::receipt::{
    batch_message, MinerLine, MinerVerdict, Receipt, ReceiptOutcome, ReceiptTree, ResultRef,
    SignedBatch, RECEIPT_VERSION,
};
use tensormine_core::router::*;
use tensormine_core::Digest32;

/// `settled`: the job was released (a refunded job paid no miner, even one
/// whose result had already been accepted when the deadline passed).
fn miner_line(a: &crate::job::Assignment, settled: bool) -> MinerLine {
    MinerLine {
        miner: HexBytes(a.miner.as_slice().to_vec()),
        paid_sats: if settled && a.state == AssignmentState::Accepted {
            a.price_sats
        } else {
            0
        },
        verdict: match &a.state {
            AssignmentState::Accepted => MinerVerdict::Accepted,
            AssignmentState::TimedOut => MinerVerdict::TimedOut,
            AssignmentState::Rejected { reason } => MinerVerdict::Rejected {
                reason: reason.clone(),
            },
            AssignmentState::Failed { reason } => MinerVerdict::Failed {
                reason: reason.clone(),
            },
            AssignmentState::Committed
            | AssignmentState::Dispatching { .. }
            | AssignmentState::Running { .. } => MinerVerdict::Unchecked,
        },
        slashed_sats: a.slashed_sats,
    }
}

/// The receipt of a job that just became final.
pub fn receipt(router: Principal, job: &Job, index: u64, now: u64) -> Receipt {
    let outcome = match (job.status, job.request.tier) {
        (JobStatus::Settled, Tier::None) => ReceiptOutcome::Unverified,
        (JobStatus::Settled, Tier::Audit { .. }) if job.audited == Some(false) => {
            ReceiptOutcome::Unverified
        }
        (JobStatus::Settled, _) => ReceiptOutcome::Verified,
        _ => ReceiptOutcome::Refunded {
            reason: job.reason.clone().unwrap_or_default(),
        },
    };
    let result = job
        .accepted
        .filter(|_| job.status == JobStatus::Settled)
        .and_then(|i| job.assignments[i].commitment.as_ref())
        .map(|r| ResultRef {
            rows: r.commitment.rows,
            cols: r.commitment.cols,
            merkle_root: r.commitment.merkle_root,
            sha256: r.commitment.sha256,
        });
    Receipt {
        version: RECEIPT_VERSION,
        router: HexBytes(router.as_slice().to_vec()),
        index,
        job_id: job.id.clone(),
        spec_hash: job.spec_hash,
        submitter: HexBytes(job.submitter.as_slice().to_vec()),
        workload: job.request.workload.kind().into(),
        tier: job.request.tier.into(),
        outcome,
        result,
        miners: job
            .assignments
            .iter()
            .map(|a| miner_line(a, job.status == JobStatus::Settled))
            .collect(),
        held_sats: job.request.max_price_sats,
        fee_sats: job.fee_sats,
        refunded_sats: job.refunded_sats,
        submitted_at_ns: job.submitted_at_ns,
        settled_at_ns: now,
    }
}

/// Appends the job's receipt; answers the new tree root (to certify).
pub fn append(s: &mut State, router: Principal, job: &mut Job, now: u64) -> Digest32 {
    let index = s.counters().receipt_tree_size;
    let bytes = receipt(router, job, index, now).to_bytes();
    let leaf = tensormine_core::receipt::leaf_hash(&bytes);
    let mut tree = ReceiptTree::new(StableNodes(&mut s.receipt_nodes), index);
    tree.append(leaf);
    let root = tree.root();
    s.receipts.insert(index, bytes);
    s.update_counters(|c| {
        c.receipt_tree_size = index + 1;
        c.totals.receipts = index + 1;
        c.oldest_unsigned_ns.get_or_insert(now);
    });
    job.receipt_index = Some(index);
    root
}

/// The current tree root (certified data after an upgrade).
pub fn root(s: &State) -> Digest32 {
    let size = s.counters().receipt_tree_size;
    ReceiptTree::new(StableNodesRead(&s.receipt_nodes), size).root()
}

/// Signs a batch when enough receipts wait or the oldest waited long enough.
pub async fn sign_due<R: Runtime>(rt: &R) {
    let (c, counters) = read_state(|s| (s.config(), s.counters()));
    let waiting = counters.receipt_tree_size - counters.signed_tree_size;
    let old_enough = counters
        .oldest_unsigned_ns
        .is_some_and(|t| rt.time() >= t + c.receipt_batch_secs * 1_000_000_000);
    if waiting == 0 || (waiting < c.receipt_batch_max && !old_enough) {
        return;
    }
    let Ok(_guard) = TaskGuard::new(Task::ReceiptBatch) else {
        return;
    };
    ensure_public_key(rt, &c.schnorr_key_name).await;
    let (index, size, root) =
        read_state(|s| (s.batches.len(), s.counters().receipt_tree_size, root(s)));
    let router = rt.id();
    let message = batch_message(router.as_slice(), index, size, &root);
    match rt.sign(&c.schnorr_key_name, message.0.to_vec()).await {
        Ok((signature, cycles)) => mutate_state(|s| {
            s.batches.insert(
                index,
                Cbor(SignedBatch {
                    router: HexBytes(router.as_slice().to_vec()),
                    index,
                    tree_size: size,
                    root,
                    signature: HexBytes(signature),
                }),
            );
            s.update_counters(|k| {
                k.signed_tree_size = size;
                k.oldest_unsigned_ns = (k.receipt_tree_size > size).then_some(rt.time());
                k.totals.signatures += 1;
                k.totals.signature_cycles += cycles;
            });
            let kind = EventKind::BatchSigned {
                index,
                tree_size: size,
            };
            s.record(rt.time(), None, kind);
        }),
        Err(e) => {
            mutate_state(|s| s.record(rt.time(), None, EventKind::BatchSignFailed { reason: e }))
        }
    }
}

/// Fetches and caches the router's Schnorr public key.
pub async fn ensure_public_key<R: Runtime>(rt: &R, key_name: &str) {
    if read_state(|s| s.counters().public_key.is_some()) {
        return;
    }
    match rt.public_key(key_name).await {
        Ok(key) => mutate_state(|s| s.update_counters(|c| c.public_key = Some(key))),
        Err(e) => {
            mutate_state(|s| s.record(rt.time(), None, EventKind::PublicKeyFailed { reason: e }))
        }
    }
}

/// The first signed batch covering leaf `index` (batches grow in size).
fn covering_batch(s: &State, index: u64) -> Option<SignedBatch> {
    let (mut lo, mut hi) = (0, s.batches.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if s.batches.get(&mid).expect("batches are dense").0.tree_size > index {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    s.batches.get(&lo).map(|b| b.0)
}

pub fn get_receipt(job_id: &str, now: u64) -> Result<ReceiptProofView, ReceiptError> {
    read_state(|s| {
        let job = s.job(job_id).ok_or(ReceiptError::NotFound)?;
        let index = job
            .receipt_index
            .ok_or(ReceiptError::NotSettled { status: job.status })?;
        let batch = covering_batch(s, index).ok_or_else(|| {
            let c = s.config();
            let since = s.counters().oldest_unsigned_ns.unwrap_or(now);
            ReceiptError::NotYetSigned {
                retry_after_ns: (since + c.receipt_batch_secs * 1_000_000_000)
                    .saturating_sub(now)
                    .max(1_000_000_000),
            }
        })?;
        let tree = ReceiptTree::new(
            StableNodesRead(&s.receipt_nodes),
            s.counters().receipt_tree_size,
        );
        let path = tree.inclusion_proof(index, batch.tree_size);
        Ok(ReceiptProofView {
            receipt: String::from_utf8(s.receipts.get(&index).expect("stored receipt"))
                .expect("receipts are JSON"),
            leaf_index: index,
            path: path.iter().map(|d| ByteBuf::from(d.0.to_vec())).collect(),
            batch_index: batch.index,
            batch_tree_size: batch.tree_size,
            batch_root: batch.root.0.to_vec(),
            batch_signature: batch.signature.0,
            router: batch.router.0,
            public_key: s.counters().public_key.unwrap_or_default(),
        })
    })
}
