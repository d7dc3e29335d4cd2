//! Frames mapped by more than one address space: a program's pages after
//! `fork`, until one side writes (copy-on-write).
//!
//! A frame starts with one owner and no entry here ("0 extra"). Sharing it
//! adds one; releasing a mapping of it takes one away, and only the
//! release that finds 0 frees the frame. Every frame an address space
//! frees goes through [`release`], so unshared frames (page tables, pages
//! never shared) are freed at once as before.
//!
//! The counts are atomics: two spaces sharing a frame may run on
//! different CPUs, and each releases its mapping on its own.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, Ordering};

use spin::Once;
use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

/// Extra owners per frame, indexed by frame number.
static EXTRA: Once<Box<[AtomicU16]>> = Once::new();

/// Sizes the table for frames below `end` (at boot, once the heap is up).
pub(super) fn init(end: u64) {
    EXTRA.call_once(|| (0..end / 4096).map(|_| AtomicU16::new(0)).collect::<Vec<_>>().into_boxed_slice());
}

fn slot(frame: u64) -> &'static AtomicU16 {
    let table = EXTRA.get().expect("shared frames used before memory::init");
    &table[(frame / 4096) as usize]
}

/// Adds an owner to `frame`; false (nothing changed) if it has as many as
/// a count can hold (the caller copies the page instead).
pub fn share(frame: u64) -> bool {
    slot(frame).fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1).filter(|&n| n < u16::MAX)).is_ok()
}

/// Whether another space also maps `frame`.
pub fn is_shared(frame: u64) -> bool {
    slot(frame).load(Ordering::Acquire) != 0
}

/// One owner lets go of `frame`; the last one frees it.
///
/// # Safety
/// The caller owned one mapping of `frame`, which no CPU can reach any
/// more (unmapped and shot down, or its space torn down), and the frame
/// came from the frame allocator.
pub unsafe fn release(frame: u64) {
    let last = slot(frame).fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_err();
    if last {
        // SAFETY: no other owner is left (the count was 0), and the caller's
        // mapping is gone (contract).
        unsafe { super::frame::deallocate(PhysFrame::containing_address(PhysAddr::new(frame))) };
    }
}

/// A page of bytes in a frame of its own that address spaces may map
/// read-only beside its holder (a page of a file's cache: every program
/// that runs the file maps the same frames, as Linux maps its page cache).
/// The holder is one owner; each mapping adds one
/// ([`AddressSpace::map_shared`](super::address_space::AddressSpace::map_shared)).
/// Dropping the page lets the holder's ownership go: the frame is freed
/// once no space maps it either.
pub struct SharedPage {
    frame: u64,
}

impl SharedPage {
    /// A fresh frame, zeroed, then filled by `fill`; `None` if no frame is
    /// free.
    pub fn new(fill: impl FnOnce(&mut [u8; 4096])) -> Option<Self> {
        let frame = super::frame::allocate()?;
        // SAFETY: the frame is fresh: nobody else refers to it.
        unsafe { super::paging::zero_frame(frame.start_address()) };
        let at = super::paging::phys_to_virt(frame.start_address());
        // SAFETY: as above; the window maps all RAM, writable, page aligned;
        // the borrow ends before the page can be shared.
        fill(unsafe { &mut *at.as_mut_ptr::<[u8; 4096]>() });
        Some(Self { frame: frame.start_address().as_u64() })
    }

    /// Its frame's physical address.
    pub(super) fn frame(&self) -> u64 {
        self.frame
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the holder's ownership is not a mapping, so no CPU reaches
        // the frame through it; spaces that map it own counts of their own.
        unsafe { release(self.frame) };
    }
}
