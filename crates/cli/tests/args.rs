//! Command-line parsing: every command parses, and bad input is refused with
//! a message naming the problem.

use clap::Parser;
use tensormine_cli::cli::*;
use tensormine_cli::config::Network;
use tensormine_cli::identity::IdentitySource;
use tensormine_cli::parse;
use tensormine_core::registry::WorkloadKind;
use tensormine_core::router::{OperandInput, Tier, WorkloadInput};

fn ok(args: &[&str]) -> Cli {
    let mut full = vec!["tensormine"];
    full.extend_from_slice(args);
    Cli::try_parse_from(&full).unwrap_or_else(|e| panic!("{args:?} did not parse: {e}"))
}

/// Parsing fails and the message contains every fragment.
fn bad(args: &[&str], fragments: &[&str]) {
    let mut full = vec!["tensormine"];
    full.extend_from_slice(args);
    let e = Cli::try_parse_from(&full).expect_err(&format!("{args:?} parsed"));
    let text = e.to_string();
    for f in fragments {
        assert!(text.contains(f), "{args:?}: {text:?} lacks {f:?}");
    }
}

const SEED_A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SEED_B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

#[test]
fn global_options() {
    let cli = ok(&["job", "list"]);
    assert_eq!(cli.network, Network::Local);
    assert_eq!(
        cli.identity_source(),
        IdentitySource::Default(cli.state_dir.join("identity.pem"))
    );
    let cli = ok(&["--network", "ic", "--identity", "alice", "job", "list"]);
    assert_eq!(cli.network, Network::Ic);
    assert_eq!(cli.identity_source(), IdentitySource::Dfx("alice".into()));
    // Global options go after the subcommand too.
    let cli = ok(&[
        "job",
        "list",
        "--network",
        "http://127.0.0.1:8080/",
        "--pem",
        "k.pem",
        "--canisters",
        "ids.json",
    ]);
    assert_eq!(cli.network, Network::Url("http://127.0.0.1:8080".into()));
    assert!(cli.network.is_local());
    assert_eq!(cli.identity_source(), IdentitySource::Pem("k.pem".into()));
    assert_eq!(
        cli.canisters.as_deref(),
        Some(std::path::Path::new("ids.json"))
    );
    assert!(!Network::Url("https://icp-api.io".into()).is_local());
    assert_eq!(
        Network::Url("http://127.0.0.1:8080".into()).name(),
        "127.0.0.1_8080"
    );
    bad(
        &["--network", "mainnet", "job", "list"],
        &["unknown network", "local", "ic"],
    );
    bad(
        &["--identity", "a", "--pem", "b", "job", "list"],
        &["--identity", "--pem", "cannot be used with"],
    );
}

#[test]
fn network_and_deploy() {
    let cli = ok(&["network", "start"]);
    assert!(matches!(
        cli.command,
        Command::Network(NetworkCmd::Start { port: 4943 })
    ));
    let cli = ok(&["network", "start", "--port", "8000"]);
    assert!(matches!(
        cli.command,
        Command::Network(NetworkCmd::Start { port: 8000 })
    ));
    bad(
        &["network", "start", "--port", "99999"],
        &["--port", "99999"],
    );
    ok(&["network", "stop"]);
    let cli = ok(&["deploy", "--wasm-dir", "w", "--fund", "aaaaa-aa"]);
    let Command::Deploy(d) = cli.command else {
        panic!()
    };
    assert_eq!(d.wasm_dir.as_deref(), Some(std::path::Path::new("w")));
    assert!(!d.upgrade);
    assert_eq!(d.fund, vec![candid::Principal::management_canister()]);
    bad(
        &["deploy", "--fund", "not-a-principal"],
        &["--fund", "not a principal"],
    );
}

#[test]
fn job_submit_matmul() {
    let cli = ok(&[
        "job",
        "submit",
        "--matmul",
        "64x32x16",
        "--seed-a",
        SEED_A,
        "--seed-b",
        SEED_B,
        "--tier",
        "freivalds",
        "--max-price",
        "500",
        "--deadline",
        "120",
        "--wait",
    ]);
    let Command::Job(JobCmd::Submit { spec, wait }) = cli.command else {
        panic!()
    };
    assert!(wait);
    let (req, seeds) = spec.request().unwrap();
    assert_eq!(seeds, Some(([0x11; 32], [0x22; 32])));
    assert_eq!(req.tier, Tier::Freivalds);
    assert_eq!((req.max_price_sats, req.deadline_secs), (500, 120));
    assert_eq!(
        req.workload,
        WorkloadInput::Matmul {
            m: 64,
            k: 32,
            n: 16,
            a: OperandInput::Seeded(vec![0x11; 32]),
            b: OperandInput::Seeded(vec![0x22; 32])
        }
    );
    // Without seeds: two random, different ones.
    let cli = ok(&[
        "job",
        "submit",
        "--matmul",
        "8x8x8",
        "--tier",
        "none",
        "--max-price",
        "5",
    ]);
    let Command::Job(JobCmd::Submit { spec, wait }) = cli.command else {
        panic!()
    };
    assert!(!wait);
    let (req, seeds) = spec.request().unwrap();
    let (a, b) = seeds.unwrap();
    assert_ne!(a, b);
    assert_eq!(req.deadline_secs, 600, "default deadline");
    let (_, again) = spec.request().unwrap();
    assert_ne!(again.unwrap().0, a, "seeds are drawn per request");
}

#[test]
fn job_submit_embed() {
    let model = "ab".repeat(32);
    let cli = ok(&[
        "job",
        "submit",
        "--sentence",
        "hello",
        "--sentence",
        "world",
        "--model",
        &model,
        "--tier",
        "redundant:2",
        "--max-price",
        "9",
        "--min-gpu-memory",
        "8",
    ]);
    let Command::Job(JobCmd::Submit { spec, .. }) = cli.command else {
        panic!()
    };
    let (req, seeds) = spec.request().unwrap();
    assert_eq!(seeds, None);
    assert_eq!(
        req.workload,
        WorkloadInput::Embed {
            model: vec![0xab; 32],
            sentences: vec!["hello".into(), "world".into()]
        }
    );
    assert_eq!(req.tier, Tier::Redundant { k: 2 });
    assert_eq!(req.resources.min_gpu_memory_bytes, Some(8 << 30));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.txt");
    std::fs::write(&file, "first line\n\n  \nsecond line\r\n").unwrap();
    let cli = ok(&[
        "job",
        "quote",
        "--embed-file",
        file.to_str().unwrap(),
        "--model",
        &model,
        "--tier",
        "audit:50000",
        "--max-price",
        "9",
    ]);
    let Command::Job(JobCmd::Quote { spec }) = cli.command else {
        panic!()
    };
    let (req, _) = spec.request().unwrap();
    assert_eq!(
        req.workload,
        WorkloadInput::Embed {
            model: vec![0xab; 32],
            sentences: vec!["first line".into(), "second line".into()]
        }
    );
    assert_eq!(req.tier, Tier::Audit { rate_ppm: 50_000 });

    std::fs::write(&file, "\n\n").unwrap();
    let cli = ok(&[
        "job",
        "quote",
        "--embed-file",
        file.to_str().unwrap(),
        "--model",
        &model,
        "--tier",
        "none",
        "--max-price",
        "9",
    ]);
    let Command::Job(JobCmd::Quote { spec }) = cli.command else {
        panic!()
    };
    let e = spec.request().unwrap_err().to_string();
    assert!(e.contains("has no sentences"), "{e}");
}

#[test]
fn job_submit_bad_input() {
    let m = ["--tier", "none", "--max-price", "5"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["job", "submit"];
        v.extend_from_slice(extra);
        v.extend_from_slice(&m);
        v
    };
    bad(&with(&[]), &["--matmul", "--embed-file", "--sentence"]);
    bad(&with(&["--matmul", "64x32"]), &["--matmul", "is not MxKxN"]);
    bad(&with(&["--matmul", "64x0x3"]), &["K in", "is 0"]);
    bad(
        &with(&["--matmul", "axbxc"]),
        &["M = \"a\"", "not a whole number"],
    );
    bad(
        &with(&["--matmul", "8x8x8", "--seed-a", "abcd"]),
        &["--seed-a", "must be 32 bytes"],
    );
    bad(
        &with(&["--matmul", "8x8x8", "--seed-b", "zz"]),
        &["--seed-b", "not hex"],
    );
    bad(
        &with(&["--matmul", "8x8x8", "--sentence", "x"]),
        &["cannot be used with"],
    );
    bad(&with(&["--sentence", "x"]), &["--model"]);
    bad(
        &with(&["--seed-a", SEED_A, "--sentence", "x"]),
        &["--matmul"],
    );
    bad(
        &["job", "submit", "--matmul", "8x8x8", "--max-price", "5"],
        &["--tier"],
    );
    bad(
        &[
            "job",
            "submit",
            "--matmul",
            "8x8x8",
            "--tier",
            "gold",
            "--max-price",
            "5",
        ],
        &["--tier", "unknown tier \"gold\"", "audit:PPM"],
    );
    bad(
        &[
            "job",
            "submit",
            "--matmul",
            "8x8x8",
            "--tier",
            "none",
            "--max-price",
            "-1",
        ],
        &["--max-price"],
    );
    bad(
        &["job", "submit", "--matmul", "8x8x8", "--tier", "none"],
        &["--max-price"],
    );
    bad(&["job", "result"], &["<ID>"]);
}

#[test]
fn tiers() {
    assert_eq!(parse::tier("none"), Ok(Tier::None));
    assert_eq!(parse::tier("FREIVALDS"), Ok(Tier::Freivalds));
    assert_eq!(parse::tier("audit:1"), Ok(Tier::Audit { rate_ppm: 1 }));
    assert_eq!(
        parse::tier("audit:1000000"),
        Ok(Tier::Audit {
            rate_ppm: 1_000_000
        })
    );
    assert_eq!(parse::tier("redundant:3"), Ok(Tier::Redundant { k: 3 }));
    for (text, fragment) in [
        ("audit", "needs a rate"),
        ("audit:0", "out of range"),
        ("audit:1000001", "out of range"),
        ("audit:5%", "not a whole number"),
        ("redundant", "needs a miner count"),
        ("redundant:1", "out of range"),
        ("redundant:17", "out of range"),
        ("redundant:x", "not a number"),
        ("none:3", "takes no value"),
        ("", "unknown tier"),
        ("fast", "unknown tier"),
    ] {
        let e = parse::tier(text).expect_err(text);
        assert!(e.contains(fragment), "{text}: {e}");
    }
    for t in [
        Tier::None,
        Tier::Freivalds,
        Tier::Audit { rate_ppm: 7 },
        Tier::Redundant { k: 4 },
    ] {
        assert_eq!(parse::tier(&parse::tier_text(&t)), Ok(t));
    }
}

#[test]
fn dims_and_seeds() {
    assert_eq!(parse::matmul_dims("1024x512x256"), Ok((1024, 512, 256)));
    assert_eq!(parse::matmul_dims("1X2×3"), Ok((1, 2, 3)));
    assert_eq!(parse::matmul_dims(" 4 x 5 x 6 "), Ok((4, 5, 6)));
    assert!(parse::matmul_dims("4294967296x1x1")
        .unwrap_err()
        .contains("not a whole number"));
    assert!(parse::matmul_dims("1x2x3x4")
        .unwrap_err()
        .contains("not MxKxN"));
    assert!(parse::matmul_dims("").unwrap_err().contains("not MxKxN"));
    assert_eq!(parse::seed(&format!("0x{SEED_A}")), Ok([0x11; 32]));
    assert_eq!(parse::seed(&SEED_A.to_uppercase()), Ok([0x11; 32]));
    assert!(parse::seed(&SEED_A[..62])
        .unwrap_err()
        .contains("must be 32 bytes"));
    assert!(parse::seed(&format!("{SEED_A}00"))
        .unwrap_err()
        .contains("got 33 bytes"));
    assert!(parse::seed("g".repeat(64).as_str())
        .unwrap_err()
        .contains("not hex"));
}

#[test]
fn miner_commands() {
    let key = "cd".repeat(32);
    let cli = ok(&[
        "miner",
        "register",
        "--endpoint",
        "https://w.example.com",
        "--worker-key",
        &key,
        "--btc-address",
        "bcrt1qxyz",
        "--gpu",
        "NVIDIA RTX 4090:24:2",
        "--gpu",
        "A100:80:1",
        "--offer",
        "matmul=5",
        "--offer",
        "embed=30",
        "--region",
        "eu-west",
    ]);
    let Command::Miner(MinerCmd::Register(p)) = cli.command else {
        panic!()
    };
    let profile = p.profile().unwrap();
    assert_eq!(profile.worker_public_key, vec![0xcd; 32]);
    assert_eq!(profile.gpus[0].model, "NVIDIA RTX 4090");
    assert_eq!(profile.gpus[0].memory_bytes, 24 << 30);
    assert_eq!(profile.gpus[0].count, 2);
    assert_eq!(profile.gpus[1].memory_bytes, 80 << 30);
    assert_eq!(profile.offers.len(), 2);
    assert_eq!(profile.offers[1].workload, WorkloadKind::Embed);
    assert_eq!(profile.offers[1].price_sats_per_unit, 30);
    assert_eq!(profile.region, "eu-west");

    // The key from a worker's data directory (worker.key holds the private key in hex).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("worker.key"),
        format!("{}\n", "07".repeat(32)),
    )
    .unwrap();
    let cli = ok(&[
        "miner",
        "register",
        "--endpoint",
        "http://127.0.0.1:8787",
        "--worker-data-dir",
        dir.path().to_str().unwrap(),
        "--btc-address",
        "a",
        "--gpu",
        "g:1:1",
        "--offer",
        "matmul=1",
    ]);
    let Command::Miner(MinerCmd::Register(p)) = cli.command else {
        panic!()
    };
    let expected = ed25519_dalek::SigningKey::from_bytes(&[7; 32])
        .verifying_key()
        .to_bytes();
    assert_eq!(p.profile().unwrap().worker_public_key, expected.to_vec());
    // Update: only given fields change.
    let cli = ok(&["miner", "update", "--offer", "matmul=9"]);
    let Command::Miner(MinerCmd::Update(u)) = cli.command else {
        panic!()
    };
    let updated = u.apply(profile.clone()).unwrap();
    assert_eq!(updated.offers.len(), 1);
    assert_eq!(updated.offers[0].price_sats_per_unit, 9);
    assert_eq!(updated.gpus, profile.gpus);
    assert_eq!(updated.endpoint, profile.endpoint);
    // Missing pieces of a registration.
    let cli = ok(&[
        "miner",
        "register",
        "--endpoint",
        "https://w",
        "--worker-key",
        &key,
        "--btc-address",
        "a",
        "--offer",
        "matmul=1",
    ]);
    let Command::Miner(MinerCmd::Register(p)) = cli.command else {
        panic!()
    };
    assert!(p.profile().unwrap_err().to_string().contains("--gpu"));

    bad(
        &[
            "miner",
            "register",
            "--worker-key",
            &key,
            "--worker-data-dir",
            "d",
        ],
        &["cannot be used with"],
    );
    bad(
        &["miner", "register", "--gpu", "RTX:24"],
        &["--gpu", "model:memGiB:count"],
    );
    bad(
        &["miner", "register", "--gpu", "RTX:big:1"],
        &["--gpu", "not a positive number of GiB"],
    );
    bad(
        &["miner", "register", "--gpu", "RTX:24:0"],
        &["--gpu", "not a whole number ≥ 1"],
    );
    bad(
        &["miner", "register", "--offer", "train=5"],
        &["--offer", "unknown workload \"train\""],
    );
    bad(
        &["miner", "register", "--offer", "matmul"],
        &["--offer", "workload=PRICE"],
    );
    bad(
        &["miner", "register", "--worker-key", "abc"],
        &["--worker-key", "not hex"],
    );

    let cli = ok(&["miner", "status", "aaaaa-aa"]);
    assert!(matches!(
        cli.command,
        Command::Miner(MinerCmd::Status { principal: Some(_) })
    ));
    ok(&["miner", "status"]);
    bad(&["miner", "status", "nope"], &["not a principal"]);
    let cli = ok(&[
        "miner",
        "withdraw",
        "--amount",
        "1000",
        "--btc-address",
        "bcrt1q",
    ]);
    let Command::Miner(MinerCmd::Withdraw(w)) = cli.command else {
        panic!()
    };
    assert_eq!(
        (w.amount, w.btc_address.as_deref(), w.ckbtc),
        (1000, Some("bcrt1q"), false)
    );
    ok(&["miner", "withdraw", "--amount", "1000", "--ckbtc"]);
    bad(
        &["miner", "withdraw", "--amount", "1000"],
        &["--btc-address", "--ckbtc"],
    );
    bad(
        &[
            "miner",
            "withdraw",
            "--amount",
            "1000",
            "--ckbtc",
            "--btc-address",
            "x",
        ],
        &["cannot be used with"],
    );
    bad(
        &[
            "miner",
            "withdraw",
            "--amount",
            "1000",
            "--btc-address",
            "x",
            "--to",
            "aaaaa-aa",
        ],
        &["--to", "cannot be used with"],
    );
    let cli = ok(&["miner", "bond", "5000"]);
    assert!(matches!(
        cli.command,
        Command::Miner(MinerCmd::Bond { sats: 5000 })
    ));
    bad(&["miner", "bond", "lots"], &["invalid digit"]);
    ok(&["miner", "unbond", "10"]);
    ok(&["miner", "claim-unbonded"]);
    ok(&["miner", "challenge"]);
    ok(&["miner", "deregister"]);
}

#[test]
fn account_receipt_and_job_commands() {
    let cli = ok(&["account", "deposit", "--ckbtc", "100000"]);
    assert!(matches!(
        cli.command,
        Command::Account(AccountCmd::Deposit {
            ckbtc: Some(100_000),
            btc: false,
            check: false
        })
    ));
    let cli = ok(&["account", "deposit", "--btc", "--check"]);
    assert!(matches!(
        cli.command,
        Command::Account(AccountCmd::Deposit {
            ckbtc: None,
            btc: true,
            check: true
        })
    ));
    bad(&["account", "deposit"], &["--ckbtc", "--btc"]);
    bad(
        &["account", "deposit", "--ckbtc", "5", "--btc"],
        &["cannot be used with"],
    );
    bad(&["account", "deposit", "--check"], &["--btc"]);
    bad(
        &["account", "deposit", "--ckbtc", "5", "--check"],
        &["--check", "cannot be used with"],
    );
    ok(&["account", "balance"]);
    ok(&["account", "balance", "aaaaa-aa"]);
    ok(&["account", "transfer", "aaaaa-aa", "100"]);
    let cli = ok(&["receipt", "get", "job-1", "--out", "r.json"]);
    assert!(matches!(
        cli.command,
        Command::Receipt(ReceiptCmd::Get { .. })
    ));
    let key = "ef".repeat(32);
    let cli = ok(&["receipt", "verify", "r.json", "--public-key", &key]);
    let Command::Receipt(ReceiptCmd::Verify { public_key, .. }) = cli.command else {
        panic!()
    };
    assert_eq!(public_key, Some([0xef; 32]));
    bad(
        &["receipt", "verify", "r.json", "--public-key", "ef"],
        &["--public-key", "must be 32 bytes"],
    );
    bad(&["receipt", "verify"], &["<FILE>"]);
    ok(&["job", "status", "j"]);
    ok(&["job", "result", "j", "--out", "c.bin"]);
    ok(&["job", "cancel", "j"]);
    bad(&["job", "frobnicate"], &["unrecognized subcommand"]);
}

#[test]
fn gpus_and_offers() {
    let g = parse::gpu("AMD:Instinct MI300X:192:8").unwrap();
    assert_eq!(
        (g.model.as_str(), g.memory_bytes, g.count),
        ("AMD:Instinct MI300X", 192 << 30, 8)
    );
    assert_eq!(
        parse::gpu("T4:15.5:1").unwrap().memory_bytes,
        (15.5 * (1u64 << 30) as f64) as u64
    );
    assert!(parse::gpu(":24:1").unwrap_err().contains("empty model"));
    assert!(parse::gpu("x:-1:1").unwrap_err().contains("positive"));
    let o = parse::offer("Embed= 12").unwrap();
    assert_eq!(
        (o.workload, o.price_sats_per_unit),
        (WorkloadKind::Embed, 12)
    );
    assert!(parse::offer("matmul=1.5")
        .unwrap_err()
        .contains("whole number"));
    assert_eq!(parse::gib(24 << 30), "24 GiB");
}

#[test]
fn the_command_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
