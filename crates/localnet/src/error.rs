//! Rejects as the IC reports them: a reject code (the spec's five classes plus
//! SYS_UNKNOWN), a human message and the replica's finer `ErrorCode`.

pub use ic_error_types::{ErrorCode, RejectCode};
use std::fmt;

/// A call that did not produce a reply, as an IC replica reports it to an
/// ingress sender (and, without the error code, to a calling canister).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectResponse {
    pub reject_code: RejectCode,
    pub reject_message: String,
    pub error_code: ErrorCode,
}

impl RejectResponse {
    /// A reject whose code is the one the replica pairs with `error_code`.
    pub fn new(error_code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            reject_code: RejectCode::from(error_code),
            reject_message: message.into(),
            error_code,
        }
    }

    /// A reject whose code is not implied by its error code: the outcome of an
    /// HTTPS outcall or a threshold-key request, as a calling canister sees it.
    pub fn custom(
        reject_code: RejectCode,
        error_code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            reject_code,
            reject_message: message.into(),
            error_code,
        }
    }

    /// A reject that a canister produced itself with `ic0.msg_reject`.
    pub fn canister_reject(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::CanisterRejectedMessage, message)
    }

    pub fn canister_not_found(canister: &candid::Principal) -> Self {
        Self::new(
            ErrorCode::CanisterNotFound,
            format!("Canister {canister} not found"),
        )
    }

    pub fn not_controller(canister: &candid::Principal, caller: &candid::Principal) -> Self {
        Self::new(
            ErrorCode::CanisterInvalidController,
            format!(
                "Only the controllers of the canister {canister} can control it.\n\
                 Canister's controllers: see canister_status\nSender's ID: {caller}"
            ),
        )
    }

    pub fn invalid_payload(method: &str, err: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidManagementPayload,
            format!("Error decoding candid for management method {method}: {err}"),
        )
    }
}

impl fmt::Display for RejectResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reject {:?} (IC{:04}): {}",
            self.reject_code, self.error_code as u64, self.reject_message
        )
    }
}

impl std::error::Error for RejectResponse {}

/// The result of a typed (candid) call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Reject(RejectResponse),
    #[error("the reply is not the expected candid: {0}")]
    Decode(String),
    #[error("the arguments could not be encoded as candid: {0}")]
    Encode(String),
}

impl From<RejectResponse> for CallError {
    fn from(r: RejectResponse) -> Self {
        CallError::Reject(r)
    }
}
