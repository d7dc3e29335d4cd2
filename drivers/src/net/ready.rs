//! A socket's readiness as the stack publishes it, for programs' `poll`,
//! `epoll` and blocking calls on any CPU.
//!
//! Protocol: one word per socket, written only by the stack's task (one
//! CPU) and read by anyone: the readiness bits, the pending error, the
//! bytes waiting, and two generations, one per side. The stack bumps the
//! read side's when something arrives for a reader (bytes, a connection to
//! accept, the end, an error) and the write side's when something frees a
//! writer (room, the handshake's end, an error); what only takes away
//! (bytes read) changes the word without a bump. A waiter reads the word,
//! tries its call (a message to the stack), and if it must wait sends the
//! generations it read and the sides it waits on together with its waker
//! (`Listening::watch`, `Connection::watch`): the stack wakes it at once
//! if such a generation moved since, else at its next bump. The stack is
//! the only place wakers are kept and woken, so a change between the read
//! and the watch is never lost, and no lock is shared across CPUs; an
//! edge-triggered epoll interest is woken by arrivals on its side only,
//! as Linux's.

use core::sync::atomic::{AtomicU64, Ordering};

use super::NetError;

/// Data (or a connection to accept) waits, or a read would not wait (the
/// end, an error).
pub const READABLE: u8 = 1;
/// A write would not wait (room, or an error it would answer).
pub const WRITABLE: u8 = 2;
/// Neither direction is left (closed both ways, reset, refused).
pub const HUNG_UP: u8 = 4;
/// The peer closed its half: reads return the end.
pub const PEER_CLOSED: u8 = 8;
/// An error is pending ([`Readiness::error`]).
pub const ERROR: u8 = 16;
/// The handshake of a connection it started is over, and made it.
pub const CONNECTED: u8 = 32;

/// Which sides a waiter waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sides {
    pub read: bool,
    pub write: bool,
}

impl Sides {
    pub const READ: Sides = Sides { read: true, write: false };
    pub const WRITE: Sides = Sides { read: false, write: true };
    pub const BOTH: Sides = Sides { read: true, write: true };
}

/// The published word (the module doc).
#[derive(Debug, Default)]
pub struct Ready(AtomicU64);

/// One reading of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// The bits above.
    pub bits: u8,
    /// The pending error, if any.
    pub error: Option<NetError>,
    /// Bytes waiting to be read (at most 65,535 counted).
    pub queued: u16,
    /// The generations, the read side's in the low half.
    pub generation: u32,
}

impl Readiness {
    /// Whether `bit` is set.
    pub fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    /// Whether one of `sides`' generations differs from `seen`'s.
    pub fn moved_since(&self, seen: u32, sides: Sides) -> bool {
        let diff = self.generation ^ seen;
        (sides.read && diff & 0xffff != 0) || (sides.write && diff >> 16 != 0)
    }
}

/// The errors a word can hold, by code (0 is none).
const ERRORS: [NetError; 10] = {
    use NetError::*;
    [NoNetwork, Refused, Reset, TimedOut, Closed, InUse, Limit, NoRoute, TooLarge, WouldBlock]
};

fn error_code(e: Option<NetError>) -> u64 {
    e.and_then(|e| ERRORS.iter().position(|&x| x == e)).map_or(0, |i| i as u64 + 1)
}

fn error_of(code: u64) -> Option<NetError> {
    ERRORS.get((code as usize).checked_sub(1)?).copied()
}

impl Ready {
    /// What it says now.
    pub fn get(&self) -> Readiness {
        let w = self.0.load(Ordering::Acquire);
        Readiness { bits: w as u8, error: error_of((w >> 8) & 0xff), queued: (w >> 16) as u16, generation: (w >> 32) as u32 }
    }

    /// Publishes `bits`, `error` and `queued`, bumping the generations of
    /// `bump`'s sides (the stack's task only).
    pub(crate) fn publish(&self, bits: u8, error: Option<NetError>, queued: usize, bump: Sides) {
        let old = (self.0.load(Ordering::Relaxed) >> 32) as u32;
        let read = (old as u16).wrapping_add(u16::from(bump.read));
        let write = ((old >> 16) as u16).wrapping_add(u16::from(bump.write));
        let generation = u64::from(write) << 16 | u64::from(read);
        let queued = queued.min(0xffff) as u64;
        self.0.store(generation << 32 | queued << 16 | error_code(error) << 8 | u64::from(bits), Ordering::Release);
    }
}
