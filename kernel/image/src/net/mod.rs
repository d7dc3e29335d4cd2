//! The network service of the image `cargo run` boots: virtio-net under
//! smoltcp, in one task on one CPU (DragonFly's netisr: the stack belongs
//! to one CPU). The task polls the interface, serves its sockets (HTTP on
//! port 80, TCP echo on port 7), and sleeps until a device interrupt or
//! smoltcp's next deadline on the tickless timer: an idle network costs
//! no polling. DHCP on QEMU's user network; 10.0.2.15/24 via 10.0.2.2 if
//! no lease comes within 3 s.

use alloc::string::String;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::pin::pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::Poll;
use core::time::Duration;

use drivers::virtio::net::NetDevice;
use io::http;
use kernel::smp::{self, CpuId};
use kernel::{exec, run_on, time};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, tcp};
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address, Ipv4Cidr};

/// HTTP sockets listening at once (connections served at once).
const HTTP_SOCKETS: usize = 64;
/// Echo sockets.
const ECHO_SOCKETS: usize = 4;
/// Buffers per direction: an HTTP socket's, an echo socket's.
const HTTP_BUFFER: usize = 16 * 1024;
const ECHO_BUFFER: usize = 64 * 1024;

/// Requests answered, for `/api/net`.
static REQUESTS: AtomicU64 = AtomicU64::new(0);
/// What `net` shows, published by the stack's task: bit 63 set once a
/// device is up, bit 62 if its link is, the MAC in bits 0..48.
static DEVICE: AtomicU64 = AtomicU64::new(0);
/// The address: bit 63 set once configured, bit 62 if by DHCP, the prefix
/// length in bits 32..40, the IPv4 address in bits 0..32.
static ADDRESS: AtomicU64 = AtomicU64::new(0);

/// The network as the stack's task last published it.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    /// The device's MAC.
    pub mac: [u8; 6],
    /// Whether the device reports its link up.
    pub link: bool,
    /// The address and prefix length, and whether DHCP gave it.
    pub address: Option<(Ipv4Address, u8, bool)>,
    /// HTTP requests answered.
    pub requests: u64,
}

/// The network's state, `None` if there is no network device.
pub fn status() -> Option<Status> {
    let dev = DEVICE.load(Ordering::Acquire);
    if dev >> 63 == 0 {
        return None;
    }
    let b = dev.to_be_bytes();
    let a = ADDRESS.load(Ordering::Acquire);
    let address = (a >> 63 != 0).then(|| (Ipv4Address::from_bits(a as u32), (a >> 32) as u8, a >> 62 & 1 != 0));
    Some(Status { mac: [b[2], b[3], b[4], b[5], b[6], b[7]], link: dev >> 62 & 1 != 0, address, requests: REQUESTS.load(Ordering::Relaxed) })
}

fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(time::uptime().as_micros() as i64)
}

/// Starts the network service if the machine has a virtio-net device: the
/// stack runs on the last CPU (the shell has the boot CPU).
pub fn start() {
    let cpu = CpuId::try_new(smp::online() - 1).unwrap_or(CpuId::BOOT);
    exec::block_on(run_on::run_on(cpu, move || async move {
        match NetDevice::open(cpu) {
            Ok(dev) => drop(exec::spawn_driver("net", serve(dev))),
            Err(e) => log::info!("net: {e}"),
        }
    }));
}

fn tcp_socket(buffer: usize) -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(alloc::vec![0u8; buffer]);
    let tx = tcp::SocketBuffer::new(alloc::vec![0u8; buffer]);
    let mut s = tcp::Socket::new(rx, tx);
    // A client that stops talking is dropped after a minute.
    s.set_timeout(Some(smoltcp::time::Duration::from_secs(60)));
    s
}

/// One HTTP connection's unparsed bytes and unsent reply.
#[derive(Default)]
struct Conn {
    input: Vec<u8>,
    output: Vec<u8>,
    close_after: bool,
}

async fn serve(mut dev: NetDevice) {
    let mac = dev.mac();
    let mut m = [0u8; 8];
    m[2..].copy_from_slice(&mac);
    DEVICE.store(1 << 63 | u64::from(dev.link_up()) << 62 | u64::from_be_bytes(m), Ordering::Release);
    let mut config = Config::new(EthernetAddress(mac).into());
    config.random_seed = kernel::arch::cpu::rdtsc();
    let mut iface = Interface::new(config, &mut dev, now());
    let mut sockets = SocketSet::new(Vec::new());
    let dhcp = sockets.add(dhcpv4::Socket::new());
    let mut http: Vec<(SocketHandle, Conn)> = (0..HTTP_SOCKETS).map(|_| (sockets.add(tcp_socket(HTTP_BUFFER)), Conn::default())).collect();
    let echo: Vec<SocketHandle> = (0..ECHO_SOCKETS).map(|_| sockets.add(tcp_socket(ECHO_BUFFER))).collect();
    log::info!("net: virtio-net {} link {}", format_mac(mac), if dev.link_up() { "up" } else { "down" });
    let started = time::Instant::now();
    let mut configured = false;
    loop {
        iface.poll(now(), &mut dev, &mut sockets);
        match sockets.get_mut::<dhcpv4::Socket>(dhcp).poll() {
            Some(dhcpv4::Event::Configured(c)) => {
                set_address(&mut iface, c.address, c.router, true);
                configured = true;
                log::info!("net: up {} via DHCP (router {:?})", c.address, c.router);
            }
            Some(dhcpv4::Event::Deconfigured) => {
                ADDRESS.store(0, Ordering::Release);
                iface.update_ip_addrs(|a| a.clear());
                configured = false;
            }
            None => {}
        }
        if !configured && started.elapsed() > Duration::from_secs(3) {
            set_address(&mut iface, Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24), Some(Ipv4Address::new(10, 0, 2, 2)), false);
            configured = true;
            log::info!("net: up 10.0.2.15/24 (static: no DHCP lease within 3 s)");
        }
        for (handle, conn) in &mut http {
            serve_http(sockets.get_mut::<tcp::Socket>(*handle), conn, &dev);
        }
        for handle in &echo {
            serve_echo(sockets.get_mut::<tcp::Socket>(*handle));
        }
        // Anything a socket queued goes out before we sleep.
        iface.poll(now(), &mut dev, &mut sockets);
        let delay = iface.poll_delay(now(), &sockets).map(|d| Duration::from_micros(d.total_micros()));
        wait(&dev, delay).await;
    }
}

fn set_address(iface: &mut Interface, cidr: Ipv4Cidr, router: Option<Ipv4Address>, dhcp: bool) {
    let a = 1u64 << 63 | u64::from(dhcp) << 62 | u64::from(cidr.prefix_len()) << 32 | u64::from(cidr.address().to_bits());
    ADDRESS.store(a, Ordering::Release);
    iface.update_ip_addrs(|addrs| {
        addrs.clear();
        let _ = addrs.push(IpCidr::Ipv4(cidr));
    });
    match router {
        Some(r) => {
            let _ = iface.routes_mut().add_default_ipv4_route(r);
        }
        None => iface.routes_mut().remove_default_ipv4_route().map_or((), |_| ()),
    }
}

/// Until a device interrupt, or `delay` (smoltcp's next deadline) passes.
async fn wait(dev: &NetDevice, delay: Option<Duration>) {
    if delay == Some(Duration::ZERO) {
        exec::yield_now().await;
        return;
    }
    let (rx, tx) = dev.interrupts();
    let mut rx = pin!(rx.wait());
    let mut tx = pin!(tx.wait());
    // No deadline: only an interrupt (or a socket call) wakes us.
    let mut sleep = pin!(time::sleep(delay.unwrap_or(Duration::from_secs(3600))));
    poll_fn(|cx| {
        if rx.as_mut().poll(cx).is_ready() || tx.as_mut().poll(cx).is_ready() || sleep.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

fn serve_echo(s: &mut tcp::Socket) {
    if !s.is_open() {
        let _ = s.listen(7);
        return;
    }
    while s.can_recv() && s.can_send() {
        let mut buf = [0u8; 4096];
        let room = s.send_capacity() - s.send_queue();
        let n = match s.recv_slice(&mut buf[..room.min(4096)]) {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        let _ = s.send_slice(&buf[..n]);
    }
    // Close once the peer has closed its half and everything is sent (not
    // on `!may_recv()` alone: that is also true before the handshake ends).
    if s.state() == tcp::State::CloseWait && s.send_queue() == 0 {
        s.close();
    }
}

fn serve_http(s: &mut tcp::Socket, conn: &mut Conn, dev: &NetDevice) {
    if !s.is_open() {
        *conn = Conn::default();
        let _ = s.listen(80);
        return;
    }
    while s.can_recv() && conn.output.is_empty() {
        let mut buf = [0u8; 4096];
        match s.recv_slice(&mut buf) {
            Ok(n) if n > 0 => conn.input.extend_from_slice(&buf[..n]),
            _ => break,
        }
        match http::parse(&conn.input) {
            http::Parsed::Incomplete => {}
            http::Parsed::Error(status, reason) => {
                conn.output = http::response(status, reason, "text/plain", reason.as_bytes(), true);
                conn.close_after = true;
                conn.input.clear();
            }
            http::Parsed::Request(req, used) => {
                conn.input.drain(..used);
                conn.close_after = req.close;
                conn.output = answer(&req, dev);
                REQUESTS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if !conn.output.is_empty()
        && s.can_send()
        && let Ok(n) = s.send_slice(&conn.output)
    {
        conn.output.drain(..n);
    }
    if conn.output.is_empty() && conn.close_after {
        s.close();
        conn.close_after = false;
    }
    if s.state() == tcp::State::CloseWait && conn.output.is_empty() && s.send_queue() == 0 {
        s.close();
    }
}

fn answer(req: &http::Request, dev: &NetDevice) -> Vec<u8> {
    let close = req.close;
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => {
            let up = time::uptime();
            let body = alloc::format!(
                "<!doctype html><html><head><title>Odonata</title></head><body><h1>Odonata</h1><p>{} CPUs online, up {}.{:03} s.</p><p>See <a href=\"/api/net\">/api/net</a>.</p></body></html>\n",
                smp::online(),
                up.as_secs(),
                up.subsec_millis()
            );
            http::response(200, "OK", "text/html; charset=utf-8", body.as_bytes(), close)
        }
        ("GET", "/api/net") => {
            let st = dev.stats();
            let body = alloc::format!(
                "{{\"mac\":\"{}\",\"link\":{},\"rx\":{},\"tx\":{},\"dropped\":{},\"tx_full\":{},\"requests\":{}}}\n",
                format_mac(dev.mac()),
                dev.link_up(),
                st.rx,
                st.tx,
                st.dropped,
                st.tx_full,
                REQUESTS.load(Ordering::Relaxed) + 1
            );
            http::response(200, "OK", "application/json", body.as_bytes(), close)
        }
        ("GET", "/api/mem") => {
            let h = kernel::memory::heap::stats();
            let f = kernel::memory::frame::stats();
            let body = alloc::format!(
                "{{\"heap_size\":{},\"heap_used\":{},\"heap_free\":{},\"allocations\":{},\"frames_total\":{},\"frames_in_use\":{}}}\n",
                h.size, h.used, h.free, h.allocations, f.total, f.in_use
            );
            http::response(200, "OK", "application/json", body.as_bytes(), close)
        }
        ("POST", "/echo") => http::response(200, "OK", "application/octet-stream", &req.body, close),
        ("GET", _) | ("POST", _) => http::response(404, "Not Found", "text/plain", b"not found\n", close),
        _ => http::response(405, "Method Not Allowed", "text/plain", b"method not allowed\n", close),
    }
}

fn format_mac(m: [u8; 6]) -> String {
    alloc::format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}
