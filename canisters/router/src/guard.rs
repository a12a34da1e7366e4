//! The router's tasks under [`tensormine_core::guard`]: a slot per task,
//! released on `Drop` (also when a callback traps: ic-cdk runs the drops in
//! its cleanup), so a failed call never leaves anything locked.

use crate::state::mutate_state;
pub use crate::state::Task;
use std::collections::BTreeSet;
pub use tensormine_core::guard::GuardError;

impl tensormine_core::guard::Task for Task {
    fn with_running<R>(f: impl FnOnce(&mut BTreeSet<Self>) -> R) -> R {
        mutate_state(|s| f(&mut s.running))
    }
}

/// Held while a task runs.
pub type TaskGuard = tensormine_core::guard::Guard<Task>;

/// The guard of one job's step.
pub fn job_guard(id: &str) -> Result<TaskGuard, GuardError<Task>> {
    TaskGuard::new(Task::Job(id.to_string()))
}
