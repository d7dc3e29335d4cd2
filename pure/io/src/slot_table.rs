//! A table of `Arc`s by key that any CPU reads without a lock: the
//! process table (Linux finds a pid under `rcu_read_lock` the same way).
//!
//! `N` slots, each an atomic pointer from `Arc::into_raw`. Keys count up
//! from 1 and wrap to `wrap_to` at `limit`; key `k` lives in slot
//! `k % N`. [`SlotTable::insert`] takes the next key whose slot is empty,
//! claiming the slot with a compare-and-swap from null to `RESERVED`
//! before it builds the value (which learns its key), then publishes the
//! pointer with a release store. [`SlotTable::get`] loads the slot, raises
//! the count, and checks that the value is the key's and not an older or
//! newer one sharing the slot. [`SlotTable::remove`] swaps the pointer out
//! and hands the table's reference to [`retire::after_every_cpu`]: a
//! reader that loaded it inside a poll has raised the count before the
//! reference is dropped (the protocol is in the module doc of `retire`).
//!
//! Only the value's owner removes it, so a slot's pointer changes from a
//! value to null once, and the compare-and-swap in `remove` only guards
//! against a caller naming a key that is not (or no longer) there.
//!
//! Keys stay unique among live values: a key is handed out only with its
//! slot, and a slot holds one value at a time. With fewer than `N` live
//! values an insert finds a free slot within `N` keys; callers keep a
//! limit below `N` (the process limit), so keys rarely skip.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::retire;
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// A value that knows its key (the table checks it on every read).
pub trait Keyed {
    /// The key the table gave it.
    fn key(&self) -> u32;
}

/// A slot being filled: claimed, its value not yet published. (An `Arc`'s
/// value is aligned to at least its counts' 8 bytes, so no value is here.)
fn reserved<T>() -> *mut T {
    core::ptr::without_provenance_mut(1)
}

/// Live values by key (see the module doc).
pub struct SlotTable<T, const N: usize> {
    slots: [AtomicPtr<T>; N],
    /// Keys handed out so far (before wrapping).
    next: AtomicU64,
    live: AtomicUsize,
    limit: u32,
    wrap_to: u32,
    _owns: PhantomData<Arc<T>>,
}

// SAFETY: the table hands out `Arc<T>` clones to any thread and drops its
// references on any thread, which is what `Arc<T>: Send + Sync` needs.
unsafe impl<T: Send + Sync, const N: usize> Send for SlotTable<T, N> {}
// SAFETY: as above: shared access only clones, publishes or unlinks
// `Arc<T>`s through atomics.
unsafe impl<T: Send + Sync, const N: usize> Sync for SlotTable<T, N> {}

impl<T, const N: usize> SlotTable<T, N> {
    /// An empty table whose keys count up from 1 to `limit` - 1, then wrap
    /// to `wrap_to`.
    #[cfg(not(loom))]
    pub const fn new(limit: u32, wrap_to: u32) -> Self {
        assert!(N > 0 && 0 < wrap_to && wrap_to < limit);
        Self {
            slots: [const { AtomicPtr::new(core::ptr::null_mut()) }; N],
            next: AtomicU64::new(1),
            live: AtomicUsize::new(0),
            limit,
            wrap_to,
            _owns: PhantomData,
        }
    }

    /// An empty table whose keys count up from 1 to `limit` - 1, then wrap
    /// to `wrap_to`.
    #[cfg(loom)]
    pub fn new(limit: u32, wrap_to: u32) -> Self {
        assert!(N > 0 && 0 < wrap_to && wrap_to < limit);
        Self {
            slots: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            next: AtomicU64::new(1),
            live: AtomicUsize::new(0),
            limit,
            wrap_to,
            _owns: PhantomData,
        }
    }

    /// Values in the table now.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether the table is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys handed out since the table was made (the key counter before
    /// wrapping, less one).
    pub fn handed_out(&self) -> u64 {
        self.next.load(Ordering::Relaxed) - 1
    }

    /// The `n`th key handed out (from 1), wrapped into `wrap_to..limit`.
    fn key_of(&self, n: u64) -> u32 {
        let limit = u64::from(self.limit);
        if n < limit {
            return n as u32;
        }
        let wrap_to = u64::from(self.wrap_to);
        (wrap_to + (n - limit) % (limit - wrap_to)) as u32
    }

    fn slot(&self, key: u32) -> &AtomicPtr<T> {
        &self.slots[key as usize % N]
    }
}

impl<T: Keyed + Send + Sync + 'static, const N: usize> SlotTable<T, N> {
    /// Adds the value `make` builds for its new key; `None` when no slot
    /// is free (every one of the next `N` keys' slots is taken).
    pub fn insert(&self, make: impl FnOnce(u32) -> Arc<T>) -> Option<Arc<T>> {
        for _ in 0..N {
            let key = self.key_of(self.next.fetch_add(1, Ordering::Relaxed));
            let slot = self.slot(key);
            if slot.compare_exchange(core::ptr::null_mut(), reserved(), Ordering::Relaxed, Ordering::Relaxed).is_err() {
                continue;
            }
            let value = make(key);
            assert_eq!(value.key(), key, "slot table: a value must carry the key it was made for");
            self.live.fetch_add(1, Ordering::Relaxed);
            slot.store(Arc::into_raw(Arc::clone(&value)).cast_mut(), Ordering::Release);
            return Some(value);
        }
        None
    }

    /// The value under `key`, if there is one. Call it inside a poll (or
    /// an interrupt handler): the module doc of `retire`.
    pub fn get(&self, key: u32) -> Option<Arc<T>> {
        let value = Self::load(self.slot(key))?;
        (value.key() == key).then_some(value)
    }

    /// Removes the value under `key`; its table reference is dropped once
    /// no reader can still be on it. Whether it was there.
    pub fn remove(&self, key: u32) -> bool {
        let slot = self.slot(key);
        let p = slot.load(Ordering::Acquire);
        if p.is_null() || p == reserved() {
            return false;
        }
        // SAFETY: a published pointer from `Arc::into_raw`, read inside a
        // poll: its reference lasts until a grace period after its unlink.
        if unsafe { &*p }.key() != key {
            return false;
        }
        if slot.compare_exchange(p, core::ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return false;
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the table's own reference, which the swap took out of
        // the slot: nobody else will take it again.
        retire::after_every_cpu(unsafe { Arc::from_raw(p) });
        true
    }

    /// Every value now (in slot order, not key order), each as an `Arc`.
    /// Call it inside a poll.
    pub fn values(&self) -> Vec<Arc<T>> {
        self.slots.iter().filter_map(Self::load).collect()
    }

    /// Calls `f` with every value now (in slot order), without collecting.
    /// Call it inside a poll.
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        for slot in &self.slots {
            let p = slot.load(Ordering::Acquire);
            if !p.is_null() && p != reserved() {
                // SAFETY: as in `load`; the reference lives for this call,
                // which stays inside the reader's poll.
                f(unsafe { &*p });
            }
        }
    }

    /// A new reference to the value in `slot`, if one is published.
    fn load(slot: &AtomicPtr<T>) -> Option<Arc<T>> {
        let p = slot.load(Ordering::Acquire);
        if p.is_null() || p == reserved() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` in `insert`; the table's
        // reference is dropped only a grace period after `remove` unlinked
        // it, and this read is inside a poll that began before that period
        // could end, so the count is at least one.
        unsafe {
            Arc::increment_strong_count(p);
            Some(Arc::from_raw(p))
        }
    }
}

impl<T, const N: usize> Drop for SlotTable<T, N> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let p = slot.load(Ordering::Relaxed);
            if !p.is_null() && p != reserved() {
                // SAFETY: the table's own reference (from `Arc::into_raw`);
                // `&mut self`: no reader is left.
                drop(unsafe { Arc::from_raw(p) });
            }
        }
    }
}
