//! A program's write waits for its writer's next call on the connection
//! before it is sent, for at most [`CORK`]: a server that writes its reply
//! and closes has the reply and its FIN leave in one segment, as they do
//! from Linux, where the close comes microseconds after the write. Here
//! the close is a second message that reaches the stack after it sent the
//! reply; a client that has the whole reply then closes first, and keeps
//! its port in TIME-WAIT for a minute (BENCHMARKS.md: nearly every
//! connection, against a quarter to a half with Linux).
//!
//! The bytes of a program's `TrySend` that fit are answered as taken at
//! once and held beside the connection (counted against its room); the
//! next request naming the connection (another write, a read, a watch, an
//! option, a shutdown or close) or the deadline puts them into smoltcp
//! first. So a write followed by `close` sends data and FIN together, a
//! write followed by `read` sends at the read, and a write followed by
//! nothing is sent [`CORK`] later at most.

use alloc::vec::Vec;
use core::time::Duration;

use kernel::time;
use smoltcp::socket::tcp;

use super::Conn;
use super::service::send_some;

/// How long a write waits for its writer's next call at most.
pub(super) const CORK: Duration = Duration::from_micros(500);

/// Bytes a program wrote, not yet in smoltcp, and when they must go.
pub(super) struct Corked {
    bytes: Vec<u8>,
    until: time::Instant,
}

/// Bytes held now.
pub(super) fn held(c: &Conn) -> usize {
    c.corked.as_ref().map_or(0, |k| k.bytes.len())
}

/// Room left in the send buffer, held bytes counted.
pub(super) fn room(c: &Conn, s: &tcp::Socket) -> usize {
    (s.send_capacity() - s.send_queue()).saturating_sub(held(c))
}

/// Holds `bytes` (they fit: [`room`]).
pub(super) fn hold(c: &mut Conn, bytes: Vec<u8>) {
    debug_assert!(c.corked.is_none(), "released before the next is held");
    c.corked = Some(Corked { bytes, until: time::Instant::now() + CORK });
}

/// Puts the held bytes into smoltcp.
pub(super) fn release(c: &mut Conn, s: &mut tcp::Socket) {
    if let Some(k) = c.corked.take() {
        let sent = send_some(s, &k.bytes);
        debug_assert_eq!(sent, k.bytes.len(), "held bytes always fit");
    }
}

/// Releases held bytes whose time has come (each turn).
pub(super) fn release_due(c: &mut Conn, s: &mut tcp::Socket, now: time::Instant) {
    if c.corked.as_ref().is_some_and(|k| now >= k.until) {
        release(c, s);
    }
}

/// When held bytes must go, for the stack's next deadline.
pub(super) fn due(c: &Conn) -> Option<time::Instant> {
    c.corked.as_ref().map(|k| k.until)
}
