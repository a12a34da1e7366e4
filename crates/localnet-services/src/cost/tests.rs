use super::*;

fn thirteen() -> SubnetCosts {
    SubnetCosts::default()
}

#[test]
fn https_outcall_matches_documented_13_node_price() {
    // Forum/docs: 49.14M + 5_200 per request byte + 10_400 per max response byte.
    assert_eq!(thirteen().http_request(0, 0), 49_140_000);
    assert_eq!(
        thirteen().http_request(100, 1_000),
        49_140_000 + 5_200 * 100 + 10_400 * 1_000
    );
    // 34 nodes: (3M + 60k*34)*34.
    assert_eq!(SubnetCosts::new(34).http_request(0, 0), 171_360_000);
}

#[test]
fn https_outcall_v2_fully_replicated_formula() {
    let params = CostHttpRequestV2Params {
        request_bytes: 100,
        http_roundtrip_time_ms: 2_000,
        raw_response_bytes: 1_000,
        transformed_response_bytes: 500,
        transform_instructions: 26,
        outcall_type: None,
    };
    let bytes = candid::encode_one(&params).unwrap();
    // 13 * (1_000_000 + 5_000 + 1_820_000 + 135_200 + 50_000 + 600_000 + 2 + 780 * 500)
    assert_eq!(thirteen().http_request_v2(&bytes), Some(52_002_626));
    let explicit = CostHttpRequestV2Params {
        outcall_type: Some(HttpOutcallType::FullyReplicated(Reserved)),
        ..params
    };
    let bytes = candid::encode_one(&explicit).unwrap();
    assert_eq!(thirteen().http_request_v2(&bytes), Some(52_002_626));
}

#[test]
fn https_outcall_v2_non_replicated_is_cheaper() {
    let params = CostHttpRequestV2Params {
        request_bytes: 0,
        http_roundtrip_time_ms: 0,
        raw_response_bytes: 0,
        transformed_response_bytes: 0,
        transform_instructions: 0,
        outcall_type: Some(HttpOutcallType::NonReplicated(Reserved)),
    };
    let bytes = candid::encode_one(&params).unwrap();
    // 13 * (1_000_000 + 90_000*13 + 2_000*13 + 100_000)
    assert_eq!(thirteen().http_request_v2(&bytes), Some(29_848_000));
}

#[test]
fn https_outcall_v2_rejects_garbage() {
    assert_eq!(thirteen().http_request_v2(b"not candid"), None);
}

#[test]
fn threshold_fees_per_key() {
    let c = thirteen();
    assert_eq!(c.sign_with_ecdsa("key_1", 0), Ok(26_153_846_153));
    assert_eq!(c.sign_with_ecdsa("test_key_1", 0), Ok(10_000_000_000));
    assert_eq!(c.sign_with_ecdsa("dfx_test_key", 0), Ok(10_000_000_000));
    assert_eq!(c.sign_with_schnorr("key_1", 1), Ok(26_153_846_153));
    assert_eq!(c.vetkd_derive_key("test_key_1", 0), Ok(10_000_000_000));
}

#[test]
fn threshold_fee_errors() {
    let c = thirteen();
    assert_eq!(
        c.sign_with_ecdsa("key_1", 1),
        Err(INVALID_CURVE_OR_ALGORITHM)
    );
    assert_eq!(
        c.sign_with_schnorr("key_1", 2),
        Err(INVALID_CURVE_OR_ALGORITHM)
    );
    assert_eq!(
        c.vetkd_derive_key("key_1", 1),
        Err(INVALID_CURVE_OR_ALGORITHM)
    );
    assert_eq!(c.sign_with_ecdsa("key_2", 0), Err(INVALID_KEY_NAME));
    assert_eq!(c.sign_with_schnorr("", 0), Err(INVALID_KEY_NAME));
}

#[test]
fn message_and_execution_fees() {
    let c = thirteen();
    assert_eq!(c.ingress_induction(0), 1_200_000);
    assert_eq!(c.ingress_induction(1_000), 1_200_000 + 2_000_000);
    assert_eq!(c.update_execution(0), 5_000_000);
    assert_eq!(c.update_execution(1_000_000_000), 5_000_000 + 1_000_000_000);
    assert_eq!(c.call(5, 95), 260_000 + 100_000);
    assert_eq!(c.create_canister(), 500_000_000_000);
}

#[test]
fn fees_scale_with_subnet_size() {
    let c = SubnetCosts::new(34);
    assert_eq!(c.create_canister(), 500_000_000_000 * 34 / 13);
    assert_eq!(c.call(0, 0), 260_000 * 34 / 13);
    // Threshold fees follow the key's subnet, not the caller's.
    assert_eq!(c.sign_with_ecdsa("test_key_1", 0), Ok(10_000_000_000));
}
