//! Native tests: the Candid interface; the endpoints on a fake ledger;
//! property tests of random operation sequences.

#[test]
fn check_candid_interface() {
    use candid_parser::utils::{service_equal, CandidSource};
    let generated = super::__export_service();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../candid/escrow.did");
    if std::env::var_os("UPDATE_CANDID").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    service_equal(
        CandidSource::Text(&generated),
        CandidSource::File(std::path::Path::new(path)),
    )
    .unwrap_or_else(|e| {
        panic!("candid/escrow.did differs from the code (UPDATE_CANDID=1 rewrites it; then give the generated Result_N types their names again): {e:?}")
    });
}

mod btc;
mod fake;
mod fake_btc;
mod money;
mod properties;
