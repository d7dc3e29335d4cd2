//! Odonata's per-CPU executor: tasks are futures, each owned by one
//! executor (one per CPU); wakes from elsewhere travel to the owner.
//!
//! # Data flow
//!
//! ```text
//! spawn(fut)       one allocation (header + future + output) -> owner's run queue
//! tick()           drain inbox -> run queues; pop (interrupt band first), poll,
//!                  at most BUDGET polls, then return to the caller's loop
//! wake (owner, task context)   queued? no -> set, push to run queue (no atomics)
//! wake (elsewhere / interrupt) in_inbox.swap(true)? no -> +1 ref, then
//!                              Hooks::remote_wake (a message: the kernel's IPI
//!                              queues), or, if it declines (interrupt context),
//!                              push the inbox and signal the owner if it was empty
//! completion       COMPLETE set; output to the JoinHandle (or dropped); the
//!                  executor's reference released (or at the stale queue pop)
//! ```
//!
//! # Task lifecycle (who calls what)
//!
//! ```text
//!            spawn_with            tick: pop+poll -> Ready      finish
//!  (new) ----------------> QUEUED -----------------------> COMPLETE ----> freed when the
//!                           ^   |                             ^           last reference
//!                 schedule  |   | tick: poll -> Pending       |           (executor, handle,
//!                           |   v                             |           wakers, inbox) drops
//!                           IDLE ------------------------------
//!                                 abort(): CANCELLED + schedule; tick: cancel + finish
//! ```
//!
//! # Rules
//! 1. Only the owner, in task context, touches `Local`, the run queues and
//!    the task's stage while it runs. [`Hooks::current`] decides "owner in task
//!    context"; interrupt handlers are never task context, so their wakes go
//!    through the lock-free inbox.
//! 2. A task is in its run queue at most once (`queued`) and in its inbox at
//!    most once (`in_inbox`): repeated wakes before the next poll coalesce.
//! 3. The executor holds one reference from spawn until completion (or, if a
//!    stale queue entry remains, until that entry is popped). Queue entries
//!    hold no reference of their own; inbox entries hold one each.
//! 4. Output ownership after COMPLETE is decided by the state word (state.rs).
//! 5. The future is dropped on the owner: at completion, at `abort` (through
//!    the owner's queue), or when the executor is dropped.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

mod executor;
mod inbox;
pub mod ipiq;
mod join;
mod queue;
mod state;
mod sync;
mod task;

pub use executor::{Adopt, BUDGET, Executor, Hooks, RemoteSpawner, Spawn, Stats, TaskInfo, yield_now};
pub use join::{JoinError, JoinHandle};
pub use task::{Band, overhead_bytes};
