//! One executor per CPU: its run queues, its inbox, its statistics.
//!
//! [`Executor`] is the owner's handle (`!Send`: it stays on its CPU).
//! [`Shared`] is the part other CPUs reach through a task's header: the inbox
//! and the owner-only state, which only the owner touches, in task context.
//! "Owner, in task context" is what [`Hooks::current`] answers: the platform
//! returns this executor's id only on its own CPU and never from an interrupt
//! handler, so interrupt-context wakes always take the inbox and can never
//! race the owner's run-queue operations.

use core::future::Future;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};

use alloc::boxed::Box;

use crate::hooks::Hooks;
use crate::join::JoinHandle;
use crate::list::TaskList;
use crate::poll_record::PollRecord;
use crate::remote::{Adopt, RemoteSpawner};
use crate::state::{Completed, WakeMessage};
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use crate::task::{self, Band, Header, Place, TaskRef};
use crate::wake_stack::WakeStack;

mod inspect;
use inspect::task_info;

/// Polls per [`Executor::tick`] before it returns (and the inbox is drained
/// again): one busy task cannot starve the others or remote wakes.
pub const BUDGET: usize = 64;

/// Counters of one executor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tasks spawned.
    pub spawned: u64,
    /// Tasks completed (finished or cancelled).
    pub completed: u64,
    /// Polls performed (counted as each starts).
    pub polls: u64,
    /// Wakes from the owner's own task context (local queue, no atomics).
    pub local_wakes: u64,
    /// Wakes that arrived through the inbox (other CPUs, interrupts).
    pub remote_wakes: u64,
    /// Tasks in the run queues now.
    pub queued: usize,
    /// Tasks alive (spawned, not complete).
    pub live: u64,
}

/// One task as `ps` shows it.
#[derive(Clone, Copy, Debug)]
pub struct TaskInfo {
    /// Id, unique per executor.
    pub id: u64,
    /// Name given at spawn.
    pub name: Option<&'static str>,
    /// Band.
    pub band: Band,
    /// In a run queue now.
    pub queued: bool,
    /// Times polled.
    pub polls: u64,
    /// Cycles spent in poll (per [`Hooks::now`]), with the executor's
    /// work to pick and set up each poll charged to it.
    pub cycles: u64,
}

/// Index of the idle list in `Owned::lists` (after one run queue per band).
const IDLE: usize = 2;

struct Owned {
    /// The run queues, indexed by band, then the idle list. Every live task
    /// is in exactly one of them, except the one being polled.
    lists: [TaskList; 3],
    stats: Stats,
    /// Polls longer than this many cycles are reported to `on_slow`.
    slow_cycles: u64,
    on_slow: Option<fn(&TaskInfo, u64)>,
    /// When the poll in progress last restarted its clock
    /// ([`Executor::restart_poll_clock`]), if it did.
    restarted: Option<u64>,
}

pub(crate) struct Shared {
    pub(crate) id: usize,
    hooks: &'static Hooks,
    wake_stack: WakeStack,
    remote_wakes: AtomicUsize,
    /// Task ids, for local and remote spawns alike.
    pub(crate) next_id: AtomicUsize,
    /// The poll in progress, for the stall detector (`poll_record.rs`).
    polling: PollRecord,
    owned: UnsafeCell<Owned>,
}

// SAFETY: `owned` is only accessed by the owner in task context, which
// `is_owner_context` checks before every such access from a waker; the rest
// is atomics.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointers in `owned` are owner-only.
unsafe impl Send for Shared {}

impl Shared {
    fn is_owner_context(&self) -> bool {
        (self.hooks.current)() == Some(self.id)
    }

    /// Makes a task runnable: locally if we are its owner in task context,
    /// otherwise through its owner's inbox. The caller holds a reference.
    pub(crate) fn schedule(h: NonNull<Header>) {
        // SAFETY: the caller's reference keeps the task alive.
        let header = unsafe { h.as_ref() };
        if header.state.is_complete() {
            return;
        }
        let home = header.home;
        if home.is_owner_context() {
            // SAFETY: owner, task context.
            unsafe { home.enqueue_local(h) };
            // SAFETY: owner, task context.
            home.owned.with_mut(|o| unsafe { (*o).stats.local_wakes += 1 });
        } else {
            home.send(h);
        }
    }

    /// Moves a task to the back of its band's run queue unless it is queued
    /// already (repeated wakes coalesce).
    ///
    /// # Safety
    /// Owner in task context; `h` is alive and not complete (so the executor's
    /// reference keeps it alive while listed).
    unsafe fn enqueue_local(&self, h: NonNull<Header>) {
        // SAFETY: owner-only fields, per the contract; `h` is in the list its
        // `place` names.
        unsafe {
            let header = h.as_ref();
            let place = header.local.with(|l| (*l).place);
            if place != Place::Queued && place != Place::Unadopted {
                header.local.with_mut(|l| (*l).place = Place::Queued);
                self.owned.with_mut(|o| {
                    if place == Place::Idle {
                        (*o).lists[IDLE].unlink(h);
                    }
                    (*o).lists[header.ident.band() as usize].push_back(h);
                });
            }
        }
    }

    fn send(&self, h: NonNull<Header>) {
        // SAFETY: the caller's reference keeps the task alive.
        let header = unsafe { h.as_ref() };
        // One message per task at a time: repeated remote wakes coalesce.
        if header.state.set_in_inbox() == WakeMessage::Coalesced {
            return;
        }
        header.state.ref_inc();
        // The platform's message path first (the IPI queues, in the kernel);
        // the message carries the reference just made.
        if (self.hooks.remote_wake)(self.id, h.as_ptr() as usize) {
            return;
        }
        // SAFETY: alive, one reference made for the inbox, not in it (flag).
        let was_empty = unsafe { self.wake_stack.push(h) };
        if was_empty {
            (self.hooks.signal)(self.id);
        }
    }
}

/// The owner's handle to one executor.
pub struct Executor {
    shared: &'static Shared,
    /// `!Send` and `!Sync`: the handle stays on its CPU.
    _owner: PhantomData<*mut ()>,
}

/// Options for a spawn.
#[derive(Clone, Copy, Debug)]
pub struct Spawn {
    /// Shown by `ps` and the watchdog.
    pub name: Option<&'static str>,
    /// Scheduling band.
    pub band: Band,
}

impl Default for Spawn {
    fn default() -> Self {
        Self { name: None, band: Band::Normal }
    }
}

impl Executor {
    /// A new executor with id `id`. The shared part is leaked: executors live
    /// as long as their CPU, and tasks may outlive a dropped one's handle.
    pub fn new(id: usize, hooks: &'static Hooks) -> Self {
        let shared = Box::leak(Box::new(Shared {
            id,
            hooks,
            wake_stack: WakeStack::new(),
            remote_wakes: AtomicUsize::new(0),
            next_id: AtomicUsize::new(1),
            polling: PollRecord::new(),
            owned: UnsafeCell::new(Owned {
                lists: [TaskList::new(), TaskList::new(), TaskList::new()],
                stats: Stats::default(),
                slow_cycles: u64::MAX,
                on_slow: None,
                restarted: None,
            }),
        }));
        Self { shared, _owner: PhantomData }
    }

    /// This executor's id.
    pub fn id(&self) -> usize {
        self.shared.id
    }

    fn owned<R>(&self, f: impl FnOnce(&mut Owned) -> R) -> R {
        // SAFETY: `Executor` is !Send, so this is the owner; callers never
        // hold the borrow across a poll (which could re-enter via a wake).
        self.shared.owned.with_mut(|o| f(unsafe { &mut *o }))
    }

    /// A handle other CPUs use to make tasks for this executor.
    pub fn remote_spawner(&self) -> RemoteSpawner {
        RemoteSpawner::new(self.shared)
    }

    /// Takes over a task made by [`RemoteSpawner::prepare`] for this
    /// executor: it is listed, counted and queued like a local spawn.
    pub fn adopt(&self, token: Adopt) {
        let h = token.task();
        // SAFETY: the token's task is alive (its executor reference).
        assert_eq!(unsafe { h.as_ref() }.home.id, self.shared.id, "task adopted by the wrong executor");
        // SAFETY: owner; the token carried the task here, so its fields
        // written by `prepare` are visible.
        unsafe { h.as_ref() }.local.with_mut(|l| unsafe { (*l).place = Place::Unlisted });
        self.link_and_queue(h);
    }

    /// Counts a new task and queues it.
    fn link_and_queue(&self, h: NonNull<Header>) {
        self.owned(|o| {
            o.stats.spawned += 1;
            o.stats.live += 1;
        });
        // SAFETY: owner (this handle); the task is alive and not complete.
        unsafe { self.shared.enqueue_local(h) };
    }

    /// Spawns `future` as a normal-band task.
    pub fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        self.spawn_with(Spawn::default(), future)
    }

    /// Spawns `future` with a name and band.
    pub fn spawn_with<F: Future + 'static>(&self, options: Spawn, future: F) -> JoinHandle<F::Output> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed) as u64;
        let h = task::allocate(future, self.shared, id, options.name, options.band, Place::Unlisted);
        self.link_and_queue(h);
        // SAFETY: `allocate` made two references: the executor keeps one
        // (released at completion), the handle gets the other.
        JoinHandle::new(unsafe { TaskRef::from_raw(h) })
    }

    /// Whether there is anything to do (queued tasks or inbox messages).
    pub fn has_work(&self) -> bool {
        !self.shared.wake_stack.is_empty() || self.owned(|o| o.lists[..IDLE].iter().any(|q| q.len() > 0))
    }

    /// Whether an interrupt-band task is runnable, the inbox's wakes taken
    /// first. A normal task that runs long between polls' ends (a program,
    /// between its traps) asks this to give way to driver tasks at once,
    /// as LWKT's interrupt threads preempt user threads. Owner only, in
    /// task context (as a poll is).
    pub fn interrupt_band_waiting(&self) -> bool {
        if !self.shared.wake_stack.is_empty() {
            self.drain_inbox();
        }
        self.owned(|o| o.lists[Band::Interrupt as usize].len() > 0)
    }

    /// Drains the inbox, then polls up to [`BUDGET`] tasks, interrupt band
    /// first. Returns the number of polls made.
    pub fn tick(&self) -> usize {
        self.drain_inbox();
        let mut polls = 0;
        // One clock read per poll: the end of one poll is where the next
        // one's time starts, so the executor's own work between them (pop,
        // bookkeeping, a wake taken from the inbox) is charged to the task
        // it runs next: reading the clock before and after each poll was a
        // large share of a wake+poll (BENCHMARKS.md, Executor (host)).
        let mut mark: Option<u64> = None;
        while polls < BUDGET {
            // Wakes from interrupt handlers that landed during this tick are
            // taken before the next poll (one load when there are none), so
            // a woken driver task (interrupt band) is polled next, not after
            // the rest of the budget.
            if !self.shared.wake_stack.is_empty() {
                self.drain_inbox();
            }
            let Some(h) = self.pop_runnable() else {
                break;
            };
            // SAFETY: listed tasks are alive (the executor's reference).
            let header = unsafe { h.as_ref() };
            let state = header.state.load();
            debug_assert!(!state.is_complete(), "a complete task was queued");
            if state.is_cancelled() {
                // SAFETY: owner, not complete.
                unsafe { (header.vtable.cancel)(h) };
                self.finish(h);
                continue;
            }
            polls += 1;
            let waker = task::borrowed_waker(h);
            let mut cx = Context::from_waker(&waker);
            // SAFETY: owner-only field.
            let long = header.local.with_mut(|l| unsafe {
                (*l).polls = (*l).polls.saturating_add(1);
                (*l).long_polls
            });
            // Polls are counted as they start, so a task that reads the
            // statistics (`ps`, `cpus`) sees its own poll counted.
            self.shared.polling.begin(h, long);
            let start = *mark.get_or_insert_with(self.shared.hooks.now);
            // SAFETY: owner, not complete.
            let result = unsafe { (header.vtable.poll)(h, &mut cx) };
            // Long by design if the task said so at any point of the poll
            // (a scoped exemption has ended by the time the poll returns).
            let long = self.shared.polling.end();
            let end = (self.shared.hooks.now)();
            mark = Some(end);
            let spent = end.wrapping_sub(start);
            // SAFETY: owner-only fields.
            let place = header.local.with_mut(|l| unsafe {
                (*l).cycles += spent;
                (*l).place
            });
            // The watchdog times the poll from its last clock restart.
            let timed = self.owned(|o| o.restarted.take()).map_or(spent, |from| end.wrapping_sub(from));
            let slow = self.owned(|o| o.on_slow.filter(|_| timed > o.slow_cycles && !long));
            if let Some(report) = slow {
                // SAFETY: owner; `h` is alive (the executor's reference).
                report(&unsafe { task_info(h) }, spent);
                // A report may be slow itself (a log line on a serial
                // port): charge it to nobody, or the next task would look
                // slow too.
                mark = None;
            }
            if result.is_ready() {
                self.finish(h);
            } else if place == Place::Unlisted {
                // Not woken during its poll: it waits on the idle list.
                // SAFETY: owner; `h` is alive and in no list.
                header.local.with_mut(|l| unsafe { (*l).place = Place::Idle });
                // SAFETY: as above.
                self.owned(|o| unsafe { o.lists[IDLE].push_back(h) });
            }
        }
        polls
    }

    /// Takes the next task to poll, interrupt band first; it is then in no list.
    fn pop_runnable(&self) -> Option<NonNull<Header>> {
        // SAFETY: owner; popped tasks are alive (the executor's reference).
        let h = self.owned(|o| o.lists[..IDLE].iter_mut().find_map(|q| unsafe { q.pop_front() }))?;
        // SAFETY: owner-only field of a live task.
        unsafe { h.as_ref() }.local.with_mut(|l| unsafe { (*l).place = Place::Unlisted });
        Some(h)
    }

    /// Runs until no task is runnable and the inbox is empty.
    pub fn run_until_idle(&self) {
        while self.has_work() {
            self.tick();
        }
    }

    fn drain_inbox(&self) {
        let mut n = 0;
        self.shared.wake_stack.drain(|h| {
            n += 1;
            // SAFETY: each task in the inbox carries one reference for it.
            unsafe { self.take_wake(h) }
        });
        if n > 0 {
            self.shared.remote_wakes.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Handles one remote wake (from the inbox or a message): clear the
    /// in-flight flag first (a wake after this point sends a new message),
    /// queue the task unless it completed, drop the message's reference.
    ///
    /// # Safety
    /// `h` is a task of this executor and the caller passes the reference
    /// the wake message carried.
    unsafe fn take_wake(&self, h: NonNull<Header>) {
        // SAFETY: the message's reference keeps it alive.
        let header = unsafe { h.as_ref() };
        header.state.clear_in_inbox();
        if !header.state.is_complete() {
            // SAFETY: owner; alive and not complete.
            unsafe { self.shared.enqueue_local(h) };
        }
        // SAFETY: the message's reference.
        unsafe { task::release(h) };
    }

    /// Takes a wake message that [`Hooks::remote_wake`] delivered.
    ///
    /// # Safety
    /// `task` is the word `remote_wake` was given for this executor, and
    /// each message is taken once.
    pub unsafe fn wake_message(&self, task: usize) {
        let h = NonNull::new(task as *mut Header).expect("a task pointer");
        // SAFETY: `remote_wake` was called with a task of this executor
        // (`owner`) and the reference made for the message.
        debug_assert_eq!(unsafe { h.as_ref() }.home.id, self.shared.id);
        // SAFETY: per the contract.
        unsafe { self.take_wake(h) };
        self.shared.remote_wakes.fetch_add(1, Ordering::Relaxed);
    }

    /// Completion: unlist, publish, hand the output over (waking the
    /// JoinHandle) or drop it, release the executor's reference.
    fn finish(&self, h: NonNull<Header>) {
        // SAFETY: the executor's reference keeps it alive.
        let header = unsafe { h.as_ref() };
        // SAFETY: owner-only field.
        let place = header.local.with_mut(|l| unsafe { core::mem::replace(&mut (*l).place, Place::Unlisted) });
        self.owned(|o| {
            // SAFETY: owner; `h` is in the list `place` named.
            unsafe {
                match place {
                    Place::Unlisted | Place::Unadopted => {}
                    Place::Queued => o.lists[header.ident.band() as usize].unlink(h),
                    Place::Idle => o.lists[IDLE].unlink(h),
                }
            }
            o.stats.completed += 1;
            o.stats.live -= 1;
        });
        match header.state.complete() {
            // SAFETY: nobody wants the output: it is the owner's to drop.
            Completed::DropOutput => unsafe { (header.vtable.drop_stage)(h) },
            // SAFETY: JOIN_WAKER was set when COMPLETE went in: the slot
            // holds the handle's waker and is read-only from now on.
            Completed::WakeJoiner => header.join_waker.with(|w| unsafe { (*w).as_ref() }.map_or((), Waker::wake_by_ref)),
            Completed::LeaveForHandle => {}
        }
        // SAFETY: the executor's reference.
        unsafe { task::release(h) };
    }
}

impl Drop for Executor {
    /// Cancels every live task (their futures are dropped here, on the owner)
    /// and releases inbox entries. A future dropped here may wake or drop
    /// other tasks of this executor: the loop takes whatever is listed until
    /// nothing is.
    fn drop(&mut self) {
        // SAFETY: owner; listed tasks are alive.
        while let Some(h) = self.owned(|o| o.lists.iter_mut().find_map(|q| unsafe { q.pop_front() })) {
            // SAFETY: owner-only field; `h` is now in no list.
            unsafe { h.as_ref() }.local.with_mut(|l| unsafe { (*l).place = Place::Unlisted });
            // SAFETY: owner; listed tasks are not complete.
            unsafe { (h.as_ref().vtable.cancel)(h) };
            self.finish(h);
        }
        self.shared.wake_stack.drain(|h| {
            // SAFETY: the inbox's reference.
            unsafe {
                h.as_ref().state.clear_in_inbox();
                task::release(h);
            }
        });
    }
}

/// Yields once: the task goes to the back of its run queue.
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}
