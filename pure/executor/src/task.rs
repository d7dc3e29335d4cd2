//! The task block: one allocation holding the header, the future and, later,
//! its output. A `Waker` is a pointer to the header plus a reference.
//!
//! Fields by who may touch them:
//! - `state`, `inbox_next`: any CPU, atomically.
//! - `join_waker`: the JoinHandle and, once, the task, as `state.rs` rules.
//! - `local`: only the owning executor, in task context (see `Shared`).
//! - `ident`, `vtable`, `home`: written at spawn, read-only after.
//! - `stage`: the owner while the task is not COMPLETE; after COMPLETE, the
//!   single party that owns the output (see `state.rs`).
//!
//! The header is kept small because every spawn pays for its bytes (in
//! allocator work and in cache and page footprint): 96 bytes on 64-bit.
//! Flags that other CPUs flip live in the state word; flags only the owner
//! flips live in `Local`; the id, band and name share two words.

use alloc::boxed::Box;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::executor::Shared;
use crate::join::JoinError;
use crate::state::{Released, State};
use crate::sync::{AtomicPtr, UnsafeCell};

/// Scheduling band: interrupt-driven driver tasks run before ordinary ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    /// Polled first (LWKT's interrupt-thread priority).
    Interrupt = 0,
    /// Everything else.
    Normal = 1,
}

/// Which of its owner's lists a task is in: the places of the lifecycle
/// diagram in `lib.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Made by a `RemoteSpawner`, not yet adopted by its owner: wakes that
    /// reach the owner first are left to the adoption, which queues it.
    Unadopted,
    /// In no list: being polled, complete, or (for an instant) being spawned.
    Unlisted,
    /// The run queue of its band.
    Queued,
    /// The idle list (waiting for a wake).
    Idle,
}

/// Owner-only bookkeeping.
pub(crate) struct Local {
    /// Links in the list `place` names.
    pub(crate) prev: Option<NonNull<Header>>,
    pub(crate) next: Option<NonNull<Header>>,
    /// Cycles spent in poll (per `Hooks::now`).
    pub(crate) cycles: u64,
    /// Times polled (saturating).
    pub(crate) polls: u32,
    pub(crate) place: Place,
    /// The task polls for long by design (`Executor::allow_long_polls`).
    pub(crate) long_polls: bool,
}

/// Id, band and name, fixed at spawn, packed into two words: the id in the
/// low 48 bits (2.8e14 spawns per executor), the name's length in the next
/// 15, the band in the top bit; the name's address beside it.
pub(crate) struct Ident {
    word: u64,
    name: *const u8,
}

const ID_BITS: u32 = 48;
const NAME_LEN_MAX: usize = (1 << 15) - 1;
const BAND_BIT: u64 = 1 << 63;

impl Ident {
    fn new(id: u64, name: Option<&'static str>, band: Band) -> Self {
        assert!(id < 1 << ID_BITS, "task ids exhausted");
        let (ptr, len) = match name {
            Some(n) => {
                assert!(n.len() <= NAME_LEN_MAX, "task name longer than {NAME_LEN_MAX} bytes");
                (n.as_ptr(), n.len() as u64)
            }
            None => (core::ptr::null(), 0),
        };
        let band = if band == Band::Normal { BAND_BIT } else { 0 };
        Self { word: id | (len << ID_BITS) | band, name: ptr }
    }

    pub(crate) fn id(&self) -> u64 {
        self.word & ((1 << ID_BITS) - 1)
    }

    pub(crate) fn band(&self) -> Band {
        if self.word & BAND_BIT != 0 { Band::Normal } else { Band::Interrupt }
    }

    pub(crate) fn name(&self) -> Option<&'static str> {
        if self.name.is_null() {
            return None;
        }
        let len = ((self.word & !BAND_BIT) >> ID_BITS) as usize;
        // SAFETY: `new` took these from a `&'static str` of this length.
        Some(unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(self.name, len)) })
    }
}

pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) home: &'static Shared,
    /// Link in the owner's inbox (while IN_INBOX and not taken by a message).
    pub(crate) inbox_next: AtomicPtr<Header>,
    /// The JoinHandle's waker; who may touch it is ruled by `state.rs`.
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
    pub(crate) local: UnsafeCell<Local>,
    pub(crate) ident: Ident,
}

pub(crate) struct Vtable {
    /// Polls the future; on `Ready` the output is stored. Owner only.
    pub(crate) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    /// Drops the future and stores `Err(Cancelled)`. Owner only.
    pub(crate) cancel: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst` (a `Poll<Result<T, JoinError>>`).
    pub(crate) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the output (or whatever the stage holds).
    pub(crate) drop_stage: unsafe fn(NonNull<Header>),
    /// Frees the block.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

impl<F: Future> Cell<F> {
    const VTABLE: Vtable =
        Vtable { poll: poll::<F>, cancel: cancel::<F>, take_output: take_output::<F>, drop_stage: drop_stage::<F>, dealloc: dealloc::<F> };

    /// # Safety
    /// `h` points at the header of a live `Cell<F>` (the header is its first
    /// field and the struct is `repr(C)`).
    unsafe fn from_header<'a>(h: NonNull<Header>) -> &'a Self {
        // SAFETY: per the contract.
        unsafe { h.cast::<Self>().as_ref() }
    }
}

/// Allocates a task block (the only allocation a spawn makes).
pub(crate) fn allocate<F: Future + 'static>(
    future: F,
    home: &'static Shared,
    id: u64,
    name: Option<&'static str>,
    band: Band,
    place: Place,
) -> NonNull<Header> {
    let cell = Box::new(Cell {
        header: Header {
            state: State::new(),
            vtable: &Cell::<F>::VTABLE,
            home,
            inbox_next: AtomicPtr::new(core::ptr::null_mut()),
            join_waker: UnsafeCell::new(None),
            local: UnsafeCell::new(Local { prev: None, next: None, cycles: 0, polls: 0, place, long_polls: false }),
            ident: Ident::new(id, name, band),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    NonNull::from(Box::leak(cell)).cast()
}

/// Bytes a task block adds around its future and output.
pub fn overhead_bytes<F: Future>() -> usize {
    size_of::<Cell<F>>() - size_of::<Stage<F>>()
}

/// Polls the future; on `Ready` the output is stored.
///
/// # Safety
/// 1. `h` is the header of a live `Cell<F>` (this vtable's).
/// 2. The caller is the owner in task context and the task is not COMPLETE.
unsafe fn poll<F: Future>(h: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: the vtable is only reached from a header of a `Cell<F>`.
    let cell = unsafe { Cell::<F>::from_header(h) };
    // SAFETY: owner only, not complete: the stage is ours, and the future is
    // never moved out of the heap block while Running (pinned).
    cell.stage.with_mut(|stage| unsafe {
        let Stage::Running(fut) = &mut *stage else { unreachable!("polled a task that is not running") };
        match poll_future(Pin::new_unchecked(fut), cx) {
            Poll::Ready(out) => {
                *stage = Stage::Finished(out);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    })
}

/// Polls the future; with `std`, a panic becomes `Err(Panicked)` (the future
/// is then dropped with the stage, as for any completion).
#[cfg(feature = "std")]
fn poll_future<F: Future>(fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx)));
    match caught {
        Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(_) => Poll::Ready(Err(JoinError::Panicked)),
    }
}

/// Polls the future. Without `std` a panic is fatal (the kernel's panic
/// handler stops every CPU).
#[cfg(not(feature = "std"))]
fn poll_future<F: Future>(fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
    fut.poll(cx).map(Ok)
}

/// Drops the future and stores `Err(Cancelled)`.
///
/// # Safety
/// As for [`poll`].
unsafe fn cancel<F: Future>(h: NonNull<Header>) {
    // SAFETY: as in `poll`.
    let cell = unsafe { Cell::<F>::from_header(h) };
    // SAFETY: owner only, not complete: dropping the future in place is the
    // end of its pinned life.
    cell.stage.with_mut(|stage| unsafe { *stage = Stage::Finished(Err(JoinError::Cancelled)) });
}

/// Moves the output into `*dst`.
///
/// # Safety
/// 1. `h` is the header of a live `Cell<F>`.
/// 2. The caller owns the output: it saw COMPLETE (Acquire) while holding
///    JOIN_INTEREST (`state.rs`).
/// 3. `dst` points at a `Poll<Result<F::Output, JoinError>>`.
unsafe fn take_output<F: Future>(h: NonNull<Header>, dst: *mut ()) {
    // SAFETY: as in `poll`.
    let cell = unsafe { Cell::<F>::from_header(h) };
    // SAFETY: the caller owns the output (COMPLETE observed with Acquire,
    // JOIN_INTEREST held) and `dst` is a `Poll<Result<F::Output, JoinError>>`.
    cell.stage.with_mut(|stage| unsafe {
        match core::mem::replace(&mut *stage, Stage::Consumed) {
            Stage::Finished(result) => *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(result),
            _ => panic!("JoinHandle polled after it returned the output"),
        }
    });
}

/// Drops whatever the stage holds.
///
/// # Safety
/// 1. `h` is the header of a live `Cell<F>`.
/// 2. The caller owns the stage (`state.rs`: the task with no join
///    interest, or the handle after COMPLETE).
unsafe fn drop_stage<F: Future>(h: NonNull<Header>) {
    // SAFETY: as in `poll`.
    let cell = unsafe { Cell::<F>::from_header(h) };
    // SAFETY: the caller owns the stage (see `state.rs`).
    cell.stage.with_mut(|stage| unsafe { *stage = Stage::Consumed });
}

/// Frees the block.
///
/// # Safety
/// 1. `h` is the header of a `Cell<F>` made by `allocate`.
/// 2. Its last reference was just released: nothing can reach it any more.
unsafe fn dealloc<F: Future>(h: NonNull<Header>) {
    // SAFETY: the last reference is gone, so nothing else can reach the block,
    // which `allocate` made with `Box::new(Cell<F>)`.
    drop(unsafe { Box::from_raw(h.cast::<Cell<F>>().as_ptr()) });
}

/// A counted reference to a task (what wakers and handles hold).
pub(crate) struct TaskRef(NonNull<Header>);

impl TaskRef {
    /// Adopts one existing reference.
    ///
    /// # Safety
    /// `h` is a live task and the caller transfers one of its references.
    pub(crate) unsafe fn from_raw(h: NonNull<Header>) -> Self {
        Self(h)
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: we hold a reference, so the block is alive.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn ptr(&self) -> NonNull<Header> {
        self.0
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { release(self.0) }
    }
}

/// Drops one reference to `h`, freeing the task if it was the last.
///
/// # Safety
/// The caller owns one reference to the live task `h`.
pub(crate) unsafe fn release(h: NonNull<Header>) {
    // SAFETY: we own a reference, so the header is alive until we drop it.
    let header = unsafe { h.as_ref() };
    if header.state.ref_dec() == Released::Last {
        // SAFETY: that was the last reference.
        unsafe { (header.vtable.dealloc)(h) }
    }
}

// ---- Waker: the header pointer, holding one reference ----

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// The waker a poll of `h` lends its future, made without touching the
/// reference count: the executor's own reference keeps the task alive for
/// the poll, and `ManuallyDrop` keeps this waker from releasing one. It has
/// the counted wakers' vtable, so a clone a future kept from an earlier poll
/// `will_wake` it (futures that keep a waker then skip the clone and the
/// drop of the old one, two atomic updates, on every poll). Through the
/// `&Waker` a future gets it can only be cloned (a counted waker) or woken
/// by reference, never woken by value or dropped.
pub(crate) fn borrowed_waker(h: NonNull<Header>) -> ManuallyDrop<Waker> {
    // SAFETY: WAKER_VTABLE's clone and wake_by_ref need a live header, which
    // the poll's reference guarantees; its wake and drop, which would give
    // up a reference this waker does not own, are never reached: the value
    // is never dropped and only lent by reference.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(h.as_ptr().cast_const().cast(), &WAKER_VTABLE)) })
}

/// `RawWakerVTable::clone`: a new counted waker for the same task.
///
/// # Safety
/// `p` is the header of a live task, kept alive by the waker being cloned
/// (a counted waker's reference, or the poll's for the borrowed waker).
unsafe fn waker_clone(p: *const ()) -> RawWaker {
    // SAFETY: `p` is a header kept alive by the waker being cloned.
    unsafe { &*p.cast::<Header>() }.state.ref_inc();
    RawWaker::new(p, &WAKER_VTABLE)
}

/// `RawWakerVTable::wake`: schedules the task and gives up the waker's
/// reference.
///
/// # Safety
/// `p` is the header of a live task and the caller gives up the one
/// reference this (counted) waker owns. Never reached for the borrowed
/// waker, which is only lent by reference.
unsafe fn waker_wake(p: *const ()) {
    // SAFETY: the waker owned one reference; `wake` consumes it.
    unsafe {
        waker_wake_by_ref(p);
        waker_drop(p);
    }
}

/// `RawWakerVTable::wake_by_ref`: schedules the task.
///
/// # Safety
/// `p` is the header of a live task, kept alive by the waker the call is
/// made through.
unsafe fn waker_wake_by_ref(p: *const ()) {
    // SAFETY: the waker's reference keeps the header alive.
    let h = unsafe { NonNull::new_unchecked(p.cast_mut().cast::<Header>()) };
    Shared::schedule(h);
}

/// `RawWakerVTable::drop`: gives up the waker's reference.
///
/// # Safety
/// As for [`waker_wake`]: the caller gives up the waker's one reference.
unsafe fn waker_drop(p: *const ()) {
    // SAFETY: the waker owned one reference.
    unsafe { release(NonNull::new_unchecked(p.cast_mut().cast::<Header>())) }
}
