//! The command line (clap derive) and its dispatch to the library functions.
//!
//! * `args` — the clap definitions: global options, subcommands, arguments.
//! * `request` — arguments to a job request or a miner profile.
//! * the rest of this file — loading the identity, connecting, and dispatch.

mod args;
mod request;

pub use args::{
    AccountCmd, Cli, Command, DemoArgs, DeployArgs, IdentityCmd, JobCmd, MinerCmd, NetworkCmd,
    ProfileArgs, ReceiptCmd, SpecArgs, WithdrawArgs,
};
pub use request::Seeds;

use crate::config::{CanisterIds, Network};
use crate::identity::{self, IdentitySource, LoadedIdentity};
use crate::{account, deploy, env, job, miner, network, parse, receipt, types};
use anyhow::{anyhow, bail, Context, Result};
use candid::Principal;
use std::path::PathBuf;
use tensormine_core::router::JobView;

impl Cli {
    pub fn identity_source(&self) -> IdentitySource {
        match (&self.identity, &self.pem) {
            (Some(name), _) => IdentitySource::Dfx(name.clone()),
            (None, Some(pem)) => IdentitySource::Pem(pem.clone()),
            (None, None) => IdentitySource::Default(self.state_dir.join("identity.pem")),
        }
    }

    fn load_identity(&self) -> Result<LoadedIdentity> {
        let id = identity::load(&self.identity_source())?;
        if id.created {
            eprintln!(
                "created a new ed25519 identity {} in {} (keep it: it owns your funds; use --identity/--pem for another)",
                id.principal,
                id.path.display()
            );
        }
        Ok(id)
    }

    async fn env(&self) -> Result<env::Env> {
        let id = self.load_identity()?;
        env::connect(&self.network, &self.state_dir, &id, self.canisters.clone()).await
    }
}

fn print_balance(who: Principal, b: &types::Balance) {
    println!("account        {who}");
    println!("available      {} sats", b.available);
    println!("held           {} sats", b.held);
    println!("bonded         {} sats", b.bonded);
    if b.unbonding > 0 {
        println!(
            "unbonding      {} sats (claimable from {})",
            b.unbonding,
            receipt::time_text(b.unbonding_ready_at_ns)
        );
    }
}

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

fn withdraw_target(args: &WithdrawArgs) -> Result<()> {
    if args.amount == 0 {
        bail!("--amount must be more than 0 sats");
    }
    Ok(())
}

async fn withdraw(cli: &Cli, args: &WithdrawArgs) -> Result<()> {
    withdraw_target(args)?;
    let env = cli.env().await?;
    if let Some(address) = &args.btc_address {
        let p = account::withdraw_btc(&env, address, args.amount).await?;
        println!("BTC payout #{} of {} sats to {} queued (the fee share of its batch transaction is deducted)", p.id, p.amount, p.address);
    } else {
        let to = args.to.unwrap_or(env.principal);
        let r = account::withdraw_ckbtc(&env, args.amount, types::Account::from(to)).await?;
        println!(
            "sent {} sats of ckBTC to {to} (ledger fee {}; block {})",
            r.amount - r.ledger_fee.min(r.amount),
            r.ledger_fee,
            r.block_index
        );
    }
    Ok(())
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Whoami => {
            let id = cli.load_identity()?;
            println!("{}", id.principal);
        }
        Command::Identity(IdentityCmd::New { file }) => {
            if file.exists() {
                bail!(
                    "{} exists: not overwriting a key (pick another file)",
                    file.display()
                );
            }
            identity::create_default(file)?;
            let id = identity::load(&IdentitySource::Pem(file.clone()))?;
            println!("{}", id.principal);
            eprintln!(
                "wrote a new ed25519 key to {} (use it with --pem {})",
                file.display(),
                file.display()
            );
        }
        Command::Network(cmd) => {
            match cmd {
                NetworkCmd::Start { port } => {
                    if cli.network != Network::Local {
                        bail!("`network start` starts the local network; drop --network");
                    }
                    let server = network::find_server()?;
                    let file = network::start(&cli.state_dir, *port, &server).await?;
                    println!(
                        "local network running at {} (pid {})",
                        file.url,
                        file.pid.unwrap_or(0)
                    );
                    println!(
                        "wrote {}; next: `tensormine deploy`",
                        crate::config::LocalNetworkFile::path(&cli.state_dir).display()
                    );
                }
                NetworkCmd::Stop => {
                    let file = network::stop(&cli.state_dir)?;
                    println!("stopped the local network at {}", file.url);
                }
                NetworkCmd::Status => {
                    let file = crate::config::LocalNetworkFile::load(&cli.state_dir)?;
                    if network::is_running(&file).await {
                        println!(
                            "running at {} (pid {})",
                            file.url,
                            file.pid
                                .map(|p| p.to_string())
                                .unwrap_or_else(|| "?".into())
                        );
                    } else {
                        bail!("the local network at {} does not answer: run `tensormine network start`", file.url);
                    }
                }
            }
        }
        Command::Demo(args) => {
            let server_bin = match &args.localnet_server {
                Some(p) => p.clone(),
                None => network::find_server()?,
            };
            let worker_bin = match &args.worker {
                Some(p) => p.clone(),
                None => crate::demo::find_worker()?,
            };
            let wasm_dir = match &args.wasm_dir {
                Some(d) => d.clone(),
                None => {
                    let cwd = std::env::current_dir()?;
                    let root = deploy::find_repo_root(&cwd).ok_or_else(|| {
                        anyhow!("not inside the tensormine repository (no scripts/build-canisters.sh above {}): run there, or pass --wasm-dir DIR", cwd.display())
                    })?;
                    deploy::build_canisters(&root)?
                }
            };
            let summary = crate::demo::run(&crate::demo::DemoOptions {
                server_bin,
                worker_bin,
                wasm_dir,
                short: args.short,
                verbose: true,
            })
            .await?;
            print!("{}", crate::demo::render(&summary));
        }
        Command::Deploy(args) => {
            let id = cli.load_identity()?;
            let wasm_dir = match &args.wasm_dir {
                Some(d) => d.clone(),
                None => {
                    let cwd = std::env::current_dir()?;
                    let root = deploy::find_repo_root(&cwd).ok_or_else(|| {
                        anyhow!("not inside the tensormine repository (no scripts/build-canisters.sh above {}): run there, or pass --wasm-dir DIR", cwd.display())
                    })?;
                    deploy::build_canisters(&root)?
                }
            };
            let ids_path = cli
                .canisters
                .clone()
                .unwrap_or_else(|| CanisterIds::default_path(&cli.state_dir, &cli.network));
            let existing = if args.upgrade || !cli.network.is_local() {
                Some(CanisterIds::load(&ids_path, &cli.network)?)
            } else {
                None
            };
            let agent = env::build_agent(&cli.network, &cli.state_dir, &id).await?;
            let opts = deploy::DeployOptions {
                network: cli.network.clone(),
                wasm_dir,
                mode: if args.upgrade {
                    deploy::Mode::Upgrade
                } else {
                    deploy::Mode::Install
                },
                existing,
                fund: args.fund.clone(),
            };
            let ids =
                deploy::deploy(&agent, id.principal, &opts, |step| eprintln!("{step}…")).await?;
            ids.save(&ids_path)?;
            println!("registry       {}", ids.registry);
            println!("escrow         {}", ids.escrow);
            println!("router         {}", ids.router);
            if let Some(l) = ids.ckbtc_ledger {
                println!("ckBTC ledger   {l}");
            }
            println!("wrote {}", ids_path.display());
        }
        Command::Miner(cmd) => run_miner(&cli, cmd).await?,
        Command::Job(cmd) => run_job(&cli, cmd).await?,
        Command::Account(cmd) => run_account(&cli, cmd).await?,
        Command::Receipt(cmd) => match cmd {
            ReceiptCmd::Get { job, out } => {
                let env = cli.env().await?;
                let saved =
                    receipt::get_waiting(&env, job, std::time::Duration::from_secs(300), |s| {
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
        },
    }
    Ok(())
}

async fn run_miner(cli: &Cli, cmd: &MinerCmd) -> Result<()> {
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

async fn run_job(cli: &Cli, cmd: &JobCmd) -> Result<()> {
    match cmd {
        JobCmd::Submit { spec, wait } => {
            let (req, seeds) = spec.request()?;
            let env = cli.env().await?;
            let view = job::submit(&env, &req).await?;
            println!("submitted job {} ({:?})", view.id, view.status);
            if let Some((a, b)) = seeds {
                println!("seed A         {}", hex::encode(a));
                println!("seed B         {}", hex::encode(b));
            }
            if *wait {
                let view = job::wait(&env, &view.id).await?;
                print!("{}", describe_job(&view));
                if view.status != tensormine_core::router::JobStatus::Settled {
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
            println!("result of job {id}: {}×{} f32, {} bytes from {from}, sha256 {} matches the commitment", r.rows, r.cols, r.bytes.len(), hex::encode(r.sha256));
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

async fn run_account(cli: &Cli, cmd: &AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Deposit { ckbtc, btc, check } => {
            let env = cli.env().await?;
            if let Some(amount) = ckbtc {
                if *amount == 0 {
                    bail!("--ckbtc must be more than 0 sats");
                }
                let r = account::deposit_ckbtc(&env, *amount).await?;
                println!(
                    "deposited {} sats of ckBTC (ledger block {})",
                    r.amount, r.block_index
                );
                print_balance(env.principal, &r.balance);
            } else if *btc && *check {
                let u = account::update_btc_balance(&env).await?;
                if u.credited.is_empty() {
                    println!("no new confirmed deposits");
                }
                for utxo in &u.credited {
                    println!(
                        "credited {} sats ({}:{})",
                        utxo.amount, utxo.txid, utxo.vout
                    );
                }
                for utxo in &u.ignored_too_small {
                    println!(
                        "ignored {} sats ({}:{}): below the minimum of {} sats",
                        utxo.amount, utxo.txid, utxo.vout, u.min_deposit
                    );
                }
                print_balance(env.principal, &u.balance);
            } else {
                let address = account::btc_deposit_address(&env).await?;
                println!("{address}");
                eprintln!("send BTC to this address; once confirmed, credit it with `tensormine account deposit --btc --check`");
            }
        }
        AccountCmd::Balance { principal } => {
            let env = cli.env().await?;
            let who = principal.unwrap_or(env.principal);
            let b = account::balance(&env, who).await?;
            print_balance(who, &b);
            if principal.is_none() {
                if let Ok(ck) = account::ckbtc_balance(&env, who).await {
                    println!("ckBTC wallet   {ck} sats (on the ledger, not in the escrow)");
                }
            }
        }
        AccountCmd::Withdraw(args) => withdraw(cli, args).await?,
        AccountCmd::Transfer { to, sats } => {
            let env = cli.env().await?;
            let block = account::ckbtc_transfer(&env, *to, *sats).await?;
            println!("sent {sats} sats of ckBTC to {to} (block {block})");
        }
    }
    Ok(())
}
