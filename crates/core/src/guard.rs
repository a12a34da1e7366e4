//! One guard for every canister (after ckBTC's `guard.rs`): a task slot taken
//! while an operation runs and released on `Drop` — also when a callback
//! traps, since ic-cdk runs the drops in its cleanup — so a failed call never
//! leaves anything locked.
//!
//! A canister names its tasks with one enum and says where the taken slots
//! live ([`Task::with_running`], a set in its heap state: empty after an
//! upgrade, which is what it means, since no call survives one).

use std::collections::BTreeSet;
use std::fmt::Debug;

/// A kind of work that must not run twice at once (a round, a principal's
/// deposit, a ledger operation, …).
pub trait Task: Ord + Clone + Debug {
    /// Runs `f` on the canister's set of running tasks.
    fn with_running<R>(f: impl FnOnce(&mut BTreeSet<Self>) -> R) -> R;
}

/// Why a guard was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError<T> {
    /// The same task holds the slot already.
    AlreadyRunning(T),
}

/// Holds its task's slot until dropped.
#[derive(Debug)]
pub struct Guard<T: Task> {
    task: T,
}

impl<T: Task> Guard<T> {
    /// Takes `task`'s slot, or says it is taken. The guard is built only once
    /// the slot is ours: a guard built and dropped on refusal would free the
    /// slot its rightful owner holds.
    pub fn new(task: T) -> Result<Self, GuardError<T>> {
        let taken = T::with_running(|running| running.insert(task.clone()));
        if taken {
            Ok(Self { task })
        } else {
            Err(GuardError::AlreadyRunning(task))
        }
    }

    /// The task this guard holds.
    pub fn task(&self) -> &T {
        &self.task
    }
}

impl<T: Task> Drop for Guard<T> {
    fn drop(&mut self) {
        T::with_running(|running| running.remove(&self.task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    enum Demo {
        Round,
        Miner(u8),
    }

    thread_local! {
        static RUNNING: RefCell<BTreeSet<Demo>> = const { RefCell::new(BTreeSet::new()) };
    }

    impl Task for Demo {
        fn with_running<R>(f: impl FnOnce(&mut BTreeSet<Self>) -> R) -> R {
            RUNNING.with(|r| f(&mut r.borrow_mut()))
        }
    }

    #[test]
    fn a_taken_slot_is_refused_and_freed_on_drop() {
        let round = Guard::new(Demo::Round).unwrap();
        assert_eq!(
            Guard::new(Demo::Round).unwrap_err(),
            GuardError::AlreadyRunning(Demo::Round)
        );
        // A refusal must not free the holder's slot.
        assert!(Guard::new(Demo::Round).is_err());
        let miner = Guard::new(Demo::Miner(1)).unwrap();
        assert!(Guard::new(Demo::Miner(2)).is_ok());
        drop(round);
        assert!(Guard::new(Demo::Round).is_ok());
        assert_eq!(miner.task(), &Demo::Miner(1));
        drop(miner);
        assert!(RUNNING.with(|r| r.borrow().is_empty()));
    }
}
