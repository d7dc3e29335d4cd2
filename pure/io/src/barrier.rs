//! An async barrier: `parties` tasks, on any CPUs, pass it together.
//!
//! The count, the generation and the waiters' wakers sit behind one spin
//! lock, which each `wait` takes twice at most: a barrier is a meeting
//! point, not a data path. A waiter checks the generation under the lock
//! the releaser holds while it bumps it and wakes everyone, so no wakeup is
//! lost.

use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::{Poll, Waker};

/// A barrier that `parties` tasks (on any CPUs) pass together.
pub struct Barrier {
    parties: usize,
    state: spin::Mutex<State>,
}

struct State {
    arrived: usize,
    generation: u64,
    waiters: Vec<Waker>,
}

impl Barrier {
    /// A barrier for `parties` tasks (at least one).
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "a barrier needs at least one party");
        let state = State { arrived: 0, generation: 0, waiters: Vec::with_capacity(parties) };
        Self { parties, state: spin::Mutex::new(state) }
    }

    /// Waits until `parties` tasks have called `wait`; the last one releases
    /// all. Returns `true` in exactly one of them (the last to arrive). The
    /// barrier can be used again at once.
    pub async fn wait(&self) -> bool {
        let generation = {
            let mut s = self.state.lock();
            s.arrived += 1;
            if s.arrived == self.parties {
                s.arrived = 0;
                s.generation += 1;
                for w in s.waiters.drain(..) {
                    w.wake();
                }
                return true;
            }
            s.generation
        };
        poll_fn(|cx| {
            let mut s = self.state.lock();
            // Checked under the lock the releaser holds: no lost wakeup.
            if s.generation != generation {
                return Poll::Ready(false);
            }
            if !s.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                s.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use core::pin::pin;
    use core::task::Context;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_last_of_three_releases_the_others_and_it_is_reusable() {
        let barrier = Barrier::new(3);
        let counts: Vec<_> = (0..3).map(|_| Arc::new(Count(AtomicUsize::new(0)))).collect();
        let wakers: Vec<_> = counts.iter().map(|c| Waker::from(Arc::clone(c))).collect();
        let mut cx: Vec<_> = wakers.iter().map(Context::from_waker).collect();
        for round in 0..2 {
            let mut a = pin!(barrier.wait());
            let mut b = pin!(barrier.wait());
            assert_eq!(a.as_mut().poll(&mut cx[0]), Poll::Pending, "round {round}");
            assert_eq!(b.as_mut().poll(&mut cx[1]), Poll::Pending);
            assert_eq!(a.as_mut().poll(&mut cx[0]), Poll::Pending, "a second poll registers no second waker");
            assert_eq!(pin!(barrier.wait()).poll(&mut cx[2]), Poll::Ready(true), "the last arrival leads");
            let woken: Vec<_> = counts.iter().map(|c| c.0.load(Ordering::SeqCst)).collect();
            assert_eq!(woken, [round + 1, round + 1, 0], "each waiter woken once, the leader not at all");
            assert_eq!(a.as_mut().poll(&mut cx[0]), Poll::Ready(false));
            assert_eq!(b.as_mut().poll(&mut cx[1]), Poll::Ready(false));
        }
    }
}
