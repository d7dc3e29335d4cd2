//! The stack's answers to requests: at once, or kept beside the socket
//! they wait on (`service.rs` answers those).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Address};

use super::{
    Answer, CONNECT_TIMEOUT, Conn, Listener, MAX_BACKLOG, MAX_TCP, MAX_UDP, PING_IDENT, Ping, Request, Stack, UDP_BUFFER, UDP_PACKETS, Udp,
    Waiting, slot, tcp_socket,
};
use crate::net::NetError;
use kernel::time;

impl Stack {
    pub(super) fn handle(&mut self, req: Request, answer: Waiting) {
        match req {
            Request::Listen(port, backlog) => {
                if self.listeners.iter().flatten().any(|l| l.port == port) {
                    answer.reply(Err(NetError::InUse));
                    return;
                }
                let mut listening = Vec::new();
                for _ in 0..backlog.clamp(1, MAX_BACKLOG) {
                    match self.listening_socket(port) {
                        Some(h) => listening.push(h),
                        None => break,
                    }
                }
                if listening.is_empty() {
                    answer.reply(Err(NetError::Limit));
                    return;
                }
                let backlog = listening.len();
                let id = slot(&mut self.listeners, Listener { port, backlog, listening, ready: VecDeque::new(), accepts: VecDeque::new() });
                answer.reply(Ok(Answer::Listener(id)));
            }
            Request::Accept(id) => match self.listeners.get_mut(id).and_then(Option::as_mut) {
                Some(l) => l.accepts.push_back(answer),
                None => {
                    answer.reply(Err(NetError::Closed));
                }
            },
            Request::Unlisten(id) => {
                if let Some(l) = self.listeners.get_mut(id).and_then(Option::take) {
                    for h in l.listening.into_iter().chain(l.ready) {
                        self.sockets.remove(h);
                    }
                    for a in l.accepts {
                        a.reply(Err(NetError::Closed));
                    }
                }
                answer.reply(Ok(Answer::Done));
            }
            Request::Connect(addr, port) => {
                if !self.configured {
                    answer.reply(Err(NetError::NoRoute));
                    return;
                }
                if self.tcp_count() >= MAX_TCP {
                    answer.reply(Err(NetError::Limit));
                    return;
                }
                let local = self.next_port;
                self.next_port = if self.next_port == u16::MAX { 49152 } else { self.next_port + 1 };
                let mut s = tcp_socket();
                if s.connect(self.iface.context(), (IpAddress::Ipv4(addr), port), local).is_err() {
                    answer.reply(Err(NetError::NoRoute));
                    return;
                }
                let handle = self.sockets.add(s);
                let conn = Conn::new(handle, Some((answer, time::Instant::now() + CONNECT_TIMEOUT)));
                slot(&mut self.conns, conn);
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
                    self.sockets.get_mut::<tcp::Socket>(c.handle).close();
                    c.closed_here = true;
                    c.released |= release;
                    if let Some((_, a)) = c.recv.take().filter(|_| release) {
                        a.reply(Err(NetError::Closed));
                    }
                }
                answer.reply(Ok(Answer::Done));
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
                if s.bind(port).is_err() {
                    answer.reply(Err(NetError::InUse));
                    return;
                }
                let handle = self.sockets.add(s);
                let id = slot(&mut self.udps, Udp { handle, recv: None, send: None });
                answer.reply(Ok(Answer::Udp(id)));
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
            Request::UdpClose(id) => {
                if let Some(u) = self.udps.get_mut(id).and_then(Option::take) {
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
