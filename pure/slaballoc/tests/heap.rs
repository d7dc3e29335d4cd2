//! The heap's operations, one at a time, on the host.

#![cfg(not(loom))]

mod common;

use std::alloc::Layout;

use common::{HostHeap, become_cpu, heap, in_interrupt};
use slaballoc::{KEEP_EMPTY, SLAB_SIZE, TRIM_ABOVE};

const MIB: usize = 1 << 20;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// A fresh heap of `size` bytes, this thread standing for CPU 0 (no task).
fn heap_on_cpu0(size: usize) -> &'static HostHeap {
    become_cpu(0, 0);
    heap(size)
}

/// Runs `f` on a thread standing for CPU `cpu`, running task `task`.
fn on_cpu(cpu: usize, task: u64, f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        s.spawn(|| {
            become_cpu(cpu, task);
            f();
        });
    });
}

fn free(h: &HostHeap, p: *mut u8, l: Layout) {
    // SAFETY: the tests give their blocks up (or check that a wrong free
    // is refused).
    unsafe { h.free(p, l) }
}

#[test]
fn blocks_are_aligned_distinct_writable_and_all_come_back() {
    let h = heap(16 * MIB);
    become_cpu(0, 1);
    let mut live = Vec::new();
    for align in [1, 8, 16, 32, 64, 256, 4096, 8192] {
        for size in [1, 8, 15, 16, 17, 48, 100, 512, 1000, 4096, 4097, 20_000] {
            let l = layout(size, align);
            let p = h.allocate(l);
            assert_eq!(p as usize % align, 0, "{size}/{align}");
            // SAFETY: a fresh block of `size` bytes.
            unsafe { p.write_bytes(live.len() as u8, size) };
            live.push((p, l));
        }
    }
    let mut spans: Vec<_> = live.iter().map(|(p, l)| (*p as usize, *p as usize + l.size())).collect();
    spans.sort();
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "blocks overlap");
    for (i, (p, l)) in live.iter().enumerate() {
        // SAFETY: still live.
        let bytes = unsafe { std::slice::from_raw_parts(*p, l.size()) };
        assert!(bytes.iter().all(|&b| b == i as u8), "block {i} was overwritten");
    }
    assert!(h.stats().used() > 0);
    for (p, l) in live {
        free(h, p, l);
    }
    let s = h.stats();
    assert_eq!(s.used(), 0);
    assert_eq!(s.misuse, 0);
    assert_eq!(s.pages.blocks, 0);
}

#[test]
fn a_freed_block_is_reused_first() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(64, 8);
    let a = h.allocate(l);
    let _b = h.allocate(l);
    free(h, a, l);
    assert_eq!(h.allocate(l), a);
}

#[test]
fn a_local_double_free_is_reported_and_refused() {
    let h = heap(4 * MIB);
    become_cpu(1, 7);
    let l = layout(48, 8);
    let a = h.allocate(l);
    free(h, a, l);
    free(h, a, l);
    let reports = h.platform().take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("heap: double free: 0x"), "{}", reports[0]);
    assert!(reports[0].contains("freed as 48 bytes, align 8; in a slab of 48-byte blocks"), "{}", reports[0]);
    assert!(reports[0].contains("on cpu1 in task 7 'test'"), "{}", reports[0]);
    // Refused: the block is on the free list once, so two allocations differ.
    let x = h.allocate(l);
    let y = h.allocate(l);
    assert_ne!(x, y);
    assert_eq!(h.stats().misuse, 1);
}

#[test]
fn wrong_pointers_and_layouts_are_reported_and_refused() {
    let h = heap(4 * MIB);
    become_cpu(0, 3);
    let l = layout(100, 8);
    let a = h.allocate(l);
    let mut on_stack = 0u64;
    free(h, (&raw mut on_stack).cast(), layout(8, 8));
    free(h, a.wrapping_add(16), l);
    free(h, a, layout(300, 8));
    let big = layout(10_000, 8);
    let b = h.allocate(big);
    free(h, b, layout(10_001, 8));
    free(h, b.wrapping_add(64), big);
    free(h, b, big);
    free(h, b, big);
    let reports = h.platform().take_reports();
    let expect = [
        "heap: free of a pointer outside the heap",
        "heap: free of a pointer the heap never handed out",
        "heap: free with a layout that does not match the block",
        "heap: free with a layout that does not match the block",
        "heap: free of a pointer the heap never handed out",
        // The page level reused the freed block's header: a second free is
        // a pointer it does not know.
        "heap: free of a pointer the heap never handed out",
    ];
    assert_eq!(reports.len(), expect.len(), "{reports:#?}");
    for (r, e) in reports.iter().zip(expect) {
        assert!(r.starts_with(e), "{r} (expected {e})");
        assert!(r.ends_with("on cpu0 in task 3 'test'"), "{r}");
    }
    assert!(reports[2].contains("in a slab of 112-byte blocks"), "{}", reports[2]);
    // Nothing was corrupted: the block freed with the wrong layout is still
    // live and comes back with the right one.
    free(h, a, l);
    assert_eq!(h.stats().used(), 0);
}

#[test]
fn a_free_of_a_block_never_carved_is_refused_on_the_owner_and_from_another_cpu() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(112, 8);
    let a = h.allocate(l);
    let base = a as usize & !(SLAB_SIZE - 1);
    let first = a as usize - base;
    // Where a block would start past the slab's last one (the slab's tail
    // is shorter than a block), and a block position not handed out yet.
    let tail = (base + first + (SLAB_SIZE - first) / 112 * 112) as *mut u8;
    let uncarved = a.wrapping_add(5 * 112);
    free(h, tail, l);
    free(h, uncarved, l);
    let (tail, uncarved) = (tail as usize, uncarved as usize);
    on_cpu(1, 7, || {
        free(h, tail as *mut u8, l);
        free(h, uncarved as *mut u8, l);
        h.reclaim();
    });
    h.reclaim();
    let reports = h.platform().take_reports();
    assert_eq!(reports.len(), 4, "{reports:#?}");
    for r in &reports {
        assert!(r.starts_with("heap: free of a pointer the heap never handed out"), "{r}");
    }
    // Another CPU's frees are refused there, naming it: it can read how
    // far the slab was carved.
    assert!(reports[2].ends_with("on cpu1 in task 7 'test'") && reports[3].ends_with("on cpu1 in task 7 'test'"), "{reports:#?}");
    // Nothing else changed: the one block live comes back.
    free(h, a, l);
    assert_eq!(h.stats().used(), 0);
    assert!(h.platform().take_reports().is_empty());
}

#[test]
fn a_block_freed_on_another_cpu_goes_home_and_its_owner_is_told_once_per_batch() {
    let h = heap_on_cpu0(8 * MIB);
    let l = layout(256, 16);
    let blocks: Vec<usize> = (0..100).map(|_| h.allocate(l) as usize).collect();
    let used = h.stats().used();
    on_cpu(1, 9, || {
        for &p in &blocks {
            free(h, p as *mut u8, l);
        }
        // Sent in batches of 32; the rest waits for cpu1's loop.
        let s = h.stats();
        assert_eq!((s.cpus[0].in_transit, s.cpus[1].outbox), (96, 4));
        assert!(h.has_pending(), "a loop with a full outbox must not halt");
        h.reclaim();
        assert!(!h.has_pending(), "the outbox went home; nothing waits for cpu1");
    });
    assert!(h.has_pending(), "cpu0 has remote frees to take home");
    let before = h.stats();
    assert_eq!(before.cpus[0].in_transit, 100);
    assert_eq!(before.cpus[1].outbox, 0);
    assert_eq!(before.cpus[1].remote_frees, 100);
    assert_eq!(before.used(), used, "in transit still counts as used");
    assert_eq!(h.platform().notified[0].load(std::sync::atomic::Ordering::Relaxed), 1);
    // The owner's next allocation takes the list and hands out the first
    // block of its class it meets; the rest waits for more allocations or
    // for the owner's loop.
    let again = h.allocate(l);
    assert!(blocks.contains(&(again as usize)));
    assert!(h.has_pending(), "the rest is still on its way home");
    h.reclaim();
    let after = h.stats();
    assert_eq!(after.cpus[0].in_transit, 0);
    assert!(!h.has_pending());
    assert_eq!(after.used(), 256);
    free(h, again, l);
    assert!(h.platform().take_reports().is_empty());
}

#[test]
fn remote_frees_walk_home_one_per_allocation_and_the_rest_from_the_loop() {
    let h = heap_on_cpu0(8 * MIB);
    let (l, other) = (layout(64, 8), layout(512, 8));
    let blocks: Vec<usize> = (0..10).map(|_| h.allocate(l) as usize).collect();
    on_cpu(1, 0, || {
        for &p in &blocks {
            free(h, p as *mut u8, l);
        }
        h.reclaim();
    });
    let mut kept = Vec::new();
    for walked in 1..=5 {
        kept.push(h.allocate(other));
        let s = h.stats();
        assert_eq!(s.cpus[0].magazine_bytes, walked * 64, "walked {walked} home into the magazine");
        assert_eq!(s.cpus[0].in_transit, 10, "counted in transit until the whole take is home");
        assert!(h.has_pending(), "the loop must not halt with blocks on their way home");
    }
    h.reclaim();
    let s = h.stats();
    assert_eq!((s.cpus[0].magazine_bytes, s.cpus[0].in_transit), (10 * 64, 0));
    assert!(!h.has_pending());
    for p in kept {
        free(h, p, other);
    }
    assert_eq!(h.stats().used(), 0);
    assert!(h.platform().take_reports().is_empty());
}

#[test]
fn a_free_on_another_cpu_of_a_block_already_free_is_caught_there() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(32, 8);
    let a = h.allocate(l);
    free(h, a, l);
    let addr = a as usize;
    on_cpu(2, 44, || {
        free(h, addr as *mut u8, l);
        let s = h.stats();
        assert_eq!((s.cpus[2].outbox, s.cpus[2].remote_frees), (0, 0), "refused, not sent");
    });
    let reports = h.platform().take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("heap: double free"), "{}", reports[0]);
    assert!(reports[0].contains("in a slab of 32-byte blocks) on cpu2 in task 44"), "{}", reports[0]);
    // The block is still on its free list, once: handed out again, once.
    let (b, c) = (h.allocate(l), h.allocate(l));
    assert!(b == a && c != a);
}

#[test]
fn a_block_freed_twice_on_other_cpus_is_caught_at_the_second_free() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(32, 8);
    let addr = h.allocate(l) as usize;
    // Both frees are in transit before either reaches home.
    on_cpu(2, 44, || {
        free(h, addr as *mut u8, l);
        h.reclaim();
    });
    on_cpu(3, 45, || {
        free(h, addr as *mut u8, l);
        h.reclaim();
    });
    // The first free marked it in transit: the second is refused where it
    // happens, naming that CPU and task, and only one copy travels.
    let reports = h.platform().take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("heap: double free"), "{}", reports[0]);
    assert!(reports[0].ends_with("in a slab of 32-byte blocks) on cpu3 in task 45 'test'"), "{}", reports[0]);
    assert_eq!(h.stats().cpus[0].in_transit, 1);
    // Allocations walk it home, once: never handed out twice.
    let got: Vec<usize> = (0..8).map(|_| h.allocate(l) as usize).collect();
    let mut unique = got.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a block handed out twice: {got:x?}");
    assert_eq!(h.stats().cpus[0].in_transit, 0);
    assert!(h.platform().take_reports().is_empty());
}

#[test]
fn a_free_on_the_owner_of_a_block_on_its_way_home_is_a_double_free() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(48, 8);
    let addr = h.allocate(l) as usize;
    on_cpu(1, 0, || {
        free(h, addr as *mut u8, l);
    });
    // Still in cpu1's outbox: the owner's free finds its transit mark.
    free(h, addr as *mut u8, l);
    let reports = h.platform().take_reports();
    assert!(reports.len() == 1 && reports[0].starts_with("heap: double free"), "{reports:?}");
    on_cpu(1, 0, || {
        h.reclaim();
    });
    h.reclaim();
    assert_eq!(h.stats().used(), 0);
    assert!(h.platform().take_reports().is_empty());
}

#[test]
fn a_block_written_on_its_way_home_is_dropped_and_reported_when_it_arrives() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(64, 8);
    let addr = h.allocate(l) as usize;
    on_cpu(1, 0, || {
        free(h, addr as *mut u8, l);
        h.reclaim();
    });
    // SAFETY: deliberately wrong: a write after free, over the whole block,
    // while it travels (its link becomes null: the end of the chain).
    unsafe { (addr as *mut u8).write_bytes(0, 64) };
    let got: Vec<usize> = (0..4).map(|_| h.allocate(l) as usize).collect();
    assert!(!got.contains(&addr), "the block was dropped, not handed out");
    let reports = h.platform().take_reports();
    assert!(reports.len() == 1 && reports[0].starts_with("heap: a free block was written after it was freed"), "{reports:?}");
}

#[test]
fn an_allocation_in_an_interrupt_handler_is_fatal_and_names_the_vector() {
    let h = heap(4 * MIB);
    become_cpu(3, 0);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| in_interrupt(0x71, || h.allocate(layout(8, 8))))).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("FATAL heap: allocation in the interrupt handler for vector 0x71 (asked for 8 bytes, align 8) on cpu3"),
        "{msg}"
    );
}

#[test]
fn a_free_in_an_interrupt_handler_takes_the_remote_path_home() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(64, 8);
    let a = h.allocate(l);
    in_interrupt(0x30, || free(h, a, l));
    assert_eq!(h.stats().cpus[0].in_transit, 1);
    h.reclaim();
    assert_eq!(h.stats().cpus[0].in_transit, 0);
    assert_eq!(h.stats().used(), 0);
}

#[test]
fn out_of_memory_is_fatal_and_reports_request_cpu_task_and_heap() {
    let h = heap(2 * MIB);
    become_cpu(1, 5);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.allocate(layout(3 * MIB, 64)))).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.starts_with("FATAL heap: out of memory (asked for 3145728 bytes, align 64) on cpu1 in task 5 'test'; heap"), "{msg}");
    // Slabs too: fill the heap with small blocks.
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loop {
            h.allocate(layout(4096, 4096));
        }
    }))
    .unwrap_err();
    assert!(err.downcast_ref::<String>().unwrap().contains("out of memory (asked for 4096 bytes, align 4096)"));
}

#[test]
fn a_heap_running_short_takes_its_magazines_back_before_it_gives_up() {
    become_cpu(0, 0);
    let l = layout(4096, 8);
    // How many 4 KiB blocks (7 to a slab) a heap of this size holds: found
    // on a twin, until out of memory.
    let twin = heap(MIB);
    let mut fits = 0;
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loop {
            twin.allocate(l);
            fits += 1;
        }
    }));
    assert_eq!(fits % 7, 0, "out of memory at a slab's end");
    let h = heap(MIB);
    let mut blocks: Vec<_> = (0..fits).map(|_| h.allocate(l)).collect();
    // The last slab's blocks freed: two stay in the magazine, live for
    // their slab, which is its class's only partial slab.
    for p in blocks.split_off(blocks.len() - 7) {
        free(h, p, l);
    }
    assert_eq!(h.stats().cpus[0].magazine_bytes, 2 * 4096);
    assert_eq!(h.stats().cpus[0].empty_slabs, 0);
    // A block of another class needs a slab: the page level has none, so
    // the magazines go back and the emptied slab serves it.
    let small = h.allocate(layout(16, 8));
    let s = h.stats();
    assert_eq!((s.cpus[0].magazine_bytes, s.used()), (0, 16 + 4096 * blocks.len() as u64));
    free(h, small, layout(16, 8));
    for p in blocks {
        free(h, p, l);
    }
    assert!(h.platform().take_reports().is_empty());
}

#[test]
fn empty_slabs_go_back_past_the_hysteresis_from_reclaim_never_from_free() {
    let h = heap_on_cpu0(16 * MIB);
    let l = layout(2048, 8);
    let per_slab = SLAB_SIZE / 2048;
    let slabs = TRIM_ABOVE as usize + 8;
    let blocks: Vec<_> = (0..per_slab * slabs).map(|_| h.allocate(l)).collect();
    let held = h.stats().pages.slabs;
    assert!(held >= slabs as u64);
    for p in blocks {
        free(h, p, l);
    }
    let s = h.stats();
    assert_eq!(s.pages.slabs, held, "a free never returns a slab");
    assert!(s.cpus[0].empty_slabs > u64::from(TRIM_ABOVE));
    h.reclaim();
    let s = h.stats();
    assert_eq!(s.cpus[0].empty_slabs, u64::from(KEEP_EMPTY));
    assert!(s.pages.slabs <= u64::from(KEEP_EMPTY) + 1);
    // An empty slab serves another class.
    let other = h.allocate(layout(24, 8));
    assert_eq!(h.stats().pages.slabs, s.pages.slabs);
    free(h, other, layout(24, 8));
}

/// Fills the magazine of `l`'s class (28 blocks for classes up to 288
/// bytes), so that the next frees of the class go to their slabs' free
/// lists. Returns the blocks, to be handed out again first.
fn fill_magazine(h: &HostHeap, l: Layout, n: usize) -> Vec<*mut u8> {
    let blocks: Vec<_> = (0..n).map(|_| h.allocate(l)).collect();
    for &p in &blocks {
        free(h, p, l);
    }
    assert_eq!(h.stats().cpus[0].magazine_bytes, (n * l.size().next_multiple_of(16)) as u64);
    blocks
}

#[test]
fn a_write_after_free_into_a_free_list_link_is_caught_and_the_list_dropped() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(64, 8);
    let a = h.allocate(l);
    let b = h.allocate(l);
    let kept = fill_magazine(h, l, 28);
    free(h, b, l);
    free(h, a, l);
    // SAFETY: deliberately wrong: a write after free, into the link.
    unsafe { a.cast::<usize>().write(0xdead_0000) };
    let again: Vec<_> = (0..28).map(|_| h.allocate(l)).collect();
    assert!(again.iter().rev().eq(kept.iter()), "the magazine first, last in first out");
    let x = h.allocate(l);
    let y = h.allocate(l);
    for p in [x, y] {
        assert!(p != a && p != b && p as usize != 0xdead_0000, "the corrupted list was dropped, not followed");
    }
    let reports = h.platform().take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("heap: free list corrupted"), "{}", reports[0]);
}

#[test]
fn a_write_after_free_over_the_mark_is_caught_and_a_later_double_free_cannot_corrupt() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(32, 8);
    let a = h.allocate(l);
    free(h, a, l);
    // SAFETY: deliberately wrong: a write after free over the whole block.
    unsafe { a.write_bytes(0, 32) };
    // The double free is not seen (the mark is gone) ...
    free(h, a, l);
    assert!(h.platform().take_reports().is_empty());
    // ... but the block is never handed out twice: the allocation that
    // pops the second copy from the magazine finds no mark (the first
    // allocation cleared it) and drops it.
    let x = h.allocate(l);
    let y = h.allocate(l);
    assert!(x == a && y != a);
    let reports = h.platform().take_reports();
    assert!(reports.len() == 1 && reports[0].starts_with("heap: a free block was written after it was freed"), "{reports:?}");

    // The same on a slab's free list: the allocation drops the list.
    let l = layout(48, 8);
    let c = h.allocate(l);
    let _kept = h.allocate(l);
    fill_magazine(h, l, 28);
    free(h, c, l);
    // SAFETY: as above.
    unsafe { c.write_bytes(0, 48) };
    free(h, c, l);
    assert!(h.platform().take_reports().is_empty());
    let _from_magazine: Vec<_> = (0..28).map(|_| h.allocate(l)).collect();
    let (x, y) = (h.allocate(l), h.allocate(l));
    assert!(x != y);
    let reports = h.platform().take_reports();
    assert!(reports.iter().any(|r| r.starts_with("heap: free list corrupted")), "{reports:?}");
}

#[test]
fn a_double_free_into_a_slab_with_no_block_live_is_caught_even_without_its_mark() {
    let h = heap_on_cpu0(4 * MIB);
    // 4 KiB blocks: 7 to a slab, 2 in the magazine.
    let l = layout(4096, 8);
    let first: Vec<_> = (0..7).map(|_| h.allocate(l)).collect();
    let c = h.allocate(l);
    assert_ne!(c as usize / SLAB_SIZE, first[0] as usize / SLAB_SIZE, "a second slab");
    free(h, first[0], l);
    free(h, first[1], l);
    assert_eq!(h.stats().cpus[0].magazine_bytes, 2 * 4096);
    free(h, c, l);
    // SAFETY: deliberately wrong: a write after free over the mark.
    unsafe { c.write_bytes(0, 64) };
    free(h, c, l);
    let reports = h.platform().take_reports();
    assert!(reports.len() == 1 && reports[0].starts_with("heap: double free"), "{reports:?}");
    for &p in &first[2..] {
        free(h, p, l);
    }
    assert_eq!(h.stats().used(), 0);
}

#[test]
fn page_only_mode_serves_small_blocks_from_the_page_level_and_both_kinds_go_home() {
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(40, 8);
    let cached = h.allocate(l);
    h.set_page_only(true);
    let paged = h.allocate(l);
    assert_eq!(h.stats().pages.blocks, 1);
    h.set_page_only(false);
    free(h, paged, l);
    free(h, cached, l);
    assert_eq!(h.stats().used(), 0);
    assert!(h.platform().take_reports().is_empty());
}

#[test]
fn realloc_keeps_the_block_within_its_class_and_copies_across() {
    use std::alloc::GlobalAlloc;
    let h = heap_on_cpu0(4 * MIB);
    let l = layout(50, 8);
    // SAFETY: GlobalAlloc's contract, followed.
    unsafe {
        let p = h.alloc(l);
        p.write_bytes(7, 50);
        assert_eq!(h.realloc(p, l, 60), p, "50 and 60 share the 64-byte class");
        let q = h.realloc(p, layout(60, 8), 5000);
        assert_ne!(q, p);
        assert!(std::slice::from_raw_parts(q, 50).iter().all(|&b| b == 7));
        h.dealloc(q, layout(5000, 8));
    }
    assert_eq!(h.stats().used(), 0);
}
