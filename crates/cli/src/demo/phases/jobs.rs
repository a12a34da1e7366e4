//! Phase 4: submit the jobs and wait until all are settled and the
//! cheater's corrupted result was caught and its bond slashed.

use super::miners::EmbeddingModel;
use crate::demo::context::Demo;
use crate::demo::plan::{caught_in, initial_plan, matmul};
use crate::demo::ui::short_id;
use crate::types::Slash;
use crate::{job, Env};
use anyhow::{bail, Result};
use candid::Principal;
use indicatif::ProgressBar;
use std::time::{Duration, Instant};
use tensormine_core::router::{AssignmentState, JobStatus, JobView};

/// At most this many Freivalds jobs are added while the router has not yet
/// given one to the cheater.
const MAX_EXTRA_JOBS: u64 = 12;

/// The final views of the jobs, and those where the cheater was caught.
pub(in crate::demo) struct JobsOutcome {
    pub views: Vec<JobView>,
    pub caught: Vec<String>,
}

/// A submitted job: its id and the label it is reported under.
struct Submitted {
    id: String,
    label: String,
}

pub(in crate::demo) async fn run_until_cheater_caught(
    demo: &mut Demo<'_>,
    model: &EmbeddingModel,
) -> Result<JobsOutcome> {
    let mut jobs = Vec::new();
    for p in initial_plan(model.id, demo.opts.short) {
        let v = job::submit(&demo.dev, &p.req).await?;
        jobs.push(Submitted {
            id: v.id,
            label: p.label,
        });
    }
    demo.ui.step(format!("submitted {} jobs", jobs.len()));
    let cheater = demo.cheater().miner.principal;
    let views = wait_final_and_caught(demo, &mut jobs, cheater).await?;
    report_jobs(demo, &views, &jobs);
    if let Some(bad) = views.iter().find(|v| v.status != JobStatus::Settled) {
        bail!("job {} ended {:?}: {:?}", bad.id, bad.status, bad.reason);
    }
    let caught: Vec<String> = views
        .iter()
        .filter(|v| caught_in(v, cheater))
        .map(|v| v.id.clone())
        .collect();
    record_slashes(demo, cheater, &caught).await?;
    Ok(JobsOutcome { views, caught })
}

/// Polls the jobs until all are final and one caught the cheater, adding a
/// Freivalds job whenever all are final and the cheater got none yet.
async fn wait_final_and_caught(
    demo: &Demo<'_>,
    jobs: &mut Vec<Submitted>,
    cheater: Principal,
) -> Result<Vec<JobView>> {
    let bar = demo.ui.job_bar(jobs.len());
    let mut extra = 0u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let views = poll(&demo.dev, jobs).await?;
        let done = views.iter().filter(|v| v.status.is_final()).count();
        show_progress(&bar, jobs.len(), done, &views);
        if done == jobs.len() {
            if views.iter().any(|v| caught_in(v, cheater)) {
                bar.finish_and_clear();
                return Ok(views);
            }
            if extra >= MAX_EXTRA_JOBS {
                bail!(
                    "the dishonest miner was not given a Freivalds job in {} jobs",
                    jobs.len()
                );
            }
            let p = matmul(1000 + extra, 128);
            extra += 1;
            let v = job::submit(&demo.dev, &p.req).await?;
            bar.println(format!(
                "        cheater not picked yet: one more Freivalds job {}",
                v.id
            ));
            jobs.push(Submitted {
                id: v.id,
                label: p.label,
            });
        }
        if Instant::now() > deadline {
            bail!(
                "jobs not final after 10 minutes: {:?}",
                views.iter().map(short_status).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

async fn poll(dev: &Env, jobs: &[Submitted]) -> Result<Vec<JobView>> {
    let mut views = Vec::with_capacity(jobs.len());
    for j in jobs {
        views.push(job::status(dev, &j.id).await?);
    }
    Ok(views)
}

/// The count of final jobs, and the statuses of up to four others.
fn show_progress(bar: &ProgressBar, total: usize, done: usize, views: &[JobView]) {
    bar.set_length(total as u64);
    bar.set_position(done as u64);
    bar.set_message(
        views
            .iter()
            .filter(|v| !v.status.is_final())
            .take(4)
            .map(short_status)
            .collect::<Vec<_>>()
            .join(" "),
    );
}

fn short_status(v: &JobView) -> String {
    format!("{:?}", v.status)
}

/// One line per job: status, payment and which miner did what.
fn report_jobs(demo: &Demo<'_>, views: &[JobView], jobs: &[Submitted]) {
    for (v, j) in views.iter().zip(jobs) {
        let who: Vec<String> = v
            .assignments
            .iter()
            .map(|a| format!("{}:{}", demo.name_of(a.miner), assignment_text(&a.state)))
            .collect();
        demo.ui.step(format!(
            "job {} {:<34} {:?}, paid {} sats, [{}]",
            short_id(&v.id),
            j.label,
            v.status,
            v.paid_sats,
            who.join(", ")
        ));
    }
}

fn assignment_text(state: &AssignmentState) -> String {
    match state {
        AssignmentState::Accepted => "accepted".to_string(),
        AssignmentState::Rejected { .. } => "REJECTED".to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Waits for the escrow's slash of each caught job and adds it to the
/// cheater's record.
async fn record_slashes(demo: &mut Demo<'_>, cheater: Principal, caught: &[String]) -> Result<()> {
    for id in caught {
        let slash = wait_slash(&demo.admin, cheater, id).await?;
        demo.cheater_mut().miner.slashed += slash.from_bonded + slash.from_unbonding;
    }
    let slashed: u64 = demo.miners.iter().map(|s| s.miner.slashed).sum();
    if slashed == 0 {
        bail!("the cheater was caught in {caught:?} but its bond was not slashed");
    }
    demo.ui.step(format!(
        "mallory caught cheating in {} job(s) ({}): result rejected by Freivalds, bond slashed by {slashed} sats, job re-run by an honest miner",
        caught.len(),
        caught.iter().map(|c| short_id(c)).collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}

async fn wait_slash(env: &Env, miner: Principal, job: &str) -> Result<Slash> {
    let t = Instant::now();
    loop {
        let (s,): (Option<Slash>,) = env
            .query(
                env.canisters.escrow,
                "escrow",
                "get_slash",
                (miner, job.to_string()),
            )
            .await?;
        if let Some(s) = s {
            return Ok(s);
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("no slash of {miner} for job {job} after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
