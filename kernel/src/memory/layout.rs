//! The kernel's own virtual regions.
//!
//! The bootloader places the kernel (top 2 GiB), the physical-memory mapping,
//! the boot info and its own stack. Everything Odonata maps itself lives in
//! whole PML4 slots (512 GiB each) of the upper half that were empty at boot,
//! so it can never collide with the bootloader's mappings.

use spin::Once;
use x86_64::VirtAddr;

/// Where the bootloader maps the (position-independent) kernel ELF: the top
/// 2 GiB. Fixed so that `symbol-file kernel -o KERNEL_BASE` in gdb, and the
/// runner's symbolizer, find the ELF's addresses at `address - KERNEL_BASE`.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// The first address of the upper (kernel) half: top-level entries 256..512.
/// Below it, nothing of the kernel's is mapped once boot is over.
pub const UPPER_HALF: u64 = 0xffff_8000_0000_0000;

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
    let space = super::address_space::kernel();
    let mut free = [0u16; 3];
    let mut n = 0;
    // Upper half, top down, skipping 511 (the kernel image lives there).
    for i in (256..511u16).rev() {
        if !space.top_level_used(usize::from(i)) {
            free[n] = i;
            n += 1;
            if n == free.len() {
                break;
            }
        }
    }
    assert_eq!(n, free.len(), "no free upper-half PML4 slots for the heap, stacks and MMIO");
    // Each region's level-3 table now, so every address space made later
    // shares what the kernel maps there (`address_space`, "The kernel half").
    for slot in free {
        if let Err(e) = space.reserve_kernel_slot(usize::from(slot)) {
            panic!("cannot reserve kernel slot {slot}: {e}");
        }
    }
    let region = |slot: u16| Region { start: VirtAddr::new_truncate(u64::from(slot) * SLOT_SIZE).as_u64(), size: SLOT_SIZE };
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
