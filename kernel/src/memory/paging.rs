//! The physical-memory window, and the kernel space's mapping calls kept
//! under their old names.
//!
//! The bootloader maps all physical memory at one offset in the upper half;
//! page tables, DMA buffers and freed frames are reached through it. Page
//! tables themselves are edited only through
//! [`AddressSpace`](super::address_space::AddressSpace).
//!
//! Lock order: an address space's lock is taken before the frame allocator's.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::structures::paging::Size4KiB;
use x86_64::structures::paging::page::PageRangeInclusive;
use x86_64::{PhysAddr, VirtAddr};

use super::address_space::{self, MapError};

pub use super::address_space::KERNEL_DATA;
pub use pagetable::Flags;

static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);

/// Where physical address `phys` is mapped in the kernel's address space.
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + phys.as_u64())
}

pub(super) fn init(offset: VirtAddr) {
    PHYS_OFFSET.store(offset.as_u64(), Ordering::Relaxed);
    address_space::init_kernel();
}

/// Maps every page of `pages` in the kernel space to a fresh, zeroed frame
/// with `flags` (see [`AddressSpace::map_fresh`](super::address_space::AddressSpace::map_fresh)).
pub fn map_fresh(pages: PageRangeInclusive<Size4KiB>, flags: Flags) -> Result<(), MapError> {
    let count = pages.end.start_address() - pages.start.start_address();
    address_space::kernel().map_fresh(pages.start.start_address(), count / 4096 + 1, flags)
}

/// The physical address `addr` maps to in the kernel space, if it is mapped.
pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
    address_space::kernel().query(addr).map(|t| PhysAddr::new(t.phys))
}

/// Clears the kernel space's lower half once every CPU is up: see
/// [`AddressSpace::release_lower_half`](super::address_space::AddressSpace).
pub fn release_lower_half() -> usize {
    address_space::kernel().release_lower_half()
}

/// Zeroes the frame at `frame` through the window: eight 8-byte stores per
/// loop turn. Under TCG a `rep` string instruction costs a turn of the
/// emulator per element (a byte-wise `rep stosb`, what `memset` becomes,
/// eight times `rep stosq`'s 512); 64 turns of eight stores cut a fresh
/// page's fault by a tenth against `rep stosq` (BENCHMARKS.md, run G).
///
/// # Safety
/// `frame` is a RAM frame nothing else uses now.
pub unsafe fn zero_frame(frame: PhysAddr) {
    let at = phys_to_virt(frame).as_mut_ptr::<u64>();
    // SAFETY: the window maps all RAM, writable; the frame is 4 KiB, page
    // aligned, and the caller's alone. DF is clear in kernel code.
    unsafe {
        core::arch::asm!(
            "2:",
            "mov qword ptr [rdi], rax",
            "mov qword ptr [rdi + 8], rax",
            "mov qword ptr [rdi + 16], rax",
            "mov qword ptr [rdi + 24], rax",
            "mov qword ptr [rdi + 32], rax",
            "mov qword ptr [rdi + 40], rax",
            "mov qword ptr [rdi + 48], rax",
            "mov qword ptr [rdi + 56], rax",
            "add rdi, 64",
            "dec ecx",
            "jnz 2b",
            inout("rdi") at => _,
            inout("ecx") 64u32 => _,
            in("rax") 0u64,
            options(nostack)
        )
    };
}

/// Copies the frame at `src` to the frame at `dst` through the window,
/// 64 bytes per loop turn (as [`zero_frame`], not a `rep` instruction).
///
/// # Safety
/// `dst` is a RAM frame nothing else uses now; `src` is a RAM frame nothing
/// writes during the copy.
pub unsafe fn copy_frame(dst: PhysAddr, src: PhysAddr) {
    let to = phys_to_virt(dst).as_mut_ptr::<u64>();
    let from = phys_to_virt(src).as_ptr::<u64>();
    // SAFETY: as for `zero_frame`; the frames are distinct (dst is fresh).
    unsafe {
        core::arch::asm!(
            "2:",
            "mov rax, [rsi]",
            "mov rdx, [rsi + 8]",
            "mov r8, [rsi + 16]",
            "mov r9, [rsi + 24]",
            "mov [rdi], rax",
            "mov [rdi + 8], rdx",
            "mov [rdi + 16], r8",
            "mov [rdi + 24], r9",
            "mov rax, [rsi + 32]",
            "mov rdx, [rsi + 40]",
            "mov r8, [rsi + 48]",
            "mov r9, [rsi + 56]",
            "mov [rdi + 32], rax",
            "mov [rdi + 40], rdx",
            "mov [rdi + 48], r8",
            "mov [rdi + 56], r9",
            "add rsi, 64",
            "add rdi, 64",
            "dec ecx",
            "jnz 2b",
            inout("rdi") to => _,
            inout("rsi") from => _,
            inout("ecx") 64u32 => _,
            out("rax") _,
            out("rdx") _,
            out("r8") _,
            out("r9") _,
            options(nostack)
        )
    };
}
