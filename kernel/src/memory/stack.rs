//! Kernel stacks with guard space.
//!
//! The stacks region is cut into 1 MiB slots. A stack occupies the top of its
//! slot; everything in the slot below it stays unmapped. Overflowing a stack
//! therefore faults in its own slot, however large the frame that overflowed,
//! and [`is_overflow`] tells the double-fault handler so.
//!
//! Stacks are never freed (there is one set per CPU, for the machine's life).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, Size4KiB};

const SLOT_SIZE: u64 = 1 << 20;
const PAGE: u64 = 4096;
/// Enough slots for 4 stacks per CPU on 256 CPUs.
const MAX_SLOTS: usize = 1024;

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
/// Mapped pages of each slot's stack (0 = slot unused).
static SLOT_PAGES: [AtomicU32; MAX_SLOTS] = [const { AtomicU32::new(0) }; MAX_SLOTS];

/// A mapped kernel stack with unmapped guard space below it.
#[derive(Clone, Copy, Debug)]
pub struct KernelStack {
    bottom: u64,
    top: u64,
}

impl KernelStack {
    /// Maps a new stack of at least `size` bytes (rounded up to pages; at most
    /// 1 MiB minus one guard page).
    pub fn allocate(size: usize) -> Self {
        let pages = (size as u64).div_ceil(PAGE).max(1);
        assert!(pages < SLOT_SIZE / PAGE, "kernel stack of {size} bytes leaves no guard page");
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        assert!(slot < MAX_SLOTS, "out of kernel stack slots");
        let slot_base = super::layout::get().stacks.start() + slot as u64 * SLOT_SIZE;
        let top = slot_base + SLOT_SIZE;
        let bottom = top - pages * PAGE;
        let first = Page::<Size4KiB>::containing_address(VirtAddr::new(bottom));
        let last = Page::containing_address(VirtAddr::new(top - 1));
        if let Err(e) = super::paging::map_fresh(Page::range_inclusive(first, last), super::paging::KERNEL_DATA) {
            panic!("cannot map a kernel stack: {e:?}");
        }
        SLOT_PAGES[slot].store(pages as u32, Ordering::Release);
        Self { bottom, top }
    }

    /// Lowest mapped address.
    pub fn bottom(&self) -> u64 {
        self.bottom
    }

    /// One past the highest mapped address (16-byte aligned): the initial RSP.
    pub fn top(&self) -> u64 {
        self.top
    }
}

/// Whether a fault at `addr` is an overflow of some kernel stack: the address
/// is in the guard space of an allocated stack slot.
pub fn is_overflow(addr: u64) -> bool {
    let stacks = super::layout::get().stacks;
    if !stacks.contains(addr) {
        return false;
    }
    let offset = addr - stacks.start();
    let slot = (offset / SLOT_SIZE) as usize;
    let pages = match SLOT_PAGES.get(slot) {
        Some(p) => u64::from(p.load(Ordering::Acquire)),
        None => return false,
    };
    pages != 0 && offset % SLOT_SIZE < SLOT_SIZE - pages * PAGE
}
