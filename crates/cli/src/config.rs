//! Networks, the project's state directory (`.tensormine/`) and the files in
//! it: `local.json` (the local network's URL and root key, written by
//! `network start`) and `canisters-<network>.json` (canister ids, written by
//! `deploy`).

use anyhow::{anyhow, bail, Context, Result};
use candid::Principal;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The IC's public API endpoint.
pub const IC_URL: &str = "https://icp-api.io";
/// The ckBTC ledger on the IC.
pub const IC_CKBTC_LEDGER: &str = "mxzaz-hqaaa-aaaar-qaada-cai";

/// Which IC network the CLI talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The local network started by `tensormine network start` (`.tensormine/local.json`).
    Local,
    /// IC mainnet.
    Ic,
    /// Any other replica or gateway by URL.
    Url(String),
}

impl Network {
    /// `local`, `ic`, or an `http(s)://` URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "local" => Ok(Network::Local),
            "ic" => Ok(Network::Ic),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
                if rest.is_empty() || rest.starts_with('/') {
                    return Err(format!("{url:?} has no host"));
                }
                Ok(Network::Url(url.trim_end_matches('/').to_string()))
            }
            other => Err(format!(
                "unknown network {other:?}: use `local`, `ic` or an http(s):// URL"
            )),
        }
    }

    /// The name used in `canisters-<name>.json`.
    pub fn name(&self) -> String {
        match self {
            Network::Local => "local".into(),
            Network::Ic => "ic".into(),
            Network::Url(url) => {
                let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
                rest.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            }
        }
    }

    /// A development network: its root key is fetched (never for `ic`), plain
    /// `http://` worker endpoints are allowed and canisters are created with
    /// the provisional API.
    pub fn is_local(&self) -> bool {
        match self {
            Network::Local => true,
            Network::Ic => false,
            Network::Url(url) => is_loopback_url(url),
        }
    }
}

/// True for `http(s)://` URLs whose host is a loopback address or `localhost`.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// `.tensormine/local.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalNetworkFile {
    pub url: String,
    /// DER of the local network's root key, hex.
    pub root_key: String,
    /// The server process (`network stop` ends it).
    pub pid: Option<u32>,
}

impl LocalNetworkFile {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("local.json")
    }

    pub fn load(state_dir: &Path) -> Result<Self> {
        let path = Self::path(state_dir);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            anyhow!(
                "the local network is not started ({} is missing): run `tensormine network start`",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is malformed: run `tensormine network start` again",
                path.display()
            )
        })
    }

    pub fn save(&self, state_dir: &Path) -> Result<PathBuf> {
        let path = Self::path(state_dir);
        write_json(&path, self)?;
        Ok(path)
    }

    pub fn root_key_der(&self) -> Result<Vec<u8>> {
        hex::decode(&self.root_key).map_err(|_| {
            anyhow!("root_key in local.json is not hex: run `tensormine network start` again")
        })
    }
}

/// Canister ids of one network (`canisters-<network>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanisterIds {
    #[serde(with = "principal_text")]
    pub registry: Principal,
    #[serde(with = "principal_text")]
    pub escrow: Principal,
    #[serde(with = "principal_text")]
    pub router: Principal,
    /// The ckBTC ledger (installed by `deploy` on local networks).
    #[serde(
        default,
        with = "opt_principal_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub ckbtc_ledger: Option<Principal>,
}

impl CanisterIds {
    pub fn default_path(state_dir: &Path, network: &Network) -> PathBuf {
        state_dir.join(format!("canisters-{}.json", network.name()))
    }

    /// Reads the ids file; `network` names the network in the error message.
    pub fn load(path: &Path, network: &Network) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "no canister ids for network {} ({} is missing): run `tensormine deploy` first, or pass --canisters FILE",
                network.name(),
                path.display()
            ),
            Err(e) => bail!("cannot read {}: {e}", path.display()),
        };
        serde_json::from_str(&text).map_err(|e| {
            anyhow!(
                "{} is not a canister ids file ({e}); expected {{\"registry\":\"…\",\"escrow\":\"…\",\"router\":\"…\"}}",
                path.display()
            )
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

/// Writes pretty JSON, creating the parent directory.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    let text = serde_json::to_string_pretty(value).expect("serialisable");
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

mod principal_text {
    use candid::Principal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Principal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_text())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Principal, D::Error> {
        let text = String::deserialize(d)?;
        Principal::from_text(&text).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

mod opt_principal_text {
    use candid::Principal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<Principal>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(&p.to_text()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Principal>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => Principal::from_text(&text)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}"))),
        }
    }
}
