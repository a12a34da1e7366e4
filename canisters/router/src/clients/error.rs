//! Why a call to another canister has no answer the router can use.

use std::fmt;

/// A call whose outcome is unknown: the callee may or may not have run it.
/// The router retries (every escrow and registry method it calls is
/// idempotent by job id) or logs and moves on; it never treats this as a
/// refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The system or the callee rejected the call (reject code and message).
    Rejected { code: u32, message: String },
    /// The callee answered, but not with the type its `.did` promises.
    Undecodable { method: String, reason: String },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected { code, message } => {
                write!(f, "call rejected (code {code}): {message}")
            }
            CallError::Undecodable { method, reason } => {
                write!(f, "undecodable {method} answer: {reason}")
            }
        }
    }
}
