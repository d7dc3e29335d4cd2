//! The kernel heap: `talc` as the global allocator.
//!
//! Why talc: it is maintained, builds on stable `no_std`, allocates in near
//! constant time from size-class bins (linked_list_allocator is first-fit,
//! O(n) in the number of free blocks) and keeps counters we report in `mem`.
//! The heap is one contiguous region mapped at boot; its size comes from
//! [`super::heap_size_for`].
//!
//! Interrupt handlers must not allocate: the allocator's spinlock is not
//! interrupt-safe by design (handlers only acknowledge and wake).

use spinning_top::RawSpinlock;
use talc::TalcLock;
use talc::source::Manual;
use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, Size4KiB};

#[global_allocator]
static ALLOCATOR: TalcLock<RawSpinlock, Manual> = TalcLock::new(Manual);

/// Heap usage.
#[derive(Clone, Copy, Debug)]
pub struct HeapStats {
    /// Bytes given to the allocator.
    pub size: u64,
    /// Bytes in live allocations.
    pub used: u64,
    /// Bytes still available.
    pub free: u64,
    /// Allocations made since boot.
    pub allocations: u64,
}

pub(super) fn init(size: u64) {
    let start = super::layout::get().heap.start();
    let first = Page::<Size4KiB>::containing_address(VirtAddr::new(start));
    let last = Page::containing_address(VirtAddr::new(start + size - 1));
    if let Err(e) = super::paging::map_fresh(Page::range_inclusive(first, last), super::paging::KERNEL_DATA) {
        panic!("cannot map the {} MiB heap: {e:?}", size >> 20);
    }
    // SAFETY: [start, start + size) was just mapped writable for the heap and
    // nothing else uses it; `Manual` permits claiming memory by hand.
    let claimed = unsafe { ALLOCATOR.lock().claim(start as *mut u8, size as usize) };
    assert!(claimed.is_some(), "talc refused the heap region");
}

/// Current heap usage.
pub fn stats() -> HeapStats {
    let talc = ALLOCATOR.lock();
    let c = talc.counters();
    HeapStats {
        size: c.claimed_bytes as u64,
        used: c.allocated_bytes as u64,
        free: c.available_bytes as u64,
        allocations: c.total_allocation_count,
    }
}
