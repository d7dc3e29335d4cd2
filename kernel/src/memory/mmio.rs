//! Uncached mappings of device registers.
//!
//! Device registers must not be cached (a read must reach the device), so
//! they are never accessed through the bootloader's write-back physical-memory
//! mapping: [`map`] gives each device its own uncached pages in the MMIO
//! region, handed out by a bump pointer (devices are mapped once, at boot).

use core::sync::atomic::{AtomicU64, Ordering};

use pagetable::Flags;
use x86_64::{PhysAddr, VirtAddr};

static NEXT: AtomicU64 = AtomicU64::new(0);
const PAGE: u64 = 4096;

/// Flags for device registers: present, writable, uncached, not executable.
const DEVICE: Flags = Flags::PRESENT.union(Flags::WRITABLE).union(Flags::NO_CACHE).union(Flags::WRITE_THROUGH).union(Flags::NO_EXECUTE);

/// Maps `size` bytes of device registers at physical `phys`; returns the
/// virtual address of `phys`.
///
/// # Safety
/// `phys..phys + size` must be device registers (not RAM the frame allocator
/// owns): the mapping aliases them with caching disabled.
pub unsafe fn map(phys: u64, size: u64) -> VirtAddr {
    let first = phys & !(PAGE - 1);
    let pages = (phys + size - first).div_ceil(PAGE);
    let region = super::layout::get().mmio;
    let offset = NEXT.fetch_add(pages * PAGE, Ordering::Relaxed);
    assert!(offset + pages * PAGE <= region.size(), "MMIO region exhausted");
    let virt = region.start() + offset;
    let space = super::address_space::kernel();
    for i in 0..pages {
        let page = VirtAddr::new(virt + i * PAGE);
        // SAFETY: `page` is fresh in the kernel-owned MMIO region; the frame is
        // device memory per the caller's contract, borrowed (never freed).
        if let Err(e) = unsafe { space.map(page, PhysAddr::new(first + i * PAGE), DEVICE) } {
            panic!("cannot map device registers at {phys:#x}: {e}");
        }
    }
    VirtAddr::new(virt + (phys - first))
}
