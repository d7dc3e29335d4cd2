//! Parents and children across CPUs, without a shared lock.
//!
//! A parent owns its list of children (its task's state: nobody else
//! touches it). Each child shares one [`ExitCell`] with its parent: at exit
//! the child stores its status there (one atomic store, Release) and wakes
//! the parent's one [`ChildEvents`] waker; `wait4` looks through its list
//! for a stored status (Acquire), and registers its waker before looking
//! again, so a wake between the look and the wait is never lost.
//!
//! An orphan (its parent exited first) gets parent 1, as on Linux, and
//! is reaped when it ends (nobody is left to wait for it).

use alloc::sync::Arc;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// One child's exit status, shared with its parent.
pub struct ExitCell {
    /// 0 while it runs; `EXITED | wait status` once it has exited.
    status: AtomicU64,
    parent: Arc<ChildEvents>,
    /// The parent's record, for SIGCHLD.
    parent_info: Arc<Info>,
    /// SIGCHLD has been posted for this exit (by the child, or by the
    /// parent that reaped it first: exactly once).
    signalled: AtomicBool,
}

const EXITED: u64 = 1 << 32;

impl ExitCell {
    /// A cell for a child of the parent whose events are `parent`.
    pub fn new(parent: &Arc<ChildEvents>, parent_info: &Arc<Info>) -> Arc<Self> {
        Arc::new(Self {
            status: AtomicU64::new(0),
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

/// What `wait4`'s pid argument selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Any child (-1, and process groups: every child shares its
    /// parent's group here).
    Any,
    /// This one.
    Pid(u32),
}

/// No child matches what `wait4` asked for (ECHILD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoChild;

/// Drops the children that have exited (SIGCHLD ignored: nobody waits
/// for them).
pub fn discard_exited(children: &mut alloc::vec::Vec<Child>) {
    children.retain(|c| c.cell.status().is_none());
}

/// Finds an exited child among `children` that `which` selects and takes
/// it out: (pid, wait status).
pub fn reap(children: &mut alloc::vec::Vec<Child>, which: Which) -> Result<Option<(u32, u32)>, NoChild> {
    let matches = |c: &Child| match which {
        Which::Any => true,
        Which::Pid(p) => c.info.pid == p,
    };
    if !children.iter().any(matches) {
        return Err(NoChild);
    }
    let found = children.iter().position(|c| matches(c) && c.cell.status().is_some());
    Ok(found.map(|i| {
        let c = children.swap_remove(i);
        c.cell.post_sigchld();
        (c.info.pid, c.cell.status().expect("exited"))
    }))
}

/// Waits until a child selected by `which` has exited (or none is left
/// that could), then reaps it.
pub async fn wait(children: &mut alloc::vec::Vec<Child>, events: &ChildEvents, which: Which) -> Result<(u32, u32), NoChild> {
    poll_fn(|cx| {
        match reap(children, which) {
            Err(NoChild) => return Poll::Ready(Err(NoChild)),
            Ok(Some(found)) => return Poll::Ready(Ok(found)),
            Ok(None) => {}
        }
        events.waker.register(cx.waker());
        match reap(children, which) {
            Err(NoChild) => Poll::Ready(Err(NoChild)),
            Ok(Some(found)) => Poll::Ready(Ok(found)),
            Ok(None) => Poll::Pending,
        }
    })
    .await
}
