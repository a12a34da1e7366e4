//! `cargo bench -p tensormine-router-bench --bench router_scale`: the router
//! canister's instructions per `submit_job` with 1,000,000 jobs stored and
//! per match with 100,000 miners, on localnet with the release Wasm.
//!
//! Building that state through the canister's API would take hours on
//! localnet, so the bench builds it natively with the router crate's own
//! state code (the same stable layout the Wasm reads), loads it as the
//! canister's stable memory (a localnet test control, like restoring a
//! snapshot) and upgrades the canister, whose `post_upgrade` adopts it. The
//! escrow and the ckBTC ledger run from their Wasm, so `submit_job`'s hold
//! is the real one.
//!
//! `ROUTER_BENCH_JOBS` (default 1,000,000) and `ROUTER_BENCH_MINERS`
//! (default 100,000) set the sizes.

use candid::{CandidType, Encode, Nat, Principal};
use ic_stable_structures::DefaultMemoryImpl;
use localnet::{InstallMode, LocalNet};
use std::path::PathBuf;
use std::time::Instant;
use tensormine_core::api::{
    HexBytes, JobSpec, MatmulSpec, MatrixSource, Progress, ResultCommitment, SignedResult,
};
use tensormine_core::matching::Candidate;
use tensormine_core::registry::WorkloadKind;
use tensormine_core::router::*;
use tensormine_core::Digest32;
use tensormine_router::job::{Assignment, Job};
use tensormine_router::state::{mutate_state, reset_state, MinerInfo};

const FEE: u64 = 10;

fn wasm(name: &str) -> Vec<u8> {
    use std::io::Write;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-unknown-unknown/canister-release")
        .join(format!("{name}.wasm"));
    let plain = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{} ({e}): run scripts/build-canisters.sh", path.display()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    gz.finish().unwrap()
}

// Client-side candid types of the ledger and escrow (from their .did files).
#[derive(CandidType, Clone)]
struct Account {
    owner: Principal,
    subaccount: Option<serde_bytes::ByteBuf>,
}
#[derive(CandidType)]
struct LedgerInit {
    minting_account: Account,
    transfer_fee: Nat,
    token_symbol: String,
    token_name: String,
    metadata: Vec<(String, candid::Reserved)>,
    initial_balances: Vec<(Account, Nat)>,
}
#[derive(CandidType)]
enum LedgerArg {
    Init(LedgerInit),
}
#[derive(CandidType)]
struct ApproveArgs {
    spender: Account,
    amount: Nat,
}
#[derive(CandidType, Default)]
struct EscrowConfig {
    router: Option<Option<Principal>>,
    ckbtc_ledger: Option<Option<Principal>>,
    ckbtc_fee: Option<u64>,
}
#[derive(CandidType)]
enum EscrowArg {
    Init(EscrowConfig),
}

fn account(owner: Principal) -> Account {
    Account {
        owner,
        subaccount: None,
    }
}

fn principal(tag: u8, i: u32) -> Principal {
    let mut b = vec![tag];
    b.extend_from_slice(&i.to_be_bytes());
    Principal::from_slice(&b)
}

/// A settled seeded-matmul job as the router stores it.
fn settled_job(n: u64, submitter: Principal, miner: Principal) -> Job {
    let spec = JobSpec::Matmul(MatmulSpec {
        m: 1024,
        k: 1024,
        n: 1024,
        a: MatrixSource::Seeded {
            seed: Digest32([1; 32]),
        },
        b: MatrixSource::Seeded {
            seed: Digest32([2; 32]),
        },
    });
    let commitment = SignedResult {
        commitment: ResultCommitment {
            rows: 1024,
            cols: 1024,
            merkle_root: Digest32([3; 32]),
            sha256: Digest32([4; 32]),
            byte_len: 4 << 20,
        },
        signature: HexBytes(vec![5; 64]),
    };
    Job {
        id: format!("job-{n}"),
        submitter,
        request: JobRequest {
            workload: WorkloadInput::Matmul {
                m: 1024,
                k: 1024,
                n: 1024,
                a: OperandInput::Seeded(vec![1; 32]),
                b: OperandInput::Seeded(vec![2; 32]),
            },
            resources: Resources::default(),
            tier: Tier::Freivalds,
            max_price_sats: 10_000,
            deadline_secs: 600,
            idempotency_key: None,
        },
        spec_hash: tensormine_core::signing::spec_hash(&spec),
        spec,
        units: 3,
        status: JobStatus::Settled,
        submitted_at_ns: n,
        deadline_ns: n + 600_000_000_000,
        updated_at_ns: n,
        next_action_ns: n,
        assignments: vec![Assignment {
            miner,
            endpoint: "https://w1.miners.example.com".into(),
            worker_key: vec![6; 32],
            owner: Digest32([7; 32]),
            price_sats: 15,
            new_miner: false,
            role: AssignmentRole::Primary,
            state: AssignmentState::Accepted,
            commitment: Some(commitment),
            progress: Progress {
                done: 1024,
                total: 1024,
            },
            assigned_at_ns: n,
            backoff_ms: 1_000,
            errors: 0,
            next_at_ns: n,
            slashed_sats: 0,
            slash_done: false,
            reported: true,
            bond_at_stake_sats: 0,
            worker_job_id: String::new(),
            capability: String::new(),
            committed_at_ns: 0,
        }],
        failovers: 0,
        randomness: Some([8; 32]),
        randomness_assignments: 1,
        audited: None,
        tiebreak: false,
        fetch_tries: 0,
        accepted: Some(0),
        stored_result_bytes: 0,
        paid_sats: 15,
        fee_sats: 10,
        refunded_sats: 9_975,
        reason: None,
        receipt_index: None,
        outcall_cycles: 0,
        outcalls: 6,
        passed_over: vec![],
        dispute_until_ns: None,
    }
}

fn miner_info(i: u32) -> MinerInfo {
    let id = principal(0xB0, i);
    let owner = Digest32::sha256(&i.to_le_bytes());
    MinerInfo {
        endpoint: format!("https://w{i}.miners.example.com"),
        worker_key: vec![9; 32],
        owner,
        jobs_verified: 20,
        capability_verified_at_ns: 0,
        candidate: Candidate {
            id,
            owner,
            online: true,
            offers: vec![
                (WorkloadKind::Matmul, 5 + (i as u64 % 50)),
                (WorkloadKind::Embed, 50),
            ],
            max_gpu_memory_bytes: 24 << 30,
            gpu_count: 2,
            flops: 1_000_000_000_000 + (i as u64 % 997) * 1_000_000_000,
            reputation_ppm: 900_000 + i % 100_000,
        },
    }
}

/// The router's stable memory with `jobs` settled jobs and `miners` online miners added.
fn build_state(current: Vec<u8>, jobs: u64, miners: u32) -> Vec<u8> {
    let memory = DefaultMemoryImpl::default();
    memory.borrow_mut().extend_from_slice(&current);
    reset_state(memory.clone());
    let started = Instant::now();
    mutate_state(|s| {
        for i in 0..miners {
            s.upsert_miner(principal(0xB0, i), miner_info(i));
        }
        for n in 1..=jobs {
            let submitter = principal(0xD0, (n % 10_000) as u32);
            let job = settled_job(
                n,
                submitter,
                principal(0xB0, (n % miners.max(1) as u64) as u32),
            );
            s.by_submitter.insert((submitter, n), ());
            s.put_job(job);
            if n % 200_000 == 0 {
                eprintln!("  {n} jobs ({:.0?})", started.elapsed());
            }
        }
        s.update_counters(|c| {
            c.next_job = jobs;
            c.totals.jobs = jobs;
            c.totals.settled = jobs;
        });
    });
    let bytes = memory.borrow().clone();
    bytes
}

fn request() -> JobRequest {
    JobRequest {
        workload: WorkloadInput::Matmul {
            m: 1024,
            k: 1024,
            n: 1024,
            a: OperandInput::Seeded(vec![1; 32]),
            b: OperandInput::Seeded(vec![2; 32]),
        },
        resources: Resources::default(),
        tier: Tier::Freivalds,
        max_price_sats: 10_000,
        deadline_secs: 600,
        idempotency_key: None,
    }
}

fn main() {
    let jobs: u64 =
        std::env::var("ROUTER_BENCH_JOBS").map_or(1_000_000, |v| v.parse().expect("a number"));
    let miners: u32 =
        std::env::var("ROUTER_BENCH_MINERS").map_or(100_000, |v| v.parse().expect("a number"));
    let controller = Principal::from_slice(&[0xC0]);
    let developer = Principal::from_slice(&[0xDE, 0x01]);
    let mut net = LocalNet::new();
    let ledger = net.create_canister(controller);
    let minter = Principal::from_slice(&[0x3C]);
    let init = LedgerArg::Init(LedgerInit {
        minting_account: account(minter),
        transfer_fee: Nat::from(FEE),
        token_symbol: "ckBTC".into(),
        token_name: "ckBTC".into(),
        metadata: vec![],
        initial_balances: vec![(account(developer), Nat::from(1_000_000_000u64))],
    });
    net.install_canister(
        ledger,
        wasm("localnet_icrc_ledger"),
        Encode!(&init).unwrap(),
    );
    let router = net.create_canister(controller);
    let registry = net.create_canister(controller);
    net.install_canister(
        registry,
        wasm("tensormine_registry"),
        Encode!(&None::<()>).unwrap(),
    );
    let escrow = net.create_canister(controller);
    let escrow_init = EscrowArg::Init(EscrowConfig {
        router: Some(Some(router)),
        ckbtc_ledger: Some(Some(ledger)),
        ckbtc_fee: Some(FEE),
    });
    net.install_canister(
        escrow,
        wasm("tensormine_escrow"),
        Encode!(&Some(escrow_init)).unwrap(),
    );
    let config = ConfigUpdate {
        registry: Some(registry),
        escrow: Some(escrow),
        schnorr_key_name: Some("dfx_test_key".into()),
        max_submits_per_minute: Some(1_000),
        ..Default::default()
    };
    net.install_canister(
        router,
        wasm("tensormine_router"),
        Encode!(&Some(RouterArg::Init(config))).unwrap(),
    );
    let approve = ApproveArgs {
        spender: account(escrow),
        amount: Nat::from(500_000_000u64),
    };
    let _: Vec<u8> = net
        .update_call(
            ledger,
            developer,
            "icrc2_approve",
            Encode!(&approve).unwrap(),
        )
        .unwrap();
    let _: Vec<u8> = net
        .update_call(
            escrow,
            developer,
            "deposit_ckbtc",
            Encode!(&100_000_000u64).unwrap(),
        )
        .unwrap();

    eprintln!("building a router state of {jobs} jobs and {miners} miners natively…");
    let started = Instant::now();
    let bytes = build_state(net.stable_memory(router), jobs, miners);
    eprintln!(
        "  {} MiB of stable memory in {:.1?}",
        bytes.len() >> 20,
        started.elapsed()
    );
    net.load_stable_memory(router, &bytes).unwrap();
    let upgrade = Encode!(&Some(RouterArg::Upgrade(None))).unwrap();
    net.install_code(
        controller,
        router,
        InstallMode::Upgrade,
        wasm("tensormine_router"),
        upgrade,
    )
    .expect("upgrade adopts the state");
    let post_upgrade = net
        .last_message(router, "post_upgrade")
        .map_or(0, |m| m.instructions);

    let (totals,): (Totals,) = net.query_candid(router, developer, "totals", ()).unwrap();
    assert_eq!(
        (totals.jobs, totals.miners_known),
        (jobs, miners as u64),
        "state adopted"
    );

    let (quote,): (Result<Quote, QuoteError>,) = net
        .query_candid(router, developer, "quote", (request(),))
        .unwrap();
    let quote = quote.unwrap();
    let match_cost = net
        .last_message(router, "query quote")
        .unwrap()
        .instructions;

    let mut submits = Vec::new();
    for _ in 0..20 {
        let from = net.message_log().len();
        let (r,): (Result<JobView, SubmitError>,) = net
            .update_candid(router, developer, "submit_job", (request(),))
            .unwrap();
        let job = r.unwrap();
        assert_eq!(job.status, JobStatus::Matching);
        let own: u64 = net.message_log()[from..]
            .iter()
            .filter(|m| m.canister == router)
            .map(|m| m.instructions)
            .sum();
        submits.push(own);
    }
    submits.sort();
    // The engine's first step of a new job: match (select from the index),
    // then the dispatch outcall is issued (mock outcalls stay pending).
    let from = net.message_log().len();
    net.advance_time(std::time::Duration::from_secs(1));
    net.tick();
    let tick: u64 = net.message_log()[from..]
        .iter()
        .filter(|m| m.canister == router)
        .map(|m| m.instructions)
        .sum();
    let (matched, dispatching) = (1..=20u64)
        .map(|i| {
            let (r,): (Result<JobView, GetJobError>,) = net
                .query_candid(router, developer, "get_job", (format!("job-{}", jobs + i),))
                .unwrap();
            r.unwrap().assignments.len()
        })
        .fold((0, 0), |(m, d), n| (m + (n > 0) as u32, d + n));

    println!(
        "router at {jobs} jobs and {miners} miners (localnet, release Wasm, IC instructions):"
    );
    println!("  post_upgrade adopting the state: {post_upgrade}");
    println!("  quote (validation + match of 8 from the index): {match_cost}");
    println!(
        "  eligible miners: {}, best price {:?} sats/unit",
        quote.eligible_miners, quote.best_price_per_unit
    );
    println!(
        "  submit_job (update + escrow-hold callback): median {} p95 {} max {}",
        submits[submits.len() / 2],
        submits[submits.len() * 95 / 100],
        submits[submits.len() - 1]
    );
    println!(
        "  engine tick over the 20 new jobs ({matched} matched, {dispatching} dispatch outcalls issued; every router message of the tick): {tick} ({} per job)",
        tick / 20
    );
}
