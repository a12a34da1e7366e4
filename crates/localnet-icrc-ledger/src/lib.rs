//! # ICRC ledger for local ckBTC
//!
//! An ICRC-1/ICRC-2/ICRC-3 ledger canister that behaves like DFINITY's ICRC
//! ledger (the ckBTC ledger) where the standards fix the behaviour, for
//! localnet, where DFINITY's Wasm cannot be fetched. Endpoints only; the
//! logic is in the modules: [`transfer`] and [`approve`] (arguments to
//! transactions), [`ledger`] (deduplication, balances, allowances),
//! [`blocks`] (the ICRC-3 block log and certification), [`lifecycle`],
//! [`metadata`], [`state`] and [`memory`]. Interface: `ledger.did`.

pub mod approve;
pub mod blocks;
pub mod ledger;
pub mod lifecycle;
pub mod memory;
pub mod metadata;
pub mod state;
pub mod transaction;
pub mod transfer;
pub mod types;

#[cfg(test)]
mod tests;

use candid::{Nat, Principal};
use ic_cdk::{init, post_upgrade, query, update};
use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::allowance::{Allowance, AllowanceArgs};
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use icrc_ledger_types::icrc3::archive::{GetArchivesArgs, ICRC3ArchiveInfo};
use icrc_ledger_types::icrc3::blocks::{
    GetBlocksRequest, GetBlocksResponse, GetBlocksResult, ICRC3DataCertificate, SupportedBlockType,
};
use serde_bytes::ByteBuf;
use state::{mutate_state, read_state};
use transaction::TxError;
use types::{LedgerArg, StandardRecord};

fn caller() -> Principal {
    ic_cdk::api::msg_caller()
}

fn now() -> u64 {
    ic_cdk::api::time()
}

/// After every new block: certify the tip (ICRC-3).
fn certify_tip() {
    ic_cdk::api::certified_data_set(read_state(blocks::certified_data));
}

/// A block index, or the standard's error; `Refused` traps, as in DFINITY's ledger.
fn finish<E>(
    result: Result<u64, TxError>,
    convert: impl FnOnce(TxError) -> Result<E, String>,
) -> Result<Nat, E> {
    match result {
        Ok(index) => {
            certify_tip();
            Ok(Nat::from(index))
        }
        Err(error) => match convert(error) {
            Ok(error) => Err(error),
            Err(message) => ic_cdk::trap(message),
        },
    }
}

#[init]
fn init(arg: LedgerArg) {
    if let Err(message) = mutate_state(|s| lifecycle::init(s, arg, now())) {
        ic_cdk::trap(message);
    }
    certify_tip();
}

#[post_upgrade]
fn post_upgrade(arg: Option<LedgerArg>) {
    if let Err(message) = mutate_state(|s| lifecycle::upgrade(s, arg)) {
        ic_cdk::trap(message);
    }
    certify_tip();
}

#[update]
fn icrc1_transfer(arg: TransferArg) -> Result<Nat, TransferError> {
    let result = mutate_state(|s| transfer::icrc1_transfer(s, caller(), arg, now()));
    finish(result, TxError::into_transfer_error)
}

#[update]
fn icrc2_transfer_from(arg: TransferFromArgs) -> Result<Nat, TransferFromError> {
    let result = mutate_state(|s| transfer::icrc2_transfer_from(s, caller(), arg, now()));
    finish(result, TxError::into_transfer_from_error)
}

#[update]
fn icrc2_approve(arg: ApproveArgs) -> Result<Nat, ApproveError> {
    let result = mutate_state(|s| approve::icrc2_approve(s, caller(), arg, now()));
    finish(result, TxError::into_approve_error)
}

#[query]
fn icrc2_allowance(arg: AllowanceArgs) -> Allowance {
    read_state(|s| approve::icrc2_allowance(s, &arg, now()))
}

#[query]
fn icrc1_balance_of(account: Account) -> Nat {
    Nat::from(read_state(|s| s.balance(&account)))
}

#[query]
fn icrc1_total_supply() -> Nat {
    Nat::from(read_state(|s| s.tip.get().total_supply))
}

#[query]
fn icrc1_minting_account() -> Option<Account> {
    Some(read_state(|s| s.config().minting_account))
}

#[query]
fn icrc1_name() -> String {
    read_state(|s| s.config().token_name.clone())
}

#[query]
fn icrc1_symbol() -> String {
    read_state(|s| s.config().token_symbol.clone())
}

#[query]
fn icrc1_decimals() -> u8 {
    read_state(|s| s.config().decimals)
}

#[query]
fn icrc1_fee() -> Nat {
    Nat::from(read_state(|s| s.config().transfer_fee))
}

#[query]
fn icrc1_metadata() -> Vec<(String, MetadataValue)> {
    read_state(|s| metadata::metadata(s.config()))
}

#[query]
fn icrc1_supported_standards() -> Vec<StandardRecord> {
    metadata::supported_standards()
}

#[query]
fn icrc10_supported_standards() -> Vec<StandardRecord> {
    metadata::supported_standards()
}

#[query]
fn icrc3_get_blocks(args: Vec<GetBlocksRequest>) -> GetBlocksResult {
    read_state(|s| blocks::icrc3_get_blocks(s, &args))
}

/// Nothing is archived: this ledger keeps every block.
#[query]
fn icrc3_get_archives(_args: GetArchivesArgs) -> Vec<ICRC3ArchiveInfo> {
    vec![]
}

/// `None` when called as an update (no certificate exists then).
#[query]
fn icrc3_get_tip_certificate() -> Option<ICRC3DataCertificate> {
    let certificate = ByteBuf::from(ic_cdk::api::data_certificate()?);
    let hash_tree = ByteBuf::from(read_state(blocks::tip_hash_tree_cbor));
    Some(ICRC3DataCertificate {
        certificate,
        hash_tree,
    })
}

#[query]
fn icrc3_supported_block_types() -> Vec<SupportedBlockType> {
    metadata::supported_block_types()
        .into_iter()
        .map(|(block_type, url)| SupportedBlockType {
            block_type: block_type.to_string(),
            url: url.to_string(),
        })
        .collect()
}

/// DFINITY's pre-ICRC-3 block endpoint, still used by index canisters and
/// tools; the same blocks as the deprecated `Value`.
#[query]
fn get_blocks(request: GetBlocksRequest) -> GetBlocksResponse {
    read_state(|s| {
        let (first_index, blocks) = blocks::legacy_blocks(s, &request);
        GetBlocksResponse {
            first_index: Nat::from(first_index),
            chain_length: blocks::chain_length(s),
            certificate: ic_cdk::api::data_certificate().map(ByteBuf::from),
            blocks,
            archived_blocks: vec![],
        }
    })
}

ic_cdk::export_candid!();
