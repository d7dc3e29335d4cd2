//! The physical-memory window, and the kernel space's mapping calls kept
//! under their old names.
//!
//! The bootloader maps all physical memory at one offset in the upper half;
//! page tables, DMA buffers and freed frames are reached through it. Page
//! tables themselves are edited only through
//! [`AddressSpace`](super::address_space::AddressSpace).
//!
//! Lock order: an address space's lock is taken before the frame allocator's.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::structures::paging::Size4KiB;
use x86_64::structures::paging::page::PageRangeInclusive;
use x86_64::{PhysAddr, VirtAddr};

use super::address_space::{self, MapError};

pub use super::address_space::KERNEL_DATA;
pub use pagetable::Flags;

static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);

/// Where physical address `phys` is mapped in the kernel's address space.
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + phys.as_u64())
}

pub(super) fn init(offset: VirtAddr) {
    PHYS_OFFSET.store(offset.as_u64(), Ordering::Relaxed);
    address_space::init_kernel();
}

/// Maps every page of `pages` in the kernel space to a fresh, zeroed frame
/// with `flags` (see [`AddressSpace::map_fresh`](super::address_space::AddressSpace::map_fresh)).
pub fn map_fresh(pages: PageRangeInclusive<Size4KiB>, flags: Flags) -> Result<(), MapError> {
    let count = pages.end.start_address() - pages.start.start_address();
    address_space::kernel().map_fresh(pages.start.start_address(), count / 4096 + 1, flags)
}

/// The physical address `addr` maps to in the kernel space, if it is mapped.
pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
    address_space::kernel().query(addr).map(|t| PhysAddr::new(t.phys))
}

/// Clears the kernel space's lower half once every CPU is up: see
/// [`AddressSpace::release_lower_half`](super::address_space::AddressSpace).
pub fn release_lower_half() -> usize {
    address_space::kernel().release_lower_half()
}
