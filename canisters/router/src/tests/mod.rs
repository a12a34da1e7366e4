//! Native tests: the Candid interface, and the router's logic through its
//! `Runtime` trait on a scripted runtime ([`fake`]): validation and pricing
//! ([`pricing`]), the engine end to end ([`engine_paths`]) and random
//! markets ([`props`]).

#[test]
fn check_candid_interface() {
    use candid_parser::utils::{service_equal, CandidSource};
    let generated = super::__export_service();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../candid/router.did");
    if std::env::var_os("UPDATE_CANDID").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    service_equal(
        CandidSource::Text(&generated),
        CandidSource::File(std::path::Path::new(path)),
    )
    .unwrap_or_else(|e| {
        panic!("candid/router.did differs from the code (UPDATE_CANDID=1 rewrites it): {e:?}")
    });
}

mod engine_paths;
mod fake;
mod pricing;
mod props;
