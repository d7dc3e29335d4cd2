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
    Ok(u64::from(pid))
}

/// Arms (or, with `None`, cancels) the process's SIGALRM; returns what was
/// left of the previous one.
fn arm(p: &mut Process, after: Option<Duration>) -> Duration {
    let left = match p.alarm.take() {
        Some((due, task)) => {
            task.abort();
            due.saturating_duration_since(Instant::now())
        }
        None => Duration::ZERO,
    };
    if let Some(after) = after {
        let info = Arc::clone(&p.info);
        let due = Instant::now() + after;
        let task = kernel::exec::spawn_named("alarm", async move {
            kernel::time::sleep_until(due).await;
            signal::send(&info, signal::sig::SIGALRM);
        });
        p.alarm = Some((due, task));
    }
    left
}

/// `alarm(seconds)`: SIGALRM after that long (0 cancels); returns the
/// seconds left of the previous alarm, rounded up.
pub(super) fn alarm(p: &mut Process, seconds: u64) -> SysResult {
    let after = (seconds != 0).then(|| Duration::from_secs(seconds.min(u64::from(u32::MAX))));
    let left = arm(p, after);
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

fn encode_itimer(left: Duration) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[16..24].copy_from_slice(&left.as_secs().to_le_bytes());
    out[24..32].copy_from_slice(&u64::from(left.subsec_micros()).to_le_bytes());
    out
}

/// `setitimer(ITIMER_REAL, new, old)` (one-shot: an interval is refused;
/// the other timers are not supported).
pub(super) fn setitimer(p: &mut Process, a: Args) -> SysResult {
    if a.get(0) != 0 {
        return Err(errno::EINVAL);
    }
    let mut new = [0u8; 32];
    user::read(&mut p.memory, a.get(1), &mut new)?;
    let interval = timeval(&new[..16])?;
    let value = timeval(&new[16..])?;
    if !interval.is_zero() {
        return Err(errno::EINVAL);
    }
    let left = arm(p, (!value.is_zero()).then_some(value));
    if a.get(2) != 0 {
        user::write(&mut p.memory, a.get(2), &encode_itimer(left))?;
    }
    Ok(0)
}

pub(super) fn getitimer(p: &mut Process, a: Args) -> SysResult {
    if a.get(0) != 0 {
        return Err(errno::EINVAL);
    }
    let left = p.alarm.as_ref().map_or(Duration::ZERO, |(due, _)| due.saturating_duration_since(Instant::now()));
    user::write(&mut p.memory, a.get(1), &encode_itimer(left))?;
    Ok(0)
}
