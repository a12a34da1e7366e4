//! The Bitcoin canister's endpoints (regtest) over the simulated chain, with
//! the real canister's Candid types, errors, pagination and fees.
//!
//! Errors follow the canister: a wrong network or too few cycles make it trap
//! (`CANISTER_ERROR`); an invalid request after the fee is charged is rejected
//! (`CANISTER_REJECT`, message `"<endpoint> failed: <error as Debug>"`), and the
//! charged fee is kept.

use super::chain::{utxo_order, Chain, ChainUtxo};
use super::mempool::{Mempool, MempoolEntry, SendError, Submitted};
use super::wallet::{Wallet, WalletError};
use bitcoin::hashes::Hash;
use bitcoin::{
    consensus, Address, Amount, BlockHash, Network, OutPoint, ScriptBuf, Transaction, Txid,
};
use ic_btc_interface::{
    BlockchainInfo, GetBalanceError, GetBalanceRequest, GetBlockHeadersError,
    GetBlockHeadersRequest, GetBlockHeadersResponse, GetCurrentFeePercentilesRequest,
    GetUtxosError, GetUtxosRequest, GetUtxosResponse, MillisatoshiPerByte, NetworkInRequest,
    SendTransactionRequest, Utxo, UtxosFilter,
};
use serde_bytes::ByteBuf;

pub use ic_btc_interface::Fees;

/// `g4xu7-jiaaa-aaaan-aaaaq-cai`, where `ic-cdk-bitcoin-canister` 0.2 calls for regtest.
pub const REGTEST_CANISTER_ID: [u8; 10] = [0, 0, 0, 0, 1, 160, 0, 1, 1, 1];
/// The canister's `MAX_UTXOS_PER_RESPONSE`.
pub const MAX_UTXOS_PER_RESPONSE: usize = 1_000;
/// The canister's `MAX_BLOCK_HEADERS_PER_RESPONSE`.
pub const MAX_BLOCK_HEADERS_PER_RESPONSE: u32 = 100;
/// The canister's default stability threshold: it keeps this many recent
/// blocks "unstable", and `min_confirmations` cannot exceed their count.
pub const STABILITY_THRESHOLD: u32 = 144;
/// The canister computes fee percentiles over this many recent transactions.
const FEE_PERCENTILE_TRANSACTIONS: usize = 10_000;
/// Blocks the wallet may mine to fund itself in one payment.
const MAX_FUNDING_BLOCKS: u32 = 1_000;

/// How a call ends when it does not reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallFailure {
    /// The canister trapped: no cycles are kept.
    Trap(String),
    /// The canister rejected after charging its fee.
    Reject(String),
}

/// What the Bitcoin canister's endpoints work on, and the test controls.
pub struct BitcoinCanister {
    chain: Chain,
    mempool: Mempool,
    wallet: Wallet,
    fees: Fees,
    fee_percentiles_override: Option<Vec<MillisatoshiPerByte>>,
    fee_percentiles_cache: Option<(BlockHash, Vec<MillisatoshiPerByte>)>,
}

impl BitcoinCanister {
    /// A regtest chain at genesis, an empty mempool and the seed's wallet;
    /// fees are those `ic-cdk-bitcoin-canister` attaches for regtest (mainnet's).
    pub fn new(seed: [u8; 32]) -> Self {
        BitcoinCanister {
            chain: Chain::regtest(),
            mempool: Mempool::default(),
            wallet: Wallet::from_seed(seed),
            fees: Fees::mainnet(),
            fee_percentiles_override: None,
            fee_percentiles_cache: None,
        }
    }

    /// The fees charged (mainnet's, which ic-cdk attaches for regtest).
    pub fn fees(&self) -> &Fees {
        &self.fees
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// The funded test wallet.
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    // ----- endpoints ------------------------------------------------------------

    /// `bitcoin_get_utxos`.
    pub fn get_utxos(&self, request: GetUtxosRequest) -> Result<GetUtxosResponse, GetUtxosError> {
        let script = parse_address(&request.address).map_err(|e| match e {
            AddressError::Malformed => GetUtxosError::MalformedAddress,
            AddressError::WrongNetwork => GetUtxosError::AddressForWrongNetwork {
                expected: ic_btc_interface::Network::Regtest,
            },
        })?;
        match request.filter.map(UtxosFilter::from) {
            None => self.utxos_first_page(&script, 0),
            Some(UtxosFilter::MinConfirmations(min)) => self.utxos_first_page(&script, min),
            Some(UtxosFilter::Page(page)) => self.utxos_next_page(&script, &page),
        }
    }

    fn utxos_first_page(
        &self,
        script: &ScriptBuf,
        min_confirmations: u32,
    ) -> Result<GetUtxosResponse, GetUtxosError> {
        let max = self.max_min_confirmations();
        if min_confirmations > max {
            return Err(GetUtxosError::MinConfirmationsTooLarge {
                given: min_confirmations,
                max,
            });
        }
        let height = self.chain.tip_height() + 1 - min_confirmations.max(1);
        Ok(self.utxo_page(script, height, None))
    }

    fn utxos_next_page(
        &self,
        script: &ScriptBuf,
        page: &[u8],
    ) -> Result<GetUtxosResponse, GetUtxosError> {
        let cursor = PageToken::decode(page).map_err(|err| GetUtxosError::MalformedPage { err })?;
        let height = self.chain.height_of(&cursor.tip).ok_or_else(|| {
            GetUtxosError::UnknownTipBlockHash {
                tip_block_hash: cursor.tip.to_byte_array().to_vec(),
            }
        })?;
        Ok(self.utxo_page(script, height, Some(cursor)))
    }

    /// Up to 1,000 UTXOs of the chain as of `height`, from `cursor` on.
    fn utxo_page(
        &self,
        script: &ScriptBuf,
        height: u32,
        cursor: Option<PageToken>,
    ) -> GetUtxosResponse {
        let tip = self
            .chain
            .block(height)
            .expect("a height of the chain")
            .block_hash();
        let all = self.chain.utxos_at(script, height);
        let start = cursor.map_or(0, |c| all.partition_point(|u| utxo_order(u) < c.order()));
        let rest = &all[start..];
        let page = &rest[..rest.len().min(MAX_UTXOS_PER_RESPONSE)];
        let next_page = rest
            .get(MAX_UTXOS_PER_RESPONSE)
            .map(|next| ByteBuf::from(PageToken::at(tip, next).encode()));
        GetUtxosResponse {
            utxos: page.iter().map(public_utxo).collect(),
            tip_block_hash: tip.to_byte_array().to_vec(),
            tip_height: height,
            next_page,
        }
    }

    /// The canister keeps the last `STABILITY_THRESHOLD` blocks (and their
    /// anchor) unstable and can count confirmations only that far back.
    pub fn max_min_confirmations(&self) -> u32 {
        (self.chain.tip_height() + 1).min(STABILITY_THRESHOLD + 1)
    }

    /// `bitcoin_get_balance`.
    pub fn get_balance(&self, request: GetBalanceRequest) -> Result<u64, GetBalanceError> {
        let script = parse_address(&request.address).map_err(|e| match e {
            AddressError::Malformed => GetBalanceError::MalformedAddress,
            AddressError::WrongNetwork => GetBalanceError::AddressForWrongNetwork {
                expected: ic_btc_interface::Network::Regtest,
            },
        })?;
        let min = request.min_confirmations.unwrap_or(0);
        let max = self.max_min_confirmations();
        if min > max {
            return Err(GetBalanceError::MinConfirmationsTooLarge { given: min, max });
        }
        let height = self.chain.tip_height() + 1 - min.max(1);
        Ok(self
            .chain
            .utxos_at(&script, height)
            .iter()
            .map(|u| u.value.to_sat())
            .sum())
    }

    /// `bitcoin_get_current_fee_percentiles`: the test's values if set, else
    /// the 101 nearest-rank percentiles of the fee rates (millisatoshi/vbyte)
    /// of the last 10,000 confirmed non-coinbase transactions; empty on a chain
    /// without any, and the last result while no new ones arrive.
    pub fn get_current_fee_percentiles(
        &mut self,
        _request: GetCurrentFeePercentilesRequest,
    ) -> Vec<MillisatoshiPerByte> {
        if let Some(values) = &self.fee_percentiles_override {
            return values.clone();
        }
        let tip = self.chain.tip().block_hash();
        if let Some((hash, cached)) = &self.fee_percentiles_cache {
            if *hash == tip {
                return cached.clone();
            }
        }
        let rates = self.recent_fee_rates();
        if rates.is_empty() {
            return self
                .fee_percentiles_cache
                .as_ref()
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
        }
        let result = percentiles(rates);
        self.fee_percentiles_cache = Some((tip, result.clone()));
        result
    }

    fn recent_fee_rates(&self) -> Vec<MillisatoshiPerByte> {
        (0..=self.chain.tip_height())
            .rev()
            .filter_map(|h| self.chain.block(h))
            .flat_map(|block| block.txdata.iter().filter(|tx| !tx.is_coinbase()))
            .take(FEE_PERCENTILE_TRANSACTIONS)
            .filter_map(|tx| self.confirmed_fee_rate(tx))
            .collect()
    }

    fn confirmed_fee_rate(&self, tx: &Transaction) -> Option<MillisatoshiPerByte> {
        let inputs: u64 = tx
            .input
            .iter()
            .map(|i| {
                self.chain
                    .output(&i.previous_output)
                    .map(|o| o.txout.value.to_sat())
            })
            .sum::<Option<u64>>()?;
        let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        let vsize = tx.vsize() as u64;
        (vsize > 0).then(|| 1000 * inputs.saturating_sub(outputs) / vsize)
    }

    /// `bitcoin_get_block_headers`: up to 100 80-byte headers from `start_height`.
    pub fn get_block_headers(
        &self,
        request: GetBlockHeadersRequest,
    ) -> Result<GetBlockHeadersResponse, GetBlockHeadersError> {
        let tip = self.chain.tip_height();
        let start = request.start_height;
        if start > tip {
            return Err(GetBlockHeadersError::StartHeightDoesNotExist {
                requested: start,
                chain_height: tip,
            });
        }
        let end = match request.end_height {
            Some(end) if end > tip => {
                return Err(GetBlockHeadersError::EndHeightDoesNotExist {
                    requested: end,
                    chain_height: tip,
                })
            }
            Some(end) if end < start => {
                return Err(GetBlockHeadersError::StartHeightLargerThanEndHeight {
                    start_height: start,
                    end_height: end,
                })
            }
            Some(end) => end,
            None => tip,
        };
        let end = end.min(start + MAX_BLOCK_HEADERS_PER_RESPONSE - 1);
        let block_headers = (start..=end)
            .map(|h| {
                consensus::serialize(
                    &self
                        .chain
                        .block(h)
                        .expect("height checked against the tip")
                        .header,
                )
            })
            .collect();
        Ok(GetBlockHeadersResponse {
            tip_height: tip,
            block_headers,
        })
    }

    /// `bitcoin_send_transaction`: the canister only decodes; localnet also runs
    /// the mempool's checks, so a transaction the network would drop is refused.
    pub fn send_transaction(
        &mut self,
        request: SendTransactionRequest,
    ) -> Result<Submitted, SendError> {
        self.mempool.submit(&self.chain, &request.transaction)
    }

    /// `get_blockchain_info`.
    pub fn blockchain_info(&self) -> BlockchainInfo {
        let tip = self.chain.tip();
        BlockchainInfo {
            height: self.chain.tip_height(),
            block_hash: tip.block_hash().to_byte_array().to_vec(),
            timestamp: tip.header.time,
            difficulty: tip.header.difficulty(Network::Regtest),
            utxos_length: self.chain.utxo_count(),
        }
    }

    // ----- test controls ----------------------------------------------------------

    /// Mines `n` blocks paying their subsidy (and the fees of the mempool
    /// transactions, which the first block confirms) to `script`, like
    /// bitcoind's `generatetoaddress`.
    pub fn mine_blocks(&mut self, n: u32, script: &ScriptBuf, time_secs: u32) -> Vec<BlockHash> {
        // `generatetoaddress` semantics: every block can take the mempool; the
        // first takes all of it (localnet has no block weight limit).
        (0..n)
            .map(|_| {
                let (transactions, fees) = self.mempool.take_all();
                self.chain
                    .mine_block(transactions, fees, script.clone(), time_secs)
            })
            .collect()
    }

    /// Pays `amount` to `address` from the test wallet and puts the transaction
    /// in the mempool (mine a block to confirm it). When the wallet is short it
    /// first mines empty blocks to itself, leaving the mempool untouched.
    pub fn send_to(
        &mut self,
        address: &str,
        amount: Amount,
        time_secs: u32,
    ) -> Result<Txid, SendToError> {
        let script = parse_address(address).map_err(SendToError::Address)?;
        let tx = self.fund_and_pay(script, amount, time_secs)?;
        let bytes = consensus::serialize(&tx);
        match self
            .mempool
            .submit(&self.chain, &bytes)
            .map_err(SendToError::Rejected)?
        {
            Submitted::Accepted { txid, .. } | Submitted::AlreadyKnown { txid } => Ok(txid),
        }
    }

    fn fund_and_pay(
        &mut self,
        script: ScriptBuf,
        amount: Amount,
        time_secs: u32,
    ) -> Result<Transaction, SendToError> {
        let wallet_script = self.wallet.script_pubkey();
        for _ in 0..MAX_FUNDING_BLOCKS {
            match self
                .wallet
                .pay(&self.chain, &self.mempool, script.clone(), amount)
            {
                Err(WalletError::InsufficientFunds { .. }) => {
                    self.chain.mine_block(
                        Vec::new(),
                        Amount::ZERO,
                        wallet_script.clone(),
                        time_secs,
                    );
                }
                other => return other.map_err(SendToError::Wallet),
            }
        }
        self.wallet
            .pay(&self.chain, &self.mempool, script, amount)
            .map_err(SendToError::Wallet)
    }

    /// Fixes the fee percentiles (101 values, millisatoshi/vbyte); `None`
    /// returns to percentiles computed from the chain.
    pub fn set_fee_percentiles(
        &mut self,
        values: Option<Vec<MillisatoshiPerByte>>,
    ) -> Result<(), String> {
        if let Some(v) = &values {
            if v.len() != 101 || v.windows(2).any(|w| w[0] > w[1]) {
                return Err(format!(
                    "fee percentiles are 101 non-decreasing values; got {} values",
                    v.len()
                ));
            }
        }
        self.fee_percentiles_override = values;
        Ok(())
    }

    /// The mempool, in arrival order.
    pub fn mempool_entries(&self) -> Vec<MempoolEntry> {
        self.mempool.entries().into_iter().cloned().collect()
    }

    /// A transaction in the mempool (height `None`) or in a block.
    pub fn transaction(&self, txid: &Txid) -> Option<(Transaction, Option<u32>)> {
        if let Some(entry) = self.mempool.get(txid) {
            return Some((entry.tx.clone(), None));
        }
        self.chain
            .transaction(txid)
            .map(|(tx, height)| (tx.clone(), Some(height)))
    }

    /// Every UTXO of `address` at the tip, newest first.
    pub fn utxos(&self, address: &str) -> Result<Vec<Utxo>, AddressError> {
        let script = parse_address(address)?;
        Ok(self
            .chain
            .utxos_at(&script, self.chain.tip_height())
            .iter()
            .map(public_utxo)
            .collect())
    }
}

/// Why the test wallet could not pay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendToError {
    #[error("{0}")]
    /// The address is not a regtest address.
    Address(AddressError),
    #[error("{0}")]
    /// The wallet cannot build the payment.
    Wallet(WalletError),
    #[error("the wallet's transaction was refused: {0}")]
    /// The mempool refused the wallet's transaction.
    Rejected(SendError),
}

/// An address the canister cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("malformed address")]
    /// Not an address.
    Malformed,
    #[error("the address is not for regtest")]
    /// An address of another network.
    WrongNetwork,
}

/// A regtest address's output script (base58 testnet prefixes or `bcrt1`).
pub fn parse_address(address: &str) -> Result<ScriptBuf, AddressError> {
    let unchecked: Address<bitcoin::address::NetworkUnchecked> =
        address.parse().map_err(|_| AddressError::Malformed)?;
    let checked = unchecked
        .require_network(Network::Regtest)
        .map_err(|_| AddressError::WrongNetwork)?;
    Ok(checked.script_pubkey())
}

/// Whether the request names the canister's network; the canister traps if not.
pub fn check_network(network: NetworkInRequest) -> Result<(), CallFailure> {
    match ic_btc_interface::Network::from(network) {
        ic_btc_interface::Network::Regtest => Ok(()),
        other => Err(CallFailure::Trap(format!(
            "Network must be regtest. Found {other}"
        ))),
    }
}

fn public_utxo(utxo: &ChainUtxo) -> Utxo {
    Utxo {
        outpoint: ic_btc_interface::OutPoint {
            txid: utxo.outpoint.txid.to_byte_array().into(),
            vout: utxo.outpoint.vout,
        },
        value: utxo.value.to_sat(),
        height: utxo.height,
    }
}

/// The canister's nearest-rank percentiles, 0th to 100th.
pub fn percentiles(mut values: Vec<u64>) -> Vec<u64> {
    if values.is_empty() {
        return Vec::new();
    }
    values.sort_unstable();
    let n = values.len();
    (0..=100usize)
        .map(|p| values[(p * n).div_ceil(100).saturating_sub(1)])
        .collect()
}

/// The `next_page` token: the tip the listing is pinned to, then the first
/// UTXO of the next page (height, txid, vout), as the canister's `Page`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PageToken {
    tip: BlockHash,
    height: u32,
    outpoint: OutPoint,
}

const PAGE_TOKEN_LEN: usize = 32 + 4 + 32 + 4;

impl PageToken {
    fn at(tip: BlockHash, next: &ChainUtxo) -> Self {
        PageToken {
            tip,
            height: next.height,
            outpoint: next.outpoint,
        }
    }

    /// Where the next page starts in the listing's order.
    fn order(&self) -> (std::cmp::Reverse<u32>, [u8; 32], u32) {
        (
            std::cmp::Reverse(self.height),
            self.outpoint.txid.to_byte_array(),
            self.outpoint.vout,
        )
    }

    fn encode(&self) -> Vec<u8> {
        let mut bytes = self.tip.to_byte_array().to_vec();
        bytes.extend_from_slice(&self.height.to_be_bytes());
        bytes.extend_from_slice(&self.outpoint.txid.to_byte_array());
        bytes.extend_from_slice(&self.outpoint.vout.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != PAGE_TOKEN_LEN {
            return Err(format!(
                "Could not parse page: expected {PAGE_TOKEN_LEN} bytes, got {}",
                bytes.len()
            ));
        }
        let array32 =
            |at: usize| -> [u8; 32] { bytes[at..at + 32].try_into().expect("length checked") };
        let u32_at =
            |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("length checked"));
        Ok(PageToken {
            tip: BlockHash::from_byte_array(array32(0)),
            height: u32_at(32),
            outpoint: OutPoint::new(Txid::from_byte_array(array32(36)), u32_at(68)),
        })
    }
}
