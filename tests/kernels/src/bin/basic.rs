//! Boot smoke test plus exceptions that return and the heap.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hint::black_box;

use kernel::arch::{cpu, exceptions};
use kernel::heap;
use kernel::memory::{frame, paging};

kernel::test_kernel![boots, int3_returns, heap_churn_exceeds_heap_size, heap_large_and_small_blocks, growing_vec, frames_allocate_and_free,];

fn boots() {
    assert_eq!(kernel::smp::current(), kernel::smp::CpuId::BOOT, "tests start on the boot CPU");
    assert!(kernel::time::tsc_khz() > 0, "TSC calibrated");
}

fn int3_returns() {
    let before = exceptions::breakpoint_count();
    cpu::breakpoint();
    cpu::breakpoint();
    assert_eq!(exceptions::breakpoint_count(), before + 2);
}

/// Allocates and frees 8x the heap size in total, in 64 KiB blocks.
fn heap_churn_exceeds_heap_size() {
    let size = heap::stats().size;
    let block = 64 * 1024;
    let rounds = 8 * size / block;
    for i in 0..rounds {
        let mut b: Box<[u8]> = alloc::vec![i as u8; block as usize].into_boxed_slice();
        b[block as usize - 1] = 7;
        black_box(&b);
    }
    let after = heap::stats();
    assert!(after.used < size / 100, "freed memory returns: {} bytes still used", after.used);
}

/// Interleaves many small blocks with blocks of a quarter of the heap.
fn heap_large_and_small_blocks() {
    let size = heap::stats().size as usize;
    let used_before = heap::stats().used;
    for round in 0..4 {
        let small: Vec<Box<u64>> = (0..10_000).map(|i| Box::new(i + round)).collect();
        let large = alloc::vec![0xa5u8; size / 4];
        assert!(small.iter().enumerate().all(|(i, b)| **b == i as u64 + round));
        assert!(large.iter().all(|&b| b == 0xa5));
        drop(small);
        drop(large);
    }
    assert_eq!(heap::stats().used, used_before, "every block freed");
}

fn growing_vec() {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..1_000_000u64 {
        v.push(i * 3);
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
}

fn frames_allocate_and_free() {
    let before = frame::stats().in_use;
    let frames: Vec<_> = (0..64).map(|_| frame::allocate().expect("free frames")).collect();
    assert_eq!(frame::stats().in_use, before + 64);
    for f in &frames {
        assert!(f.start_address().as_u64() >= 0x10_0000, "no frame below 1 MiB");
        // Writing through the physical mapping works.
        let p = paging::phys_to_virt(f.start_address()).as_mut_ptr::<u64>();
        // SAFETY: the frame was just allocated to us and is mapped by the
        // physical-memory mapping; nothing else uses it.
        unsafe { p.write_volatile(0xfeed) };
    }
    for f in frames {
        // SAFETY: allocated above, never mapped anywhere, freed once.
        unsafe { frame::deallocate(f) };
    }
    assert_eq!(frame::stats().in_use, before);
}
