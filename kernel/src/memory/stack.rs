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

/// The slot `addr` falls in, as (slot base, mapped pages of its stack);
/// `None` outside the stacks region or in an unused slot. Lock-free: the
/// fatal path and the stall detector call it.
fn slot_of(addr: u64) -> Option<(u64, u64)> {
    let stacks = super::layout::try_get()?.stacks;
    if !stacks.contains(addr) {
        return None;
    }
    let slot = ((addr - stacks.start()) / SLOT_SIZE) as usize;
    let pages = u64::from(SLOT_PAGES.get(slot)?.load(Ordering::Acquire));
    (pages != 0).then(|| (stacks.start() + slot as u64 * SLOT_SIZE, pages))
}

/// Whether a fault at `addr` is an overflow of some kernel stack: the address
/// is in the guard space of an allocated stack slot.
pub fn is_overflow(addr: u64) -> bool {
    slot_of(addr).is_some_and(|(base, pages)| addr - base < SLOT_SIZE - pages * PAGE)
}

/// The mapped range `bottom..top` of the kernel stack that holds `addr`,
/// if `addr` is on one (how a backtrace knows which frame pointers it may
/// follow).
pub fn containing(addr: u64) -> Option<core::ops::Range<u64>> {
    let (base, pages) = slot_of(addr)?;
    let (bottom, top) = (base + SLOT_SIZE - pages * PAGE, base + SLOT_SIZE);
    (bottom..top).contains(&addr).then_some(bottom..top)
}
