//! System calls answered at the trap: `syscall_entry` (`user_mode`) offers
//! the calls whose bit is set here to the running context's [`FastCalls`],
//! with interrupts still off and on the executor's stack below what
//! `enter_user` parked there; an answered call goes straight back to the
//! program through `sysretq`, without its task running at all.

use core::sync::atomic::{AtomicU64, Ordering};

use super::entry::InterruptFrame;
use super::user_copy::USER_END;
use super::user_mode::UserContext;

/// System calls a program's owner can answer at the trap itself, with
/// interrupts still off and without returning to the thread's task: ones
/// that never wait, wake nothing and touch only the calling process's
/// shared record (`getpid`, `getppid`, ...). Anything else, and anything
/// that needs the task (a pending signal to deliver), is declined and goes
/// the usual way.
pub trait FastCalls: Send + Sync {
    /// Answers the call `frame` holds (RAX = its number) by writing its
    /// result to RAX and returning true; false leaves it to the task.
    fn answer(&self, frame: &mut InterruptFrame) -> bool;
}

/// Call numbers below this may be offered to the fast path.
pub const FAST_LIMIT: u64 = 256;

/// The calls `syscall_entry` offers to the fast path: bit n for call n.
pub(super) static FAST_NUMBERS: [AtomicU64; (FAST_LIMIT / 64) as usize] = [const { AtomicU64::new(0) }; (FAST_LIMIT / 64) as usize];

/// Offers calls `numbers` (each below [`FAST_LIMIT`]) to the contexts'
/// [`FastCalls`] at the trap; the rest never try it.
pub fn offer_fast_calls(numbers: &[u64]) {
    for &n in numbers {
        assert!(n < FAST_LIMIT, "call {n} cannot be offered to the fast path");
        FAST_NUMBERS[(n / 64) as usize].fetch_or(1 << (n % 64), Ordering::Relaxed);
    }
}

/// The fast path of `syscall_entry`: whether the context's [`FastCalls`]
/// answered the call. Its return address is checked as `enter` checks it
/// (the `sysretq` that follows must never see a non-canonical RCX), and
/// RFLAGS is what the CPU saved from ring 3, which ring 3 cannot have
/// given privileged bits.
pub(super) extern "C" fn fast_call(ctx: &mut UserContext) -> bool {
    let UserContext { frame, fast, .. } = ctx;
    frame.rip < USER_END && fast.as_ref().is_some_and(|calls| calls.answer(frame))
}
