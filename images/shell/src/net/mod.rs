//! The network services of the image `cargo run` boots, written on the
//! socket API any task can use (`drivers::net`): HTTP/1.1 on port 80, TCP
//! echo on port 7, UDP echo on port 7.
//!
//! The stack runs on the last CPU; each accepted connection is handed to a
//! worker CPU in turn (every CPU but the stack's, when there are two or
//! more), which parses and answers its requests there: the service uses
//! the whole machine, and the stack's CPU only moves packets. A connection
//! that sends nothing for 10 s mid-request, or while idle between
//! requests, is closed. Past [`MAX_HTTP_CONNECTIONS`] open HTTP
//! connections, a new one is answered 503 and closed (it is accepted, so
//! the client hears why); past the stack's socket limit, connections are
//! refused.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

use drivers::net::{NetError, TcpListener, TcpStream, UdpSocket};
use embedded_io_async::{Read, Write};
use kernel::smp::{self, CpuId};
use kernel::{exec, run_on, time};
use protocols::http;

use crate::shell::stats::{self, Answer, Query};

/// How long a client may stay silent.
const IDLE: Duration = Duration::from_secs(10);
/// HTTP connections served at once. Below the stack's 160 TCP sockets
/// less the listeners' (64 on port 80, 8 on port 7), so a connection past
/// it still gets a socket to be told 503 on.
pub const MAX_HTTP_CONNECTIONS: usize = 80;

/// HTTP connections open now (a worker's guard counts each down).
static HTTP_OPEN: AtomicUsize = AtomicUsize::new(0);
/// Connections answered 503 because [`MAX_HTTP_CONNECTIONS`] were open.
static HTTP_BUSY: AtomicU64 = AtomicU64::new(0);

/// Requests answered, for `/api/net`.
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static NEXT_WORKER: AtomicUsize = AtomicUsize::new(0);

/// HTTP requests answered so far.
pub fn requests() -> u64 {
    REQUESTS.load(Ordering::Relaxed)
}

/// HTTP connections open now, and those turned away with 503 so far.
pub fn http_connections() -> (usize, u64) {
    (HTTP_OPEN.load(Ordering::Relaxed), HTTP_BUSY.load(Ordering::Relaxed))
}

/// One open HTTP connection, counted until it is dropped on its worker.
struct HttpSlot;

impl HttpSlot {
    /// A slot, or `None` if [`MAX_HTTP_CONNECTIONS`] are open.
    fn take() -> Option<Self> {
        let open = HTTP_OPEN.fetch_add(1, Ordering::Relaxed);
        if open < MAX_HTTP_CONNECTIONS {
            Some(HttpSlot)
        } else {
            HTTP_OPEN.fetch_sub(1, Ordering::Relaxed);
            HTTP_BUSY.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

impl Drop for HttpSlot {
    fn drop(&mut self) {
        HTTP_OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts the stack (if the machine has a network device) and the services.
pub fn start() {
    if !drivers::net::start() {
        return;
    }
    drop(exec::spawn_named("http-accept", accept(80, Service::Http)));
    drop(exec::spawn_named("echo-accept", accept(7, Service::Echo)));
    drop(exec::spawn_named("udp-echo", udp_echo(7)));
}

#[derive(Clone, Copy)]
enum Service {
    Http,
    Echo,
}

/// The CPU the next connection goes to.
fn worker() -> CpuId {
    let n = smp::online();
    let workers = if n > 1 { n - 1 } else { n };
    let i = NEXT_WORKER.fetch_add(1, Ordering::Relaxed) % workers;
    CpuId::try_new(i).unwrap_or(CpuId::BOOT)
}

async fn accept(port: u16, service: Service) {
    let backlog = match service {
        Service::Http => 64,
        Service::Echo => 8,
    };
    let listener = match TcpListener::bind_with_backlog(port, backlog).await {
        Ok(l) => l,
        Err(e) => return log::error!("net: cannot listen on port {port}: {e}"),
    };
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let (name, slot) = match service {
                    Service::Http => ("http", HttpSlot::take()),
                    Service::Echo => ("echo", None),
                };
                drop(run_on::spawn_made_on(worker(), name, move || async move {
                    match (service, slot) {
                        (Service::Http, Some(slot)) => serve_http(stream, slot).await,
                        (Service::Http, None) => turn_away(stream).await,
                        (Service::Echo, _) => serve_echo(stream).await,
                    }
                }));
            }
            Err(e) => {
                log::warn!("net: accept on port {port}: {e}");
                time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_echo(mut s: TcpStream) {
    let mut buf = alloc::vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = s.close().await;
}

async fn udp_echo(port: u16) {
    let socket = match UdpSocket::bind(port).await {
        Ok(s) => s,
        Err(e) => return log::error!("net: cannot bind UDP port {port}: {e}"),
    };
    let mut buf = alloc::vec![0u8; 2048];
    while let Ok((n, (addr, from))) = socket.recv_from(&mut buf).await {
        let _ = socket.send_to(&buf[..n], addr, from).await;
    }
}

/// A connection past the limit: told so, and closed. What it sent is
/// not read: a client that waits for the answer gets it at once.
async fn turn_away(mut s: TcpStream) {
    let body = b"too many connections; try again\n";
    let _ = time::timeout(IDLE, s.write_all(&http::response(503, "Service Unavailable", "text/plain", body, true))).await;
    let _ = s.close().await;
}

async fn serve_http(mut s: TcpStream, _slot: HttpSlot) {
    let mut input: Vec<u8> = Vec::new();
    let mut rows = CpuRows::default();
    let mut chunk = alloc::vec![0u8; 8 * 1024];
    loop {
        match http::parse(&input) {
            http::Parsed::Incomplete => match time::timeout(IDLE, s.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => input.extend_from_slice(&chunk[..n]),
                Err(_) => {
                    if !input.is_empty() {
                        let _ = s.write_all(&http::response(408, "Request Timeout", "text/plain", b"request timeout\n", true)).await;
                    }
                    break;
                }
            },
            http::Parsed::Error(status, reason) => {
                let body = alloc::format!("{reason}\n");
                let _ = s.write_all(&http::response(status, reason, "text/plain", body.as_bytes(), true)).await;
                break;
            }
            http::Parsed::Request(req, used) => {
                input.drain(..used);
                REQUESTS.fetch_add(1, Ordering::Relaxed);
                let reply = answer(&req, &mut rows).await;
                if s.write_all(&reply).await.is_err() || req.close {
                    break;
                }
            }
        }
    }
    let _ = s.close().await;
}

async fn answer(req: &http::Request, rows: &mut CpuRows) -> Vec<u8> {
    let close = req.close;
    let json = |body: String| http::response(200, "OK", "application/json", body.as_bytes(), close);
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => http::response(200, "OK", "text/html; charset=utf-8", page(rows).await.as_bytes(), close),
        ("GET", "/api/cpus") => json(cpus_json().await),
        ("GET", "/api/tasks") => json(tasks_json().await),
        ("GET", "/api/irq") => json(irq_json()),
        ("GET", "/api/ipi") => json(ipi_json().await),
        ("GET", "/api/mem") => json(mem_json()),
        ("GET", "/api/net") => json(net_json()),
        ("POST", "/echo") => http::response(200, "OK", "application/octet-stream", &req.body, close),
        ("GET", _) | ("POST", _) => http::response(404, "Not Found", "text/plain", b"not found\n", close),
        _ => http::response(405, "Method Not Allowed", "text/plain", b"method not allowed\n", close),
    }
}

/// The page's table of CPUs, asked of every CPU at most every 100 ms per
/// connection: a client reloading `/` does not make every CPU answer a
/// statistics call per request (the JSON endpoints ask every time).
#[derive(Default)]
struct CpuRows {
    at: Option<time::Instant>,
    html: String,
}

const ROWS_FRESH_FOR: Duration = Duration::from_millis(100);

async fn page(rows: &mut CpuRows) -> String {
    if rows.at.is_none_or(|at| at.elapsed() >= ROWS_FRESH_FOR) {
        rows.html.clear();
        for (n, row) in stats::ask_all(Query::Cpu).await.into_iter().enumerate() {
            if let Some(Answer::Cpu { tasks, polls, idle }) = row {
                let _ = write!(rows.html, "<tr><td>cpu{n}</td><td>{tasks}</td><td>{polls}</td><td>{:.1}%</td></tr>", idle_share(idle));
            }
        }
        rows.at = Some(time::Instant::now());
    }
    let up = time::uptime();
    let h = kernel::heap::stats();
    let mut p = alloc::format!(
        "<!doctype html><html><head><title>Odonata</title></head><body><h1>Odonata</h1><p>{} CPUs online, up {}.{:03} s; heap {} KiB used of {} KiB; {} HTTP requests answered.</p><table><tr><th>CPU</th><th>tasks</th><th>polls</th><th>idle</th></tr>",
        smp::online(),
        up.as_secs(),
        up.subsec_millis(),
        h.used >> 10,
        h.size >> 10,
        requests()
    );
    p += &rows.html;
    p += "</table><p>JSON: <a href=\"/api/cpus\">cpus</a> <a href=\"/api/tasks\">tasks</a> <a href=\"/api/irq\">irq</a> <a href=\"/api/ipi\">ipi</a> <a href=\"/api/mem\">mem</a> <a href=\"/api/net\">net</a></p></body></html>\n";
    p
}

fn idle_share(idle_cycles: u64) -> f64 {
    100.0 * time::cycles_to_duration(idle_cycles).as_secs_f64() / time::uptime().as_secs_f64().max(1e-9)
}

async fn cpus_json() -> String {
    let mut j = String::from("[");
    for (n, row) in stats::ask_all(Query::Cpu).await.into_iter().enumerate() {
        if n > 0 {
            j += ",";
        }
        match row {
            Some(Answer::Cpu { tasks, polls, idle }) => {
                let _ = write!(j, "{{\"cpu\":{n},\"tasks\":{tasks},\"polls\":{polls},\"idle_percent\":{:.1}}}", idle_share(idle));
            }
            _ => {
                let _ = write!(j, "{{\"cpu\":{n},\"answering\":false}}");
            }
        }
    }
    j + "]\n"
}

fn escape(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect()
}

async fn tasks_json() -> String {
    let mut j = String::from("[");
    let mut first = true;
    for (n, row) in stats::ask_all(Query::Tasks).await.into_iter().enumerate() {
        let Some(Answer::Tasks { tasks, .. }) = row else { continue };
        for t in tasks {
            if !first {
                j += ",";
            }
            first = false;
            let _ = write!(
                j,
                "{{\"cpu\":{n},\"id\":{},\"name\":\"{}\",\"polls\":{},\"cycles\":{}}}",
                t.id,
                escape(t.name.unwrap_or("-")),
                t.polls,
                t.cycles
            );
        }
    }
    j + "]\n"
}

fn irq_json() -> String {
    let mut j = String::from("[");
    let mut first = true;
    for cpu in 0..smp::online() {
        let Some(id) = CpuId::try_new(cpu) else { continue };
        for v in kernel::arch::vectors::Vector::FIRST_FREE..=u8::MAX {
            let Some(vector) = kernel::arch::vectors::Vector::try_new(v) else { continue };
            let count = kernel::arch::idt::interrupt_count(id, vector);
            if count == 0 {
                continue;
            }
            if !first {
                j += ",";
            }
            first = false;
            let _ = write!(j, "{{\"cpu\":{cpu},\"vector\":{v},\"count\":{count}}}");
        }
    }
    j + "]\n"
}

async fn ipi_json() -> String {
    let mut j = String::from("[");
    for (n, row) in stats::ask_all(Query::Ipi).await.into_iter().enumerate() {
        if n > 0 {
            j += ",";
        }
        match row {
            Some(Answer::Ipi(q)) => {
                let _ = write!(j, "{{\"cpu\":{n},\"sent\":{},\"received\":{},\"ipis_sent\":{}}}", q.sent, q.received, q.ipis_sent);
            }
            _ => {
                let _ = write!(j, "{{\"cpu\":{n},\"answering\":false}}");
            }
        }
    }
    j + "]\n"
}

fn mem_json() -> String {
    let h = kernel::heap::stats();
    let f = kernel::memory::frame::stats();
    let d = kernel::heap::detail();
    alloc::format!(
        "{{\"heap_size\":{},\"heap_used\":{},\"heap_free\":{},\"allocations\":{},\"frames_total\":{},\"frames_in_use\":{},\"slabs\":{},\"in_transit\":{}}}\n",
        h.size,
        h.used,
        h.free,
        h.allocations,
        f.total,
        f.in_use,
        d.pages.slabs,
        d.in_transit()
    )
}

fn net_json() -> String {
    let Some(st) = drivers::net::status() else { return String::from("{}\n") };
    let c = st.counters;
    let address = st.address.map_or(String::from("null"), |(a, p, _)| alloc::format!("\"{a}/{p}\""));
    let reasons: Vec<String> = c.malformed_reasons().map(|(why, n)| alloc::format!("\"{why}\":{n}")).collect();
    let (open, away) = http_connections();
    alloc::format!(
        "{{\"mac\":\"{}\",\"link\":{},\"address\":{address},\"rx\":{},\"tx\":{},\"malformed\":{},\"malformed_by_reason\":{{{}}},\"tx_full\":{},\"looped\":{},\"listen_overflows\":{},\"tcp_connections\":{},\"tcp_listeners\":{},\"udp_sockets\":{},\"requests\":{},\"http_connections\":{},\"http_turned_away\":{}}}\n",
        drivers::net::format_mac(st.mac),
        st.link,
        c.rx,
        c.tx,
        c.malformed_total(),
        reasons.join(","),
        c.tx_full,
        c.looped,
        st.listen_overflows,
        st.open.0,
        st.open.1,
        st.open.2,
        requests(),
        open,
        away
    )
}

/// A guest-side client (the shell's `http-get`): GET `path` from
/// `addr:port`; the status line and the body.
pub async fn http_get(addr: drivers::net::Ipv4Address, port: u16, path: &str) -> Result<(String, Vec<u8>), NetError> {
    let mut s = TcpStream::connect(addr, port).await?;
    let req = alloc::format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut all = Vec::new();
    let mut chunk = alloc::vec![0u8; 4096];
    loop {
        match time::timeout(IDLE, s.read(&mut chunk)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => all.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(NetError::TimedOut),
        }
    }
    let _ = s.close().await;
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").map_or(all.len(), |p| p + 4);
    let status = String::from_utf8_lossy(&all[..head_end]).lines().next().unwrap_or("").into();
    Ok((status, all[head_end..].to_vec()))
}

/// Pings `addr` `count` times (the shell's `ping`), one line per answer.
pub async fn ping_lines(addr: drivers::net::Ipv4Address, count: u16) -> Vec<Result<Duration, NetError>> {
    let mut out = Vec::new();
    for seq in 0..count {
        out.push(drivers::net::ping(addr, seq).await);
        if seq + 1 < count {
            time::sleep(Duration::from_millis(200)).await;
        }
    }
    out
}
