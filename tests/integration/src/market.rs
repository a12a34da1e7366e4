//! The whole market on localnet with live outcalls: the ckBTC ledger, the
//! escrow, the registry and the router (real Wasm), and real workers on
//! loopback registered as miners, bonded and online; a funded developer.
//! Router types come from `tensormine_core::router` (the shared domain crate).

use crate::escrow::{self, install_escrow};
use crate::ledger::{self, Ledger, CKBTC_FEE};
use crate::registry::{self, install_registry, MinerProfile, WorkloadKind, WorkloadOffer};
use crate::worker::LoopbackWorker;
use crate::{controller, encode, stranger};
use candid::{CandidType, Deserialize, Nat, Principal};
use localnet::{Config as NetConfig, LocalNet, OutcallMode};
use std::path::PathBuf;
use std::time::Duration;
use tensormine_core::router::{self as api, JobRequest, JobStatus, JobView, RouterArg};

/// Sats the developer and each miner start with on the ledger.
pub const FUNDS: u64 = 10_000_000;
/// The developer's escrow deposit.
pub const DEPOSIT: u64 = 5_000_000;
/// Miners funded on the ledger (workers may join after the start).
pub const MAX_MINERS: usize = 8;
/// Each miner's bond.
pub const BOND: u64 = 100_000;

pub const ROUTER_WASM_ENV: &str = "ROUTER_WASM";
const ROUTER_WASM_PATH: &str =
    "target/wasm32-unknown-unknown/canister-release/tensormine_router.wasm";

/// The router Wasm, gzipped (the plain module exceeds the 2 MiB ingress limit).
pub fn router_wasm() -> Vec<u8> {
    use std::io::Write;
    let path = match std::env::var_os(ROUTER_WASM_ENV) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(ROUTER_WASM_PATH),
    };
    let plain = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the router Wasm at {} ({e}); build it with scripts/build-canisters.sh or set {ROUTER_WASM_ENV}", path.display())
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

/// A mainnet P2WPKH address of test key `i` (distinct owners).
pub fn btc_address(
    i: u32,
    network: localnet::localnet_services::bitcoin::rust_bitcoin::Network,
) -> String {
    use localnet::localnet_services::bitcoin::rust_bitcoin::{
        secp256k1, Address, CompressedPublicKey,
    };
    let mut secret = [0x11u8; 32];
    secret[..4].copy_from_slice(&i.to_be_bytes());
    let key = secp256k1::SecretKey::from_slice(&secret).expect("valid secret key");
    let public = CompressedPublicKey(key.public_key(&secp256k1::Secp256k1::new()));
    Address::p2wpkh(&public, network).to_string()
}

/// The developer submitting jobs.
pub fn developer() -> Principal {
    ledger::user(1).owner
}

/// Miner `i`'s principal.
pub fn miner(i: usize) -> Principal {
    registry::miner(10 + i as u8)
}

/// Router settings that make tests quick on localnet's manual clock.
pub fn test_config() -> api::ConfigUpdate {
    api::ConfigUpdate {
        schnorr_key_name: Some("dfx_test_key".into()),
        local: Some(true),
        poll_initial_ms: Some(500),
        poll_max_ms: Some(2_000),
        assignment_timeout_secs: Some(60),
        min_deadline_secs: Some(10),
        sync_interval_secs: Some(2),
        tick_interval_ms: Some(500),
        receipt_batch_secs: Some(5),
        challenge_rows: Some(8),
        dispute_window_secs: Some(0),
        ..Default::default()
    }
}

/// The escrow's `Balance` fields the tests read.
#[derive(CandidType, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Balance {
    pub available: u64,
    pub held: u64,
    pub bonded: u64,
}

pub struct Market {
    pub net: LocalNet,
    pub ledger: Principal,
    pub escrow: Principal,
    pub registry: Principal,
    pub router: Principal,
    pub workers: Vec<LoopbackWorker>,
}

impl Market {
    /// Everything installed and wired, each worker registered as miner `i`
    /// (matmul at `5 + i` sats/GFLOP, embed at 50 sats per 1,000 sentences),
    /// bonded and online in the router's view.
    pub fn new(workers: Vec<LoopbackWorker>, router_config: api::ConfigUpdate) -> Self {
        let mut net = LocalNet::with_config(NetConfig {
            outcalls: OutcallMode::Live,
            ..NetConfig::default()
        });
        let mut balances = vec![(ledger::user(1), Nat::from(FUNDS))];
        balances.extend((0..MAX_MINERS).map(|i| (account(miner(i)), Nat::from(FUNDS))));
        let ledger_id = ledger::install_ledger(&mut net, ledger::ckbtc_init(balances));
        let router = net.create_canister(controller());
        let registry = install_registry(
            &mut net,
            registry::ConfigUpdate {
                local: Some(true),
                router: Some(Some(router)),
                probe_interval_secs: Some(1),
                challenge_n: Some(64),
                challenge_rows: Some(8),
                ..Default::default()
            },
        );
        let escrow = install_escrow(
            &mut net,
            escrow::ConfigUpdate {
                router: Some(Some(router)),
                ckbtc_ledger: Some(Some(ledger_id)),
                ckbtc_fee: Some(CKBTC_FEE),
                ..Default::default()
            },
        );
        let config = api::ConfigUpdate {
            registry: Some(registry),
            escrow: Some(escrow),
            ..router_config
        };
        net.install_canister(
            router,
            router_wasm(),
            encode((Some(RouterArg::Init(config)),)),
        );
        let mut m = Market {
            net,
            ledger: ledger_id,
            escrow,
            registry,
            router,
            workers,
        };
        m.deposit(developer(), DEPOSIT);
        for i in 0..m.workers.len() {
            m.register(i);
        }
        m.wait_for_miners(m.workers.len());
        m
    }

    fn ledger(&mut self) -> Ledger<'_> {
        Ledger {
            net: &mut self.net,
            id: self.ledger,
        }
    }

    /// ICRC-2 approve + `deposit_ckbtc`.
    pub fn deposit(&mut self, who: Principal, amount: u64) {
        let spender = account(self.escrow);
        self.ledger()
            .approve(who, ledger::approve_arg(spender, amount + CKBTC_FEE))
            .expect("approve");
        let (r,): (Result<candid::Reserved, escrow::OtherError>,) = self
            .net
            .update_candid(self.escrow, who, "deposit_ckbtc", (amount,))
            .unwrap();
        r.expect("deposit");
    }

    pub fn profile(&self, i: usize) -> MinerProfile {
        let w = &self.workers[i];
        let mut p = registry::profile(10 + i as u8);
        p.endpoint = w.url.clone();
        p.worker_public_key = w.public_key();
        p.btc_address = btc_address(
            100 + i as u32,
            localnet::localnet_services::bitcoin::rust_bitcoin::Network::Bitcoin,
        );
        p.offers = vec![
            WorkloadOffer {
                workload: WorkloadKind::Matmul,
                price_sats_per_unit: 5 + i as u64,
            },
            WorkloadOffer {
                workload: WorkloadKind::Embed,
                price_sats_per_unit: 50,
            },
        ];
        p
    }

    /// Registers worker `i` as miner `i`, deposits and bonds.
    pub fn register(&mut self, i: usize) {
        let p = self.profile(i);
        let (r,): (Result<registry::Miner, registry::RegisterError>,) = self
            .net
            .update_candid(self.registry, miner(i), "register_miner", (p,))
            .unwrap();
        r.expect("register");
        self.deposit(miner(i), BOND);
        let (r,): (Result<candid::Reserved, escrow::OtherError>,) = self
            .net
            .update_candid(self.escrow, miner(i), "bond", (BOND,))
            .unwrap();
        r.expect("bond");
    }

    /// Ticks until the router's matching index has `n` online miners.
    pub fn wait_for_miners(&mut self, n: usize) {
        for _ in 0..60 {
            self.step();
            let q = self.quote(&crate::market::matmul_request(8, api::Tier::None, 10_000));
            if q.map(|q| q.eligible_miners as usize >= n).unwrap_or(false) {
                return;
            }
        }
        panic!("the router never saw {n} online miners");
    }

    /// One second of canister time: timers, outcalls, messages.
    pub fn step(&mut self) {
        self.net.advance_time(Duration::from_secs(1));
        self.net.tick();
    }

    pub fn quote(&mut self, r: &JobRequest) -> Result<api::Quote, api::QuoteError> {
        let (q,): (Result<api::Quote, api::QuoteError>,) = self
            .net
            .query_candid(self.router, stranger(), "quote", (r,))
            .unwrap();
        q
    }

    pub fn submit(&mut self, r: &JobRequest) -> Result<JobView, api::SubmitError> {
        self.submit_as(developer(), r)
    }

    pub fn submit_as(
        &mut self,
        who: Principal,
        r: &JobRequest,
    ) -> Result<JobView, api::SubmitError> {
        let (v,): (Result<JobView, api::SubmitError>,) = self
            .net
            .update_candid(self.router, who, "submit_job", (r,))
            .unwrap();
        v
    }

    pub fn job(&mut self, id: &str) -> JobView {
        let (v,): (Result<JobView, api::GetJobError>,) = self
            .net
            .query_candid(self.router, developer(), "get_job", (id,))
            .unwrap();
        v.expect("job readable by its submitter")
    }

    /// Steps until the job is final (panics after `max_steps` seconds).
    pub fn run_until_final(&mut self, id: &str, max_steps: usize) -> JobView {
        for _ in 0..max_steps {
            self.step();
            let job = self.job(id);
            if job.status.is_final() {
                return job;
            }
            if job.status == JobStatus::Running {
                // Workers compute in real time while the canister clock is manual.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let job = self.job(id);
        panic!("job {id} not final after {max_steps} steps: {job:#?}");
    }

    /// The job's receipt proof, stepping until its batch is signed.
    pub fn receipt(&mut self, id: &str) -> api::ReceiptProofView {
        for _ in 0..30 {
            let (r,): (Result<api::ReceiptProofView, api::ReceiptError>,) = self
                .net
                .query_candid(self.router, stranger(), "get_receipt", (id,))
                .unwrap();
            match r {
                Ok(proof) => return proof,
                Err(api::ReceiptError::NotYetSigned { .. }) => self.step(),
                Err(e) => panic!("no receipt for {id}: {e:?}"),
            }
        }
        panic!("the receipt batch of {id} was never signed");
    }

    pub fn balance(&mut self, who: Principal) -> Balance {
        let (b,): (Balance,) = self
            .net
            .query_candid(self.escrow, who, "get_balance", (who,))
            .unwrap();
        b
    }

    pub fn escrow_invariants_hold(&mut self) {
        let (r,): (Result<(), String>,) = self
            .net
            .query_candid(self.escrow, controller(), "check_invariants", ())
            .unwrap();
        r.expect("escrow conservation invariant");
    }

    pub fn totals(&mut self) -> api::Totals {
        let (t,): (api::Totals,) = self
            .net
            .query_candid(self.router, stranger(), "totals", ())
            .unwrap();
        t
    }

    /// Changes the router's configuration (as its controller).
    pub fn configure_router(&mut self, update: api::ConfigUpdate) -> api::Config {
        let (r,): (Result<api::Config, api::ConfigError>,) = self
            .net
            .update_candid(self.router, controller(), "set_config", (update,))
            .unwrap();
        r.expect("router configuration accepted")
    }

    pub fn upgrade_router(&mut self) {
        self.net
            .upgrade_canister(
                self.router,
                router_wasm(),
                encode((Some(RouterArg::Upgrade(None)),)),
            )
            .expect("router upgrade");
    }
}

fn account(owner: Principal) -> ledger::Account {
    ledger::Account {
        owner,
        subaccount: None,
    }
}

/// A seeded matmul `n×n×n` job.
pub fn matmul_request(n: u32, tier: api::Tier, max_price_sats: u64) -> JobRequest {
    JobRequest {
        workload: api::WorkloadInput::Matmul {
            m: n,
            k: n,
            n,
            a: api::OperandInput::Seeded(vec![1; 32]),
            b: api::OperandInput::Seeded(vec![2; 32]),
        },
        resources: Default::default(),
        tier,
        max_price_sats,
        deadline_secs: 600,
        idempotency_key: None,
    }
}

/// An embed job of `sentences` with `model`.
pub fn embed_request(
    model: &tensormine_core::Digest32,
    sentences: &[&str],
    tier: api::Tier,
) -> JobRequest {
    JobRequest {
        workload: api::WorkloadInput::Embed {
            model: model.0.to_vec(),
            sentences: sentences.iter().map(|s| s.to_string()).collect(),
        },
        resources: Default::default(),
        tier,
        max_price_sats: 10_000,
        deadline_secs: 600,
        idempotency_key: None,
    }
}
