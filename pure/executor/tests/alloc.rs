//! Spawning makes exactly one allocation; waking and polling make none.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use executor::yield_now;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn one_allocation_per_spawn_none_per_wake() {
    let ex = common::executor();
    // Warm up anything lazily allocated (thread-locals).
    drop(ex.spawn(async {}));
    ex.run_until_idle();

    let before = ALLOCS.load(Ordering::SeqCst);
    let h = ex.spawn(async {
        for _ in 0..1000 {
            yield_now().await;
        }
        7u64
    });
    assert_eq!(ALLOCS.load(Ordering::SeqCst) - before, 1, "spawn allocates once");
    let before = ALLOCS.load(Ordering::SeqCst);
    ex.run_until_idle();
    assert_eq!(ALLOCS.load(Ordering::SeqCst) - before, 0, "1000 wakes and polls allocate nothing");
    assert!(h.is_finished());
}
