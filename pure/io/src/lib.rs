//! Odonata's concurrency model and driver building blocks. Pure (`no_std` +
//! `alloc`, no asm, no devices): everything here builds and is tested on the
//! host, its lock-free parts under loom. Protocol parsing (HTTP, frames,
//! line editing) is the `protocols` crate's.
//!
//! # Data flow of an interrupt-driven driver
//!
//! ```text
//! device interrupt
//!   handler (interrupt context, any CPU): read the device's data register,
//!            IrqRing::push (counts an overflow instead of failing), then
//!            WaitCell::signal -> the registered waker -> the task's executor
//!   task (async fn, its own CPU): WaitCell::wait().await (or
//!            IrqRing::recv().await), drain the ring, decode, hand on
//! ```
//!
//! - [`AtomicWaker`]: one waker slot, registered by one party, woken by any.
//! - [`WaitCell`]: a signal an interrupt handler raises and a task awaits;
//!   register-then-recheck, so a signal is never lost.
//! - [`IrqRing`]: a fixed-capacity single-producer single-consumer ring with
//!   a [`WaitCell`]; the producer is an interrupt handler, the consumer a task.
//! - [`TimerQueue`]: one CPU's pending timers, earliest deadline first.
//! - [`Barrier`]: an async barrier for tasks on any CPUs.
//! - [`StallRecord`]: one CPU's stalled task, published for every CPU (a
//!   sequence lock over atomics).
//! - [`token`]: DragonFly's serializing tokens for futures: data reached
//!   only inside a closure run with its tokens held, taken all or nothing.
//! - [`port`]: DragonFly's message ports for futures: a server task on one
//!   CPU, calls and sends from any CPU, bounded, aborts that leak nothing.
//! - [`retire`]: values readers reach without a lock ([`retire::Snapshot`]),
//!   dropped a grace period after they were unlinked (Linux's RCU).
//! - [`SlotTable`]: `Arc`s by key, read without a lock (the process table).
//! - [`block`]: the block-device interface (`BlockDevice`, `BlockError`).
//! - [`embedded_io_async`]: the async byte I/O traits (`Read`, `Write`)
//!   drivers implement, re-exported so every driver names the same ones.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

mod atomic_waker;
mod barrier;
pub mod block;
mod irq_ring;
pub mod port;
pub mod retire;
mod slot_table;
mod stall_record;
pub mod sync;
mod timer_queue;
pub mod token;
mod wait_cell;

pub use atomic_waker::AtomicWaker;
pub use barrier::Barrier;
pub use embedded_io_async;
pub use irq_ring::{IrqRing, Pushed, Recv};
pub use slot_table::{Keyed, SlotTable};
pub use stall_record::{Stall, StallRecord};
pub use timer_queue::{TimerKey, TimerQueue};
pub use wait_cell::{Wait, WaitCell};
