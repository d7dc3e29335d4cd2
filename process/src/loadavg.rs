//! The load averages `uptime`, `top` and `/proc/loadavg` show.
//!
//! A task samples the number of runnable user threads every five seconds
//! and moves the three averages toward it (`linux::loadavg`, Linux's own
//! arithmetic). Programs read the published averages from three atomics:
//! one writer, any reader, no lock.
//!
//! Tickless: the task runs only while processes exist, or while the
//! averages have not yet decayed to zero after the last one ended; the
//! first process started after that starts it again. A sample the task
//! slept through (a late timer) is folded in with the count it then
//! finds, as Linux folds the samples a tickless CPU missed.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use linux::loadavg::{LoadAverage, SAMPLE_SECONDS};

/// The averages in fixed point, as last published.
static PUBLISHED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// The sampling task is running (or about to).
static SAMPLING: AtomicBool = AtomicBool::new(false);

/// The averages now.
pub fn current() -> LoadAverage {
    LoadAverage(PUBLISHED.each_ref().map(|a| a.load(Ordering::Relaxed)))
}

/// A process started: sampling goes on, or starts again.
pub fn process_started() {
    if !SAMPLING.swap(true, Ordering::AcqRel) {
        drop(kernel::exec::spawn_named("loadavg", sample(current())));
    }
}

async fn sample(mut average: LoadAverage) {
    let period = Duration::from_secs(SAMPLE_SECONDS);
    let mut next = kernel::time::Instant::now() + period;
    loop {
        kernel::time::sleep_until(next).await;
        let late = kernel::time::Instant::now().saturating_duration_since(next);
        let samples = 1 + late.as_secs() / SAMPLE_SECONDS;
        next = next + period * samples as u32;
        let processes = crate::process::list();
        let runnable = processes.iter().filter(|p| p.runnable()).count() as u64;
        average.samples(runnable, samples);
        for (published, value) in PUBLISHED.iter().zip(average.0) {
            published.store(value, Ordering::Relaxed);
        }
        if processes.is_empty() && average == LoadAverage::default() {
            SAMPLING.store(false, Ordering::Release);
            // A process that started before the store saw the task still
            // running and did not start another: look once more.
            if crate::process::Process::count() == 0 || SAMPLING.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}
