//! The IPI queues in the kernel (DragonFly's `lwkt_ipiq`): the transport
//! every cross-CPU message takes. The rings and their latch/pending-mask
//! protocol are pure code in `executor::ipiq` (host-tested, loom-checked);
//! this module gives them a vector, a per-CPU home and a way to wait.
//!
//! - `transport.rs`: [`send`] (waits on a full ring, draining its own,
//!   then halts for room), [`drain`], the vector's handler, counters;
//! - `kick.rs`: passive sends to idle CPUs and the kicks they are owed;
//! - `cpu_queue.rs`: each CPU's queue state, one cache-padded value.
//!
//! A message is a [`MessageHandler`] (`fn(from, data)`) and one word; the
//! receiving CPU's loop (`exec`) drains its rings in task context with
//! interrupts off and runs each handler; the vector's interrupt handler only
//! acknowledges, ending a `hlt`. Futures built on it live above: cross-CPU
//! spawns and calls in `run_on.rs`, remote wakes in `exec.rs`.

mod cpu_queue;
mod kick;
mod transport;

pub use executor::ipiq::{QueueStats, Urgency};
pub use kick::{PASSIVE_KICK_US, kick_due, next_kick};
pub use transport::{
    DEFAULT_CAPACITY, DEFAULT_HALT_FOR_ROOM_US, MessageHandler, drain, halts_for_room, has_pending, init, send, set_capacity,
    set_halt_for_room_bound_us, stats,
};
