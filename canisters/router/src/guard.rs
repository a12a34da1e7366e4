//! One guard for every task that must not run twice at once, released on
//! `Drop` (also when a callback traps: ic-cdk runs the drops in its
//! cleanup), so a failed call never leaves anything locked. Modelled on the
//! ckBTC minter's `guard.rs`: the running tasks are a set in the state and
//! taking a guard is a typed `Result`.

use crate::state::mutate_state;
pub use crate::state::Task;
use std::fmt;

/// Why a guard was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// The task is already running; the caller skips this turn.
    AlreadyRunning(Task),
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::AlreadyRunning(t) => write!(f, "{t:?} is already running"),
        }
    }
}

/// Held while a task runs.
#[derive(Debug)]
#[must_use]
pub struct TaskGuard(Task);

impl TaskGuard {
    pub fn new(task: Task) -> Result<Self, GuardError> {
        mutate_state(|s| {
            if s.running.insert(task.clone()) {
                Ok(Self(task))
            } else {
                Err(GuardError::AlreadyRunning(task))
            }
        })
    }

    /// The guard of one job's step.
    pub fn job(id: &str) -> Result<Self, GuardError> {
        Self::new(Task::Job(id.to_string()))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        mutate_state(|s| {
            s.running.remove(&self.0);
        });
    }
}
