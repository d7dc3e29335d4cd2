//! A program's pages: mapped filled (demand paging, the initial stack),
//! read through the window, shared with a child after `fork`, made private
//! on the first write (copy-on-write).

use alloc::sync::Arc;

use pagetable::{Error as TableError, Flags};
use x86_64::{PhysAddr, VirtAddr};

use super::{AddressSpace, KernelFrames, MapError, PAGE, Window, cpu_hooks};
use crate::memory::paging::phys_to_virt;

/// What [`AddressSpace::share_page`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shared {
    /// Nothing is mapped there.
    NotMapped,
    /// The child maps the page too (or a copy of it).
    Shared,
    /// Shared copy-on-write, and this space's entry lost its write right:
    /// it must be invalidated.
    WriteRevoked,
}

impl AddressSpace {
    /// Maps the page at `page` to a fresh frame the space owns, filled by
    /// `fill` (which sees the frame zeroed) before it is mapped: a
    /// program's demand-paged page, its initial stack, a copy-on-write copy.
    pub fn map_filled(&self, page: VirtAddr, flags: Flags, fill: impl FnOnce(&mut [u8; PAGE as usize])) -> Result<(), MapError> {
        let frame = crate::memory::frame::allocate().ok_or(MapError::NoMemory)?;
        let at = phys_to_virt(frame.start_address());
        // SAFETY: the frame is fresh (nobody else refers to it, no mapping
        // of it exists yet).
        unsafe { crate::memory::paging::zero_frame(frame.start_address()) };
        // SAFETY: as above; the window maps all RAM, writable, page aligned.
        let bytes = unsafe { &mut *at.as_mut_ptr::<[u8; PAGE as usize]>() };
        fill(bytes);
        // SAFETY: an owned, fresh frame (rule 1); `map` refuses a page
        // already mapped (rule 2).
        let mapped = unsafe { self.map(page, frame.start_address(), flags | Flags::OWNED) };
        if let Err(e) = mapped {
            // SAFETY: never mapped, so no TLB or table refers to it.
            unsafe { crate::memory::frame::deallocate(frame) };
            return Err(e);
        }
        Ok(())
    }

    /// Maps `shared`'s frame at `page`, read-only whatever `flags` say (a
    /// page of a file's cache). The mapping is one more owner of the
    /// frame; `Ok(false)` if the frame has as many owners as a count holds
    /// (the caller maps a copy instead).
    pub fn map_shared(&self, page: VirtAddr, shared: &crate::memory::shared_frames::SharedPage, flags: Flags) -> Result<bool, MapError> {
        self.check_half(page.as_u64())?;
        let frame = shared.frame();
        if !crate::memory::shared_frames::share(frame) {
            return Ok(false);
        }
        // SAFETY: the mapping owns the count just added (rule 1: released
        // through `shared_frames` when unmapped); `map` refuses a page
        // already mapped (rule 2). Read-only, so the holder's bytes never
        // change under the other mappings.
        let mapped = unsafe { self.map(page, PhysAddr::new(frame), flags.difference(Flags::WRITABLE) | Flags::OWNED) };
        if let Err(e) = mapped {
            // SAFETY: never mapped: the count just added goes back.
            unsafe { crate::memory::shared_frames::release(frame) };
            return Err(e);
        }
        Ok(true)
    }

    /// Maps the page that `self` maps at `page` into `child` too, at the
    /// same address, read-only in both when `cow` (copy-on-write: the first
    /// write on either side copies it, [`Self::write_fault_local`]), or as
    /// it is. The frame gets one more owner.
    ///
    /// When `self`'s entry loses its write right here
    /// ([`Shared::WriteRevoked`]), the caller invalidates it on every CPU
    /// that may cache it before the program runs again
    /// ([`invalidate`](Self::invalidate)).
    pub fn share_page(&self, page: VirtAddr, child: &AddressSpace, cow: bool) -> Result<Shared, MapError> {
        self.check_half(page.as_u64())?;
        let Some(t) = self.query(page) else { return Ok(Shared::NotMapped) };
        let frame = t.phys & !(PAGE - 1);
        let mut flags = t.flags.difference(Flags::ACCESSED.union(Flags::DIRTY));
        if cow {
            flags = flags.difference(Flags::WRITABLE);
        }
        if !crate::memory::shared_frames::share(frame) {
            // Too many owners: the child gets a copy instead.
            let mut bytes = [0u8; PAGE as usize];
            self.read_page(page, &mut bytes);
            return child.map_filled(page, t.flags.difference(Flags::OWNED), |f| f.copy_from_slice(&bytes)).map(|()| Shared::Shared);
        }
        let revoke = cow && t.flags.contains(Flags::WRITABLE);
        if revoke {
            let _writer = self.lock.lock();
            self.tables.protect(&Window, page.as_u64(), flags.difference(Flags::OWNED))?;
        }
        // SAFETY: the frame is an owned frame of this space, now with one
        // more owner (counted above) for the child's mapping (rule 1); the
        // child maps nothing there yet (`map` refuses otherwise, rule 2).
        let mapped = unsafe { child.map(page, PhysAddr::new(frame), flags | Flags::OWNED) };
        if let Err(e) = mapped {
            // SAFETY: the owner counted above for a mapping that was not made.
            unsafe { crate::memory::shared_frames::release(frame) };
            return Err(e);
        }
        Ok(if revoke { Shared::WriteRevoked } else { Shared::Shared })
    }

    /// A write to a present, read-only page of a writable region
    /// (copy-on-write): the page becomes this space's own and writable,
    /// copied if another space still maps its frame. Only for a space that
    /// no other CPU may cache (a program runs on one CPU): the stale entry
    /// is flushed here. `Err` if another CPU may hold the space.
    pub fn write_fault_local(self: &Arc<Self>, page: VirtAddr, flags: Flags) -> Result<(), MapError> {
        let me = 1u64 << (cpu_hooks().current)();
        if self.cpus() & !me != 0 {
            return Err(MapError::NotLocal);
        }
        let Some(t) = self.query(page) else { return Err(MapError::Table(TableError::NotMapped(page.as_u64()))) };
        let old = t.phys & !(PAGE - 1);
        if !crate::memory::shared_frames::is_shared(old) {
            let _writer = self.lock.lock();
            self.tables.protect(&Window, page.as_u64(), flags)?;
            x86_64::instructions::tlb::flush(page);
            return Ok(());
        }
        let new = crate::memory::frame::allocate().ok_or(MapError::NoMemory)?;
        // SAFETY: a fresh frame, written before it is mapped anywhere; `old`
        // is mapped read-only in every space that maps it (copy-on-write),
        // so nothing writes it during the copy.
        unsafe { crate::memory::paging::copy_frame(new.start_address(), PhysAddr::new(old)) };
        {
            let _writer = self.lock.lock();
            let gone = self.tables.unmap(&Window, page.as_u64())?;
            debug_assert!(gone.owned());
            self.tables.map(&Window, &mut KernelFrames, page.as_u64(), new.start_address().as_u64(), flags | Flags::OWNED)?;
        }
        x86_64::instructions::tlb::flush(page);
        // SAFETY: this space's mapping of `old` is gone and flushed on the one
        // CPU that could cache it (checked above); the other owner keeps it.
        unsafe { crate::memory::shared_frames::release(old) };
        Ok(())
    }

    /// Reads the page mapped at `page` through the physical window (for a
    /// copy-on-write copy or `fork`); `None` if it is not mapped.
    pub fn read_page(&self, page: VirtAddr, out: &mut [u8; PAGE as usize]) -> Option<()> {
        let t = self.query(page)?;
        let at = phys_to_virt(PhysAddr::new(t.phys & !(PAGE - 1)));
        // SAFETY: the frame is mapped in this space, so it is RAM the
        // window maps; the copy reads it only.
        out.copy_from_slice(unsafe { &*at.as_ptr::<[u8; PAGE as usize]>() });
        Some(())
    }
}
