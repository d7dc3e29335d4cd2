//! What an executor tells about itself and lets its tasks say: the task
//! being polled, the poll in progress (for the stall detector), long polls
//! by design, the watchdog and its clock, statistics, the task list.

use core::ptr::NonNull;

use super::{Executor, IDLE, Stats, TaskInfo, TaskList};
use crate::poll_record::PollInProgress;
use crate::sync::Ordering;
use crate::task::{Header, Place};

impl Executor {
    /// The task being polled on this executor right now, as (id, name).
    /// Meant for the panic handler of the executor's own CPU.
    pub fn current_task(&self) -> Option<(u64, Option<&'static str>)> {
        let h = self.shared.polling.current()?;
        // SAFETY: the task being polled is alive.
        let ident = unsafe { &h.as_ref().ident };
        Some((ident.id(), ident.name()))
    }

    /// The poll running on this executor now, if any. Meant for an
    /// interrupt handler on the executor's own CPU (the stall detector),
    /// which may have interrupted that very poll; reads only atomics and the
    /// task's fixed identity.
    pub fn poll_in_progress(&self) -> Option<PollInProgress> {
        self.shared.polling.read()
    }

    /// Says whether the task being polled polls for long by design (a
    /// benchmark that spins on the clock, a test that waits by spinning):
    /// while it does, the watchdog and the stall detector leave it alone (a
    /// poll during which it was allowed at any point counts as allowed).
    /// Returns the previous setting (`false` outside a poll, where this has
    /// no effect), so a scoped exemption can restore it.
    pub fn set_long_polls(&self, allowed: bool) -> bool {
        let Some(h) = self.shared.polling.current() else { return false };
        // SAFETY: the task being polled is alive.
        let header = unsafe { h.as_ref() };
        // SAFETY: owner-only field, written by the owner.
        let was = header.local.with_mut(|l| unsafe { core::mem::replace(&mut (*l).long_polls, allowed) });
        if allowed {
            self.shared.polling.mark_long();
        }
        was
    }

    /// Says that the poll in progress has not been running kernel code
    /// since the last call: a user thread's poll runs a program until it
    /// traps, and calls this each time it comes back. The watchdog then
    /// times the poll from the last restart, and the stall detector sees a
    /// new poll (the poll count goes up). The task's CPU time
    /// ([`TaskInfo`]) still counts the whole poll.
    pub fn restart_poll_clock(&self) {
        self.restart_poll_clock_at((self.shared.hooks.now)());
    }

    /// [`restart_poll_clock`](Self::restart_poll_clock) with the time now
    /// (per [`Hooks::now`]) that the caller has read already.
    pub fn restart_poll_clock_at(&self, now: u64) {
        let Some(h) = self.shared.polling.current() else { return };
        self.owned(|o| o.restarted = Some(now));
        // SAFETY: owner-only field of the task being polled.
        let long = unsafe { h.as_ref() }.local.with(|l| unsafe { (*l).long_polls });
        self.shared.polling.begin(h, long);
    }

    /// The cooperative watchdog: after any poll that took more than `cycles`
    /// (per [`Hooks::now`]), `report` is called with the task and the cycles
    /// (unless the task [allows long polls](Self::set_long_polls)).
    pub fn set_watchdog(&self, cycles: u64, report: fn(&TaskInfo, u64)) {
        self.owned(|o| {
            o.slow_cycles = cycles;
            o.on_slow = Some(report);
        });
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.owned(|o| {
            let mut s = o.stats;
            s.queued = o.lists[..IDLE].iter().map(TaskList::len).sum();
            s
        });
        s.polls = self.shared.polling.polls();
        s.remote_wakes = self.shared.remote_wakes.load(Ordering::Relaxed) as u64;
        s
    }

    /// Calls `f` for every live task: the one being polled (if `f` is
    /// called from a task), the run queues, then the waiting ones. `f` should
    /// not spawn or wake tasks of this executor (it may see one twice).
    pub fn for_each_task(&self, mut f: impl FnMut(TaskInfo)) {
        if let Some(h) = self.shared.polling.current() {
            // SAFETY: owner; the task being polled is alive.
            f(unsafe { task_info(h) });
        }
        for list in 0..=IDLE {
            let mut cur = self.owned(|o| o.lists[list].head());
            while let Some(h) = cur {
                // SAFETY: owner; listed tasks are alive. The link is read
                // before `f` runs.
                let info = unsafe { task_info(h) };
                // SAFETY: as above.
                cur = unsafe { h.as_ref() }.local.with(|l| unsafe { (*l).next });
                f(info);
            }
        }
    }
}

/// A task as `ps` shows it.
///
/// # Safety
/// Owner in task context (or its handle); `h` is alive.
pub(super) unsafe fn task_info(h: NonNull<Header>) -> TaskInfo {
    // SAFETY: per the contract.
    let header = unsafe { h.as_ref() };
    // SAFETY: owner-only fields, read by the owner.
    header.local.with(|l| unsafe {
        TaskInfo {
            id: header.ident.id(),
            name: header.ident.name(),
            band: header.ident.band(),
            queued: (*l).place == Place::Queued,
            polls: u64::from((*l).polls),
            cycles: (*l).cycles,
        }
    })
}
