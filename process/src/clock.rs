//! The wall clock programs see: the RTC's time at boot plus the time since.

use spin::Once;

static BOOT_EPOCH: Once<u64> = Once::new();

/// Seconds since the epoch when the machine booted (read from the RTC
/// once; 0 if it reads as nonsense).
pub fn boot_epoch_seconds() -> u64 {
    *BOOT_EPOCH.call_once(|| {
        let now = kernel::arch::rtc::read().unwrap_or(0);
        now.saturating_sub(kernel::time::uptime().as_secs())
    })
}

/// Seconds since the epoch now.
pub fn now_seconds() -> u64 {
    boot_epoch_seconds() + kernel::time::uptime().as_secs()
}
