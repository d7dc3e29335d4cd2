//! The active page tables, edited through the bootloader's mapping of all
//! physical memory at a fixed offset.
//!
//! Lock order: the page-table lock is taken before the frame allocator's.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::page::PageRangeInclusive;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, PageTable, PageTableFlags, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

use super::frame::GlobalFrames;

static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);
static PAGE_TABLE: Mutex<Option<OffsetPageTable<'static>>> = Mutex::new(None);

/// Where physical address `phys` is mapped in the kernel's address space.
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + phys.as_u64())
}

pub(super) fn init(offset: VirtAddr) {
    PHYS_OFFSET.store(offset.as_u64(), Ordering::Relaxed);
    let (level4, _) = Cr3::read();
    let table = phys_to_virt(level4.start_address()).as_mut_ptr::<PageTable>();
    // SAFETY: CR3 points at the active level-4 table, the bootloader maps all
    // physical memory at `offset`, and this is the only reference made to the
    // table (it lives behind PAGE_TABLE's lock from now on).
    let mapper = unsafe { OffsetPageTable::new(&mut *table, offset) };
    *PAGE_TABLE.lock() = Some(mapper);
}

/// Runs `f` on the locked page tables.
pub fn with_tables<R>(f: impl FnOnce(&mut OffsetPageTable<'static>) -> R) -> R {
    f(PAGE_TABLE.lock().as_mut().expect("paging used before init"))
}

/// Flags for kernel data: present, writable, never executable.
pub const KERNEL_DATA: PageTableFlags = PageTableFlags::PRESENT
    .union(PageTableFlags::WRITABLE)
    .union(PageTableFlags::NO_EXECUTE);

/// Maps every page of `pages` to a fresh, zeroed frame with `flags`.
///
/// The pages must not be mapped yet; an error names the first that failed.
///
/// Why zeroed: a usable frame may hold whatever the firmware or the
/// bootloader left there, code included (the BIOS bootloader runs from the
/// frame at 1 MiB, which becomes the heap's first page). Nothing of that
/// should reach kernel memory. Under QEMU's TCG it matters for speed too:
/// a page the emulator once translated code from stays marked as code until
/// every translated byte of it is overwritten, and until then *every* store
/// to the page takes the emulator's self-modifying-code path (the heap's
/// first page holds the executors' hot state; BENCHMARKS.md, "Read first",
/// has the figures). Zeroing the frame overwrites every byte once, at boot.
pub fn map_fresh(
    pages: PageRangeInclusive<Size4KiB>,
    flags: PageTableFlags,
) -> Result<(), MapToError<Size4KiB>> {
    with_tables(|tables| {
        for page in pages {
            let frame = super::frame::allocate().ok_or(MapToError::FrameAllocationFailed)?;
            // SAFETY: the frame is fresh (nobody else refers to it) and the
            // bootloader's physical-memory mapping covers all RAM, writable.
            unsafe { phys_to_virt(frame.start_address()).as_mut_ptr::<u8>().write_bytes(0, frame.size() as usize) };
            // SAFETY: `frame` is fresh (nothing else refers to it) and `page` is
            // in a kernel-owned region that nothing else maps, so creating the
            // mapping aliases no existing memory.
            unsafe { tables.map_to(page, frame, flags, &mut GlobalFrames)?.flush() };
        }
        Ok(())
    })
}

/// The physical address `addr` maps to, if it is mapped.
pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
    with_tables(|tables| tables.translate_addr(addr))
}
