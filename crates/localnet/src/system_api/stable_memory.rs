//! Stable memory functions, 64-bit and the 32-bit legacy API.

use super::host::{charge, ctx, ctx_mut, memory, range, violation, HostResult, C, L};
use crate::stable::{MAX_STABLE32_PAGES, MAX_STABLE_PAGES};

pub(super) fn add_stable_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap("ic0", "stable64_size", |mut c: C| -> HostResult<i64> {
        charge(&mut c, 0)?;
        Ok(ctx(&c).stable.size_pages() as i64)
    })?;
    l.func_wrap(
        "ic0",
        "stable64_grow",
        |mut c: C, pages: i64| -> HostResult<i64> {
            charge(&mut c, 0)?;
            Ok(ctx_mut(&mut c)
                .stable
                .grow(pages as u64, MAX_STABLE_PAGES)
                .map_or(-1, |old| old as i64))
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable64_write",
        |mut c: C, offset: i64, src: i64, size: i64| {
            stable_write(&mut c, offset as u64, src as u64, size as u64)
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable64_read",
        |mut c: C, dst: i64, offset: i64, size: i64| {
            stable_read(&mut c, dst as u64, offset as u64, size as u64)
        },
    )?;
    l.func_wrap("ic0", "stable_size", |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        let pages = ctx(&c).stable.size_pages();
        if pages > MAX_STABLE32_PAGES {
            return violation(
                "ic0.stable_size: stable memory is larger than 4 GiB; use the 64-bit API",
            );
        }
        Ok(pages as i32)
    })?;
    l.func_wrap(
        "ic0",
        "stable_grow",
        |mut c: C, pages: i32| -> HostResult<i32> {
            charge(&mut c, 0)?;
            if ctx(&c).stable.size_pages() > MAX_STABLE32_PAGES {
                return violation(
                    "ic0.stable_grow: stable memory is larger than 4 GiB; use the 64-bit API",
                );
            }
            let grown = ctx_mut(&mut c)
                .stable
                .grow(pages as u32 as u64, MAX_STABLE32_PAGES);
            Ok(grown.map_or(-1, |old| old as i32))
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable_write",
        |mut c: C, offset: i32, src: i32, size: i32| {
            stable_write(
                &mut c,
                offset as u32 as u64,
                src as u32 as u64,
                size as u32 as u64,
            )
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable_read",
        |mut c: C, dst: i32, offset: i32, size: i32| {
            stable_read(
                &mut c,
                dst as u32 as u64,
                offset as u32 as u64,
                size as u32 as u64,
            )
        },
    )?;
    Ok(())
}

fn stable_write(c: &mut C, offset: u64, src: u64, size: u64) -> HostResult<()> {
    charge(c, size)?;
    let mem = memory(c)?;
    let (data, store) = mem.data_and_store_mut(&mut *c);
    let from = range(
        src,
        size,
        data.len(),
        "ic0.stable64_write: reading Wasm memory",
    )?;
    match store.ctx.stable.write(offset, &data[from]) {
        Ok(()) => Ok(()),
        Err(e) => violation(format!("ic0.stable64_write: {e}")),
    }
}

fn stable_read(c: &mut C, dst: u64, offset: u64, size: u64) -> HostResult<()> {
    charge(c, size)?;
    let mem = memory(c)?;
    let (data, store) = mem.data_and_store_mut(&mut *c);
    let to = range(
        dst,
        size,
        data.len(),
        "ic0.stable64_read: writing Wasm memory",
    )?;
    match store.ctx.stable.read(offset, &mut data[to]) {
        Ok(()) => Ok(()),
        Err(e) => violation(format!("ic0.stable64_read: {e}")),
    }
}
