//! Message functions: the argument, caller, reject, reply and `accept_message`.

use super::host::{
    add_blob, always, charge, ctx, ctx_mut, not_allowed, read_memory, violation, HostResult, C, L,
};
use super::{ApiType, MessageCtx, Response};

pub(super) fn add_message_functions(l: &mut L) -> wasmtime::Result<()> {
    add_blob(l, "msg_arg_data", has_argument, |x| &x.arg)?;
    add_blob(l, "msg_caller", always, |x| x.caller.as_slice())?;
    // Caller info (canister-signature metadata) is empty for every localnet caller.
    add_blob(l, "msg_caller_info_data", always, |_| &[])?;
    add_blob(l, "msg_caller_info_signer", always, |_| &[])?;
    add_blob(
        l,
        "msg_reject_msg",
        |x| x.api == ApiType::RejectCallback,
        |x| x.reject.as_ref().map_or(&[][..], |(_, m)| m.as_bytes()),
    )?;
    add_blob(
        l,
        "msg_method_name",
        |x| x.api == ApiType::InspectMessage,
        |x| x.method_name.as_bytes(),
    )?;
    l.func_wrap("ic0", "msg_reject_code", |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        match (ctx(&c).api, &ctx(&c).reject) {
            (ApiType::ReplyCallback, _) | (ApiType::Cleanup, None) => Ok(0),
            (ApiType::RejectCallback | ApiType::Cleanup, Some((code, _))) => Ok(*code as i32),
            _ => not_allowed(&c, "msg_reject_code"),
        }
    })?;
    l.func_wrap("ic0", "msg_deadline", |mut c: C| -> HostResult<i64> {
        charge(&mut c, 0)?;
        if !ctx(&c).api.can_respond() {
            return not_allowed(&c, "msg_deadline");
        }
        Ok(ctx(&c).deadline as i64)
    })?;
    l.func_wrap("ic0", "msg_reply_data_append", |mut c: C, src: i32, size: i32| {
        check_can_respond(&c, "msg_reply_data_append")?;
        let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
        let x = ctx_mut(&mut c);
        let limit = x.api.max_reply_size();
        if x.reply_buf.len() + bytes.len() > limit {
            return violation(format!(
                "ic0.msg_reply_data_append: application payload size ({}) cannot be larger than {limit}",
                x.reply_buf.len() + bytes.len()
            ));
        }
        x.reply_buf.extend_from_slice(&bytes);
        Ok(())
    })?;
    l.func_wrap("ic0", "msg_reply", |mut c: C| {
        charge(&mut c, 0)?;
        check_can_respond(&c, "msg_reply")?;
        let x = ctx_mut(&mut c);
        let payload = std::mem::take(&mut x.reply_buf);
        x.response = Some(Response::Reply(payload));
        Ok(())
    })?;
    l.func_wrap("ic0", "msg_reject", |mut c: C, src: i32, size: i32| {
        check_can_respond(&c, "msg_reject")?;
        let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
        let message = String::from_utf8(bytes)
            .or_else(|_| violation("ic0.msg_reject: the reject message is not valid UTF-8"))?;
        ctx_mut(&mut c).response = Some(Response::Reject(message));
        Ok(())
    })?;
    l.func_wrap("ic0", "accept_message", |mut c: C| {
        charge(&mut c, 0)?;
        if ctx(&c).api != ApiType::InspectMessage {
            return not_allowed(&c, "accept_message");
        }
        if ctx(&c).message_accepted {
            return violation("ic0.accept_message: the message was already accepted");
        }
        ctx_mut(&mut c).message_accepted = true;
        Ok(())
    })?;
    Ok(())
}

/// I U RQ NRQ Ry F: entry points that have an argument (a reject callback,
/// cleanup, pre_upgrade and system tasks do not).
fn has_argument(x: &MessageCtx) -> bool {
    !matches!(
        x.api,
        ApiType::RejectCallback | ApiType::Cleanup | ApiType::PreUpgrade | ApiType::SystemTask
    )
}

fn check_can_respond(c: &C, function: &str) -> HostResult<()> {
    let x = ctx(c);
    if !x.api.can_respond() {
        return not_allowed(c, function);
    }
    if x.responded() {
        return violation(format!("ic0.{function}: the call is already replied"));
    }
    Ok(())
}
