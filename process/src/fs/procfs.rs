//! `/proc`: what `ps`, `top`, `free` and `uptime` read, generated when it
//! is looked at. Looking up an entry makes that entry (a process's
//! directory, a file) with its contents as of then, as Linux makes them
//! per read (the same to a program that opens, reads and closes); listing
//! `/proc` makes a snapshot of the whole directory.
//!
//! `/proc/self` names the process that looks: the system-call layer tells
//! this module whose call is running on the CPU ([`set_caller`]).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

use kernel::arch::cpu_id::MAX_CPUS;
use linux::errno::{self, Errno};

use super::node::{Kind, Node};
use crate::process::{self, Info};

/// One CPU's caller, on a cache line of its own: every system call writes
/// it, and CPUs must not take each other's lines for that.
#[repr(align(64))]
struct Caller(AtomicU32);

/// The process whose system call runs on each CPU now.
static CALLER: [Caller; MAX_CPUS] = [const { Caller(AtomicU32::new(0)) }; MAX_CPUS];

/// Records that process `pid`'s call runs on this CPU (for `/proc/self`).
pub fn set_caller(pid: u32) {
    CALLER[kernel::smp::current().as_usize()].0.store(pid, Ordering::Relaxed);
}

fn caller() -> u32 {
    CALLER[kernel::smp::current().as_usize()].0.load(Ordering::Relaxed)
}

/// Clock ticks per second in `/proc` (`AT_CLKTCK`, `sysconf(_SC_CLK_TCK)`).
pub const HZ: u64 = 100;

fn file(text: String) -> Arc<Node> {
    Node::new(Kind::file(text.into_bytes()), 0o444, crate::clock::boot_epoch_seconds())
}

fn ticks(cycles: u64) -> u64 {
    let hz = kernel::time::tsc_hz().max(1);
    (u128::from(cycles) * u128::from(HZ) / u128::from(hz)) as u64
}

/// What makes a file's text from the live processes' records.
type Maker = fn(&[Arc<Info>]) -> String;

/// The files at the top of `/proc`, and what makes each.
const FILES: [(&str, Maker); 8] = [
    ("uptime", |_| uptime()),
    ("loadavg", loadavg),
    ("meminfo", |_| meminfo()),
    ("cpuinfo", |_| cpuinfo()),
    ("stat", stat),
    ("version", |_| String::from("Linux version 6.1.0-odonata (Odonata) #1 SMP\n")),
    ("mounts", |_| mounts()),
    ("filesystems", |_| String::from("nodev\trootfs\nnodev\tproc\n\text2\n")),
];

/// `/proc/mounts`: the root, every mount, and `/proc`.
fn mounts() -> String {
    let table = super::mount::list();
    let mut s = String::new();
    if !table.iter().any(|m| m.path == "/") {
        s += "rootfs / rootfs rw 0 0\n";
    }
    for m in &table {
        match &m.vol {
            Some(vol) => {
                let mode = if vol.read_only() { "ro" } else { "rw" };
                s += &format!("/dev/{} {} ext2 {mode} 0 0\n", vol.name(), m.path);
            }
            None if m.path == "/proc" => s += "proc /proc proc rw 0 0\n",
            None => s += &format!("devtmpfs {} devtmpfs rw 0 0\n", m.path),
        }
    }
    if !table.iter().any(|m| m.path == "/proc") {
        s += "proc /proc proc rw 0 0\n";
    }
    s
}

/// The `/proc` directory now, whole (for listing it).
pub fn snapshot() -> Arc<Node> {
    let root = Node::dir(0o555);
    let infos = process::list();
    let _ = root.insert("self", self_link());
    for info in &infos {
        let _ = root.insert(&format!("{}", info.pid), process_dir(info));
    }
    for (name, make) in FILES {
        let _ = root.insert(name, file(make(&infos)));
    }
    root
}

/// Entry `name` of `/proc`, made now and alone: a path through `/proc`
/// (`/proc/self/exe`, `/proc/PID/stat`) costs one entry, not the whole
/// directory.
pub fn child(name: &str) -> Result<Arc<Node>, Errno> {
    if name == "self" {
        return Ok(self_link());
    }
    // A process's directory: its id in decimal, without leading zeros.
    if !name.starts_with('0')
        && let Ok(pid) = name.parse::<u32>()
    {
        return process::find(pid).map(|info| process_dir(&info)).ok_or(errno::ENOENT);
    }
    let (_, make) = FILES.iter().find(|(n, _)| *n == name).ok_or(errno::ENOENT)?;
    let infos = if name == "loadavg" || name == "stat" { process::list() } else { Vec::new() };
    Ok(file(make(&infos)))
}

fn self_link() -> Arc<Node> {
    Node::new(Kind::Symlink(format!("{}", caller())), 0o777, 0)
}

fn process_dir(info: &Arc<Info>) -> Arc<Node> {
    let dir = Node::dir(0o555);
    let program = info.program.get();
    let (name, cmdline) = (program.name.clone(), program.cmdline.clone());
    let state = if info.stopped.load(Ordering::Relaxed) {
        'T'
    } else if info.waiting_in.load(Ordering::Relaxed) != 0 {
        'S'
    } else {
        'R'
    };
    let ppid = info.ppid.load(Ordering::Relaxed);
    let (pgid, sid) = (info.pgid.load(Ordering::Relaxed), info.sid.load(Ordering::Relaxed));
    let utime = ticks(info.user_cycles.load(Ordering::Relaxed));
    let vsize = info.vsize.load(Ordering::Relaxed);
    let rss = info.faults.load(Ordering::Relaxed);
    let start = ticks(info.started_at);
    let cpu = info.cpu.load(Ordering::Relaxed);
    // Fields 1..=52 of proc(5)'s stat; those not kept here are 0.
    let stat = format!(
        "{} ({name}) {state} {ppid} {pgid} {sid} 0 -1 4194304 {rss} 0 0 0 {utime} 0 0 0 20 0 1 0 {start} {vsize} {rss} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 {cpu} 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
        info.pid
    );
    let status = format!(
        "Name:\t{name}\nUmask:\t0022\nState:\t{}\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{ppid}\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\nVmSize:\t{} kB\nVmRSS:\t{} kB\nThreads:\t1\nCpus_allowed_list:\t{cpu}\n",
        match state {
            'T' => "T (stopped)",
            'S' => "S (sleeping)",
            _ => "R (running)",
        },
        vsize / 1024,
        rss * 4,
        pid = info.pid
    );
    let _ = dir.insert("stat", file(stat));
    let _ = dir.insert("status", file(status));
    let _ = dir.insert("comm", file(format!("{name}\n")));
    let _ = dir.insert("cmdline", Node::new(Kind::file(cmdline), 0o444, 0));
    let _ = dir.insert("exe", Node::new(Kind::Symlink(program.exe.clone()), 0o777, 0));
    // What it waits in: the call's number (Linux adds the arguments, the
    // stack and program counters, which are not kept here), or "running".
    let syscall = match info.waiting_in.load(Ordering::Relaxed) {
        0 => String::from("running\n"),
        call => format!("{}\n", call - 1),
    };
    let _ = dir.insert("syscall", file(syscall));
    dir
}

fn uptime() -> String {
    let up = kernel::time::uptime();
    let idle: u64 = (0..kernel::smp::online()).filter_map(kernel::arch::cpu_id::CpuId::try_new).map(kernel::exec::idle_cycles).sum();
    let idle = ticks(idle);
    format!("{}.{:02} {}.{:02}\n", up.as_secs(), up.subsec_millis() / 10, idle / HZ, idle % HZ)
}

fn loadavg(infos: &[Arc<Info>]) -> String {
    let running = infos.iter().filter(|i| i.runnable()).count();
    let last = infos.iter().map(|i| i.pid).max().unwrap_or(0);
    let [(a, a2), (b, b2), (c, c2)] = crate::loadavg::current().text();
    format!("{a}.{a2:02} {b}.{b2:02} {c}.{c2:02} {running}/{} {last}\n", infos.len())
}

/// Free memory in bytes as programs see it: free frames, plus what the
/// kernel heap (carved from frames at boot) has not handed out, so kernel
/// objects count as used as they do on Linux (its slab).
pub fn free_bytes() -> u64 {
    let frames = kernel::memory::frame::stats();
    let heap = kernel::heap::stats();
    (frames.total - frames.in_use) * 4096 + heap.size.saturating_sub(heap.used)
}

fn meminfo() -> String {
    let frames = kernel::memory::frame::stats();
    let total = frames.total * 4;
    let free = free_bytes() / 1024;
    let mut s = String::new();
    for (k, v) in [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Shmem", 0),
        ("SReclaimable", 0),
    ] {
        let _ = writeln!(s, "{k}:{:>16} kB", v);
    }
    s
}

fn cpuinfo() -> String {
    let mut s = String::new();
    let brand = brand_string();
    for i in 0..kernel::smp::online() {
        let _ = write!(
            s,
            "processor\t: {i}\nvendor_id\t: {}\nmodel name\t: {brand}\ncpu MHz\t\t: {}.000\nphysical id\t: 0\ncore id\t\t: {i}\ncpu cores\t: {}\nflags\t\t: fpu tsc sse sse2\n\n",
            vendor(),
            kernel::time::tsc_khz() / 1000,
            kernel::smp::online()
        );
    }
    s
}

fn vendor() -> String {
    let r = core::arch::x86_64::__cpuid(0);
    let bytes: Vec<u8> = [r.ebx, r.edx, r.ecx].iter().flat_map(|w| w.to_le_bytes()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn brand_string() -> String {
    if core::arch::x86_64::__cpuid(0x8000_0000).eax < 0x8000_0004 {
        return String::from("unknown");
    }
    let mut bytes = Vec::new();
    for leaf in 0x8000_0002..=0x8000_0004u32 {
        let r = core::arch::x86_64::__cpuid(leaf);
        for w in [r.eax, r.ebx, r.ecx, r.edx] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
    }
    String::from_utf8_lossy(&bytes).trim_end_matches('\0').trim().into()
}

fn stat(infos: &[Arc<Info>]) -> String {
    let mut s = String::new();
    let cpus: Vec<_> = (0..kernel::smp::online()).filter_map(kernel::arch::cpu_id::CpuId::try_new).collect();
    let up = ticks(kernel::arch::cpu::rdtsc());
    let line = |idle: u64, total: u64| format!("{} 0 0 {idle} 0 0 0 0 0 0", total.saturating_sub(idle));
    let idle_all: u64 = cpus.iter().map(|&c| ticks(kernel::exec::idle_cycles(c))).sum();
    let _ = writeln!(s, "cpu  {}", line(idle_all, up * cpus.len() as u64));
    for &c in &cpus {
        let _ = writeln!(s, "cpu{} {}", c.as_usize(), line(ticks(kernel::exec::idle_cycles(c)), up));
    }
    let running = infos.iter().filter(|i| i.runnable()).count();
    let _ = write!(
        s,
        "intr 0\nctxt 0\nbtime {}\nprocesses {}\nprocs_running {running}\nprocs_blocked 0\n",
        crate::clock::boot_epoch_seconds(),
        process::started()
    );
    s
}
