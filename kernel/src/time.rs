//! Boot-time clock: the TSC, calibrated once against the PIT.
//!
//! `uptime()` is cycles since [`init`] divided by the calibrated rate. The
//! calibration runs channel 2 of the PIT for 10 ms three times and keeps the
//! shortest measurement (the one least disturbed by emulation or SMIs).

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use crate::arch::{cpu, pit};

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// PIT ticks per calibration run: 10 ms.
const CALIBRATION_TICKS: u16 = (pit::FREQUENCY_HZ / 100) as u16;
/// Give up on a run after this many cycles (about 1 s at 10 GHz).
const CALIBRATION_LIMIT: u64 = 10_000_000_000;

/// Records the boot TSC and calibrates the TSC rate.
pub fn init() {
    BOOT_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
    let best = (0..3)
        .filter_map(|_| pit::measure_tsc(CALIBRATION_TICKS, CALIBRATION_LIMIT))
        .min();
    match best {
        Some(cycles) => {
            let hz = cycles * pit::FREQUENCY_HZ / u64::from(CALIBRATION_TICKS);
            TSC_HZ.store(hz.max(1), Ordering::Relaxed);
        }
        None => log::error!("TSC calibration failed: the PIT did not count; uptime reads 0"),
    }
}

/// Calibrated TSC rate in kHz (0 if calibration failed).
pub fn tsc_khz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed) / 1000
}

/// What the TSC was calibrated against.
pub fn calibration_source() -> &'static str {
    if TSC_HZ.load(Ordering::Relaxed) == 0 { "uncalibrated" } else { "PIT channel 2, best of 3 x 10 ms" }
}

/// Converts a TSC cycle count to a duration (zero before calibration).
pub fn cycles_to_duration(cycles: u64) -> Duration {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    if hz == 0 {
        return Duration::ZERO;
    }
    let nanos = u128::from(cycles) * 1_000_000_000 / u128::from(hz);
    Duration::from_nanos(nanos as u64)
}

/// Time since [`init`].
pub fn uptime() -> Duration {
    cycles_to_duration(cpu::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed)))
}

/// A TSC value `ms` milliseconds from now (for bounded waits).
pub fn deadline_after_ms(ms: u64) -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed).max(1_000_000);
    cpu::rdtsc().saturating_add(ms.saturating_mul(hz / 1000))
}

/// A TSC value `us` microseconds from now.
pub fn deadline_after_us(us: u64) -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed).max(1_000_000);
    cpu::rdtsc().saturating_add(us.saturating_mul(hz) / 1_000_000)
}

/// Whether the TSC has passed `deadline`.
pub fn passed(deadline: u64) -> bool {
    cpu::rdtsc() >= deadline
}

/// Busy-waits `us` microseconds (calibrated TSC; used before timers exist).
pub fn delay_us(us: u64) {
    let hz = TSC_HZ.load(Ordering::Relaxed).max(1_000_000);
    let end = cpu::rdtsc().saturating_add(us.saturating_mul(hz) / 1_000_000);
    while cpu::rdtsc() < end {
        cpu::pause();
    }
}
