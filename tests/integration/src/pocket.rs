//! `ic_canister_runtime::Runtime` for PocketIC, the counterpart of `localnet::LocalNetRuntime`:
//! test scenarios written against `Runtime` run unchanged on both (tests/integration/runtime_backends.rs).
//!
//! PocketIC needs its server binary, which cannot be downloaded on every machine; these helpers
//! only start it when [`POCKET_IC_BIN_ENV`] names an existing file (see docs/pocket-ic.md).
//!
//! The blocking [`PocketIc`] drives its own Tokio runtime, so the futures returned here must be
//! polled by an executor that is *not* Tokio (e.g. `futures::executor::block_on`): the
//! blocking client panics when called from inside a Tokio runtime.

use async_trait::async_trait;
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use ic_canister_runtime::{IcError, Runtime};
use ic_error_types::RejectCode;
use pocket_ic::{PocketIc, PocketIcBuilder, RejectResponse};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::Arc;

/// Environment variable naming the (ungzipped, executable) PocketIC server binary.
pub const POCKET_IC_BIN_ENV: &str = "POCKET_IC_BIN";

/// The PocketIC server binary named by [`POCKET_IC_BIN_ENV`], if it names an existing file.
/// `None` means the PocketIC tests are to be skipped; the `pocket-ic` crate would otherwise try
/// to download a server.
pub fn pocket_ic_server_binary() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(POCKET_IC_BIN_ENV)?);
    path.is_file().then_some(path)
}

/// A PocketIC instance with one application subnet, served by `server_binary`.
pub fn new_pocket_ic(server_binary: PathBuf) -> PocketIc {
    PocketIcBuilder::new()
        .with_server_binary(server_binary)
        .with_application_subnet()
        .build()
}

/// Creates a canister controlled by [`crate::controller`] (with PocketIC's default 100T cycles)
/// and installs the conformance canister, as `crate::install_conformance` does on localnet.
pub fn install_conformance_on_pocket_ic(pic: &PocketIc) -> Principal {
    let controller = crate::controller();
    let canister = pic.create_canister_with_settings(Some(controller), None);
    pic.install_canister(
        canister,
        crate::conformance_wasm(),
        crate::encode(()),
        Some(controller),
    );
    canister
}

/// Calls canisters on a shared [`PocketIc`] as one sender (ingress messages).
#[derive(Clone)]
pub struct PocketIcRuntime {
    pic: Arc<PocketIc>,
    sender: Principal,
}

impl PocketIcRuntime {
    pub fn new(pic: Arc<PocketIc>, sender: Principal) -> Self {
        PocketIcRuntime { pic, sender }
    }

    /// The same instance, calling as another sender.
    pub fn with_sender(&self, sender: Principal) -> Self {
        PocketIcRuntime {
            pic: self.pic.clone(),
            sender,
        }
    }

    pub fn pocket_ic(&self) -> &Arc<PocketIc> {
        &self.pic
    }

    fn call<In: ArgumentEncoder, Out: CandidType + DeserializeOwned>(
        &self,
        id: Principal,
        method: &str,
        args: In,
        query: bool,
    ) -> Result<Out, IcError> {
        let arg = candid::encode_args(args).map_err(|e| IcError::CandidDecodeFailed {
            message: e.to_string(),
        })?;
        // `update_call` submits an ingress message and awaits its completion (PocketIC executes
        // rounds until it is done); `query_call` is a non-replicated query.
        let reply = if query {
            self.pic.query_call(id, self.sender, method, arg)
        } else {
            self.pic.update_call(id, self.sender, method, arg)
        };
        let bytes = reply.map_err(rejected)?;
        candid::decode_one(&bytes).map_err(|e| IcError::CandidDecodeFailed {
            message: format!("reply of {method} is not the expected Candid: {e}"),
        })
    }
}

/// PocketIC's reject, in `ic_canister_runtime`'s terms. The message is kept verbatim (PocketIC's
/// error code is only in the message of `RejectResponse`'s `Display`, which is not used), so a
/// canister's `ic0.msg_reject` text arrives unchanged, as on localnet.
pub fn rejected(reject: RejectResponse) -> IcError {
    IcError::CallRejected {
        code: reject_code(reject.reject_code),
        message: reject.reject_message,
    }
}

/// `pocket_ic::RejectCode` and `ic_error_types::RejectCode` are the same spec codes (1..=6).
pub fn reject_code(code: pocket_ic::RejectCode) -> RejectCode {
    match code {
        pocket_ic::RejectCode::SysFatal => RejectCode::SysFatal,
        pocket_ic::RejectCode::SysTransient => RejectCode::SysTransient,
        pocket_ic::RejectCode::DestinationInvalid => RejectCode::DestinationInvalid,
        pocket_ic::RejectCode::CanisterReject => RejectCode::CanisterReject,
        pocket_ic::RejectCode::CanisterError => RejectCode::CanisterError,
        pocket_ic::RejectCode::SysUnknown => RejectCode::SysUnknown,
    }
}

#[async_trait]
impl Runtime for PocketIcRuntime {
    async fn update_call<In, Out>(
        &self,
        id: Principal,
        method: &str,
        args: In,
        cycles: u128,
    ) -> Result<Out, IcError>
    where
        In: ArgumentEncoder + Send,
        Out: CandidType + DeserializeOwned,
    {
        if cycles > 0 {
            // Ingress messages carry no cycles (PocketIC's `update_call` has no way to attach
            // them); same refusal as `localnet::LocalNetRuntime`.
            return Err(IcError::CallRejected {
                code: RejectCode::CanisterReject,
                message: format!(
                    "an ingress message cannot attach cycles ({cycles} requested); call through a canister"
                ),
            });
        }
        self.call(id, method, args, false)
    }

    async fn query_call<In, Out>(
        &self,
        id: Principal,
        method: &str,
        args: In,
    ) -> Result<Out, IcError>
    where
        In: ArgumentEncoder + Send,
        Out: CandidType + DeserializeOwned,
    {
        self.call(id, method, args, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reject_code_maps_to_the_same_spec_code() {
        let all = [
            pocket_ic::RejectCode::SysFatal,
            pocket_ic::RejectCode::SysTransient,
            pocket_ic::RejectCode::DestinationInvalid,
            pocket_ic::RejectCode::CanisterReject,
            pocket_ic::RejectCode::CanisterError,
            pocket_ic::RejectCode::SysUnknown,
        ];
        for (spec_code, pocket) in (1u64..).zip(all) {
            assert_eq!(pocket as u64, spec_code, "{pocket:?}");
            assert_eq!(reject_code(pocket) as u64, spec_code, "{pocket:?}");
        }
    }

    #[test]
    fn reject_keeps_the_message_verbatim() {
        let reject = RejectResponse {
            reject_code: pocket_ic::RejectCode::CanisterReject,
            reject_message: "no thanks".to_string(),
            error_code: pocket_ic::ErrorCode::CanisterRejectedMessage,
            certified: true,
        };
        assert_eq!(
            rejected(reject),
            IcError::CallRejected {
                code: RejectCode::CanisterReject,
                message: "no thanks".to_string()
            }
        );
    }
}
