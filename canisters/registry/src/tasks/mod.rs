//! Timer-driven tasks.

pub mod probe;
