//! Miners in the registry: register, update, status, deregister, capability
//! challenges. (Withdrawals and bonds are in [`crate::account`].)

use crate::env::Env;
use crate::errors::{refused, secs, READ_ONLY, USE_IDENTITY};
use crate::types::*;
use anyhow::{anyhow, Context, Result};
use candid::Principal;
use std::path::Path;
use tensormine_core::registry::{Capability, Miner, MinerProfile};

/// The public key of the worker whose data directory is `dir` (from its
/// private key file `worker.key`, hex; the private key never leaves here).
pub fn worker_key_from_data_dir(dir: &Path) -> Result<[u8; 32]> {
    let path = dir.join("worker.key");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read the worker key {} (start the worker once, or run `tensormine-worker init --data-dir {}`)", path.display(), dir.display())
    })?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow!("{} does not hold a 32-byte hex key", path.display()))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes())
}

fn profile_hint(e: &ProfileError) -> Option<String> {
    Some(match e {
        ProfileError::InvalidEndpoint { .. } => {
            "--endpoint must be https://host[:port] (plain http only on local networks)".into()
        }
        ProfileError::InvalidBtcAddress { .. } => {
            "--btc-address must be an address of the registry's Bitcoin network".into()
        }
        ProfileError::InvalidPublicKey { .. } => {
            "--worker-key must be the worker's 32-byte ed25519 public key".into()
        }
        ProfileError::InvalidGpus { .. } => "check --gpu (model:memGiB:count)".into(),
        ProfileError::InvalidOffers { .. } => {
            "check --offer (one per workload: matmul=PRICE, embed=PRICE)".into()
        }
        _ => return None,
    })
}

/// Registers the caller.
pub async fn register(env: &Env, profile: &MinerProfile) -> Result<Miner> {
    let (r,): (Result<Miner, RegisterError>,) = env
        .update(
            env.canisters.registry,
            "registry",
            "register_miner",
            (profile,),
        )
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            RegisterError::InvalidProfile(p) => profile_hint(p),
            RegisterError::AlreadyRegistered => {
                Some("change it with `tensormine miner update`".into())
            }
            RegisterError::WorkerInUse { by } => {
                Some(format!("that worker key or endpoint is registered by {by}"))
            }
            RegisterError::AnonymousCaller => Some(USE_IDENTITY.into()),
            RegisterError::ReadOnly => Some(READ_ONLY.into()),
            RegisterError::RegistryFull { .. } => None,
        };
        refused("registry.register_miner", &e, hint)
    })
}

/// Replaces the caller's profile.
pub async fn update(env: &Env, profile: &MinerProfile) -> Result<Miner> {
    let (r,): (Result<Miner, UpdateError>,) = env
        .update(
            env.canisters.registry,
            "registry",
            "update_miner",
            (profile,),
        )
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            UpdateError::InvalidProfile(p) => profile_hint(p),
            UpdateError::NotRegistered => {
                Some("register first with `tensormine miner register`".into())
            }
            UpdateError::WorkerInUse { by } => {
                Some(format!("that worker key or endpoint is registered by {by}"))
            }
            UpdateError::AnonymousCaller => Some(USE_IDENTITY.into()),
            UpdateError::ReadOnly => Some(READ_ONLY.into()),
        };
        refused("registry.update_miner", &e, hint)
    })
}

/// A miner's record, if registered.
pub async fn get(env: &Env, who: Principal) -> Result<Option<Miner>> {
    let (m,): (Option<Miner>,) = env
        .query(env.canisters.registry, "registry", "get_miner", (who,))
        .await?;
    Ok(m)
}

/// Removes the caller's registration.
pub async fn deregister(env: &Env) -> Result<()> {
    let (r,): (Result<(), DeregisterError>,) = env
        .update(env.canisters.registry, "registry", "deregister_miner", ())
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            DeregisterError::NotRegistered => {
                Some("this identity is not a registered miner".into())
            }
            DeregisterError::AnonymousCaller => Some(USE_IDENTITY.into()),
            DeregisterError::ReadOnly => Some(READ_ONLY.into()),
        };
        refused("registry.deregister_miner", &e, hint)
    })
}

/// Runs a capability challenge on the caller's worker now.
pub async fn challenge(env: &Env) -> Result<Capability> {
    let (r,): (Result<Capability, ChallengeError>,) = env
        .update(env.canisters.registry, "registry", "request_challenge", ())
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            ChallengeError::TooSoon { retry_after_ns } => Some(format!("retry in {} s", secs(*retry_after_ns))),
            ChallengeError::NotRegistered => Some("register first with `tensormine miner register`".into()),
            ChallengeError::Failed { .. } => Some("the miner is suspended until a challenge passes: check the worker, then `tensormine miner challenge`".into()),
            ChallengeError::AlreadyRunning => Some("a challenge is running: wait for it".into()),
            ChallengeError::AnonymousCaller => Some(USE_IDENTITY.into()),
            ChallengeError::ReadOnly => Some(READ_ONLY.into()),
            ChallengeError::Superseded => Some("the profile changed while it ran: run it again".into()),
        };
        refused("registry.request_challenge", &e, hint)
    })
}
