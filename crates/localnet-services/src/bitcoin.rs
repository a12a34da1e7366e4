//! The Bitcoin canister over a simulated regtest chain.
//!
//! * [`chain`] — blocks (real headers with regtest proof of work, coinbases with
//!   the regtest subsidy and BIP141 witness commitments), every confirmed output
//!   with the heights it was created and spent at, and mining;
//! * [`mempool`] — what bitcoind's mempool accepts: decoding, standardness,
//!   inputs against the UTXO set and the mempool, fees, every input script
//!   verified by Bitcoin Core's consensus code (`bitcoinconsensus`), and BIP125
//!   replace-by-fee;
//! * [`canister`] — the Bitcoin canister's endpoints over the chain, with its
//!   Candid types (`ic-btc-interface`), errors, pagination and fees;
//! * [`wallet`] — a funded test wallet that pays addresses with real signed
//!   transactions.
//!
//! Everything is deterministic: the wallet's key comes from the net's seed and
//! block times from the net's clock.

pub mod canister;
pub mod chain;
pub mod mempool;
pub mod wallet;

#[cfg(test)]
mod tests;

pub use ::bitcoin as rust_bitcoin;
pub use canister::{
    parse_address, AddressError, BitcoinCanister, CallFailure, Fees as CanisterFees, SendToError,
    REGTEST_CANISTER_ID,
};
pub use chain::{Chain, REGTEST_SUBSIDY_HALVING_INTERVAL};
pub use ic_btc_interface as interface;
pub use mempool::{MempoolEntry, SendError, Submitted};
pub use wallet::{Wallet, WalletError};
