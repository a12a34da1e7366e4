//! Fee rates and fees.
//!
//! Rates are in millisatoshi per virtual byte, the unit of the Bitcoin
//! canister's `bitcoin_get_current_fee_percentiles` (101 values: the 0th to
//! the 100th percentile of the fee rates of recent transactions).

use crate::network::Network;
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Millisatoshi per virtual byte.
pub type MillisatPerVbyte = u64;

/// Floor of the fee rate on mainnet: 1.5 sat/vB. (The median of the
/// percentiles has been seen far below what confirms in reasonable time;
/// the ckBTC minter uses the same floor.)
pub const MIN_FEE_RATE_MAINNET: MillisatPerVbyte = 1_500;
/// Floor on testnet: 1 sat/vB, Bitcoin Core's long-standing default minimum
/// relay fee (`-minrelaytxfee`), so our transactions relay on any node.
pub const MIN_FEE_RATE_TESTNET: MillisatPerVbyte = 1_000;
/// Floor on regtest: as on testnet.
pub const MIN_FEE_RATE_REGTEST: MillisatPerVbyte = 1_000;

/// Bitcoin Core's default incremental relay fee (`-incrementalrelayfee`,
/// 1 sat/vB): by how much a replacement must raise the fee, per vbyte of
/// the replacement (BIP-125 rule 4).
pub const INCREMENTAL_RELAY_FEE_RATE: MillisatPerVbyte = 1_000;

/// Why no fee rate could be estimated.
#[derive(CandidType, Serialize, Deserialize, thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum FeeError {
    /// The Bitcoin canister returned no percentiles (it has not seen enough
    /// transactions, e.g. while syncing); refusing to guess on this network.
    #[error("no fee percentiles on {network}: cannot estimate a fee rate")]
    NoFeePercentiles {
        /// The network.
        network: Network,
    },
}

/// The floor of the fee rate on `network`.
pub fn min_fee_rate(network: Network) -> MillisatPerVbyte {
    match network {
        Network::Mainnet => MIN_FEE_RATE_MAINNET,
        Network::Testnet => MIN_FEE_RATE_TESTNET,
        Network::Regtest => MIN_FEE_RATE_REGTEST,
    }
}

/// The median of the percentiles: the middle value after sorting (the
/// upper of the two middle values for an even count), `None` when empty.
/// For the Bitcoin canister's 101 sorted values it is the 50th percentile.
pub fn median(percentiles: &[MillisatPerVbyte]) -> Option<MillisatPerVbyte> {
    if percentiles.is_empty() {
        return None;
    }
    let mut sorted = percentiles.to_vec();
    sorted.sort_unstable();
    Some(sorted[sorted.len() / 2])
}

/// The fee rate for a payout: the median of the current fee percentiles,
/// at least [`min_fee_rate`]. With no percentiles it is the floor on
/// testnet and regtest (a regtest node often has no recent transactions),
/// and an error on mainnet.
pub fn estimate_fee_rate(
    network: Network,
    percentiles: &[MillisatPerVbyte],
) -> Result<MillisatPerVbyte, FeeError> {
    match median(percentiles) {
        Some(m) => Ok(m.max(min_fee_rate(network))),
        None if network == Network::Mainnet => Err(FeeError::NoFeePercentiles { network }),
        None => Ok(min_fee_rate(network)),
    }
}

/// The fee in satoshi for `vsize` vbytes at `rate`, rounded up (so the
/// effective rate is never below `rate`); saturates at `u64::MAX`.
pub fn fee_for_vsize(vsize: u64, rate: MillisatPerVbyte) -> u64 {
    let millisat = vsize as u128 * rate as u128;
    u64::try_from(millisat.div_ceil(1000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_floor() {
        let p: Vec<u64> = (0..=100).map(|i| i * 100).collect();
        assert_eq!(median(&p), Some(5_000));
        assert_eq!(estimate_fee_rate(Network::Mainnet, &p), Ok(5_000));
        let low = vec![200u64; 101];
        assert_eq!(estimate_fee_rate(Network::Mainnet, &low), Ok(1_500));
        assert_eq!(estimate_fee_rate(Network::Testnet, &low), Ok(1_000));
        assert_eq!(estimate_fee_rate(Network::Regtest, &low), Ok(1_000));
        assert_eq!(
            estimate_fee_rate(Network::Mainnet, &[]),
            Err(FeeError::NoFeePercentiles {
                network: Network::Mainnet
            })
        );
        assert_eq!(estimate_fee_rate(Network::Regtest, &[]), Ok(1_000));
        assert_eq!(estimate_fee_rate(Network::Testnet, &[]), Ok(1_000));
        // Unsorted input, even count.
        assert_eq!(median(&[4, 1, 3, 2]), Some(3));
        assert_eq!(median(&[7]), Some(7));
    }

    #[test]
    fn fee_rounds_up() {
        assert_eq!(fee_for_vsize(141, 1_000), 141);
        assert_eq!(fee_for_vsize(141, 1_500), 212); // 211.5 -> 212
        assert_eq!(fee_for_vsize(1, 1), 1);
        assert_eq!(fee_for_vsize(0, 5_000), 0);
        assert_eq!(fee_for_vsize(u64::MAX, u64::MAX), u64::MAX);
    }
}
