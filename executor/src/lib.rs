//! Odonata's per-CPU executor: tasks are futures, each owned by one
//! executor (one per CPU); wakes from elsewhere travel to the owner.
//!
//! # Data flow
//!
//! ```text
//! spawn(fut)       one allocation (header + future + output) -> owner's run queue
//! tick()           drain inbox -> run queues; pop (interrupt band first), poll,
//!                  at most BUDGET polls, then return to the caller's loop
//! wake (owner, task context)   queued? no -> off the idle list, onto the run
//!                              queue (a few pointer writes, no atomics)
//! wake (elsewhere / interrupt) IN_INBOX newly set? -> +1 ref, then
//!                              Hooks::remote_wake (a message: the kernel's IPI
//!                              queues), or, if it declines (interrupt context),
//!                              push the inbox and signal the owner if it was empty
//! poll -> Pending  not woken meanwhile -> idle list
//! completion       off its list; COMPLETE set; output to the JoinHandle (its
//!                  waker woken) or dropped; the executor's reference released
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
//! QUEUED and IDLE are lists (`Place` in `task.rs`): every live task is in
//! exactly one of its owner's lists (a run queue per band, or the idle list),
//! except while it is being polled, so `ps` walks them and needs no list of
//! its own.
//!
//! ```text
//! ```
//!
//! # Rules
//! 1. Only the owner, in task context, touches `Local`, the run queues and
//!    the task's stage while it runs. [`Hooks::current`] decides "owner in task
//!    context"; interrupt handlers are never task context, so their wakes go
//!    through the lock-free inbox.
//! 2. A task is in its run queue at most once (`Place::Queued`) and in its
//!    inbox at most once (the IN_INBOX bit): repeated wakes before the next
//!    poll coalesce.
//! 3. The executor holds one reference from spawn until completion; a task
//!    is taken off its list when it completes, so list entries hold no
//!    reference of their own. Inbox entries (and wake messages) hold one each.
//! 4. Output ownership after COMPLETE, and the join-waker slot, are decided
//!    by the state word (state.rs).
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
mod list;
mod state;
mod sync;
mod task;

pub use executor::{Adopt, BUDGET, Executor, Hooks, RemoteSpawner, Spawn, Stats, TaskInfo, yield_now};
pub use join::{JoinError, JoinHandle};
pub use task::{Band, overhead_bytes};
