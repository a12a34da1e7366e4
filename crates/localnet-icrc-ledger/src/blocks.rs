//! The block log in ICRC-3's format, as DFINITY's ICRC ledger writes it:
//! a block is the map `{phash?, ts, fee?, tx}` where `tx` holds `op`
//! ("mint" | "burn" | "xfer" | "approve"), the accounts as `[owner,
//! subaccount?]` blobs, `amt`, and the caller's optional fields (`fee`,
//! `memo`, `ts` = created_at_time, `spender`, `expected_allowance`,
//! `expires_at`). The block-level `fee` is the fee the ledger charged when
//! the caller gave none. `phash` chains each block to the hash of the one
//! before (ICRC-3's representation-independent hash); the certified data
//! commits to the last block's hash and index.

use crate::state::{Hash, State};
use crate::transaction::{Operation, Transaction};
use candid::{Decode, Encode, Nat};
use ic_certification::hash_tree::{empty, fork, label, leaf};
use ic_certification::HashTree;
use icrc_ledger_types::icrc::generic_value::{ICRC3Value, Value};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc3::blocks::{BlockWithId, GetBlocksRequest, GetBlocksResult};
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;

/// At most this many blocks in one answer (DFINITY's ledger's default).
pub const MAX_BLOCKS_PER_RESPONSE: u64 = 2_000;

fn nat(n: u64) -> ICRC3Value {
    ICRC3Value::Nat(Nat::from(n))
}

fn blob(bytes: &[u8]) -> ICRC3Value {
    ICRC3Value::Blob(ByteBuf::from(bytes.to_vec()))
}

fn account_value(account: &Account) -> ICRC3Value {
    let mut parts = vec![blob(account.owner.as_slice())];
    if let Some(subaccount) = &account.subaccount {
        parts.push(blob(subaccount));
    }
    ICRC3Value::Array(parts)
}

/// The `tx` map. Its hash also keys deduplication: it holds the caller's
/// account and every argument field, so equal hashes mean equal calls.
pub fn transaction_value(tx: &Transaction) -> ICRC3Value {
    let mut map = BTreeMap::new();
    let mut put = |key: &str, value: ICRC3Value| map.insert(key.to_string(), value);
    match &tx.operation {
        Operation::Mint { to, amount } => {
            put("op", ICRC3Value::Text("mint".into()));
            put("to", account_value(to));
            put("amt", nat(*amount));
        }
        Operation::Burn {
            from,
            spender,
            amount,
        } => {
            put("op", ICRC3Value::Text("burn".into()));
            put("from", account_value(from));
            put("amt", nat(*amount));
            spender.map(|s| put("spender", account_value(&s)));
        }
        Operation::Transfer {
            from,
            to,
            spender,
            amount,
            fee,
        } => {
            put("op", ICRC3Value::Text("xfer".into()));
            put("from", account_value(from));
            put("to", account_value(to));
            put("amt", nat(*amount));
            spender.map(|s| put("spender", account_value(&s)));
            fee.map(|f| put("fee", nat(f)));
        }
        Operation::Approve {
            from,
            spender,
            amount,
            expected_allowance,
            expires_at,
            fee,
        } => {
            put("op", ICRC3Value::Text("approve".into()));
            put("from", account_value(from));
            put("spender", account_value(spender));
            put("amt", nat(*amount));
            expected_allowance.map(|a| put("expected_allowance", nat(a)));
            expires_at.map(|t| put("expires_at", nat(t)));
            fee.map(|f| put("fee", nat(f)));
        }
    }
    if let Some(memo) = &tx.memo {
        put("memo", blob(&memo.0));
    }
    if let Some(created_at_time) = tx.created_at_time {
        put("ts", nat(created_at_time));
    }
    ICRC3Value::Map(map)
}

pub fn block_value(
    tx: ICRC3Value,
    timestamp: u64,
    charged_fee: Option<u64>,
    parent_hash: Option<Hash>,
) -> ICRC3Value {
    let mut map = BTreeMap::new();
    if let Some(hash) = parent_hash {
        map.insert("phash".to_string(), blob(&hash));
    }
    map.insert("ts".to_string(), nat(timestamp));
    if let Some(fee) = charged_fee {
        map.insert("fee".to_string(), nat(fee));
    }
    map.insert("tx".to_string(), tx);
    ICRC3Value::Map(map)
}

/// ICRC-3's representation-independent hash.
pub fn hash_value(value: &ICRC3Value) -> Hash {
    Value::from(value.clone()).hash()
}

/// Appends a block and moves the tip to it; returns its index.
pub fn append_block(state: &mut State, block: ICRC3Value) -> u64 {
    let hash = hash_value(&block);
    let bytes = Encode!(&block).expect("a block encodes");
    let index = state.blocks.append(&bytes).expect("stable memory can grow");
    state.update_tip(|tip| tip.last_block_hash = Some(hash));
    index
}

pub fn block(state: &State, index: u64) -> Option<ICRC3Value> {
    let bytes = state.blocks.get(index)?;
    Some(Decode!(&bytes, ICRC3Value).expect("a stored block decodes"))
}

pub fn chain_length(state: &State) -> u64 {
    state.blocks.len()
}

/// The blocks of `[start, start + length)` that exist, at most `budget`.
fn blocks_in_range(state: &State, start: u64, length: u64, budget: u64) -> Vec<BlockWithId> {
    let end = start
        .saturating_add(length.min(budget))
        .min(chain_length(state));
    (start..end)
        .map(|id| BlockWithId {
            id: Nat::from(id),
            block: block(state, id).expect("index below the chain length"),
        })
        .collect()
}

/// `icrc3_get_blocks`: every requested range, up to the response limit in
/// all. Nothing is archived, so `archived_blocks` is always empty.
pub fn icrc3_get_blocks(state: &State, requests: &[GetBlocksRequest]) -> GetBlocksResult {
    let mut blocks = Vec::new();
    for request in requests {
        let budget = MAX_BLOCKS_PER_RESPONSE - blocks.len() as u64;
        if budget == 0 {
            break;
        }
        let Ok((start, length)) = request.as_start_and_length() else {
            continue; // past u64: no such blocks
        };
        blocks.extend(blocks_in_range(state, start, length, budget));
    }
    GetBlocksResult {
        log_length: Nat::from(chain_length(state)),
        blocks,
        archived_blocks: vec![],
    }
}

/// The legacy `get_blocks` range: blocks as the deprecated `Value`.
pub fn legacy_blocks(state: &State, request: &GetBlocksRequest) -> (u64, Vec<Value>) {
    let start = u64::try_from(&request.start.0).unwrap_or(u64::MAX);
    let length = u64::try_from(&request.length.0).unwrap_or(u64::MAX);
    let first_index = start.min(chain_length(state));
    let blocks = blocks_in_range(state, start, length, MAX_BLOCKS_PER_RESPONSE)
        .into_iter()
        .map(|b| Value::from(b.block))
        .collect();
    (first_index, blocks)
}

/// ICRC-3's tip tree: `last_block_hash` (32 bytes) and `last_block_index`
/// (LEB128), empty before the first block. Its root is the certified data.
pub fn tip_hash_tree(state: &State) -> HashTree {
    let Some(hash) = state.tip.get().last_block_hash else {
        return empty();
    };
    let mut index = Vec::new();
    leb128::write::unsigned(&mut index, chain_length(state) - 1).expect("writing to a Vec");
    // Labels in ascending order, as hash trees require: "..._hash" < "..._index".
    fork(
        label("last_block_hash", leaf(hash.to_vec())),
        label("last_block_index", leaf(index)),
    )
}

/// What the canister certifies: the tip tree's root hash.
pub fn certified_data(state: &State) -> Hash {
    tip_hash_tree(state).digest()
}

/// The tip tree in CBOR, as `icrc3_get_tip_certificate` returns it.
pub fn tip_hash_tree_cbor(state: &State) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&tip_hash_tree(state), &mut bytes).expect("CBOR to a Vec");
    bytes
}
