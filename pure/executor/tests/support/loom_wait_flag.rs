//! A future for loom models: waits for a flag, publishing its waker in a
//! slot first (register, then look), so whoever sets the flag and then takes
//! the waker never misses it. Shared by `loom.rs` and `loom_ipiq.rs`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};

/// Waits for `flag`, publishing its waker in `slot`.
pub struct WaitFlag {
    pub slot: Arc<Mutex<Option<Waker>>>,
    pub flag: Arc<AtomicUsize>,
}

impl Future for WaitFlag {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        match self.flag.load(Ordering::SeqCst) {
            0 => Poll::Pending,
            n => Poll::Ready(n),
        }
    }
}
