//! The kernel heap: `slaballoc`'s per-CPU slab caches as the global
//! allocator, over talc behind its lock as the page level, in one region
//! mapped at boot (its size from [`super::heap_size_for`]).
//!
//! What the kernel gives the allocator (`slaballoc::Platform`):
//! - the running CPU and whether it is in a handler: two GS-relative loads
//!   (`percpu::current_id_in_task_context`);
//! - the task, for reports (`exec::current_task`);
//! - the owner's wakeup: when a remote free finds its owner's list empty
//!   and the owner has raised its idle flag, a wake IPI (no allocation, no
//!   lock). The owner's loop raises the flag (`PerCpu::set_idle`: the
//!   IPI queues read the same one) before its last look for work
//!   ([`has_pending`]),
//!   the same handshake as the IPI queues'
//!   (`slaballoc::remote`, rule 4), and takes its remote frees home each
//!   turn ([`reclaim`]);
//! - reports through the lock-free emergency console with a backtrace;
//!   fatal ones (out of memory, an allocation in an interrupt handler,
//!   which is forbidden: handlers acknowledge and wake) through the panic
//!   path, which stops every CPU.

use slaballoc::{Context, Heap, Platform, Report, Stats, TalcBacking, TaskRef};
use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, Size4KiB};

use crate::arch::backtrace::Backtrace;
use crate::arch::cpu_id::CpuId;
use crate::arch::percpu;
use crate::arch::vectors;

/// The machine as the allocator sees it.
struct Machine;

impl Platform for Machine {
    #[inline]
    fn context(&self) -> Context {
        match percpu::current_id_in_task_context() {
            Some(cpu) => Context::Task(cpu.as_usize()),
            None => Context::Interrupt { cpu: percpu::current_id().as_usize(), vector: percpu::this().interrupt_vector() },
        }
    }

    fn task(&self) -> Option<TaskRef> {
        // The executor in this CPU's block (the `exec` module is above this one).
        let (id, name) = percpu::this().executor()?.current_task()?;
        Some(TaskRef { id, name })
    }

    fn notify(&self, owner: usize) {
        let owner_cpu = CpuId::from_raw(owner as u32);
        if owner != percpu::current_id().as_usize() && percpu::get(owner_cpu).is_some_and(|p| p.is_idle()) {
            crate::smp::send_ipi(owner_cpu, vectors::WAKE);
        }
    }

    fn report(&self, report: &Report) {
        crate::console::emergency_write(format_args!("\n!!! {report}{}\n", Backtrace::here()));
    }

    fn fatal(&self, report: &Report, stats: &Stats) -> ! {
        let p = &stats.pages;
        panic!(
            "{report}\n    heap: {} KiB in the page level, {} KiB of it handed out, {} KiB free; {} KiB live in blocks, {} slabs held by CPUs, {} page-level blocks",
            p.backing.size >> 10,
            p.backing.used >> 10,
            p.backing.free >> 10,
            stats.used() >> 10,
            p.slabs,
            p.blocks
        )
    }
}

#[global_allocator]
static HEAP: Heap<Machine, TalcBacking> = Heap::new(Machine, TalcBacking::new());

/// Heap usage.
#[derive(Clone, Copy, Debug)]
pub struct HeapStats {
    /// Bytes given to the allocator.
    pub size: u64,
    /// Bytes in live allocations (slab blocks by class size).
    pub used: u64,
    /// Bytes the page level still has free.
    pub free: u64,
    /// Allocations made since boot.
    pub allocations: u64,
}

/// Maps the heap (`size` bytes, [`memory::heap_size_for`](crate::memory::heap_size_for)
/// of usable RAM) in its region and hands it to the allocator (boot, right
/// after `memory::init`).
pub fn init(size: u64) {
    let start = crate::memory::layout::get().heap.start();
    let first = Page::<Size4KiB>::containing_address(VirtAddr::new(start));
    let last = Page::containing_address(VirtAddr::new(start + size - 1));
    if let Err(e) = crate::memory::paging::map_fresh(Page::range_inclusive(first, last), crate::memory::paging::KERNEL_DATA) {
        panic!("cannot map the {} MiB heap: {e:?}", size >> 20);
    }
    // SAFETY: [start, start + size) was just mapped writable for the heap and
    // nothing else uses it.
    let claimed = unsafe { HEAP.backing().claim(start as *mut u8, size as usize) };
    assert!(claimed, "talc refused the heap region");
    assert!(HEAP.init(), "no room for the heap's granule map");
}

/// Current heap usage.
pub fn stats() -> HeapStats {
    let s = HEAP.stats();
    HeapStats { size: s.pages.backing.size, used: s.used(), free: s.pages.backing.free, allocations: s.allocations() }
}

/// Every figure: per-CPU caches, blocks in transit, the page level.
pub fn detail() -> Stats {
    HEAP.stats()
}

/// Takes this CPU's remote frees home and trims its empty slabs past the
/// hysteresis (each turn of the CPU's loop).
#[inline]
pub fn reclaim() {
    HEAP.reclaim();
}

/// Whether this CPU's loop has heap work before it may halt (the idle
/// check): remote frees waiting for it, or its outbox not yet sent.
pub fn has_pending() -> bool {
    HEAP.has_pending()
}

/// Serves every allocation from the page level (talc under its lock, the
/// heap before the per-CPU caches), or from the caches again. For the
/// benchmark that compares the two in one boot.
pub fn set_page_only(on: bool) {
    HEAP.set_page_only(on);
}
