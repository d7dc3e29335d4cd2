//! A page of bytes in a frame of its own, reached through the physical
//! memory window: what a cache keeps outside the kernel heap (a fixed
//! region, too small for a page cache). One owner; the frame is freed when
//! the page is dropped.

use x86_64::structures::paging::PhysFrame;

use super::paging::phys_to_virt;

/// A zeroed 4 KiB page (the module doc).
pub struct PageBuf {
    frame: PhysFrame,
}

// SAFETY: the frame is this value's alone (nothing maps it elsewhere), so
// moving it to another CPU moves the only access with it.
unsafe impl Send for PageBuf {}

impl PageBuf {
    /// A fresh zeroed page, or `None` if no frame is free.
    pub fn new() -> Option<Self> {
        let frame = super::frame::allocate()?;
        // SAFETY: the frame is fresh: nobody else refers to it.
        unsafe { super::paging::zero_frame(frame.start_address()) };
        Some(Self { frame })
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8; 4096] {
        let at = phys_to_virt(self.frame.start_address());
        // SAFETY: the window maps all RAM; the frame is ours alone, and the
        // borrow of `self` keeps it alive and unchanged.
        unsafe { &*at.as_ptr::<[u8; 4096]>() }
    }

    /// Its bytes, to change.
    pub fn bytes_mut(&mut self) -> &mut [u8; 4096] {
        let at = phys_to_virt(self.frame.start_address());
        // SAFETY: as in `bytes`; `&mut self` makes this the only access.
        unsafe { &mut *at.as_mut_ptr::<[u8; 4096]>() }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed once here; nothing else maps it.
        unsafe { super::frame::deallocate(self.frame) };
    }
}
