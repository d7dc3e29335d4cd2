//! Calls answered at the trap (`user_mode::FastCalls`): the ones that
//! read only the caller's shared record, so that they need neither the
//! thread's task nor a future. The task still answers them whenever this
//! declines (a signal is pending and must be delivered first, or every
//! call is being traced).

use core::sync::atomic::Ordering;

use kernel::arch::entry::InterruptFrame;
use kernel::arch::user_mode::FastCalls;
use linux::nr;

use crate::process::Info;

/// The calls [`FastCalls::answer`] may answer.
const NUMBERS: [u64; 8] = [nr::GETPID, nr::GETTID, nr::GETPPID, nr::GETPGRP, nr::GETUID, nr::GETEUID, nr::GETGID, nr::GETEGID];

/// Offers them to the trap's fast path (once, at start-up).
pub fn offer() {
    kernel::arch::user_mode::offer_fast_calls(&NUMBERS);
}

impl FastCalls for Info {
    fn answer(&self, frame: &mut InterruptFrame) -> bool {
        if self.pending.load(Ordering::Relaxed) != 0 || log::max_level() >= log::LevelFilter::Trace {
            return false;
        }
        let result = match frame.rax {
            nr::GETPID | nr::GETTID => self.pid,
            nr::GETPPID => self.ppid.load(Ordering::Relaxed),
            nr::GETPGRP => self.pgid.load(Ordering::Relaxed),
            nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => 0,
            _ => return false,
        };
        frame.rax = u64::from(result);
        // One writer (this thread): a load and a store.
        self.syscalls.store(self.syscalls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        true
    }
}
