//! `futex` for programs whose processes have one thread each (threads are
//! not done yet): nobody else can wait on a word of a process's private
//! memory, so `FUTEX_WAKE` wakes nobody (0), and `FUTEX_WAIT` answers
//! EAGAIN when the word has changed, else sleeps until its timeout
//! (ETIMEDOUT) or a signal (EINTR), as Linux would with no waker. glibc
//! calls them in single-threaded programs too (`pthread_once` wakes
//! waiters after every first run). Another operation is ENOSYS, logged.

use core::time::Duration;

use linux::errno::{self, Errno};
use linux::structs::Timespec;

use super::{Args, SysResult};
use crate::process::Process;
use crate::user;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
/// The operation's bits (the rest: `FUTEX_PRIVATE_FLAG`, `FUTEX_CLOCK_REALTIME`).
const FUTEX_CMD_MASK: u32 = 0x7f;
const FUTEX_CLOCK_REALTIME: u32 = 256;

/// `futex(uaddr, op, val, timeout, uaddr2, val3)`.
pub(super) async fn futex(p: &mut Process, a: Args) -> SysResult {
    let (at, op, val, timeout) = (a.get(0), a.uint(1), a.uint(2), a.get(3));
    if at % 4 != 0 {
        return Err(errno::EINVAL);
    }
    match op & FUTEX_CMD_MASK {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if op & FUTEX_CMD_MASK == FUTEX_WAKE_BITSET && a.uint(5) == 0 {
                return Err(errno::EINVAL);
            }
            Ok(0)
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let mut word = [0u8; 4];
            user::read(&mut p.memory, at, &mut word)?;
            if u32::from_le_bytes(word) != val {
                return Err(errno::EAGAIN);
            }
            let wait = if timeout == 0 {
                None
            } else {
                let mut bytes = [0u8; 16];
                user::read(&mut p.memory, timeout, &mut bytes)?;
                let t = Timespec::decode(&bytes).ok_or(errno::EINVAL)?;
                // FUTEX_WAIT's timeout is relative; the bitset one's is an
                // absolute time on its clock.
                Some(if op & FUTEX_CMD_MASK == FUTEX_WAIT {
                    t.as_nanos()
                } else {
                    let now = if op & FUTEX_CLOCK_REALTIME != 0 { super::info::realtime() } else { super::info::monotonic() };
                    t.as_nanos().saturating_sub(now)
                })
            };
            match wait {
                Some(ns) => {
                    kernel::time::sleep(Duration::from_nanos(ns)).await;
                    Err(errno::ETIMEDOUT)
                }
                // Only a signal ends it (the call is raced against them).
                None => futures_util::future::pending().await,
            }
        }
        cmd => Err(unsupported(p, cmd)),
    }
}

fn unsupported(p: &Process, cmd: u32) -> Errno {
    log::warn!("{} (pid {}): futex operation {cmd} is not implemented: ENOSYS", p.name(), p.pid());
    errno::ENOSYS
}
