//! The same scenarios on localnet and on PocketIC, written only against
//! `ic_canister_runtime::Runtime`. Only setup (creating a canister and installing the
//! conformance canister) is backend-specific, behind [`Backend`].
//!
//! `scenarios_on_localnet` always runs. `scenarios_on_pocket_ic` runs when `POCKET_IC_BIN`
//! names an existing PocketIC server binary and is skipped otherwise (docs/pocket-ic.md).
//!
//! The scenarios are polled with `futures::executor::block_on`, not Tokio: the blocking
//! `pocket_ic::PocketIc` runs its own Tokio runtime and panics inside another one.

use candid::{CandidType, Principal};
use futures::executor::block_on;
use ic_canister_runtime::{IcError, Runtime};
use ic_error_types::RejectCode;
use localnet::{LocalNet, LocalNetRuntime};
use pocket_ic::PocketIc;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;
use std::sync::{Arc, Mutex};
use tensormine_integration_tests::pocket::{
    install_conformance_on_pocket_ic, new_pocket_ic, pocket_ic_server_binary, POCKET_IC_BIN_ENV,
};
use tensormine_integration_tests::{
    controller, encode, install_conformance, stranger, CallReply, PocketIcRuntime, RejectInfo,
    StateSnapshot,
};

// ----- Backends: the only backend-specific part ------------------------------------------

/// Where the scenarios run: creates and installs canisters, and hands out runtimes.
trait Backend {
    type Runtime: Runtime + Send + Sync;

    /// Short name for the scenario log.
    fn name(&self) -> &'static str;

    /// A new canister, controlled by [`controller`], running the conformance canister.
    fn install_conformance(&self) -> Principal;

    /// Calls as `sender` (ingress messages).
    fn runtime(&self, sender: Principal) -> Self::Runtime;
}

struct LocalNetBackend {
    net: Arc<Mutex<LocalNet>>,
}

impl LocalNetBackend {
    fn new() -> Self {
        LocalNetBackend {
            net: Arc::new(Mutex::new(LocalNet::new())),
        }
    }
}

impl Backend for LocalNetBackend {
    type Runtime = LocalNetRuntime;

    fn name(&self) -> &'static str {
        "localnet"
    }

    fn install_conformance(&self) -> Principal {
        let mut net = self.net.lock().unwrap_or_else(|p| p.into_inner());
        install_conformance(&mut net)
    }

    fn runtime(&self, sender: Principal) -> LocalNetRuntime {
        LocalNetRuntime::new(self.net.clone(), sender)
    }
}

struct PocketIcBackend {
    pic: Arc<PocketIc>,
}

impl Backend for PocketIcBackend {
    type Runtime = PocketIcRuntime;

    fn name(&self) -> &'static str {
        "PocketIC"
    }

    fn install_conformance(&self) -> Principal {
        install_conformance_on_pocket_ic(&self.pic)
    }

    fn runtime(&self, sender: Principal) -> PocketIcRuntime {
        PocketIcRuntime::new(self.pic.clone(), sender)
    }
}

// ----- Entry points ------------------------------------------------------------------------

#[test]
fn scenarios_on_localnet() {
    run_all(&LocalNetBackend::new());
}

#[test]
fn scenarios_on_pocket_ic() {
    let Some(server_binary) = pocket_ic_server_binary() else {
        println!(
            "scenarios_on_pocket_ic skipped: {POCKET_IC_BIN_ENV} not set (or not an existing file: {:?}); \
             see docs/pocket-ic.md",
            std::env::var_os(POCKET_IC_BIN_ENV)
        );
        return;
    };
    let backend = PocketIcBackend {
        pic: Arc::new(new_pocket_ic(server_binary)),
    };
    run_all(&backend);
}

/// Every scenario, each on freshly installed canisters, on one backend.
fn run_all<B: Backend>(backend: &B) {
    let run = |name: &str, scenario: &dyn Fn()| {
        println!("[{}] {name}", backend.name());
        scenario();
    };
    let user = backend.runtime(controller());

    run("update then query agree", &|| {
        block_on(update_then_query_agree(
            &user,
            backend.install_conformance(),
        ))
    });
    run("a query's writes are discarded", &|| {
        block_on(query_writes_are_discarded(
            &user,
            backend.install_conformance(),
        ))
    });
    run(
        "a query method called as an update discards its writes",
        &|| {
            block_on(query_method_as_update_discards_writes(
                &user,
                backend.install_conformance(),
            ))
        },
    );
    run("msg_reject is CanisterReject with the message", &|| {
        block_on(reject_is_canister_reject(
            &user,
            backend.install_conformance(),
        ))
    });
    run("trap is CanisterError", &|| {
        block_on(trap_is_canister_error(&user, backend.install_conformance()))
    });
    run("an unknown method is CanisterError", &|| {
        block_on(unknown_method_is_canister_error(
            &user,
            backend.install_conformance(),
        ))
    });
    run("a wrong argument type is rejected", &|| {
        block_on(wrong_argument_type_is_rejected(
            &user,
            backend.install_conformance(),
        ))
    });
    run("a wrong reply type fails to decode", &|| {
        block_on(wrong_reply_type_fails_to_decode(
            &user,
            backend.install_conformance(),
        ))
    });
    run("the sender is the caller", &|| {
        block_on(sender_is_the_caller(
            &user,
            &backend.runtime(stranger()),
            backend.install_conformance(),
        ))
    });
    run("ingress cannot attach cycles", &|| {
        block_on(ingress_cannot_attach_cycles(
            &user,
            backend.install_conformance(),
        ))
    });
    run("call_other between two canisters", &|| {
        block_on(call_other_between_canisters(
            &user,
            backend.install_conformance(),
            backend.install_conformance(),
        ))
    });
}

// ----- Scenarios: only `Runtime` -----------------------------------------------------------

async fn ok_update<R: Runtime, Out: CandidType + DeserializeOwned>(
    rt: &R,
    canister: Principal,
    method: &str,
    args: impl candid::utils::ArgumentEncoder + Send,
) -> Out {
    rt.update_call(canister, method, args, 0)
        .await
        .unwrap_or_else(|e| panic!("update {method} failed: {e}"))
}

async fn ok_query<R: Runtime, Out: CandidType + DeserializeOwned>(
    rt: &R,
    canister: Principal,
    method: &str,
    args: impl candid::utils::ArgumentEncoder + Send,
) -> Out {
    rt.query_call(canister, method, args)
        .await
        .unwrap_or_else(|e| panic!("query {method} failed: {e}"))
}

/// Unwraps a `CallRejected`, panicking on a reply or another error.
fn expect_rejected<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, IcError>,
) -> (RejectCode, String) {
    match result {
        Err(IcError::CallRejected { code, message }) => (code, message),
        other => panic!("{what}: expected CallRejected, got {other:?}"),
    }
}

async fn update_then_query_agree<R: Runtime>(rt: &R, canister: Principal) {
    let before: u64 = ok_query(rt, canister, "counter", ()).await;
    assert_eq!(before, 0, "a fresh canister starts at 0");
    let first: u64 = ok_update(rt, canister, "inc", ()).await;
    let second: u64 = ok_update(rt, canister, "inc", ()).await;
    assert_eq!((first, second), (1, 2), "inc returns the new counter");
    let seen: u64 = ok_query(rt, canister, "counter", ()).await;
    assert_eq!(seen, 2, "a query sees the committed updates");
}

async fn query_writes_are_discarded<R: Runtime>(rt: &R, canister: Principal) {
    let _: u64 = ok_update(rt, canister, "inc", ()).await;
    let before: StateSnapshot = ok_query(rt, canister, "snapshot", ()).await;
    assert_eq!(
        before,
        StateSnapshot {
            counter: 1,
            stable_value: None
        }
    );
    let inside: StateSnapshot = ok_query(rt, canister, "query_that_writes", ()).await;
    assert_eq!(
        inside,
        StateSnapshot {
            counter: 2,
            stable_value: Some(1)
        },
        "the query sees its own writes"
    );
    let again: StateSnapshot = ok_query(rt, canister, "query_that_writes", ()).await;
    assert_eq!(
        again, inside,
        "a second query does not see the first one's writes"
    );
    let after: StateSnapshot = ok_query(rt, canister, "snapshot", ()).await;
    assert_eq!(after, before, "a query's writes are discarded");
}

async fn query_method_as_update_discards_writes<R: Runtime>(rt: &R, canister: Principal) {
    let written: StateSnapshot = ok_update(rt, canister, "query_that_writes", ()).await;
    assert_eq!(
        written,
        StateSnapshot {
            counter: 1,
            stable_value: Some(1)
        }
    );
    let after: StateSnapshot = ok_query(rt, canister, "snapshot", ()).await;
    assert_eq!(
        after,
        StateSnapshot {
            counter: 0,
            stable_value: None
        },
        "a query method executed as an update (replicated query) commits no state"
    );
}

async fn reject_is_canister_reject<R: Runtime>(rt: &R, canister: Principal) {
    let result = rt
        .update_call::<_, ()>(canister, "reject", ("no thanks",), 0)
        .await;
    assert_eq!(
        result,
        Err(IcError::CallRejected {
            code: RejectCode::CanisterReject,
            message: "no thanks".to_string()
        })
    );
    // The reject left the canister usable.
    let n: u64 = ok_update(rt, canister, "inc", ()).await;
    assert_eq!(n, 1);
}

async fn trap_is_canister_error<R: Runtime>(rt: &R, canister: Principal) {
    let _: u64 = ok_update(rt, canister, "inc", ()).await;
    let (code, message) = expect_rejected(
        "trap",
        rt.update_call::<_, ()>(canister, "trap", ("boom-7f3a",), 0)
            .await,
    );
    assert_eq!(code, RejectCode::CanisterError, "{message}");
    assert!(
        message.contains("boom-7f3a"),
        "the trap message is reported: {message}"
    );
    let n: u64 = ok_query(rt, canister, "counter", ()).await;
    assert_eq!(n, 1, "the trapped update changed nothing");
}

async fn unknown_method_is_canister_error<R: Runtime>(rt: &R, canister: Principal) {
    let (code, message) = expect_rejected(
        "unknown update method",
        rt.update_call::<_, ()>(canister, "no_such_method", (), 0)
            .await,
    );
    assert_eq!(code, RejectCode::CanisterError, "{message}");
    assert!(message.contains("no_such_method"), "{message}");

    let (code, message) = expect_rejected(
        "unknown query method",
        rt.query_call::<_, u64>(canister, "no_such_query", ()).await,
    );
    assert_eq!(code, RejectCode::CanisterError, "{message}");
    assert!(message.contains("no_such_query"), "{message}");

    // An update method is not a query method.
    let (code, message) = expect_rejected(
        "update method called as a query",
        rt.query_call::<_, u64>(canister, "inc", ()).await,
    );
    assert_eq!(code, RejectCode::CanisterError, "{message}");
}

async fn wrong_argument_type_is_rejected<R: Runtime>(rt: &R, canister: Principal) {
    // `reject : (text) -> ()`; a nat64 fails ic-cdk's argument decoding, which traps.
    let (code, message) = expect_rejected(
        "reject with a nat64 argument",
        rt.update_call::<_, ()>(canister, "reject", (42u64,), 0)
            .await,
    );
    assert_eq!(
        code,
        RejectCode::CanisterError,
        "a trap in argument decoding, not the method's own reject: {message}"
    );
    assert_ne!(message, "42");

    // `reply_of_size : (nat64) -> (blob) query`, given text.
    let (code, message) = expect_rejected(
        "reply_of_size with a text argument",
        rt.query_call::<_, ByteBuf>(canister, "reply_of_size", ("ten",))
            .await,
    );
    assert_eq!(code, RejectCode::CanisterError, "{message}");
}

async fn wrong_reply_type_fails_to_decode<R: Runtime>(rt: &R, canister: Principal) {
    // `counter` replies nat64; a text is expected here.
    match rt.query_call::<_, String>(canister, "counter", ()).await {
        Err(IcError::CandidDecodeFailed { message }) => assert!(!message.is_empty()),
        other => panic!("expected CandidDecodeFailed, got {other:?}"),
    }
    // The call itself executed: a decode failure on the caller's side is not a reject.
    match rt.update_call::<_, String>(canister, "inc", (), 0).await {
        Err(IcError::CandidDecodeFailed { .. }) => {}
        other => panic!("expected CandidDecodeFailed, got {other:?}"),
    }
    let n: u64 = ok_query(rt, canister, "counter", ()).await;
    assert_eq!(
        n, 1,
        "the update whose reply failed to decode was still committed"
    );
}

async fn sender_is_the_caller<R: Runtime, S: Runtime>(owner: &R, other: &S, canister: Principal) {
    let seen: Principal = ok_query(owner, canister, "caller", ()).await;
    assert_eq!(seen, controller());
    let seen: Principal = ok_query(other, canister, "caller", ()).await;
    assert_eq!(seen, stranger());
    let is_controller: bool = ok_query(other, canister, "is_controller", (controller(),)).await;
    assert!(
        is_controller,
        "the backend installed the canister as controller()"
    );
    let is_controller: bool = ok_query(other, canister, "is_controller", (stranger(),)).await;
    assert!(!is_controller);
}

async fn ingress_cannot_attach_cycles<R: Runtime>(rt: &R, canister: Principal) {
    let (code, message) = expect_rejected(
        "ingress with cycles",
        rt.update_call::<_, u64>(canister, "inc", (), 1_000).await,
    );
    assert_eq!(code, RejectCode::CanisterReject, "{message}");
    let n: u64 = ok_query(rt, canister, "counter", ()).await;
    assert_eq!(n, 0, "the refused call was not executed");
}

async fn call_other_between_canisters<R: Runtime>(rt: &R, caller: Principal, callee: Principal) {
    let _: u64 = ok_update(rt, callee, "inc", ()).await;

    let reply: CallReply = ok_update(
        rt,
        caller,
        "call_other",
        (callee, "inc", ByteBuf::from(encode(()))),
    )
    .await;
    let bytes = reply.unwrap_or_else(|reject| panic!("callee.inc was rejected: {reject:?}"));
    let value: u64 = candid::decode_one(&bytes).expect("callee.inc replies a nat64");
    assert_eq!(value, 2, "the callee's reply is passed back");
    let callee_counter: u64 = ok_query(rt, callee, "counter", ()).await;
    let caller_counter: u64 = ok_query(rt, caller, "counter", ()).await;
    assert_eq!(
        (callee_counter, caller_counter),
        (2, 0),
        "only the callee's state changed"
    );

    // The callee's caller is the calling canister.
    let reply: CallReply = ok_update(
        rt,
        caller,
        "call_other",
        (callee, "caller", ByteBuf::from(encode(()))),
    )
    .await;
    let seen: Principal =
        candid::decode_one(&reply.expect("callee.caller replies")).expect("a principal");
    assert_eq!(seen, caller);

    // A reject in the callee reaches the calling canister with its code and message.
    let reply: CallReply = ok_update(
        rt,
        caller,
        "call_other",
        (callee, "reject", ByteBuf::from(encode(("not today",)))),
    )
    .await;
    assert_eq!(
        reply,
        Err(RejectInfo {
            code: RejectCode::CanisterReject as u32,
            message: "not today".to_string()
        })
    );

    // A trap in the callee is CanisterError for the caller, which itself still replies.
    let reply: CallReply = ok_update(
        rt,
        caller,
        "call_other",
        (callee, "trap", ByteBuf::from(encode(("callee-boom",)))),
    )
    .await;
    let reject = reply.expect_err("a trapping callee rejects");
    assert_eq!(reject.code, RejectCode::CanisterError as u32, "{reject:?}");
    assert!(reject.message.contains("callee-boom"), "{reject:?}");
}
