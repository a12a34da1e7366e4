//! The synchronous endpoints: who may call, argument checks, idempotency;
//! the money moves in [`crate::state`].
//!
//! Holds are keyed by job id. Repeating a call with the same arguments
//! returns the stored result and moves nothing; another call on a settled
//! job returns `AlreadySettled` with the hold as it is.

use crate::runtime::Runtime;
use crate::state::{mutate_state, read_state, Existing};
use crate::types::*;
use candid::Principal;

fn is_router<R: Runtime>(rt: &R) -> bool {
    read_state(|s| s.config().router) == Some(rt.caller())
}

fn read_only() -> bool {
    read_state(|s| s.config().read_only)
}

fn valid_job_id(job: &str) -> Result<(), String> {
    if job.is_empty() || job.len() > MAX_JOB_ID_LEN {
        return Err(format!("job id must have 1 to {MAX_JOB_ID_LEN} bytes"));
    }
    match job
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        Some(c) => Err(format!(
            "job id contains {c:?}; allowed are A-Z a-z 0-9 . _ : -"
        )),
        None => Ok(()),
    }
}

/// `hold`: locks `amount` of `payer`'s available funds for `job` (router only).
pub fn hold<R: Runtime>(
    rt: &R,
    job: String,
    payer: Principal,
    amount: Sats,
) -> Result<Hold, HoldError> {
    if !is_router(rt) {
        return Err(HoldError::NotRouter);
    }
    if read_only() {
        return Err(HoldError::ReadOnly);
    }
    valid_job_id(&job).map_err(|reason| HoldError::InvalidJobId { reason })?;
    if payer == Principal::anonymous() {
        return Err(HoldError::AnonymousCaller);
    }
    if amount == 0 {
        return Err(HoldError::AmountTooSmall { min: 1 });
    }
    mutate_state(|s| match s.existing_hold(&job, payer, amount) {
        Some(Existing::Same(hold)) => Ok(hold),
        Some(Existing::Different(hold)) => Err(HoldError::JobExists { hold }),
        Some(Existing::Settled(hold)) => Err(HoldError::AlreadySettled { hold }),
        None => s
            .hold(&job, payer, amount, rt.time())
            .map_err(|available| HoldError::InsufficientFunds { available }),
    })
}

/// `release`: pays `payees` and `fee` (to the treasury) from the job's hold;
/// what is left of the hold goes back to the payer (router only).
pub fn release<R: Runtime>(
    rt: &R,
    job: String,
    payees: Vec<(Principal, Sats)>,
    fee: Sats,
) -> Result<Settlement, ReleaseError> {
    if !is_router(rt) {
        return Err(ReleaseError::NotRouter);
    }
    if read_only() {
        return Err(ReleaseError::ReadOnly);
    }
    let max = read_state(|s| s.config().max_payees);
    if payees.len() > max as usize {
        return Err(ReleaseError::TooManyPayees { max });
    }
    if payees.iter().any(|(p, _)| *p == Principal::anonymous()) {
        return Err(ReleaseError::AnonymousCaller);
    }
    let hold = read_state(|s| s.hold_of(&job)).ok_or(ReleaseError::UnknownJob)?;
    match &hold.settlement {
        Some(Settlement::Released {
            payees: paid,
            fee: charged,
            ..
        }) if *paid == payees && *charged == fee => Ok(hold.settlement.clone().expect("settled")),
        Some(_) => Err(ReleaseError::AlreadySettled { hold }),
        None => {
            let held = hold.amount;
            mutate_state(|s| s.release(hold, payees, fee, rt.time()))
                .map_err(|_| ReleaseError::ExceedsHold { held })
        }
    }
}

/// `refund`: gives the whole hold back to the payer (router only).
pub fn refund<R: Runtime>(rt: &R, job: String) -> Result<Settlement, RefundError> {
    if !is_router(rt) {
        return Err(RefundError::NotRouter);
    }
    if read_only() {
        return Err(RefundError::ReadOnly);
    }
    let hold = read_state(|s| s.hold_of(&job)).ok_or(RefundError::UnknownJob)?;
    match &hold.settlement {
        Some(settled @ Settlement::Refunded { .. }) => Ok(settled.clone()),
        Some(Settlement::Released { .. }) => Err(RefundError::AlreadySettled { hold }),
        None => Ok(mutate_state(|s| s.refund(hold, rt.time()))),
    }
}

fn bond_caller<R: Runtime>(rt: &R) -> Result<Principal, BondError> {
    let p = rt.caller();
    if p == Principal::anonymous() {
        return Err(BondError::AnonymousCaller);
    }
    if read_only() {
        return Err(BondError::ReadOnly);
    }
    Ok(p)
}

/// `bond`: available → bonded.
pub fn bond<R: Runtime>(rt: &R, amount: Sats) -> Result<Balance, BondError> {
    let miner = bond_caller(rt)?;
    let min = read_state(|s| s.config().min_bond).max(1);
    if amount < min {
        return Err(BondError::AmountTooSmall { min });
    }
    mutate_state(|s| s.bond(miner, amount, rt.time()))
        .map_err(|available| BondError::InsufficientFunds { available })
}

/// `unbond`: bonded → unbonding; claimable after `unbond_delay_secs`, and
/// slashable until then (a miner cannot dodge a slash for a job it just
/// cheated on by unbonding first).
pub fn unbond<R: Runtime>(rt: &R, amount: Sats) -> Result<Balance, BondError> {
    let miner = bond_caller(rt)?;
    if amount == 0 {
        return Err(BondError::AmountTooSmall { min: 1 });
    }
    let delay_ns = read_state(|s| s.config().unbond_delay_secs).saturating_mul(1_000_000_000);
    let now = rt.time();
    mutate_state(|s| s.unbond(miner, amount, now.saturating_add(delay_ns), now))
        .map_err(|bonded| BondError::InsufficientBond { bonded })
}

/// `claim_unbonded`: unbonding → available once the delay has passed.
pub fn claim_unbonded<R: Runtime>(rt: &R) -> Result<Balance, BondError> {
    let miner = bond_caller(rt)?;
    mutate_state(|s| s.claim_unbonded(miner, rt.time()))
}

/// `slash`: takes up to `amount` of `miner`'s bond for `job` and credits it
/// to `beneficiary` (router only; once per miner and job).
pub fn slash<R: Runtime>(
    rt: &R,
    miner: Principal,
    amount: Sats,
    beneficiary: Principal,
    job: String,
) -> Result<Slash, SlashError> {
    if !is_router(rt) {
        return Err(SlashError::NotRouter);
    }
    if read_only() {
        return Err(SlashError::ReadOnly);
    }
    valid_job_id(&job).map_err(|reason| SlashError::InvalidJobId { reason })?;
    if beneficiary == Principal::anonymous() || miner == Principal::anonymous() {
        return Err(SlashError::AnonymousCaller);
    }
    if amount == 0 {
        return Err(SlashError::AmountTooSmall { min: 1 });
    }
    mutate_state(|s| match s.slash_of(&miner, &job) {
        Some(slash) if slash.requested == amount && slash.beneficiary == beneficiary => Ok(slash),
        Some(slash) => Err(SlashError::AlreadySlashed { slash }),
        None => Ok(s.slash(miner, amount, beneficiary, &job, rt.time())),
    })
}
