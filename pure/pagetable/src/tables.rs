//! One tree of page tables under a root frame: map, unmap, protect, query
//! and tear-down (the rules are in the crate doc).

use core::sync::atomic::Ordering;

use crate::{ADDRESS_MASK, ENTRIES, FIRST_KERNEL_ENTRY, Flags, Frames, PAGE_SIZE, PhysMemory, index, is_canonical};

/// Why an operation was refused. Nothing was changed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The virtual address is not canonical.
    NonCanonical(u64),
    /// An address is not 4 KiB aligned (or a physical address is past 52 bits).
    Misaligned(u64),
    /// The page is mapped already (to this physical address).
    AlreadyMapped(u64),
    /// The page is not mapped.
    NotMapped(u64),
    /// The address lies in a 2 MiB or 1 GiB page, which these calls do not split.
    HugePage(u64),
    /// No frame for a new table.
    NoMemory,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::NonCanonical(a) => write!(f, "{a:#x} is not a canonical address"),
            Self::Misaligned(a) => write!(f, "{a:#x} is not page aligned"),
            Self::AlreadyMapped(p) => write!(f, "already mapped (to {p:#x})"),
            Self::NotMapped(a) => write!(f, "{a:#x} is not mapped"),
            Self::HugePage(a) => write!(f, "{a:#x} lies in a huge page"),
            Self::NoMemory => f.write_str("no frame for a page table"),
        }
    }
}

/// The size of the page a translation went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB (a level-1 entry).
    Size4K,
    /// 2 MiB (a level-2 entry with the huge bit).
    Size2M,
    /// 1 GiB (a level-3 entry with the huge bit).
    Size1G,
}

impl PageSize {
    /// Bytes in a page of this size.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Size4K => PAGE_SIZE,
            Self::Size2M => 1 << 21,
            Self::Size1G => 1 << 30,
        }
    }
}

/// Where an address leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address of the queried byte.
    pub phys: u64,
    /// The leaf entry's flags.
    pub flags: Flags,
    /// The page it lies in.
    pub size: PageSize,
}

/// What [`Tables::unmap`] took out: the caller frees `frame` (if `owned`)
/// only once no CPU can still reach it (rule 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "an owned frame must be freed after the TLB shootdown"]
pub struct Unmapped {
    /// The frame the page mapped.
    pub frame: u64,
    /// The entry's flags when it was removed.
    pub flags: Flags,
}

impl Unmapped {
    /// Whether the frame belonged to the tables ([`Flags::OWNED`]).
    pub fn owned(&self) -> bool {
        self.flags.contains(Flags::OWNED)
    }
}

/// Flags kept by [`Tables::protect`]: the CPU's bits and ownership.
const KEPT: Flags = Flags::ACCESSED.union(Flags::DIRTY).union(Flags::OWNED);

/// The tree of tables under one root frame.
#[derive(Debug)]
pub struct Tables {
    root: u64,
}

impl Tables {
    /// The tables under `root`, a level-4 table frame.
    pub const fn from_root(root: u64) -> Self {
        Self { root }
    }

    /// A new, empty root whose upper half (entries 256..512) copies
    /// `kernel`'s, so the kernel is mapped alike in every space.
    pub fn new_sharing_kernel(mem: &impl PhysMemory, frames: &mut impl Frames, kernel: &Tables) -> Result<Self, Error> {
        let root = new_table(mem, frames)?;
        // SAFETY: `root` was just allocated for a table; `kernel.root` is a root.
        let (new, old) = unsafe { (mem.table(root), mem.table(kernel.root)) };
        for i in FIRST_KERNEL_ENTRY..ENTRIES {
            new[i].store(old[i].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        Ok(Self { root })
    }

    /// The root frame (what CR3 holds).
    pub const fn root(&self) -> u64 {
        self.root
    }

    /// Maps the 4 KiB page at `virt` to frame `phys` with `flags` (present
    /// is implied), making the tables on the way. Tables in the lower half
    /// allow ring 3 and writes (the leaf decides); the upper half's allow
    /// writes only.
    pub fn map(&self, mem: &impl PhysMemory, frames: &mut impl Frames, virt: u64, phys: u64, flags: Flags) -> Result<(), Error> {
        check_virt(virt)?;
        if phys & !ADDRESS_MASK != 0 {
            return Err(Error::Misaligned(phys));
        }
        let parent = if virt < crate::LOWER_HALF_END { Flags::USER } else { Flags::empty() };
        let parent = parent | Flags::PRESENT | Flags::WRITABLE;
        let mut table = self.root;
        for level in (2..=4).rev() {
            // SAFETY: `table` is the root or a table frame found in a present
            // entry that this code made (rule 1 of `PhysMemory::table`).
            let entry = unsafe { &mem.table(table)[index(virt, level)] };
            let mut bits = entry.load(Ordering::Acquire);
            if bits & Flags::PRESENT.bits() == 0 {
                let fresh = new_table(mem, frames)?;
                bits = fresh | parent.bits();
                entry.store(bits, Ordering::Release);
            } else if level < 4 && bits & Flags::HUGE.bits() != 0 {
                return Err(Error::HugePage(virt));
            } else if bits & parent.bits() != parent.bits() {
                // A table made before with fewer rights (the bootloader's).
                entry.fetch_or(parent.bits(), Ordering::AcqRel);
            }
            table = bits & ADDRESS_MASK;
        }
        // SAFETY: as above, a level-1 table reached through present entries.
        let leaf = unsafe { &mem.table(table)[index(virt, 1)] };
        let old = leaf.load(Ordering::Acquire);
        if old & Flags::PRESENT.bits() != 0 {
            return Err(Error::AlreadyMapped(old & ADDRESS_MASK));
        }
        leaf.store(phys | (flags | Flags::PRESENT).bits(), Ordering::Release);
        Ok(())
    }

    /// Removes the 4 KiB page at `virt`; returns what it mapped. Its TLB
    /// entries may live on: see rule 3.
    pub fn unmap(&self, mem: &impl PhysMemory, virt: u64) -> Result<Unmapped, Error> {
        let leaf = self.leaf(mem, virt)?;
        let old = leaf.swap(0, Ordering::AcqRel);
        Ok(Unmapped { frame: old & ADDRESS_MASK, flags: Flags::from_bits_truncate(old) })
    }

    /// Sets the 4 KiB page at `virt`'s flags to `flags` (present implied;
    /// the accessed, dirty and owned bits kept); returns the old flags.
    /// Lowering rights needs a TLB shootdown before it is relied on.
    pub fn protect(&self, mem: &impl PhysMemory, virt: u64, flags: Flags) -> Result<Flags, Error> {
        let leaf = self.leaf(mem, virt)?;
        let mut old = leaf.load(Ordering::Acquire);
        loop {
            let kept = Flags::from_bits_truncate(old).bits() & KEPT.bits();
            let new = (old & ADDRESS_MASK) | kept | (flags | Flags::PRESENT).difference(KEPT).bits();
            match leaf.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(Flags::from_bits_truncate(old)),
                Err(now) => old = now,
            }
        }
    }

    /// Where `virt` leads, through pages of any size.
    pub fn query(&self, mem: &impl PhysMemory, virt: u64) -> Option<Translation> {
        if !is_canonical(virt) {
            return None;
        }
        let mut table = self.root;
        for level in (1..=4).rev() {
            // SAFETY: the root, or a table frame found in a present entry.
            let bits = unsafe { mem.table(table)[index(virt, level)].load(Ordering::Acquire) };
            if bits & Flags::PRESENT.bits() == 0 {
                return None;
            }
            let size = match level {
                1 => Some(PageSize::Size4K),
                2 if bits & Flags::HUGE.bits() != 0 => Some(PageSize::Size2M),
                3 if bits & Flags::HUGE.bits() != 0 => Some(PageSize::Size1G),
                _ => None,
            };
            if let Some(size) = size {
                let base = bits & ADDRESS_MASK & !(size.bytes() - 1);
                return Some(Translation { phys: base + (virt & (size.bytes() - 1)), flags: Flags::from_bits_truncate(bits), size });
            }
            table = bits & ADDRESS_MASK;
        }
        None
    }

    /// The first page at or after `from` and below `to` that something
    /// maps (a 4 KiB page's address, or `from` rounded into a huge page),
    /// skipping every absent table whole: the walk costs what is mapped and
    /// the tables on the way, not the range's size (a program may name all
    /// of its half). `None` if nothing is mapped there, or where the range
    /// leaves canonical addresses.
    pub fn next_mapped(&self, mem: &impl PhysMemory, from: u64, to: u64) -> Option<u64> {
        let mut at = from & !(PAGE_SIZE - 1);
        'walk: while at < to {
            if !is_canonical(at) {
                return None;
            }
            let mut table = self.root;
            for level in (1..=4).rev() {
                // SAFETY: the root, or a table frame found in a present entry.
                let bits = unsafe { mem.table(table)[index(at, level)].load(Ordering::Acquire) };
                if bits & Flags::PRESENT.bits() == 0 {
                    // Nothing below this entry: on to the next one.
                    let span = PAGE_SIZE << (9 * (level - 1));
                    at = (at | (span - 1)).checked_add(1)?;
                    continue 'walk;
                }
                if level == 1 || bits & Flags::HUGE.bits() != 0 {
                    return Some(at);
                }
                table = bits & ADDRESS_MASK;
            }
        }
        None
    }

    /// Gives top-level entry `i` an empty table if it has none (no rights
    /// for ring 3: for the kernel half, reserved at boot so every space that
    /// copies the root later shares what is mapped below it).
    pub fn reserve_top_level(&self, mem: &impl PhysMemory, frames: &mut impl Frames, i: usize) -> Result<(), Error> {
        // SAFETY: the root.
        let entry = unsafe { &mem.table(self.root)[i] };
        if entry.load(Ordering::Acquire) & Flags::PRESENT.bits() == 0 {
            let fresh = new_table(mem, frames)?;
            entry.store(fresh | (Flags::PRESENT | Flags::WRITABLE).bits(), Ordering::Release);
        }
        Ok(())
    }

    /// Whether top-level entry `i` is in use.
    pub fn top_level_used(&self, mem: &impl PhysMemory, i: usize) -> bool {
        // SAFETY: the root.
        unsafe { mem.table(self.root)[i].load(Ordering::Acquire) & Flags::PRESENT.bits() != 0 }
    }

    /// Clears top-level entries `range` and frees every table below them,
    /// and every leaf frame mapped [`Flags::OWNED`]; returns how many frames
    /// were freed. The root itself stays.
    ///
    /// # Safety
    /// No CPU uses these tables (none has the root in CR3, and none keeps a
    /// TLB entry or cached walk of them), and nothing else refers to the
    /// tables or the owned frames below `range`. Used for the lower half of
    /// a space being dropped; the upper half is the kernel's, shared.
    pub unsafe fn tear_down(&self, mem: &impl PhysMemory, frames: &mut impl Frames, range: core::ops::Range<usize>) -> usize {
        let mut freed = 0;
        for i in range {
            // SAFETY: the root.
            let entry = unsafe { &mem.table(self.root)[i] };
            let bits = entry.swap(0, Ordering::AcqRel);
            if bits & Flags::PRESENT.bits() != 0 {
                // SAFETY: the caller's contract covers everything below.
                freed += unsafe { free_below(mem, frames, bits & ADDRESS_MASK, 3) };
            }
        }
        freed
    }

    /// The level-1 entry for `virt`, which must be mapped by a 4 KiB page.
    fn leaf<'m>(&self, mem: &'m impl PhysMemory, virt: u64) -> Result<&'m core::sync::atomic::AtomicU64, Error> {
        check_virt(virt)?;
        let mut table = self.root;
        for level in (2..=4).rev() {
            // SAFETY: the root, or a table frame found in a present entry.
            let bits = unsafe { mem.table(table)[index(virt, level)].load(Ordering::Acquire) };
            if bits & Flags::PRESENT.bits() == 0 {
                return Err(Error::NotMapped(virt));
            }
            if level < 4 && bits & Flags::HUGE.bits() != 0 {
                return Err(Error::HugePage(virt));
            }
            table = bits & ADDRESS_MASK;
        }
        // SAFETY: a level-1 table reached through present entries.
        let leaf = unsafe { &mem.table(table)[index(virt, 1)] };
        if leaf.load(Ordering::Acquire) & Flags::PRESENT.bits() == 0 {
            return Err(Error::NotMapped(virt));
        }
        Ok(leaf)
    }
}

fn check_virt(virt: u64) -> Result<(), Error> {
    if !is_canonical(virt) {
        return Err(Error::NonCanonical(virt));
    }
    if !virt.is_multiple_of(PAGE_SIZE) {
        return Err(Error::Misaligned(virt));
    }
    Ok(())
}

/// A zeroed table frame.
fn new_table(mem: &impl PhysMemory, frames: &mut impl Frames) -> Result<u64, Error> {
    let frame = frames.allocate().ok_or(Error::NoMemory)?;
    debug_assert_eq!(frame & !ADDRESS_MASK, 0, "frame sources hand out aligned frames");
    // SAFETY: the frame was just allocated for this table (no entry refers
    // to it yet, so nothing else reads it).
    for entry in unsafe { mem.table(frame) } {
        entry.store(0, Ordering::Relaxed);
    }
    Ok(frame)
}

/// Frees the table in `frame` at `level`, everything below it, and the
/// owned leaves; returns the frames freed.
///
/// # Safety
/// As [`Tables::tear_down`], for this table.
unsafe fn free_below(mem: &impl PhysMemory, frames: &mut impl Frames, frame: u64, level: u32) -> usize {
    let mut freed = 0;
    // SAFETY: a table frame found in a present entry (caller).
    let table = unsafe { mem.table(frame) };
    for entry in table {
        let bits = entry.swap(0, Ordering::AcqRel);
        if bits & Flags::PRESENT.bits() == 0 {
            continue;
        }
        let leaf = level == 1 || bits & Flags::HUGE.bits() != 0;
        if !leaf {
            // SAFETY: as ours.
            freed += unsafe { free_below(mem, frames, bits & ADDRESS_MASK, level - 1) };
        } else if bits & Flags::OWNED.bits() != 0 {
            // SAFETY: an owned leaf of a space nobody uses (caller).
            unsafe { frames.free(bits & ADDRESS_MASK) };
            freed += 1;
        }
    }
    // SAFETY: its parent entry was cleared; nobody walks it (caller).
    unsafe { frames.free(frame) };
    freed + 1
}
