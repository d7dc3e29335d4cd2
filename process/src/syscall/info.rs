//! Identity, time, limits, randomness, the thread pointer, signal masks.

use core::time::Duration;

use kernel::arch::user_mode::UserContext;
use linux::errno::{self, Errno};
use linux::flags::{arch_prctl as ap, clock};
use linux::structs::{Rlimit, Timespec, Utsname};

use super::{Args, SysResult};
use crate::memory::STACK_SIZE;
use crate::process::Process;
use crate::user;

pub(super) fn arch_prctl(p: &mut Process, ctx: &mut UserContext, a: Args) -> SysResult {
    match a.get(0) {
        ap::ARCH_SET_FS => {
            let base = a.get(1);
            if base >= pagetable::LOWER_HALF_END {
                return Err(errno::EPERM);
            }
            ctx.set_fs_base(base);
            Ok(0)
        }
        ap::ARCH_GET_FS => {
            user::write_u64(&mut p.memory, a.get(1), ctx.fs_base())?;
            Ok(0)
        }
        _ => Err(errno::EINVAL),
    }
}

pub(super) fn uname(p: &mut Process, a: Args) -> SysResult {
    let u = Utsname {
        sysname: "Linux",
        nodename: "odonata",
        release: "6.1.0-odonata",
        version: "#1 SMP Odonata",
        machine: "x86_64",
        domainname: "(none)",
    };
    user::write(&mut p.memory, a.get(0), &u.encode())?;
    Ok(0)
}

/// Nanoseconds since boot.
pub(super) fn monotonic() -> u64 {
    kernel::time::uptime().as_nanos() as u64
}

/// Nanoseconds since the epoch (the wall clock the machine started at, as
/// the RTC gave it, plus the time since boot).
pub(super) fn realtime() -> u64 {
    crate::clock::boot_epoch_seconds().saturating_mul(1_000_000_000).saturating_add(monotonic())
}

pub(super) fn clock_gettime(p: &mut Process, a: Args) -> SysResult {
    let ns = match a.uint(0) {
        clock::CLOCK_REALTIME | clock::CLOCK_REALTIME_COARSE => realtime(),
        clock::CLOCK_MONOTONIC | clock::CLOCK_MONOTONIC_RAW | clock::CLOCK_MONOTONIC_COARSE | clock::CLOCK_BOOTTIME => monotonic(),
        clock::CLOCK_PROCESS_CPUTIME_ID | clock::CLOCK_THREAD_CPUTIME_ID => monotonic(),
        _ => return Err(errno::EINVAL),
    };
    user::write(&mut p.memory, a.get(1), &Timespec::from_nanos(ns).encode())?;
    Ok(0)
}

pub(super) fn gettimeofday(p: &mut Process, a: Args) -> SysResult {
    if a.get(0) != 0 {
        let ns = realtime();
        let mut tv = [0u8; 16];
        tv[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
        tv[8..].copy_from_slice(&((ns % 1_000_000_000) / 1000).to_le_bytes());
        user::write(&mut p.memory, a.get(0), &tv)?;
    }
    Ok(0)
}

pub(super) fn time(p: &mut Process, a: Args) -> SysResult {
    let secs = realtime() / 1_000_000_000;
    if a.get(0) != 0 {
        user::write_u64(&mut p.memory, a.get(0), secs)?;
    }
    Ok(secs)
}

/// Limits as `getrlimit` reports them.
fn limit(resource: u32) -> Result<Rlimit, Errno> {
    const INFINITY: u64 = u64::MAX;
    Ok(match resource {
        // RLIMIT_STACK
        3 => Rlimit { cur: STACK_SIZE, max: INFINITY },
        // RLIMIT_NOFILE
        7 => Rlimit { cur: crate::fd::MAX_FDS as u64, max: crate::fd::MAX_FDS as u64 },
        // RLIMIT_NPROC
        6 => Rlimit { cur: crate::max_processes() as u64, max: crate::max_processes() as u64 },
        0..16 => Rlimit { cur: INFINITY, max: INFINITY },
        _ => return Err(errno::EINVAL),
    })
}

pub(super) fn prlimit(p: &mut Process, a: Args) -> SysResult {
    let pid = a.int(0);
    if pid != 0 && pid as u32 != p.pid() {
        return Err(errno::ESRCH);
    }
    let current = limit(a.uint(1))?;
    if a.get(3) != 0 {
        user::write(&mut p.memory, a.get(3), &current.encode())?;
    }
    if a.get(2) != 0 {
        // Limits are fixed here: a request to change one is refused.
        return Err(errno::EPERM);
    }
    Ok(0)
}

pub(super) fn getrlimit(p: &mut Process, a: Args) -> SysResult {
    let current = limit(a.uint(0))?;
    user::write(&mut p.memory, a.get(1), &current.encode())?;
    Ok(0)
}

/// Signal numbers are 1..=64; SIGKILL (9) and SIGSTOP (19) keep their
/// default action.
pub(super) fn rt_sigaction(p: &mut Process, a: Args) -> SysResult {
    let (sig, act, old, size) = (a.get(0), a.get(1), a.get(2), a.get(3));
    if size != 8 || !(1..=64).contains(&sig) {
        return Err(errno::EINVAL);
    }
    let i = (sig - 1) as usize;
    if old != 0 {
        let mut bytes = [0u8; 32];
        for (k, v) in p.sigactions[i].iter().enumerate() {
            bytes[k * 8..k * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        user::write(&mut p.memory, old, &bytes)?;
    }
    if act != 0 {
        if sig == 9 || sig == 19 {
            return Err(errno::EINVAL);
        }
        let mut bytes = [0u8; 32];
        user::read(&mut p.memory, act, &mut bytes)?;
        for (k, v) in p.sigactions[i].iter_mut().enumerate() {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[k * 8..k * 8 + 8]);
            *v = u64::from_le_bytes(w);
        }
        p.ignored = crate::signal::ignored(p);
        if sig == u64::from(crate::signal::sig::SIGCHLD) {
            let nocldstop = p.sigactions[i][1] & crate::signal::SA_NOCLDSTOP != 0;
            p.info.no_child_stop.store(nocldstop, core::sync::atomic::Ordering::Relaxed);
        }
    }
    Ok(0)
}

pub(super) fn rt_sigprocmask(p: &mut Process, a: Args) -> SysResult {
    let (how, set, old, size) = (a.get(0), a.get(1), a.get(2), a.get(3));
    if size != 8 {
        return Err(errno::EINVAL);
    }
    if old != 0 {
        user::write_u64(&mut p.memory, old, p.sigmask)?;
    }
    if set != 0 {
        let set = user::read_u64(&mut p.memory, set)?;
        // SIGKILL and SIGSTOP cannot be blocked.
        let unblockable = (1 << 8) | (1 << 18);
        p.sigmask = match how {
            0 => p.sigmask | set,
            1 => p.sigmask & !set,
            2 => set,
            _ => return Err(errno::EINVAL),
        } & !unblockable;
    }
    Ok(0)
}

pub(super) async fn nanosleep(p: &mut Process, req: u64, rem: u64) -> SysResult {
    let mut bytes = [0u8; 16];
    user::read(&mut p.memory, req, &mut bytes)?;
    let t = Timespec::decode(&bytes).ok_or(errno::EINVAL)?;
    sleep(p, Duration::from_nanos(t.as_nanos()), rem).await;
    if rem != 0 {
        user::write(&mut p.memory, rem, &Timespec::default().encode())?;
    }
    Ok(0)
}

/// Sleeps `wait`, or, in a sleep restarted after a stop, until the first
/// one's end (`Process::sleep`, which a cancelled sleep leaves for
/// `signal::settle`).
async fn sleep(p: &mut Process, wait: Duration, rem: u64) {
    let deadline = match p.sleep.take() {
        Some((deadline, _)) => deadline,
        None => kernel::time::Instant::now() + wait,
    };
    p.sleep = Some((deadline, rem));
    kernel::time::sleep_until(deadline).await;
    p.sleep = None;
}

pub(super) async fn clock_nanosleep(p: &mut Process, a: Args) -> SysResult {
    const TIMER_ABSTIME: u32 = 1;
    let (clock_id, flags, req, rem) = (a.uint(0), a.uint(1), a.get(2), a.get(3));
    let mut bytes = [0u8; 16];
    user::read(&mut p.memory, req, &mut bytes)?;
    let t = Timespec::decode(&bytes).ok_or(errno::EINVAL)?;
    let now = match clock_id {
        clock::CLOCK_REALTIME => realtime(),
        clock::CLOCK_MONOTONIC | clock::CLOCK_BOOTTIME => monotonic(),
        _ => return Err(errno::EINVAL),
    };
    let wait = if flags & TIMER_ABSTIME != 0 { t.as_nanos().saturating_sub(now) } else { t.as_nanos() };
    sleep(p, Duration::from_nanos(wait), if flags & TIMER_ABSTIME != 0 { 0 } else { rem }).await;
    if rem != 0 && flags & TIMER_ABSTIME == 0 {
        user::write(&mut p.memory, rem, &Timespec::default().encode())?;
    }
    Ok(0)
}

pub(super) async fn getrandom(p: &mut Process, a: Args) -> SysResult {
    let (buf, len, flags) = (a.get(0), a.get(1) as usize, a.uint(2));
    if flags & !(linux::flags::random::GRND_NONBLOCK | linux::flags::random::GRND_RANDOM | linux::flags::random::GRND_INSECURE) != 0 {
        return Err(errno::EINVAL);
    }
    let len = len.min(256);
    let mut bytes = alloc::vec![0u8; len];
    crate::fs::random_bytes(&mut bytes).await?;
    user::write(&mut p.memory, buf, &bytes)?;
    Ok(len as u64)
}

pub(super) fn prctl(p: &mut Process, a: Args) -> SysResult {
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    match a.get(0) {
        PR_SET_NAME => {
            let name = user::read_cstr(&mut p.memory, a.get(1), 4096)?;
            let name = &name[..name.len().min(15)];
            let now = p.info.program.get();
            let name = alloc::string::String::from_utf8_lossy(name).into_owned();
            p.info.program.set(alloc::sync::Arc::new(crate::process::Program { name, ..(*now).clone() }));
            Ok(0)
        }
        PR_GET_NAME => {
            let mut bytes = [0u8; 16];
            let name = p.name();
            let n = name.len().min(15);
            bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
            user::write(&mut p.memory, a.get(1), &bytes)?;
            Ok(0)
        }
        _ => Err(errno::EINVAL),
    }
}

/// `sysinfo`: uptime, memory, processes (what `free` and `uptime` ask).
pub(super) fn sysinfo(p: &mut Process, a: Args) -> SysResult {
    let frames = kernel::memory::frame::stats();
    let mut out = [0u8; 112];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &kernel::time::uptime().as_secs().to_le_bytes());
    for (i, load) in crate::loadavg::current().sysinfo_loads().into_iter().enumerate() {
        put(8 + 8 * i, &load.to_le_bytes());
    }
    put(32, &(frames.total * 4096).to_le_bytes());
    put(40, &crate::fs::procfs::free_bytes().to_le_bytes());
    // sharedram, bufferram, totalswap, freeswap: 0.
    put(80, &(crate::process::list().len() as u16).to_le_bytes());
    // totalhigh, freehigh: 0; mem_unit = 1.
    put(104, &1u32.to_le_bytes());
    user::write(&mut p.memory, a.get(0), &out)?;
    Ok(0)
}

/// `getcpu(cpu, node, cache)`: the CPU the caller runs on (node 0).
pub(super) fn getcpu(p: &mut Process, a: Args) -> SysResult {
    let cpu = kernel::smp::current().as_u32();
    if a.get(0) != 0 {
        user::write(&mut p.memory, a.get(0), &cpu.to_le_bytes())?;
    }
    if a.get(1) != 0 {
        user::write(&mut p.memory, a.get(1), &0u32.to_le_bytes())?;
    }
    Ok(0)
}

/// `sched_getaffinity(pid, size, mask)`: the CPU the thread runs on (a
/// thread stays on one CPU); returns the bytes written.
pub(super) fn sched_getaffinity(p: &mut Process, a: Args) -> SysResult {
    let size = usize::try_from(a.get(1)).map_err(|_| errno::EINVAL)?;
    let pid = a.int(0);
    let cpu = if pid == 0 || pid as u32 == p.pid() {
        kernel::smp::current().as_u32()
    } else {
        crate::process::find(pid as u32).ok_or(errno::ESRCH)?.cpu.load(core::sync::atomic::Ordering::Relaxed)
    };
    let bytes = kernel::arch::cpu_id::MAX_CPUS.div_ceil(64) * 8;
    if size < bytes || size % 8 != 0 {
        return Err(errno::EINVAL);
    }
    let mut mask = alloc::vec![0u8; bytes];
    mask[cpu as usize / 8] |= 1 << (cpu % 8);
    user::write(&mut p.memory, a.get(2), &mask)?;
    Ok(bytes as u64)
}

/// `sched_setaffinity(pid, size, mask)` for the caller: a thread runs on one
/// CPU; if the mask leaves out the one it runs on, it moves to the mask's
/// first online CPU (`Some`: the caller's thread migrates). Other threads
/// than the caller's are not moved (EPERM).
pub(super) fn sched_setaffinity(p: &mut Process, a: Args) -> Result<Option<kernel::arch::cpu_id::CpuId>, Errno> {
    let pid = a.int(0);
    if pid != 0 && pid as u32 != p.pid() {
        return Err(if crate::process::find(pid as u32).is_some() { errno::EPERM } else { errno::ESRCH });
    }
    let size = usize::try_from(a.get(1)).map_err(|_| errno::EINVAL)?.min(128);
    let mask = user::read_vec(&mut p.memory, a.get(2), size, 128)?;
    let online = kernel::smp::online();
    let allowed = |cpu: usize| cpu < online && mask.get(cpu / 8).is_some_and(|b| b & (1 << (cpu % 8)) != 0);
    let here = kernel::smp::current().as_usize();
    if allowed(here) {
        return Ok(None);
    }
    let target = (0..online).find(|&c| allowed(c)).ok_or(errno::EINVAL)?;
    Ok(kernel::arch::cpu_id::CpuId::try_new(target))
}
