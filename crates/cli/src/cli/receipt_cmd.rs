//! `receipt get|verify`.

use super::args::ReceiptCmd;
use super::Cli;
use crate::receipt;
use anyhow::Result;
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
        ReceiptCmd::Verify { file, public_key } => {
            let r = receipt::verify_file(file, *public_key)?;
            println!("receipt verified");
            print!("{}", receipt::describe(&r));
        }
    }
    Ok(())
}
