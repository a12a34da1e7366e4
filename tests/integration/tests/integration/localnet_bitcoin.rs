//! The Bitcoin canister (regtest) on localnet, called from a canister with the
//! cycles `ic-cdk-bitcoin-canister` 0.2 attaches: replies, rejects, trap on too
//! few cycles, refunds, and transactions checked by Bitcoin Core's consensus code.

use candid::{CandidType, Principal};
use localnet::localnet_services::bitcoin::interface::{
    BlockchainInfo, GetBalanceRequest, GetBlockHeadersRequest, GetCurrentFeePercentilesRequest,
    GetUtxosRequest, GetUtxosResponse, NetworkInRequest, SendTransactionRequest,
    UtxosFilterInRequest,
};
use localnet::localnet_services::bitcoin::rust_bitcoin::{
    self as bitcoin, absolute::LockTime, consensus::serialize, ecdsa, hashes::Hash, secp256k1,
    sighash, transaction::Version, Address, Amount, CompressedPublicKey, Network, OutPoint,
    ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use localnet::{bitcoin_canister_id, LocalNet};
use serde_bytes::ByteBuf;
use tensormine_integration_tests::*;

const GET_UTXOS_CYCLES: u128 = 10_000_000_000;
const GET_UTXOS_FEE: u128 = 50_000_000;
const GET_BALANCE_CYCLES: u128 = 100_000_000;
const FEE_PERCENTILES_CYCLES: u128 = 100_000_000;
const GET_BLOCK_HEADERS_CYCLES: u128 = 10_000_000_000;
const CANISTER_REJECT: u32 = 4;
const CANISTER_ERROR: u32 = 5;

/// A key the test holds, with its regtest P2WPKH address.
struct Key {
    secret: secp256k1::SecretKey,
    public: CompressedPublicKey,
}

impl Key {
    fn new(byte: u8) -> Self {
        let secret = secp256k1::SecretKey::from_slice(&[byte; 32]).unwrap();
        let public = CompressedPublicKey(secret.public_key(&secp256k1::Secp256k1::new()));
        Key { secret, public }
    }

    fn address(&self) -> String {
        Address::p2wpkh(&self.public, Network::Regtest).to_string()
    }

    fn script(&self) -> ScriptBuf {
        Address::p2wpkh(&self.public, Network::Regtest).script_pubkey()
    }

    /// A transaction spending `utxo` (worth `value`) to `to`, signed by this key.
    fn spend(&self, utxo: OutPoint, value: u64, to: &ScriptBuf, amount: u64) -> Transaction {
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: utxo,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(amount),
                script_pubkey: to.clone(),
            }],
        };
        let hash = sighash::SighashCache::new(&tx)
            .p2wpkh_signature_hash(
                0,
                &self.script(),
                Amount::from_sat(value),
                sighash::EcdsaSighashType::All,
            )
            .unwrap();
        let message = secp256k1::Message::from_digest(hash.to_byte_array());
        let signature = secp256k1::Secp256k1::new().sign_ecdsa(&message, &self.secret);
        let signature = ecdsa::Signature {
            signature,
            sighash_type: sighash::EcdsaSighashType::All,
        };
        tx.input[0].witness = Witness::p2wpkh(&signature, &self.public.0);
        tx
    }
}

/// The conformance canister calls the Bitcoin canister with `cycles` attached.
fn call_bitcoin<A: CandidType>(
    net: &mut LocalNet,
    canister: Principal,
    method: &str,
    arg: A,
    cycles: u128,
) -> CyclesCallReply {
    let arg = ByteBuf::from(candid::encode_one(arg).unwrap());
    update(
        net,
        canister,
        "call_with_cycles",
        (bitcoin_canister_id(), method, arg, cycles),
    )
}

fn reply<T: CandidType + for<'de> serde::Deserialize<'de>>(reply: &CyclesCallReply) -> T {
    let bytes = reply
        .result
        .as_ref()
        .unwrap_or_else(|reject| panic!("rejected: {reject:?}"));
    candid::decode_one(bytes).unwrap()
}

fn rejected(reply: &CyclesCallReply) -> &RejectInfo {
    reply
        .result
        .as_ref()
        .err()
        .unwrap_or_else(|| panic!("replied, but should be rejected"))
}

fn utxos_request(address: &str, filter: Option<UtxosFilterInRequest>) -> GetUtxosRequest {
    GetUtxosRequest {
        address: address.into(),
        network: NetworkInRequest::Regtest,
        filter,
    }
}

fn send_cost(tx: &[u8]) -> u128 {
    5_000_000_000 + 20_000_000 * tx.len() as u128
}

#[test]
fn a_deposit_is_listed_after_it_is_mined_and_the_fee_is_kept() {
    let (mut net, canister) = net_with_conformance();
    let me = Key::new(11);
    net.bitcoin_send_to(&me.address(), 250_000).unwrap();
    let unconfirmed = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_utxos",
        utxos_request(&me.address(), None),
        GET_UTXOS_CYCLES,
    );
    assert!(
        reply::<GetUtxosResponse>(&unconfirmed).utxos.is_empty(),
        "mempool outputs are not UTXOs yet"
    );

    let blocks = net.bitcoin_mine_blocks(1, &Key::new(99).address()).unwrap();
    let listed = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_utxos",
        utxos_request(&me.address(), None),
        GET_UTXOS_CYCLES,
    );
    let response: GetUtxosResponse = reply(&listed);
    assert_eq!(listed.refunded, GET_UTXOS_CYCLES - GET_UTXOS_FEE);
    assert_eq!(response.utxos.len(), 1);
    assert_eq!(
        (response.utxos[0].value, response.utxos[0].height),
        (250_000, net.bitcoin_tip_height())
    );
    assert_eq!(
        (response.tip_height, response.tip_block_hash.clone()),
        (2, blocks[0].to_byte_array().to_vec())
    );

    let balance = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_balance",
        GetBalanceRequest {
            address: me.address(),
            network: NetworkInRequest::Regtest,
            min_confirmations: Some(2),
        },
        GET_BALANCE_CYCLES,
    );
    assert_eq!(
        reply::<u64>(&balance),
        0,
        "the deposit has one confirmation"
    );
}

#[test]
fn too_few_cycles_or_another_network_trap_and_refund_everything() {
    let (mut net, canister) = net_with_conformance();
    let short = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_utxos",
        utxos_request(&Key::new(1).address(), None),
        GET_UTXOS_CYCLES - 1,
    );
    let reject = rejected(&short);
    assert_eq!(reject.code, CANISTER_ERROR);
    assert!(
        reject
            .message
            .contains("Received 9999999999 cycles. 10000000000 cycles are required."),
        "{}",
        reject.message
    );
    assert_eq!(short.refunded, GET_UTXOS_CYCLES - 1);

    let mainnet = GetUtxosRequest {
        network: NetworkInRequest::Mainnet,
        ..utxos_request(&Key::new(1).address(), None)
    };
    let wrong = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_utxos",
        mainnet,
        GET_UTXOS_CYCLES,
    );
    assert_eq!(rejected(&wrong).code, CANISTER_ERROR);
    assert!(rejected(&wrong)
        .message
        .contains("Network must be regtest. Found mainnet"));
    assert_eq!(wrong.refunded, GET_UTXOS_CYCLES);
}

#[test]
fn min_confirmations_above_the_chain_are_rejected_with_the_canisters_error() {
    let (mut net, canister) = net_with_conformance();
    net.bitcoin_mine_blocks(2, &Key::new(1).address()).unwrap();
    let request = utxos_request(
        &Key::new(1).address(),
        Some(UtxosFilterInRequest::MinConfirmations(4)),
    );
    let too_many = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_utxos",
        request,
        GET_UTXOS_CYCLES,
    );
    assert_eq!(
        rejected(&too_many),
        &RejectInfo {
            code: CANISTER_REJECT,
            message: "get_utxos failed: MinConfirmationsTooLarge { given: 4, max: 3 }".into()
        }
    );
    assert_eq!(
        too_many.refunded,
        GET_UTXOS_CYCLES - GET_UTXOS_FEE,
        "the fee is charged before the request is checked"
    );
}

#[test]
fn a_signed_spend_enters_the_mempool_and_a_double_spend_is_refused() {
    let (mut net, canister) = net_with_conformance();
    let (me, payee, other) = (Key::new(11), Key::new(12), Key::new(13));
    net.bitcoin_send_to(&me.address(), 500_000).unwrap();
    net.bitcoin_mine_blocks(1, &other.address()).unwrap();
    let utxo = net.bitcoin_utxos(&me.address()).unwrap().remove(0);
    let outpoint = OutPoint::new(
        Txid::from_byte_array(utxo.outpoint.txid.into()),
        utxo.outpoint.vout,
    );

    let tx = serialize(&me.spend(outpoint, utxo.value, &payee.script(), 490_000));
    let request = SendTransactionRequest {
        transaction: tx.clone(),
        network: NetworkInRequest::Regtest,
    };
    let sent = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_send_transaction",
        request,
        send_cost(&tx),
    );
    let () = reply(&sent);
    assert_eq!(sent.refunded, 0);
    let txid: Txid = bitcoin::consensus::deserialize::<Transaction>(&tx)
        .unwrap()
        .compute_txid();
    assert_eq!(
        net.bitcoin_mempool()
            .iter()
            .map(|e| e.tx.compute_txid())
            .collect::<Vec<_>>(),
        vec![txid]
    );

    let double = serialize(&me.spend(outpoint, utxo.value, &other.script(), 480_000));
    let request = SendTransactionRequest {
        transaction: double.clone(),
        network: NetworkInRequest::Regtest,
    };
    let refused = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_send_transaction",
        request,
        send_cost(&double),
    );
    assert_eq!(rejected(&refused).code, CANISTER_REJECT);
    assert!(
        rejected(&refused).message.contains("txn-mempool-conflict"),
        "{}",
        rejected(&refused).message
    );

    let forged = serialize(&other.spend(outpoint, utxo.value, &other.script(), 480_000));
    let request = SendTransactionRequest {
        transaction: forged.clone(),
        network: NetworkInRequest::Regtest,
    };
    net.bitcoin_mine_blocks(1, &other.address()).unwrap();
    let after_mining = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_send_transaction",
        request,
        send_cost(&forged),
    );
    assert!(rejected(&after_mining)
        .message
        .contains("bad-txns-inputs-missingorspent"));
    assert_eq!(
        net.bitcoin_transaction(&txid).unwrap().1,
        Some(net.bitcoin_tip_height())
    );

    let malformed = SendTransactionRequest {
        transaction: vec![1, 2, 3],
        network: NetworkInRequest::Regtest,
    };
    let bad = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_send_transaction",
        malformed,
        send_cost(&[1, 2, 3]),
    );
    assert_eq!(
        rejected(&bad).message,
        "send_transaction failed: MalformedTransaction"
    );
}

#[test]
fn a_wrongly_signed_spend_is_refused_by_consensus() {
    let (mut net, canister) = net_with_conformance();
    let (me, thief) = (Key::new(11), Key::new(14));
    net.bitcoin_mine_blocks(1, &me.address()).unwrap();
    let utxo = net.bitcoin_utxos(&me.address()).unwrap().remove(0);
    let outpoint = OutPoint::new(
        Txid::from_byte_array(utxo.outpoint.txid.into()),
        utxo.outpoint.vout,
    );
    let mut forged = me.spend(outpoint, utxo.value, &thief.script(), utxo.value - 10_000);
    forged.input[0].witness = thief
        .spend(outpoint, utxo.value, &thief.script(), utxo.value - 10_000)
        .input[0]
        .witness
        .clone();
    let bytes = serialize(&forged);
    let request = SendTransactionRequest {
        transaction: bytes.clone(),
        network: NetworkInRequest::Regtest,
    };
    let refused = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_send_transaction",
        request,
        send_cost(&bytes),
    );
    assert!(
        rejected(&refused)
            .message
            .contains("mandatory-script-verify-flag-failed"),
        "{}",
        rejected(&refused).message
    );
    assert!(net.bitcoin_mempool().is_empty());
}

#[test]
fn fee_percentiles_and_headers_come_through_the_canister() {
    let (mut net, canister) = net_with_conformance();
    let fixed: Vec<u64> = (0..=100).map(|p| 1_500 + 25 * p).collect();
    net.bitcoin_set_fee_percentiles(Some(fixed.clone()))
        .unwrap();
    let request = GetCurrentFeePercentilesRequest {
        network: NetworkInRequest::Regtest,
    };
    let fees = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_current_fee_percentiles",
        request,
        FEE_PERCENTILES_CYCLES,
    );
    assert_eq!(reply::<Vec<u64>>(&fees), fixed);

    let hashes = net.bitcoin_mine_blocks(3, &Key::new(1).address()).unwrap();
    let request = GetBlockHeadersRequest {
        start_height: 2,
        end_height: Some(3),
        network: NetworkInRequest::Regtest,
    };
    let headers = call_bitcoin(
        &mut net,
        canister,
        "bitcoin_get_block_headers",
        request,
        GET_BLOCK_HEADERS_CYCLES,
    );
    let response: localnet::localnet_services::bitcoin::interface::GetBlockHeadersResponse =
        reply(&headers);
    let decoded: Vec<bitcoin::BlockHash> = response
        .block_headers
        .iter()
        .map(|h| {
            bitcoin::consensus::deserialize::<bitcoin::block::Header>(h)
                .unwrap()
                .block_hash()
        })
        .collect();
    assert_eq!((response.tip_height, decoded), (3, hashes[1..].to_vec()));

    let (info,): (BlockchainInfo,) = net
        .update_candid(
            bitcoin_canister_id(),
            controller(),
            "get_blockchain_info",
            (),
        )
        .unwrap();
    assert_eq!(
        (info.height, info.block_hash),
        (3, hashes[2].to_byte_array().to_vec())
    );
}
