//! Physical and virtual memory.
//!
//! - [`frame`]: 4 KiB physical frames from the bootloader's memory map.
//! - [`paging`]: the physical-memory window (all RAM, mapped by the
//!   bootloader in the upper half);
//! - [`address_space`]: page tables (`pagetable`'s pure walker) with the
//!   CPUs that may cache them and TLB shootdowns; the kernel's own space and
//!   programs' spaces.
//! - [`layout`]: kernel-owned virtual regions (heap, stacks), each a PML4 slot
//!   the bootloader left empty.
//! - [`stack`]: kernel stacks with unmapped guard space below them.
//! - [`mmio`]: uncached mappings of device registers (APICs).
//! - [`pressure`]: whether free frames are short, and a wake for caches.
//! - [`page_buf`]: a page of bytes in a frame of its own (a cache's block).

pub mod address_space;
pub mod dma;
pub mod frame;
pub mod layout;
pub mod mmio;
pub mod page_buf;
pub mod paging;
pub mod pressure;
pub mod shared_frames;
pub mod stack;

use bootloader_api::BootInfo;
pub use x86_64::{PhysAddr, VirtAddr};

/// Heap size: one eighth of usable RAM, at least 16 MiB (when RAM allows:
/// never more than half of RAM), at most 1 GiB.
pub fn heap_size_for(usable_bytes: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let size = (usable_bytes / 8).clamp(16 * MIB, 1024 * MIB).min(usable_bytes / 2);
    size & !0xfff
}

/// Sets up frames, page tables and the kernel's virtual layout (`boot` then
/// maps the heap: `crate::heap::init`).
pub fn init(info: &BootInfo) {
    let Some(offset) = info.physical_memory_offset.into_option() else {
        panic!("the bootloader did not map physical memory (BOOTLOADER_CONFIG asks it to)");
    };
    frame::init(&info.memory_regions);
    paging::init(VirtAddr::new(offset));
    layout::init();
    address_space::freeze_kernel_half();
}

/// What needs the heap: the shared-frame counts (`boot`, right after
/// `heap::init`).
pub fn init_after_heap() {
    shared_frames::init(frame::end());
}
