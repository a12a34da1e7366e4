//! What every host function shares: instruction charging, traps, and copying
//! between Wasm memory and the message context.

use super::{HostTrap, MessageCtx, StoreData};
use ic_error_types::ErrorCode;
use wasmtime::{Caller, Linker, Memory};

/// Instructions charged for entering any system function, on top of the
/// per-byte cost of the data it copies (the IC charges similar fixed overheads).
const SYSTEM_CALL_OVERHEAD: u64 = 20;

pub(super) type HostResult<T> = wasmtime::Result<T>;
pub(super) type L = Linker<StoreData>;
pub(super) type C<'a> = Caller<'a, StoreData>;

pub(super) fn trap<T>(code: ErrorCode, message: impl Into<String>) -> HostResult<T> {
    Err(wasmtime::Error::new(HostTrap {
        code,
        message: message.into(),
    }))
}

pub(super) fn violation<T>(message: impl Into<String>) -> HostResult<T> {
    trap(ErrorCode::CanisterContractViolation, message)
}

pub(super) fn not_allowed<T>(caller: &Caller<'_, StoreData>, function: &str) -> HostResult<T> {
    violation(format!(
        "\"ic0_{function}\" cannot be executed in {} mode",
        caller.data().ctx.api.name()
    ))
}

/// Charges `SYSTEM_CALL_OVERHEAD + bytes` instructions, trapping with the
/// instruction-limit error if the message has no fuel left.
pub(super) fn charge(caller: &mut Caller<'_, StoreData>, extra: u64) -> HostResult<()> {
    let cost = SYSTEM_CALL_OVERHEAD + extra;
    let fuel = caller.get_fuel()?;
    if fuel < cost {
        caller.set_fuel(0)?;
        return trap(
            ErrorCode::CanisterInstructionLimitExceeded,
            "instruction limit exceeded in a system call",
        );
    }
    caller.set_fuel(fuel - cost)?;
    Ok(())
}

pub(super) fn memory(caller: &Caller<'_, StoreData>) -> HostResult<Memory> {
    match caller.data().memory {
        Some(memory) => Ok(memory),
        None => violation("the canister module has no memory"),
    }
}

pub(super) fn range(
    start: u64,
    size: u64,
    len: usize,
    what: &str,
) -> HostResult<std::ops::Range<usize>> {
    match start.checked_add(size) {
        Some(end) if end <= len as u64 => Ok(start as usize..end as usize),
        _ => violation(format!(
            "{what}: range {start}+{size} is out of bounds (length {len})"
        )),
    }
}

/// Reads `size` bytes of Wasm memory at `src`.
pub(super) fn read_memory(
    caller: &mut Caller<'_, StoreData>,
    src: u64,
    size: u64,
) -> HostResult<Vec<u8>> {
    charge(caller, size)?;
    let mem = memory(caller)?;
    let data = mem.data(&*caller);
    Ok(data[range(src, size, data.len(), "reading Wasm memory")?].to_vec())
}

/// Copies `size` bytes from `offset` of a byte string chosen from the context
/// into Wasm memory at `dst` (the `*_copy` functions of the spec).
pub(super) fn copy_out(
    caller: &mut Caller<'_, StoreData>,
    dst: u64,
    offset: u64,
    size: u64,
    source: impl FnOnce(&MessageCtx) -> &[u8],
) -> HostResult<()> {
    charge(caller, size)?;
    let mem = memory(caller)?;
    let (data, store) = mem.data_and_store_mut(&mut *caller);
    let src = source(&store.ctx);
    let from = range(offset, size, src.len(), "copying from the system")?;
    let to = range(dst, size, data.len(), "copying to Wasm memory")?;
    data[to].copy_from_slice(&src[from]);
    Ok(())
}

pub(super) fn write_memory(
    caller: &mut Caller<'_, StoreData>,
    dst: u64,
    bytes: &[u8],
) -> HostResult<()> {
    let mem = memory(caller)?;
    let data = mem.data_mut(&mut *caller);
    let to = range(
        dst,
        bytes.len() as u64,
        data.len(),
        "writing to Wasm memory",
    )?;
    data[to].copy_from_slice(bytes);
    Ok(())
}

pub(super) fn write_u128(
    caller: &mut Caller<'_, StoreData>,
    dst: u32,
    value: u128,
) -> HostResult<()> {
    write_memory(caller, dst as u64, &value.to_le_bytes())
}

pub(super) fn u128_of(high: i64, low: i64) -> u128 {
    ((high as u64 as u128) << 64) | low as u64 as u128
}

pub(super) fn ctx<'a>(caller: &'a Caller<'_, StoreData>) -> &'a MessageCtx {
    &caller.data().ctx
}

pub(super) fn ctx_mut<'a>(caller: &'a mut Caller<'_, StoreData>) -> &'a mut MessageCtx {
    &mut caller.data_mut().ctx
}

/// The spec's blob idiom: `ic0.<name>_size` and `ic0.<name>_copy` over one
/// byte string of the context, callable where `allowed` says.
pub(super) fn add_blob(
    l: &mut L,
    name: &'static str,
    allowed: fn(&MessageCtx) -> bool,
    source: fn(&MessageCtx) -> &[u8],
) -> wasmtime::Result<()> {
    let size_name: &'static str = Box::leak(format!("{name}_size").into_boxed_str());
    let copy_name: &'static str = Box::leak(format!("{name}_copy").into_boxed_str());
    l.func_wrap("ic0", size_name, move |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        if !allowed(ctx(&c)) {
            return not_allowed(&c, size_name);
        }
        Ok(source(ctx(&c)).len() as i32)
    })?;
    l.func_wrap(
        "ic0",
        copy_name,
        move |mut c: C, dst: i32, off: i32, size: i32| {
            if !allowed(ctx(&c)) {
                return not_allowed(&c, copy_name);
            }
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                size as u32 as u64,
                source,
            )
        },
    )?;
    Ok(())
}

pub(super) fn always(_: &MessageCtx) -> bool {
    true
}
