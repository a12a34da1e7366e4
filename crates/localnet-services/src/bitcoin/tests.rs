//! The simulator's rules, on transactions signed here with rust-bitcoin's secp256k1.

use super::canister::{percentiles, BitcoinCanister, MAX_UTXOS_PER_RESPONSE};
use super::chain::regtest_subsidy;
use super::mempool::{SendError, Submitted};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute::LockTime, ecdsa, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use ic_btc_interface::{
    GetBalanceError, GetBalanceRequest, GetBlockHeadersRequest, GetCurrentFeePercentilesRequest,
    GetUtxosError, GetUtxosRequest, GetUtxosResponse, NetworkInRequest, SendTransactionRequest,
    UtxosFilterInRequest,
};

const TIME: u32 = 1_735_689_600;

struct Key {
    secret: SecretKey,
    public: CompressedPublicKey,
}

impl Key {
    fn new(byte: u8) -> Self {
        let secret = SecretKey::from_slice(&[byte; 32]).unwrap();
        let public = CompressedPublicKey(secret.public_key(&Secp256k1::new()));
        Key { secret, public }
    }

    fn address(&self) -> Address {
        Address::p2wpkh(&self.public, Network::Regtest)
    }

    fn script(&self) -> ScriptBuf {
        self.address().script_pubkey()
    }
}

/// Signs input `index` as a P2WPKH spend of `value` by `key`.
fn sign(tx: &mut Transaction, index: usize, key: &Key, spent_script: &ScriptBuf, value: Amount) {
    let sighash = SighashCache::new(&*tx)
        .p2wpkh_signature_hash(index, spent_script, value, EcdsaSighashType::All)
        .unwrap();
    let signature =
        Secp256k1::new().sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &key.secret);
    let signature = ecdsa::Signature {
        signature,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[index].witness = Witness::p2wpkh(&signature, &key.public.0);
}

fn unsigned(inputs: &[OutPoint], sequence: Sequence, outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|o| TxIn {
                previous_output: *o,
                script_sig: ScriptBuf::new(),
                sequence,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

fn pay(script: &ScriptBuf, sats: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(sats),
        script_pubkey: script.clone(),
    }
}

fn send(btc: &mut BitcoinCanister, tx: &Transaction) -> Result<Submitted, SendError> {
    btc.send_transaction(SendTransactionRequest {
        transaction: serialize(tx),
        network: NetworkInRequest::Regtest,
    })
}

/// A canister whose chain paid one coinbase of 50 BTC to `key`; returns that outpoint.
fn funded(key: &Key) -> (BitcoinCanister, OutPoint) {
    let mut btc = BitcoinCanister::new([9; 32]);
    btc.mine_blocks(1, &key.script(), TIME);
    let coinbase = btc.chain().tip().txdata[0].compute_txid();
    (btc, OutPoint::new(coinbase, 0))
}

/// A signed spend of the 50 BTC coinbase paying `sats` to `to`, the rest as fee.
fn spend_coinbase(
    key: &Key,
    signer: &Key,
    coinbase: OutPoint,
    to: &ScriptBuf,
    sats: u64,
    sequence: Sequence,
) -> Transaction {
    let mut tx = unsigned(&[coinbase], sequence, vec![pay(to, sats)]);
    sign(&mut tx, 0, signer, &key.script(), regtest_subsidy(1));
    tx
}

fn utxos(
    btc: &BitcoinCanister,
    address: &Address,
    filter: Option<UtxosFilterInRequest>,
) -> Result<GetUtxosResponse, GetUtxosError> {
    btc.get_utxos(GetUtxosRequest {
        address: address.to_string(),
        network: NetworkInRequest::Regtest,
        filter,
    })
}

const FIFTY_BTC: u64 = 5_000_000_000;

#[test]
fn consensus_accepts_the_owners_p2wpkh_signature_and_refuses_another_key() {
    let (owner, thief, to) = (Key::new(1), Key::new(2), Key::new(3));
    let (mut btc, coinbase) = funded(&owner);
    let forged = spend_coinbase(
        &owner,
        &thief,
        coinbase,
        &to.script(),
        FIFTY_BTC - 10_000,
        Sequence::MAX,
    );
    assert!(matches!(
        send(&mut btc, &forged),
        Err(SendError::ScriptVerification { input: 0, .. })
    ));
    let genuine = spend_coinbase(
        &owner,
        &owner,
        coinbase,
        &to.script(),
        FIFTY_BTC - 10_000,
        Sequence::MAX,
    );
    let txid = genuine.compute_txid();
    assert_eq!(
        send(&mut btc, &genuine),
        Ok(Submitted::Accepted {
            txid,
            replaced: vec![]
        })
    );
    assert_eq!(
        btc.mempool().get(&txid).unwrap().fee,
        Amount::from_sat(10_000)
    );
}

#[test]
fn consensus_refuses_a_signature_over_the_wrong_amount() {
    let (owner, to) = (Key::new(1), Key::new(3));
    let (mut btc, coinbase) = funded(&owner);
    let mut tx = unsigned(
        &[coinbase],
        Sequence::MAX,
        vec![pay(&to.script(), FIFTY_BTC - 10_000)],
    );
    sign(
        &mut tx,
        0,
        &owner,
        &owner.script(),
        Amount::from_sat(FIFTY_BTC - 1),
    ); // BIP143 commits to the amount
    assert!(matches!(
        send(&mut btc, &tx),
        Err(SendError::ScriptVerification { .. })
    ));
}

#[test]
fn double_spends_are_refused_against_mempool_and_chain() {
    let (owner, a, b) = (Key::new(1), Key::new(4), Key::new(5));
    let (mut btc, coinbase) = funded(&owner);
    let first = spend_coinbase(
        &owner,
        &owner,
        coinbase,
        &a.script(),
        FIFTY_BTC - 10_000,
        Sequence::MAX,
    );
    send(&mut btc, &first).unwrap();
    let second = spend_coinbase(
        &owner,
        &owner,
        coinbase,
        &b.script(),
        FIFTY_BTC - 20_000,
        Sequence::MAX,
    );
    let first_txid = first.compute_txid();
    assert_eq!(
        send(&mut btc, &second),
        Err(SendError::ConflictNotReplaceable {
            conflict: first_txid
        })
    );
    // resubmitting the same transaction changes nothing, as on the IC
    assert_eq!(
        send(&mut btc, &first),
        Ok(Submitted::AlreadyKnown { txid: first_txid })
    );
    btc.mine_blocks(1, &a.script(), TIME);
    assert!(btc.mempool().is_empty());
    assert_eq!(
        send(&mut btc, &second),
        Err(SendError::MissingOrSpent {
            input: 0,
            outpoint: coinbase
        })
    );
}

#[test]
fn replace_by_fee_follows_bip125() {
    let (owner, a) = (Key::new(1), Key::new(4));
    let (mut btc, coinbase) = funded(&owner);
    let rbf = Sequence::ENABLE_RBF_NO_LOCKTIME;
    let original = spend_coinbase(
        &owner,
        &owner,
        coinbase,
        &a.script(),
        FIFTY_BTC - 1_000,
        rbf,
    );
    send(&mut btc, &original).unwrap();
    // a child of the original, evicted with it
    let mut child = unsigned(
        &[OutPoint::new(original.compute_txid(), 0)],
        rbf,
        vec![pay(&owner.script(), FIFTY_BTC - 2_000)],
    );
    sign(
        &mut child,
        0,
        &a,
        &a.script(),
        Amount::from_sat(FIFTY_BTC - 1_000),
    );
    send(&mut btc, &child).unwrap();
    // pays more than the original alone, but not the child's fee too
    let too_cheap = spend_coinbase(
        &owner,
        &owner,
        coinbase,
        &a.script(),
        FIFTY_BTC - 1_500,
        rbf,
    );
    assert!(matches!(
        send(&mut btc, &too_cheap),
        Err(SendError::InsufficientReplacementFee { .. })
    ));
    let replacement = spend_coinbase(
        &owner,
        &owner,
        coinbase,
        &a.script(),
        FIFTY_BTC - 5_000,
        rbf,
    );
    let replaced = vec![original.compute_txid(), child.compute_txid()]
        .into_iter()
        .collect::<std::collections::BTreeSet<Txid>>();
    match send(&mut btc, &replacement).unwrap() {
        Submitted::Accepted {
            replaced: actual, ..
        } => assert_eq!(
            actual
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>(),
            replaced
        ),
        other => panic!("not accepted: {other:?}"),
    }
    let mempool: Vec<Txid> = btc
        .mempool()
        .entries()
        .iter()
        .map(|e| e.tx.compute_txid())
        .collect();
    assert_eq!(mempool, vec![replacement.compute_txid()]);
}

#[test]
fn invalid_and_non_standard_transactions_are_refused() {
    let (owner, a) = (Key::new(1), Key::new(4));
    let (mut btc, coinbase) = funded(&owner);
    let refused = |btc: &mut BitcoinCanister, outputs: Vec<TxOut>| {
        let mut tx = unsigned(&[coinbase], Sequence::MAX, outputs);
        sign(&mut tx, 0, &owner, &owner.script(), regtest_subsidy(1));
        send(btc, &tx).unwrap_err()
    };
    assert!(matches!(
        refused(&mut btc, vec![pay(&a.script(), 293)]),
        SendError::Dust { threshold: 294, .. }
    ));
    let op_true = ScriptBuf::from_bytes(vec![0x51]);
    assert!(matches!(
        refused(&mut btc, vec![pay(&op_true, 10_000)]),
        SendError::NonStandard(_)
    ));
    assert!(matches!(
        refused(&mut btc, vec![pay(&a.script(), FIFTY_BTC + 1)]),
        SendError::InputsBelowOutputs { .. }
    ));
    assert!(matches!(
        refused(&mut btc, vec![pay(&a.script(), FIFTY_BTC)]),
        SendError::MinRelayFeeNotMet { fee: 0, .. }
    ));
    let missing = OutPoint::new(Txid::from_byte_array([7; 32]), 0);
    let mut tx = unsigned(&[missing], Sequence::MAX, vec![pay(&a.script(), 10_000)]);
    sign(
        &mut tx,
        0,
        &owner,
        &owner.script(),
        Amount::from_sat(20_000),
    );
    assert_eq!(
        send(&mut btc, &tx),
        Err(SendError::MissingOrSpent {
            input: 0,
            outpoint: missing
        })
    );
    let malformed = SendTransactionRequest {
        transaction: vec![1, 2, 3],
        network: NetworkInRequest::Regtest,
    };
    assert!(matches!(
        btc.send_transaction(malformed),
        Err(SendError::Malformed(_))
    ));
}

#[test]
fn utxos_are_paged_by_1000_and_pages_stay_on_their_tip() {
    let (owner, many) = (Key::new(1), Key::new(6));
    let (mut btc, coinbase) = funded(&owner);
    let outputs = (0..2_500).map(|_| pay(&many.script(), 10_000)).collect();
    let mut tx = unsigned(&[coinbase], Sequence::MAX, outputs);
    sign(&mut tx, 0, &owner, &owner.script(), regtest_subsidy(1));
    send(&mut btc, &tx).unwrap();
    btc.mine_blocks(1, &owner.script(), TIME);
    let first = utxos(&btc, &many.address(), None).unwrap();
    assert_eq!(
        (first.utxos.len(), first.tip_height),
        (MAX_UTXOS_PER_RESPONSE, 2)
    );
    // a new block after the first page does not change the listing
    btc.mine_blocks(1, &many.script(), TIME);
    let second = utxos(
        &btc,
        &many.address(),
        Some(UtxosFilterInRequest::Page(first.next_page.clone().unwrap())),
    )
    .unwrap();
    let third = utxos(
        &btc,
        &many.address(),
        Some(UtxosFilterInRequest::page(
            second.next_page.clone().unwrap(),
        )),
    )
    .unwrap();
    assert_eq!(
        (
            second.utxos.len(),
            third.utxos.len(),
            third.next_page.clone()
        ),
        (1_000, 500, None)
    );
    assert_eq!(
        (second.tip_block_hash.clone(), third.tip_height),
        (first.tip_block_hash.clone(), 2)
    );
    let mut all: Vec<_> = [first.utxos, second.utxos, third.utxos]
        .concat()
        .into_iter()
        .map(|u| u.outpoint)
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2_500);
    let bad = utxos(
        &btc,
        &many.address(),
        Some(UtxosFilterInRequest::Page(vec![1, 2, 3].into())),
    );
    assert!(matches!(bad, Err(GetUtxosError::MalformedPage { .. })));
}

#[test]
fn min_confirmations_count_the_tip_block_as_one() {
    let (owner, other) = (Key::new(1), Key::new(7));
    let (mut btc, _) = funded(&owner); // coinbase at height 1
    btc.mine_blocks(2, &other.script(), TIME); // tip 3: the coinbase has 3 confirmations
    let with = |min| {
        utxos(
            &btc,
            &owner.address(),
            Some(UtxosFilterInRequest::MinConfirmations(min)),
        )
    };
    assert_eq!(with(3).unwrap().utxos.len(), 1);
    assert_eq!(with(3).unwrap().tip_height, 1);
    assert_eq!(with(4).unwrap().utxos.len(), 0);
    assert_eq!(
        with(5),
        Err(GetUtxosError::MinConfirmationsTooLarge { given: 5, max: 4 })
    );
    let balance = |min| {
        btc.get_balance(GetBalanceRequest {
            address: owner.address().to_string(),
            network: NetworkInRequest::Regtest,
            min_confirmations: min,
        })
    };
    assert_eq!(balance(None), Ok(FIFTY_BTC));
    assert_eq!(balance(Some(4)), Ok(0));
    assert_eq!(
        balance(Some(5)),
        Err(GetBalanceError::MinConfirmationsTooLarge { given: 5, max: 4 })
    );
}

#[test]
fn addresses_must_be_regtest() {
    let btc = BitcoinCanister::new([0; 32]);
    let mainnet = Address::p2wpkh(&Key::new(1).public, Network::Bitcoin).to_string();
    let request = |address: &str| GetUtxosRequest {
        address: address.into(),
        network: NetworkInRequest::Regtest,
        filter: None,
    };
    assert!(matches!(
        btc.get_utxos(request(&mainnet)),
        Err(GetUtxosError::AddressForWrongNetwork { .. })
    ));
    assert_eq!(
        btc.get_utxos(request("not an address")),
        Err(GetUtxosError::MalformedAddress)
    );
}

#[test]
fn the_wallet_pays_with_transactions_that_pass_consensus_and_confirm() {
    let to = Key::new(8);
    let mut btc = BitcoinCanister::new([3; 32]);
    let txid = btc
        .send_to(&to.address().to_string(), Amount::from_sat(123_456), TIME)
        .unwrap();
    assert_eq!(
        btc.chain().tip_height(),
        1,
        "one empty block funded the wallet"
    );
    assert_eq!(btc.transaction(&txid).unwrap().1, None);
    assert!(
        btc.utxos(&to.address().to_string()).unwrap().is_empty(),
        "a mempool payment has no confirmations"
    );
    btc.mine_blocks(1, &to.script(), TIME);
    let paid = btc.utxos(&to.address().to_string()).unwrap();
    assert!(paid.iter().any(|u| u.value == 123_456 && u.height == 2));
    assert_eq!(btc.transaction(&txid).unwrap().1, Some(2));
    let mut twin = BitcoinCanister::new([3; 32]);
    assert_eq!(
        twin.send_to(&to.address().to_string(), Amount::from_sat(123_456), TIME)
            .unwrap(),
        txid,
        "deterministic from the seed"
    );
}

#[test]
fn fee_percentiles_come_from_confirmed_transactions_or_the_test() {
    let to = Key::new(8);
    let mut btc = BitcoinCanister::new([3; 32]);
    let request = || GetCurrentFeePercentilesRequest {
        network: NetworkInRequest::Regtest,
    };
    assert!(btc.get_current_fee_percentiles(request()).is_empty());
    btc.send_to(&to.address().to_string(), Amount::from_sat(50_000), TIME)
        .unwrap();
    btc.mine_blocks(1, &to.script(), TIME);
    let computed = btc.get_current_fee_percentiles(request());
    assert_eq!(computed.len(), 101);
    assert!(
        computed.iter().all(|rate| (2_000..2_100).contains(rate)),
        "the wallet pays about 2 sat/vB: {computed:?}"
    );
    let fixed: Vec<u64> = (0..=100).map(|p| 1_000 + p * 10).collect();
    btc.set_fee_percentiles(Some(fixed.clone())).unwrap();
    assert_eq!(btc.get_current_fee_percentiles(request()), fixed);
    assert!(btc.set_fee_percentiles(Some(vec![1, 2])).is_err());
}

#[test]
fn percentiles_use_the_nearest_rank() {
    let p = percentiles(vec![50, 15, 40, 20, 35]);
    assert_eq!(
        (&p[0..21], &p[21..41], &p[81..101]),
        (&[15; 21][..], &[20; 20][..], &[50; 20][..])
    );
}

#[test]
fn block_headers_chain_with_regtest_proof_of_work() {
    let mut btc = BitcoinCanister::new([0; 32]);
    let hashes = btc.mine_blocks(3, &Key::new(1).script(), TIME);
    let response = btc
        .get_block_headers(GetBlockHeadersRequest {
            start_height: 1,
            end_height: None,
            network: NetworkInRequest::Regtest,
        })
        .unwrap();
    assert_eq!(response.tip_height, 3);
    let headers: Vec<bitcoin::block::Header> = response
        .block_headers
        .iter()
        .map(|h| deserialize(h).unwrap())
        .collect();
    assert_eq!(
        headers.iter().map(|h| h.block_hash()).collect::<Vec<_>>(),
        hashes
    );
    for pair in headers.windows(2) {
        assert_eq!(pair[1].prev_blockhash, pair[0].block_hash());
    }
    assert!(headers.iter().all(|h| h.validate_pow(h.target()).is_ok()));
    let beyond = GetBlockHeadersRequest {
        start_height: 4,
        end_height: None,
        network: NetworkInRequest::Regtest,
    };
    assert!(btc.get_block_headers(beyond).is_err());
}
