//! Nothing here: the crate exists for `benches/router_scale.rs`.
