//! The shell's commands. Each is an `async fn` on the executor of the CPU
//! it runs on (`on CPU COMMAND` runs one on another CPU through
//! `run_on::run_on`); each writes its own output through [`Out`]. Bad input
//! gets a one-line error; no command panics on anything a user can type.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

use kernel::arch::idt;
use kernel::arch::qemu::{ExitCode, exit};
use kernel::arch::vectors;
use kernel::smp::{self, CpuId};
use kernel::{arch, memory, run_on, stall, time};

use super::out::{Out, outln};
use super::stats::{self, Answer, Query};

/// Name, arguments, and what each command does (for `help`).
const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "this list"),
    ("cpus", "", "each CPU: APIC id, tasks, polls, idle share"),
    ("ps", "", "tasks on every CPU (id, name, state, polls, cycles), then processes (pid, CPU, state)"),
    ("run", "PROGRAM [ARGS]", "run a program from the initramfs (e.g. run /bin/ls -l /); Ctrl-C sends it SIGINT"),
    ("irq", "", "interrupts taken, per vector and CPU"),
    ("ipi", "", "IPI-queue counters per CPU"),
    ("mem", "", "frames and heap in use"),
    ("tokens", "", "serializing tokens: held or free, collisions"),
    ("pci", "[-v]", "PCI functions; -v: BARs, capabilities, MSI routing"),
    ("net", "", "the network: address, MAC, link, counters, sockets"),
    ("ping", "A.B.C.D", "four ICMP echo requests, and their round trips"),
    ("http-get", "A.B.C.D PORT PATH", "fetch PATH over HTTP from a server (a guest-side TCP client)"),
    ("disk", "[NAME] [read LBA [N] | write LBA TEXT | bench]", "disks and their queues' CPUs; a hex dump; a block written; the benchmark"),
    ("random", "N", "N random bytes (1..=4096) from the virtio-rng device (--rng), in hex"),
    ("uptime", "", "time since boot"),
    ("sleep", "MS", "sleep MS milliseconds (Ctrl-C cancels)"),
    ("log", "LEVEL", "log level: off, error, warn, info, debug, trace"),
    ("on", "CPU COMMAND", "run COMMAND on CPU"),
    ("echo", "TEXT", "print TEXT"),
    ("spin", "CPU MS", "a task on CPU that spins MS ms without yielding (to see the stall report)"),
    ("bench", "", "run the in-kernel benchmarks (IPI queues, executor, tokens, ports, drivers)"),
    ("int3", "", "take a breakpoint exception and return"),
    ("poweroff", "", "exit QEMU with success"),
    ("fail", "", "exit QEMU with failure"),
    ("reboot", "", "reset the machine"),
];

/// Runs one command line; its output goes to a new [`Out`].
pub fn run(line: &str) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let mut out = Out::new();
        let line = line.trim();
        let (cmd, rest) = line.split_once(char::is_whitespace).map_or((line, ""), |(c, r)| (c, r.trim()));
        match cmd {
            "" => {}
            "help" => help(&mut out).await,
            "cpus" => cpus(&mut out).await,
            "ps" => {
                ps(&mut out).await;
                out.write(&crate::programs::table()).await;
            }
            "run" => {
                let report = crate::programs::run(rest).await;
                outln!(out, "{report}");
            }
            "irq" => irq(&mut out).await,
            "ipi" => ipi(&mut out).await,
            "mem" => mem(&mut out).await,
            "tokens" => tokens(&mut out).await,
            "pci" => super::pci::pci(&mut out, rest).await,
            "disk" => super::disk::disk(&mut out, rest).await,
            "net" => net(&mut out).await,
            "ping" => ping(&mut out, rest).await,
            "random" => random(&mut out, rest).await,
            "http-get" => http_get(&mut out, rest).await,
            "uptime" => {
                let up = time::uptime();
                outln!(out, "up {}.{:06} s", up.as_secs(), up.subsec_micros());
            }
            "sleep" => match rest.parse::<u64>() {
                Ok(ms) => {
                    time::sleep(Duration::from_millis(ms)).await;
                    outln!(out, "slept {ms} ms");
                }
                Err(_) => outln!(out, "usage: sleep MS (a whole number of milliseconds)"),
            },
            "log" => set_log(&mut out, rest).await,
            "on" => on(&mut out, rest).await,
            "echo" => outln!(out, "{rest}"),
            "spin" => spin(&mut out, rest).await,
            "bench" => bench(&mut out).await,
            "int3" => {
                arch::cpu::breakpoint();
                outln!(out, "returned from int3 ({} so far)", arch::exceptions::breakpoint_count());
            }
            "poweroff" => {
                process::fs::mount::shutdown().await;
                out.flush().await;
                exit(ExitCode::Success)
            }
            "fail" => {
                process::fs::mount::shutdown().await;
                out.flush().await;
                exit(ExitCode::Failure)
            }
            "reboot" => {
                outln!(out, "rebooting");
                out.flush().await;
                arch::cpu::reset()
            }
            other => {
                let shown: String = other.chars().take(40).collect();
                outln!(out, "unknown command {shown:?} (try help)");
            }
        }
    })
}

async fn help(out: &mut Out) {
    let mut s = String::new();
    for (name, args, what) in COMMANDS {
        let usage = if args.is_empty() { String::from(*name) } else { alloc::format!("{name} {args}") };
        let _ = writeln!(s, "  {usage:<16} {what}");
    }
    out.write(&s).await;
}

fn cpu_id(n: usize) -> CpuId {
    CpuId::try_new(n).unwrap_or(CpuId::BOOT)
}

/// Why `cpu` did not answer, for the statistics commands.
fn not_answering(cpu: CpuId) -> String {
    match stall::stalled(cpu) {
        Some((s, ran)) => alloc::format!(
            "{cpu}: not answering: task {} '{}' has run {} ms without yielding (stalled)",
            s.task,
            s.name.unwrap_or("?"),
            ran.as_millis()
        ),
        None => alloc::format!("{cpu}: not answering within {} ms", stats::ANSWER_WITHIN.as_millis()),
    }
}

async fn cpus(out: &mut Out) {
    let rows = stats::ask_all(Query::Cpu).await;
    let up = time::uptime();
    let mut s = alloc::format!("cpus: {} online, listed from {}\n", smp::online(), smp::current());
    for (n, row) in rows.into_iter().enumerate() {
        let cpu = cpu_id(n);
        let Some(Answer::Cpu { tasks, polls, idle }) = row else {
            let _ = writeln!(s, "{}", not_answering(cpu));
            continue;
        };
        let apic = arch::percpu::get(cpu).map_or(0, |p| p.apic_id().0);
        let share = 100.0 * time::cycles_to_duration(idle).as_secs_f64() / up.as_secs_f64().max(1e-9);
        let _ = writeln!(s, "{cpu}: APIC id {apic}, {tasks} tasks, {polls} polls, idle {share:.1}%");
    }
    out.write(&s).await;
}

async fn ps(out: &mut Out) {
    let per_cpu = stats::ask_all(Query::Tasks).await;
    let mut s = String::from("CPU   ID      NAME              STATE    POLLS      CYCLES\n");
    for (n, row) in per_cpu.into_iter().enumerate() {
        let cpu = cpu_id(n);
        let Some(Answer::Tasks { running, tasks }) = row else {
            match stall::stalled(cpu) {
                Some((t, ran)) => {
                    let name = t.name.unwrap_or("-");
                    let _ = writeln!(
                        s,
                        "{:<5} {:<7} {name:<17} {:<8} -          running {} ms without yielding",
                        n,
                        t.task,
                        "stalled",
                        ran.as_millis()
                    );
                }
                None => {
                    let _ = writeln!(s, "{}", not_answering(cpu));
                }
            }
            continue;
        };
        for t in tasks {
            let state = if Some(t.id) == running {
                "running"
            } else if t.queued {
                "queued"
            } else {
                "waiting"
            };
            let _ = writeln!(s, "{:<5} {:<7} {:<17} {:<8} {:<10} {}", n, t.id, t.name.unwrap_or("-"), state, t.polls, t.cycles);
        }
    }
    out.write(&s).await;
}

async fn irq(out: &mut Out) {
    let n = smp::online();
    let mut s = String::from("VECTOR  NAME              ");
    for c in 0..n {
        let _ = write!(s, "{:>10}", alloc::format!("cpu{c}"));
    }
    s.push('\n');
    for v in vectors::all() {
        let counts: Vec<u64> = (0..n).map(|c| idt::interrupt_count(cpu_id(c), v)).collect();
        if counts.iter().all(|&c| c == 0) {
            continue;
        }
        let _ = write!(s, "{v}    {:<17} ", alloc::format!("{}", v.purpose()));
        for c in counts {
            let _ = write!(s, "{c:>10}");
        }
        s.push('\n');
    }
    out.write(&s).await;
}

async fn ipi(out: &mut Out) {
    let rows = stats::ask_all(Query::Ipi).await;
    let mut s = String::from("CPU   SENT       RECEIVED   IPIS SENT  IPIS AVOIDED  PASSIVE    RING-FULL WAITS  DEEPEST  SET ASIDE\n");
    for (n, row) in rows.into_iter().enumerate() {
        let cpu = cpu_id(n);
        let Some(Answer::Ipi(q)) = row else {
            let _ = writeln!(s, "{}", not_answering(cpu));
            continue;
        };
        let _ = writeln!(
            s,
            "{:<5} {:<10} {:<10} {:<10} {:<13} {:<10} {:<16} {:<8} {}",
            cpu.as_u32(),
            q.sent,
            q.received,
            q.ipis_sent,
            q.ipis_avoided,
            q.passive,
            q.full_waits,
            q.deepest,
            q.deferred
        );
    }
    out.write(&s).await;
}

async fn mem(out: &mut Out) {
    let f = memory::frame::stats();
    let h = kernel::heap::stats();
    let d = kernel::heap::detail();
    let mut s = alloc::format!(
        "frames: {} in use of {} ({} MiB); heap: {} KiB used, {} KiB free of {} KiB\n",
        f.in_use,
        f.total,
        f.total_bytes() >> 20,
        h.used >> 10,
        h.free >> 10,
        h.size >> 10
    );
    s += "CPU   LIVE KiB  SLABS  EMPTY  CACHED KiB  MAGAZINES KiB  IN TRANSIT  OUTBOX  SENT AWAY    ALLOCS\n";
    for (n, c) in d.cpus.iter().enumerate().take(smp::online()) {
        let cached = c.held_bytes().saturating_sub(c.live_bytes);
        let _ = writeln!(
            s,
            "{n:<5} {:<9} {:<6} {:<6} {:<11} {:<14} {:<11} {:<7} {:<11} {}",
            c.live_bytes >> 10,
            c.slabs,
            c.empty_slabs,
            cached >> 10,
            c.magazine_bytes >> 10,
            c.in_transit,
            c.outbox,
            c.remote_frees,
            c.allocs
        );
    }
    let p = &d.pages;
    let _ = writeln!(
        s,
        "page level: {} slabs of 32 KiB out, {} large blocks ({} KiB); fragmentation {}.{}% of slab memory not in live blocks; misuse reports: {}",
        p.slabs,
        p.blocks,
        p.block_bytes >> 10,
        d.fragmentation_permille() / 10,
        d.fragmentation_permille() % 10,
        d.misuse
    );
    out.write(&s).await;
}

async fn net(out: &mut Out) {
    let Some(st) = drivers::net::status() else {
        outln!(out, "net: no network device (cargo run -- --net)");
        return;
    };
    let address = match st.address {
        Some((a, prefix, dhcp)) => alloc::format!("{a}/{prefix} ({})", if dhcp { "DHCP" } else { "static" }),
        None => String::from("none yet"),
    };
    let c = st.counters;
    let http = crate::net::http_connections();
    let reasons: Vec<String> = c.malformed_reasons().map(|(why, n)| alloc::format!("{why} {n}")).collect();
    let reasons = if reasons.is_empty() { String::new() } else { alloc::format!(" ({})", reasons.join(", ")) };
    outln!(
        out,
        "net: virtio-net {}, link {}, address {address}; {} frames received, {} sent, {} malformed dropped{reasons}, {} to itself, {} transmits refused (queue full), {} connection requests dropped (listener full); sockets: {} TCP connections, {} listeners, {} UDP; {} HTTP requests answered, {} HTTP connections open, {} turned away (503)",
        drivers::net::format_mac(st.mac),
        if st.link { "up" } else { "down" },
        c.rx,
        c.tx,
        c.malformed_total(),
        c.looped,
        c.tx_full,
        st.listen_overflows,
        st.open.0,
        st.open.1,
        st.open.2,
        crate::net::requests(),
        http.0,
        http.1
    );
}

async fn http_get(out: &mut Out, rest: &str) {
    let mut args = rest.split_whitespace();
    let (Some(Ok(addr)), Some(Ok(port)), Some(path), None) =
        (args.next().map(str::parse::<drivers::net::Ipv4Address>), args.next().map(str::parse::<u16>), args.next(), args.next())
    else {
        outln!(out, "usage: http-get A.B.C.D PORT PATH");
        return;
    };
    match crate::net::http_get(addr, port, path).await {
        Ok((status, body)) => {
            let text = String::from_utf8_lossy(&body);
            let first = text.lines().next().unwrap_or("");
            outln!(out, "http-get: {status}; {} bytes; first line: {first}", body.len());
        }
        Err(e) => outln!(out, "http-get {addr}:{port}: {e}"),
    }
}

/// The most `random` prints.
const MAX_RANDOM: usize = 4096;

async fn random(out: &mut Out, rest: &str) {
    let n = match rest.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_RANDOM).contains(&n) => n,
        _ => {
            outln!(out, "usage: random N (1..={MAX_RANDOM})");
            return;
        }
    };
    let Some(entropy) = drivers::virtio::rng::entropy() else {
        outln!(out, "random: {}", drivers::virtio::rng::RngError::NotFound);
        return;
    };
    match entropy.read(n).await {
        Ok(bytes) => {
            let mut s = String::with_capacity(3 * n);
            for line in bytes.chunks(32) {
                for b in line {
                    let _ = write!(s, "{b:02x}");
                }
                s.push('\n');
            }
            out.write(&s).await;
            outln!(out, "random: {n} bytes from {}", entropy.cpu());
        }
        Err(e) => outln!(out, "random: {e}"),
    }
}

async fn ping(out: &mut Out, rest: &str) {
    let Ok(addr) = rest.trim().parse::<drivers::net::Ipv4Address>() else {
        outln!(out, "usage: ping A.B.C.D");
        return;
    };
    let mut answered = 0;
    for (seq, r) in crate::net::ping_lines(addr, 4).await.into_iter().enumerate() {
        match r {
            Ok(rtt) => {
                answered += 1;
                outln!(out, "reply from {addr}: seq {seq}, time {}.{:03} ms", rtt.as_micros() / 1000, rtt.as_micros() % 1000);
            }
            Err(e) => outln!(out, "ping {addr}: seq {seq}: {e}"),
        }
    }
    outln!(out, "ping {addr}: 4 sent, {answered} answered");
}

async fn tokens(out: &mut Out) {
    let mut s = String::from("TOKEN              STATE  COLLISIONS\n");
    let mut any = false;
    io::token::for_each(|t| {
        any = true;
        let state = if t.is_held() { "held" } else { "free" };
        let _ = writeln!(s, "{:<18} {state:<6} {}", t.name(), t.collisions());
    });
    if !any {
        s.push_str("(no token listed yet: statics list themselves with Token::list; pool tokens when first used)\n");
    }
    out.write(&s).await;
}

async fn set_log(out: &mut Out, level: &str) {
    let filter = match level.to_ascii_lowercase().as_str() {
        "off" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => {
            outln!(out, "usage: log off|error|warn|info|debug|trace (now {})", log::max_level());
            return;
        }
    };
    log::set_max_level(filter);
    outln!(out, "log level {filter}");
}

async fn on(out: &mut Out, rest: &str) {
    let (cpu, command) = rest.split_once(char::is_whitespace).map_or((rest, ""), |(c, r)| (c, r.trim()));
    let target = match cpu.parse::<usize>() {
        Ok(n) if n < smp::online() => cpu_id(n),
        _ => {
            outln!(out, "usage: on CPU COMMAND (CPU is 0..{})", smp::online().saturating_sub(1));
            return;
        }
    };
    if command.is_empty() {
        outln!(out, "usage: on CPU COMMAND");
        return;
    }
    let command = String::from(command);
    run_on::run_on(target, move || async move { run(&command).await }).await;
}

/// The most `spin` will spin: long enough to see a stall, short enough
/// that a typo does not lose a CPU for good.
const SPIN_LIMIT_MS: u64 = 60_000;

async fn spin(out: &mut Out, rest: &str) {
    let mut words = rest.split_whitespace();
    let (cpu, ms) = match (words.next().map(str::parse::<usize>), words.next().map(str::parse::<u64>), words.next()) {
        (Some(Ok(n)), Some(Ok(ms)), None) if n < smp::online() && ms <= SPIN_LIMIT_MS => (cpu_id(n), ms),
        _ => {
            outln!(out, "usage: spin CPU MS (CPU 0..{}, MS at most {SPIN_LIMIT_MS})", smp::online().saturating_sub(1));
            return;
        }
    };
    // The spinning task is on its own: the prompt comes back at once (unless
    // CPU is this one, which then runs nothing else until it is done).
    drop(run_on::spawn_on_named(cpu, "spin", async move { time::delay_us(ms * 1000) }));
    outln!(out, "spinning on {cpu} for {ms} ms without yielding");
}

async fn bench(out: &mut Out) {
    if cfg!(debug_assertions) {
        outln!(
            out,
            "note: a dev kernel (optimised, but with debug assertions and overflow checks): BENCHMARKS.md's figures come from cargo run -- --release"
        );
    }
    outln!(out, "running the IPI-queue benchmark...");
    match bench::ipi_queues().await {
        Ok(table) => out.write(&table).await,
        Err(e) => outln!(out, "IPI-queue benchmark: {e}"),
    }
    outln!(out, "running the executor benchmark...");
    let table = bench::executor().await;
    out.write(&table).await;
    outln!(out, "running the token benchmark...");
    let table = bench::tokens().await;
    out.write(&table).await;
    outln!(out, "running the port benchmark...");
    match bench::ports().await {
        Ok(table) => out.write(&table).await,
        Err(e) => outln!(out, "port benchmark: {e}"),
    }
    outln!(out, "running the heap benchmark...");
    let table = bench::heap().await;
    out.write(&table).await;
    outln!(out, "running the driver benchmark...");
    match bench::drivers().await {
        Ok(table) => out.write(&table).await,
        Err(e) => outln!(out, "driver benchmark: {e}"),
    }
}
