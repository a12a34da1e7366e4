//! Receipts: fetched from the router and saved as JSON, verified offline with
//! only the router's public key ([`tensormine_core::receipt::verify_receipt`]),
//! a key the verifier did not take from the file ([`Trust`],
//! [`crate::receipt_key`]).

use crate::config::Network;
use crate::env::Env;
use crate::errors::{refused, secs};
use crate::receipt_key::default_key_name;
use anyhow::{anyhow, bail, Context, Result};
use candid::Principal;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tensormine_core::receipt::{
    MinerVerdict, Receipt, ReceiptOutcome, ReceiptProof, VerificationTier,
};
use tensormine_core::router::{ReceiptError, ReceiptProofView};

/// What `receipt get` saves: the proof and the router's public key (hex).
/// The key is there for reading; `receipt verify` checks against a key it
/// derives or is given ([`Trust`]), never this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedReceipt {
    /// The router's ed25519 public key, 64 hex characters.
    pub public_key: String,
    pub proof: ReceiptProof,
}

/// [`get`], waiting (up to `max_wait`) while the receipt's batch is not signed yet.
pub async fn get_waiting(
    env: &Env,
    job_id: &str,
    max_wait: std::time::Duration,
    mut on_wait: impl FnMut(u64),
) -> Result<SavedReceipt> {
    let start = std::time::Instant::now();
    loop {
        match fetch(env, job_id).await? {
            Ok(view) => return check(env, job_id, view).await,
            Err(ReceiptError::NotYetSigned { retry_after_ns }) if start.elapsed() < max_wait => {
                let pause = std::time::Duration::from_nanos(retry_after_ns).clamp(
                    std::time::Duration::from_millis(500),
                    std::time::Duration::from_secs(10),
                );
                on_wait(secs(retry_after_ns));
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(receipt_error(job_id, e)),
        }
    }
}

async fn fetch(env: &Env, job_id: &str) -> Result<Result<ReceiptProofView, ReceiptError>> {
    let (r,): (Result<ReceiptProofView, ReceiptError>,) = env
        .query(env.canisters.router, "router", "get_receipt", (job_id,))
        .await?;
    Ok(r)
}

/// Fetches the receipt proof of a settled or refunded job and checks it
/// against the public key the router reports.
pub async fn get(env: &Env, job_id: &str) -> Result<SavedReceipt> {
    match fetch(env, job_id).await? {
        Ok(view) => check(env, job_id, view).await,
        Err(e) => Err(receipt_error(job_id, e)),
    }
}

fn receipt_error(job_id: &str, e: ReceiptError) -> anyhow::Error {
    let hint = match &e {
        ReceiptError::NotFound => Some(format!(
            "no receipt for job {job_id:?} (check the id and --network)"
        )),
        ReceiptError::NotSettled { .. } => {
            Some("receipts exist once a job is settled or refunded".into())
        }
        ReceiptError::NotYetSigned { retry_after_ns } => Some(format!(
            "its batch is signed soon: retry in {} s",
            secs(*retry_after_ns)
        )),
    };
    refused("router.get_receipt", &e, hint)
}

/// Checks a fetched proof against the key derived for the configured router
/// (localnet's master key on local networks, the IC's `key_1` elsewhere),
/// and that the key the router reports is that key.
async fn check(env: &Env, job_id: &str, view: ReceiptProofView) -> Result<SavedReceipt> {
    let proof = view.to_proof().ok_or_else(|| {
        anyhow!("router.get_receipt returned a proof with a hash that is not 32 bytes")
    })?;
    let network = if env.local {
        Network::Local
    } else {
        Network::Ic
    };
    let router = env.canisters.router;
    let key = crate::receipt_key::router_key(&network, default_key_name(&network), router)?;
    if !view.public_key.is_empty() && view.public_key != key {
        bail!(
            "router {router} reports the receipt key {}, but its key derived from the network's master key is {}",
            hex::encode(&view.public_key),
            hex::encode(key)
        );
    }
    let trust = Trust {
        key,
        router: Some(router),
        job: Some(job_id.to_string()),
    };
    verify_proof(&proof, &trust)
        .map_err(|e| anyhow!("the router's receipt for job {job_id} does not verify: {e}"))?;
    Ok(SavedReceipt {
        public_key: hex::encode(key),
        proof,
    })
}

/// What a receipt is checked against; nothing of it comes from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The router's receipt key ([`crate::receipt_key::router_key`] or `--public-key`).
    pub key: [u8; 32],
    /// The router canister the receipt must come from, when known.
    pub router: Option<Principal>,
    /// The job the receipt must be of (`--job`).
    pub job: Option<String>,
}

/// [`verify_receipt`](tensormine_core::receipt::verify_receipt) against
/// `trust.key`, then the router and the job asked for.
pub fn verify_proof(proof: &ReceiptProof, trust: &Trust) -> Result<Receipt> {
    let r = tensormine_core::receipt::verify_receipt(proof, &trust.key)?;
    if let Some(router) = trust.router {
        if proof.batch.router.0 != router.as_slice() {
            bail!(
                "it was signed by router {}, not {router}",
                principal_text(&proof.batch.router.0)
            );
        }
    }
    if let Some(job) = &trust.job {
        if r.job_id != *job {
            bail!("it is the receipt of job {:?}, not of {job:?}", r.job_id);
        }
    }
    Ok(r)
}

/// Reads a saved receipt: a [`SavedReceipt`] (the proof and the key it
/// names), or a bare [`ReceiptProof`].
pub fn load(path: &Path) -> Result<(ReceiptProof, Option<[u8; 32]>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Ok(saved) = serde_json::from_str::<SavedReceipt>(&text) {
        let key = crate::parse::public_key(&saved.public_key)
            .map_err(|e| anyhow!("{}: public_key: {e}", path.display()))?;
        return Ok((saved.proof, Some(key)));
    }
    match serde_json::from_str::<ReceiptProof>(&text) {
        Ok(proof) => Ok((proof, None)),
        Err(e) => bail!(
            "{} is not a receipt proof ({e}); save one with `tensormine receipt get JOB --out FILE`",
            path.display()
        ),
    }
}

/// Verifies a saved receipt offline against `trust`. The key the file names
/// is not used; when it differs from the trusted one the error says so.
pub fn verify_file(path: &Path, trust: &Trust) -> Result<Receipt> {
    let (proof, file_key) = load(path)?;
    verify_proof(&proof, trust).map_err(|e| {
        let note = match file_key {
            Some(k) if k != trust.key => format!(
                " (the file names the key {}, not the router's {}: it was not signed by this router)",
                hex::encode(k),
                hex::encode(trust.key)
            ),
            _ => String::new(),
        };
        anyhow!("receipt does not verify: {e}{note}")
    })
}

fn principal_text(bytes: &[u8]) -> String {
    if bytes.len() <= 29 {
        Principal::from_slice(bytes).to_text()
    } else {
        format!("0x{}", hex::encode(bytes))
    }
}

/// A time in ns since the epoch as `YYYY-MM-DD hh:mm:ss UTC`.
pub fn time_text(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    let (y, mo, d) = civil_from_days(days as i64);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02} UTC")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The receipt's fields, one per line.
pub fn describe(r: &Receipt) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<14} {v}\n"));
    line("job", r.job_id.clone());
    line("router", principal_text(&r.router.0));
    line("index", r.index.to_string());
    line("submitter", principal_text(&r.submitter.0));
    line("workload", r.workload.to_string());
    line(
        "tier",
        match &r.tier {
            VerificationTier::None => "none".into(),
            VerificationTier::Audit { rate_ppm } => format!("audit:{rate_ppm}"),
            VerificationTier::Redundant { k } => format!("redundant:{k}"),
            VerificationTier::Freivalds => "freivalds".into(),
        },
    );
    line(
        "outcome",
        match &r.outcome {
            ReceiptOutcome::Verified => "verified".into(),
            ReceiptOutcome::Unverified => "unverified (accepted on the worker's signature)".into(),
            ReceiptOutcome::Refunded { reason } => format!("refunded ({reason})"),
        },
    );
    line("spec hash", r.spec_hash.to_hex());
    match &r.result {
        Some(res) => {
            line("result", format!("{}×{}", res.rows, res.cols));
            line("result sha256", res.sha256.to_hex());
            line("merkle root", res.merkle_root.to_hex());
        }
        None => line("result", "none".into()),
    }
    for m in &r.miners {
        let verdict = match &m.verdict {
            MinerVerdict::Accepted => "accepted".to_string(),
            MinerVerdict::Rejected { reason } => format!("rejected ({reason})"),
            MinerVerdict::TimedOut => "timed out".into(),
            MinerVerdict::Failed { reason } => format!("failed ({reason})"),
            MinerVerdict::Unchecked => "not checked".into(),
        };
        line(
            "miner",
            format!(
                "{} paid {} sats, {verdict}, slashed {} sats",
                principal_text(&m.miner.0),
                m.paid_sats,
                m.slashed_sats
            ),
        );
    }
    line("held", format!("{} sats", r.held_sats));
    line("fee", format!("{} sats", r.fee_sats));
    line("refunded", format!("{} sats", r.refunded_sats));
    line("submitted", time_text(r.submitted_at_ns));
    line("settled", time_text(r.settled_at_ns));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::time_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            super::time_text(1_700_000_000_000_000_000),
            "2023-11-14 22:13:20 UTC"
        );
        assert_eq!(
            super::time_text(951_782_400_000_000_000),
            "2000-02-29 00:00:00 UTC"
        );
    }
}
