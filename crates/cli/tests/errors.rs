//! Typed Candid errors render as one line: the endpoint, the variant by name
//! with its fields (principals as text), and the hint.

use candid::Principal;
use tensormine_cli::errors::{one_line, refused};
use tensormine_cli::types::{ProfileError, RegisterError, UpdateError};
use tensormine_core::router::{SpecError, SubmitError};

#[test]
fn typed_errors_are_named_with_their_fields() {
    let e = refused(
        "router.submit_job",
        &SubmitError::PriceTooLow { min_sats: 1240 },
        Some("raise --max-price".into()),
    );
    assert_eq!(
        e.to_string(),
        "router.submit_job refused: PriceTooLow { min_sats: 1240 }; raise --max-price"
    );
    let e = refused(
        "router.quote",
        &SubmitError::InvalidSpec(SpecError::InvalidDeadline {
            min_secs: 30,
            max_secs: 604800,
        }),
        None,
    );
    assert_eq!(
        e.to_string(),
        "router.quote refused: InvalidSpec(InvalidDeadline { min_secs: 30, max_secs: 604800 })"
    );
    let by = Principal::from_text("rrkah-fqaaa-aaaaa-aaaaq-cai").unwrap();
    let e = refused(
        "registry.register_miner",
        &RegisterError::WorkerInUse { by },
        None,
    );
    assert_eq!(
        e.to_string(),
        "registry.register_miner refused: WorkerInUse { by: rrkah-fqaaa-aaaaa-aaaaq-cai }"
    );
    let e = refused(
        "registry.update_miner",
        &UpdateError::WorkerInUse { by },
        None,
    );
    assert!(e
        .to_string()
        .ends_with("WorkerInUse { by: rrkah-fqaaa-aaaaa-aaaaq-cai }"));
    let e = refused(
        "registry.register_miner",
        &RegisterError::InvalidProfile(ProfileError::InvalidEndpoint {
            reason: "not https".into(),
        }),
        None,
    );
    assert!(
        e.to_string()
            .ends_with("InvalidProfile(InvalidEndpoint { reason: \"not https\" })"),
        "{e}"
    );
}

#[test]
fn causes_join_on_one_line() {
    let e = anyhow::anyhow!("inner\nsecond line").context("outer");
    assert_eq!(one_line(&e), "outer: inner second line");
}
