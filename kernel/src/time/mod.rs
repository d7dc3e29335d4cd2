//! Time: the clock (the TSC, calibrated once against the PIT), [`Instant`],
//! and per-CPU timers ([`timer`]) behind [`sleep`], [`timeout`] and
//! [`Interval`].
//!
//! `uptime()` is cycles since [`init`] divided by the calibrated rate. The
//! calibration runs channel 2 of the PIT for 10 ms three times and keeps the
//! shortest measurement (the one least disturbed by emulation or SMIs).
//!
//! Every CPU reads the same clock: the TSC is one counter per machine on
//! CPUs with an invariant TSC (CPUID 8000_0007h EDX[8], logged at boot) and
//! under QEMU, so an [`Instant`] taken on one CPU compares with one taken on
//! another (the `timers` test kernel checks causality across CPUs).

mod sleep;
pub mod timer;

use core::ops::{Add, Sub};
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use crate::arch::{cpu, pit};

pub use sleep::{Elapsed, Interval, Sleep, Timeout, interval, sleep, sleep_until, timeout};

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// PIT ticks per calibration run: 10 ms.
const CALIBRATION_TICKS: u16 = (pit::FREQUENCY_HZ / 100) as u16;
/// Give up on a run after this many cycles (about 1 s at 10 GHz).
const CALIBRATION_LIMIT: u64 = 10_000_000_000;

/// Records the boot TSC and calibrates the TSC rate.
pub fn init() {
    BOOT_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
    let best = (0..3).filter_map(|_| pit::measure_tsc(CALIBRATION_TICKS, CALIBRATION_LIMIT)).min();
    match best {
        Some(cycles) => {
            let hz = cycles * pit::FREQUENCY_HZ / u64::from(CALIBRATION_TICKS);
            TSC_HZ.store(hz.max(1), Ordering::Relaxed);
        }
        None => log::error!("TSC calibration failed: the PIT did not count; uptime reads 0"),
    }
    let invariant =
        core::arch::x86_64::__cpuid(0x8000_0000).eax >= 0x8000_0007 && core::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0;
    INVARIANT.store(invariant, Ordering::Relaxed);
}

static INVARIANT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether CPUID reports an invariant TSC (constant rate in every power
/// state). QEMU's default CPU model does not report it, though its TSC is
/// one shared counter.
pub fn tsc_invariant() -> bool {
    INVARIANT.load(Ordering::Relaxed)
}

/// The calibrated TSC rate in Hz (0 if calibration failed).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts a duration to TSC cycles (saturating; 1 GHz assumed before
/// calibration, so early deadlines are not zero).
pub fn duration_to_cycles(d: Duration) -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    let hz = if hz == 0 { 1_000_000_000 } else { hz };
    u64::try_from(d.as_nanos() * u128::from(hz) / 1_000_000_000).unwrap_or(u64::MAX)
}

/// A moment on the machine's clock (the TSC): monotonic, and comparable
/// between CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// Now.
    pub fn now() -> Self {
        Self(cpu::rdtsc())
    }

    /// The instant at TSC value `tsc`.
    pub const fn from_tsc(tsc: u64) -> Self {
        Self(tsc)
    }

    /// This instant's TSC value.
    pub const fn tsc(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        cycles_to_duration(self.0.saturating_sub(earlier.0))
    }

    /// Time since this instant.
    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_to_cycles(d)))
    }
}

impl Sub for Instant {
    type Output = Duration;

    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
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
