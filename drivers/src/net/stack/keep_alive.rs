//! `SO_KEEPALIVE` as Linux keeps it: the first probe after the connection
//! has been idle for the interval, never at once.
//!
//! smoltcp's `set_keep_alive` on an idle connection winds its timer to
//! the epoch, so a probe (the last acknowledged byte again) goes out in
//! the same turn: a server that sets the option on every accepted
//! connection (BusyBox `httpd` does) would cost each request a probe and
//! the peer's answer. So the stack holds the wish on the connection and
//! gives it to smoltcp only when that cannot probe early: when data is
//! queued to send (the segment carrying it winds the timer to a full
//! interval), or once the interval has passed since the option was set
//! (a probe then is what Linux would send to an idle peer, and no sooner).

use core::time::Duration;

use kernel::time;
use smoltcp::socket::tcp;

use super::{Conn, smol};

/// A keep-alive interval set on a connection and not yet given to smoltcp.
pub(super) struct Pending {
    every: Duration,
    due: time::Instant,
}

/// Sets (or clears, `None`) the connection's keep-alive interval.
pub(super) fn set(c: &mut Conn, s: &mut tcp::Socket, every: Option<Duration>) {
    c.keep_alive = None;
    match every {
        None => s.set_keep_alive(None),
        // Already running: smoltcp's timer is wound, no early probe.
        Some(every) if s.keep_alive().is_some() => s.set_keep_alive(Some(smol(every))),
        Some(every) => c.keep_alive = Some(Pending { every, due: time::Instant::now() + every }),
    }
}

/// Gives a held interval to smoltcp if it is due, or if data waits to go
/// (after each send into the socket and each turn).
pub(super) fn settle(c: &mut Conn, s: &mut tcp::Socket, now: time::Instant) {
    if let Some(p) = c.keep_alive.as_ref()
        && (now >= p.due || s.send_queue() > 0)
    {
        s.set_keep_alive(Some(smol(p.every)));
        c.keep_alive = None;
    }
}

/// When a held interval falls due, for the stack's next deadline.
pub(super) fn due(c: &Conn) -> Option<time::Instant> {
    c.keep_alive.as_ref().map(|p| p.due)
}
