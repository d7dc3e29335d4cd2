//! `epoll_create`, `epoll_create1`, `epoll_ctl`, `epoll_wait`,
//! `epoll_pwait` over the sets of `fs::epoll` (how a wait learns of
//! readiness without a polling loop is written there). Answers and their
//! order follow Linux's (`tests/programs/epoll.c` prints them on both).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::Poll;
use core::time::Duration;

use linux::errno::{self, Errno};
use linux::flags::epoll::*;

use super::SysResult;
use crate::fs::epoll::{EpollSet, Interest};
use crate::fs::{Device, Kind, OpenFile, Wanted};
use crate::process::Process;
use crate::user;

/// Bytes of one `struct epoll_event` (packed on x86-64: events, data).
const EVENT_SIZE: usize = 12;
/// The most events one wait may ask for (Linux's `EP_MAX_EVENTS`).
const MAX_EVENTS: i32 = i32::MAX / EVENT_SIZE as i32;
/// The bits that are flags, not events.
const FLAGS: u32 = EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE;

/// `epoll_create1(flags)`.
pub(super) fn create1(p: &mut Process, flags: u32) -> SysResult {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(errno::EINVAL);
    }
    Ok(p.files.insert(OpenFile::epoll(), flags & EPOLL_CLOEXEC != 0)? as u64)
}

/// `epoll_create(size)`: the size only has to be positive.
pub(super) fn create(p: &mut Process, size: i32) -> SysResult {
    if size <= 0 {
        return Err(errno::EINVAL);
    }
    create1(p, 0)
}

fn set_of(file: &OpenFile) -> Option<Arc<EpollSet>> {
    match &file.node.kind {
        Kind::Epoll(set) => Some(Arc::clone(set)),
        _ => None,
    }
}

/// Whether `file` can be watched: what can wait (pipes, sockets, the
/// terminal, the entropy device); files, directories, `/dev/null` and the
/// like are always ready and Linux answers EPERM for them.
fn can_wait(file: &OpenFile) -> bool {
    matches!(
        file.node.kind,
        Kind::Pipe(_) | Kind::Socket(_) | Kind::Tty(_) | Kind::PtyMaster(_) | Kind::Device(Device::Console | Device::Random)
    )
}

/// `epoll_ctl(epfd, op, fd, event)`.
pub(super) async fn ctl(p: &mut Process, epfd: i32, op: u32, fd: i32, event: u64) -> SysResult {
    let given = if matches!(op, EPOLL_CTL_ADD | EPOLL_CTL_MOD) {
        let mut raw = [0u8; EVENT_SIZE];
        user::read(&mut p.memory, event, &mut raw)?;
        Some((u32::from_le_bytes(raw[..4].try_into().expect("4")), u64::from_le_bytes(raw[4..].try_into().expect("8"))))
    } else {
        None
    };
    let epfile = p.files.get(epfd)?;
    let file = p.files.get(fd)?;
    if !can_wait(&file) && !matches!(file.node.kind, Kind::Epoll(_)) {
        return Err(errno::EPERM);
    }
    let Some(set) = set_of(&epfile) else { return Err(errno::EINVAL) };
    // Sets in sets are not done yet (nor is a set its own member).
    if matches!(file.node.kind, Kind::Epoll(_)) {
        return Err(errno::EINVAL);
    }
    // EPOLLEXCLUSIVE is for adding only.
    if op == EPOLL_CTL_MOD && given.is_some_and(|(events, _)| events & EPOLLEXCLUSIVE != 0) {
        return Err(errno::EINVAL);
    }
    let key = EpollSet::key(fd, &file);
    set.changed();
    set.interests
        .exclusive(|map| match (op, given) {
            (EPOLL_CTL_ADD, Some((events, data))) => {
                if map.contains_key(&key) {
                    return Err(errno::EEXIST);
                }
                map.insert(key, Interest::new(&file, events | EPOLLERR | EPOLLHUP, data));
                Ok(0)
            }
            (EPOLL_CTL_MOD, Some((events, data))) => {
                let i = map.get_mut(&key).ok_or(errno::ENOENT)?;
                i.events = events | EPOLLERR | EPOLLHUP;
                i.data = data;
                i.reported = false;
                Ok(0)
            }
            (EPOLL_CTL_DEL, _) => map.remove(&key).map(|_| 0).ok_or(errno::ENOENT),
            _ => Err(errno::EINVAL),
        })
        .await
}

/// `epoll_wait(epfd, events, maxevents, timeout_ms)` (and `epoll_pwait`,
/// whose mask the caller applied): waits until an interest is ready or
/// the timeout passes; the events written.
pub(super) async fn wait(p: &mut Process, epfd: i32, events: u64, maxevents: i32, timeout_ms: i32) -> SysResult {
    if maxevents <= 0 || maxevents > MAX_EVENTS {
        return Err(errno::EINVAL);
    }
    let epfile = p.files.get(epfd)?;
    let set = set_of(&epfile).ok_or(errno::EINVAL)?;
    // The whole array must lie in the program's half, as Linux checks first.
    let room = maxevents as u64 * EVENT_SIZE as u64;
    if events.checked_add(room).is_none_or(|end| end > kernel::arch::user_copy::USER_END) {
        return Err(errno::EFAULT);
    }
    let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
    let deadline = timeout.map(|t| kernel::time::Instant::now() + t);
    loop {
        let me = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let mut ready: Vec<(u32, u64)> = Vec::new();
        let mut live = set.live().await;
        let start = set.start(live.len());
        live.rotate_left(start);
        let mut last = None;
        for (at, (key, file)) in live.into_iter().enumerate() {
            if ready.len() == maxevents as usize {
                break;
            }
            let Some((watched, waker)) = set.interests.shared(|m| m.get(&key).map(|i| (i.events, i.waker_for(&me)))).await else {
                continue;
            };
            let ev = super::poll::readiness_bits(watched, file.poll(waker, Wanted::from_events(watched, watched & EPOLLET != 0)).await);
            let reported = set
                .interests
                .exclusive(|m| {
                    let i = m.get_mut(&key)?;
                    let fired = i.take_fired();
                    // Edge-triggered: once after it was added or changed,
                    // then only after its file woke it.
                    if ev == 0 || (i.events & EPOLLET != 0 && i.reported && !fired) {
                        return None;
                    }
                    i.reported = true;
                    if i.events & EPOLLONESHOT != 0 {
                        i.events &= FLAGS;
                    }
                    Some((ev, i.data))
                })
                .await;
            if let Some(event) = reported {
                ready.push(event);
                last = Some(start + at);
            }
        }
        if let Some(at) = last {
            set.reported_up_to(at);
        }
        if !ready.is_empty() || timeout == Some(Duration::ZERO) || !super::poll::woken_before(deadline).await {
            let mut out = Vec::with_capacity(ready.len() * EVENT_SIZE);
            for (ev, data) in &ready {
                out.extend_from_slice(&ev.to_le_bytes());
                out.extend_from_slice(&data.to_le_bytes());
            }
            user::write(&mut p.memory, events, &out)?;
            return Ok(ready.len() as u64);
        }
    }
}

/// `epoll_pwait`'s mask size must be a sigset's.
pub(super) fn check_mask_size(mask: u64, size: u64) -> Result<(), Errno> {
    if mask != 0 && size != 8 {
        return Err(errno::EINVAL);
    }
    Ok(())
}
