//! Memory a device reads and writes by DMA: [`DmaBuffer`], physically
//! contiguous, zeroed, page aligned, below the device's reach, with its
//! physical address known and freed when dropped; and [`DmaPool`], small
//! fixed-size DMA objects (descriptors, request headers) carved from such
//! pages without a page each.
//!
//! Drivers never compute a physical address: they ask the buffer. The CPU
//! reaches the memory through the physical-memory mapping (x86 DMA is
//! cache-coherent), always with volatile or fenced copies, because the
//! device may write it behind the compiler's back: no `&[u8]` of it is
//! ever handed out.
//!
//! Freeing rule: a buffer is freed when dropped, so its owner must keep it
//! until the device is done with it (a request owns its buffers until the
//! device hands the descriptor back; the storage driver's doc states it).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{Ordering, fence};

use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

use super::{frame, paging};

const PAGE: u64 = 4096;

/// No contiguous run of that size below the device's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaOutOfMemory {
    /// Bytes asked for.
    pub bytes: u64,
    /// The device's reach (addresses below it).
    pub limit: u64,
}

impl fmt::Display for DmaOutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no {} contiguous bytes of DMA memory below {:#x}", self.bytes, self.limit)
    }
}

/// Any address (a device with 64-bit DMA).
pub const NO_LIMIT: u64 = u64::MAX;

/// Physically contiguous, zeroed, page-aligned memory for a device.
pub struct DmaBuffer {
    phys: u64,
    pages: u64,
    len: usize,
}

impl fmt::Debug for DmaBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DmaBuffer({} bytes at {:#x})", self.len, self.phys)
    }
}

impl DmaBuffer {
    /// `len` bytes (rounded up to pages), all below `limit`.
    pub fn new(len: usize, limit: u64) -> Result<Self, DmaOutOfMemory> {
        let pages = (len as u64).div_ceil(PAGE).max(1);
        let err = DmaOutOfMemory { bytes: pages * PAGE, limit };
        let first = frame::allocate_contiguous(pages, limit).ok_or(err)?;
        let phys = first.start_address().as_u64();
        let buffer = Self { phys, pages, len };
        // SAFETY: the run is ours alone (just allocated) and mapped by the
        // physical-memory mapping for `pages * PAGE` bytes.
        unsafe { core::ptr::write_bytes(buffer.virt(0), 0, (pages * PAGE) as usize) };
        Ok(buffer)
    }

    /// Where the device sees it.
    pub fn phys_addr(&self) -> PhysAddr {
        PhysAddr::new(self.phys)
    }

    /// The device address of byte `offset` (for descriptors that point into
    /// the buffer); panics past the end.
    pub fn phys_at(&self, offset: usize) -> PhysAddr {
        assert!(offset < self.len.max(1), "offset {offset} outside a {}-byte DMA buffer", self.len);
        PhysAddr::new(self.phys + offset as u64)
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn virt(&self, offset: usize) -> *mut u8 {
        paging::phys_to_virt(PhysAddr::new(self.phys + offset as u64)).as_mut_ptr()
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "bytes {offset}..+{len} outside a {}-byte DMA buffer",
            self.len
        );
    }

    /// Copies `bytes` in at `offset`, then a fence: a device told to read
    /// after this sees them.
    pub fn write(&self, offset: usize, bytes: &[u8]) {
        self.check(offset, bytes.len());
        // SAFETY: in bounds (checked); the memory is ours and never handed
        // out as a reference, so nothing aliases the copy.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.virt(offset), bytes.len()) };
        fence(Ordering::Release);
    }

    /// A fence, then copies bytes out from `offset`: what the device wrote
    /// before it signalled completion.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        self.check(offset, out.len());
        fence(Ordering::Acquire);
        // SAFETY: as in `write`.
        unsafe { core::ptr::copy_nonoverlapping(self.virt(offset), out.as_mut_ptr(), out.len()) };
    }

    /// Reads the `u16` at `offset` (aligned) with one volatile load.
    pub fn read_u16(&self, offset: usize) -> u16 {
        self.check(offset, 2);
        assert!(offset.is_multiple_of(2), "unaligned DMA read at {offset}");
        // SAFETY: in bounds and aligned (checked); device-shared, hence volatile.
        unsafe { core::ptr::read_volatile(self.virt(offset).cast::<u16>()) }
    }

    /// Writes the `u16` at `offset` (aligned) with one volatile store.
    pub fn write_u16(&self, offset: usize, value: u16) {
        self.check(offset, 2);
        assert!(offset.is_multiple_of(2), "unaligned DMA write at {offset}");
        // SAFETY: as in `read_u16`.
        unsafe { core::ptr::write_volatile(self.virt(offset).cast::<u16>(), value) }
    }

    /// Writes the `u64` at `offset` (aligned) with one volatile store.
    pub fn write_u64(&self, offset: usize, value: u64) {
        self.check(offset, 8);
        assert!(offset.is_multiple_of(8), "unaligned DMA write at {offset}");
        // SAFETY: as in `read_u16`.
        unsafe { core::ptr::write_volatile(self.virt(offset).cast::<u64>(), value) }
    }

    /// Reads the `u32` at `offset` (aligned) with one volatile load.
    pub fn read_u32(&self, offset: usize) -> u32 {
        self.check(offset, 4);
        assert!(offset.is_multiple_of(4), "unaligned DMA read at {offset}");
        // SAFETY: in bounds and aligned (checked); device-shared, hence volatile.
        unsafe { core::ptr::read_volatile(self.virt(offset).cast::<u32>()) }
    }

    /// Writes the `u32` at `offset` (aligned) with one volatile store.
    pub fn write_u32(&self, offset: usize, value: u32) {
        self.check(offset, 4);
        assert!(offset.is_multiple_of(4), "unaligned DMA write at {offset}");
        // SAFETY: as in `read_u32`.
        unsafe { core::ptr::write_volatile(self.virt(offset).cast::<u32>(), value) }
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        for i in 0..self.pages {
            let frame = PhysFrame::containing_address(PhysAddr::new(self.phys + i * PAGE));
            // SAFETY: the run came from `allocate_contiguous` and is dropped
            // once; its owner kept it until the device was done (module doc).
            unsafe { frame::deallocate(frame) };
        }
    }
}

/// Fixed-size DMA objects carved from pages of [`DmaBuffer`]s, each page
/// shared by `4096 / size` of them.
pub struct DmaPool {
    size: usize,
    limit: u64,
    pages: spin::Mutex<Vec<PoolPage>>,
}

struct PoolPage {
    buffer: Arc<DmaBuffer>,
    /// Bit i: slot i is free.
    free: u64,
}

/// One object from a [`DmaPool`]; returned to it when dropped.
pub struct DmaObject {
    pool: Arc<DmaPool>,
    buffer: Arc<DmaBuffer>,
    page: usize,
    slot: usize,
}

impl DmaPool {
    /// A pool of `size`-byte objects (a power of two from 64 to 4096 bytes,
    /// so objects never straddle a page) below `limit`.
    pub fn new(size: usize, limit: u64) -> Arc<Self> {
        assert!(size.is_power_of_two() && (64..=4096).contains(&size), "DMA object size {size}: a power of two from 64 to 4096");
        Arc::new(Self { size, limit, pages: spin::Mutex::new(Vec::new()) })
    }

    /// A zeroed object (a new page when every slot is taken).
    pub fn alloc(self: &Arc<Self>) -> Result<DmaObject, DmaOutOfMemory> {
        let per_page = (PAGE as usize / self.size).min(64);
        let mut pages = self.pages.lock();
        let found = pages.iter().position(|p| p.free != 0);
        let page = match found {
            Some(i) => i,
            None => {
                let buffer = Arc::new(DmaBuffer::new(PAGE as usize, self.limit)?);
                let free = if per_page == 64 { u64::MAX } else { (1 << per_page) - 1 };
                pages.push(PoolPage { buffer, free });
                pages.len() - 1
            }
        };
        let p = &mut pages[page];
        let slot = p.free.trailing_zeros() as usize;
        p.free &= !(1 << slot);
        let object = DmaObject { pool: Arc::clone(self), buffer: Arc::clone(&p.buffer), page, slot };
        drop(pages);
        object.zero();
        Ok(object)
    }
}

impl DmaObject {
    fn base(&self) -> usize {
        self.slot * self.pool.size
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.pool.size
    }

    /// Whether it has no bytes (never).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Where the device sees it.
    pub fn phys_addr(&self) -> PhysAddr {
        self.buffer.phys_at(self.base())
    }

    fn zero(&self) {
        self.buffer.write(self.base(), &alloc::vec![0u8; self.pool.size]);
    }

    /// Copies `bytes` in at `offset` (then a release fence).
    pub fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.pool.size, "outside a {}-byte DMA object", self.pool.size);
        self.buffer.write(self.base() + offset, bytes);
    }

    /// Copies bytes out from `offset` (after an acquire fence).
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= self.pool.size, "outside a {}-byte DMA object", self.pool.size);
        self.buffer.read(self.base() + offset, out);
    }
}

impl Drop for DmaObject {
    fn drop(&mut self) {
        self.pool.pages.lock()[self.page].free |= 1 << self.slot;
    }
}
