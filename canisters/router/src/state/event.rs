//! The event log: every state change of a job that moves or commits money,
//! every verdict, and configuration changes, as typed [`EventKind`]s with
//! the amounts as fields (`get_events`, `/logs`).
//!
//! Upgrade safety: entries written by older code as `{kind, detail}`
//! strings still decode, as [`EventKind::Legacy`].

use super::{Cbor, State};
use candid::{CandidType, Principal};
use serde::{Deserialize, Serialize};
use tensormine_core::router::{AssignmentRole, AssignmentState, Config};

/// An entry of the event log.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(from = "Stored")]
pub struct Event {
    pub at_ns: u64,
    pub job: Option<String>,
    pub kind: EventKind,
}

/// What happened. Amounts are in sats.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Installed with this configuration.
    Init {
        config: Config,
    },
    /// Upgraded; the configuration after the upgrade argument.
    Upgrade {
        config: Config,
    },
    /// A controller changed the configuration.
    ConfigChanged {
        by: Principal,
        config: Config,
    },
    /// A job was accepted for holding.
    Submitted {
        by: Principal,
        max_price_sats: u64,
    },
    /// The escrow holds the job's maximum price.
    Held {
        amount_sats: u64,
    },
    /// The escrow refused the hold; the job is rejected.
    HoldRefused {
        reason: String,
    },
    /// A miner took a role at its asking price per unit.
    Assigned {
        miner: Principal,
        role: AssignmentRole,
        price_per_unit_sats: u64,
    },
    /// A miner's assignment moved to `state` (dispatched, committed, failed…).
    AssignmentChanged {
        miner: Principal,
        state: AssignmentState,
    },
    /// The audit draw of an audit-tier job (always audited for a new miner).
    AuditDrawn {
        audited: bool,
        new_miner: bool,
    },
    /// A miner's result failed verification (it is slashed when settling).
    Rejected {
        miner: Principal,
        reason: String,
    },
    /// A picked miner was passed over: its free bond (bonded in the escrow,
    /// less what its open jobs have at stake) does not cover this job's slash.
    BondTooLow {
        miner: Principal,
        free_sats: u64,
        needed_sats: u64,
    },
    /// A proven wrong result suspended the miner from matching, until the
    /// registry verifies its capability afresh.
    Suspended {
        miner: Principal,
    },
    /// A suspended miner passed a fresh capability challenge.
    Unsuspended {
        miner: Principal,
    },
    /// Verification could not proceed now; retried later.
    VerifyRetry {
        reason: String,
    },
    /// Replicas disagreed without a majority: a tie-breaker is matched.
    TieBreak {
        replicas: u32,
    },
    /// The job's result is this miner's. `checked`: the tier's check ran
    /// (false for tier `none` and for audit-tier jobs not drawn for audit,
    /// which are accepted on the worker's signature alone).
    Verified {
        miner: Principal,
        #[serde(default)]
        checked: bool,
    },
    /// The job is to be refunded.
    Refunding {
        reason: String,
    },
    /// A rejected miner's bond was slashed: `taken_sats` of `requested_sats`.
    Slashed {
        miner: Principal,
        requested_sats: u64,
        taken_sats: u64,
    },
    /// The escrow refused the slash (it is not retried).
    SlashRefused {
        miner: Principal,
        requested_sats: u64,
        reason: String,
    },
    /// The slash's outcome is unknown; retried later.
    SlashRetry {
        reason: String,
    },
    /// The release or refund failed or its outcome is unknown; retried later.
    SettleRetry {
        reason: String,
    },
    /// A verdict could not be reported to the registry (dropped).
    ReportFailed {
        miner: Principal,
        reason: String,
    },
    /// The escrow released the hold: miners paid, the fee, the rest refunded.
    Released {
        paid_sats: u64,
        fee_sats: u64,
        refunded_sats: u64,
    },
    /// The escrow refunded the whole hold.
    Refunded {
        refunded_sats: u64,
    },
    /// A registry sync failed (retried by the timer).
    SyncFailed {
        reason: String,
    },
    /// Receipt batch `index` was signed, covering `tree_size` receipts.
    BatchSigned {
        index: u64,
        tree_size: u64,
    },
    BatchSignFailed {
        reason: String,
    },
    PublicKeyFailed {
        reason: String,
    },
    /// An entry written by older code, as it was stored.
    Legacy {
        kind: String,
        detail: String,
    },
}

/// How an entry is stored: typed, or the old `{kind, detail}` strings. The
/// legacy shape is tried first: it needs both string fields, which a typed
/// entry never has.
// Only a decoding step (converted to `Event` at once), so the size
// difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Legacy {
        at_ns: u64,
        job: Option<String>,
        kind: String,
        detail: String,
    },
    Typed {
        at_ns: u64,
        job: Option<String>,
        kind: EventKind,
    },
}

impl From<Stored> for Event {
    fn from(s: Stored) -> Self {
        match s {
            Stored::Legacy {
                at_ns,
                job,
                kind,
                detail,
            } => Event {
                at_ns,
                job,
                kind: EventKind::Legacy { kind, detail },
            },
            Stored::Typed { at_ns, job, kind } => Event { at_ns, job, kind },
        }
    }
}

impl State {
    pub fn record(&mut self, at_ns: u64, job: Option<&str>, kind: EventKind) {
        // Only fails when stable memory is exhausted; trapping rolls the
        // change back, which is the safe answer.
        self.events
            .append(&Cbor(Event {
                at_ns,
                job: job.map(str::to_string),
                kind,
            }))
            .expect("event log append");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_stable_structures::Storable;

    /// The shape older code stored.
    #[derive(Serialize)]
    struct OldEvent {
        at_ns: u64,
        job: Option<String>,
        kind: String,
        detail: String,
    }

    #[test]
    fn events_stored_as_kind_and_detail_still_decode() {
        let old = OldEvent {
            at_ns: 7,
            job: Some("job-1".into()),
            kind: "held".into(),
            detail: "10000 sats".into(),
        };
        let mut bytes = vec![];
        ciborium::into_writer(&old, &mut bytes).unwrap();
        let e = Cbor::<Event>::from_bytes(bytes.into()).0;
        assert_eq!(
            e,
            Event {
                at_ns: 7,
                job: Some("job-1".into()),
                kind: EventKind::Legacy {
                    kind: "held".into(),
                    detail: "10000 sats".into()
                },
            }
        );
    }

    #[test]
    fn typed_events_round_trip() {
        for kind in [
            EventKind::Held { amount_sats: 10 },
            EventKind::Refunded { refunded_sats: 3 },
            EventKind::Legacy {
                kind: "k".into(),
                detail: "d".into(),
            },
            EventKind::AssignmentChanged {
                miner: Principal::anonymous(),
                state: AssignmentState::TimedOut,
            },
        ] {
            let e = Event {
                at_ns: 1,
                job: None,
                kind,
            };
            let back = Cbor::<Event>::from_bytes(Cbor(e.clone()).to_bytes()).0;
            assert_eq!(back, e);
        }
    }
}
