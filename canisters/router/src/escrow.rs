//! Calls to the escrow and the registry. The types mirror `candid/escrow.did`
//! and `candid/registry.did` (the contract; the router does not link the
//! other canisters' crates). Each call answers `Err` when its outcome is
//! unknown (the call failed), `Ok(Err(reason))` when the callee refused.

use crate::runtime::Runtime;
use candid::{CandidType, Decode, Deserialize, Encode, Principal, Reserved};
use tensormine_core::registry::{ChangesPage, JobOutcome};

#[derive(CandidType, Deserialize, Debug)]
enum HoldError {
    AlreadySettled { hold: Reserved },
    ReadOnly,
    JobExists { hold: Reserved },
    InvalidJobId { reason: String },
    NotRouter,
    AnonymousCaller,
    InsufficientFunds { available: u64 },
    AmountTooSmall { min: u64 },
}

#[derive(CandidType, Deserialize, Debug)]
enum ReleaseError {
    AlreadySettled { hold: Hold },
    ReadOnly,
    TooManyPayees { max: u32 },
    UnknownJob,
    ExceedsHold { held: u64 },
    NotRouter,
    AnonymousCaller,
}

#[derive(CandidType, Deserialize, Debug)]
enum RefundError {
    AlreadySettled { hold: Hold },
    ReadOnly,
    UnknownJob,
    NotRouter,
}

#[derive(CandidType, Deserialize, Debug)]
enum SlashError {
    AlreadySlashed { slash: Slash },
    ReadOnly,
    InvalidJobId { reason: String },
    NotRouter,
    AnonymousCaller,
    AmountTooSmall { min: u64 },
}

#[derive(CandidType, Deserialize, Debug, Clone)]
pub struct Hold {
    pub amount: u64,
    pub settlement: Option<Settlement>,
}

/// How a hold ended.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Refunded {
        amount: u64,
    },
    Released {
        fee: u64,
        refunded: u64,
        payees: Vec<(Principal, u64)>,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone)]
pub struct Slash {
    pub from_bonded: u64,
    pub from_unbonding: u64,
}

fn decode<T: CandidType + for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, String> {
    Decode!(bytes, T).map_err(|e| format!("undecodable {what} answer: {e}"))
}

pub async fn hold<R: Runtime>(
    rt: &R,
    escrow: Principal,
    job: &str,
    payer: Principal,
    amount: u64,
) -> Result<Result<(), String>, String> {
    let arg = Encode!(&job, &payer, &amount).expect("encode");
    let bytes = rt.call(escrow, "hold", arg).await?;
    Ok(match decode::<Result<Reserved, HoldError>>(&bytes, "hold")? {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e:?}")),
    })
}

/// Pays `payees` and `fee`; the escrow refunds the rest. `Ok(Ok(settlement))`
/// also when the job was already released (a retry after a lost answer).
pub async fn release<R: Runtime>(
    rt: &R,
    escrow: Principal,
    job: &str,
    payees: &[(Principal, u64)],
    fee: u64,
) -> Result<Result<Settlement, String>, String> {
    let arg = Encode!(&job, &payees, &fee).expect("encode");
    let bytes = rt.call(escrow, "release", arg).await?;
    Ok(match decode::<Result<Settlement, ReleaseError>>(&bytes, "release")? {
        Ok(s) => Ok(s),
        Err(ReleaseError::AlreadySettled { hold }) => hold
            .settlement
            .ok_or_else(|| "escrow reports settled without a settlement".to_string()),
        Err(e) => Err(format!("{e:?}")),
    })
}

pub async fn refund<R: Runtime>(
    rt: &R,
    escrow: Principal,
    job: &str,
) -> Result<Result<Settlement, String>, String> {
    let bytes = rt.call(escrow, "refund", Encode!(&job).expect("encode")).await?;
    Ok(match decode::<Result<Settlement, RefundError>>(&bytes, "refund")? {
        Ok(s) => Ok(s),
        Err(RefundError::AlreadySettled { hold }) => hold
            .settlement
            .ok_or_else(|| "escrow reports settled without a settlement".to_string()),
        Err(e) => Err(format!("{e:?}")),
    })
}

/// Slashes up to `amount` of `miner`'s bond for `job` in favour of
/// `beneficiary`; answers what was taken.
pub async fn slash<R: Runtime>(
    rt: &R,
    escrow: Principal,
    miner: Principal,
    amount: u64,
    beneficiary: Principal,
    job: &str,
) -> Result<Result<u64, String>, String> {
    let arg = Encode!(&miner, &amount, &beneficiary, &job).expect("encode");
    let bytes = rt.call(escrow, "slash", arg).await?;
    Ok(match decode::<Result<Slash, SlashError>>(&bytes, "slash")? {
        Ok(s) | Err(SlashError::AlreadySlashed { slash: s }) => Ok(s.from_bonded + s.from_unbonding),
        Err(e) => Err(format!("{e:?}")),
    })
}

#[derive(CandidType, Deserialize, Debug)]
enum ReportError {
    ReadOnly,
    InvalidJobId { reason: String },
    NotRouter,
    UnknownMiner,
}

pub async fn report<R: Runtime>(
    rt: &R,
    registry: Principal,
    outcome: JobOutcome,
) -> Result<Result<(), String>, String> {
    let bytes = rt
        .call(registry, "report_job_outcome", Encode!(&outcome).expect("encode"))
        .await?;
    Ok(match decode::<Result<Reserved, ReportError>>(&bytes, "report_job_outcome")? {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e:?}")),
    })
}

pub async fn changes_since<R: Runtime>(
    rt: &R,
    registry: Principal,
    seq: u64,
    limit: u32,
) -> Result<ChangesPage, String> {
    // A query method, called as an update from a canister (the IC allows it).
    let bytes = rt
        .call(registry, "changes_since", Encode!(&seq, &limit).expect("encode"))
        .await?;
    decode(&bytes, "changes_since")
}
