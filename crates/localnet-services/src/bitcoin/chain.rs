//! The regtest chain: blocks and every confirmed output.
//!
//! Each output is kept with the height it was created at and, once spent, the
//! height of the spending block. The UTXO set as of any height is then a filter,
//! which is what the Bitcoin canister needs: with `min_confirmations = c` it
//! answers from the chain as of `tip - c + 1`, and a page token pins the tip
//! the first page was computed at.

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::OP_PUSHBYTES_0;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute::LockTime, Amount, Block, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use std::collections::HashMap;

/// Regtest halves the block subsidy every 150 blocks (mainnet: 210,000).
pub const REGTEST_SUBSIDY_HALVING_INTERVAL: u32 = 150;
/// The subsidy of the first halving period: 50 BTC, as on every network.
pub const INITIAL_SUBSIDY_SATS: u64 = 50 * 100_000_000;
/// Regtest's proof-of-work limit in compact form (`powLimit`, `0x207fffff`).
const REGTEST_BITS: u32 = 0x207f_ffff;
/// BIP9 "top bits" version, as bitcoind's block template uses.
const BLOCK_VERSION: i32 = 0x2000_0000;
/// BIP141: the coinbase witness holds a 32-byte reserved value, zero by convention.
const WITNESS_RESERVED_VALUE: [u8; 32] = [0; 32];
/// BIP141: the witness commitment output starts with this header after OP_RETURN.
const WITNESS_COMMITMENT_HEADER: [u8; 4] = [0xaa, 0x21, 0xa9, 0xed];

/// A confirmed output and where it is in the chain's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputRecord {
    /// The output.
    pub txout: TxOut,
    /// The height of the block that created it.
    pub height: u32,
    /// The height of the block that spent it, if any.
    pub spent_at: Option<u32>,
}

impl OutputRecord {
    /// Whether the output is in the UTXO set of the chain as of `height`.
    pub fn unspent_at(&self, height: u32) -> bool {
        self.height <= height && self.spent_at.is_none_or(|spent| spent > height)
    }
}

/// An unspent output of an address, as the canister lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainUtxo {
    /// Where the output is.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: Amount,
    /// The height of the block that created it.
    pub height: u32,
}

/// The subsidy of a regtest block at `height`.
pub fn regtest_subsidy(height: u32) -> Amount {
    let halvings = height / REGTEST_SUBSIDY_HALVING_INTERVAL;
    Amount::from_sat(INITIAL_SUBSIDY_SATS.checked_shr(halvings).unwrap_or(0))
}

/// The best (and only) chain, from regtest's genesis block.
pub struct Chain {
    blocks: Vec<Block>,
    heights: HashMap<BlockHash, u32>,
    outputs: HashMap<OutPoint, OutputRecord>,
    by_script: HashMap<ScriptBuf, Vec<OutPoint>>,
    tx_heights: HashMap<Txid, (u32, usize)>,
}

impl Default for Chain {
    fn default() -> Self {
        Self::regtest()
    }
}

impl Chain {
    /// A chain holding only regtest's genesis block (whose output, as in
    /// Bitcoin, is not spendable and so not in the UTXO set).
    pub fn regtest() -> Self {
        let genesis = genesis_block(Network::Regtest);
        let mut chain = Chain {
            heights: HashMap::from([(genesis.block_hash(), 0)]),
            blocks: vec![genesis],
            outputs: HashMap::new(),
            by_script: HashMap::new(),
            tx_heights: HashMap::new(),
        };
        chain
            .tx_heights
            .insert(chain.blocks[0].txdata[0].compute_txid(), (0, 0));
        chain
    }

    /// The height of the newest block (genesis is 0).
    pub fn tip_height(&self) -> u32 {
        (self.blocks.len() - 1) as u32
    }

    /// The newest block.
    pub fn tip(&self) -> &Block {
        self.blocks.last().expect("the chain always holds genesis")
    }

    /// The block at `height`.
    pub fn block(&self, height: u32) -> Option<&Block> {
        self.blocks.get(height as usize)
    }

    /// The height of the block with this hash.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.heights.get(hash).copied()
    }

    /// A confirmed output, spent or not.
    pub fn output(&self, outpoint: &OutPoint) -> Option<&OutputRecord> {
        self.outputs.get(outpoint)
    }

    /// An output in the UTXO set at the tip.
    pub fn unspent_output(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.outputs
            .get(outpoint)
            .filter(|o| o.spent_at.is_none())
            .map(|o| &o.txout)
    }

    /// A confirmed transaction and the height of its block.
    pub fn transaction(&self, txid: &Txid) -> Option<(&Transaction, u32)> {
        let (height, index) = *self.tx_heights.get(txid)?;
        Some((&self.blocks[height as usize].txdata[index], height))
    }

    /// The UTXOs paying `script` in the chain as of `height`, newest first
    /// (descending height, then by outpoint), the canister's order.
    pub fn utxos_at(&self, script: &ScriptBuf, height: u32) -> Vec<ChainUtxo> {
        let mut utxos: Vec<ChainUtxo> = self
            .by_script
            .get(script)
            .into_iter()
            .flatten()
            .filter_map(|outpoint| {
                let record = &self.outputs[outpoint];
                record.unspent_at(height).then_some(ChainUtxo {
                    outpoint: *outpoint,
                    value: record.txout.value,
                    height: record.height,
                })
            })
            .collect();
        utxos.sort_by_key(utxo_order);
        utxos
    }

    /// Appends a block: a coinbase paying the subsidy plus `fees` to
    /// `reward_script`, then `transactions` (already validated, parents first).
    /// Its header carries real regtest proof of work.
    pub fn mine_block(
        &mut self,
        transactions: Vec<Transaction>,
        fees: Amount,
        reward_script: ScriptBuf,
        time: u32,
    ) -> BlockHash {
        let height = self.tip_height() + 1;
        let coinbase = coinbase(height, regtest_subsidy(height) + fees, reward_script);
        let mut block = Block {
            header: self.next_header(time),
            txdata: std::iter::once(coinbase).chain(transactions).collect(),
        };
        add_witness_commitment(&mut block);
        block.header.merkle_root = block
            .compute_merkle_root()
            .unwrap_or_else(TxMerkleNode::all_zeros);
        grind_proof_of_work(&mut block.header);
        let hash = block.block_hash();
        self.index_block(&block, height);
        self.heights.insert(hash, height);
        self.blocks.push(block);
        hash
    }

    fn next_header(&self, time: u32) -> Header {
        let tip = self.tip();
        Header {
            version: BlockVersion::from_consensus(BLOCK_VERSION),
            prev_blockhash: tip.block_hash(),
            merkle_root: TxMerkleNode::all_zeros(),
            // Block times must increase past the median of the last blocks; a
            // strictly increasing time satisfies that whatever the net's clock says.
            time: time.max(tip.header.time + 1),
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        }
    }

    fn index_block(&mut self, block: &Block, height: u32) {
        for (index, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            self.tx_heights.insert(txid, (height, index));
            if !tx.is_coinbase() {
                for input in &tx.input {
                    if let Some(spent) = self.outputs.get_mut(&input.previous_output) {
                        spent.spent_at = Some(height);
                    }
                }
            }
            for (vout, txout) in tx.output.iter().enumerate() {
                if txout.script_pubkey.is_op_return() {
                    continue; // provably unspendable: never in the UTXO set
                }
                let outpoint = OutPoint::new(txid, vout as u32);
                self.by_script
                    .entry(txout.script_pubkey.clone())
                    .or_default()
                    .push(outpoint);
                self.outputs.insert(
                    outpoint,
                    OutputRecord {
                        txout: txout.clone(),
                        height,
                        spent_at: None,
                    },
                );
            }
        }
    }

    /// Number of outputs in the UTXO set at the tip.
    pub fn utxo_count(&self) -> u64 {
        self.outputs
            .values()
            .filter(|o| o.spent_at.is_none())
            .count() as u64
    }
}

/// The canister's listing order: newest first, then by outpoint.
pub(crate) fn utxo_order(utxo: &ChainUtxo) -> (std::cmp::Reverse<u32>, [u8; 32], u32) {
    (
        std::cmp::Reverse(utxo.height),
        utxo.outpoint.txid.to_byte_array(),
        utxo.outpoint.vout,
    )
}

/// A coinbase as bitcoind builds it: BIP34 height in the script sig, the
/// witness reserved value in its witness.
fn coinbase(height: u32, value: Amount, reward_script: ScriptBuf) -> Transaction {
    let script_sig = Builder::new()
        .push_int(i64::from(height))
        .push_opcode(OP_PUSHBYTES_0)
        .into_script();
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[WITNESS_RESERVED_VALUE]),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: reward_script,
        }],
    }
}

/// BIP141: an OP_RETURN output in the coinbase commits to the witness merkle root.
fn add_witness_commitment(block: &mut Block) {
    let Some(witness_root) = block.witness_root() else {
        return;
    };
    let commitment = Block::compute_witness_commitment(&witness_root, &WITNESS_RESERVED_VALUE);
    let mut payload = WITNESS_COMMITMENT_HEADER.to_vec();
    payload.extend_from_slice(commitment.as_byte_array());
    let payload = PushBytesBuf::try_from(payload).expect("36 bytes fit a push");
    block.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::new_op_return(payload),
    });
}

/// Regtest's target is so easy that about every second nonce meets it.
fn grind_proof_of_work(header: &mut Header) {
    while header.validate_pow(header.target()).is_err() {
        header.nonce += 1;
    }
}
