//! Programs' socket calls on the stack's side (`net/program.rs` sends
//! them): each is answered at once, `WouldBlock` where a kernel task's call
//! would be kept, and every socket's readiness is published after each
//! turn of the loop (`watch.rs`), which is what a program waits on.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::task::Waker;

use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

use super::service::{ends, recv_now};
use super::{
    Answer, CONNECT_TIMEOUT, Conn, MAX_TCP, Opened, Reply, Stack, TcpOption, UDP_BUFFER, Udp, Watched, cork, keep_alive, slot, tcp_socket,
};
use crate::net::NetError;
use crate::net::ready::{CONNECTED, ERROR, HUNG_UP, PEER_CLOSED, READABLE, Sides, WRITABLE};
use kernel::time;

impl Stack {
    /// Starts a connection to `addr:port` from `local` (a port the caller
    /// reserved) or a free one: its id, while the handshake goes on.
    pub(super) fn open(&mut self, addr: Ipv4Address, port: u16, local: Option<u16>) -> Result<usize, NetError> {
        if !self.configured {
            return Err(NetError::NoRoute);
        }
        if self.tcp_count() >= MAX_TCP {
            return Err(NetError::Limit);
        }
        let local = match local {
            Some(p) => {
                self.reserved.retain(|&r| r != p);
                p
            }
            None => self.ephemeral_port(),
        };
        let mut s = tcp_socket();
        s.connect(self.iface.context(), (IpAddress::Ipv4(addr), port), local).map_err(|_| NetError::NoRoute)?;
        let handle = self.sockets.add(s);
        Ok(slot(&mut self.conns, Conn::new(handle, Some((None, time::Instant::now() + CONNECT_TIMEOUT)))))
    }

    /// Connection `id` as its handle knows it.
    pub(super) fn opened(&self, id: usize) -> Opened {
        let c = self.conns[id].as_ref().expect("a connection just made");
        let (local, peer) = ends(self.sockets.get::<tcp::Socket>(c.handle));
        Opened::new(id, peer, local, Arc::clone(&c.watch.ready))
    }

    /// Up to `max` received bytes (none: the end), or `WouldBlock`.
    pub(super) fn try_recv(&mut self, id: usize, max: usize) -> Reply {
        let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut) else { return Err(NetError::Closed) };
        if c.connect.is_some() {
            return Err(NetError::WouldBlock);
        }
        if !c.unread.is_empty() {
            let n = max.max(1).min(c.unread.len());
            let rest = c.unread.split_off(n);
            c.watch.took(n);
            let data = core::mem::replace(&mut c.unread, rest);
            publish_conn(c, self.sockets.get::<tcp::Socket>(c.handle));
            return Ok(Answer::Data(data));
        }
        let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
        let r = recv_now(s, max, c.error, c.peer_closed).unwrap_or(Err(NetError::WouldBlock));
        if let Ok(Answer::Data(d)) = &r {
            c.watch.took(d.len());
            publish_conn(c, s);
        }
        r
    }

    /// Up to `max` received bytes left to be read again (none: the end),
    /// or `WouldBlock`.
    pub(super) fn try_peek(&mut self, id: usize, max: usize) -> Reply {
        let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut) else { return Err(NetError::Closed) };
        if c.connect.is_some() {
            return Err(NetError::WouldBlock);
        }
        if !c.unread.is_empty() {
            return Ok(Answer::Data(c.unread[..max.max(1).min(c.unread.len())].to_vec()));
        }
        let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
        if s.can_recv() {
            let mut data = alloc::vec![0u8; max.max(1).min(s.recv_queue())];
            let n = s.peek_slice(&mut data).unwrap_or(0);
            data.truncate(n);
            return Ok(Answer::Data(data));
        }
        recv_now(s, max, c.error, c.peer_closed).unwrap_or(Err(NetError::WouldBlock))
    }

    /// Keeps bytes a read took whose caller had gone, for the next read.
    pub(super) fn unread(&mut self, id: usize, mut lost: Vec<u8>) {
        if let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut) {
            lost.append(&mut c.unread);
            c.unread = lost;
        }
    }

    /// Puts what fits of `data` into the send buffer: how much, or
    /// `WouldBlock` if nothing did; `Closed` once this side may not send.
    /// The bytes are held until the writer's next call (`cork.rs`).
    pub(super) fn try_send(&mut self, id: usize, mut data: Vec<u8>) -> Reply {
        let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut) else { return Err(NetError::Closed) };
        if c.connect.is_some() {
            return Err(NetError::WouldBlock);
        }
        if let Some(e) = c.error {
            return Err(e);
        }
        let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
        if !s.may_send() {
            return Err(NetError::Closed);
        }
        cork::release(c, s);
        let n = data.len().min(cork::room(c, s));
        if n == 0 && !data.is_empty() {
            return Err(NetError::WouldBlock);
        }
        data.truncate(n);
        if n > 0 {
            cork::hold(c, data);
        }
        c.watch.gave(n);
        publish_conn(c, s);
        Ok(Answer::Sent(n))
    }

    /// Puts connection `id`'s held write into smoltcp (a call naming the
    /// connection came: `cork.rs`).
    pub(super) fn release_cork(&mut self, id: usize) {
        if let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut)
            && c.corked.is_some()
        {
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            cork::release(c, s);
            keep_alive::settle(c, s, time::Instant::now());
        }
    }

    /// Holds TCP port `port` (0: a free one) for a listen or connect.
    pub(super) fn reserve(&mut self, port: u16) -> Reply {
        let port = match port {
            0 => self.ephemeral_port(),
            p if self.port_taken(p) => return Err(NetError::InUse),
            p => p,
        };
        self.reserved.push(port);
        Ok(Answer::Port(port))
    }

    /// Keeps `waker` until a generation of socket `what`'s `sides` moves
    /// past `seen`; a socket gone wakes it at once.
    pub(super) fn watch(&mut self, what: Watched, seen: u32, sides: Sides, waker: Waker) {
        let watch = match what {
            Watched::Listener(id) => self.listeners.get_mut(id).and_then(Option::as_mut).map(|l| &mut l.watch),
            Watched::Conn(id) => self.conns.get_mut(id).and_then(Option::as_mut).map(|c| &mut c.watch),
            Watched::Udp(id) => self.udps.get_mut(id).and_then(Option::as_mut).map(|u| &mut u.watch),
        };
        match watch {
            Some(w) => w.add(seen, sides, waker),
            None => waker.wake(),
        }
    }

    /// The next datagram (cut to `max` bytes) and its sender (left to be
    /// read again with `peek`), or `WouldBlock`.
    pub(super) fn try_udp_recv(&mut self, id: usize, max: usize, peek: bool) -> Reply {
        let Some(u) = self.udps.get_mut(id).and_then(Option::as_mut) else { return Err(NetError::Closed) };
        let s = self.sockets.get_mut::<udp::Socket>(u.handle);
        if peek {
            return match s.peek() {
                Ok((data, meta)) => {
                    let IpEndpoint { addr: IpAddress::Ipv4(from), port } = meta.endpoint;
                    Ok(Answer::Datagram(data[..data.len().min(max)].to_vec(), from, port))
                }
                Err(_) => Err(NetError::WouldBlock),
            };
        }
        match s.recv() {
            Ok((data, meta)) => {
                let IpEndpoint { addr: IpAddress::Ipv4(from), port } = meta.endpoint;
                u.watch.took(data.len());
                let answer = Answer::Datagram(data[..data.len().min(max)].to_vec(), from, port);
                publish_udp(u, s);
                Ok(answer)
            }
            Err(_) => Err(NetError::WouldBlock),
        }
    }

    /// Sends one datagram to `addr:port`, or `WouldBlock` while the send
    /// buffer has no room for it.
    pub(super) fn try_udp_send(&mut self, id: usize, data: &[u8], addr: Ipv4Address, port: u16) -> Reply {
        let Some(u) = self.udps.get_mut(id).and_then(Option::as_mut) else { return Err(NetError::Closed) };
        if data.len() > UDP_BUFFER {
            return Err(NetError::TooLarge);
        }
        if !self.configured {
            return Err(NetError::NoRoute);
        }
        let s = self.sockets.get_mut::<udp::Socket>(u.handle);
        match s.send_slice(data, IpEndpoint::new(IpAddress::Ipv4(addr), port)) {
            Ok(()) => {
                u.watch.gave(data.len());
                publish_udp(u, s);
                Ok(Answer::Sent(data.len()))
            }
            Err(udp::SendError::BufferFull) => Err(NetError::WouldBlock),
            Err(_) => Err(NetError::NoRoute),
        }
    }

    /// Sets a connection's option.
    pub(super) fn set(&mut self, id: usize, option: TcpOption) -> Reply {
        let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut) else { return Err(NetError::Closed) };
        let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
        match option {
            TcpOption::NoDelay(on) => s.set_nagle_enabled(!on),
            TcpOption::KeepAlive(every) => keep_alive::set(c, s, every),
        }
        Ok(Answer::Done)
    }

    /// Publishes every socket's readiness, waking whoever waits for a
    /// change (after each turn of the loop).
    pub(super) fn notify(&mut self) {
        for l in self.listeners.iter_mut().flatten() {
            let waiting = l.waiting();
            let bits = if waiting == 0 { 0 } else { READABLE };
            l.watch.update(bits, None, waiting, 0);
        }
        for c in self.conns.iter_mut().flatten().filter(|c| !c.released) {
            publish_conn(c, self.sockets.get::<tcp::Socket>(c.handle));
        }
        for u in self.udps.iter_mut().flatten() {
            publish_udp(u, self.sockets.get_mut::<udp::Socket>(u.handle));
        }
    }
}

/// Publishes a connection's readiness ([`Stack::notify`]; also at once
/// after a read or write changed it, before the answer goes: the caller's
/// next look, `FIONREAD` or `poll`, must not see what was before).
fn publish_conn(c: &mut Conn, s: &tcp::Socket) {
    let mut bits = 0;
    if c.connect.is_none() {
        if !matches!(c.error, Some(NetError::Refused | NetError::TimedOut)) {
            bits |= CONNECTED;
        }
        let closed = s.state() == tcp::State::Closed;
        if s.can_recv() || !s.may_recv() || !c.unread.is_empty() {
            bits |= READABLE;
        }
        if s.can_send() || !s.may_send() {
            bits |= WRITABLE;
        }
        if c.peer_closed || closed {
            bits |= PEER_CLOSED;
        }
        if closed || (c.closed_here && c.peer_closed) {
            bits |= HUNG_UP;
        }
        if c.error.is_some() {
            bits |= ERROR | READABLE | WRITABLE;
        }
    }
    let room = cork::room(c, s);
    c.watch.update(bits, c.error, s.recv_queue() + c.unread.len(), room);
}

/// Publishes a datagram socket's readiness (as [`publish_conn`]).
fn publish_udp(u: &mut Udp, s: &mut udp::Socket) {
    let next = s.peek().map_or(0, |(d, _)| d.len());
    let bits = if s.can_recv() { READABLE } else { 0 } | if s.can_send() { WRITABLE } else { 0 };
    let room = s.payload_send_capacity() - s.send_queue();
    u.watch.update(bits, None, next, room);
}
