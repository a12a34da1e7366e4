//! The scheduler: the message queue, ingress, and the rounds that drive the net.
//!
//! Messages (ingress, inter-canister requests and responses) go through one FIFO
//! queue, so calls between any two canisters are delivered in the order they
//! were made. Each request opens a call context; each call a canister makes
//! registers a callback in that context; a context is answered at most once and
//! closed when no callback is outstanding — "did not reply" if nobody answered.
//!
//! This is the top of the crate's layering: requests to the management
//! canister and the Bitcoin canister are handed to those modules; everything
//! works on the state in `crate::state`.

mod deliver;
mod ingress;
mod system_tasks;

use crate::state::{LocalNet, Message};
use candid::Principal;

/// Messages processed per tick before the scheduler yields (a canister that
/// calls itself forever must not hang the test).
const MAX_MESSAGES_PER_TICK: usize = 1_000_000;

impl LocalNet {
    /// One round: expires best-effort calls past their deadline, runs due
    /// timers and heartbeats, then delivers every queued message.
    pub fn tick(&mut self) {
        self.expire_best_effort_calls();
        self.run_system_tasks();
        self.drain_queue();
    }

    /// Processes queued messages until none are left (bounded).
    pub(crate) fn drain_queue(&mut self) -> usize {
        let mut processed = 0;
        while processed < MAX_MESSAGES_PER_TICK {
            let Some(message) = self.queue.pop_front() else {
                break;
            };
            self.process(message);
            processed += 1;
        }
        processed
    }

    fn process(&mut self, message: Message) {
        match message {
            Message::Request(request) if request.receiver == Principal::management_canister() => {
                self.handle_management_request(request)
            }
            Message::Request(request)
                if request.receiver == crate::bitcoin::bitcoin_canister_id() =>
            {
                self.handle_bitcoin_request(request)
            }
            Message::Request(request) => self.deliver_request(request),
            Message::Response(response) => self.deliver_response(response),
        }
    }
}
