//! Stalls caught while they happen.
//!
//! The commonest bug in a cooperative kernel is a task that never yields:
//! its CPU runs nothing else, and the cooperative watchdog (`exec`), which
//! speaks only once a poll has returned, never names it. Here each busy
//! CPU's own timer looks at the poll it interrupted (the timer's busy
//! check, `time::timer`): one that began [`STALL_AFTER`] ago or more is
//! reported at once, from the interrupt, with the CPU, the task, how long,
//! and a backtrace of where the interrupt found it. Other CPUs keep
//! working; `ps` on them shows the task as stalled (the stalled CPU cannot
//! answer, so its stall is published in a [`StallRecord`] any CPU reads).
//!
//! Data flow:
//!
//! ```text
//! exec::turn (CPU c)            work queued: timer::arm_busy_check (fires
//!                               within CHECK_EVERY), then the polls
//! timer interrupt on c (busy)   check: Executor::poll_in_progress (atomics
//!                               the executor keeps around each poll: task,
//!                               poll number); the same poll seen for
//!                               STALL_AFTER and not yet reported:
//!                               CPUS[c].record.set, log the report
//! the poll returns at last      the watchdog's report calls poll_returned:
//!                               CPUS[c].record.set(None), "the stall is over"
//! ps on another CPU             CPUS[c].record.get (c does not answer run_on)
//! ```
//!
//! A task that spins by design says so (`exec::allow_long_polls`) and is
//! left alone by both the watchdog and this detector.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use io::{Stall, StallRecord};

use crate::arch::backtrace::Backtrace;
use crate::arch::cpu_array::CpuArray;
use crate::arch::cpu_id::CpuId;
use crate::arch::entry::InterruptFrame;
use crate::arch::{cpu, percpu};
use crate::time;

/// A poll seen running this long is reported while it runs (timed from the
/// first check that saw it, so it has run this long at least). Far above any
/// poll of an idle or interactive session, even in a debug kernel under
/// emulation; short enough that a stall is named well within a second.
pub const STALL_AFTER: Duration = Duration::from_millis(200);

/// How often a busy CPU's timer looks.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// One CPU's detector state.
struct CpuStall {
    /// The stall it is in, if reported (any CPU reads it: `ps`).
    record: StallRecord,
    /// The poll its check last saw, and when it first saw it (touched only
    /// by that CPU's timer interrupt; atomics so a static can hold them).
    poll: AtomicU64,
    since: AtomicU64,
}

static CPUS: CpuArray<CpuStall> =
    crate::cpu_array!(CpuStall { record: StallRecord::new(), poll: AtomicU64::new(0), since: AtomicU64::new(0) });

/// Starts the detector (boot CPU, once the timers are up).
pub fn init() {
    time::timer::set_busy_check(CHECK_EVERY, check);
}

/// The stall `cpu` is in, if its current poll has been reported stalled:
/// the task, and how long its poll has run so far.
pub fn stalled(cpu: CpuId) -> Option<(Stall, Duration)> {
    let stall = CPUS.get(cpu).record.get()?;
    Some((stall, time::cycles_to_duration(cpu::rdtsc().saturating_sub(stall.since))))
}

/// The watchdog saw `task`'s long poll return on this CPU: if it had been
/// reported stalled, the stall is over (returns whether it had been).
pub(crate) fn poll_returned(task: u64) -> bool {
    let record = &CPUS.this().record;
    // The record's one writer is this CPU with interrupts off.
    x86_64::instructions::interrupts::without_interrupts(|| {
        let was = record.get().is_some_and(|s| s.task == task);
        if was {
            record.set(None);
        }
        was
    })
}

/// The timer's busy check (interrupt context, on the CPU it looks at);
/// returns whether to look again.
fn check(frame: &InterruptFrame) -> bool {
    // The executor in this CPU's block (the `exec` module is above this one).
    let block = percpu::this();
    let Some(ex) = block.executor() else { return false };
    let Some(poll) = ex.poll_in_progress() else {
        // Between polls: look again unless the CPU has gone idle.
        return !block.is_idle();
    };
    if poll.long_by_design {
        return false;
    }
    let me = percpu::current_id();
    let now = cpu::rdtsc();
    let seen = CPUS.get(me);
    if frame.cs & 3 == 3 {
        // A program is running (a user thread's poll runs it until it
        // traps): the CPU is not stuck in the kernel. Time the kernel's
        // part afresh from here.
        seen.poll.store(poll.poll, Ordering::Relaxed);
        seen.since.store(now, Ordering::Relaxed);
        return true;
    }
    // The executor stores no start time (a store per poll): the poll is
    // timed from the first look that saw it, so the figure is a lower
    // bound, never early, and at most CHECK_EVERY short.
    if seen.poll.load(Ordering::Relaxed) != poll.poll {
        seen.poll.store(poll.poll, Ordering::Relaxed);
        seen.since.store(now, Ordering::Relaxed);
        return true;
    }
    let since = seen.since.load(Ordering::Relaxed);
    let ran = time::cycles_to_duration(now.saturating_sub(since));
    if ran < STALL_AFTER {
        return true;
    }
    let record = &CPUS.get(me).record;
    if record.get().is_some_and(|s| s.task == poll.task && s.since == since) {
        // Reported already; the watchdog speaks when the poll returns.
        return false;
    }
    record.set(Some(Stall { task: poll.task, name: poll.name, since }));
    log::error!(
        "stall: task {} '{}' on {me} has run {} ms without yielding and is still running; {me} runs nothing else until it yields{}",
        poll.task,
        poll.name.unwrap_or("?"),
        ran.as_millis(),
        Backtrace::of_frame(frame)
    );
    false
}
