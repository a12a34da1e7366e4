//! The escrow's Candid API types, declared once in `tensormine_core::escrow`.

pub use tensormine_core::escrow::*;
