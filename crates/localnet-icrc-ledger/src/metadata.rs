//! Token metadata and the standards this ledger implements.

use crate::state::Config;
use crate::types::StandardRecord;
use candid::Nat;
use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;

/// The `icrc1:*` entries first, then the configured extra entries.
pub fn metadata(config: &Config) -> Vec<(String, MetadataValue)> {
    let mut entries = vec![
        (
            "icrc1:decimals".to_string(),
            MetadataValue::Nat(Nat::from(config.decimals)),
        ),
        (
            "icrc1:name".to_string(),
            MetadataValue::Text(config.token_name.clone()),
        ),
        (
            "icrc1:symbol".to_string(),
            MetadataValue::Text(config.token_symbol.clone()),
        ),
        (
            "icrc1:fee".to_string(),
            MetadataValue::Nat(Nat::from(config.transfer_fee)),
        ),
        (
            "icrc1:max_memo_length".to_string(),
            MetadataValue::Nat(Nat::from(config.max_memo_length)),
        ),
    ];
    entries.extend(config.metadata.iter().cloned());
    entries
}

pub fn supported_standards() -> Vec<StandardRecord> {
    let standard = |name: &str, number: u32| StandardRecord {
        name: name.to_string(),
        url: format!("https://github.com/dfinity/ICRC-1/tree/main/standards/ICRC-{number}"),
    };
    vec![
        standard("ICRC-1", 1),
        standard("ICRC-2", 2),
        standard("ICRC-3", 3),
        StandardRecord {
            name: "ICRC-10".to_string(),
            url: "https://github.com/dfinity/ICRC/blob/main/ICRCs/ICRC-10/ICRC-10.md".to_string(),
        },
    ]
}

/// ICRC-3 block types this ledger writes (`icrc3_supported_block_types`).
pub fn supported_block_types() -> Vec<(&'static str, &'static str)> {
    let icrc1 = "https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-1/README.md";
    let icrc2 = "https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-2/README.md";
    vec![
        ("1burn", icrc1),
        ("1mint", icrc1),
        ("1xfer", icrc1),
        ("2approve", icrc2),
        ("2xfer", icrc2),
    ]
}
