//! Conformance canister: each endpoint exercises one part of the IC interface specification,
//! so that localnet's integration tests can assert the behaviour the IC gives.
//!
//! The interface is in `conformance.did` (checked by the `candid_interface_is_up_to_date` test).

mod calls;
mod chain_key;
mod execution;
mod http;
mod lifecycle;
mod state;
mod types;

// Every type named in an endpoint signature must be in scope here for export_candid!.
#[allow(unused_imports)]
use {
    candid::Principal,
    ic_cdk_management_canister::{HttpRequestResult, SchnorrAlgorithm, TransformArgs},
    serde_bytes::ByteBuf,
    types::*,
};

ic_cdk::export_candid!();

#[cfg(test)]
mod tests {
    #[test]
    fn candid_interface_is_up_to_date() {
        let generated = super::__export_service();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance.did");
        if std::env::var_os("UPDATE_CANDID").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            checked_in, generated,
            "run with UPDATE_CANDID=1 to refresh conformance.did"
        );
    }
}
