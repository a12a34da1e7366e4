//! `ic_canister_runtime::Runtime` for localnet, so test helpers written
//! against that trait run unchanged on localnet and on PocketIC.

use crate::error::{CallError, RejectResponse};
use crate::state::LocalNet;
use async_trait::async_trait;
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use ic_canister_runtime::{IcError, Runtime};
use ic_error_types::RejectCode;
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};

/// Calls canisters on a shared [`LocalNet`] as one sender (ingress messages).
#[derive(Clone)]
pub struct LocalNetRuntime {
    net: Arc<Mutex<LocalNet>>,
    sender: Principal,
}

impl LocalNetRuntime {
    pub fn new(net: Arc<Mutex<LocalNet>>, sender: Principal) -> Self {
        LocalNetRuntime { net, sender }
    }

    /// The same net, calling as another sender.
    pub fn with_sender(&self, sender: Principal) -> Self {
        LocalNetRuntime {
            net: self.net.clone(),
            sender,
        }
    }

    pub fn net(&self) -> &Arc<Mutex<LocalNet>> {
        &self.net
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
        let mut net = self
            .net
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let reply = if query {
            net.query_call(id, self.sender, method, arg)
        } else {
            net.update_call(id, self.sender, method, arg)
        };
        let bytes = reply.map_err(rejected)?;
        candid::decode_one(&bytes).map_err(|e| {
            let e: CallError = CallError::Decode(e.to_string());
            IcError::CandidDecodeFailed {
                message: e.to_string(),
            }
        })
    }
}

fn rejected(r: RejectResponse) -> IcError {
    IcError::CallRejected {
        code: r.reject_code,
        message: r.reject_message,
    }
}

#[async_trait]
impl Runtime for LocalNetRuntime {
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
            // Ingress messages carry no cycles on the IC either; a test that
            // needs to attach cycles calls through a canister (e.g. a wallet).
            return Err(IcError::CallRejected {
                code: RejectCode::CanisterReject,
                message: format!("an ingress message cannot attach cycles ({cycles} requested); call through a canister"),
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
