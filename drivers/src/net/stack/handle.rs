//! The stack's answers to requests: at once, or kept beside the socket
//! they wait on (`service.rs` answers those).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Address};

use alloc::sync::Arc;

use super::{
    Answer, Handoff, Listener, MAX_BACKLOG, MAX_UDP, PING_IDENT, Ping, Request, SYN_QUEUE, Stack, UDP_BUFFER, UDP_PACKETS, Udp, Waiting,
    Watch, slot,
};
use crate::net::NetError;
use kernel::time;

impl Stack {
    pub(super) fn handle(&mut self, req: Request, answer: Waiting) {
        self.listeners_due |= matches!(req, Request::Listen(..) | Request::Accept(_) | Request::Unlisten(_));
        // The writer's next call sends what its last write left held
        // (`cork.rs`; a write does so itself).
        if let Request::Recv(id, _)
        | Request::TryRecv(id, ..)
        | Request::Send(id, _)
        | Request::Shutdown(id)
        | Request::Close(id)
        | Request::Set(id, _)
        | Request::Watch(super::Watched::Conn(id), ..) = req
        {
            self.release_cork(id);
        }
        match req {
            Request::Listen(port, backlog, reserved) => {
                if reserved {
                    self.reserved.retain(|&p| p != port);
                }
                if self.port_taken(port) {
                    answer.reply(Err(NetError::InUse));
                    return;
                }
                // A queue of handshakes of at least `SYN_QUEUE` whatever
                // the backlog (as Linux's SYN queue): a burst of
                // connections is taken, and the backlog bounds those
                // waiting for `accept`.
                let backlog = backlog.clamp(1, MAX_BACKLOG);
                let mut listening = Vec::new();
                for _ in 0..SYN_QUEUE {
                    match self.listening_socket(port) {
                        Some(h) => listening.push(h),
                        None => break,
                    }
                }
                if listening.is_empty() {
                    answer.reply(Err(NetError::Limit));
                    return;
                }
                let watch = Watch::new();
                let ready = Arc::clone(&watch.ready);
                let handoff = reserved.then(|| Arc::new(Handoff::new()));
                let l = Listener {
                    port,
                    backlog,
                    listening,
                    ready: VecDeque::new(),
                    accepts: VecDeque::new(),
                    watch,
                    handoff: handoff.clone(),
                };
                let id = slot(&mut self.listeners, l);
                answer.reply(Ok(Answer::Listener(id, ready, handoff)));
            }
            Request::Accept(id) => match self.listeners.get_mut(id).and_then(Option::as_mut) {
                Some(l) => l.accepts.push_back(answer),
                None => {
                    answer.reply(Err(NetError::Closed));
                }
            },
            Request::Unlisten(id) => {
                if let Some(mut l) = self.listeners.get_mut(id).and_then(Option::take) {
                    l.watch.gone();
                    for h in l.listening.into_iter().chain(l.ready) {
                        self.sockets.remove(h);
                    }
                    for a in l.accepts {
                        a.reply(Err(NetError::Closed));
                    }
                    // Connections nobody accepted: each closes as it drops.
                    while let Some(c) = l.handoff.as_ref().and_then(|q| q.take()) {
                        drop(c);
                    }
                }
                answer.reply(Ok(Answer::Done));
            }
            Request::Connect(addr, port) => match self.open(addr, port, None) {
                // Answered when the handshake ends (`service.rs`).
                Ok(id) => {
                    if let Some((waiter, _)) = self.conns[id].as_mut().and_then(|c| c.connect.as_mut()) {
                        *waiter = Some(answer);
                    }
                }
                Err(e) => {
                    answer.reply(Err(e));
                }
            },
            Request::Open(addr, port, local) => {
                let r = self.open(addr, port, local).map(|id| Answer::Conn(self.opened(id)));
                answer.reply(r);
            }
            Request::Recv(id, max) => match self.conns.get_mut(id).and_then(Option::as_mut) {
                Some(c) => c.recv = Some((max.max(1), answer)),
                None => {
                    answer.reply(Err(NetError::Closed));
                }
            },
            Request::Send(id, data) => match self.conns.get_mut(id).and_then(Option::as_mut) {
                Some(c) => c.send = Some((data, 0, answer)),
                None => {
                    answer.reply(Err(NetError::Closed));
                }
            },
            Request::Shutdown(id) | Request::Close(id) => {
                let release = matches!(req, Request::Close(_));
                if let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut) {
                    let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
                    s.close();
                    if release {
                        // Nothing the user sends can carry an ack now; the
                        // ack of the peer's FIN must go before the socket
                        // is reaped (`service_conns`).
                        s.set_ack_delay(None);
                    }
                    c.closed_here = true;
                    c.released |= release;
                    if let Some((_, a)) = c.recv.take().filter(|_| release) {
                        a.reply(Err(NetError::Closed));
                    }
                }
                answer.reply(Ok(Answer::Done));
            }
            Request::TryRecv(id, max, peek) => {
                let r = if peek { self.try_peek(id, max) } else { self.try_recv(id, max) };
                if let Err(Ok(Answer::Data(lost))) = answer.try_reply(r) {
                    self.unread(id, lost);
                }
            }
            Request::TrySend(id, data) => {
                let r = self.try_send(id, data);
                answer.reply(r);
            }
            Request::Reserve(port) => {
                let r = self.reserve(port);
                answer.reply(r);
            }
            Request::Unreserve(port) => {
                self.reserved.retain(|&p| p != port);
                answer.reply(Ok(Answer::Done));
            }
            Request::Watch(what, seen, sides, waker) => {
                self.watch(what, seen, sides, waker);
                answer.reply(Ok(Answer::Done));
            }
            Request::Set(id, option) => {
                let r = self.set(id, option);
                answer.reply(r);
            }
            Request::UdpBind(port) => {
                if self.udps.iter().flatten().count() >= MAX_UDP {
                    answer.reply(Err(NetError::Limit));
                    return;
                }
                let meta = || alloc::vec![udp::PacketMetadata::EMPTY; UDP_PACKETS];
                let mut s = udp::Socket::new(
                    udp::PacketBuffer::new(meta(), alloc::vec![0u8; UDP_BUFFER]),
                    udp::PacketBuffer::new(meta(), alloc::vec![0u8; UDP_BUFFER]),
                );
                let port = if port == 0 { self.ephemeral_udp_port() } else { port };
                let taken = self.udps.iter().flatten().any(|u| self.sockets.get::<udp::Socket>(u.handle).endpoint().port == port);
                if taken || s.bind(port).is_err() {
                    answer.reply(Err(NetError::InUse));
                    return;
                }
                let handle = self.sockets.add(s);
                let watch = Watch::new();
                let ready = Arc::clone(&watch.ready);
                let id = slot(&mut self.udps, Udp { handle, recv: None, send: None, watch });
                answer.reply(Ok(Answer::Udp(id, port, ready)));
            }
            Request::UdpSend(id, data, addr, port) => match self.udps.get_mut(id).and_then(Option::as_mut) {
                Some(_) if data.len() > UDP_BUFFER => {
                    answer.reply(Err(NetError::TooLarge));
                }
                Some(u) => u.send = Some((data, IpEndpoint::new(IpAddress::Ipv4(addr), port), answer)),
                None => {
                    answer.reply(Err(NetError::Closed));
                }
            },
            Request::UdpRecv(id, max) => match self.udps.get_mut(id).and_then(Option::as_mut) {
                Some(u) => u.recv = Some((max.max(1), answer)),
                None => {
                    answer.reply(Err(NetError::Closed));
                }
            },
            Request::TryUdpRecv(id, max, peek) => {
                let r = self.try_udp_recv(id, max, peek);
                answer.reply(r);
            }
            Request::TryUdpSend(id, data, addr, port) => {
                let r = self.try_udp_send(id, &data, addr, port);
                answer.reply(r);
            }
            Request::UdpClose(id) => {
                if let Some(mut u) = self.udps.get_mut(id).and_then(Option::take) {
                    u.watch.gone();
                    self.sockets.remove(u.handle);
                    for a in u.recv.map(|r| r.1).into_iter().chain(u.send.map(|s| s.2)) {
                        a.reply(Err(NetError::Closed));
                    }
                }
                answer.reply(Ok(Answer::Done));
            }
            Request::Ping(addr, seq) => self.send_ping(addr, seq, answer),
        }
    }

    fn send_ping(&mut self, addr: Ipv4Address, seq: u16, answer: Waiting) {
        if !self.configured {
            answer.reply(Err(NetError::NoRoute));
            return;
        }
        let repr = Icmpv4Repr::EchoRequest { ident: PING_IDENT, seq_no: seq, data: b"odonata ping" };
        let caps = smoltcp::phy::ChecksumCapabilities::default();
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        match s.send(repr.buffer_len(), IpAddress::Ipv4(addr)) {
            Ok(buf) => {
                repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
                self.pings.push(Ping { seq, sent: time::Instant::now(), answer });
            }
            Err(_) => {
                answer.reply(Err(NetError::Limit));
            }
        }
    }
}
