//! A program's memory: its address space and the regions it may touch.
//!
//! Nothing is mapped until the program touches it. A region says what a
//! page of it holds (zeros, or bytes of an image or file) and how it may be
//! accessed; a page fault inside a region maps a fresh page filled from
//! that source ([`Memory::fault`]), or, for a whole page of a file in a
//! read-only region (a program's text), the file's cached frame itself
//! (`fs::FileBytes::page`), with the neighbours the cache holds
//! ([`Memory::map_around`]); a fault outside every region, or an access the
//! region does not allow, is the program's error (SIGSEGV).
//!
//! Layout (lower half, 47 bits):
//!
//! ```text
//! 0x0000_0000_0001_0000   lowest mapping allowed (a null pointer faults)
//! program segments        where an ET_EXEC program says, or PIE_BASE
//! the break               from the page after the last segment, upward
//! mmap regions            from MMAP_TOP downward
//! the stack               STACK_SIZE below STACK_TOP
//! ```

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kernel::memory::VirtAddr;
use kernel::memory::address_space::{AddressSpace, MapError, Shared};
use linux::errno::{self, Errno};
use pagetable::Flags;

/// Bytes in a page.
pub const PAGE: u64 = 4096;
/// The lowest address a mapping may start at.
pub const MIN_ADDRESS: u64 = 0x1_0000;
/// Where a static-pie program is loaded.
pub const PIE_BASE: u64 = 0x5555_5555_4000;
/// The top of the initial stack.
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
/// The stack region's size (`ulimit -s`: 8 MiB, as Linux's default).
pub const STACK_SIZE: u64 = 8 << 20;
/// The window a fault on a read-only file page maps at once
/// ([`Memory::map_around`]): 16 pages, Linux's default.
pub const FAULT_AROUND: u64 = 16 * PAGE;
/// `mmap` without a hint allocates downward from here.
pub const MMAP_TOP: u64 = STACK_TOP - STACK_SIZE - (1 << 30);

/// How a region may be accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Prot {
    /// From `PROT_*` bits.
    pub fn from_bits(bits: u32) -> Self {
        use linux::flags::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};
        Self { read: bits & PROT_READ != 0, write: bits & PROT_WRITE != 0, exec: bits & PROT_EXEC != 0 }
    }

    /// Readable and writable, not executable.
    pub const RW: Self = Self { read: true, write: true, exec: false };

    fn page_flags(self) -> Flags {
        let mut f = Flags::PRESENT | Flags::USER;
        if self.write {
            f |= Flags::WRITABLE;
        }
        if !self.exec {
            f |= Flags::NO_EXECUTE;
        }
        f
    }
}

/// What a region's pages hold before the program writes them.
#[derive(Clone)]
pub enum Backing {
    /// Zeros.
    Zero,
    /// Bytes of `data`: address `vaddr + i` holds `data[offset + i]` for
    /// `i < size`; everything else in the region is zero.
    Bytes {
        /// The image or file contents (shared with the file: a write to
        /// the file copies them, this mapping keeps what it mapped).
        data: Arc<crate::fs::FileBytes>,
        /// The address of byte `offset`.
        vaddr: u64,
        /// Where the bytes start in `data`.
        offset: u64,
        /// How many bytes.
        size: u64,
    },
}

#[derive(Clone)]
struct Region {
    end: u64,
    prot: Prot,
    backing: Backing,
    /// A page of it may be mapped (it was touched, populated or shared):
    /// removing an untouched region needs no page-table walk.
    touched: bool,
}

/// Why a fault is the program's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadAccess {
    /// No region holds the address.
    Unmapped,
    /// The region does not allow the access.
    Denied,
    /// No memory left for the page.
    NoMemory,
}

/// A program's address space and regions.
pub struct Memory {
    space: Arc<AddressSpace>,
    regions: BTreeMap<u64, Region>,
    brk_start: u64,
    brk: u64,
}

fn map_error(e: MapError) -> Errno {
    match e {
        MapError::NoMemory => errno::ENOMEM,
        _ => errno::EINVAL,
    }
}

impl Memory {
    /// An empty address space.
    pub fn new() -> Result<Self, Errno> {
        let space = AddressSpace::new_user().map_err(map_error)?;
        Ok(Self { space, regions: BTreeMap::new(), brk_start: 0, brk: 0 })
    }

    /// The address space.
    pub fn space(&self) -> &Arc<AddressSpace> {
        &self.space
    }

    /// Adds a region `[start, end)` (page aligned, free).
    pub fn add(&mut self, start: u64, end: u64, prot: Prot, backing: Backing) {
        debug_assert!(start.is_multiple_of(PAGE) && end.is_multiple_of(PAGE) && start < end);
        debug_assert!(self.is_free(start, end));
        self.regions.insert(start, Region { end, prot, backing, touched: false });
    }

    /// Sets where the break starts (after the program's segments).
    pub fn set_brk_start(&mut self, at: u64) {
        self.brk_start = at.next_multiple_of(PAGE);
        self.brk = self.brk_start;
    }

    /// Whether no region overlaps `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.regions.range(..end).next_back().is_none_or(|(_, r)| r.end <= start)
    }

    fn region_of(&self, addr: u64) -> Option<(u64, &Region)> {
        let (&start, r) = self.regions.range(..=addr).next_back()?;
        (addr < r.end).then_some((start, r))
    }

    /// Writes `bytes` at `addr` into pages not mapped yet, mapping them now
    /// (the initial stack). The range must lie in a region.
    pub fn populate(&mut self, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
        let end = addr + bytes.len() as u64;
        let mut page = addr & !(PAGE - 1);
        while page < end {
            let (start, region) = self.region_of(page).ok_or(errno::EFAULT)?;
            let flags = region.prot.page_flags();
            self.regions.get_mut(&start).expect("found").touched = true;
            self.space
                .map_filled(VirtAddr::new(page), flags, |frame| {
                    let from = page.max(addr);
                    let to = (page + PAGE).min(end);
                    frame[(from - page) as usize..(to - page) as usize]
                        .copy_from_slice(&bytes[(from - addr) as usize..(to - addr) as usize]);
                })
                .map_err(map_error)?;
            page += PAGE;
        }
        Ok(())
    }

    /// Handles a page fault at `addr` (`write`: a write; `exec`: an
    /// instruction fetch): maps the page from its region, or says why the
    /// access is the program's error.
    pub fn fault(&mut self, addr: u64, write: bool, exec: bool) -> Result<(), BadAccess> {
        self.fault_on(addr, write, exec, true)
    }

    /// [`Self::fault`] for a fault the CPU said was on a page not present
    /// (error code bit 0 clear): only this thread maps its pages, so the
    /// page needs no look-up first.
    pub fn fault_not_present(&mut self, addr: u64, write: bool, exec: bool) -> Result<(), BadAccess> {
        self.fault_on(addr, write, exec, false)
    }

    fn fault_on(&mut self, addr: u64, write: bool, exec: bool, maybe_present: bool) -> Result<(), BadAccess> {
        let (start, region) = self.region_of(addr).ok_or(BadAccess::Unmapped)?;
        let prot = region.prot;
        if (write && !prot.write) || (exec && !prot.exec) || !(prot.read || prot.write || prot.exec) {
            return Err(BadAccess::Denied);
        }
        let page = addr & !(PAGE - 1);
        if maybe_present && let Some(t) = self.space.query(VirtAddr::new(page)) {
            if write && !t.flags.contains(Flags::WRITABLE) {
                // Copy-on-write (after `fork`): the page becomes this
                // program's own.
                return self.space.write_fault_local(VirtAddr::new(page), prot.page_flags()).map_err(|e| match e {
                    MapError::NoMemory => BadAccess::NoMemory,
                    _ => BadAccess::Denied,
                });
            }
            // Mapped already with the region's rights: a stale TLB entry,
            // now reloaded. Nothing to do.
            return Ok(());
        }
        let backing = region.backing.clone();
        self.regions.get_mut(&start).expect("found").touched = true;
        if !prot.write
            && let Some(shared) = cached_page(&backing, page)
        {
            // A read-only page of a file: the file's cached frame itself.
            match self.space.map_shared(VirtAddr::new(page), shared, prot.page_flags()) {
                Ok(true) => {
                    self.map_around(page, start, &backing, prot);
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => return Err(if e == MapError::NoMemory { BadAccess::NoMemory } else { BadAccess::Denied }),
            }
        }
        self.space.map_filled(VirtAddr::new(page), prot.page_flags(), |frame| fill(frame, page, &backing)).or_else(|e| match e {
            MapError::NoMemory => Err(BadAccess::NoMemory),
            // Mapped already (the CPU's "not present" was stale): done.
            _ if self.space.query(VirtAddr::new(page)).is_some() => Ok(()),
            _ => Err(BadAccess::Denied),
        })
    }

    /// Fault-around (as Linux's `fault_around_bytes`): after a fault on a
    /// read-only page of a file, the other pages of its aligned
    /// [`FAULT_AROUND`] window that the file's cache holds whole are mapped
    /// too, where nothing is mapped yet. A program's text is read in runs:
    /// one fault instead of one per page, which matters most to a child
    /// of `fork` that runs code its parent never touched (a server's
    /// per-request child), and to every program's start.
    fn map_around(&self, page: u64, region_start: u64, backing: &Backing, prot: Prot) {
        let Some(region_end) = self.regions.get(&region_start).map(|r| r.end) else { return };
        let window = page & !(FAULT_AROUND - 1);
        let from = window.max(region_start);
        let to = (window + FAULT_AROUND).min(region_end);
        for near in (from..to).step_by(PAGE as usize).filter(|&p| p != page) {
            let at = VirtAddr::new(near);
            if self.space.query(at).is_some() {
                continue;
            }
            let Some(shared) = cached_page(backing, near) else { continue };
            // Best effort: a page left out faults later as any other.
            if self.space.map_shared(at, shared, prot.page_flags()).is_err() {
                return;
            }
        }
    }

    /// `brk(addr)`: moves the break (never below where it started); returns
    /// the break now (unchanged if `addr` is refused, as Linux does).
    pub async fn set_brk(&mut self, addr: u64) -> u64 {
        if addr < self.brk_start || addr >= MMAP_TOP {
            return self.brk;
        }
        let old_end = self.brk.next_multiple_of(PAGE);
        let new_end = addr.next_multiple_of(PAGE);
        if new_end > old_end {
            if !self.is_free(old_end, new_end) {
                return self.brk;
            }
            self.add(old_end, new_end, Prot::RW, Backing::Zero);
        } else if new_end < old_end {
            self.remove(new_end, old_end).await;
        }
        self.brk = addr;
        addr
    }

    /// Finds `len` free bytes (page multiple) below `MMAP_TOP`, highest
    /// first.
    pub fn find_free(&self, len: u64) -> Option<u64> {
        let mut top = MMAP_TOP;
        for (&start, r) in self.regions.range(..MMAP_TOP).rev() {
            if r.end <= top && top - r.end >= len {
                return Some(top - len);
            }
            top = top.min(start);
        }
        top.checked_sub(len).filter(|&a| a >= MIN_ADDRESS)
    }

    /// Removes `[start, end)` from every region (splitting them) and
    /// unmaps its pages.
    pub async fn remove(&mut self, start: u64, end: u64) {
        let overlapping: Vec<u64> = self.regions.range(..end).filter(|(_, r)| r.end > start).map(|(&s, _)| s).collect();
        let touched = overlapping.iter().any(|s| self.regions[s].touched);
        for s in overlapping {
            let r = self.regions.remove(&s).expect("listed just now");
            if s < start {
                self.regions.insert(s, Region { end: start, ..r.clone() });
            }
            if r.end > end {
                self.regions.insert(end, Region { end: r.end, ..r.clone() });
            }
        }
        if !touched {
            return;
        }
        let pages = (end - start) / PAGE;
        // The range is in the lower half and page aligned: unmap cannot fail.
        let _ = self.space.unmap(VirtAddr::new(start), pages).await;
    }

    /// `mprotect`: every page of `[start, end)` must be in a region.
    pub async fn protect(&mut self, start: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        let mut at = start;
        while at < end {
            let (_, r) = self.region_of(at).ok_or(errno::ENOMEM)?;
            at = r.end;
        }
        let overlapping: Vec<u64> = self.regions.range(..end).filter(|(_, r)| r.end > start).map(|(&s, _)| s).collect();
        for s in overlapping {
            let r = self.regions.remove(&s).expect("listed just now");
            if s < start {
                self.regions.insert(s, Region { end: start, ..r.clone() });
            }
            self.regions.insert(s.max(start), Region { end: r.end.min(end), prot, backing: r.backing.clone(), touched: r.touched });
            if r.end > end {
                self.regions.insert(end, Region { end: r.end, ..r });
            }
        }
        let flags = prot.page_flags();
        let none = !(prot.read || prot.write || prot.exec);
        let pages = (end - start) / PAGE;
        if none {
            // PROT_NONE: the next access faults and is refused.
            let _ = self.space.unmap(VirtAddr::new(start), pages).await;
            return Ok(());
        }
        // A page that is read-only now stays so (it may be shared: after
        // `fork`, or a file's cached frame); made writable, its first
        // write faults and makes it the program's own (copy-on-write).
        let keep_read_only = |old: Flags| if old.contains(Flags::WRITABLE) { flags } else { flags.difference(Flags::WRITABLE) };
        self.space.protect_present(VirtAddr::new(start), pages, keep_read_only).await.map_err(map_error)
    }

    /// The child's memory for `fork`: the same regions, every page the
    /// program has touched shared with the child, writable ones
    /// copy-on-write (read-only on both sides until one writes).
    pub async fn fork(&self) -> Result<Self, Errno> {
        let child = Memory {
            space: AddressSpace::new_user().map_err(map_error)?,
            regions: self.regions.clone(),
            brk_start: self.brk_start,
            brk: self.brk,
        };
        // The parent's entries that lost their write right: flushed once,
        // together (a fork is one flush, not one per region).
        let mut revoked = Vec::new();
        let mut result = Ok(());
        'regions: for (&start, r) in &self.regions {
            // The pages the parent touched: a region may be far larger.
            let mut at = VirtAddr::new(start);
            while let Some(page) = self.space.next_mapped(at, VirtAddr::new(r.end)) {
                at = page + PAGE;
                match self.space.share_page(page, &child.space, r.prot.write) {
                    Ok(Shared::WriteRevoked) => revoked.push(page.as_u64()),
                    Ok(_) => {}
                    Err(e) => {
                        result = Err(map_error(e));
                        break 'regions;
                    }
                }
            }
        }
        // Also when sharing failed partway: what was revoked stays so.
        self.space.invalidate(&revoked).await;
        result.map(|()| child)
    }

    /// Bytes of regions (what `ps` calls VSZ).
    pub fn virtual_size(&self) -> u64 {
        self.regions.iter().map(|(s, r)| r.end - s).sum()
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // A space may be freed only once no CPU holds it. Its thread leaves
        // it when the process exits; a thread's task dropped mid-run (its
        // handle aborted) leaves it here.
        let me = 1u64 << kernel::smp::current().as_usize();
        if self.space.cpus() & me != 0 {
            kernel::memory::address_space::activate_kernel();
        }
    }
}

/// Fills a fresh page at `page` from `backing` (the frame is zeroed).
/// The file's cached frame for the page at `page`, if the backing maps a
/// whole page of the file there (page-aligned in the file, all of it
/// within the bytes mapped).
fn cached_page(backing: &Backing, page: u64) -> Option<&kernel::memory::shared_frames::SharedPage> {
    let Backing::Bytes { data, vaddr, offset, size } = backing else { return None };
    let into = page.checked_sub(*vaddr)?;
    let at = offset.checked_add(into)?;
    if at % PAGE != 0 || into.checked_add(PAGE)? > *size {
        return None;
    }
    data.page(usize::try_from(at / PAGE).ok()?)
}

fn fill(frame: &mut [u8; PAGE as usize], page: u64, backing: &Backing) {
    let Backing::Bytes { data, vaddr, offset, size } = backing else { return };
    let from = page.max(*vaddr);
    let to = (page + PAGE).min(vaddr + size);
    if from >= to {
        return;
    }
    let src_start = (offset + (from - vaddr)) as usize;
    let src_end = src_start + (to - from) as usize;
    // The loader checked the segment against the image; a file mapping is
    // cut to the file's length when made. Out of range: zeros.
    if let Some(src) = data.get(src_start..src_end) {
        frame[(from - page) as usize..(to - page) as usize].copy_from_slice(src);
    }
}
