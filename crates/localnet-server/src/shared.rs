//! What every handler shares: the net behind its lock, the registry of
//! submitted calls, the node key that signs query responses.

use crate::config::Config;
use candid::Principal;
use ic_certification::hash_tree::Hash;
use localnet::localnet_services::http_outcall::LiveClient;
use localnet::{LocalNet, MessageId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The key of the (single) node that answers queries.
pub(crate) struct NodeKey {
    pub(crate) key: ic_ed25519::PrivateKey,
    pub(crate) der: Vec<u8>,
    pub(crate) id: Principal,
}

/// Where a call was sent: the effective canister id or effective subnet id of
/// its URL. `read_state` of its status must use the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effective {
    Canister(Principal),
    Subnet(Principal),
}

pub(crate) struct Record {
    pub(crate) message: MessageId,
    pub(crate) sender: Principal,
    pub(crate) effective: Effective,
    pub(crate) ingress_expiry: u64,
    /// The hash of `/request_status/<id>` once it can no longer change.
    pub(crate) final_digest: Option<Hash>,
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) requests: HashMap<[u8; 32], Record>,
}

pub(crate) struct Shared {
    pub(crate) net: Arc<Mutex<LocalNet>>,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) node: NodeKey,
    pub(crate) subnet_id: Principal,
    pub(crate) root_key_der: Vec<u8>,
    /// Bumped whenever the net has made progress (waiting synchronous calls re-check).
    pub(crate) progress: watch::Sender<u64>,
    /// Live outcalls performed by the server outside the net's lock.
    pub(crate) live: Option<LiveClient>,
    pub(crate) in_flight: Mutex<HashSet<u64>>,
    pub(crate) config: Config,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
