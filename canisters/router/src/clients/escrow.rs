//! The escrow as the router uses it: hold, release, refund and slash, typed
//! with the escrow's own interface types (`tensormine_core::escrow`, checked
//! against `candid/escrow.did` by the escrow). Each answers
//! `Err(CallError)` when the outcome is unknown, `Ok(Err(_))` when the
//! escrow refused.

use super::CallError;
use candid::Principal;
use tensormine_core::escrow::{
    Balance, Hold, HoldError, RefundError, ReleaseError, Sats, Settlement, Slash, SlashError,
};

#[allow(async_fn_in_trait)]
pub trait EscrowApi {
    /// Locks `amount` of `payer`'s balance for `job` (idempotent by job id).
    async fn hold(
        &self,
        escrow: Principal,
        job: &str,
        payer: Principal,
        amount: Sats,
    ) -> Result<Result<Hold, HoldError>, CallError>;
    /// Pays `payees` and `fee`; the escrow refunds the rest to the payer.
    async fn release(
        &self,
        escrow: Principal,
        job: &str,
        payees: &[(Principal, Sats)],
        fee: Sats,
    ) -> Result<Result<Settlement, ReleaseError>, CallError>;
    /// Returns the whole hold to the payer.
    async fn refund(
        &self,
        escrow: Principal,
        job: &str,
    ) -> Result<Result<Settlement, RefundError>, CallError>;
    /// `owner`'s balances (`get_balance`): the bond matching requires.
    async fn balance(&self, escrow: Principal, owner: Principal) -> Result<Balance, CallError>;
    /// Takes up to `amount` of `miner`'s bond for `job` in favour of `beneficiary`.
    async fn slash(
        &self,
        escrow: Principal,
        miner: Principal,
        amount: Sats,
        beneficiary: Principal,
        job: &str,
    ) -> Result<Result<Slash, SlashError>, CallError>;
}

/// A hold that is already settled answers with its settlement: a retry
/// after a lost answer is as good as the first answer.
pub fn release_settlement(r: Result<Settlement, ReleaseError>) -> Result<Settlement, String> {
    match r {
        Ok(s) => Ok(s),
        Err(ReleaseError::AlreadySettled { hold }) => settled(hold),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// As [`release_settlement`], for a refund.
pub fn refund_settlement(r: Result<Settlement, RefundError>) -> Result<Settlement, String> {
    match r {
        Ok(s) => Ok(s),
        Err(RefundError::AlreadySettled { hold }) => settled(hold),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn settled(hold: Hold) -> Result<Settlement, String> {
    hold.settlement
        .ok_or_else(|| "escrow reports settled without a settlement".to_string())
}

/// What a slash took; a repeat (`AlreadySlashed`) answers the first slash.
pub fn slashed_sats(r: Result<Slash, SlashError>) -> Result<Sats, String> {
    match r {
        Ok(s) | Err(SlashError::AlreadySlashed { slash: s }) => {
            Ok(s.from_bonded + s.from_unbonding)
        }
        Err(e) => Err(format!("{e:?}")),
    }
}
