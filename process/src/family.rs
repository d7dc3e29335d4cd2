//! Parents and children across CPUs, without a shared lock.
//!
//! A parent owns its list of children (its task's state: nobody else
//! touches it). Each child shares one [`ExitCell`] with its parent: at exit
//! the child stores its status there (one atomic store, Release) and wakes
//! the parent's one [`ChildEvents`] waker; `wait4` looks through its list
//! for a stored status (Acquire), and registers its waker before looking
//! again, so a wake between the look and the wait is never lost.
//!
//! A stop or a continue is reported the same way, through the cell's
//! `change` word, which `wait4` with WUNTRACED or WCONTINUED takes.
//!
//! An orphan (its parent exited first) gets parent 1, as on Linux, and
//! is reaped when it ends (nobody is left to wait for it).

use alloc::sync::Arc;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use core::task::Poll;

use io::AtomicWaker;

use crate::process::{ExitStatus, Info};

/// The parent's waker, woken by any child's exit.
#[derive(Default)]
pub struct ChildEvents {
    waker: AtomicWaker,
}

impl ChildEvents {
    /// A new one.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

/// One child's exit status, and its stops and continues, shared with its
/// parent.
pub struct ExitCell {
    /// 0 while it runs; `EXITED | wait status` once it has exited.
    status: AtomicU64,
    /// A stop or continue not yet reported (`wait4` with WUNTRACED or
    /// WCONTINUED): its wait status, or 0, with [`POSTED`] once its
    /// SIGCHLD is. A newer change replaces an older one, as on Linux.
    change: AtomicU32,
    parent: Arc<ChildEvents>,
    /// The parent's record, for SIGCHLD.
    parent_info: Arc<Info>,
    /// SIGCHLD has been posted for this exit (by the child, or by the
    /// parent that reaped it first: exactly once).
    signalled: AtomicBool,
}

const EXITED: u64 = 1 << 32;
/// The wait status of a continued child.
pub const CONTINUED: u32 = 0xffff;
/// In `ExitCell::change`: SIGCHLD has been posted for the change.
const POSTED: u32 = 1 << 31;

impl ExitCell {
    /// A cell for a child of the parent whose events are `parent`.
    pub fn new(parent: &Arc<ChildEvents>, parent_info: &Arc<Info>) -> Arc<Self> {
        Arc::new(Self {
            status: AtomicU64::new(0),
            change: AtomicU32::new(0),
            parent: Arc::clone(parent),
            parent_info: Arc::clone(parent_info),
            signalled: AtomicBool::new(false),
        })
    }

    /// The child exits with `status`; its parent is woken and sent SIGCHLD.
    ///
    /// The status is visible before SIGCHLD is (a handler that runs finds
    /// the child reapable, as shells expect), and a parent that reaps the
    /// child between the two posts SIGCHLD itself ([`Self::post_sigchld`]),
    /// so that `wait4` never returns before the signal is pending.
    pub fn exit(&self, status: ExitStatus) {
        self.status.store(EXITED | u64::from(status.wait_status()), Ordering::Release);
        self.post_sigchld();
        self.parent.waker.wake();
    }

    /// The child stopped on `signal` (or, with `None`, was continued): the
    /// change waits for its parent's `wait4`, and the parent gets SIGCHLD
    /// unless its SIGCHLD action has SA_NOCLDSTOP.
    ///
    /// As for an exit, a parent that finds the change before the child
    /// posted SIGCHLD for it posts it itself (the [`POSTED`] bit says who
    /// did, once), so that `wait4` never returns a change whose SIGCHLD is
    /// not pending yet: two changes' signals could otherwise merge into
    /// one (a parent counting them in a handler saw one for two).
    pub fn changed(&self, stopped_by: Option<u8>) {
        let status = stopped_by.map_or(CONTINUED, |s| (u32::from(s) << 8) | 0x7f);
        self.change.store(status, Ordering::Release);
        self.post_change(status);
        self.parent.waker.wake();
    }

    /// Posts SIGCHLD for the change `status` unless it has been already
    /// (or the change was taken or replaced meanwhile).
    fn post_change(&self, status: u32) {
        let marked = self.change.compare_exchange(status, status | POSTED, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if marked && !self.parent_info.no_child_stop.load(Ordering::Relaxed) {
            crate::signal::send(&self.parent_info, crate::signal::sig::SIGCHLD);
        }
    }

    /// Posts SIGCHLD for this exit unless it has been already.
    fn post_sigchld(&self) {
        if !self.signalled.swap(true, Ordering::AcqRel) {
            crate::signal::send(&self.parent_info, crate::signal::sig::SIGCHLD);
        }
    }

    /// The child's wait status, if it has exited.
    pub fn status(&self) -> Option<u32> {
        let s = self.status.load(Ordering::Acquire);
        (s & EXITED != 0).then_some(s as u32)
    }
}

/// A child as its parent holds it.
pub struct Child {
    /// Its record.
    pub info: Arc<Info>,
    /// Its exit cell.
    pub cell: Arc<ExitCell>,
}

/// Which children a wait selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Any child.
    Any,
    /// This one.
    Pid(u32),
    /// Those in this process group.
    Group(u32),
}

/// What a wait asks for: which children, which of their changes, and
/// whether the change it finds is consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// The children.
    pub which: Which,
    /// Exits (WEXITED: always, for `wait4`).
    pub exited: bool,
    /// Stops (WUNTRACED, WSTOPPED).
    pub stopped: bool,
    /// Continues (WCONTINUED).
    pub continued: bool,
    /// Whether a found change stays to be found again (WNOWAIT).
    pub keep: bool,
    /// Exited children are dropped unreported (SIGCHLD set to SIG_IGN).
    pub discard_exits: bool,
}

/// A change found: the child's id and its wait status (an exit, a stop
/// `sig << 8 | 0x7f`, or [`CONTINUED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The child.
    pub pid: u32,
    /// Its wait status as `wait4` stores it.
    pub status: u32,
}

/// No child matches what `wait4` asked for (ECHILD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoChild;

/// Drops the children that have exited (SIGCHLD ignored: nobody waits
/// for them).
pub fn discard_exited(children: &mut alloc::vec::Vec<Child>) {
    children.retain(|c| c.cell.status().is_none());
}

/// Finds a change among `children` that `want` selects, and (unless
/// `want.keep`) takes it: an exited child leaves the list. With
/// `want.discard_exits` (SIGCHLD ignored), exited children leave the list
/// unreported, and a wait lasts until none that could change is left.
pub fn reap(children: &mut alloc::vec::Vec<Child>, want: Want) -> Result<Option<Found>, NoChild> {
    let matches = |c: &Child| match want.which {
        Which::Any => true,
        Which::Pid(p) => c.info.pid == p,
        Which::Group(g) => c.info.pgid.load(Ordering::Relaxed) == g,
    };
    if want.discard_exits {
        discard_exited(children);
    }
    if !children.iter().any(matches) {
        return Err(NoChild);
    }
    for i in 0..children.len() {
        let c = &children[i];
        if !matches(c) {
            continue;
        }
        if let Some(status) = c.cell.status() {
            if !want.exited {
                continue;
            }
            let pid = c.info.pid;
            if !want.keep {
                let c = children.swap_remove(i);
                c.cell.post_sigchld();
            }
            return Ok(Some(Found { pid, status }));
        }
        let word = c.cell.change.load(Ordering::Acquire);
        let change = word & !POSTED;
        let wanted = if change == CONTINUED { want.continued } else { want.stopped };
        if change != 0 && wanted {
            if word & POSTED == 0 {
                c.cell.post_change(change);
            }
            if !want.keep {
                // Taken once: a newer change stored meanwhile stays.
                let _ = c.cell.change.compare_exchange(change | POSTED, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
            return Ok(Some(Found { pid: c.info.pid, status: change }));
        }
    }
    Ok(None)
}

/// Waits until a child selected by `want` has changed as it asks (or
/// none is left that could), then reaps it.
pub async fn wait(children: &mut alloc::vec::Vec<Child>, events: &ChildEvents, want: Want) -> Result<Found, NoChild> {
    poll_fn(|cx| {
        match reap(children, want) {
            Err(NoChild) => return Poll::Ready(Err(NoChild)),
            Ok(Some(found)) => return Poll::Ready(Ok(found)),
            Ok(None) => {}
        }
        events.waker.register(cx.waker());
        match reap(children, want) {
            Err(NoChild) => Poll::Ready(Err(NoChild)),
            Ok(Some(found)) => Poll::Ready(Ok(found)),
            Ok(None) => Poll::Pending,
        }
    })
    .await
}
