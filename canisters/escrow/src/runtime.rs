//! Every effect the escrow's logic needs — caller, clock, controllers, the
//! ledger — behind one trait, so the logic runs natively in unit tests with a
//! fake ledger and on the IC with [`IcRuntime`].

use candid::{CandidType, Nat, Principal};
use ic_cdk::call::{Call, CallFailed, RejectCode};
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use serde::de::DeserializeOwned;
use tensormine_bitcoin::{Network, OutPoint, Utxo};

/// Why a ledger call gave no ledger answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The ledger certainly did not execute it (not delivered, rejected,
    /// trapped: a trap rolls the ledger's state back).
    Rejected(String),
    /// It may have executed: `SYS_UNKNOWN` (bounded wait timed out), or a
    /// reply that could not be decoded.
    Unknown(String),
}

pub type LedgerReply<E> = Result<Result<Nat, E>, CallError>;

/// `bitcoin_get_utxos` filter: the first page with a confirmation count,
/// then the page token of the previous answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UtxoFilter {
    MinConfirmations(u32),
    Page(Vec<u8>),
}

/// One page of `bitcoin_get_utxos`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UtxoPage {
    pub utxos: Vec<Utxo>,
    pub next_page: Option<Vec<u8>>,
    /// Height of the chain tip the answer reflects.
    pub tip_height: u32,
}

#[allow(async_fn_in_trait)]
pub trait Runtime {
    fn caller(&self) -> Principal;
    /// Nanoseconds since the epoch.
    fn time(&self) -> u64;
    /// The escrow canister's own id (the ledger account that holds the funds).
    fn escrow_id(&self) -> Principal;
    fn is_controller(&self, p: &Principal) -> bool;
    async fn icrc2_transfer_from(
        &self,
        ledger: Principal,
        args: TransferFromArgs,
    ) -> LedgerReply<TransferFromError>;
    async fn icrc1_transfer(
        &self,
        ledger: Principal,
        args: TransferArg,
    ) -> LedgerReply<TransferError>;
    /// One page of the UTXOs of `address`.
    async fn bitcoin_get_utxos(
        &self,
        network: Network,
        address: String,
        filter: UtxoFilter,
    ) -> Result<UtxoPage, String>;
    /// Millisatoshi per vbyte, 101 percentiles (may be empty).
    async fn bitcoin_fee_percentiles(&self, network: Network) -> Result<Vec<u64>, String>;
    async fn bitcoin_send_transaction(&self, network: Network, tx: Vec<u8>) -> Result<(), String>;
    /// The escrow's key for the empty derivation path: (SEC1 compressed key, chain code).
    async fn ecdsa_public_key(&self, key_name: String) -> Result<(Vec<u8>, Vec<u8>), String>;
    /// A 64-byte `r || s` signature of `message_hash` by the key at `path`.
    async fn sign_with_ecdsa(
        &self,
        key_name: String,
        path: Vec<Vec<u8>>,
        message_hash: [u8; 32],
    ) -> Result<Vec<u8>, String>;
}

/// The Internet Computer.
#[derive(Debug, Clone, Copy, Default)]
pub struct IcRuntime;

impl Runtime for IcRuntime {
    fn caller(&self) -> Principal {
        ic_cdk::api::msg_caller()
    }

    fn time(&self) -> u64 {
        ic_cdk::api::time()
    }

    fn escrow_id(&self) -> Principal {
        ic_cdk::api::canister_self()
    }

    fn is_controller(&self, p: &Principal) -> bool {
        ic_cdk::api::is_controller(p)
    }

    async fn icrc2_transfer_from(
        &self,
        ledger: Principal,
        args: TransferFromArgs,
    ) -> LedgerReply<TransferFromError> {
        call(ledger, "icrc2_transfer_from", args).await
    }

    async fn icrc1_transfer(
        &self,
        ledger: Principal,
        args: TransferArg,
    ) -> LedgerReply<TransferError> {
        call(ledger, "icrc1_transfer", args).await
    }

    async fn bitcoin_get_utxos(
        &self,
        network: Network,
        address: String,
        filter: UtxoFilter,
    ) -> Result<UtxoPage, String> {
        use ic_cdk_bitcoin_canister as btc;
        let filter = match filter {
            UtxoFilter::MinConfirmations(n) => btc::UtxosFilterInRequest::MinConfirmations(n),
            UtxoFilter::Page(p) => btc::UtxosFilterInRequest::Page(p.into()),
        };
        let request = btc::GetUtxosRequest {
            address,
            network: btc_network(network).into(),
            filter: Some(filter),
        };
        let response = btc::bitcoin_get_utxos(&request)
            .await
            .map_err(|e| format!("bitcoin_get_utxos: {e}"))?;
        let utxos = response
            .utxos
            .into_iter()
            .map(|u| Utxo {
                outpoint: OutPoint {
                    txid: u.outpoint.txid.into(),
                    vout: u.outpoint.vout,
                },
                value: u.value,
                height: u.height,
            })
            .collect();
        Ok(UtxoPage {
            utxos,
            next_page: response.next_page.map(|p| p.into_vec()),
            tip_height: response.tip_height,
        })
    }

    async fn bitcoin_fee_percentiles(&self, network: Network) -> Result<Vec<u64>, String> {
        use ic_cdk_bitcoin_canister as btc;
        let request = btc::GetCurrentFeePercentilesRequest {
            network: btc_network(network).into(),
        };
        btc::bitcoin_get_current_fee_percentiles(&request)
            .await
            .map_err(|e| format!("bitcoin_get_current_fee_percentiles: {e}"))
    }

    async fn bitcoin_send_transaction(&self, network: Network, tx: Vec<u8>) -> Result<(), String> {
        use ic_cdk_bitcoin_canister as btc;
        let request = btc::SendTransactionRequest {
            transaction: tx,
            network: btc_network(network).into(),
        };
        btc::bitcoin_send_transaction(&request)
            .await
            .map_err(|e| format!("bitcoin_send_transaction: {e}"))
    }

    async fn ecdsa_public_key(&self, key_name: String) -> Result<(Vec<u8>, Vec<u8>), String> {
        use ic_cdk_management_canister as mgmt;
        let args = mgmt::EcdsaPublicKeyArgs {
            canister_id: None,
            derivation_path: vec![],
            key_id: ecdsa_key(key_name),
        };
        let r = mgmt::ecdsa_public_key(&args)
            .await
            .map_err(|e| format!("ecdsa_public_key: {e}"))?;
        Ok((r.public_key, r.chain_code))
    }

    async fn sign_with_ecdsa(
        &self,
        key_name: String,
        path: Vec<Vec<u8>>,
        message_hash: [u8; 32],
    ) -> Result<Vec<u8>, String> {
        use ic_cdk_management_canister as mgmt;
        let args = mgmt::SignWithEcdsaArgs {
            message_hash: message_hash.to_vec(),
            derivation_path: path,
            key_id: ecdsa_key(key_name),
        };
        let r = mgmt::sign_with_ecdsa(&args)
            .await
            .map_err(|e| format!("sign_with_ecdsa: {e}"))?;
        Ok(r.signature)
    }
}

fn btc_network(n: Network) -> ic_cdk_bitcoin_canister::Network {
    match n {
        Network::Mainnet => ic_cdk_bitcoin_canister::Network::Mainnet,
        Network::Testnet => ic_cdk_bitcoin_canister::Network::Testnet,
        Network::Regtest => ic_cdk_bitcoin_canister::Network::Regtest,
    }
}

fn ecdsa_key(name: String) -> ic_cdk_management_canister::EcdsaKeyId {
    ic_cdk_management_canister::EcdsaKeyId {
        curve: ic_cdk_management_canister::EcdsaCurve::Secp256k1,
        name,
    }
}

/// A bounded-wait call (the escrow can always be stopped and upgraded; a
/// timeout is `SYS_UNKNOWN`, which the ledger-op records are there for).
async fn call<A: CandidType, R: CandidType + DeserializeOwned>(
    ledger: Principal,
    method: &str,
    args: A,
) -> Result<R, CallError> {
    let response = Call::bounded_wait(ledger, method)
        .with_arg(args)
        .await
        .map_err(classify)?;
    response
        .candid::<R>()
        .map_err(|e| CallError::Unknown(format!("{method} reply undecodable: {e}")))
}

fn classify(failed: CallFailed) -> CallError {
    match &failed {
        CallFailed::CallRejected(r) if r.reject_code() == Ok(RejectCode::SysUnknown) => {
            CallError::Unknown(failed.to_string())
        }
        _ => CallError::Rejected(failed.to_string()),
    }
}

/// A ledger block index as `u64` (ICRC ledgers count blocks in `nat`).
pub fn block_index(n: &Nat) -> Option<u64> {
    match n.0.to_u64_digits().as_slice() {
        [] => Some(0),
        [d] => Some(*d),
        _ => None,
    }
}

/// A ledger amount as `u64`, saturating (used for error reports only).
pub fn sats(n: &Nat) -> u64 {
    block_index(n).unwrap_or(u64::MAX)
}
