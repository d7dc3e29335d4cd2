//! Load averages as Linux keeps them (`kernel/sched/loadavg.c`): every
//! five seconds, each of the three averages moves toward the number of
//! runnable (and uninterruptible) tasks by a fixed-point exponential
//! decay, for 1, 5 and 15 minutes. `/proc/loadavg` prints them with two
//! decimals; `sysinfo` gives them scaled by 2^16.

/// Bits of fraction in the fixed-point averages.
pub const FSHIFT: u32 = 11;
/// 1.0 in fixed point.
pub const FIXED_1: u64 = 1 << FSHIFT;
/// Seconds between samples (Linux's `LOAD_FREQ`, 5 HZ + 1 ticks: 5 s).
pub const SAMPLE_SECONDS: u64 = 5;
/// exp(-5 s / 1 min), exp(-5 s / 5 min), exp(-5 s / 15 min) in fixed point.
pub const EXP: [u64; 3] = [1884, 2014, 2037];

/// The three averages (1, 5, 15 minutes) in fixed point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadAverage(pub [u64; 3]);

impl LoadAverage {
    /// One sample: `active` tasks were runnable.
    pub fn sample(&mut self, active: u64) {
        self.samples(active, 1);
    }

    /// `n` samples in a row with the same `active` count (Linux folds the
    /// samples a tickless CPU slept through this way).
    pub fn samples(&mut self, active: u64, n: u64) {
        let active = active.saturating_mul(FIXED_1);
        for (load, exp) in self.0.iter_mut().zip(EXP) {
            for _ in 0..n.min(1000) {
                let next = *load * exp + active * (FIXED_1 - exp);
                // Round up while rising, so a steady load reaches its value.
                let round = if active >= *load { FIXED_1 - 1 } else { 0 };
                *load = (next + round) / FIXED_1;
            }
        }
    }

    /// `/proc/loadavg`'s first three fields: "0.52 0.13 0.04".
    pub fn text(&self) -> [(u64, u64); 3] {
        self.0.map(|x| {
            // Linux adds FIXED_1/200 to round to two decimals.
            let x = x + FIXED_1 / 200;
            (x >> FSHIFT, ((x & (FIXED_1 - 1)) * 100) >> FSHIFT)
        })
    }

    /// `struct sysinfo`'s `loads`: scaled by 2^16 (SI_LOAD_SHIFT).
    pub fn sysinfo_loads(&self) -> [u64; 3] {
        self.0.map(|x| x << (16 - FSHIFT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_f64(x: u64) -> f64 {
        x as f64 / FIXED_1 as f64
    }

    #[test]
    fn one_busy_task_for_a_minute_is_about_0_63() {
        let mut l = LoadAverage::default();
        l.samples(1, 12);
        // 1 - e^-1 = 0.632 for the one-minute average; e^-(1/5) for five.
        assert!((as_f64(l.0[0]) - 0.632).abs() < 0.01, "{:?}", l);
        assert!((as_f64(l.0[1]) - (1.0 - (-0.2f64).exp())).abs() < 0.01, "{:?}", l);
        assert!((as_f64(l.0[2]) - (1.0 - (-1.0f64 / 15.0).exp())).abs() < 0.01, "{:?}", l);
    }

    #[test]
    fn a_steady_load_is_reached_and_decays_back() {
        let mut l = LoadAverage::default();
        l.samples(3, 2000);
        assert_eq!(l.text(), [(3, 0); 3]);
        l.samples(0, 12 * 15);
        assert!(l.0[0] < FIXED_1 / 100, "{:?}", l);
        l.sample(0);
        let before = l;
        l.samples(0, 0);
        assert_eq!(l, before);
    }

    #[test]
    fn text_rounds_to_two_decimals_and_sysinfo_scales_to_16_bits() {
        let l = LoadAverage([FIXED_1 / 2, FIXED_1 * 2 + FIXED_1 / 4, 0]);
        assert_eq!(l.text(), [(0, 50), (2, 25), (0, 0)]);
        assert_eq!(l.sysinfo_loads(), [1 << 15, (2 << 16) + (1 << 14), 0]);
    }

    #[test]
    fn stepwise_equals_folded() {
        let (mut a, mut b) = (LoadAverage::default(), LoadAverage::default());
        for _ in 0..7 {
            a.sample(2);
        }
        b.samples(2, 7);
        assert_eq!(a, b);
    }
}
