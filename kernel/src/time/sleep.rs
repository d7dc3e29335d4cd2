//! Futures over the per-CPU timers: [`sleep`], [`sleep_until`],
//! [`timeout`] and [`Interval`].
//!
//! A [`Sleep`] registers with the timer queue of the CPU that polls it (a
//! task's own CPU, since tasks do not migrate), so its waker fires there. It
//! completes only once the TSC has reached its deadline: a sleep never ends
//! early, whatever woke the task. Dropping it disarms the timer.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use futures_core::Stream;
use io::TimerKey;

use super::{Instant, timer};
use crate::arch::cpu_id::CpuId;
use crate::arch::percpu;

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, armed: None }
}

/// Waits for `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// The future [`sleep`] and [`sleep_until`] return.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    armed: Option<(CpuId, TimerKey)>,
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (re-arms on the next poll).
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
    }

    fn disarm(&mut self) {
        if let Some((cpu, key)) = self.armed.take() {
            timer::cancel(cpu, key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.disarm();
            return Poll::Ready(());
        }
        let here = percpu::current_id();
        match self.armed {
            Some((cpu, key)) if cpu == here && timer::update(cpu, key, cx.waker()) => {}
            _ => {
                // Not armed, fired early (woken by something else), or moved
                // to another CPU before this poll: arm on this CPU.
                self.disarm();
                self.armed = Some(timer::insert(self.deadline.tsc(), cx.waker()));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// The error of a [`timeout`] whose time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl core::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

/// Runs `future` for at most `duration`; on expiry the future is dropped
/// (cancelled) and `Err(Elapsed)` returned.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout { future, sleep: sleep(duration) }
}

/// The future [`timeout`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // `self` (no method hands it out by value, `Timeout` has no
        // `Unpin` impl of its own beyond the auto one, which requires
        // `F: Unpin`), and it is dropped in place with `self`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.future` stays where it is.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(out) = future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        Pin::new(&mut this.sleep).poll(cx).map(|()| Err(Elapsed))
    }
}

/// Ticks every `period`, starting one period from now.
pub fn interval(period: Duration) -> Interval {
    let period = period.max(Duration::from_micros(1));
    Interval { period, sleep: sleep(period), missed: 0 }
}

/// A periodic timer (also a `Stream` of tick instants). A tick that comes
/// due while the task is busy is delivered late, once; ticks missed entirely
/// are skipped and counted ([`Interval::missed`]), never delivered in a burst.
pub struct Interval {
    period: Duration,
    sleep: Sleep,
    missed: u64,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        core::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let due = self.sleep.deadline();
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        let mut next = due + self.period;
        while next <= now {
            next = next + self.period;
            self.missed += 1;
        }
        self.sleep.reset(next);
        Poll::Ready(due)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Ticks skipped because the task was too late for them.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
