//! Per-CPU timers, tickless: each CPU keeps its own [`TimerQueue`] and
//! programs its own local APIC timer for the earliest deadline, only when it
//! is about to halt. There is no periodic tick.
//!
//! Data flow:
//!
//! ```text
//! Sleep::poll (task, CPU c)   insert/update (deadline, waker) in TIMERS[c]
//! exec::turn (CPU c)          run_expired: wake every timer whose deadline
//!                             passed (the wakes are local: a timer's waker
//!                             fires on the task's own CPU)
//! idle check, interrupts off  prepare_idle: earliest deadline passed? do not
//!                             halt. Otherwise program the LAPIC timer for it
//!                             (TSC-deadline mode where the CPU has it, else
//!                             one-shot in bus/16 ticks); nothing pending:
//!                             stop the timer. Then sti; hlt.
//! timer interrupt             count, EOI: its job is to end the halt, and
//!                             on a busy CPU to run the busy check (below)
//! ```
//!
//! The busy check (`set_busy_check`, used by `crate::stall`): after a turn
//! that polled tasks, the loop makes sure the timer fires within the
//! check's period (`arm_busy_check`); the interrupt asks the check, which
//! looks at the poll it stopped, and re-arms while it says so (never on a
//! halted CPU). Going idle keeps it if no deadline is due sooner (one early
//! wake at most, instead of two timer writes per wake), so an idle CPU
//! takes at most one after its last busy stretch.
//!
//! Locking: a CPU's queue is touched from task context only (never from an
//! interrupt handler), almost always by its own CPU; the spin lock is there
//! for the rare `Sleep` dropped on another CPU. A deadline that has already
//! passed is run by the next turn without programming the timer, so a late
//! deadline cannot cause an interrupt storm.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use core::task::Waker;

use io::{TimerKey, TimerQueue};
use spin::Mutex;

use crate::arch::cpu_array::CpuArray;
use crate::arch::cpu_id::CpuId;
use crate::arch::entry::InterruptFrame;
use crate::arch::idt;
use crate::arch::lapic::{self, TimerMode};
use crate::arch::vectors::{self, Vector};
use crate::arch::{cpu, percpu};
use x86_64::instructions::interrupts;

const MODE_NONE: u8 = 0;
const MODE_DEADLINE: u8 = 1;
const MODE_ONESHOT: u8 = 2;
const NOT_ARMED: u64 = u64::MAX;

static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);
/// One-shot mode: local timer ticks (bus / 16) per second.
static LAPIC_HZ: AtomicU64 = AtomicU64::new(0);

struct CpuTimers {
    queue: Mutex<TimerQueue>,
    /// Timer interrupts taken by this CPU.
    interrupts: AtomicU64,
    /// The deadline the hardware is programmed for (`NOT_ARMED`: stopped).
    armed: AtomicU64,
    /// The queue's earliest deadline (`NOT_ARMED`: empty), kept beside it so
    /// a turn with nothing due costs one load instead of the lock.
    earliest: AtomicU64,
    /// The timer will interrupt within the busy check's period (set when
    /// the check is armed; cleared by the interrupt): `arm_busy_check` has
    /// nothing to do.
    check_due: AtomicBool,
}

static TIMERS: CpuArray<CpuTimers> = crate::cpu_array!(CpuTimers {
    queue: Mutex::new(TimerQueue::new()),
    interrupts: AtomicU64::new(0),
    armed: AtomicU64::new(NOT_ARMED),
    earliest: AtomicU64::new(NOT_ARMED),
    check_due: AtomicBool::new(false),
});

fn mode() -> Option<TimerMode> {
    match MODE.load(Ordering::Acquire) {
        MODE_DEADLINE => Some(TimerMode::TscDeadline),
        MODE_ONESHOT => Some(TimerMode::OneShot),
        _ => None,
    }
}

/// Chooses the timer mode (boot CPU, once the local APIC is up), measures
/// the one-shot rate if needed, and installs the interrupt handler.
pub fn init_global() {
    idt::set_handler(vectors::TIMER, on_timer);
    if lapic::has_tsc_deadline() {
        MODE.store(MODE_DEADLINE, Ordering::Release);
        log::info!("timers: local APIC TSC-deadline mode, tickless");
    } else {
        let ticks = lapic::timer_measure(|| super::delay_us(10_000));
        LAPIC_HZ.store(u64::from(ticks) * 100, Ordering::Relaxed);
        MODE.store(MODE_ONESHOT, Ordering::Release);
        log::info!("timers: local APIC one-shot mode at {} kHz (bus / 16), tickless", u64::from(ticks) / 10);
    }
    init_this_cpu();
}

/// Sets up this CPU's local timer, stopped (every CPU, after its local APIC).
pub fn init_this_cpu() {
    if let Some(mode) = mode() {
        lapic::timer_init(mode, vectors::TIMER);
    }
}

/// The busy check: while a CPU runs tasks, its timer also fires every
/// `period` cycles, and `check` looks at what the interrupt stopped
/// (`crate::stall`); it returns whether to keep checking.
struct BusyCheck {
    period: u64,
    check: fn(&InterruptFrame) -> bool,
}

static BUSY_CHECK: spin::Once<BusyCheck> = spin::Once::new();

/// Installs the busy check (once, at boot).
pub fn set_busy_check(period: core::time::Duration, check: fn(&InterruptFrame) -> bool) {
    BUSY_CHECK.call_once(|| BusyCheck { period: super::duration_to_cycles(period).max(1), check });
}

/// Called by the loop after it polled tasks: makes sure this CPU's timer
/// fires within the busy check's period, so a poll that never returns is
/// seen. Costs one load when the check is already due (every turn but
/// about one per period). `prepare_idle` leaves an armed
/// check in place when no deadline is due sooner: the check then fires at
/// most once on the halted CPU, sees it halted and does not re-arm, so an
/// idle CPU takes one check interrupt after its last busy stretch, then none.
pub fn arm_busy_check() {
    let timers = TIMERS.this();
    // The fast path, every turn: one load.
    if timers.check_due.load(Ordering::Relaxed) {
        return;
    }
    let (Some(busy), Some(mode)) = (BUSY_CHECK.get(), mode()) else { return };
    interrupts::without_interrupts(|| {
        let now = cpu::rdtsc();
        let due = now.saturating_add(busy.period);
        if timers.armed.load(Ordering::Relaxed) > due {
            program(timers, mode, due, now);
        }
        timers.check_due.store(true, Ordering::Relaxed);
    });
}

/// Programs this CPU's timer for `deadline` (later than `now`).
fn program(timers: &CpuTimers, mode: TimerMode, deadline: u64, now: u64) {
    match mode {
        TimerMode::TscDeadline => lapic::timer_arm_deadline(deadline),
        TimerMode::OneShot => {
            let hz = super::tsc_hz().max(1);
            // Round up: an early interrupt costs a wakeup, a late one costs
            // lateness. Longer than the counter holds: wake and re-arm.
            let ticks = (u128::from(deadline.saturating_sub(now)) * u128::from(LAPIC_HZ.load(Ordering::Relaxed))).div_ceil(u128::from(hz));
            lapic::timer_arm_count(u32::try_from(ticks).unwrap_or(u32::MAX).max(1));
        }
    }
    timers.armed.store(deadline, Ordering::Relaxed);
}

fn on_timer(_: Vector, frame: &mut InterruptFrame) {
    let t = TIMERS.this();
    t.interrupts.fetch_add(1, Ordering::Relaxed);
    t.armed.store(NOT_ARMED, Ordering::Relaxed);
    t.check_due.store(false, Ordering::Relaxed);
    lapic::eoi();
    if let Some(busy) = BUSY_CHECK.get()
        && (busy.check)(frame)
        && let Some(mode) = mode()
    {
        let now = cpu::rdtsc();
        program(t, mode, now.saturating_add(busy.period), now);
        t.check_due.store(true, Ordering::Relaxed);
    }
}

/// Arms a timer on this CPU: `waker` is woken by this CPU's loop once the
/// TSC reaches `deadline`.
pub(super) fn insert(deadline: u64, waker: &Waker) -> (CpuId, TimerKey) {
    let cpu = percpu::current_id();
    let t = TIMERS.get(cpu);
    let mut q = t.queue.lock();
    let key = q.insert(deadline, waker.clone());
    t.earliest.store(q.next_deadline().unwrap_or(NOT_ARMED), Ordering::Relaxed);
    (cpu, key)
}

/// Replaces the waker of an armed timer; `false` if it already fired.
pub(super) fn update(cpu: CpuId, key: TimerKey, waker: &Waker) -> bool {
    TIMERS.get(cpu).queue.lock().update(key, waker)
}

/// Disarms a timer (no effect if it fired).
pub(super) fn cancel(cpu: CpuId, key: TimerKey) {
    let t = TIMERS.get(cpu);
    let mut q = t.queue.lock();
    q.cancel(key);
    t.earliest.store(q.next_deadline().unwrap_or(NOT_ARMED), Ordering::Relaxed);
}

/// Wakes every timer of this CPU whose deadline has passed; returns how
/// many. The wakers are called outside the lock (a wake may send a message,
/// and a message handler may drop a `Sleep`).
pub fn run_expired() -> usize {
    let timers = TIMERS.this();
    // Timers are inserted only by this CPU (seen at once); another CPU can
    // only cancel, which makes the true earliest later: a stale value costs
    // at most a needless lock.
    if timers.earliest.load(Ordering::Relaxed) > cpu::rdtsc() {
        return 0;
    }
    let mut total = 0;
    loop {
        const BATCH: usize = 32;
        let mut due: [Option<Waker>; BATCH] = [const { None }; BATCH];
        let mut n = 0;
        {
            let mut q = timers.queue.lock();
            let now = cpu::rdtsc();
            while n < BATCH
                && let Some(w) = q.pop_expired(now)
            {
                due[n] = Some(w);
                n += 1;
            }
            timers.earliest.store(q.next_deadline().unwrap_or(NOT_ARMED), Ordering::Relaxed);
        }
        if n == 0 {
            return total;
        }
        total += n;
        for w in due.iter_mut().filter_map(Option::take) {
            w.wake();
        }
    }
}

/// Called with interrupts off just before this CPU halts: programs the
/// local timer for the earliest deadline, its timers' or `extra` (another
/// deadline the loop keeps, such as an owed IPI-queue kick), or stops it
/// when there is none. Returns `false` if a deadline has already passed
/// (run it; do not halt), or if deadlines are pending on a machine without
/// a local APIC timer.
pub fn prepare_idle(extra: Option<u64>) -> bool {
    let timers = TIMERS.this();
    let queued = timers.queue.lock().next_deadline();
    let next = match (queued, extra) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let Some(mode) = mode() else { return next.is_none() };
    let armed = timers.armed.load(Ordering::Relaxed);
    let now = cpu::rdtsc();
    if next.is_some_and(|d| d <= now) {
        return false;
    }
    // An interrupt already due no later than the deadline (the busy check,
    // mostly) stays: it can only wake us early, and the next idle check
    // programs the deadline. Leaving it costs at most one early wake per busy
    // stretch; reprogramming it would cost two timer writes per wake (a
    // trapped register write each under emulation).
    if armed != NOT_ARMED && armed > now && next.is_none_or(|d| armed <= d) {
        return true;
    }
    let Some(deadline) = next else {
        if armed != NOT_ARMED {
            lapic::timer_stop(mode);
            timers.armed.store(NOT_ARMED, Ordering::Relaxed);
            timers.check_due.store(false, Ordering::Relaxed);
        }
        return true;
    };
    program(timers, mode, deadline, now);
    true
}

/// The earliest of this CPU's timers and `extra` (`NOT_ARMED`: none).
fn next_user_deadline(timers: &CpuTimers, extra: Option<u64>) -> u64 {
    let queued = timers.earliest.load(Ordering::Relaxed);
    extra.map_or(queued, |e| queued.min(e))
}

/// Called with interrupts off before a task runs a program in its poll (a
/// user thread; the loop does not get to `prepare_idle` while the program
/// runs): makes the local timer fire by the earliest deadline, this CPU's
/// timers' or `extra`, unless something already fires no later. Returns
/// `false` if a deadline has already passed (run it first).
pub fn prepare_user(extra: Option<u64>) -> bool {
    let timers = TIMERS.this();
    let next = next_user_deadline(timers, extra);
    if next == NOT_ARMED {
        return true;
    }
    let now = cpu::rdtsc();
    if next <= now {
        return false;
    }
    let Some(mode) = mode() else { return true };
    let armed = timers.armed.load(Ordering::Relaxed);
    if armed != NOT_ARMED && armed > now && armed <= next {
        return true;
    }
    program(timers, mode, next, now);
    true
}

/// Whether [`prepare_user`] would have nothing to do (no deadline, or one
/// already covered by the armed timer, and none passed): loads only, so
/// the common case needs no interrupts-off section.
pub fn user_deadline_covered(extra: Option<u64>) -> bool {
    let timers = TIMERS.this();
    let next = next_user_deadline(timers, extra);
    if next == NOT_ARMED {
        return true;
    }
    let armed = timers.armed.load(Ordering::Relaxed);
    let now = cpu::rdtsc();
    next > now && armed != NOT_ARMED && armed > now && armed <= next
}

/// One CPU's timer counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimerStats {
    /// Timers armed now.
    pub pending: usize,
    /// Timers fired since boot.
    pub fired: u64,
    /// Local timer interrupts taken since boot.
    pub interrupts: u64,
}

/// `cpu`'s timer counters.
pub fn stats(cpu: CpuId) -> TimerStats {
    let t = TIMERS.get(cpu);
    let q = t.queue.lock();
    TimerStats { pending: q.len(), fired: q.fired(), interrupts: t.interrupts.load(Ordering::Relaxed) }
}

/// The timer mode in use, for the boot log and `cpus`.
pub fn mode_name() -> &'static str {
    match mode() {
        Some(TimerMode::TscDeadline) => "TSC-deadline",
        Some(TimerMode::OneShot) => "one-shot",
        None => "none (no local APIC)",
    }
}
