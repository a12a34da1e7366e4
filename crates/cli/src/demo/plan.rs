//! The jobs the demo submits, and how it recognises the cheater's rejection.

use crate::job;
use candid::Principal;
use tensormine_core::registry::WorkloadKind;
use tensormine_core::router::{AssignmentState, JobRequest, JobView, Tier};

/// A job the demo submits.
pub(super) struct Planned {
    pub label: String,
    pub req: JobRequest,
}

/// The fixed mix: Freivalds matmuls (where a corrupted result is caught),
/// audited embeds and one redundant embed.
pub(super) fn initial_plan(model: [u8; 32], short: bool) -> Vec<Planned> {
    let (n_matmul, n_audit) = if short { (3, 1) } else { (6, 2) };
    let mut plan: Vec<Planned> = (0..n_matmul).map(|i| matmul(i, 128)).collect();
    for i in 0..n_audit {
        plan.push(embed(model, Tier::Audit { rate_ppm: 500_000 }, i));
    }
    plan.push(embed(model, Tier::Redundant { k: 2 }, 99));
    plan
}

/// An n×n×n matmul whose seeds differ with `i`.
pub(super) fn matmul(i: u64, n: u32) -> Planned {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a[..8].copy_from_slice(&(2 * i + 1).to_le_bytes());
    b[..8].copy_from_slice(&(2 * i + 2).to_le_bytes());
    Planned {
        label: format!("matmul {n}x{n}x{n} (freivalds)"),
        req: job::request(
            job::matmul_workload(n, n, n, a, b),
            Tier::Freivalds,
            20_000,
            300,
            None,
            None,
        ),
    }
}

/// Six sentences tagged with `i`, embedded with `model` at `tier`.
fn embed(model: [u8; 32], tier: Tier, i: usize) -> Planned {
    let sentences: Vec<String> = [
        "Bitcoin miners rent out their GPUs",
        "The escrow pays in native bitcoin",
        "Freivalds checks a matrix product in quadratic time",
        "Receipts are signed in batches and verified offline",
        "A dishonest worker loses its bond",
        "Embeddings map sentences to vectors",
    ]
    .iter()
    .map(|s| format!("{s} (#{i})"))
    .collect();
    let label = match tier {
        Tier::Redundant { k } => format!("embed {} sentences (redundant:{k})", sentences.len()),
        Tier::Audit { rate_ppm } => {
            format!("embed {} sentences (audit:{rate_ppm})", sentences.len())
        }
        _ => format!("embed {} sentences", sentences.len()),
    };
    Planned {
        label,
        req: job::request(
            job::embed_workload(model, sentences),
            tier,
            20_000,
            300,
            None,
            None,
        ),
    }
}

/// Did the router reject `miner`'s result in this job?
pub(super) fn caught_in(v: &JobView, miner: Principal) -> bool {
    v.workload == WorkloadKind::Matmul
        && v.assignments
            .iter()
            .any(|a| a.miner == miner && matches!(a.state, AssignmentState::Rejected { .. }))
}
