//! Typed Candid errors as one line: the endpoint, the error by name with its
//! fields (their Debug form, which is the Candid variant and record), and what
//! to do about it.

use std::fmt::Debug;

/// `"<what> refused: <Variant { fields }>[; <hint>]"`.
pub fn refused<E: Debug>(what: &str, error: &E, hint: Option<String>) -> anyhow::Error {
    match hint {
        Some(h) => anyhow::anyhow!("{what} refused: {error:?}; {h}"),
        None => anyhow::anyhow!("{what} refused: {error:?}"),
    }
}

/// Nanoseconds as whole seconds, rounded up.
pub fn secs(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

pub const USE_IDENTITY: &str =
    "the anonymous principal cannot do this: pass --identity NAME or --pem FILE (or drop both to use .tensormine/identity.pem)";
pub const READ_ONLY: &str = "the canister is in read-only mode (maintenance): try again later";

/// An error and its causes on one line (`a: b: c`).
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
