//! What every network command works with: an agent, the canister ids, and
//! typed Candid calls whose failures say what went wrong and what to do.

use crate::config::{CanisterIds, LocalNetworkFile, Network, IC_URL};
use crate::identity::LoadedIdentity;
use anyhow::{anyhow, Context, Result};
use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use candid::{CandidType, Principal};
use ic_agent::Agent;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::time::Duration;

/// The context of network commands. Build it with [`Env::new`] from an agent
/// made by the caller (tests, the demo) or with [`connect`].
#[derive(Clone)]
pub struct Env {
    pub agent: Agent,
    pub canisters: CanisterIds,
    /// The caller's principal.
    pub principal: Principal,
    /// Local networks allow plain-http worker endpoints, the provisional API, …
    pub local: bool,
    /// For results fetched from workers.
    pub http: reqwest::Client,
}

impl Env {
    pub fn new(agent: Agent, canisters: CanisterIds, local: bool) -> Result<Self> {
        let principal = agent
            .get_principal()
            .map_err(|e| anyhow!("the agent has no usable identity: {e}"))?;
        Ok(Self {
            agent,
            canisters,
            principal,
            local,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .context("cannot build an HTTP client")?,
        })
    }

    pub async fn query<A, R>(
        &self,
        canister: Principal,
        name: &str,
        method: &str,
        args: A,
    ) -> Result<R>
    where
        A: ArgumentEncoder,
        R: for<'a> ArgumentDecoder<'a>,
    {
        query(&self.agent, canister, name, method, args).await
    }

    pub async fn update<A, R>(
        &self,
        canister: Principal,
        name: &str,
        method: &str,
        args: A,
    ) -> Result<R>
    where
        A: ArgumentEncoder,
        R: for<'a> ArgumentDecoder<'a>,
    {
        update(&self.agent, canister, name, method, args).await
    }
}

/// The URL and, for local networks, the root key to trust.
pub fn endpoint(
    network: &Network,
    state_dir: &std::path::Path,
) -> Result<(String, Option<Vec<u8>>)> {
    match network {
        Network::Ic => Ok((IC_URL.to_string(), None)),
        Network::Url(url) => Ok((url.clone(), None)),
        Network::Local => {
            let file = LocalNetworkFile::load(state_dir)?;
            let key = file.root_key_der()?;
            Ok((file.url, Some(key)))
        }
    }
}

/// An agent for `network` signing as `identity`. The root key is taken from
/// `local.json` for `local`, fetched from loopback URLs, and never fetched for
/// other networks (the IC's is built into ic-agent).
pub async fn build_agent(
    network: &Network,
    state_dir: &std::path::Path,
    identity: &LoadedIdentity,
) -> Result<Agent> {
    let (url, root_key) = endpoint(network, state_dir)?;
    let agent = Agent::builder()
        .with_url(url.clone())
        .with_arc_identity(identity.identity.clone())
        .with_ingress_expiry(Duration::from_secs(4 * 60))
        .build()
        .map_err(|e| anyhow!("cannot build an agent for {url}: {e}"))?;
    match root_key {
        Some(key) => agent.set_root_key(key),
        None if network.is_local() => agent.fetch_root_key().await.map_err(|e| {
            anyhow!(
                "cannot reach {url} ({}): is the network running? (`tensormine network start`)",
                short_agent_error(&e)
            )
        })?,
        None => {}
    }
    Ok(agent)
}

/// Builds the [`Env`]: agent, identity and canister ids (`ids_file`, or
/// `canisters-<network>.json` in the state directory).
pub async fn connect(
    network: &Network,
    state_dir: &std::path::Path,
    identity: &LoadedIdentity,
    ids_file: Option<PathBuf>,
) -> Result<Env> {
    let path = ids_file.unwrap_or_else(|| CanisterIds::default_path(state_dir, network));
    let canisters = CanisterIds::load(&path, network)?;
    let agent = build_agent(network, state_dir, identity).await?;
    Env::new(agent, canisters, network.is_local())
}

/// One line about an agent error.
pub fn short_agent_error(e: &ic_agent::AgentError) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.len() > 400 {
        format!("{}…", &line[..400])
    } else {
        line
    }
}

fn call_error(
    e: ic_agent::AgentError,
    name: &str,
    method: &str,
    agent_url_hint: bool,
) -> anyhow::Error {
    use ic_agent::AgentError as E;
    let what = format!("{name}.{method}");
    match &e {
        E::CertifiedReject { reject, .. } | E::UncertifiedReject { reject, .. } => {
            let message = &reject.reject_message;
            let hint = if message.contains("not found") || message.contains("no Wasm module") || message.contains("does not exist") {
                " (is it deployed on this network? run `tensormine deploy`, or check --canisters)"
            } else if message.contains("has no") && message.contains("method") {
                " (the canister has no such method: is the deployed version current? run `tensormine deploy`)"
            } else {
                ""
            };
            anyhow!("{what} was rejected ({:?}): {message}{hint}", reject.reject_code)
        }
        E::TransportError(_) => {
            anyhow!("{what}: cannot reach the network ({}){}", short_agent_error(&e), if agent_url_hint { "; is it running? (`tensormine network start` for local)" } else { "" })
        }
        E::TimeoutWaitingForResponse() => anyhow!("{what}: no answer before the timeout; the call may still execute — check its effect before repeating it"),
        _ => anyhow!("{what} failed: {}", short_agent_error(&e)),
    }
}

fn encode<A: ArgumentEncoder>(name: &str, method: &str, args: A) -> Result<Vec<u8>> {
    candid::encode_args(args)
        .map_err(|e| anyhow!("cannot encode the arguments of {name}.{method}: {e}"))
}

fn decode<R: for<'a> ArgumentDecoder<'a>>(name: &str, method: &str, reply: &[u8]) -> Result<R> {
    candid::decode_args(reply).map_err(|e| {
        anyhow!("{name}.{method} answered in an unexpected form ({}); is the deployed canister the version this CLI was built for?", first_line(&e.to_string()))
    })
}

/// A typed query.
pub async fn query<A, R>(
    agent: &Agent,
    canister: Principal,
    name: &str,
    method: &str,
    args: A,
) -> Result<R>
where
    A: ArgumentEncoder,
    R: for<'a> ArgumentDecoder<'a>,
{
    let reply = agent
        .query(&canister, method)
        .with_arg(encode(name, method, args)?)
        .call()
        .await
        .map_err(|e| call_error(e, name, method, true))?;
    decode(name, method, &reply)
}

/// A typed update call (waits for the certified answer).
pub async fn update<A, R>(
    agent: &Agent,
    canister: Principal,
    name: &str,
    method: &str,
    args: A,
) -> Result<R>
where
    A: ArgumentEncoder,
    R: for<'a> ArgumentDecoder<'a>,
{
    let reply = agent
        .update(&canister, method)
        .with_arg(encode(name, method, args)?)
        .call_and_wait()
        .await
        .map_err(|e| call_error(e, name, method, true))?;
    decode(name, method, &reply)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Decodes one value (for callers holding raw bytes).
pub fn decode_one<T: CandidType + DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    candid::decode_one(bytes).map_err(|e| anyhow!("unexpected Candid answer: {e}"))
}
