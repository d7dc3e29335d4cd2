//! `poll`, `ppoll`, `select`, `pselect6`: one loop over the descriptors'
//! readiness, each not-ready one leaving the task's waker where it will be
//! woken (a pipe's lists, the terminal's readers); then the task waits for
//! a wake or the timeout, and looks again.

use alloc::vec;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::Poll;
use core::time::Duration;

use futures_util::future::{Either, select};
use linux::errno::{self, Errno};
use linux::structs::Timespec;

use super::SysResult;
use crate::fs::Wanted;
use crate::process::Process;
use crate::user;

const POLLIN: i16 = 0x1;
const POLLPRI: i16 = 0x2;
const POLLOUT: i16 = 0x4;
const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
const POLLNVAL: i16 = 0x20;
const POLLRDNORM: i16 = 0x40;
const POLLWRNORM: i16 = 0x100;

/// Descriptors one call may watch (`RLIMIT_NOFILE`).
const MAX: usize = crate::fd::MAX_FDS;

/// Computes `revents` for each (fd, events); waits until one is non-zero
/// or `timeout` passes (`None`: no limit). Returns the `revents`.
async fn wait_ready(p: &mut Process, set: &[(i32, i16)], timeout: Option<Duration>) -> Vec<i16> {
    let deadline = timeout.map(|t| kernel::time::Instant::now() + t);
    loop {
        let waker = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let mut revents = vec![0i16; set.len()];
        for (i, &(fd, events)) in set.iter().enumerate() {
            if fd < 0 {
                continue;
            }
            let Ok(file) = p.files.get(fd) else {
                revents[i] = POLLNVAL;
                continue;
            };
            let ready = file.poll(waker.clone(), Wanted::from_events(events as u16 as u32, false)).await;
            // A hang-up and an error are reported whether asked for or not.
            revents[i] = readiness_bits(events as u16 as u32 | POLLHUP as u32 | POLLERR as u32, ready) as i16;
        }
        if revents.iter().any(|&r| r != 0) || timeout == Some(Duration::ZERO) || !woken_before(deadline).await {
            return revents;
        }
    }
}

/// The bits of `wanted` that readiness (readable, writable, hung up,
/// error) makes true: `poll`'s and epoll's bits are the same.
pub(super) fn readiness_bits(wanted: u32, (readable, writable, hup, err): (bool, bool, bool, bool)) -> u32 {
    const RDHUP: u32 = 0x2000;
    let mut r = 0;
    if readable {
        r |= wanted & (POLLIN | POLLRDNORM) as u32;
    }
    if writable {
        r |= wanted & (POLLOUT | POLLWRNORM) as u32;
    }
    if hup {
        r |= wanted & (POLLHUP as u32 | RDHUP);
    }
    if err {
        r |= wanted & POLLERR as u32;
    }
    r
}

/// Waits for a wake of the task (whose waker the caller left with what it
/// watches) or for `deadline`: true if woken first.
pub(super) async fn woken_before(deadline: Option<kernel::time::Instant>) -> bool {
    let mut first = true;
    let woken = poll_fn(|_| if core::mem::replace(&mut first, false) { Poll::Pending } else { Poll::Ready(()) });
    match deadline {
        None => {
            woken.await;
            true
        }
        Some(at) => {
            if kernel::time::Instant::now() >= at {
                return false;
            }
            let sleep = core::pin::pin!(kernel::time::sleep_until(at));
            matches!(select(core::pin::pin!(woken), sleep).await, Either::Left(_))
        }
    }
}

fn read_pollfds(p: &mut Process, at: u64, n: u64) -> Result<Vec<(i32, i16)>, Errno> {
    let n = usize::try_from(n).map_err(|_| errno::EINVAL)?;
    if n > MAX {
        return Err(errno::EINVAL);
    }
    let raw = user::read_vec(&mut p.memory, at, n * 8, MAX * 8)?;
    Ok(raw.chunks_exact(8).map(|c| (i32::from_le_bytes(c[..4].try_into().expect("4")), i16::from_le_bytes([c[4], c[5]]))).collect())
}

async fn poll_common(p: &mut Process, at: u64, n: u64, timeout: Option<Duration>) -> SysResult {
    let set = read_pollfds(p, at, n)?;
    let revents = wait_ready(p, &set, timeout).await;
    let mut out = Vec::with_capacity(set.len() * 8);
    for (&(fd, events), r) in set.iter().zip(&revents) {
        out.extend_from_slice(&fd.to_le_bytes());
        out.extend_from_slice(&events.to_le_bytes());
        out.extend_from_slice(&r.to_le_bytes());
    }
    user::write(&mut p.memory, at, &out)?;
    Ok(revents.iter().filter(|&&r| r != 0).count() as u64)
}

/// `poll(fds, n, timeout_ms)`.
pub(super) async fn poll(p: &mut Process, at: u64, n: u64, timeout_ms: i32) -> SysResult {
    let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
    poll_common(p, at, n, timeout).await
}

fn read_timespec(p: &mut Process, at: u64) -> Result<Option<Duration>, Errno> {
    if at == 0 {
        return Ok(None);
    }
    let mut b = [0u8; 16];
    user::read(&mut p.memory, at, &mut b)?;
    let t = Timespec::decode(&b).ok_or(errno::EINVAL)?;
    Ok(Some(Duration::from_nanos(t.as_nanos())))
}

/// `ppoll(fds, n, timeout, sigmask, size)`: the mask is applied for the
/// call's duration.
pub(super) async fn ppoll(p: &mut Process, at: u64, n: u64, timeout: u64, mask: u64) -> SysResult {
    let _ = mask;
    let r = match read_timespec(p, timeout) {
        Ok(timeout) => poll_common(p, at, n, timeout).await,
        Err(e) => Err(e),
    };
    // Every way out puts the mask back (a bad timeout too).
    restore_mask(p);
    r
}

/// Applies the mask at `mask` (if non-null) for the call's duration
/// (before the call is raced against signals: `syscall::handle`).
pub(super) fn apply_mask(p: &mut Process, mask: u64) -> Result<(), Errno> {
    if mask != 0 {
        let new = user::read_u64(&mut p.memory, mask)?;
        p.saved_mask = Some(p.sigmask);
        p.sigmask = new & !crate::signal::UNBLOCKABLE;
    }
    Ok(())
}

/// Puts the old mask back, unless a signal was taken meanwhile (delivery
/// restores it then, after the handler).
pub(super) fn restore_mask(p: &mut Process) {
    if let Some(old) = p.saved_mask.take() {
        p.sigmask = old;
    }
}

/// `select(n, read, write, except, timeout)` and `pselect6`, over `poll`.
pub(super) async fn select_fds(p: &mut Process, n: i32, sets: [u64; 3], timeout: Option<Duration>) -> SysResult {
    let n = usize::try_from(n).map_err(|_| errno::EINVAL)?;
    if n > MAX {
        return Err(errno::EINVAL);
    }
    let bytes = n.div_ceil(64) * 8;
    let mut bits: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (i, &at) in sets.iter().enumerate() {
        if at != 0 {
            bits[i] = user::read_vec(&mut p.memory, at, bytes, MAX / 8)?;
        }
    }
    let is_set = |v: &Vec<u8>, fd: usize| !v.is_empty() && v[fd / 8] & (1 << (fd % 8)) != 0;
    let mut set = Vec::new();
    for fd in 0..n {
        let mut events = 0;
        if is_set(&bits[0], fd) {
            events |= POLLIN;
        }
        if is_set(&bits[1], fd) {
            events |= POLLOUT;
        }
        if is_set(&bits[2], fd) {
            events |= POLLPRI;
        }
        if events != 0 {
            if p.files.get(fd as i32).is_err() {
                return Err(errno::EBADF);
            }
            set.push((fd as i32, events));
        }
    }
    let revents = wait_ready(p, &set, timeout).await;
    let mut out: [Vec<u8>; 3] = [vec![0; bytes], vec![0; bytes], vec![0; bytes]];
    let mut count = 0;
    for (&(fd, events), &r) in set.iter().zip(&revents) {
        let fd = fd as usize;
        for (i, flag) in [POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI].into_iter().enumerate() {
            let wanted = [POLLIN, POLLOUT, POLLPRI][i];
            if events & wanted != 0 && r & flag != 0 {
                out[i][fd / 8] |= 1 << (fd % 8);
                count += 1;
            }
        }
    }
    for (i, &at) in sets.iter().enumerate() {
        if at != 0 {
            user::write(&mut p.memory, at, &out[i])?;
        }
    }
    Ok(count)
}

/// `select`'s `struct timeval`.
pub(super) fn read_timeval(p: &mut Process, at: u64) -> Result<Option<Duration>, Errno> {
    if at == 0 {
        return Ok(None);
    }
    let mut b = [0u8; 16];
    user::read(&mut p.memory, at, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().expect("8"));
    let usec = i64::from_le_bytes(b[8..].try_into().expect("8"));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(errno::EINVAL);
    }
    Ok(Some(Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64)))
}

/// `pselect6(n, read, write, except, timespec, {sigmask, size})`.
pub(super) async fn pselect6(p: &mut Process, n: i32, sets: [u64; 3], timeout: u64, sigdata: u64) -> SysResult {
    let _ = sigdata;
    let r = match read_timespec(p, timeout) {
        Ok(timeout) => select_fds(p, n, sets, timeout).await,
        Err(e) => Err(e),
    };
    // Every way out puts the mask back (a bad timeout too).
    restore_mask(p);
    r
}
