//! The command line (clap derive) and its dispatch to the library functions.
//!
//! * `args` — the clap definitions: global options, subcommands, arguments.
//! * `request` — arguments to a job request or a miner profile.
//! * `setup` — `identity`, `network`, `deploy`, `demo`.
//! * `miner_cmd`, `job_cmd`, `account_cmd`, `receipt_cmd` — the command groups.
//! * this file — loading the identity, connecting, and [`run`].

mod account_cmd;
mod args;
mod job_cmd;
mod miner_cmd;
mod receipt_cmd;
mod request;
mod setup;

pub use args::{
    AccountCmd, Cli, Command, DemoArgs, DeployArgs, IdentityCmd, JobCmd, MinerCmd, NetworkCmd,
    ProfileArgs, ReceiptCmd, SpecArgs, WithdrawArgs,
};
pub use job_cmd::describe_job;
pub use request::Seeds;

use crate::env;
use crate::identity::{self, IdentitySource, LoadedIdentity};
use anyhow::Result;

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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Whoami => {
            let id = cli.load_identity()?;
            println!("{}", id.principal);
        }
        Command::Identity(IdentityCmd::New { file }) => setup::new_identity(file)?,
        Command::Network(cmd) => setup::run_network(&cli, cmd).await?,
        Command::Demo(args) => setup::run_demo(args).await?,
        Command::Deploy(args) => setup::run_deploy(&cli, args).await?,
        Command::Miner(cmd) => miner_cmd::run_miner(&cli, cmd).await?,
        Command::Job(cmd) => job_cmd::run_job(&cli, cmd).await?,
        Command::Account(cmd) => account_cmd::run_account(&cli, cmd).await?,
        Command::Receipt(cmd) => receipt_cmd::run_receipt(&cli, cmd).await?,
    }
    Ok(())
}
