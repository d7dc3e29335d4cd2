//! Answering what waits: each turn of the stack's loop, every kept
//! request whose socket can now answer it is answered, and finished
//! sockets are reaped.

use alloc::vec::Vec;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Address};

use alloc::sync::Arc;

use super::{
    Answer, Conn, HALF_OPEN, Opened, PING_IDENT, PING_TIMEOUT, Ping, Reply, SYN_QUEUE, Stack, Waiting, Watch, cork, keep_alive, slot,
};
use crate::net::NetError;
use kernel::time;

impl Stack {
    /// Answers whatever can be answered now; reaps finished sockets.
    pub(super) fn service(&mut self) {
        if core::mem::take(&mut self.listeners_due) {
            self.service_listeners();
        }
        self.service_conns();
        self.service_udp();
        self.service_pings();
    }

    fn service_listeners(&mut self) {
        for id in 0..self.listeners.len() {
            let Some(mut l) = self.listeners[id].take() else { continue };
            let mut still = Vec::with_capacity(l.listening.len());
            for h in core::mem::take(&mut l.listening) {
                match self.sockets.get::<tcp::Socket>(h).state() {
                    tcp::State::Listen | tcp::State::SynReceived => still.push(h),
                    tcp::State::Closed => {
                        // Reset during the handshake: listen again.
                        let _ = self.sockets.get_mut::<tcp::Socket>(h).listen(l.port);
                        still.push(h);
                    }
                    _ => l.ready.push_back(h),
                }
            }
            l.listening = still;
            // `SYN_QUEUE` sockets wait for requests (those with a
            // handshake under way are not counted) while fewer than
            // `HALF_OPEN` handshakes are under way and fewer than the
            // backlog wait for `accept`: past those, new requests are
            // dropped (`gate.rs`) and sent again by their clients.
            let mut free = self.listen_free(&l);
            while free < SYN_QUEUE && l.listening.len() < HALF_OPEN && l.waiting() < l.backlog {
                self.listeners[id] = Some(l);
                let fresh = self.listening_socket(self.listeners[id].as_ref().map_or(0, |l| l.port));
                l = self.listeners[id].take().unwrap_or_else(|| unreachable!());
                match fresh {
                    Some(h) => {
                        l.listening.push(h);
                        free += 1;
                    }
                    None => break,
                }
            }
            if let Some(q) = l.handoff.clone() {
                while let Some(h) = l.ready.pop_front() {
                    let cid = slot(&mut self.conns, Conn::new(h, None));
                    if let Err(opened) = q.offer(self.opened(cid)) {
                        // Full (the backlog bounds it): taken next turn.
                        opened.disarm();
                        self.conns[cid] = None;
                        l.ready.push_front(h);
                        break;
                    }
                    l.watch.arrived();
                }
            }
            while !l.ready.is_empty() && !l.accepts.is_empty() {
                let (Some(h), Some(a)) = (l.ready.pop_front(), l.accepts.pop_front()) else { break };
                let cid = slot(&mut self.conns, Conn::new(h, None));
                if let Err(Ok(Answer::Conn(opened))) = a.try_reply(Ok(Answer::Conn(self.opened(cid)))) {
                    // The accepting task went away: the next accept takes it.
                    opened.disarm();
                    self.conns[cid] = None;
                    l.ready.push_front(h);
                }
            }
            self.listeners[id] = Some(l);
        }
    }

    fn service_conns(&mut self) {
        for id in 0..self.conns.len() {
            let Some(c) = self.conns[id].as_mut() else { continue };
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            let now = time::Instant::now();
            cork::release_due(c, s, now);
            keep_alive::settle(c, s, now);
            let state = s.state();
            if matches!(state, tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait) {
                c.peer_closed = true;
            }
            if let Some((_, deadline)) = c.connect.as_ref() {
                let timed_out = time::Instant::now() >= *deadline;
                let result = match state {
                    tcp::State::SynSent | tcp::State::SynReceived if !timed_out => None,
                    tcp::State::SynSent | tcp::State::SynReceived => Some(Err(NetError::TimedOut)),
                    tcp::State::Closed => Some(Err(NetError::Refused)),
                    _ => Some(Ok(())),
                };
                if let Some(r) = result {
                    let waiter = c.connect.take().and_then(|(w, _)| w);
                    if let Err(e) = r {
                        s.abort();
                        // A kernel caller gets the error and nothing to
                        // close; a program's socket keeps it for SO_ERROR.
                        c.error = Some(e);
                        c.released |= waiter.is_some();
                    }
                    if let Some(w) = waiter {
                        let (local, peer) = ends(s);
                        let ready = Arc::clone(&c.watch.ready);
                        // A caller gone drops the answer, which closes it.
                        w.reply(r.map(|()| Answer::Conn(Opened::new(id, peer, local, ready))));
                    }
                }
            }
            let reset = is_reset(c, state);
            if reset && c.error.is_none() && !c.peer_closed {
                c.error = Some(NetError::Reset);
            }
            if let Some((max, a)) = c.recv.take() {
                match recv_now(s, max, c.error, c.peer_closed) {
                    Some(r) => {
                        a.reply(r);
                    }
                    None => c.recv = Some((max, a)),
                }
            }
            if let Some((data, mut done, a)) = c.send.take() {
                done += send_some(s, &data[done..]);
                if done == data.len() {
                    a.reply(Ok(Answer::Sent(done)));
                } else if !s.may_send() {
                    a.reply(Err(if reset { NetError::Reset } else { NetError::Closed }));
                } else {
                    c.send = Some((data, done, a));
                }
            }
            // The user's handle is gone and smoltcp is done with it. In
            // TIME-WAIT it is kept for one more turn, whose sending acks
            // the peer's FIN (acks are not delayed once closed, see
            // `Request::Close`); the rest of TIME-WAIT (smoltcp's 10 s) is
            // not kept, lest a busy server's sockets run out.
            let done = match state {
                tcp::State::Closed => true,
                tcp::State::TimeWait => core::mem::replace(&mut c.lingered, true),
                _ => false,
            };
            if c.released && done {
                let h = c.handle;
                c.watch.gone();
                self.conns[id] = None;
                self.sockets.remove(h);
            }
        }
    }

    fn service_udp(&mut self) {
        for u in self.udps.iter_mut().flatten() {
            let s = self.sockets.get_mut::<udp::Socket>(u.handle);
            if let Some((max, a)) = u.recv.take() {
                match s.recv() {
                    Ok((data, meta)) => {
                        let (addr, port) = match meta.endpoint {
                            IpEndpoint { addr: IpAddress::Ipv4(a), port } => (a, port),
                            #[allow(unreachable_patterns, reason = "IPv6 is not compiled in")]
                            _ => (Ipv4Address::UNSPECIFIED, 0),
                        };
                        a.reply(Ok(Answer::Datagram(data[..data.len().min(max)].to_vec(), addr, port)));
                    }
                    Err(_) => u.recv = Some((max, a)),
                }
            }
            if let Some((data, to, a)) = u.send.take() {
                match s.send_slice(&data, to) {
                    Ok(()) => {
                        a.reply(Ok(Answer::Sent(data.len())));
                    }
                    Err(udp::SendError::BufferFull) => u.send = Some((data, to, a)),
                    Err(_) => {
                        a.reply(Err(NetError::NoRoute));
                    }
                }
            }
        }
    }

    fn service_pings(&mut self) {
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        while let Ok((data, _from)) = s.recv() {
            let Ok(packet) = Icmpv4Packet::new_checked(data) else { continue };
            let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) = Icmpv4Repr::parse(&packet, &Default::default()) else { continue };
            if ident != PING_IDENT {
                continue;
            }
            if let Some(i) = self.pings.iter().position(|p| p.seq == seq_no) {
                let p = self.pings.swap_remove(i);
                p.answer.reply(Ok(Answer::Pong(p.sent.elapsed())));
            }
        }
        let now = time::Instant::now();
        let (late, waiting): (Vec<Ping>, Vec<Ping>) =
            core::mem::take(&mut self.pings).into_iter().partition(|p| now >= p.sent + PING_TIMEOUT);
        self.pings = waiting;
        for p in late {
            p.answer.reply(Err(NetError::TimedOut));
        }
    }
}

impl Conn {
    pub(super) fn new(handle: SocketHandle, connect: Option<(Option<Waiting>, time::Instant)>) -> Self {
        Self {
            handle,
            connect,
            error: None,
            watch: Watch::new(),
            recv: None,
            send: None,
            unread: Vec::new(),
            peer_closed: false,
            closed_here: false,
            released: false,
            lingered: false,
            keep_alive: None,
            corked: None,
        }
    }
}

/// Reset: closed, without FINs both ways and not by this side.
pub(super) fn is_reset(c: &Conn, state: tcp::State) -> bool {
    state == tcp::State::Closed && !c.closed_here && c.connect.is_none()
}

/// What a read of up to `max` bytes answers now: data, the end (no
/// bytes), the connection's error; `None` if it must wait.
pub(super) fn recv_now(s: &mut tcp::Socket, max: usize, error: Option<NetError>, peer_closed: bool) -> Option<Reply> {
    if s.can_recv() {
        let mut data = alloc::vec![0u8; max.max(1).min(s.recv_queue())];
        let n = s.recv_slice(&mut data).unwrap_or(0);
        data.truncate(n);
        Some(Ok(Answer::Data(data)))
    } else if let Some(e) = error {
        Some(Err(e))
    } else if !s.may_recv() && (peer_closed || s.state() == tcp::State::Closed) {
        Some(Ok(Answer::Data(Vec::new())))
    } else {
        None
    }
}

/// Puts what fits of `data` into the send buffer: how much did.
pub(super) fn send_some(s: &mut tcp::Socket, data: &[u8]) -> usize {
    let mut done = 0;
    while done < data.len() && s.can_send() {
        match s.send_slice(&data[done..]) {
            Ok(n) if n > 0 => done += n,
            _ => break,
        }
    }
    done
}

/// A connection's (local, peer) endpoints (unspecified where it has none).
pub(super) fn ends(s: &tcp::Socket) -> ((Ipv4Address, u16), (Ipv4Address, u16)) {
    let v4 = |e: Option<IpEndpoint>| match e {
        Some(IpEndpoint { addr: IpAddress::Ipv4(a), port }) => (a, port),
        _ => (Ipv4Address::UNSPECIFIED, 0),
    };
    (v4(s.local_endpoint()), v4(s.remote_endpoint()))
}
