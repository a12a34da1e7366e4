//! The clap definitions of the command line: the global options ([`Cli`]),
//! the subcommands and their arguments. Turning arguments into requests is in
//! `request`; running them is in the `*_cmd` modules.

use crate::config::Network;
use crate::parse;
use candid::Principal;
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;
use tensormine_core::registry::{Gpu, WorkloadOffer};
use tensormine_core::router::Tier;

/// tensormine: a decentralised GPU compute market on the Internet Computer.
#[derive(Parser, Debug)]
#[command(name = "tensormine", version, about, long_about = None)]
pub struct Cli {
    /// `local` (the network of `tensormine network start`), `ic`, or a replica URL.
    #[arg(long, global = true, help_heading = "Global options", default_value = "local", value_parser = Network::parse)]
    pub network: Network,
    /// A dfx identity by name (~/.config/dfx/identity/NAME/identity.pem).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "pem"
    )]
    pub identity: Option<String>,
    /// A PEM private key file (ed25519, secp256k1 or P-256).
    #[arg(long, global = true, help_heading = "Global options")]
    pub pem: Option<PathBuf>,
    /// Canister ids file (default: <state dir>/canisters-<network>.json).
    #[arg(long, global = true, help_heading = "Global options")]
    pub canisters: Option<PathBuf>,
    /// Project state directory (local network, ids, default identity).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "TENSORMINE_DIR",
        default_value = ".tensormine"
    )]
    pub state_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The local network.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Build and install the canisters.
    Deploy(DeployArgs),
    /// The whole market on this machine: local network, canisters, three workers
    /// (one dishonest), ckBTC and BTC deposits, jobs, slashing, a batched BTC payout.
    Demo(DemoArgs),
    /// Miners: registration, status, withdrawals, bonds.
    #[command(subcommand)]
    Miner(MinerCmd),
    /// Compute jobs.
    #[command(subcommand)]
    Job(JobCmd),
    /// Money in the escrow.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Job receipts.
    #[command(subcommand)]
    Receipt(ReceiptCmd),
    /// Print the principal of the identity in use.
    Whoami,
    /// Identities.
    #[command(subcommand)]
    Identity(IdentityCmd),
}

#[derive(Subcommand, Debug)]
pub enum IdentityCmd {
    /// Write a new ed25519 key to FILE (mode 0600; an existing file is kept) and print its principal.
    New { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Start localnet-server in the background and record its URL and root key.
    Start {
        #[arg(long, default_value_t = 4943)]
        port: u16,
    },
    /// Stop the local network started by `network start`.
    Stop,
    /// Is the local network answering?
    Status,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Use the canister Wasm in DIR instead of running scripts/build-canisters.sh.
    #[arg(long)]
    pub wasm_dir: Option<PathBuf>,
    /// Upgrade the canisters of the ids file (state kept) instead of installing new ones.
    #[arg(long)]
    pub upgrade: bool,
    /// Also give this principal ckBTC on a new local ledger (repeatable).
    #[arg(long, value_parser = parse::principal)]
    pub fund: Vec<Principal>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The localnet-server binary (default: next to tensormine, then PATH).
    #[arg(long, env = "LOCALNET_SERVER_BIN")]
    pub localnet_server: Option<PathBuf>,
    /// The tensormine-worker binary (default: next to tensormine, then PATH).
    #[arg(long, env = "TENSORMINE_WORKER_BIN")]
    pub worker: Option<PathBuf>,
    /// The canister Wasm (default: run scripts/build-canisters.sh in the repository).
    #[arg(long, env = "TENSORMINE_WASM_DIR")]
    pub wasm_dir: Option<PathBuf>,
    /// Fewer jobs (CI).
    #[arg(long)]
    pub short: bool,
}

#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("worker").args(["worker_key", "worker_data_dir"])))]
pub struct ProfileArgs {
    /// Worker base URL (https://host[:port]; http:// on local networks).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The worker's ed25519 public key, hex.
    #[arg(long, value_parser = parse::public_key)]
    pub worker_key: Option<[u8; 32]>,
    /// The worker's data directory (its public key is derived from worker.key there).
    #[arg(long)]
    pub worker_data_dir: Option<PathBuf>,
    /// Bitcoin payout address.
    #[arg(long)]
    pub btc_address: Option<String>,
    /// GPUs as model:memGiB:count (repeatable), e.g. "NVIDIA RTX 4090:24:2".
    #[arg(long, value_parser = parse::gpu)]
    pub gpu: Vec<Gpu>,
    /// Offered workload and asking price in sats per unit (repeatable): matmul=PRICE (per GFLOP), embed=PRICE (per 1000 sentences).
    #[arg(long, value_parser = parse::offer)]
    pub offer: Vec<WorkloadOffer>,
    /// Region, e.g. eu-west.
    #[arg(long)]
    pub region: Option<String>,
    /// Free label (repeatable).
    #[arg(long)]
    pub label: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum MinerCmd {
    /// Register the identity as a miner.
    Register(ProfileArgs),
    /// Change the registered profile (fields not given keep their value).
    Update(ProfileArgs),
    /// A miner's registration and escrow balance (default: the identity's).
    Status {
        #[arg(value_parser = parse::principal)]
        principal: Option<Principal>,
    },
    /// Remove the registration.
    Deregister,
    /// Run a capability challenge on the worker now.
    Challenge,
    /// Withdraw available funds as native BTC or ckBTC.
    #[command(group(ArgGroup::new("destination").args(["btc_address", "ckbtc"]).required(true)))]
    Withdraw(WithdrawArgs),
    /// Bond SATS of the available funds (stake against cheating).
    Bond { sats: u64 },
    /// Start unbonding SATS (claimable after the escrow's delay).
    Unbond { sats: u64 },
    /// Make unbonded funds available once the delay has passed.
    ClaimUnbonded,
}

#[derive(Args, Debug)]
pub struct WithdrawArgs {
    /// Amount in sats.
    #[arg(long)]
    pub amount: u64,
    /// Pay to this Bitcoin address.
    #[arg(long)]
    pub btc_address: Option<String>,
    /// Send ckBTC to the identity's ledger account (or --to).
    #[arg(long)]
    pub ckbtc: bool,
    /// ckBTC recipient (with --ckbtc; default: the identity).
    #[arg(long, conflicts_with = "btc_address", value_parser = parse::principal)]
    pub to: Option<Principal>,
}

#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("workload").args(["matmul", "embed_file", "sentence"]).required(true)))]
pub struct SpecArgs {
    /// Matrix multiply of an M×K by a K×N matrix, e.g. 1024x1024x1024.
    #[arg(long, value_parser = parse::matmul_dims, value_name = "MxKxN")]
    pub matmul: Option<(u32, u32, u32)>,
    /// Seed of A, 32 bytes hex (random if absent).
    #[arg(long, value_parser = parse::seed, requires = "matmul", value_name = "HEX")]
    pub seed_a: Option<[u8; 32]>,
    /// Seed of B, 32 bytes hex (random if absent).
    #[arg(long, value_parser = parse::seed, requires = "matmul", value_name = "HEX")]
    pub seed_b: Option<[u8; 32]>,
    /// Embed the sentences of FILE (one per line).
    #[arg(long, conflicts_with = "sentence", requires = "model")]
    pub embed_file: Option<PathBuf>,
    /// Embed this sentence (repeatable).
    #[arg(long, requires = "model")]
    pub sentence: Vec<String>,
    /// Embedding model id (32 bytes hex).
    #[arg(long, value_parser = parse::model_id, value_name = "HEX")]
    pub model: Option<[u8; 32]>,
    /// Verification: none, audit:PPM, redundant:K or freivalds.
    #[arg(long, value_parser = parse::tier)]
    pub tier: Tier,
    /// Most you pay for the job, in sats (held in escrow; the unused part is refunded).
    #[arg(long, value_name = "SATS")]
    pub max_price: u64,
    /// Seconds until the job must be settled (else refunded).
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub deadline: u64,
    /// Only miners with a GPU card of at least this memory (GiB).
    #[arg(long, value_name = "GIB")]
    pub min_gpu_memory: Option<f64>,
    /// A repeated submit with the same key returns the first job.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Submit a job.
    Submit {
        #[command(flatten)]
        spec: SpecArgs,
        /// Show progress until the job is final.
        #[arg(long)]
        wait: bool,
    },
    /// The router's price estimate for a job.
    Quote {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// A job's status.
    Status { id: String },
    /// A settled job's result (sha256-checked against its commitment).
    Result {
        id: String,
        /// Write the raw result (little-endian f32, row-major) to FILE.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Cancel a job.
    Cancel { id: String },
    /// Your jobs.
    List,
}

#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Deposit ckBTC (ICRC-2) or native BTC.
    #[command(group(ArgGroup::new("how").args(["ckbtc", "btc"]).required(true)))]
    Deposit {
        /// Deposit SATS of ckBTC from the identity's ledger account.
        #[arg(long, value_name = "SATS")]
        ckbtc: Option<u64>,
        /// Print the BTC deposit address (with --check: credit confirmed deposits).
        #[arg(long)]
        btc: bool,
        #[arg(long, conflicts_with = "ckbtc")]
        check: bool,
    },
    /// Escrow balance (default: the identity's).
    Balance {
        #[arg(value_parser = parse::principal)]
        principal: Option<Principal>,
    },
    /// Withdraw available funds (as `miner withdraw`).
    #[command(group(ArgGroup::new("destination").args(["btc_address", "ckbtc"]).required(true)))]
    Withdraw(WithdrawArgs),
    /// Send ckBTC on the ledger to a principal (e.g. fund a local identity).
    Transfer {
        #[arg(value_parser = parse::principal)]
        to: Principal,
        sats: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReceiptCmd {
    /// Fetch a job's receipt proof and save it as JSON.
    Get {
        job: String,
        /// Where to save it (default: receipt-<job>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a saved receipt offline (no network) and print it. The router's
    /// key is derived from the network's published master key for the router
    /// canister (or given with --public-key), never taken from the file.
    Verify {
        file: PathBuf,
        /// The job the receipt must be of.
        #[arg(long)]
        job: Option<String>,
        /// The router canister (default: the router of --network's canister ids).
        #[arg(long)]
        router: Option<candid::Principal>,
        /// The Schnorr key the router signs with (default: dfx_test_key on
        /// local networks, key_1 on ic).
        #[arg(long)]
        key_name: Option<String>,
        /// The router's public key (hex) from a source you trust, instead of deriving it.
        #[arg(long, value_parser = parse::public_key)]
        public_key: Option<[u8; 32]>,
    },
}
