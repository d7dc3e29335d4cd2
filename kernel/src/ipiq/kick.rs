//! Passive sends to idle CPUs: a passive send skips the IPI, but timers
//! are tickless, so a halted receiver would never drain it. A receiver
//! raises its idle flag before it halts (`PerCpu::set_idle`); a passive sender
//! that sees it owes that receiver a kick within [`PASSIVE_KICK_US`]
//! (`executor::ipiq`'s `Signal::Kick`), which its own loop sends
//! ([`kick_due`]) and its idle path keeps the local timer armed for
//! ([`next_kick`]). Kicking later rather than at once lets a stream of
//! passive sends batch behind one IPI.

use core::sync::atomic::Ordering;

use x86_64::instructions::interrupts;

use super::{cpu_queue, transport};
use crate::arch::cpu_id::CpuId;
use crate::time;

/// How long a passive message to an idle CPU may wait for its kick: long
/// enough for a stream of passive sends to batch behind one IPI, short
/// enough to be a bounded delay (the role DragonFly's clock tick plays).
pub const PASSIVE_KICK_US: u64 = 1_000;

/// Records that `me` owes `to` a kick (with interrupts off, on `me`).
pub(super) fn owe(me: CpuId, to: CpuId) {
    let mine = cpu_queue::of(me.as_usize());
    if mine.owed.fetch_or(1 << to.as_usize(), Ordering::Relaxed) == 0 {
        mine.kick_at.store(time::deadline_after_us(PASSIVE_KICK_US), Ordering::Relaxed);
    }
}

/// Sends the kicks this CPU owes whose time has come (each turn of its
/// loop): a receiver whose ring from here is still not drained gets its
/// latch set, and an IPI on a 0 -> 1 swap.
pub fn kick_due() {
    let mine = cpu_queue::this();
    if mine.owed.load(Ordering::Relaxed) == 0 || !time::passed(mine.kick_at.load(Ordering::Relaxed)) {
        return;
    }
    let Some(ep) = transport::endpoint(false) else { return };
    interrupts::without_interrupts(|| {
        let mut owed = mine.owed.swap(0, Ordering::Relaxed);
        while owed != 0 {
            let to = owed.trailing_zeros() as usize;
            owed &= owed - 1;
            if ep.kick(to) {
                transport::raise(to);
            }
        }
    });
}

/// When this CPU's next owed kick is due (TSC), for the idle path's timer.
pub fn next_kick() -> Option<u64> {
    let mine = cpu_queue::this();
    (mine.owed.load(Ordering::Relaxed) != 0).then(|| mine.kick_at.load(Ordering::Relaxed))
}
