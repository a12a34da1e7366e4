//! The demo's phases, in the order [`super::run`] calls them.

pub(super) mod developer;
pub(super) mod finish;
pub(super) mod jobs;
pub(super) mod miners;
pub(super) mod payout;
pub(super) mod setup;
