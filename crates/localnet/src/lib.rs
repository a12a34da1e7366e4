//! localnet: runs real Internet Computer canister Wasm on this machine.
//!
//! The IC replica executes canisters with wasmtime behind the `ic0` system API;
//! localnet does the same, with one simulated subnet, a management canister
//! (lifecycle, `raw_rand`, threshold ECDSA/Schnorr with the IC's key
//! derivation, HTTPS outcalls live or mocked), the Bitcoin canister over a
//! simulated regtest chain, BLS-certified data, cycles
//! accounting with the IC's fee formulas, and the IC's instruction limits.
//! Every entry point is atomic: a trap rolls back heap, globals, stable memory,
//! outgoing calls and the reply.
//!
//! Layout, each module depending only on those listed after it: `net` (the
//! scheduler: ingress, message delivery, timers) on top; `runtime` (the
//! `ic-canister-runtime` adapter), `management` and `bitcoin` (the two system
//! canisters, answered in Rust); `state` (the [`LocalNet`] struct, its
//! canisters and call contexts, and the primitives that run an entry point or
//! answer a call); `execution` (one entry point run atomically), `wasm`
//! (module validation and instrumentation), `system_api` (the `ic0` host
//! functions), `stable` and `error`.
//!
//! ```no_run
//! use localnet::{LocalNet, InstallMode};
//! use candid::Principal;
//! let mut net = LocalNet::new();
//! let controller = Principal::from_slice(&[1]);
//! let canister = net.create_canister(controller);
//! let wasm = std::fs::read("my_canister.wasm").unwrap();
//! net.install_code(controller, canister, InstallMode::Install, wasm, candid::encode_args(()).unwrap()).unwrap();
//! let reply: (u64,) = net.update_candid(canister, controller, "inc", ()).unwrap();
//! ```

mod bitcoin;
mod error;
mod execution;
mod management;
mod net;
mod runtime;
mod stable;
mod state;
mod system_api;
mod wasm;

pub use bitcoin::bitcoin_canister_id;
pub use error::{CallError, ErrorCode, RejectCode, RejectResponse};
pub use localnet_services;
pub use runtime::LocalNetRuntime;
pub use state::{
    Config, ExecutedMessage, IngressStatus, LocalNet, MessageId, OutcallMode, PendingOutcall,
    DEFAULT_CANISTER_CYCLES, INSTALL_INSTRUCTION_LIMIT, MAX_INGRESS_BYTES, QUERY_INSTRUCTION_LIMIT,
    UPDATE_INSTRUCTION_LIMIT,
};
pub use system_api::SYSTEM_API_NAMES;

use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use candid::{Nat, Principal};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, CanisterSettings, CanisterStatusResult, InstallCodeArgs,
    ProvisionalCreateCanisterWithCyclesArgs, UpdateSettingsArgs, UpgradeFlags,
};

/// How `install_code` treats an existing module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallMode {
    Install,
    Reinstall,
    Upgrade,
}

impl From<InstallMode> for CanisterInstallMode {
    fn from(mode: InstallMode) -> Self {
        match mode {
            InstallMode::Install => CanisterInstallMode::Install,
            InstallMode::Reinstall => CanisterInstallMode::Reinstall,
            InstallMode::Upgrade => CanisterInstallMode::Upgrade(Some(UpgradeFlags::default())),
        }
    }
}

fn management() -> Principal {
    Principal::management_canister()
}

impl LocalNet {
    /// Calls a management canister method as an ingress message from `sender`.
    pub fn management_call<A: ArgumentEncoder, R: for<'de> ArgumentDecoder<'de>>(
        &mut self,
        sender: Principal,
        method: &str,
        args: A,
    ) -> Result<R, CallError> {
        self.update_candid(management(), sender, method, args)
    }

    /// Creates a canister controlled by `controller`, with the default cycles.
    pub fn create_canister(&mut self, controller: Principal) -> Principal {
        self.create_canister_with_cycles(controller, DEFAULT_CANISTER_CYCLES)
    }

    pub fn create_canister_with_cycles(
        &mut self,
        controller: Principal,
        cycles: u128,
    ) -> Principal {
        let settings = CanisterSettings {
            controllers: Some(vec![controller]),
            ..Default::default()
        };
        self.create_canister_with_settings(controller, cycles, settings, None)
            .expect("provisional canister creation with valid settings succeeds")
    }

    /// `provisional_create_canister_with_cycles`, optionally at a given id.
    pub fn create_canister_with_settings(
        &mut self,
        sender: Principal,
        cycles: u128,
        settings: CanisterSettings,
        specified_id: Option<Principal>,
    ) -> Result<Principal, CallError> {
        let args = ProvisionalCreateCanisterWithCyclesArgs {
            amount: Some(Nat::from(cycles)),
            settings: Some(settings),
            specified_id,
            sender_canister_version: None,
        };
        let (record,): (CanisterIdRecord,) =
            self.management_call(sender, "provisional_create_canister_with_cycles", (args,))?;
        Ok(record.canister_id)
    }

    /// `install_code` as `sender` (who must be a controller).
    pub fn install_code(
        &mut self,
        sender: Principal,
        canister: Principal,
        mode: InstallMode,
        wasm: Vec<u8>,
        arg: Vec<u8>,
    ) -> Result<(), RejectResponse> {
        let args = InstallCodeArgs {
            mode: mode.into(),
            canister_id: canister,
            wasm_module: wasm,
            arg,
            sender_canister_version: None,
        };
        self.unit_management_call(sender, "install_code", args)
    }

    fn first_controller(&self, canister: Principal) -> Principal {
        self.canisters
            .get(&canister)
            .and_then(|c| c.controllers.first().copied())
            .unwrap_or_else(Principal::anonymous)
    }

    /// Installs as the canister's first controller; panics on failure (for test set-up).
    pub fn install_canister(&mut self, canister: Principal, wasm: Vec<u8>, arg: Vec<u8>) {
        let controller = self.first_controller(canister);
        if let Err(e) = self.install_code(controller, canister, InstallMode::Install, wasm, arg) {
            panic!("installing canister {canister} failed: {e}");
        }
    }

    /// Upgrades as the canister's first controller.
    pub fn upgrade_canister(
        &mut self,
        canister: Principal,
        wasm: Vec<u8>,
        arg: Vec<u8>,
    ) -> Result<(), RejectResponse> {
        let controller = self.first_controller(canister);
        self.install_code(controller, canister, InstallMode::Upgrade, wasm, arg)
    }

    /// Reinstalls as the canister's first controller.
    pub fn reinstall_canister(
        &mut self,
        canister: Principal,
        wasm: Vec<u8>,
        arg: Vec<u8>,
    ) -> Result<(), RejectResponse> {
        let controller = self.first_controller(canister);
        self.install_code(controller, canister, InstallMode::Reinstall, wasm, arg)
    }

    pub fn stop_canister(
        &mut self,
        sender: Principal,
        canister: Principal,
    ) -> Result<(), RejectResponse> {
        self.unit_management_call(
            sender,
            "stop_canister",
            CanisterIdRecord {
                canister_id: canister,
            },
        )
    }

    pub fn start_canister(
        &mut self,
        sender: Principal,
        canister: Principal,
    ) -> Result<(), RejectResponse> {
        self.unit_management_call(
            sender,
            "start_canister",
            CanisterIdRecord {
                canister_id: canister,
            },
        )
    }

    pub fn delete_canister(
        &mut self,
        sender: Principal,
        canister: Principal,
    ) -> Result<(), RejectResponse> {
        self.unit_management_call(
            sender,
            "delete_canister",
            CanisterIdRecord {
                canister_id: canister,
            },
        )
    }

    pub fn update_settings(
        &mut self,
        sender: Principal,
        canister: Principal,
        settings: CanisterSettings,
    ) -> Result<(), RejectResponse> {
        let args = UpdateSettingsArgs {
            canister_id: canister,
            settings,
            sender_canister_version: None,
        };
        self.unit_management_call(sender, "update_settings", args)
    }

    pub fn canister_status(
        &mut self,
        sender: Principal,
        canister: Principal,
    ) -> Result<CanisterStatusResult, RejectResponse> {
        let arg = candid::encode_one(CanisterIdRecord {
            canister_id: canister,
        })
        .expect("encoding a record");
        let bytes = self.update_call(management(), sender, "canister_status", arg)?;
        Ok(candid::decode_one(&bytes)
            .expect("the management canister replies with a CanisterStatusResult"))
    }

    fn unit_management_call<T: candid::CandidType>(
        &mut self,
        sender: Principal,
        method: &str,
        arg: T,
    ) -> Result<(), RejectResponse> {
        let bytes = candid::encode_one(arg).expect("encoding a management argument");
        self.update_call(management(), sender, method, bytes)
            .map(|_| ())
    }

    /// A typed update call: candid-encodes `args`, decodes the reply.
    pub fn update_candid<A: ArgumentEncoder, R: for<'de> ArgumentDecoder<'de>>(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        args: A,
    ) -> Result<R, CallError> {
        typed(args, |arg| self.update_call(canister, sender, method, arg))
    }

    /// A typed query call.
    pub fn query_candid<A: ArgumentEncoder, R: for<'de> ArgumentDecoder<'de>>(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        args: A,
    ) -> Result<R, CallError> {
        typed(args, |arg| self.query_call(canister, sender, method, arg))
    }
}

/// Encodes `args`, makes the call, decodes the reply.
fn typed<A: ArgumentEncoder, R: for<'de> ArgumentDecoder<'de>>(
    args: A,
    call: impl FnOnce(Vec<u8>) -> Result<Vec<u8>, RejectResponse>,
) -> Result<R, CallError> {
    let arg = candid::encode_args(args).map_err(|e| CallError::Encode(e.to_string()))?;
    let bytes = call(arg)?;
    candid::decode_args(&bytes).map_err(|e| CallError::Decode(e.to_string()))
}
