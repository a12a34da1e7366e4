//! The escrow canister on localnet: its Wasm (gzipped: the plain module is
//! over the 2 MiB ingress limit) and installation with a configuration. The
//! Candid types are the shared ones, `tensormine_core::escrow`.

use crate::{controller, encode};
use candid::Principal;
use localnet::LocalNet;
use std::path::PathBuf;

pub use tensormine_core::escrow::*;

/// Errors whose details the tests don't read (any variant decodes).
pub type OtherError = candid::Reserved;

/// Overrides where the escrow Wasm is read from.
pub const ESCROW_WASM_ENV: &str = "ESCROW_WASM";
const ESCROW_WASM_PATH: &str =
    "target/wasm32-unknown-unknown/canister-release/tensormine_escrow.wasm";

pub fn escrow_wasm() -> Vec<u8> {
    use std::io::Write;
    let path = match std::env::var_os(ESCROW_WASM_ENV) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(ESCROW_WASM_PATH),
    };
    let plain = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the escrow Wasm at {} ({e}); build it with scripts/build-canisters.sh or set {ESCROW_WASM_ENV}", path.display())
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

/// Creates a canister controlled by [`controller`](crate::controller) and installs the escrow.
pub fn install_escrow(net: &mut LocalNet, config: ConfigUpdate) -> Principal {
    let canister = net.create_canister(controller());
    net.install_canister(
        canister,
        escrow_wasm(),
        encode((Some(EscrowArg::Init(config)),)),
    );
    canister
}
