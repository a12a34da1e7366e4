//! The event log's entries and how they are appended.

use super::{Cbor, State};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// An entry of the event log: every state change of a job that moves or
/// commits money, and configuration changes.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_ns: u64,
    pub job: Option<String>,
    pub kind: String,
    pub detail: String,
}

impl State {
    pub fn record(&mut self, at_ns: u64, job: Option<&str>, kind: &str, detail: String) {
        // Only fails when stable memory is exhausted; trapping rolls the
        // change back, which is the safe answer.
        self.events
            .append(&Cbor(Event {
                at_ns,
                job: job.map(str::to_string),
                kind: kind.to_string(),
                detail,
            }))
            .expect("event log append");
    }
}
