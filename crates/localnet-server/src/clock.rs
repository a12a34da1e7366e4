//! Wall-clock time: the server moves the net's clock along with it.

use localnet::LocalNet;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn wall_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64
}

/// Moves the net's clock to wall-clock time (never backwards) and returns it.
pub(crate) fn sync_time(net: &mut LocalNet) -> u64 {
    let now = wall_nanos();
    if now > net.time() {
        net.set_time(now).expect("moving forward");
    }
    net.time()
}
