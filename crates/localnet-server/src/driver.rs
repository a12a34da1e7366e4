//! The background task: wall-clock time, ticks, and live outcalls performed
//! outside the net's lock.

use crate::clock::sync_time;
use crate::shared::{lock, Shared};
use std::sync::Arc;

/// How long a request status stays readable after its `ingress_expiry`.
const STATUS_RETENTION_NANOS: u64 = 5 * 60 * 1_000_000_000;

/// The background task: wall-clock time, ticks, live outcalls.
pub(crate) async fn drive(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(shared.config.tick_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let s = shared.clone();
        let Ok(outcalls) = tokio::task::spawn_blocking(move || s.tick_and_collect()).await else {
            return;
        };
        shared.progress.send_modify(|g| *g += 1);
        for (id, request) in outcalls {
            let s = shared.clone();
            tokio::task::spawn_blocking(move || s.perform_outcall(id, request));
        }
    }
}

impl Shared {
    /// One background round; returns the live outcalls to start.
    fn tick_and_collect(&self) -> Vec<(u64, ic_management_canister_types::HttpRequestArgs)> {
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        net.tick();
        lock(&self.registry)
            .requests
            .retain(|_, r| r.ingress_expiry.saturating_add(STATUS_RETENTION_NANOS) >= now);
        if self.live.is_none() {
            return Vec::new();
        }
        let mut in_flight = lock(&self.in_flight);
        net.pending_http_outcalls()
            .into_iter()
            .filter(|o| in_flight.insert(o.id))
            .map(|o| (o.id, o.request))
            .collect()
    }

    /// Performs an outcall without holding the net, then hands the result in.
    fn perform_outcall(&self, id: u64, request: ic_management_canister_types::HttpRequestArgs) {
        let client = self.live.as_ref().expect("live outcalls only");
        let result = client.perform(&request).map_err(|e| (e.code, e.message));
        {
            let mut net = lock(&self.net);
            // The net applies the response limit and the transform, as in live mode.
            let _ = net.answer_http_outcall(id, result);
            sync_time(&mut net);
            net.tick();
        }
        lock(&self.in_flight).remove(&id);
        self.progress.send_modify(|g| *g += 1);
    }
}
