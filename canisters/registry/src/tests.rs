//! Native tests: the Candid interface, and the probe/challenge logic on a
//! scripted runtime.

use crate::runtime::{Outcall, OutcallResponse, Runtime};
use crate::state::{mutate_state, read_state};
use crate::types::*;
use candid::Principal;
use std::cell::RefCell;
use std::collections::VecDeque;

#[test]
fn check_candid_interface() {
    use candid_parser::utils::{service_equal, CandidSource};
    let generated = super::__export_service();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../candid/registry.did");
    if std::env::var_os("UPDATE_CANDID").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    service_equal(
        CandidSource::Text(&generated),
        CandidSource::File(std::path::Path::new(path)),
    )
    .unwrap_or_else(|e| {
        panic!("candid/registry.did differs from the code (UPDATE_CANDID=1 rewrites it; then give the generated Result_N types their names again): {e:?}")
    });
}

/// Answers outcalls from a script and records them.
struct Scripted {
    time: RefCell<u64>,
    answers: RefCell<VecDeque<Result<OutcallResponse, String>>>,
    seen: RefCell<Vec<Outcall>>,
}

impl Runtime for Scripted {
    fn time(&self) -> u64 {
        *self.time.borrow()
    }
    async fn raw_rand(&self) -> Result<[u8; 32], String> {
        Ok([7; 32])
    }
    async fn http(&self, request: Outcall) -> Result<OutcallResponse, String> {
        self.seen.borrow_mut().push(request);
        self.answers
            .borrow_mut()
            .pop_front()
            .expect("scripted answer")
    }
}

fn profile(key_byte: u8) -> MinerProfile {
    let key = ed25519_dalek::SigningKey::from_bytes(&[key_byte; 32]).verifying_key();
    MinerProfile {
        endpoint: format!("https://w{key_byte}.example.com"),
        worker_public_key: key.to_bytes().to_vec(),
        gpus: vec![Gpu {
            model: "RTX 4090".into(),
            memory_bytes: 24 << 30,
            count: 2,
        }],
        offers: vec![WorkloadOffer {
            workload: WorkloadKind::Matmul,
            price_sats_per_unit: 5,
        }],
        btc_address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
        region: "eu".into(),
        labels: vec!["solar".into()],
    }
}

fn health(key: &[u8]) -> OutcallResponse {
    let body = format!(
        r#"{{"version":"0.1.0","public_key":"{}","workloads":["matmul"],"models":[],"inventory":{{"cpu":{{"model":"x","cores":2,"memory_bytes":1}},"gpus":[]}},"load":{{"queued":0,"running":0}}}}"#,
        tensormine_core::digest::to_hex(key)
    );
    OutcallResponse {
        status: 200,
        body: body.into_bytes(),
    }
}

#[test]
fn probes_move_miners_online_and_offline() {
    let p = Principal::from_slice(&[1, 2, 3]);
    let prof = profile(1);
    let key = prof.worker_public_key.clone();
    crate::miners::register(p, prof, 1).unwrap();
    let rt = Scripted {
        time: RefCell::new(10),
        answers: RefCell::new(VecDeque::new()),
        seen: RefCell::new(vec![]),
    };
    let status = || read_state(|s| s.miner(&p).unwrap().status);
    rt.answers.borrow_mut().push_back(Ok(health(&key)));
    futures::executor::block_on(crate::tasks::probe::probe_round(&rt));
    assert_eq!(status(), MinerStatus::Online);
    assert_eq!(rt.seen.borrow()[0].url, "https://w1.example.com/v1/health");
    for i in 0..3 {
        rt.answers
            .borrow_mut()
            .push_back(Err("connection refused".into()));
        futures::executor::block_on(crate::tasks::probe::probe_round(&rt));
        let expected = if i < 2 {
            MinerStatus::Online
        } else {
            MinerStatus::Offline
        };
        assert_eq!(status(), expected, "after {} failures", i + 1);
    }
    // A worker answering with another key is not healthy.
    rt.answers.borrow_mut().push_back(Ok(health(&[9; 32])));
    futures::executor::block_on(crate::tasks::probe::probe_round(&rt));
    assert_eq!(status(), MinerStatus::Offline);
    rt.answers.borrow_mut().push_back(Ok(health(&key)));
    futures::executor::block_on(crate::tasks::probe::probe_round(&rt));
    assert_eq!(status(), MinerStatus::Online);
    let rep = read_state(|s| s.miner(&p).unwrap().reputation);
    assert_eq!((rep.probes_ok, rep.probes_failed), (2, 4));
    assert_eq!(read_state(|s| s.totals.online), 1);
}

#[test]
fn transform_zeroes_load_and_drops_non_health_bodies() {
    let busy = String::from_utf8(health(&[1; 32]).body)
        .unwrap()
        .replace(r#""queued":0"#, r#""queued":7"#);
    let normalised = crate::tasks::probe::normalise_health(200, busy.as_bytes());
    assert_eq!(
        normalised,
        crate::tasks::probe::normalise_health(200, &health(&[1; 32]).body)
    );
    assert!(crate::tasks::probe::normalise_health(200, b"<html>").is_empty());
    assert!(crate::tasks::probe::normalise_health(500, busy.as_bytes()).is_empty());
}

#[test]
fn rows_are_distinct_and_in_range() {
    let rows = tensormine_core::challenge::sample_rows(&[3; 32], 50, 50);
    let mut sorted = rows.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_eq!(
        tensormine_core::challenge::sample_rows(&[3; 32], 1024, 16).len(),
        16
    );
}

#[test]
fn registration_keeps_indices_consistent() {
    let a = Principal::from_slice(&[9, 1]);
    let b = Principal::from_slice(&[9, 2]);
    crate::miners::register(a, profile(20), 1).unwrap();
    assert_eq!(
        crate::miners::register(a, profile(21), 1),
        Err(RegisterError::AlreadyRegistered)
    );
    assert_eq!(
        crate::miners::register(b, profile(20), 1),
        Err(RegisterError::WorkerInUse { by: a })
    );
    crate::miners::update(a, profile(21), 2).unwrap();
    crate::miners::register(b, profile(20), 3).unwrap();
    crate::miners::deregister(a, 4).unwrap();
    crate::miners::register(a, profile(21), 5).unwrap();
    let feed = crate::miners::changes_since(0, 0);
    let last: Vec<_> = feed.entries.iter().map(|e| e.principal).collect();
    assert_eq!(last.iter().filter(|p| **p == a).count(), 1);
    mutate_state(|s| {
        let before = s.totals.clone();
        s.rebuild_indices();
        assert_eq!(s.totals, before);
    });
}
