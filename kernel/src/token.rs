//! Serializing tokens in the kernel: `io::token` given its one hook, "wake
//! this waker once every other CPU has been between two polls", built on
//! the IPI queues. A waiter whose token was busy sends one message to every
//! other online CPU; each CPU's loop runs the message in task context,
//! between two polls, where it holds no token, so whatever hold the waiter
//! saw on that CPU has ended; the last CPU to answer wakes the waiter
//! (a remote wake when the waiter lives elsewhere). Holders do nothing for
//! waiters, which is what keeps an uncontended access at a spin lock's cost
//! (the protocol and why no wake is lost: the module doc of `io::token`).
//!
//! `boot` installs the hook before any task runs.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::Waker;

use io::token::TokenHooks;

use crate::ipiq::{self, Urgency};
use crate::smp::{self, CpuId};

/// One wait: the CPUs yet to answer, and the waiter.
struct Round {
    left: AtomicUsize,
    waker: Waker,
}

fn wake_after_every_cpu(waker: Waker) {
    let here = smp::current();
    // Read once: the count of answers awaited and the CPUs asked must agree
    // (a CPU coming online now holds no token yet, so it need not answer).
    let online = smp::online();
    let others = online - 1;
    if others == 0 {
        waker.wake();
        return;
    }
    let round = Arc::new(Round { left: AtomicUsize::new(others), waker });
    for n in (0..online).filter(|&n| n != here.as_usize()) {
        let cpu = CpuId::try_new(n).expect("online CPUs are below MAX_CPUS");
        ipiq::send(cpu, on_round, Arc::into_raw(Arc::clone(&round)) as usize, Urgency::Active);
    }
}

fn on_round(_from: CpuId, word: usize) {
    // SAFETY: `wake_after_every_cpu` sent this word from `Arc::into_raw`
    // of one reference to a `Round`, for this message alone; the IPI queues
    // deliver each message once.
    let round = unsafe { Arc::from_raw(word as *const Round) };
    if round.left.fetch_sub(1, Ordering::AcqRel) == 1 {
        round.waker.wake_by_ref();
    }
}

/// The kernel's token hooks.
pub static HOOKS: TokenHooks = TokenHooks { wake_after_every_cpu };

/// Installs [`HOOKS`] (`boot`, before any task runs).
pub fn init() {
    io::token::set_hooks(&HOOKS);
}
