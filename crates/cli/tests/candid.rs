//! The CLI's client-side Candid types against the `.did` files, the contract:
//! for every method the CLI calls, the service's method must be a subtype of
//! the method as the CLI types describe it (what the CLI sends is accepted,
//! what the service answers decodes), and the CLI's install arguments must be
//! subtypes of the services' init arguments. Candid's special rule for `opt`
//! (anything is a subtype of `opt T`, decoding as `null`) is an error here: it
//! would let a wrong type pass and silently decode as absent.

use candid::types::internal::TypeContainer;
use candid::types::subtype::{subtype_with_config, OptReport};
use candid::types::{FuncMode, Function, Type, TypeInner};
use candid::{CandidType, Nat, Principal};
use candid_parser::utils::CandidSource;
use std::path::{Path, PathBuf};
use tensormine_cli::types::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A client's view of a service: the methods it calls and the init argument it sends.
struct Client {
    c: TypeContainer,
    methods: Vec<(String, Type)>,
    init: Option<Type>,
}

impl Client {
    fn new() -> Self {
        Self {
            c: TypeContainer::new(),
            methods: vec![],
            init: None,
        }
    }

    fn ty<T: CandidType>(&mut self) -> Type {
        self.c.add::<T>()
    }

    fn method(&mut self, name: &str, args: Vec<Type>, rets: Vec<Type>, query: bool) -> &mut Self {
        let f = Function {
            modes: if query { vec![FuncMode::Query] } else { vec![] },
            args,
            rets,
        };
        self.methods
            .push((name.to_string(), TypeInner::Func(f).into()));
        self
    }

    fn init<T: CandidType>(&mut self) -> &mut Self {
        self.init = Some(self.c.add::<T>());
        self
    }

    /// Checks `did` (the service) against this client.
    fn check(self, did: &Path) -> Result<(), String> {
        let (mut env, actor) = CandidSource::File(did)
            .load()
            .map_err(|e| format!("{}: {e}", did.display()))?;
        let actor = actor.ok_or("no service")?;
        let (did_init, did_service) = match actor.as_ref() {
            TypeInner::Class(args, service) => (args.clone(), service.clone()),
            _ => (vec![], actor.clone()),
        };
        let mut methods = self.methods;
        methods.sort_by(|a, b| a.0.cmp(&b.0));
        let service: Type = TypeInner::Service(methods).into();
        let client = TypeInner::Class(self.init.into_iter().collect(), service).into();
        let client = env.merge_type(self.c.env, client);
        let TypeInner::Class(client_init, client_service) = client.as_ref() else {
            unreachable!()
        };
        let mut gamma = std::collections::HashSet::new();
        subtype_with_config(
            OptReport::Error,
            &mut gamma,
            &env,
            &did_service,
            client_service,
        )
        .map_err(|e| format!("service is not a subtype of the client's view: {e}"))?;
        if let Some(init) = client_init.first() {
            let target = did_init
                .first()
                .ok_or("the service takes no init argument")?;
            subtype_with_config(OptReport::Error, &mut gamma, &env, init, target)
                .map_err(|e| format!("the client's init argument is not accepted: {e}"))?;
        }
        Ok(())
    }
}

fn escrow_client() -> Client {
    let mut c = Client::new();
    let (nat64, principal, text) = (c.ty::<u64>(), c.ty::<Principal>(), c.ty::<String>());
    let bond = c.ty::<Result<Balance, BondError>>();
    let balance = c.ty::<Balance>();
    let deposit = c.ty::<Result<DepositReceipt, DepositError>>();
    let address = c.ty::<Result<String, BtcAddressError>>();
    let opt_principal = c.ty::<Option<Principal>>();
    let btc_balance = c.ty::<Result<BtcBalanceUpdate, BtcBalanceError>>();
    let withdraw_btc = c.ty::<Result<BtcPayoutRequest, BtcWithdrawError>>();
    let account = c.ty::<Account>();
    let withdraw = c.ty::<Result<WithdrawalReceipt, WithdrawError>>();
    let config = c.ty::<EscrowConfig>();
    c.method("bond", vec![nat64.clone()], vec![bond.clone()], false)
        .method("unbond", vec![nat64.clone()], vec![bond.clone()], false)
        .method("claim_unbonded", vec![], vec![bond], false)
        .method("deposit_ckbtc", vec![nat64.clone()], vec![deposit], false)
        .method("get_balance", vec![principal], vec![balance], true)
        .method(
            "get_btc_deposit_address",
            vec![opt_principal],
            vec![address],
            false,
        )
        .method("update_btc_balance", vec![], vec![btc_balance], false)
        .method(
            "withdraw_btc",
            vec![text, nat64.clone()],
            vec![withdraw_btc],
            false,
        )
        .method(
            "withdraw_ckbtc",
            vec![nat64, account],
            vec![withdraw],
            false,
        )
        .method("get_config", vec![], vec![config], true)
        .init::<Option<EscrowArg>>();
    c
}

#[test]
fn escrow_types_match_escrow_did() {
    escrow_client()
        .check(&repo().join("candid/escrow.did"))
        .unwrap();
}

#[test]
fn registry_types_match_registry_did() {
    use tensormine_core::registry::{Capability, Miner, MinerProfile};
    let mut c = Client::new();
    let profile = c.ty::<MinerProfile>();
    let register = c.ty::<Result<Miner, RegisterError>>();
    let update = c.ty::<Result<Miner, UpdateError>>();
    let principal = c.ty::<Principal>();
    let miner = c.ty::<Option<Miner>>();
    let deregister = c.ty::<Result<(), DeregisterError>>();
    let challenge = c.ty::<Result<Capability, ChallengeError>>();
    c.method(
        "register_miner",
        vec![profile.clone()],
        vec![register],
        false,
    )
    .method("update_miner", vec![profile], vec![update], false)
    .method("get_miner", vec![principal], vec![miner], true)
    .method("deregister_miner", vec![], vec![deregister], false)
    .method("request_challenge", vec![], vec![challenge], false)
    .init::<Option<RegistryArg>>();
    c.check(&repo().join("candid/registry.did")).unwrap();
}

#[test]
fn ledger_types_match_ledger_did() {
    let mut c = Client::new();
    let account = c.ty::<Account>();
    let nat = c.ty::<Nat>();
    let approve = c.ty::<ApproveArgs>();
    let approve_r = c.ty::<Result<Nat, ApproveError>>();
    let transfer = c.ty::<TransferArg>();
    let transfer_r = c.ty::<Result<Nat, TransferError>>();
    c.method("icrc1_balance_of", vec![account], vec![nat.clone()], true)
        .method("icrc1_fee", vec![], vec![nat], true)
        .method("icrc2_approve", vec![approve], vec![approve_r], false)
        .method("icrc1_transfer", vec![transfer], vec![transfer_r], false)
        .init::<LedgerArg>();
    c.check(&repo().join("crates/localnet-icrc-ledger/ledger.did"))
        .unwrap();
}

/// The router's endpoints as the CLI calls them, with `tensormine_core::router` types.
#[test]
fn router_types_match_router_did() {
    use tensormine_core::router::*;
    let mut c = Client::new();
    let req = c.ty::<JobRequest>();
    let text = c.ty::<String>();
    let nat64 = c.ty::<u64>();
    let submit = c.ty::<Result<JobView, SubmitError>>();
    let quote = c.ty::<Result<Quote, QuoteError>>();
    let get = c.ty::<Result<JobView, GetJobError>>();
    let opt_text = c.ty::<Option<String>>();
    let nat32 = c.ty::<u32>();
    let list = c.ty::<Vec<JobView>>();
    let cancel = c.ty::<Result<JobView, CancelError>>();
    let result = c.ty::<Result<ResultChunk, ResultError>>();
    let receipt = c.ty::<Result<ReceiptProofView, ReceiptError>>();
    let key = c.ty::<Option<serde_bytes::ByteBuf>>();
    c.method("submit_job", vec![req.clone()], vec![submit], false)
        .method("quote", vec![req], vec![quote], true)
        .method("get_job", vec![text.clone()], vec![get], true)
        .method("list_jobs", vec![opt_text, nat32], vec![list], true)
        .method("cancel_job", vec![text.clone()], vec![cancel], false)
        .method(
            "get_result",
            vec![text.clone(), nat64.clone(), nat64],
            vec![result],
            true,
        )
        .method("get_receipt", vec![text], vec![receipt], true)
        .method("receipt_public_key", vec![], vec![key], true)
        .init::<Option<RouterArg>>();
    c.check(&repo().join("candid/router.did")).unwrap();
}

// ---- the check can fail ----

/// `Balance` with a field of the wrong type.
#[derive(CandidType)]
#[allow(dead_code)]
struct WrongBalance {
    available: String,
}

/// `DepositError` without the `OutcomeUnknown` tag the escrow may answer.
#[derive(CandidType)]
#[allow(dead_code)]
enum ShortDepositError {
    LedgerNotConfigured,
}

#[test]
fn a_wrong_client_type_is_caught() {
    let did = repo().join("candid/escrow.did");
    let mut c = Client::new();
    let principal = c.ty::<Principal>();
    let wrong = c.ty::<WrongBalance>();
    c.method("get_balance", vec![principal], vec![wrong], true);
    assert!(c.check(&did).is_err(), "a text field for a nat64 passed");

    let mut c = Client::new();
    let nat64 = c.ty::<u64>();
    let short = c.ty::<Result<DepositReceipt, ShortDepositError>>();
    c.method("deposit_ckbtc", vec![nat64], vec![short], false);
    assert!(c.check(&did).is_err(), "a variant missing tags passed");

    // A query declared as an update, and a method the escrow lacks.
    let mut c = Client::new();
    let principal = c.ty::<Principal>();
    let balance = c.ty::<Balance>();
    c.method("get_balance", vec![principal], vec![balance], false);
    assert!(c.check(&did).is_err(), "a query called as an update passed");
    let mut c = Client::new();
    c.method("no_such_method", vec![], vec![], false);
    assert!(c.check(&did).is_err(), "a missing method passed");

    // An init argument the escrow does not take.
    let mut c = escrow_client();
    c.init::<u64>();
    assert!(c.check(&did).is_err(), "a wrong init argument passed");
}
