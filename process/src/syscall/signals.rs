//! `kill` and friends, process groups and sessions, `rt_sigsuspend`,
//! `alarm` and `setitimer`.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use core::time::Duration;

use kernel::time::Instant;
use linux::errno::{self, Errno};

use super::{Args, SysResult};
use crate::process::{self, Info, Process};
use crate::signal::{self, UNBLOCKABLE};
use crate::user;

/// `kill(pid, sig)`: one process (pid > 0), the caller's group (0), every
/// process but 1 and the caller (-1), or group -pid.
pub(super) fn kill(p: &mut Process, pid: i32, sig: u64) -> SysResult {
    if sig > 64 {
        return Err(errno::EINVAL);
    }
    let me = p.pid();
    let targets: alloc::vec::Vec<Arc<Info>> = match pid {
        0 => {
            let group = p.info.pgid.load(Ordering::Relaxed);
            process::list().into_iter().filter(|i| i.pgid.load(Ordering::Relaxed) == group).collect()
        }
        -1 => process::list().into_iter().filter(|i| i.pid != 1 && i.pid != me).collect(),
        i32::MIN => return Err(errno::ESRCH),
        g if g < 0 => process::list().into_iter().filter(|i| i.pgid.load(Ordering::Relaxed) == (-g) as u32).collect(),
        pid => process::find(pid as u32).into_iter().collect(),
    };
    if targets.is_empty() {
        return Err(errno::ESRCH);
    }
    if sig != 0 {
        for t in &targets {
            signal::send(t, sig as u8);
        }
    }
    Ok(0)
}

pub(super) fn sigpending(p: &mut Process, a: Args) -> SysResult {
    let pending = p.info.pending.load(Ordering::Acquire) & p.sigmask;
    user::write_u64(&mut p.memory, a.get(0), pending)?;
    Ok(0)
}

/// `rt_sigsuspend(mask)`'s first half: the mask is replaced until a
/// handler runs (then restored: `signal::deliver`); the waiting half is the
/// system call's race with the signal.
pub(super) fn begin_suspend(p: &mut Process, a: Args) -> Result<(), Errno> {
    if a.get(1) != 8 {
        return Err(errno::EINVAL);
    }
    let mask = user::read_u64(&mut p.memory, a.get(0))?;
    p.saved_mask = Some(p.sigmask);
    p.sigmask = mask & !UNBLOCKABLE;
    Ok(())
}

fn resolve(p: &Process, pid: i32) -> Result<Arc<Info>, Errno> {
    match pid {
        0 => Ok(Arc::clone(&p.info)),
        pid if pid > 0 => process::find(pid as u32).ok_or(errno::ESRCH),
        _ => Err(errno::EINVAL),
    }
}

/// `setpgid(pid, pgid)`: the caller or one of its children.
pub(super) fn setpgid(p: &mut Process, pid: i32, pgid: i32) -> SysResult {
    if pgid < 0 {
        return Err(errno::EINVAL);
    }
    let target = resolve(p, pid)?;
    let mine = target.pid == p.pid() || p.children.iter().any(|c| c.info.pid == target.pid);
    if !mine {
        return Err(errno::ESRCH);
    }
    let group = if pgid == 0 { target.pid } else { pgid as u32 };
    target.pgid.store(group, Ordering::Relaxed);
    Ok(0)
}

pub(super) fn getpgid(p: &mut Process, pid: i32) -> SysResult {
    Ok(u64::from(resolve(p, pid)?.pgid.load(Ordering::Relaxed)))
}

pub(super) fn getsid(p: &mut Process, pid: i32) -> SysResult {
    Ok(u64::from(resolve(p, pid)?.sid.load(Ordering::Relaxed)))
}

/// `setsid()`: a new session and group, led by the caller (EPERM if it
/// leads a group already).
pub(super) fn setsid(p: &mut Process) -> SysResult {
    let pid = p.pid();
    if p.info.pgid.load(Ordering::Relaxed) == pid {
        return Err(errno::EPERM);
    }
    p.info.pgid.store(pid, Ordering::Relaxed);
    p.info.sid.store(pid, Ordering::Relaxed);
    p.ctty = None;
    Ok(u64::from(pid))
}

/// The shortest period a periodic timer gets: a shorter one is taken as
/// this (a program cannot make the kernel do nothing but send it signals).
const MIN_INTERVAL: Duration = Duration::from_micros(100);

/// What is left of the process's real-time timer, and its period.
fn timer_now(p: &Process) -> (Duration, Duration) {
    let Some(alarm) = &p.alarm else { return (Duration::ZERO, Duration::ZERO) };
    let now = Instant::now();
    let left = if now < alarm.first || alarm.interval.is_zero() {
        alarm.first.saturating_duration_since(now)
    } else {
        // Periodic and past its first expiry: the next one.
        let since = now.saturating_duration_since(alarm.first).as_nanos();
        let period = alarm.interval.as_nanos();
        Duration::from_nanos((period - since % period) as u64)
    };
    (left, alarm.interval)
}

/// Arms (or, with `None`, cancels) the process's SIGALRM, first after
/// `after`, then every `interval` if it is not zero; returns what was left
/// of the previous timer and its period. A periodic timer that falls
/// behind (its CPU busy) skips the expiries it missed, as Linux's does:
/// one SIGALRM, and the next one a period on.
fn arm(p: &mut Process, after: Option<Duration>, interval: Duration) -> (Duration, Duration) {
    let old = timer_now(p);
    if let Some(alarm) = p.alarm.take() {
        alarm.task.abort();
    }
    if let Some(after) = after {
        let info = Arc::clone(&p.info);
        let interval = if interval.is_zero() { interval } else { interval.max(MIN_INTERVAL) };
        let first = Instant::now() + after;
        let task = kernel::exec::spawn_named("alarm", async move {
            let mut due = first;
            loop {
                kernel::time::sleep_until(due).await;
                signal::send(&info, signal::sig::SIGALRM);
                if interval.is_zero() {
                    return;
                }
                due = due + interval;
                let now = Instant::now();
                if due <= now {
                    let late = now.saturating_duration_since(due).as_nanos() % interval.as_nanos();
                    due = now + (interval - Duration::from_nanos(late as u64));
                }
            }
        });
        p.alarm = Some(crate::process::Alarm { first, interval, task });
    }
    old
}

/// `alarm(seconds)`: SIGALRM after that long (0 cancels); returns the
/// seconds left of the previous alarm, rounded up.
pub(super) fn alarm(p: &mut Process, seconds: u64) -> SysResult {
    let after = (seconds != 0).then(|| Duration::from_secs(seconds.min(u64::from(u32::MAX))));
    let (left, _) = arm(p, after, Duration::ZERO);
    Ok(left.as_secs() + u64::from(left.subsec_nanos() > 0))
}

fn timeval(bytes: &[u8]) -> Result<Duration, Errno> {
    let sec = i64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let usec = i64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(errno::EINVAL);
    }
    Ok(Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64))
}

fn encode_itimer((left, interval): (Duration, Duration)) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&interval.as_secs().to_le_bytes());
    out[8..16].copy_from_slice(&u64::from(interval.subsec_micros()).to_le_bytes());
    out[16..24].copy_from_slice(&left.as_secs().to_le_bytes());
    out[24..32].copy_from_slice(&u64::from(left.subsec_micros()).to_le_bytes());
    out
}

/// `setitimer(ITIMER_REAL, new, old)`, one-shot or periodic (the other
/// timers are not supported).
pub(super) fn setitimer(p: &mut Process, a: Args) -> SysResult {
    if a.get(0) != 0 {
        return Err(errno::EINVAL);
    }
    let mut new = [0u8; 32];
    user::read(&mut p.memory, a.get(1), &mut new)?;
    let interval = timeval(&new[..16])?;
    let value = timeval(&new[16..])?;
    // The old value's pointer is checked before anything changes.
    if a.get(2) != 0 {
        let old = encode_itimer(timer_now(p));
        user::write(&mut p.memory, a.get(2), &old)?;
    }
    arm(p, (!value.is_zero()).then_some(value), interval);
    Ok(0)
}

pub(super) fn getitimer(p: &mut Process, a: Args) -> SysResult {
    if a.get(0) != 0 {
        return Err(errno::EINVAL);
    }
    let now = encode_itimer(timer_now(p));
    user::write(&mut p.memory, a.get(1), &now)?;
    Ok(0)
}
