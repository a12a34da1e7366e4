//! The registry's Candid API types, declared once in `tensormine_core::registry`.

pub use tensormine_core::registry::*;
