//! Odonata's per-CPU executor: tasks are futures, each owned by one
//! executor (one per CPU); wakes from elsewhere travel to the owner.
//!
//! # Data flow
//!
//! ```text
//! spawn(fut)       one allocation (header + future + output) -> owner's run queue
//! tick()           drain the wake stack -> run queues; pop (interrupt band first), poll,
//!                  at most BUDGET polls, then return to the caller's loop
//! wake (owner, task context)   queued? no -> off the idle list, onto the run
//!                              queue (a few pointer writes, no atomics)
//! wake (elsewhere / interrupt) IN_INBOX newly set? -> +1 ref, then
//!                              Hooks::remote_wake (a message: the kernel's IPI
//!                              queues), or, if it declines (interrupt context),
//!                              push the owner's wake stack and signal the owner
//!                              if it was empty
//! poll -> Pending  not woken meanwhile -> idle list
//! completion       off its list; COMPLETE set; output to the JoinHandle (its
//!                  waker woken) or dropped; the executor's reference released
//! ```
//!
//! # Task lifecycle (the one diagram; who calls what)
//!
//! A task's place is its `Place` (`task.rs`), kept by its owner; COMPLETE
//! and CANCELLED are bits of its state word (`state.rs`).
//!
//! ```text
//!  RemoteSpawner::prepare[_with]              Executor::adopt (owner, the
//!  (any CPU) ----------------> UNADOPTED ---- Adopt token's message) ----+
//!                              wakes that reach the owner first leave it |
//!                              alone: adopt queues it                    v
//!  Executor::spawn_with (owner) ---------------------------------> QUEUED (its band's
//!                                                                   |  ^   run queue)
//!                                          tick: pop_runnable       |  |  schedule ->
//!                                                                   v  |  enqueue_local
//!                                        UNLISTED (being polled) ---+  |  (woken during
//!                                          |            |              |   its poll)
//!                     poll -> Pending,     |            | poll -> Ready, or popped
//!                     not woken during it  v            | with CANCELLED set: finish
//!                                        IDLE           v
//!                     schedule (a wake,  --+        COMPLETE (UNLISTED, never unset)
//!                     or abort: CANCELLED  |            |
//!                     then schedule) -> QUEUED          v freed when the last reference
//!                                                         (executor's, handle's, wakers',
//!                                                         wake messages') is released
//! ```
//!
//! QUEUED and IDLE are lists: every live task is in exactly one of its
//! owner's lists (a run queue per band, or the idle list) except while it is
//! unadopted or being polled, so `ps` walks them and needs no list of its
//! own. Dropping the executor cancels and finishes every listed task.
//!
//! # Rules
//! 1. Only the owner, in task context, touches `Local`, the run queues and
//!    the task's stage while it runs. [`Hooks::current`] decides "owner in task
//!    context"; interrupt handlers are never task context, so their wakes go
//!    through the lock-free wake stack (or the platform's messages).
//! 2. A task is in its run queue at most once (`Place::Queued`) and has at
//!    most one wake in flight to its owner, as a message or on the wake
//!    stack (the IN_INBOX bit): repeated wakes before the next poll coalesce.
//! 3. The executor holds one reference from spawn until completion; a task
//!    is taken off its list when it completes, so list entries hold no
//!    reference of their own. A wake in flight (on the wake stack or in a
//!    message) holds one.
//! 4. Output ownership after COMPLETE, and the join-waker slot, are decided
//!    by the state word (state.rs).
//! 5. The future is dropped on the owner: at completion, at `abort` (through
//!    the owner's queue), or when the executor is dropped.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

mod executor;
mod hooks;
pub mod ipiq;
mod join;
mod list;
mod poll_record;
mod remote;
mod state;
mod sync;
mod task;
mod wake_stack;

pub use executor::{BUDGET, Executor, Spawn, Stats, TaskInfo, yield_now};
pub use hooks::Hooks;
pub use join::{JoinError, JoinHandle};
pub use poll_record::PollInProgress;
pub use remote::{Adopt, RemoteSpawner};
pub use task::{Band, overhead_bytes};
