//! The gate between the device and smoltcp: a connection request (a SYN)
//! to a port whose listener has no listening socket free is dropped, not
//! refused.
//!
//! smoltcp answers a SYN that no socket takes with a reset: a client sees
//! "connection refused", or, behind QEMU's forward, a reset of the
//! connection the host had already accepted for it. Linux instead drops a
//! SYN its listener has no room for, and the client sends it again (after
//! 1 s, then 3 s, ...) and is served once `accept` has made room. So
//! before each poll the stack counts, per listened port, the sockets in
//! LISTEN, and the gate lets that many requests through; the rest are
//! dropped and counted (`Status::listen_overflows`, Linux's
//! ListenOverflows). A request to a port nobody listens on still gets its
//! reset.

use protocols::frame::tcp_syn_port;
use smoltcp::phy::{Device, DeviceCapabilities};
use smoltcp::time::Instant;

use crate::virtio::net::{NetDevice, Rx, Tx};

/// The device, with what each listened port can still take.
pub(super) struct Gate<'a> {
    dev: &'a mut NetDevice,
    /// (port, requests it can still take).
    room: &'a mut [(u16, usize)],
    dropped: u64,
}

impl<'a> Gate<'a> {
    pub(super) fn new(dev: &'a mut NetDevice, room: &'a mut [(u16, usize)]) -> Self {
        Self { dev, room, dropped: 0 }
    }

    /// Requests dropped so far.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Device for Gate<'_> {
    type RxToken<'b>
        = Rx
    where
        Self: 'b;
    type TxToken<'b>
        = Tx<'b>
    where
        Self: 'b;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let (room, dropped) = (&mut *self.room, &mut self.dropped);
        self.dev.receive_unless(|frame| {
            let Some(port) = tcp_syn_port(frame) else { return false };
            match room.iter_mut().find(|(p, _)| *p == port) {
                Some((_, 0)) => {
                    *dropped += 1;
                    true
                }
                Some((_, left)) => {
                    *left -= 1;
                    false
                }
                None => false,
            }
        })
    }

    fn transmit(&mut self, t: Instant) -> Option<Tx<'_>> {
        self.dev.transmit(t)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.dev.capabilities()
    }
}
