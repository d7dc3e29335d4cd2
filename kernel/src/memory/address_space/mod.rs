//! Address spaces: a root page table, the CPUs that may hold its entries,
//! and TLB shootdowns before a frame is reused.
//!
//! The tree walking is `pagetable`'s pure code; this file gives it the
//! physical-memory window and the frame allocator, and adds what only the
//! kernel knows: which CPUs run on a space, and how to reach them.
//!
//! **The kernel half.** Every space's top-level entries 256..512 are copies
//! of the kernel space's, made when the space is created. They are fixed
//! from then on: the kernel's regions (heap, stacks, MMIO) get their
//! level-3 tables at boot ([`AddressSpace::reserve_kernel_slot`]), before
//! the first user space exists, so a later kernel mapping lands in a table
//! every space already shares. [`AddressSpace::new_user`] refuses to run
//! before [`freeze_kernel_half`].
//!
//! **Who may hold entries** (`cpus`, bit n = CPU n). The kernel space: every
//! CPU, always. A user space: a CPU sets its bit before it loads the root
//! into CR3 ([`AddressSpace::activate`]) and clears it when it loads
//! another root (a CR3 load drops every non-global entry: no PCIDs here).
//!
//! **Shootdown protocol** ([`AddressSpace::unmap`], [`AddressSpace::protect`]):
//! 1. under the space's lock, change the entries (`pagetable`);
//! 2. a full fence, then read `cpus`. A CPU that sets its bit after this
//!    read loads CR3 after it too, and so walks the new entries;
//! 3. invalidate here (`invlpg`), and ask every other CPU in the set, through
//!    the shootdown hook (IPI-queue messages: `crate::tlb`), to do the
//!    same, awaiting every answer;
//! 4. only then free the frames that were unmapped.
//!
//! Writers are serialized by one lock per space (never held across an
//! await, never taken in an interrupt handler).
//!
//! A program's pages (filled before they are mapped, shared after `fork`,
//! copied on a write) are `user_pages.rs`.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use pagetable::{Flags, PhysMemory, Table, Tables, Translation};
use spin::{Mutex, Once};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

use super::paging::phys_to_virt;

mod user_pages;

pub use user_pages::Shared;

pub use pagetable::{Error as TableError, LOWER_HALF_END};

const PAGE: u64 = pagetable::PAGE_SIZE;

/// Flags for kernel data: present, writable, never executable.
pub const KERNEL_DATA: Flags = Flags::PRESENT.union(Flags::WRITABLE).union(Flags::NO_EXECUTE);

/// Why a mapping call was refused; nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The page tables refused it (already mapped, not mapped, huge page,
    /// no memory for a table, a bad address).
    Table(TableError),
    /// The address is in the other half: a user space maps only the lower
    /// half, the kernel space only the upper.
    WrongHalf(u64),
    /// No frame to map.
    NoMemory,
    /// Another CPU may cache the space's entries, and the call changes them
    /// without a shootdown.
    NotLocal,
}

impl From<TableError> for MapError {
    fn from(e: TableError) -> Self {
        Self::Table(e)
    }
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Table(e) => e.fmt(f),
            Self::WrongHalf(a) => write!(f, "{a:#x} is in the other half of the address space"),
            Self::NoMemory => f.write_str("out of physical frames"),
            Self::NotLocal => f.write_str("another CPU may cache this address space"),
        }
    }
}

/// What to invalidate.
#[derive(Clone, Copy, Debug)]
pub struct Flush {
    /// First page.
    pub start: u64,
    /// Pages from `start`; more than [`Flush::FULL_AFTER`] of a user space's
    /// flush everything.
    pub pages: u64,
    /// The pages are the kernel's: a CR3 reload would keep a global entry,
    /// so they are invalidated one by one (`invlpg` drops global entries too).
    pub kernel: bool,
}

impl Flush {
    /// Past this many pages one CR3 reload is cheaper than `invlpg` each.
    pub const FULL_AFTER: u64 = 32;

    /// Invalidates the range on this CPU.
    pub fn here(&self) {
        if self.pages > Self::FULL_AFTER && !self.kernel {
            x86_64::instructions::tlb::flush_all();
        } else {
            for i in 0..self.pages {
                x86_64::instructions::tlb::flush(VirtAddr::new(self.start + i * PAGE));
            }
        }
    }
}

/// The future a shootdown hook returns: done once every CPU asked has
/// invalidated.
pub type ShootdownFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How other CPUs are asked to invalidate (installed by `boot`: the IPI
/// queues live above this layer). Arguments: the CPU set (this CPU
/// excluded), what to flush.
pub type ShootdownHook = fn(u64, Flush) -> ShootdownFuture;

static SHOOTDOWN: Once<ShootdownHook> = Once::new();

/// Installs the shootdown hook (once, at boot).
pub(crate) fn set_shootdown_hook(hook: ShootdownHook) {
    SHOOTDOWN.call_once(|| hook);
}

/// What an address space needs to know of CPUs, given by the layers above
/// (`boot` installs them first thing: `memory` sits below `arch` and `smp`).
#[derive(Clone, Copy, Debug)]
pub struct CpuHooks {
    /// The running CPU's number.
    pub current: fn() -> usize,
    /// How many CPUs are online (numbered 0..n).
    pub online: fn() -> usize,
    /// Records `new` as the space the running CPU runs (null: the
    /// kernel's) in its per-CPU block and returns the one it ran.
    pub swap_current: fn(*mut AddressSpace) -> *mut AddressSpace,
}

static CPU_HOOKS: Once<CpuHooks> = Once::new();

/// Installs the CPU hooks (once, at boot).
pub(crate) fn set_cpu_hooks(hooks: CpuHooks) {
    CPU_HOOKS.call_once(|| hooks);
}

/// The running CPU's number, once boot installed the hooks.
pub(crate) fn current_cpu() -> Option<usize> {
    CPU_HOOKS.get().map(|h| (h.current)())
}

fn cpu_hooks() -> &'static CpuHooks {
    CPU_HOOKS.get().expect("address spaces switched before boot installed their CPU hooks")
}

/// The physical-memory window, as `pagetable` reaches tables.
struct Window;

impl PhysMemory for Window {
    unsafe fn table(&self, phys: u64) -> &Table {
        // SAFETY: the window maps all physical memory, writable, for the
        // kernel's lifetime; the caller promises `phys` is a live table frame
        // (aligned, 4 KiB: exactly one `Table`).
        unsafe { &*phys_to_virt(PhysAddr::new(phys)).as_ptr::<Table>() }
    }
}

/// The frame allocator, as `pagetable` takes frames.
struct KernelFrames;

impl pagetable::Frames for KernelFrames {
    fn allocate(&mut self) -> Option<u64> {
        super::frame::allocate().map(|f| f.start_address().as_u64())
    }

    unsafe fn free(&mut self, frame: u64) {
        // SAFETY: the caller (pagetable) passes a frame no table refers to and
        // no CPU can reach; frames reach it only from this allocator. A frame
        // another space still maps (copy-on-write) only loses an owner.
        unsafe { super::shared_frames::release(frame) };
    }
}

/// Which half a space maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Half {
    Kernel,
    User,
}

/// A tree of page tables and the CPUs that may cache it.
pub struct AddressSpace {
    tables: Tables,
    /// Serializes writers (rule 2 of `pagetable`).
    lock: Mutex<()>,
    /// CPUs that may hold its entries (bit n = CPU n).
    cpus: AtomicU64,
    half: Half,
}

static KERNEL: Once<AddressSpace> = Once::new();
static KERNEL_HALF_FROZEN: AtomicBool = AtomicBool::new(false);

/// Takes the boot page tables (CR3) as the kernel's space.
pub(super) fn init_kernel() {
    let root = Cr3::read().0.start_address().as_u64();
    KERNEL.call_once(|| AddressSpace {
        tables: Tables::from_root(root),
        lock: Mutex::new(()),
        cpus: AtomicU64::new(u64::MAX),
        half: Half::Kernel,
    });
}

/// Declares the kernel half complete: every region the kernel maps into
/// has its top-level entry (after `layout::init`). User spaces may be made
/// from then on.
pub(super) fn freeze_kernel_half() {
    KERNEL_HALF_FROZEN.store(true, Ordering::Release);
}

/// The kernel's space (the boot page tables).
pub fn kernel() -> &'static AddressSpace {
    KERNEL.get().expect("address spaces used before memory::init")
}

impl AddressSpace {
    /// A new space for a program: an empty lower half, the kernel half
    /// shared.
    pub fn new_user() -> Result<Arc<Self>, MapError> {
        assert!(KERNEL_HALF_FROZEN.load(Ordering::Acquire), "a user space made before the kernel half was complete");
        let kernel = kernel();
        let tables = {
            let _writer = kernel.lock.lock();
            Tables::new_sharing_kernel(&Window, &mut KernelFrames, &kernel.tables)?
        };
        Ok(Arc::new(Self { tables, lock: Mutex::new(()), cpus: AtomicU64::new(0), half: Half::User }))
    }

    /// The root table's frame (what CR3 holds while the space is active).
    pub fn root(&self) -> PhysAddr {
        PhysAddr::new(self.tables.root())
    }

    /// The CPUs that may hold its entries (bit n = CPU n).
    pub fn cpus(&self) -> u64 {
        self.cpus.load(Ordering::Acquire)
    }

    /// Maps the page at `page` to `frame` with `flags`. With
    /// [`Flags::OWNED`] the frame becomes the space's: freed when unmapped
    /// (after the shootdown) or when the space is dropped.
    ///
    /// # Safety
    /// 1. `frame` is memory the caller may hand out this way: owned frames
    ///    come from the frame allocator and are referred to by nothing
    ///    else; borrowed ones (device registers, DMA memory) outlive the
    ///    mapping.
    /// 2. In the kernel space, nothing else maps `page` or relies on it
    ///    being unmapped (a stack's guard page).
    pub unsafe fn map(&self, page: VirtAddr, frame: PhysAddr, flags: Flags) -> Result<(), MapError> {
        self.check_half(page.as_u64())?;
        let _writer = self.lock.lock();
        self.tables.map(&Window, &mut KernelFrames, page.as_u64(), frame.as_u64(), flags)?;
        // A new entry needs no invalidation: no TLB can hold a non-present one.
        Ok(())
    }

    /// Maps `pages` pages from `start` to fresh, zeroed frames the space
    /// owns. On an error, the pages mapped before it stay mapped.
    ///
    /// Why zeroed: a usable frame may hold whatever the firmware or the
    /// bootloader left there, code included (the BIOS bootloader runs from
    /// the frame at 1 MiB, which becomes the heap's first page). Nothing of
    /// that should reach kernel or program memory. Under QEMU's TCG it
    /// matters for speed too: a page the emulator once translated code from
    /// takes its self-modifying-code path on every store until each
    /// translated byte is overwritten (BENCHMARKS.md, "Read first").
    pub fn map_fresh(&self, start: VirtAddr, pages: u64, flags: Flags) -> Result<(), MapError> {
        for i in 0..pages {
            let frame = super::frame::allocate().ok_or(MapError::NoMemory)?;
            // SAFETY: the frame is fresh (nobody else refers to it).
            unsafe { super::paging::zero_frame(frame.start_address()) };
            // SAFETY: an owned, fresh frame (rule 1); the caller's range is its
            // own to map (rule 2: `map` refuses a page already mapped).
            let mapped = unsafe { self.map(start + i * PAGE, frame.start_address(), flags | Flags::OWNED) };
            if let Err(e) = mapped {
                // SAFETY: never mapped, so no TLB or table refers to it.
                unsafe { super::frame::deallocate(frame) };
                return Err(e);
            }
        }
        Ok(())
    }

    /// Where `addr` leads, if it is mapped.
    pub fn query(&self, addr: VirtAddr) -> Option<Translation> {
        self.tables.query(&Window, addr.as_u64())
    }

    /// Unmaps `pages` pages from `start`, invalidates them on every CPU that
    /// may hold them, then frees the owned frames; returns how many pages
    /// were mapped. Pages in the range that were not mapped are skipped.
    pub async fn unmap(&self, start: VirtAddr, pages: u64) -> Result<u64, MapError> {
        self.check_range(start.as_u64(), pages)?;
        let mut owned = Vec::new();
        let mut unmapped = 0;
        {
            let _writer = self.lock.lock();
            // Only what is mapped: a range may be as large as the half.
            let end = start.as_u64() + pages * PAGE;
            let mut at = start.as_u64();
            while let Some(page) = self.tables.next_mapped(&Window, at, end) {
                at = page + PAGE;
                match self.tables.unmap(&Window, page) {
                    Ok(gone) => {
                        unmapped += 1;
                        if gone.owned() {
                            owned.push(gone.frame);
                        }
                    }
                    Err(TableError::NotMapped(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if unmapped == 0 {
            // Nothing was mapped: no entry to invalidate anywhere.
            return Ok(0);
        }
        self.shoot_down(Flush { start: start.as_u64(), pages, kernel: self.half == Half::Kernel }).await;
        for frame in owned {
            // SAFETY: unmapped above, and every CPU that could hold it has
            // invalidated it (step 4 of the protocol); a frame another space
            // still maps only loses this owner.
            unsafe { super::shared_frames::release(frame) };
        }
        Ok(unmapped)
    }

    /// Sets the flags of `pages` mapped pages from `start` (every one must
    /// be mapped; the first that is not ends the call with an error, the
    /// pages before it changed), then invalidates them everywhere.
    pub async fn protect(&self, start: VirtAddr, pages: u64, flags: Flags) -> Result<(), MapError> {
        self.check_range(start.as_u64(), pages)?;
        let result = {
            let _writer = self.lock.lock();
            (0..pages).try_for_each(|i| self.tables.protect(&Window, start.as_u64() + i * PAGE, flags).map(drop))
        };
        self.shoot_down(Flush { start: start.as_u64(), pages, kernel: self.half == Half::Kernel }).await;
        Ok(result?)
    }

    /// Sets the flags of the mapped pages among `pages` pages from `start`
    /// (unmapped ones are skipped), then invalidates the range everywhere:
    /// `mprotect` over a range the program has touched only in part.
    pub async fn protect_present(&self, start: VirtAddr, pages: u64, flags: impl Fn(Flags) -> Flags) -> Result<(), MapError> {
        self.check_range(start.as_u64(), pages)?;
        {
            let _writer = self.lock.lock();
            let end = start.as_u64() + pages * PAGE;
            let mut at = start.as_u64();
            while let Some(page) = self.tables.next_mapped(&Window, at, end) {
                at = page + PAGE;
                if let Some(t) = self.tables.query(&Window, page) {
                    self.tables.protect(&Window, page, flags(t.flags))?;
                }
            }
        }
        self.shoot_down(Flush { start: start.as_u64(), pages, kernel: self.half == Half::Kernel }).await;
        Ok(())
    }

    /// The first mapped page at or after `from` and below `to`, skipping
    /// absent tables whole (`pagetable::Tables::next_mapped`): walks over a
    /// program's regions cost what is mapped, not the regions' size. No
    /// lock: a read of entries, and tables are never freed while the space
    /// lives.
    pub fn next_mapped(&self, from: VirtAddr, to: VirtAddr) -> Option<VirtAddr> {
        self.tables.next_mapped(&Window, from.as_u64(), to.as_u64()).map(VirtAddr::new)
    }

    /// Loads this space on the running CPU (CR3), after adding the CPU to
    /// its set; the space this CPU ran before leaves the set. The per-CPU
    /// block keeps a reference until the next switch.
    pub fn activate(self: &Arc<Self>) {
        let hooks = cpu_hooks();
        let bit = 1u64 << (hooks.current)();
        self.cpus.fetch_or(bit, Ordering::SeqCst);
        let new = Arc::into_raw(Arc::clone(self)).cast_mut();
        let old = (hooks.swap_current)(new);
        load_root(self.root());
        forget_previous(old, new, bit);
    }

    /// Makes sure this space is the one loaded on the running CPU (a task
    /// that waited may resume after another space was loaded here):
    /// [`activate`](Self::activate) unless CR3 holds its root already.
    pub fn ensure_active(self: &Arc<Self>) {
        if Cr3::read().0 != PhysFrame::containing_address(self.root()) {
            self.activate();
        }
    }

    /// Identity-maps the AP trampoline's page (below 1 MiB) in the kernel
    /// space, executable; an identity mapping the bootloader made already
    /// is made executable. [`release_lower_half`](Self::release_lower_half)
    /// removes it once every CPU is up.
    ///
    /// # Safety
    /// `frame` holds only the trampoline, which nothing else maps.
    pub(crate) unsafe fn map_trampoline(&self, frame: PhysAddr) -> Result<(), MapError> {
        assert_eq!(self.half, Half::Kernel);
        let flags = Flags::PRESENT | Flags::WRITABLE;
        let at = frame.as_u64();
        let _writer = self.lock.lock();
        match self.tables.map(&Window, &mut KernelFrames, at, at, flags) {
            Err(TableError::AlreadyMapped(to)) if to == at => {
                self.tables.protect(&Window, at, flags)?;
                x86_64::instructions::tlb::flush(VirtAddr::new(at));
                Ok(())
            }
            other => Ok(other?),
        }
    }

    /// `pages` pages from `start` lie in this space's half (and do not wrap).
    fn check_range(&self, start: u64, pages: u64) -> Result<(), MapError> {
        let last = pages.saturating_sub(1).checked_mul(PAGE).and_then(|n| start.checked_add(n)).ok_or(MapError::WrongHalf(start))?;
        self.check_half(start)?;
        self.check_half(last)
    }

    fn check_half(&self, addr: u64) -> Result<(), MapError> {
        let lower = addr < LOWER_HALF_END;
        match (self.half, lower) {
            (Half::User, true) | (Half::Kernel, false) => Ok(()),
            _ => Err(MapError::WrongHalf(addr)),
        }
    }

    /// Invalidates the entries of `pages` (page addresses) on every CPU
    /// that may cache them: each alone when there are few, else the whole
    /// space's at once (one CR3 reload, as [`Flush::here`] decides). For
    /// entries changed in place, such as those [`share_page`](Self::share_page)
    /// made read-only.
    pub async fn invalidate(&self, pages: &[u64]) {
        if pages.len() as u64 > Flush::FULL_AFTER {
            self.shoot_down(Flush { start: 0, pages: pages.len() as u64, kernel: self.half == Half::Kernel }).await;
            return;
        }
        for &page in pages {
            self.shoot_down(Flush { start: page, pages: 1, kernel: self.half == Half::Kernel }).await;
        }
    }

    /// Steps 2-3 of the protocol.
    async fn shoot_down(&self, flush: Flush) {
        core::sync::atomic::fence(Ordering::SeqCst);
        let hooks = cpu_hooks();
        let me = (hooks.current)();
        let online_mask = match (hooks.online)() {
            64.. => u64::MAX,
            n => (1u64 << n) - 1,
        };
        let others = self.cpus.load(Ordering::SeqCst) & online_mask & !(1u64 << me);
        flush.here();
        if others != 0 {
            let hook = SHOOTDOWN.get().expect("a shootdown across CPUs before boot installed its hook");
            hook(others, flush).await;
        }
    }

    /// Clears the lower half of the kernel space and flushes this CPU's TLB;
    /// returns how many top-level entries were in use.
    ///
    /// What remains there once every CPU runs on the kernel's own GDT,
    /// stacks and code: the bootloader's identity mappings of its
    /// context-switch and GDT pages, and the AP trampoline's page. Their
    /// table frames are left alone (a handful, most of them the
    /// bootloader's, which the frame allocator never owned). Other CPUs may
    /// keep a stale TLB entry for the trampoline page until their next CR3
    /// load; nothing of the kernel's touches it again.
    pub(super) fn release_lower_half(&self) -> usize {
        assert_eq!(self.half, Half::Kernel);
        let _writer = self.lock.lock();
        // SAFETY: the root.
        let top = unsafe { Window.table(self.tables.root()) };
        let cleared = top[..pagetable::FIRST_KERNEL_ENTRY].iter().filter(|e| e.swap(0, Ordering::AcqRel) != 0).count();
        x86_64::instructions::tlb::flush_all();
        cleared
    }

    /// Whether top-level entry `i` is in use.
    pub fn top_level_used(&self, i: usize) -> bool {
        self.tables.top_level_used(&Window, i)
    }

    /// How many top-level entries of the lower half are in use.
    pub fn lower_half_entries(&self) -> usize {
        (0..pagetable::FIRST_KERNEL_ENTRY).filter(|&i| self.tables.top_level_used(&Window, i)).count()
    }

    /// Gives the kernel space's top-level slot `slot` (256..511) its
    /// level-3 table now, so every user space made later shares what the
    /// kernel maps there (see the module doc).
    pub(super) fn reserve_kernel_slot(&self, slot: usize) -> Result<(), MapError> {
        assert_eq!(self.half, Half::Kernel);
        assert!(!KERNEL_HALF_FROZEN.load(Ordering::Acquire), "kernel slots are reserved at boot");
        let _writer = self.lock.lock();
        self.tables.reserve_top_level(&Window, &mut KernelFrames, slot)?;
        Ok(())
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        assert_eq!(self.half, Half::User, "the kernel space is never dropped");
        assert_eq!(self.cpus(), 0, "an address space dropped while a CPU may hold its entries");
        // SAFETY: no CPU holds its entries (asserted: each CPU that loaded it
        // loaded another root since, dropping its TLB entries), and the
        // last reference is going, so nothing else refers to its tables or
        // owned frames. The kernel half (256..) is shared and left alone.
        unsafe { self.tables.tear_down(&Window, &mut KernelFrames, 0..pagetable::FIRST_KERNEL_ENTRY) };
        // SAFETY: the root, unreferenced as above.
        unsafe { super::frame::deallocate(PhysFrame::containing_address(self.root())) };
    }
}

/// Loads the kernel space on this CPU, leaving whatever user space it ran.
pub fn activate_kernel() {
    let hooks = cpu_hooks();
    let bit = 1u64 << (hooks.current)();
    let old = (hooks.swap_current)(core::ptr::null_mut());
    if !old.is_null() {
        load_root(kernel().root());
    }
    forget_previous(old, core::ptr::null_mut(), bit);
}

fn load_root(root: PhysAddr) {
    let frame = PhysFrame::containing_address(root);
    if Cr3::read().0 != frame {
        // SAFETY: every root made here shares the kernel half, so the code,
        // stack and data the kernel runs on stay mapped across the switch.
        unsafe { Cr3::write(frame, Cr3Flags::empty()) };
    }
}

/// The space this CPU ran before a switch leaves the CPU's set (its entries
/// went with the CR3 load) unless it is the one now loaded, and loses the
/// per-CPU block's reference.
fn forget_previous(old: *mut AddressSpace, new: *mut AddressSpace, bit: u64) {
    if old.is_null() {
        return;
    }
    // SAFETY: the per-CPU block only ever holds pointers from `Arc::into_raw`
    // (in `activate`), one reference each, swapped out exactly once.
    let old = unsafe { Arc::from_raw(old) };
    if !core::ptr::eq(Arc::as_ptr(&old), new) {
        old.cpus.fetch_and(!bit, Ordering::SeqCst);
    }
    drop(old);
}

/// How the per-CPU block holds the space its CPU runs (null: the kernel's).
pub type CurrentSpace = AtomicPtr<AddressSpace>;
