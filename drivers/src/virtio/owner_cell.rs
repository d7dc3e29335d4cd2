//! State that belongs to one CPU: reached only from task context on that
//! CPU, never from an interrupt handler and never from another CPU (which
//! sends a message to the owner instead). No lock: the check is that the
//! caller is the owner, in task context, and not already inside.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::arch::percpu;
use kernel::smp::CpuId;

/// A value only its owner CPU touches.
pub struct OwnerCell<T> {
    owner: CpuId,
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `with` hands out the value only on its owner CPU, in task
// context, and never twice at once (the `busy` flag): every access is from
// one CPU at a time, so `T` needs to be `Send` (it was made elsewhere) but
// not `Sync`.
unsafe impl<T: Send> Sync for OwnerCell<T> {}

impl<T> OwnerCell<T> {
    /// `value`, owned by `owner`.
    pub fn new(owner: CpuId, value: T) -> Self {
        Self { owner, busy: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// The owner.
    pub fn owner(&self) -> CpuId {
        self.owner
    }

    /// Runs `f` on the value. Panics unless called by the owner in task
    /// context, and if `f` reaches the cell again.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        assert_eq!(percpu::current_id_in_task_context(), Some(self.owner), "CPU-owned state reached from elsewhere");
        assert!(!self.busy.swap(true, Ordering::Acquire), "CPU-owned state reached twice at once");
        // SAFETY: only the owner gets here, from task context, and the busy
        // flag shows no other `with` is running: this borrow is unique.
        let out = f(unsafe { &mut *self.value.get() });
        self.busy.store(false, Ordering::Release);
        out
    }
}
