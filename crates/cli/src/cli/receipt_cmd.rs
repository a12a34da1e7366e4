//! `receipt get|verify`.

use super::args::ReceiptCmd;
use super::Cli;
use crate::config::CanisterIds;
use crate::{receipt, receipt_key};
use anyhow::{bail, Result};
use candid::Principal;
use std::path::PathBuf;

pub(super) async fn run_receipt(cli: &Cli, cmd: &ReceiptCmd) -> Result<()> {
    match cmd {
        ReceiptCmd::Get { job, out } => {
            let env = cli.env().await?;
            let saved = receipt::get_waiting(&env, job, std::time::Duration::from_secs(300), |s| {
                eprintln!("the receipt's batch is not signed yet; retrying (about {s} s)…")
            })
            .await?;
            let path = out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("receipt-{job}.json")));
            crate::config::write_json(&path, &saved)?;
            println!(
                "receipt of job {job} verified against the router's key {} and saved to {}",
                saved.public_key,
                path.display()
            );
        }
        ReceiptCmd::Verify {
            file,
            job,
            router,
            key_name,
            public_key,
        } => {
            let trust = trust(cli, *router, key_name.as_deref(), *public_key, job.clone())?;
            let r = receipt::verify_file(file, &trust)?;
            println!(
                "receipt verified against router key {}",
                hex::encode(trust.key)
            );
            print!("{}", receipt::describe(&r));
        }
    }
    Ok(())
}

/// The key and router a receipt is checked against, from the command line
/// and the network's canister ids (offline: no call is made).
fn trust(
    cli: &Cli,
    router: Option<Principal>,
    key_name: Option<&str>,
    public_key: Option<[u8; 32]>,
    job: Option<String>,
) -> Result<receipt::Trust> {
    let router = match router {
        Some(r) => Some(r),
        None => configured_router(cli)?,
    };
    let key = match (public_key, router) {
        (Some(key), _) => key,
        (None, Some(router)) => {
            let name = key_name.unwrap_or_else(|| receipt_key::default_key_name(&cli.network));
            receipt_key::router_key(&cli.network, name, router)?
        }
        (None, None) => bail!(
            "no router to check the receipt against on network {}: pass --router ID (its key is then derived from the network's master key) or --public-key HEX; the key in the file is never trusted",
            cli.network.name()
        ),
    };
    Ok(receipt::Trust { key, router, job })
}

/// The router of the network's canister ids: from `--canisters` (which must
/// then be readable) or the default ids file, if there is one.
fn configured_router(cli: &Cli) -> Result<Option<Principal>> {
    match &cli.canisters {
        Some(path) => Ok(Some(CanisterIds::load(path, &cli.network)?.router)),
        None => {
            let path = CanisterIds::default_path(&cli.state_dir, &cli.network);
            Ok(CanisterIds::load(&path, &cli.network)
                .ok()
                .map(|c| c.router))
        }
    }
}
