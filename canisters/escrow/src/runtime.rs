//! Every effect the escrow's logic needs — caller, clock, controllers, the
//! ledger — behind one trait, so the logic runs natively in unit tests with a
//! fake ledger and on the IC with [`IcRuntime`].

use candid::{CandidType, Nat, Principal};
use ic_cdk::call::{Call, CallFailed, RejectCode};
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use serde::de::DeserializeOwned;

/// Why a ledger call gave no ledger answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The ledger certainly did not execute it (not delivered, rejected,
    /// trapped: a trap rolls the ledger's state back).
    Rejected(String),
    /// It may have executed: `SYS_UNKNOWN` (bounded wait timed out), or a
    /// reply that could not be decoded.
    Unknown(String),
}

pub type LedgerReply<E> = Result<Result<Nat, E>, CallError>;

#[allow(async_fn_in_trait)]
pub trait Runtime {
    fn caller(&self) -> Principal;
    /// Nanoseconds since the epoch.
    fn time(&self) -> u64;
    /// The escrow canister's own id (the ledger account that holds the funds).
    fn escrow_id(&self) -> Principal;
    fn is_controller(&self, p: &Principal) -> bool;
    async fn icrc2_transfer_from(
        &self,
        ledger: Principal,
        args: TransferFromArgs,
    ) -> LedgerReply<TransferFromError>;
    async fn icrc1_transfer(
        &self,
        ledger: Principal,
        args: TransferArg,
    ) -> LedgerReply<TransferError>;
}

/// The Internet Computer.
#[derive(Debug, Clone, Copy, Default)]
pub struct IcRuntime;

impl Runtime for IcRuntime {
    fn caller(&self) -> Principal {
        ic_cdk::api::msg_caller()
    }

    fn time(&self) -> u64 {
        ic_cdk::api::time()
    }

    fn escrow_id(&self) -> Principal {
        ic_cdk::api::canister_self()
    }

    fn is_controller(&self, p: &Principal) -> bool {
        ic_cdk::api::is_controller(p)
    }

    async fn icrc2_transfer_from(
        &self,
        ledger: Principal,
        args: TransferFromArgs,
    ) -> LedgerReply<TransferFromError> {
        call(ledger, "icrc2_transfer_from", args).await
    }

    async fn icrc1_transfer(
        &self,
        ledger: Principal,
        args: TransferArg,
    ) -> LedgerReply<TransferError> {
        call(ledger, "icrc1_transfer", args).await
    }
}

/// A bounded-wait call (the escrow can always be stopped and upgraded; a
/// timeout is `SYS_UNKNOWN`, which the ledger-op records are there for).
async fn call<A: CandidType, R: CandidType + DeserializeOwned>(
    ledger: Principal,
    method: &str,
    args: A,
) -> Result<R, CallError> {
    let response = Call::bounded_wait(ledger, method)
        .with_arg(args)
        .await
        .map_err(classify)?;
    response
        .candid::<R>()
        .map_err(|e| CallError::Unknown(format!("{method} reply undecodable: {e}")))
}

fn classify(failed: CallFailed) -> CallError {
    match &failed {
        CallFailed::CallRejected(r) if r.reject_code() == Ok(RejectCode::SysUnknown) => {
            CallError::Unknown(failed.to_string())
        }
        _ => CallError::Rejected(failed.to_string()),
    }
}

/// A ledger block index as `u64` (ICRC ledgers count blocks in `nat`).
pub fn block_index(n: &Nat) -> Option<u64> {
    match n.0.to_u64_digits().as_slice() {
        [] => Some(0),
        [d] => Some(*d),
        _ => None,
    }
}

/// A ledger amount as `u64`, saturating (used for error reports only).
pub fn sats(n: &Nat) -> u64 {
    block_index(n).unwrap_or(u64::MAX)
}
