//! Assertions on rejects, in the IC's terms: reject code plus the replica's error code.

use ic_error_types::{ErrorCode, RejectCode};
use localnet::RejectResponse;

/// Asserts `reject` has the given reject and error codes, and that the two agree as they do
/// on the IC (every error code belongs to exactly one reject code class).
pub fn assert_reject(reject: &RejectResponse, reject_code: RejectCode, error_code: ErrorCode) {
    assert_eq!(
        (reject.reject_code, reject.error_code),
        (reject_code, error_code),
        "unexpected reject: {reject}"
    );
    assert_eq!(
        RejectCode::from(reject.error_code),
        reject.reject_code,
        "the reject code must be the class of the error code: {reject}"
    );
}

/// Unwraps the reject of a call that must fail.
pub fn expect_reject<T: std::fmt::Debug>(result: Result<T, RejectResponse>) -> RejectResponse {
    match result {
        Ok(value) => panic!("expected a reject, got a reply: {value:?}"),
        Err(reject) => reject,
    }
}
