//! The kernel's own virtual regions.
//!
//! The bootloader places the kernel (top 2 GiB), the physical-memory mapping,
//! the boot info and its own stack. Everything Odonata maps itself lives in
//! whole PML4 slots (512 GiB each) of the upper half that were empty at boot,
//! so it can never collide with the bootloader's mappings.

use spin::Once;
use x86_64::VirtAddr;
use x86_64::structures::paging::PageTableIndex;

/// Where the bootloader maps the (position-independent) kernel ELF: the top
/// 2 GiB. Fixed so that `symbol-file kernel -o KERNEL_BASE` in gdb, and the
/// runner's symbolizer, find the ELF's addresses at `address - KERNEL_BASE`.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// A range of kernel virtual addresses.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    start: u64,
    size: u64,
}

impl Region {
    /// First address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether `addr` lies inside.
    pub fn contains(&self, addr: u64) -> bool {
        addr.wrapping_sub(self.start) < self.size
    }
}

/// The regions the kernel manages.
#[derive(Debug)]
pub struct Layout {
    /// The global allocator's memory.
    pub heap: Region,
    /// Kernel and interrupt stacks (see [`super::stack`]).
    pub stacks: Region,
    /// Uncached mappings of device registers (see [`super::mmio`]).
    pub mmio: Region,
}

const SLOT_SIZE: u64 = 1 << 39;

static LAYOUT: Once<Layout> = Once::new();

pub(super) fn init() {
    let free: [u16; 3] = super::paging::with_tables(|t| {
        let level4 = t.level_4_table();
        let mut found = [0u16; 3];
        let mut n = 0;
        // Upper half, top down, skipping 511 (the kernel image lives there).
        for i in (256..511u16).rev() {
            if level4[PageTableIndex::new(i)].is_unused() {
                found[n] = i;
                n += 1;
                if n == found.len() {
                    break;
                }
            }
        }
        assert_eq!(n, found.len(), "no free upper-half PML4 slots for the heap, stacks and MMIO");
        found
    });
    let region = |slot: u16| Region {
        start: VirtAddr::new_truncate(u64::from(slot) * SLOT_SIZE).as_u64(),
        size: SLOT_SIZE,
    };
    LAYOUT.call_once(|| Layout { heap: region(free[0]), stacks: region(free[1]), mmio: region(free[2]) });
}

/// The kernel's virtual layout, if [`init`] has run (for the fatal path,
/// which may run before it).
pub fn try_get() -> Option<&'static Layout> {
    LAYOUT.get()
}

/// The kernel's virtual layout.
pub fn get() -> &'static Layout {
    LAYOUT.get().expect("memory layout used before init")
}
