//! Certified data and the data certificate of non-replicated queries.

use super::host::{
    charge, copy_out, ctx, ctx_mut, not_allowed, read_memory, violation, HostResult, C, L,
};

/// Certified data is at most 32 bytes.
const MAX_CERTIFIED_DATA: usize = 32;

pub(super) fn add_certification_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap(
        "ic0",
        "certified_data_set",
        |mut c: C, src: i32, size: i32| {
            if !ctx(&c).api.can_change_state() {
                return not_allowed(&c, "certified_data_set");
            }
            if size as u32 as usize > MAX_CERTIFIED_DATA {
                return violation(format!(
                    "ic0.certified_data_set: certified data is at most {MAX_CERTIFIED_DATA} bytes"
                ));
            }
            let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            ctx_mut(&mut c).certified_data = Some(bytes);
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "data_certificate_present",
        |mut c: C| -> HostResult<i32> {
            charge(&mut c, 0)?;
            Ok(ctx(&c).certificate.is_some() as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "data_certificate_size",
        |mut c: C| -> HostResult<i32> {
            charge(&mut c, 0)?;
            match certificate(&mut c) {
                Some(cert) => Ok(cert.len() as i32),
                None => not_allowed(&c, "data_certificate_size"),
            }
        },
    )?;
    l.func_wrap(
        "ic0",
        "data_certificate_copy",
        |mut c: C, dst: i32, off: i32, size: i32| {
            if certificate(&mut c).is_none() {
                return not_allowed(&c, "data_certificate_copy");
            }
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                size as u32 as u64,
                |x| {
                    x.certificate
                        .as_ref()
                        .and_then(|s| s.cached.as_deref())
                        .unwrap_or(&[])
                },
            )
        },
    )?;
    Ok(())
}

/// The certificate of a non-replicated query, built on first use.
fn certificate<'a>(c: &'a mut C) -> Option<&'a [u8]> {
    let source = ctx_mut(c).certificate.as_mut()?;
    if source.cached.is_none() {
        source.cached = Some((source.build)());
    }
    source.cached.as_deref()
}
