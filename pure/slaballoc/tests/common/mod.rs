//! A heap on the host: threads stand for CPUs (each says which it is), an
//! arena from the system allocator is the region, and reports are kept
//! for the test to read. Shared by the tests and the benchmark.
#![allow(dead_code, reason = "each test binary uses part of it")]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use slaballoc::{Context, Heap, MAX_CPUS, Platform, Report, Stats, TalcBacking, TaskRef};

thread_local! {
    /// The CPU in the low 16 bits; in a handler, bit 16 set and the vector
    /// above it. One word, so `context` is one thread-local load, as the
    /// kernel's is two GS-relative loads.
    static CONTEXT: Cell<u32> = const { Cell::new(0) };
    static TASK: Cell<u64> = const { Cell::new(0) };
}

const IN_HANDLER: u32 = 1 << 16;

/// Makes this thread CPU `cpu`, running task `task` (0: none).
pub fn become_cpu(cpu: usize, task: u64) {
    CONTEXT.set(cpu as u32);
    TASK.set(task);
}

/// Runs `f` as if in an interrupt handler for `vector`.
pub fn in_interrupt<R>(vector: u8, f: impl FnOnce() -> R) -> R {
    let task = CONTEXT.get();
    CONTEXT.set(task | IN_HANDLER | u32::from(vector) << 17);
    let r = f();
    CONTEXT.set(task);
    r
}

pub struct HostPlatform {
    pub reports: Mutex<Vec<String>>,
    pub notified: [AtomicU64; MAX_CPUS],
}

impl Default for HostPlatform {
    fn default() -> Self {
        Self { reports: Mutex::new(Vec::new()), notified: [const { AtomicU64::new(0) }; MAX_CPUS] }
    }
}

impl Platform for HostPlatform {
    #[inline]
    fn context(&self) -> Context {
        let c = CONTEXT.get();
        let cpu = (c & 0xffff) as usize;
        if c & IN_HANDLER == 0 { Context::Task(cpu) } else { Context::Interrupt { cpu, vector: (c >> 17) as u8 } }
    }

    #[inline]
    fn task(&self) -> Option<TaskRef> {
        let id = TASK.get();
        (id != 0).then_some(TaskRef { id, name: Some("test") })
    }

    fn notify(&self, owner: usize) {
        self.notified[owner].fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self, report: &Report) {
        self.reports.lock().unwrap().push(report.to_string());
    }

    fn fatal(&self, report: &Report, stats: &Stats) -> ! {
        panic!("FATAL {report}; heap {} bytes used", stats.used());
    }
}

pub type HostHeap = Heap<HostPlatform, TalcBacking>;

/// A heap over a fresh `size`-byte arena (leaked: tests are short).
pub fn heap(size: usize) -> &'static HostHeap {
    let heap: &'static HostHeap = Box::leak(Box::new(Heap::new(HostPlatform::default(), TalcBacking::new())));
    let layout = Layout::from_size_align(size, slaballoc::SLAB_SIZE).unwrap();
    // SAFETY: a fresh arena from the system allocator, leaked.
    let arena = unsafe { std::alloc::System.alloc(layout) };
    assert!(!arena.is_null());
    // SAFETY: the arena is ours for ever.
    assert!(unsafe { heap.backing().claim(arena, size) });
    assert!(heap.init());
    heap
}

impl HostPlatform {
    pub fn take_reports(&self) -> Vec<String> {
        std::mem::take(&mut *self.reports.lock().unwrap())
    }
}
