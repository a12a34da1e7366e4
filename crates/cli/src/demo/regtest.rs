//! The local-only regtest controls of localnet-server (`/_/bitcoin/…`) and
//! the miners' regtest payout addresses.

use anyhow::{bail, Context, Result};
use std::time::Duration;
use tensormine_bitcoin::{BitcoinAddress, Network};

/// A regtest payout address for a demo miner (the program is a hash of its
/// name: nobody holds its key, the chain only has to accept the output).
pub(super) fn payout_address(name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("tensormine demo payout {name}").as_bytes());
    let mut program = [0u8; 20];
    program.copy_from_slice(&h[..20]);
    BitcoinAddress::P2wpkh(program).encode(Network::Regtest)
}

/// The regtest controls of the localnet-server at `url`.
pub(super) struct Regtest {
    url: String,
    http: reqwest::Client,
}

impl Regtest {
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            url: url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/_/bitcoin/{path}", self.url)
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let r = self
            .http
            .post(self.endpoint(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("localnet-server /_/bitcoin/{path}"))?;
        Self::json(r, path).await
    }

    async fn get(&self, path: &str) -> Result<serde_json::Value> {
        let r = self
            .http
            .get(self.endpoint(path))
            .send()
            .await
            .with_context(|| format!("localnet-server /_/bitcoin/{path}"))?;
        Self::json(r, path).await
    }

    async fn json(r: reqwest::Response, path: &str) -> Result<serde_json::Value> {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("localnet-server /_/bitcoin/{path}: {status}: {text} (a localnet-server without regtest controls? rebuild it)");
        }
        serde_json::from_str(&text).with_context(|| format!("/_/bitcoin/{path} answered {text}"))
    }

    /// Sends `sats` from the regtest wallet to `address`; returns the txid.
    pub async fn send_to(&self, address: &str, sats: u64) -> Result<String> {
        let v = self
            .post(
                "send_to",
                serde_json::json!({ "address": address, "sats": sats }),
            )
            .await?;
        Ok(v["txid"].as_str().unwrap_or_default().to_string())
    }

    /// Mines `blocks` blocks; returns the new tip height.
    pub async fn mine(&self, blocks: u32) -> Result<u64> {
        let v = self
            .post("mine", serde_json::json!({ "blocks": blocks }))
            .await?;
        Ok(v["tip_height"].as_u64().unwrap_or(0))
    }

    pub async fn tx(&self, txid: &str) -> Result<serde_json::Value> {
        self.get(&format!("tx/{txid}")).await
    }

    /// The transaction, or `None` while the chain does not know it.
    pub async fn tx_opt(&self, txid: &str) -> Result<Option<serde_json::Value>> {
        let r = self
            .http
            .get(self.endpoint(&format!("tx/{txid}")))
            .send()
            .await
            .context("localnet-server /_/bitcoin/tx")?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Self::json(r, "tx").await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bech32_matches_bip173() {
        // BIP173's P2WPKH test vector, on mainnet's and regtest's prefixes.
        let program: [u8; 20] = hex::decode("751e76e8199196d454941c45d1b3a323f1433bd6")
            .unwrap()
            .try_into()
            .unwrap();
        let address = BitcoinAddress::P2wpkh(program);
        assert_eq!(
            address.encode(Network::Mainnet),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        assert_eq!(
            address.encode(Network::Regtest),
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
        );
        assert_ne!(payout_address("alice"), payout_address("bob"));
        assert!(payout_address("alice").starts_with("bcrt1q"));
    }
}
