//! x86-64 four-level page tables as pure code.
//!
//! Everything here is arithmetic on entries that a [`PhysMemory`] makes
//! reachable, with table frames from a [`Frames`] source, so it builds and
//! is tested on the host (`tests/`, tables in ordinary memory) and the
//! kernel plugs in its physical-memory window and frame allocator
//! (`kernel::memory::address_space`).
//!
//! - [`Flags`]: an entry's flag bits, one newtype;
//! - [`Tables`]: one tree of tables under a root (level-4) frame:
//!   [`map`](Tables::map), [`unmap`](Tables::unmap),
//!   [`protect`](Tables::protect), [`query`](Tables::query), and
//!   [`tear_down`](Tables::tear_down) of a range of top-level entries.
//!
//! The rules this code keeps:
//! 1. Entries are read and written as atomics: the CPU's page walker reads
//!    them at any time and sets the accessed and dirty bits itself, so a
//!    change of permissions is a compare-and-swap that keeps those bits.
//! 2. Writers are serialized by the caller (one lock per address space in
//!    the kernel); this code takes none.
//! 3. Nothing here flushes a TLB: a caller that unmaps or lowers
//!    permissions must invalidate every CPU that may hold the entry before
//!    it reuses the frame ([`Unmapped`] is what it must free afterwards).
//!    For the same reason a table that `unmap` empties is not freed; tables
//!    are freed only by [`Tables::tear_down`], when no CPU uses the space.
//! 4. A frame mapped with [`Flags::OWNED`] belongs to the tables: `unmap`
//!    hands it back to the caller, `tear_down` frees it. Without that bit it
//!    is borrowed (device registers, DMA memory, another space's page).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod flags;
mod tables;

pub use flags::{ADDRESS_MASK, Flags};
pub use tables::{Error, PageSize, Tables, Translation, Unmapped};

use core::sync::atomic::AtomicU64;

/// Bytes in a page (and in a table).
pub const PAGE_SIZE: u64 = 4096;

/// Entries in a table.
pub const ENTRIES: usize = 512;

/// One past the last address of the lower half (programs' addresses).
pub const LOWER_HALF_END: u64 = 0x0000_8000_0000_0000;

/// The first address of the upper half (the kernel's, shared by every space).
pub const UPPER_HALF_START: u64 = 0xffff_8000_0000_0000;

/// The first top-level index of the upper half.
pub const FIRST_KERNEL_ENTRY: usize = 256;

/// A table: 512 entries, read and written as atomics (rule 1).
pub type Table = [AtomicU64; ENTRIES];

/// How table frames are reached: physical addresses as memory.
pub trait PhysMemory {
    /// The table in frame `phys`.
    ///
    /// # Safety
    /// 1. `phys` is the root given to [`Tables::from_root`] or a frame this
    ///    code allocated for a table from the [`Frames`] used with it, not
    ///    freed since.
    /// 2. The reference is not used after that frame is freed.
    unsafe fn table(&self, phys: u64) -> &Table;
}

/// Where table frames come from, and where freed frames go.
pub trait Frames {
    /// A 4 KiB-aligned frame nobody else uses, or `None` when memory is out.
    /// Its contents may be anything: tables are zeroed before use.
    fn allocate(&mut self) -> Option<u64>;

    /// Returns `frame` to the source.
    ///
    /// # Safety
    /// No table refers to `frame` any more, and no CPU may still reach it
    /// through a TLB entry or a cached walk.
    unsafe fn free(&mut self, frame: u64);
}

/// Whether `addr` is canonical (bits 48..64 copy bit 47).
pub const fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1_ffff
}

/// The index of `addr` in its table at `level` (4 = the root, 1 = leaves).
pub const fn index(addr: u64, level: u32) -> usize {
    ((addr >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}
