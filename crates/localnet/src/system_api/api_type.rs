//! The kinds of entry point, and which system calls each may make.

use super::MAX_REPLY_SIZE;

/// The kind of entry point running, which decides which system calls it may make
/// (the spec's I, G, U, RQ, NRQ, Ry, Rt, C, F, T abbreviations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiType {
    Init,
    PreUpgrade,
    PostUpgrade,
    Update,
    /// A query method executed as part of an update call (state discarded).
    ReplicatedQuery,
    /// A query method called through the query interface: it may read a data certificate.
    NonReplicatedQuery,
    ReplyCallback,
    RejectCallback,
    Cleanup,
    InspectMessage,
    /// `canister_global_timer`, `canister_heartbeat`, `canister_on_low_wasm_memory`.
    SystemTask,
}

impl ApiType {
    pub(super) fn name(self) -> &'static str {
        match self {
            ApiType::Init => "init",
            ApiType::PreUpgrade => "pre_upgrade",
            ApiType::PostUpgrade => "post_upgrade",
            ApiType::Update => "update",
            ApiType::ReplicatedQuery => "replicated query",
            ApiType::NonReplicatedQuery => "non-replicated query",
            ApiType::ReplyCallback => "reply callback",
            ApiType::RejectCallback => "reject callback",
            ApiType::Cleanup => "cleanup",
            ApiType::InspectMessage => "inspect message",
            ApiType::SystemTask => "system task",
        }
    }

    pub(super) fn is_query(self) -> bool {
        matches!(self, ApiType::ReplicatedQuery | ApiType::NonReplicatedQuery)
    }

    pub(super) fn is_callback(self) -> bool {
        matches!(self, ApiType::ReplyCallback | ApiType::RejectCallback)
    }

    /// U Q Ry Rt: entry points that belong to a call context that can be answered.
    pub(super) fn can_respond(self) -> bool {
        matches!(self, ApiType::Update) || self.is_query() || self.is_callback()
    }

    /// U Ry Rt T: entry points that may make inter-canister calls.
    pub(super) fn can_call(self) -> bool {
        matches!(self, ApiType::Update | ApiType::SystemTask) || self.is_callback()
    }

    /// I G U Ry Rt T: entry points whose state changes persist.
    pub(super) fn can_change_state(self) -> bool {
        matches!(
            self,
            ApiType::Init
                | ApiType::PreUpgrade
                | ApiType::PostUpgrade
                | ApiType::Update
                | ApiType::SystemTask
        ) || self.is_callback()
    }

    /// U RQ Ry Rt.
    pub(super) fn can_accept_cycles(self) -> bool {
        matches!(self, ApiType::Update | ApiType::ReplicatedQuery) || self.is_callback()
    }

    /// I G U RQ Ry Rt C T.
    pub(super) fn can_burn_cycles(self) -> bool {
        !matches!(self, ApiType::NonReplicatedQuery | ApiType::InspectMessage)
    }

    /// The spec's maximum response size: 3 MiB for non-replicated queries,
    /// 2 MiB when the response goes through consensus.
    pub fn max_reply_size(self) -> usize {
        if self == ApiType::NonReplicatedQuery {
            3 * 1024 * 1024
        } else {
            MAX_REPLY_SIZE
        }
    }

    pub fn is_replicated(self) -> bool {
        !matches!(self, ApiType::NonReplicatedQuery | ApiType::InspectMessage)
    }
}
