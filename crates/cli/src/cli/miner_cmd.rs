//! `miner …`: registration, status, challenges, withdrawals and bonds.

use super::account_cmd::{print_balance, withdraw};
use super::args::MinerCmd;
use super::Cli;
use crate::{account, miner, parse};
use anyhow::{anyhow, Result};

pub(super) async fn run_miner(cli: &Cli, cmd: &MinerCmd) -> Result<()> {
    match cmd {
        MinerCmd::Register(args) => {
            let profile = args.profile()?;
            let env = cli.env().await?;
            let m = miner::register(&env, &profile).await?;
            println!(
                "registered miner {} ({:?}); the registry probes {} and challenges it next",
                m.principal, m.status, m.profile.endpoint
            );
        }
        MinerCmd::Update(args) => {
            let env = cli.env().await?;
            let current = miner::get(&env, env.principal).await?.ok_or_else(|| {
                anyhow!(
                    "{} is not a registered miner: use `tensormine miner register`",
                    env.principal
                )
            })?;
            let profile = args.apply(current.profile)?;
            let m = miner::update(&env, &profile).await?;
            println!("updated miner {} ({:?})", m.principal, m.status);
        }
        MinerCmd::Status { principal } => {
            let env = cli.env().await?;
            let who = principal.unwrap_or(env.principal);
            let m = miner::get(&env, who).await?.ok_or_else(|| {
                anyhow!(
                    "{who} is not a registered miner (register with `tensormine miner register`)"
                )
            })?;
            println!("miner          {}", m.principal);
            println!(
                "status         {:?}{}",
                m.status,
                m.suspension_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            println!("endpoint       {}", m.profile.endpoint);
            println!(
                "worker key     {}",
                hex::encode(&m.profile.worker_public_key)
            );
            for g in &m.profile.gpus {
                println!(
                    "gpu            {} × {} ({})",
                    g.count,
                    g.model,
                    parse::gib(g.memory_bytes)
                );
            }
            for o in &m.profile.offers {
                println!(
                    "offer          {:?} at {} sats/unit",
                    o.workload, o.price_sats_per_unit
                );
            }
            println!("payout         {}", m.profile.btc_address);
            if !m.profile.region.is_empty() {
                println!("region         {}", m.profile.region);
            }
            if let Some(c) = &m.capability {
                println!(
                    "capability     n={} in {} ms (≥ {:.1} GFLOP/s)",
                    c.n,
                    c.elapsed_ms,
                    c.flops_lower_bound as f64 / 1e9
                );
            }
            let r = &m.reputation;
            println!("reputation     {:.1} % ({} jobs verified, {} failed; {} challenges passed, {} failed)", r.score_ppm as f64 / 1e4, r.jobs_verified, r.jobs_failed, r.challenges_passed, r.challenges_failed);
            let b = account::balance(&env, who).await?;
            print_balance(who, &b);
        }
        MinerCmd::Deregister => {
            let env = cli.env().await?;
            miner::deregister(&env).await?;
            println!("deregistered {}", env.principal);
        }
        MinerCmd::Challenge => {
            let env = cli.env().await?;
            let c = miner::challenge(&env).await?;
            println!(
                "challenge passed: n={} in {} ms (≥ {:.1} GFLOP/s)",
                c.n,
                c.elapsed_ms,
                c.flops_lower_bound as f64 / 1e9
            );
        }
        MinerCmd::Withdraw(args) => withdraw(cli, args).await?,
        MinerCmd::Bond { sats } => {
            let env = cli.env().await?;
            let b = account::bond(&env, *sats).await?;
            println!("bonded {sats} sats");
            print_balance(env.principal, &b);
        }
        MinerCmd::Unbond { sats } => {
            let env = cli.env().await?;
            let b = account::unbond(&env, *sats).await?;
            println!("unbonding {sats} sats");
            print_balance(env.principal, &b);
        }
        MinerCmd::ClaimUnbonded => {
            let env = cli.env().await?;
            let b = account::claim_unbonded(&env).await?;
            println!("claimed");
            print_balance(env.principal, &b);
        }
    }
    Ok(())
}
