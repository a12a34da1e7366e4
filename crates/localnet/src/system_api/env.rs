//! Environment variables set with the canister settings.

use super::host::{charge, copy_out, ctx, read_memory, violation, HostResult, C, L};
use super::MessageCtx;

pub(super) fn add_env_var_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap("ic0", "env_var_count", |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        Ok(ctx(&c).env_vars.len() as i32)
    })?;
    l.func_wrap(
        "ic0",
        "env_var_name_size",
        |mut c: C, index: i32| -> HostResult<i32> {
            charge(&mut c, 0)?;
            match ctx(&c).env_vars.get(index as u32 as usize) {
                Some((name, _)) => Ok(name.len() as i32),
                None => violation(format!(
                    "ic0.env_var_name_size: index {index} out of bounds"
                )),
            }
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_name_copy",
        |mut c: C, index: i32, dst: i32, off: i32, size: i32| {
            if ctx(&c).env_vars.get(index as u32 as usize).is_none() {
                return violation(format!(
                    "ic0.env_var_name_copy: index {index} out of bounds"
                ));
            }
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                size as u32 as u64,
                |x| x.env_vars[index as u32 as usize].0.as_bytes(),
            )
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_name_exists",
        |mut c: C, src: i32, size: i32| -> HostResult<i32> {
            let name = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            Ok(ctx(&c).env_vars.iter().any(|(n, _)| n.as_bytes() == name) as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_value_size",
        |mut c: C, src: i32, size: i32| -> HostResult<i32> {
            let name = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            match env_var_index(ctx(&c), &name) {
                Some(i) => Ok(ctx(&c).env_vars[i].1.len() as i32),
                None => violation("ic0.env_var_value_size: no such environment variable"),
            }
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_value_copy",
        |mut c: C, src: i32, size: i32, dst: i32, off: i32, len: i32| {
            let name = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            let Some(i) = env_var_index(ctx(&c), &name) else {
                return violation("ic0.env_var_value_copy: no such environment variable");
            };
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                len as u32 as u64,
                |x| x.env_vars[i].1.as_bytes(),
            )
        },
    )?;
    Ok(())
}

fn env_var_index(x: &MessageCtx, name: &[u8]) -> Option<usize> {
    x.env_vars.iter().position(|(n, _)| n.as_bytes() == name)
}
