//! A file's bytes, and the page cache that programs map them from.
//!
//! The bytes of a regular file are an `Arc<FileBytes>`: a program that runs
//! or maps the file holds a clone, and a write to a shared one copies it
//! first (`Arc::make_mut`), so what is mapped never changes.
//!
//! Each whole page of those bytes can be copied once into a frame of its
//! own ([`FileBytes::page`]), which every program mapping that page
//! read-only maps (`AddressSpace::map_shared`): text and read-only data of
//! a program that runs many times are in memory once, a fault on them
//! copies nothing, and under QEMU's TCG the code translated from those
//! frames stays valid from one `execve` to the next. A change to the bytes
//! drops the cache (a copy starts with none).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use kernel::memory::shared_frames::SharedPage;
use linux::errno;
use spin::Once;

/// Bytes in a page.
const PAGE: usize = 4096;

/// A file's bytes and their page cache.
pub struct FileBytes {
    bytes: Vec<u8>,
    /// One slot per whole page, made at the first page asked for; a slot
    /// holds `None` if no frame was free when it was filled.
    pages: Once<Box<[Once<Option<SharedPage>>]>>,
    /// Bytes charged to `budget` for the buffer.
    charged: usize,
}

impl FileBytes {
    /// The cached frame holding page `index` (bytes `index * 4096..` up to
    /// the next page), filled at the first call; `None` for a page the
    /// bytes do not fill whole, or when no frame is free.
    pub fn page(&self, index: usize) -> Option<&SharedPage> {
        let whole = self.bytes.len() / PAGE;
        if index >= whole {
            return None;
        }
        let slots = self.pages.call_once(|| (0..whole).map(|_| Once::new()).collect());
        let slot = slots[index].call_once(|| SharedPage::new(|frame| frame.copy_from_slice(&self.bytes[index * PAGE..(index + 1) * PAGE])));
        slot.as_ref()
    }
}

impl FileBytes {
    /// Makes the bytes `len` long (zeros past the old end), or ENOSPC.
    ///
    /// A file's bytes live in the kernel heap, whose allocator stops the
    /// machine when it runs out (that is a kernel bug anywhere else): a
    /// file grows only within the budget for programs' data (`budget`),
    /// and only while its new buffer takes at most a quarter of what the
    /// heap has free (the old buffer stays until the copy is done, and
    /// other CPUs may be growing files at the same moment), as tmpfs's
    /// size limit bounds files on Linux.
    pub fn resize(&mut self, len: usize) -> Result<(), errno::Errno> {
        if len > self.bytes.capacity() {
            let headroom = usize::try_from(kernel::heap::stats().free / 4).unwrap_or(usize::MAX);
            if len > headroom {
                return Err(errno::ENOSPC);
            }
            // Vec's own growth (double), within the headroom.
            let capacity = len.max(self.bytes.capacity().saturating_mul(2)).min(headroom);
            let more = capacity - self.charged.min(capacity);
            if !crate::budget::try_charge(more) {
                return Err(errno::ENOSPC);
            }
            self.charged += more;
            let bytes = &mut **self;
            bytes.try_reserve_exact(capacity - bytes.len()).map_err(|_| errno::ENOSPC)?;
        }
        (**self).resize(len, 0);
        Ok(())
    }
}

impl From<Vec<u8>> for FileBytes {
    /// Bytes that exist already: charged to the budget whatever it says.
    fn from(bytes: Vec<u8>) -> Self {
        let charged = bytes.capacity();
        crate::budget::charge(charged);
        Self { bytes, pages: Once::new(), charged }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        crate::budget::uncharge(self.charged);
    }
}

impl Clone for FileBytes {
    /// The same bytes, with no cache yet.
    fn clone(&self) -> Self {
        Self::from(self.bytes.clone())
    }
}

impl Deref for FileBytes {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.bytes
    }
}

impl DerefMut for FileBytes {
    /// The bytes, to change: the cache no longer matches them and goes.
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        self.pages = Once::new();
        &mut self.bytes
    }
}
