//! The binary without a network: what it says when something is missing, the
//! local network's start/stop around a stand-in server, ids files, and the
//! Wasm handling of `deploy`.

use std::path::Path;
use std::process::{Command, Output};
use tensormine_cli::config::{CanisterIds, LocalNetworkFile, Network};

fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tensormine"))
        .args(args)
        .current_dir(dir)
        .env("TENSORMINE_DIR", dir.join(".tensormine"))
        .env_remove("LOCALNET_SERVER_BIN")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fails with exit code 1 and one `error:` line containing every fragment.
fn fails(o: &Output, fragments: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let last = e.lines().last().unwrap_or("");
    assert!(last.starts_with("error: "), "{e}");
    for f in fragments {
        assert!(last.contains(f), "{last:?} lacks {f:?}");
    }
}

#[test]
fn whoami_creates_the_default_identity_once_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &["whoami"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("created a new ed25519 identity"),
        "{}",
        stderr(&first)
    );
    let principal = stdout(&first).trim().to_string();
    candid::Principal::from_text(&principal).unwrap();
    assert!(dir.path().join(".tensormine/identity.pem").exists());
    let second = run(dir.path(), &["whoami"], &[]);
    assert_eq!(stdout(&second).trim(), principal);
    assert!(stderr(&second).is_empty(), "{}", stderr(&second));
}

#[test]
fn identity_new_writes_a_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["identity", "new", "a.pem"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o).trim().to_string();
    let o = run(dir.path(), &["--pem", "a.pem", "whoami"], &[]);
    assert_eq!(stdout(&o).trim(), printed);
    fails(
        &run(dir.path(), &["identity", "new", "a.pem"], &[]),
        &["a.pem exists", "not overwriting"],
    );
    let o = run(dir.path(), &["identity", "new", "b.pem"], &[]);
    assert_ne!(stdout(&o).trim(), printed);
}

#[test]
fn commands_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    // No ids file.
    fails(
        &run(dir.path(), &["job", "list"], &[]),
        &[
            "no canister ids for network local",
            "run `tensormine deploy` first",
        ],
    );
    // Ids, but no local network.
    let ids = CanisterIds {
        registry: candid::Principal::from_slice(&[1]),
        escrow: candid::Principal::from_slice(&[2]),
        router: candid::Principal::from_slice(&[3]),
        ckbtc_ledger: None,
    };
    ids.save(&dir.path().join(".tensormine/canisters-local.json"))
        .unwrap();
    fails(
        &run(dir.path(), &["job", "list"], &[]),
        &[
            "the local network is not started",
            "tensormine network start",
        ],
    );
    // A loopback URL where nothing listens.
    let file = dir.path().join("ids.json");
    ids.save(&file).unwrap();
    fails(
        &run(
            dir.path(),
            &[
                "--network",
                "http://127.0.0.1:9",
                "--canisters",
                "ids.json",
                "account",
                "balance",
            ],
            &[],
        ),
        &["cannot reach http://127.0.0.1:9", "is the network running?"],
    );
    // A malformed ids file.
    std::fs::write(&file, "{\"registry\":\"nope\"}").unwrap();
    fails(
        &run(dir.path(), &["--canisters", "ids.json", "job", "list"], &[]),
        &["ids.json is not a canister ids file"],
    );
    // A missing PEM.
    fails(
        &run(dir.path(), &["--pem", "none.pem", "whoami"], &[]),
        &["identity file none.pem does not exist"],
    );
    // Deploy outside the repository without --wasm-dir.
    fails(
        &run(dir.path(), &["deploy"], &[]),
        &["not inside the tensormine repository", "--wasm-dir"],
    );
    // Deploy to the IC without canisters to install into.
    fails(
        &run(
            dir.path(),
            &["--network", "ic", "deploy", "--wasm-dir", "."],
            &[],
        ),
        &["no canister ids for network ic"],
    );
    // Usage errors exit 2.
    let o = run(dir.path(), &["job", "submit", "--matmul", "2x2"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn network_start_and_stop_around_a_stand_in_server() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Prints the server's JSON line, then serves (sleeps) until killed.
    let server = dir.path().join("fake-server");
    std::fs::write(
        &server,
        "#!/bin/sh\necho \"{\\\"url\\\":\\\"http://127.0.0.1:$2\\\",\\\"root_key\\\":\\\"308182\\\"}\"\nexec sleep 300\n",
    )
    .unwrap();
    std::fs::set_permissions(&server, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = server.to_str().unwrap();
    let o = run(
        dir.path(),
        &["network", "start", "--port", "4999"],
        &[("LOCALNET_SERVER_BIN", bin)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("local network running at http://127.0.0.1:4999"),
        "{}",
        stdout(&o)
    );
    let state = dir.path().join(".tensormine");
    let file = LocalNetworkFile::load(&state).unwrap();
    assert_eq!(file.url, "http://127.0.0.1:4999");
    assert_eq!(file.root_key_der().unwrap(), vec![0x30, 0x81, 0x82]);
    let pid = file.pid.unwrap();
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
            .unwrap_or(false)
    };
    assert!(alive(pid), "the server outlives `network start`");
    let o = run(dir.path(), &["network", "stop"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = std::time::Instant::now();
    while alive(pid) && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!alive(pid), "network stop ended the server");
    assert!(!LocalNetworkFile::path(&state).exists());
    fails(
        &run(dir.path(), &["network", "stop"], &[]),
        &["the local network is not started"],
    );

    // A server that dies at once.
    std::fs::write(&server, "#!/bin/sh\necho 'address in use' >&2\nexit 3\n").unwrap();
    fails(
        &run(
            dir.path(),
            &["network", "start"],
            &[("LOCALNET_SERVER_BIN", bin)],
        ),
        &["exited", "address in use"],
    );
    // No server binary at all.
    fails(
        &run(
            dir.path(),
            &["network", "start"],
            &[("LOCALNET_SERVER_BIN", "/nonexistent")],
        ),
        &["LOCALNET_SERVER_BIN=/nonexistent is not a file"],
    );
}

#[test]
fn ids_files_round_trip_and_networks_have_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let ids = CanisterIds {
        registry: candid::Principal::from_text("rrkah-fqaaa-aaaaa-aaaaq-cai").unwrap(),
        escrow: candid::Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap(),
        router: candid::Principal::from_text("r7inp-6aaaa-aaaaa-aaabq-cai").unwrap(),
        ckbtc_ledger: Some(candid::Principal::from_text("mxzaz-hqaaa-aaaar-qaada-cai").unwrap()),
    };
    let path = CanisterIds::default_path(dir.path(), &Network::Local);
    assert!(path.ends_with("canisters-local.json"));
    ids.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"router\": \"r7inp-6aaaa-aaaaa-aaabq-cai\""),
        "{text}"
    );
    assert_eq!(CanisterIds::load(&path, &Network::Local).unwrap(), ids);
    assert!(CanisterIds::default_path(dir.path(), &Network::Ic).ends_with("canisters-ic.json"));
    let e = CanisterIds::load(
        &CanisterIds::default_path(dir.path(), &Network::Ic),
        &Network::Ic,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no canister ids for network ic"),
        "{e}"
    );
}

#[test]
fn deploy_reads_wasm_gzipped() {
    use std::io::Read;
    use tensormine_cli::deploy;
    let dir = tempfile::tempdir().unwrap();
    let module = [b"\0asm\x01\0\0\0".as_slice(), &[0u8; 4096]].concat();
    std::fs::write(dir.path().join(deploy::ROUTER_WASM), &module).unwrap();
    let gz = deploy::read_wasm(dir.path(), deploy::ROUTER_WASM).unwrap();
    assert!(gz.starts_with(&[0x1f, 0x8b]) && gz.len() < module.len());
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, module);
    // Already gzipped: unchanged.
    std::fs::write(dir.path().join("g.wasm"), &gz).unwrap();
    assert_eq!(deploy::read_wasm(dir.path(), "g.wasm").unwrap(), gz);
    std::fs::write(dir.path().join("x.wasm"), b"hello").unwrap();
    assert!(deploy::read_wasm(dir.path(), "x.wasm")
        .unwrap_err()
        .to_string()
        .contains("not a Wasm module"));
    let e = deploy::read_wasm(dir.path(), deploy::ESCROW_WASM)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tensormine_escrow.wasm") && e.contains("build-canisters.sh"),
        "{e}"
    );
    // The repository root is found from below it.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = deploy::find_repo_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert_eq!(root.canonicalize().unwrap(), repo.canonicalize().unwrap());
    assert!(deploy::find_repo_root(dir.path()).is_none());
}
