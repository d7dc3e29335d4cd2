//! The stack's task: smoltcp over the virtio-net device, on one CPU, and
//! the requests sockets send it (`socket.rs`).
//!
//! One loop, a turn at a time: the interface takes in up to 8 frames (the
//! rest wait for the next turn, which comes at once; a connection request
//! its listener has no room for is dropped on the way, `gate.rs`); DHCP's news; every
//! kept request that can be answered now is (listeners only when a frame
//! came or one was asked about); the interface sends what the sockets
//! queued; programs' sockets' readiness is published (`watch.rs`); then
//! the stack waits for the first of a request (it answers every request
//! queued, then turns), a device interrupt or the next deadline
//! (smoltcp's, a ping's, a connect's, a held keep-alive's or write's; its timer is moved only to an
//! earlier one). No deadline means none: an idle network leaves its CPU
//! halted.
//!
//! A request that cannot be answered at once keeps its `Answerer` beside
//! the socket it waits on: an accept on its listener, a read or a write on
//! its connection, a connect until the handshake ends, a datagram until
//! one comes, a ping until its echo or its deadline. Every socket has at
//! most one read and one write in flight (its handle is `&mut` for them).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::pin::{Pin, pin};

use core::sync::atomic::Ordering;
use core::task::{Poll, Waker};
use core::time::Duration;
use futures_util::FutureExt;

use kernel::port::{Answerer, Port, PortRef};
use kernel::smp::{self, CpuId};
use kernel::{exec, run_on, time};
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, icmp, tcp, udp};
use smoltcp::wire::{EthernetAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr};

use super::NetError;
use super::ready::{Ready, Sides};
use crate::virtio::net::NetDevice;

mod cork;
mod gate;
mod handle;
mod handoff;
mod keep_alive;
mod program;
mod service;
mod status;
mod watch;

use gate::Gate;
pub(crate) use handoff::Handoff;
use watch::Watch;

use status::{ADDRESS, DEVICE, OPEN};
pub use status::{Status, status};

/// TCP sockets at most (listening and connected): past it, connection
/// requests to a listener are dropped (`gate.rs`), others refused.
const MAX_TCP: usize = 320;
/// Listening sockets a listener keeps at most (connections it can take at
/// once).
pub(crate) const MAX_BACKLOG: usize = 64;
/// Sockets a listener keeps waiting for a connection request, whatever
/// its backlog: a burst of requests finds them.
const SYN_QUEUE: usize = 16;
/// Handshakes a listener has under way at most (Linux's SYN queue): past
/// it, and past its backlog, requests are dropped (`gate.rs`).
const HALF_OPEN: usize = 64;
/// Frames one poll of the interface takes in: fewer than a listener's
/// free sockets, so that a burst of connections waits in the device's
/// queue while the loop refills them, instead of being refused.
const FRAMES_PER_POLL: usize = 8;

/// Bytes of TCP buffer per direction.
const TCP_BUFFER: usize = 16 * 1024;
/// UDP sockets at most, and each one's buffers.
const MAX_UDP: usize = 16;
const UDP_PACKETS: usize = 16;
const UDP_BUFFER: usize = 32 * 1024;
/// How long a connect waits for the handshake, and a ping for its echo.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How long data may stay unacknowledged before a connection is dropped.
const TCP_TIMEOUT: Duration = Duration::from_secs(60);
const PING_IDENT: u16 = 0x0d0a;

/// What a socket asks the stack. The `Try` calls and `Open` (programs'
/// sockets, `net/program.rs`) are answered at once: `WouldBlock` where the
/// others would wait. (A program's accept asks nothing: `handoff.rs`.)
pub(crate) enum Request {
    /// Listen on a port (with a backlog); `true`: a program's listener,
    /// whose port was reserved by the caller (`Reserve`) and whose
    /// connections are handed over through a queue (`handoff.rs`).
    Listen(u16, usize, bool),
    Accept(usize),
    Unlisten(usize),
    Connect(Ipv4Address, u16),
    /// Starts a connection (from a reserved local port, if given).
    Open(Ipv4Address, u16, Option<u16>),
    Recv(usize, usize),
    /// Up to so many bytes now; `true`: left to be read again (MSG_PEEK).
    TryRecv(usize, usize, bool),
    Send(usize, Vec<u8>),
    TrySend(usize, Vec<u8>),
    Shutdown(usize),
    Close(usize),
    /// Holds a TCP port (0: any free one) for a later `Listen` or `Open`.
    Reserve(u16),
    Unreserve(u16),
    /// Wake this waker once a generation of the sides given is past the
    /// one given (`net/ready.rs`).
    Watch(Watched, u32, Sides, Waker),
    Set(usize, TcpOption),
    /// Binds a UDP port (0: a free one).
    UdpBind(u16),
    UdpSend(usize, Vec<u8>, Ipv4Address, u16),
    TryUdpSend(usize, Vec<u8>, Ipv4Address, u16),
    UdpRecv(usize, usize),
    /// The next datagram now; `true`: left to be read again (MSG_PEEK).
    TryUdpRecv(usize, usize, bool),
    UdpClose(usize),
    Ping(Ipv4Address, u16),
}

/// The socket a `Watch` is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Watched {
    Listener(usize),
    Conn(usize),
    Udp(usize),
}

/// A connection's option (`setsockopt`).
#[derive(Clone, Copy, Debug)]
pub enum TcpOption {
    /// Nagle's algorithm off (`TCP_NODELAY`).
    NoDelay(bool),
    /// Keep-alive probes after this long idle (`SO_KEEPALIVE`), or none.
    KeepAlive(Option<Duration>),
}

/// A connection as the stack made it: its id, both ends and its
/// published readiness. An answer that never reached its caller (the call
/// was given up after the stack answered) closes the connection when it
/// is dropped; the handle that takes it over keeps it ([`Opened::keep`]).
pub(crate) struct Opened {
    pub id: usize,
    pub peer: (Ipv4Address, u16),
    pub local: (Ipv4Address, u16),
    ready: Option<Arc<Ready>>,
}

impl Opened {
    pub(crate) fn new(id: usize, peer: (Ipv4Address, u16), local: (Ipv4Address, u16), ready: Arc<Ready>) -> Self {
        Self { id, peer, local, ready: Some(ready) }
    }

    /// Its readiness, for the handle that now owns the connection.
    pub(crate) fn keep(mut self) -> Arc<Ready> {
        self.ready.take().expect("kept once")
    }

    /// The stack takes the connection back itself (an answer its caller
    /// did not take): nothing to close.
    fn disarm(mut self) {
        self.ready = None;
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if self.ready.is_some() {
            super::socket::post(Request::Close(self.id));
        }
    }
}

/// What the stack answers.
pub(crate) enum Answer {
    /// A listener: its id, readiness, and a program's queue of connections.
    Listener(usize, Arc<Ready>, Option<Arc<Handoff>>),
    Conn(Opened),
    Data(Vec<u8>),
    Sent(usize),
    Done,
    Port(u16),
    /// A UDP socket: its id, port and readiness.
    Udp(usize, u16, Arc<Ready>),
    Datagram(Vec<u8>, Ipv4Address, u16),
    Pong(Duration),
}

pub(crate) type Reply = Result<Answer, NetError>;
type Waiting = Answerer<Reply>;

static STACK: spin::Once<PortRef<Request, Reply>> = spin::Once::new();

/// The stack's port, if it is running.
pub(crate) fn port() -> Result<&'static PortRef<Request, Reply>, NetError> {
    STACK.get().ok_or(NetError::NoNetwork)
}

/// Starts the stack on the last CPU if the machine has a virtio-net
/// device; `false` if it has none.
pub fn start() -> bool {
    let cpu = CpuId::try_new(smp::online() - 1).unwrap_or(CpuId::BOOT);
    exec::block_on(run_on::run_on(cpu, move || async move {
        match NetDevice::open(cpu) {
            Ok(dev) => {
                let (port, handle) = kernel::port::new::<Request, Reply>(256);
                STACK.call_once(|| handle);
                drop(exec::spawn_driver("net", run(dev, port)));
                true
            }
            Err(e) => {
                log::info!("net: {e}");
                false
            }
        }
    }))
}

fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(time::uptime().as_micros() as i64)
}

fn smol(d: Duration) -> smoltcp::time::Duration {
    smoltcp::time::Duration::from_micros(d.as_micros() as u64)
}

struct Listener {
    port: u16,
    backlog: usize,
    listening: Vec<SocketHandle>,
    ready: VecDeque<SocketHandle>,
    accepts: VecDeque<Waiting>,
    watch: Watch,
    /// A program's listener: connections go here as they are made.
    handoff: Option<Arc<Handoff>>,
}

impl Listener {
    /// Connections made and not yet accepted.
    fn waiting(&self) -> usize {
        self.ready.len() + self.handoff.as_ref().map_or(0, |q| q.len())
    }
}

struct Conn {
    handle: SocketHandle,
    /// A connect waiting for the handshake (with its caller, unless a
    /// program's `Open` that does not wait), and when it gives up.
    connect: Option<(Option<Waiting>, time::Instant)>,
    /// Why it failed (a program's connect, a reset), for `SO_ERROR`.
    error: Option<NetError>,
    watch: Watch,
    recv: Option<(usize, Waiting)>,
    /// Bytes to send, how many went, and who waits.
    send: Option<(Vec<u8>, usize, Waiting)>,
    /// Bytes a program's read took out of smoltcp whose caller had gone
    /// (a signal) before the answer reached it: the next read's first.
    unread: Vec<u8>,
    peer_closed: bool,
    closed_here: bool,
    /// The user's handle is gone: reap once smoltcp is done.
    released: bool,
    /// A turn has passed since it entered TIME-WAIT.
    lingered: bool,
    /// `SO_KEEPALIVE` set and not yet given to smoltcp (`keep_alive.rs`).
    keep_alive: Option<keep_alive::Pending>,
    /// A program's last write, waiting for its next call (`cork.rs`).
    corked: Option<cork::Corked>,
}

struct Udp {
    handle: SocketHandle,
    recv: Option<(usize, Waiting)>,
    send: Option<(Vec<u8>, IpEndpoint, Waiting)>,
    watch: Watch,
}

struct Ping {
    seq: u16,
    sent: time::Instant,
    answer: Waiting,
}

/// Everything the task owns.
struct Stack {
    iface: Interface,
    sockets: SocketSet<'static>,
    dhcp: SocketHandle,
    icmp: SocketHandle,
    listeners: Vec<Option<Listener>>,
    conns: Vec<Option<Conn>>,
    udps: Vec<Option<Udp>>,
    pings: Vec<Ping>,
    configured: bool,
    next_port: u16,
    /// TCP ports held for a listen or connect to come (`Reserve`).
    reserved: Vec<u16>,
    /// A listener may have something to do (a packet came, a socket's
    /// state changed, a request for one): `service` looks at them.
    listeners_due: bool,
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s =
        tcp::Socket::new(tcp::SocketBuffer::new(alloc::vec![0u8; TCP_BUFFER]), tcp::SocketBuffer::new(alloc::vec![0u8; TCP_BUFFER]));
    s.set_timeout(Some(smol(TCP_TIMEOUT)));
    s
}

fn slot<T>(table: &mut Vec<Option<T>>, value: T) -> usize {
    match table.iter().position(Option::is_none) {
        Some(i) => {
            table[i] = Some(value);
            i
        }
        None => {
            table.push(Some(value));
            table.len() - 1
        }
    }
}

async fn run(mut dev: NetDevice, mut port: Port<Request, Reply>) {
    let mac = dev.mac();
    let mut m = [0u8; 8];
    m[2..].copy_from_slice(&mac);
    DEVICE.store(1 << 63 | u64::from(dev.link_up()) << 62 | u64::from_be_bytes(m), Ordering::Release);
    let mut config = Config::new(EthernetAddress(mac).into());
    config.random_seed = kernel::arch::cpu::rdtsc();
    let iface = Interface::new(config, &mut dev, now());
    let mut sockets = SocketSet::new(Vec::new());
    let dhcp = sockets.add(dhcpv4::Socket::new());
    let mut echo = icmp::Socket::new(
        icmp::PacketBuffer::new(alloc::vec![icmp::PacketMetadata::EMPTY; 8], alloc::vec![0u8; 2048]),
        icmp::PacketBuffer::new(alloc::vec![icmp::PacketMetadata::EMPTY; 8], alloc::vec![0u8; 2048]),
    );
    let _ = echo.bind(icmp::Endpoint::Ident(PING_IDENT));
    let icmp = sockets.add(echo);
    let mut st = Stack {
        iface,
        sockets,
        dhcp,
        icmp,
        listeners: Vec::new(),
        conns: Vec::new(),
        udps: Vec::new(),
        pings: Vec::new(),
        configured: false,
        next_port: 49152,
        reserved: Vec::new(),
        listeners_due: true,
    };
    log::info!(
        "net: virtio-net {} link {}, {} queue pair{} offered (1 used)",
        super::socket::format_mac(mac),
        if dev.link_up() { "up" } else { "down" },
        dev.pairs_offered(),
        if dev.pairs_offered() == 1 { "" } else { "s" }
    );
    let started = time::Instant::now();
    let mut timer = time::sleep(Duration::from_secs(3600));
    loop {
        let more = st.take_in(&mut dev);
        st.dhcp_events(started);
        dev.set_address(st.iface.ipv4_addr().map(|a| a.octets()));
        st.service();
        st.send_out(&mut dev);
        st.publish();
        st.notify();
        let mut delay = st.iface.poll_delay(now(), &st.sockets).map(|d| Duration::from_micros(d.total_micros()));
        if more || dev.has_looped() {
            delay = Some(Duration::ZERO);
        }
        if let Some(first) = st.pings.iter().map(|p| p.sent + PING_TIMEOUT).min() {
            let left = first.saturating_duration_since(time::Instant::now());
            delay = Some(delay.map_or(left, |d| d.min(left)));
        }
        let deadline = |c: &Conn| c.connect.as_ref().map(|(_, at)| *at).into_iter().chain(keep_alive::due(c)).chain(cork::due(c)).min();
        if let Some(first) = st.conns.iter().flatten().filter_map(deadline).min() {
            let left = first.saturating_duration_since(time::Instant::now());
            delay = Some(delay.map_or(left, |d| d.min(left)));
        }
        // The timer is moved only to an earlier deadline: a later one
        // costs a turn that finds nothing to do, re-arming it every turn
        // costs the timer's work each time.
        let now = time::Instant::now();
        let due = delay.map_or(now + Duration::from_secs(3600), |d| now + d);
        if due < timer.deadline() || timer.deadline() <= now {
            timer.reset(due);
        }
        // What this turn sent and posted, told to the device at once.
        dev.flush();
        match wait(&dev, &mut port, delay, &mut timer).await {
            Woke::Request(Some(m)) => {
                let (req, answer) = m.take();
                st.handle(req, answer);
                // Whatever else is queued, in the same turn.
                while let Some(Some(m)) = port.recv().now_or_never() {
                    let (req, answer) = m.take();
                    st.handle(req, answer);
                }
            }
            Woke::Request(None) => return,
            Woke::Device => {}
        }
    }
}

enum Woke {
    Request(Option<kernel::port::Message<Request, Reply>>),
    Device,
}

/// The first of: a request, a device interrupt, `timer` (no wait with a
/// `delay` of zero).
async fn wait(dev: &NetDevice, port: &mut Port<Request, Reply>, delay: Option<Duration>, timer: &mut time::Sleep) -> Woke {
    if delay == Some(Duration::ZERO) {
        exec::yield_now().await;
        return Woke::Device;
    }
    let (rx, tx) = dev.interrupts();
    let mut rx = pin!(rx.wait());
    let mut tx = pin!(tx.wait());
    let mut msg = pin!(port.recv());
    let mut sleep = Pin::new(timer);
    poll_fn(|cx| {
        if let Poll::Ready(m) = msg.as_mut().poll(cx) {
            return Poll::Ready(Woke::Request(m));
        }
        if rx.as_mut().poll(cx).is_ready() || tx.as_mut().poll(cx).is_ready() || sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::Device);
        }
        Poll::Pending
    })
    .await
}

impl Stack {
    fn dhcp_events(&mut self, started: time::Instant) {
        let event = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll().map(|e| match e {
            dhcpv4::Event::Configured(c) => Some((c.address, c.router)),
            dhcpv4::Event::Deconfigured => None,
        });
        match event {
            Some(Some((address, router))) => {
                self.set_address(address, router, true);
                log::info!("net: up {address} via DHCP (router {router:?})");
            }
            Some(None) => {
                ADDRESS.store(0, Ordering::Release);
                self.iface.update_ip_addrs(|a| a.clear());
                self.configured = false;
            }
            None => {}
        }
        if !self.configured && started.elapsed() > Duration::from_secs(3) {
            self.set_address(Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24), Some(Ipv4Address::new(10, 0, 2, 2)), false);
            log::info!("net: up 10.0.2.15/24 (static: no DHCP lease within 3 s)");
        }
    }

    fn set_address(&mut self, cidr: Ipv4Cidr, router: Option<Ipv4Address>, dhcp: bool) {
        let a = 1u64 << 63 | u64::from(dhcp) << 62 | u64::from(cidr.prefix_len()) << 32 | u64::from(cidr.address().to_bits());
        ADDRESS.store(a, Ordering::Release);
        self.configured = true;
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::Ipv4(cidr));
            // Loopback, after the address every other destination's
            // packets are sent from (virtio::net's module doc).
            let _ = addrs.push(IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(127, 0, 0, 1), 8)));
        });
        match router {
            Some(r) => {
                let _ = self.iface.routes_mut().add_default_ipv4_route(r);
            }
            None => {
                let _ = self.iface.routes_mut().remove_default_ipv4_route();
            }
        }
    }

    fn publish(&self) {
        let conns = self.conns.iter().flatten().filter(|c| !c.released).count() as u64;
        let listeners = self.listeners.iter().flatten().count() as u64;
        let udps = self.udps.iter().flatten().count() as u64;
        OPEN.store(conns | listeners << 16 | udps << 32, Ordering::Relaxed);
    }

    /// The interface takes in at most `FRAMES_PER_POLL` frames: true if
    /// more may wait.
    fn take_in(&mut self, dev: &mut NetDevice) -> bool {
        let t = now();
        self.iface.poll_maintenance(t);
        let mut room: Vec<(u16, usize)> = self.listeners.iter().flatten().map(|l| (l.port, self.listen_free(l))).collect();
        let mut gate = Gate::new(dev, &mut room);
        let mut frames = 0;
        while frames < FRAMES_PER_POLL && self.iface.poll_ingress_single(t, &mut gate, &mut self.sockets) != PollIngressSingleResult::None {
            frames += 1;
        }
        if gate.dropped() > 0 {
            status::LISTEN_OVERFLOWS.fetch_add(gate.dropped(), Ordering::Relaxed);
        }
        self.listeners_due |= frames > 0;
        frames == FRAMES_PER_POLL
    }

    /// The interface sends what the sockets have to send (after the turn's
    /// answers, so what they queued goes at once).
    fn send_out(&mut self, dev: &mut NetDevice) {
        while self.iface.poll_egress(now(), dev, &mut self.sockets) != PollResult::None {
            self.listeners_due = true;
        }
    }

    /// The next free ephemeral UDP port.
    fn ephemeral_udp_port(&mut self) -> u16 {
        loop {
            let port = self.next_port;
            self.next_port = if port == u16::MAX { 49152 } else { port + 1 };
            if !self.udps.iter().flatten().any(|u| self.sockets.get::<udp::Socket>(u.handle).endpoint().port == port) {
                return port;
            }
        }
    }

    /// The next free ephemeral port (not listened on, not reserved).
    fn ephemeral_port(&mut self) -> u16 {
        loop {
            let port = self.next_port;
            self.next_port = if port == u16::MAX { 49152 } else { port + 1 };
            if !self.port_taken(port) {
                return port;
            }
        }
    }

    /// Whether `port` is listened on or reserved.
    fn port_taken(&self, port: u16) -> bool {
        self.reserved.contains(&port) || self.listeners.iter().flatten().any(|l| l.port == port)
    }

    fn tcp_count(&self) -> usize {
        self.conns.iter().flatten().count() + self.listeners.iter().flatten().map(|l| l.listening.len() + l.ready.len()).sum::<usize>()
    }

    /// How many of `l`'s sockets wait for a connection request.
    fn listen_free(&self, l: &Listener) -> usize {
        l.listening.iter().filter(|&&h| self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Listen).count()
    }

    /// A fresh socket listening on `port`, if under the limit.
    fn listening_socket(&mut self, port: u16) -> Option<SocketHandle> {
        if self.tcp_count() >= MAX_TCP {
            return None;
        }
        let mut s = tcp_socket();
        s.listen(port).ok()?;
        Some(self.sockets.add(s))
    }
}
