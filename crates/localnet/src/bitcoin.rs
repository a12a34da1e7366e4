//! The Bitcoin canister (regtest) at `g4xu7-jiaaa-aaaan-aaaaq-cai`, answered in
//! Rust like the management canister, over the chain simulated in
//! `localnet_services::bitcoin`.
//!
//! As the real canister: a request for another network or with fewer cycles
//! than the endpoint requires traps (`CANISTER_ERROR`, nothing kept); the
//! endpoint's fee is accepted before the request is processed, so a request
//! rejected afterwards (`CANISTER_REJECT`, `"<endpoint> failed: <error>"`)
//! still pays it; the rest of the attached cycles is refunded.

use crate::error::RejectResponse;
use crate::state::{LocalNet, Request};
use candid::{CandidType, Decode, Encode, Principal};
use ic_error_types::ErrorCode;
use localnet_services::bitcoin::canister::{check_network, SendToError};
use localnet_services::bitcoin::interface::{
    GetBalanceRequest, GetBlockHeadersRequest, GetCurrentFeePercentilesRequest, GetUtxosRequest,
    NetworkInRequest, SendTransactionRequest, Utxo,
};
use localnet_services::bitcoin::rust_bitcoin::{Amount, BlockHash, Transaction, Txid};
use localnet_services::bitcoin::{
    parse_address, AddressError, BitcoinCanister, CallFailure, MempoolEntry, SendError,
    REGTEST_CANISTER_ID,
};
use std::fmt::Debug;

/// The Bitcoin canister's id for regtest (and testnet), as `ic-cdk-bitcoin-canister` 0.2 calls it.
pub fn bitcoin_canister_id() -> Principal {
    Principal::from_slice(&REGTEST_CANISTER_ID)
}

/// A call's outcome and the cycles the canister keeps.
type Outcome = (Result<Vec<u8>, RejectResponse>, u128);

impl LocalNet {
    /// The simulated canister, created on first use from the net's seed.
    fn bitcoin(&mut self) -> &mut BitcoinCanister {
        let seed = self.config.seed;
        self.bitcoin
            .get_or_insert_with(|| Box::new(BitcoinCanister::new(seed)))
    }

    fn block_time_secs(&self) -> u32 {
        (self.time / 1_000_000_000) as u32
    }

    /// Answers a request to the Bitcoin canister and refunds what it does not keep.
    pub(crate) fn handle_bitcoin_request(&mut self, request: Request) {
        let (result, kept) = self.bitcoin_method(&request);
        let refund = request.cycles.saturating_sub(kept);
        self.answer_origin(&request.origin, result, refund);
    }

    fn bitcoin_method(&mut self, r: &Request) -> Outcome {
        let fees = self.bitcoin().fees().clone();
        match r.method.as_str() {
            "bitcoin_get_utxos" => self.paid(
                r,
                fees.get_utxos_maximum,
                fees.get_utxos_base,
                |btc, req: GetUtxosRequest| btc.get_utxos(req).map_err(|e| failed("get_utxos", e)),
            ),
            "bitcoin_get_balance" => self.paid(
                r,
                fees.get_balance_maximum,
                fees.get_balance,
                |btc, req: GetBalanceRequest| {
                    btc.get_balance(req).map_err(|e| failed("get_balance", e))
                },
            ),
            "bitcoin_get_current_fee_percentiles" => {
                self.paid(
                    r,
                    fees.get_current_fee_percentiles_maximum,
                    fees.get_current_fee_percentiles,
                    |btc, req: GetCurrentFeePercentilesRequest| {
                        Ok(btc.get_current_fee_percentiles(req))
                    },
                )
            }
            "bitcoin_get_block_headers" => self.paid(
                r,
                fees.get_block_headers_maximum,
                fees.get_block_headers_base,
                |btc, req: GetBlockHeadersRequest| {
                    btc.get_block_headers(req)
                        .map_err(|e| failed("get_block_headers", e))
                },
            ),
            "bitcoin_send_transaction" => self.send_transaction(r),
            "get_blockchain_info" => (Ok(encode(&self.bitcoin().blockchain_info())), 0),
            other => (Err(method_not_found(other)), 0),
        }
    }

    /// An endpoint that requires `required` cycles attached and keeps `fee`.
    fn paid<A, T>(
        &mut self,
        r: &Request,
        required: u128,
        fee: u128,
        endpoint: impl FnOnce(&mut BitcoinCanister, A) -> Result<T, String>,
    ) -> Outcome
    where
        A: CandidType + for<'de> serde::Deserialize<'de> + HasNetwork,
        T: CandidType,
    {
        let request: A = match Decode!(&r.payload, A) {
            Ok(request) => request,
            Err(e) => {
                return (
                    Err(trap(format!("failed to decode call arguments: {e}"))),
                    0,
                )
            }
        };
        if let Err(failure) =
            check_network(request.network()).and_then(|()| check_cycles(r.cycles, required))
        {
            return (Err(reject(failure)), 0);
        }
        let result = endpoint(self.bitcoin(), request);
        (
            result
                .map(|value| encode(&value))
                .map_err(|msg| reject(CallFailure::Reject(msg))),
            fee,
        )
    }

    /// `bitcoin_send_transaction`: base fee plus a fee per byte of transaction.
    fn send_transaction(&mut self, r: &Request) -> Outcome {
        let request = match Decode!(&r.payload, SendTransactionRequest) {
            Ok(request) => request,
            Err(e) => {
                return (
                    Err(trap(format!("failed to decode call arguments: {e}"))),
                    0,
                )
            }
        };
        let fees = self.bitcoin().fees();
        let fee = fees.send_transaction_base
            + fees.send_transaction_per_byte * request.transaction.len() as u128;
        if let Err(failure) =
            check_network(request.network).and_then(|()| check_cycles(r.cycles, fee))
        {
            return (Err(reject(failure)), 0);
        }
        let result = match self.bitcoin().send_transaction(request) {
            Ok(_) => Ok(encode(&())),
            Err(SendError::Malformed(_)) => Err(reject(CallFailure::Reject("send_transaction failed: MalformedTransaction".into()))),
            Err(refused) => Err(reject(CallFailure::Reject(format!(
                "send_transaction failed: localnet's regtest mempool refused the transaction: {refused}"
            )))),
        };
        (result, fee)
    }

    // ----- test controls (the regtest node a test drives) ---------------------------

    /// Mines `n` blocks paying the subsidy (and the mempool's fees) to
    /// `address`, like bitcoind's `generatetoaddress`; the first block
    /// confirms every mempool transaction.
    pub fn bitcoin_mine_blocks(
        &mut self,
        n: u32,
        address: &str,
    ) -> Result<Vec<BlockHash>, AddressError> {
        let script = parse_address(address)?;
        let time = self.block_time_secs();
        Ok(self.bitcoin().mine_blocks(n, &script, time))
    }

    /// Pays `amount_sats` to `address` from a funded test wallet with a real
    /// signed transaction, which waits in the mempool for a block. The wallet
    /// mines empty blocks to itself when it is short of funds.
    pub fn bitcoin_send_to(
        &mut self,
        address: &str,
        amount_sats: u64,
    ) -> Result<Txid, SendToError> {
        let time = self.block_time_secs();
        self.bitcoin()
            .send_to(address, Amount::from_sat(amount_sats), time)
    }

    /// Fixes what `bitcoin_get_current_fee_percentiles` returns (101 values in
    /// millisatoshi/vbyte); `None` computes them from the chain again.
    pub fn bitcoin_set_fee_percentiles(
        &mut self,
        percentiles: Option<Vec<u64>>,
    ) -> Result<(), String> {
        self.bitcoin().set_fee_percentiles(percentiles)
    }

    /// The mempool, in arrival order.
    pub fn bitcoin_mempool(&mut self) -> Vec<MempoolEntry> {
        self.bitcoin().mempool_entries()
    }

    /// A transaction and its block height (`None` while in the mempool).
    pub fn bitcoin_transaction(&mut self, txid: &Txid) -> Option<(Transaction, Option<u32>)> {
        self.bitcoin().transaction(txid)
    }

    /// The height of the newest block (genesis is 0).
    pub fn bitcoin_tip_height(&mut self) -> u32 {
        self.bitcoin().chain().tip_height()
    }

    /// The UTXOs of `address` at the tip, newest first.
    pub fn bitcoin_utxos(&mut self, address: &str) -> Result<Vec<Utxo>, AddressError> {
        self.bitcoin().utxos(address)
    }

    /// The test wallet's address (P2WPKH, regtest).
    pub fn bitcoin_wallet_address(&mut self) -> String {
        self.bitcoin().wallet().address().to_string()
    }
}

/// The requests that name a network.
trait HasNetwork {
    fn network(&self) -> NetworkInRequest;
}

macro_rules! has_network {
    ($($request:ty),*) => {$(
        impl HasNetwork for $request {
            fn network(&self) -> NetworkInRequest {
                self.network
            }
        }
    )*};
}
has_network!(
    GetUtxosRequest,
    GetBalanceRequest,
    GetCurrentFeePercentilesRequest,
    GetBlockHeadersRequest
);

/// The canister's `verify_has_enough_cycles`.
fn check_cycles(attached: u128, required: u128) -> Result<(), CallFailure> {
    if attached < required {
        return Err(CallFailure::Trap(format!(
            "Received {attached} cycles. {required} cycles are required."
        )));
    }
    Ok(())
}

fn failed(endpoint: &str, error: impl Debug) -> String {
    format!("{endpoint} failed: {error:?}")
}

fn encode<T: CandidType>(value: &T) -> Vec<u8> {
    Encode!(value).expect("encoding a Bitcoin canister reply")
}

fn trap(message: String) -> RejectResponse {
    reject(CallFailure::Trap(message))
}

/// How the replica reports the canister's trap or reject.
fn reject(failure: CallFailure) -> RejectResponse {
    let id = bitcoin_canister_id();
    match failure {
        CallFailure::Trap(message) => RejectResponse::new(
            ErrorCode::CanisterCalledTrap,
            format!(
                "Error from Canister {id}: Canister called `ic0.trap` with message: '{message}'"
            ),
        ),
        CallFailure::Reject(message) => RejectResponse::canister_reject(message),
    }
}

fn method_not_found(method: &str) -> RejectResponse {
    RejectResponse::new(
        ErrorCode::CanisterMethodNotFound,
        format!(
            "Error from Canister {}: Canister has no update method '{method}'.",
            bitcoin_canister_id()
        ),
    )
}
