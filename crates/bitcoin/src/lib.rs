//! Bitcoin logic for the escrow canister: native-BTC deposit addresses and
//! batched payouts signed with threshold ECDSA.
//!
//! Pure computation, no I/O and no `ic-cdk`: the canister makes the calls
//! (`ecdsa_public_key`, `sign_with_ecdsa`, `bitcoin_get_utxos`,
//! `bitcoin_get_current_fee_percentiles`, `bitcoin_send_transaction`) and
//! this crate does everything in between. It builds for
//! `wasm32-unknown-unknown` without a C compiler and without `getrandom`.
//!
//! - [`network`]: the [`Network`] enum.
//! - [`address`]: parse/validate/encode addresses, scriptPubKeys, dust thresholds.
//! - [`derive`](mod@derive): deposit derivation paths, IC key derivation, deposit addresses.
//! - [`tx`]: transactions, serialization, txid/wtxid, BIP-143 sighashes,
//!   signatures, witnesses, sizes, [`tx::fake_sign`].
//! - [`fees`]: fee rate from the fee percentiles, fee for a size.
//! - [`build`]: batch payouts with UTXO selection and fee shares, RBF replacements.
//!
//! See the crate's README for the rules (dust, fee shares, sizes).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod build;
pub mod derive;
pub mod fees;
mod hash;
pub mod network;
pub mod tx;
mod wire;

pub use address::{AddressError, AddressKind, BitcoinAddress};
pub use build::{build_payout, replace, BuildError, BuiltTransaction, DustOutput, PayoutRequest};
pub use derive::{deposit_address, deposit_derivation_path, DeriveError, ExtendedPublicKey};
pub use fees::{estimate_fee_rate, fee_for_vsize, FeeError, MillisatPerVbyte};
pub use hash::{hash160, sha256, sha256d};
pub use network::Network;
pub use tx::{
    fake_sign, InputWitness, OutPoint, SighashCache, SignatureError, SignedTransaction, TxOut,
    UnsignedTransaction, Utxo,
};
