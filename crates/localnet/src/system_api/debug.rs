//! `debug_print` and `trap`.

use super::host::{charge, ctx_mut, read_memory, trap, HostResult, C, L};
use ic_error_types::ErrorCode;

const DEBUG_PRINT_OVERHEAD: u64 = 100;

pub(super) fn add_debug_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap("ic0", "debug_print", |mut c: C, src: i32, size: i32| {
        charge(&mut c, DEBUG_PRINT_OVERHEAD)?;
        let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
        let line = String::from_utf8_lossy(&bytes).into_owned();
        ctx_mut(&mut c).debug_log.push(line);
        Ok(())
    })?;
    l.func_wrap(
        "ic0",
        "trap",
        |mut c: C, src: i32, size: i32| -> HostResult<()> {
            let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            trap(
                ErrorCode::CanisterCalledTrap,
                format!(
                    "Canister called `ic0.trap` with message: '{}'",
                    String::from_utf8_lossy(&bytes)
                ),
            )
        },
    )?;
    Ok(())
}
