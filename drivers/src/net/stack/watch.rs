//! The stack's side of readiness (`net/ready.rs`): per socket, the word it
//! publishes and the wakers of those waiting on each side.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::task::Waker;

use crate::net::NetError;
use crate::net::ready::{CONNECTED, ERROR, HUNG_UP, PEER_CLOSED, READABLE, Ready, Sides, WRITABLE};

/// What was last published: the bits, the error, the bytes waiting and
/// the room to write.
type Shown = (u8, Option<NetError>, usize, usize);

/// One socket's readiness and waiters.
pub(super) struct Watch {
    pub ready: Arc<Ready>,
    readers: Vec<Waker>,
    writers: Vec<Waker>,
    shown: Option<Shown>,
    /// Bytes (or connections) taken by calls since it was published, and
    /// bytes put in to send: an arrival is `queued + taken` above what was
    /// shown, freed room `room + given` above it.
    taken: usize,
    given: usize,
    /// Something arrived for readers that the count may not show (a
    /// connection handed over while another was taken, `handoff.rs`).
    arrived: bool,
}

impl Watch {
    pub fn new() -> Self {
        Self {
            ready: Arc::new(Ready::default()),
            readers: Vec::new(),
            writers: Vec::new(),
            shown: None,
            taken: 0,
            given: 0,
            arrived: false,
        }
    }

    /// A call took `n` bytes (or connections) out.
    pub fn took(&mut self, n: usize) {
        self.taken += n;
    }

    /// Something arrived for readers: the next update moves the read side.
    pub fn arrived(&mut self) {
        self.arrived = true;
    }

    /// A call put `n` bytes in to send.
    pub fn gave(&mut self, n: usize) {
        self.given += n;
    }

    /// Publishes the socket's state; wakes the waiters of each side that
    /// gained something (module doc of `net/ready.rs`).
    pub fn update(&mut self, bits: u8, error: Option<NetError>, queued: usize, room: usize) {
        let now = (bits, error, queued, room);
        let (taken, given) = (core::mem::take(&mut self.taken), core::mem::take(&mut self.given));
        let arrived = core::mem::take(&mut self.arrived);
        if self.shown == Some(now) && taken == 0 && given == 0 && !arrived {
            return;
        }
        let bump = match self.shown {
            None => Sides::BOTH,
            Some((old_bits, old_error, old_queued, old_room)) => {
                let gained = bits & !old_bits;
                let failed = error.is_some() && error != old_error;
                Sides {
                    read: failed
                        || arrived
                        || gained & (READABLE | PEER_CLOSED | HUNG_UP | ERROR | CONNECTED) != 0
                        || queued + taken > old_queued,
                    write: failed || gained & (WRITABLE | HUNG_UP | ERROR | CONNECTED) != 0 || room + given > old_room,
                }
            }
        };
        self.shown = Some(now);
        self.ready.publish(bits, error, queued, bump);
        if bump.read {
            self.readers.drain(..).for_each(Waker::wake);
        }
        if bump.write {
            self.writers.drain(..).for_each(Waker::wake);
        }
    }

    /// Keeps `waker` until a generation of `sides` moves past `seen` (woken
    /// at once if one has).
    pub fn add(&mut self, seen: u32, sides: Sides, waker: Waker) {
        if self.ready.get().moved_since(seen, sides) {
            waker.wake();
            return;
        }
        for (wanted, list) in [(sides.read, &mut self.readers), (sides.write, &mut self.writers)] {
            if wanted && !list.iter().any(|w| w.will_wake(&waker)) {
                list.push(waker.clone());
            }
        }
    }

    /// The socket is gone from the stack: every call on it now fails.
    pub fn gone(&mut self) {
        self.update(READABLE | WRITABLE | HUNG_UP | ERROR, Some(NetError::Closed), 0, 0);
    }
}
