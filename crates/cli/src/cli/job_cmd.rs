//! `job …`: quote, submit, wait, status, result, cancel, list.

use super::args::JobCmd;
use super::Cli;
use crate::{dispute, job, parse};
use anyhow::{bail, Context, Result};
use tensormine_core::router::JobView;

/// A job view, one field per line.
pub fn describe_job(v: &JobView) -> String {
    let mut out = String::new();
    let mut line = |k: &str, val: String| out.push_str(&format!("{k:<14} {val}\n"));
    line("job", v.id.clone());
    line("status", format!("{:?}", v.status));
    if let Some(r) = &v.reason {
        line("reason", r.clone());
    }
    line("workload", format!("{:?} ({} units)", v.workload, v.units));
    line("tier", parse::tier_text(&v.tier));
    line("max price", format!("{} sats", v.max_price_sats));
    let (done, total) = job::progress(v);
    if total > 0 {
        line("progress", format!("{done}/{total}"));
    }
    for a in &v.assignments {
        line(
            "miner",
            format!(
                "{} {:?} {:?} at {} ({} sats)",
                a.miner, a.role, a.state, a.endpoint, a.price_sats
            ),
        );
    }
    if v.failovers > 0 {
        line("failovers", v.failovers.to_string());
    }
    if let Some(c) = &v.result {
        line(
            "result",
            format!(
                "{}×{}, {} bytes, sha256 {}",
                c.rows,
                c.cols,
                c.byte_len,
                hex::encode(&c.sha256)
            ),
        );
        line(
            "stored",
            if v.stored_result_bytes > 0 {
                "by the router".into()
            } else {
                "on the worker".to_string()
            },
        );
    }
    if v.status.is_final() {
        line("paid", format!("{} sats", v.paid_sats));
        line("fee", format!("{} sats", v.fee_sats));
        line("refunded", format!("{} sats", v.refunded_sats));
    }
    if let Some(i) = v.receipt_index {
        line(
            "receipt",
            format!("#{i} (`tensormine receipt get {}`)", v.id),
        );
    }
    out
}

/// Prints the client check's outcome; a wrong row is an error (after its
/// fraud proof was filed, when it could be).
fn report_client_check(check: dispute::ClientCheck, id: &str) -> Result<()> {
    use dispute::ClientCheck;
    match check {
        ClientCheck::Passed { vectors } => println!(
            "checked: {vectors} Freivalds vectors over the whole result, no wrong row (a wrong row is missed with p ≤ 2^-{vectors})"
        ),
        ClientCheck::NotChecked { why } => println!("not checked here: {why}"),
        ClientCheck::Wrong { row, filed: Ok(v) } => bail!(
            "the result of job {id} is wrong at row {row} (column {}): fraud proof accepted, miner {} rejected and slashed to you, the job is refunded",
            v.column,
            v.miner
        ),
        ClientCheck::Wrong { row, filed: Err(why) } => bail!(
            "the result of job {id} is wrong at row {row}; no fraud proof was accepted: {why}; do not use it"
        ),
    }
    Ok(())
}

pub(super) async fn run_job(cli: &Cli, cmd: &JobCmd) -> Result<()> {
    match cmd {
        JobCmd::Submit { spec, wait } => {
            let (req, seeds) = spec.request()?;
            let env = cli.env().await?;
            let view = job::submit(&env, &req).await?;
            println!("submitted job {} ({:?})", view.id, view.status);
            // Kept for `job result`'s client check (the operands' seeds or values).
            dispute::save_request(&cli.state_dir, &view.id, &req)?;
            if let Some((a, b)) = seeds {
                println!("seed A         {}", hex::encode(a));
                println!("seed B         {}", hex::encode(b));
            }
            if *wait {
                let view = job::wait(&env, &view.id).await?;
                print!("{}", describe_job(&view));
                if job::in_dispute_window(&view) {
                    println!(
                        "verified; the miners are paid when the dispute window closes: check the result now with `tensormine job result {}`",
                        view.id
                    );
                } else if view.status != tensormine_core::router::JobStatus::Settled {
                    bail!(
                        "job {} ended {:?}{}",
                        view.id,
                        view.status,
                        view.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    );
                }
            } else {
                println!("follow it with `tensormine job status {}`", view.id);
            }
        }
        JobCmd::Quote { spec } => {
            let (req, _) = spec.request()?;
            let env = cli.env().await?;
            let q = job::quote(&env, &req).await?;
            println!("units          {}", q.units);
            println!("miners now     {}", q.eligible_miners);
            match q.best_price_per_unit {
                Some(p) => println!("best price     {p} sats/unit"),
                None => println!("best price     none (no eligible miner)"),
            }
            println!("payments       {}", q.payments_reserved);
            println!("fees           {} sats", q.fee_sats);
            match q.min_max_price_sats {
                Some(p) => println!("--max-price    at least {p} sats"),
                None => println!("--max-price    no miner can take it now"),
            }
        }
        JobCmd::Status { id } => {
            let env = cli.env().await?;
            print!("{}", describe_job(&job::status(&env, id).await?));
        }
        JobCmd::Result { id, out } => {
            let env = cli.env().await?;
            let r = job::result(&env, id).await?;
            let from = match &r.source {
                job::ResultSource::Router => "the router".to_string(),
                job::ResultSource::Worker(e) => format!("the worker at {e}"),
            };
            println!("result of job {id}: {}×{} f32, {} bytes from {from}, Merkle root and sha256 {} match the commitment", r.rows, r.cols, r.bytes.len(), hex::encode(r.sha256));
            report_client_check(dispute::check(&env, &cli.state_dir, &r).await?, id)?;
            match out {
                Some(path) => {
                    std::fs::write(path, &r.bytes)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                None => {
                    let values = r.values();
                    let cols = r.cols.max(1) as usize;
                    for row in values.chunks(cols).take(4) {
                        let shown: Vec<String> =
                            row.iter().take(8).map(|v| format!("{v:.6}")).collect();
                        println!(
                            "  [{}{}]",
                            shown.join(", "),
                            if row.len() > 8 { ", …" } else { "" }
                        );
                    }
                    if r.rows > 4 {
                        println!("  … {} more rows (save all with --out FILE)", r.rows - 4);
                    }
                }
            }
        }
        JobCmd::Cancel { id } => {
            let env = cli.env().await?;
            let v = job::cancel(&env, id).await?;
            println!("job {} is {:?}", v.id, v.status);
        }
        JobCmd::List => {
            let env = cli.env().await?;
            let jobs = job::list(&env).await?;
            if jobs.is_empty() {
                println!("no jobs");
            }
            for v in jobs {
                println!(
                    "{}  {:<10} {:?} {} units, max {} sats",
                    v.id,
                    format!("{:?}", v.status),
                    v.workload,
                    v.units,
                    v.max_price_sats
                );
            }
        }
    }
    Ok(())
}
