//! A read of an unmapped address is reported as a page fault at that address.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::testing::{self, Expected};

/// Canonical, lower half, never mapped by the bootloader or the kernel.
pub const UNMAPPED: u64 = 0x0000_0dea_dbee_f000;

kernel::test_kernel![unmapped_read_faults];

fn unmapped_read_faults() {
    assert!(kernel::memory::paging::translate(x86_64_addr(UNMAPPED)).is_none());
    testing::expect_fault(Expected::PageFault(UNMAPPED));
    // SAFETY: deliberately unsound: the read faults and the fault handler ends
    // the test; execution never continues past it.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    panic!("read of unmapped {UNMAPPED:#x} returned {value:#x}");
}

fn x86_64_addr(a: u64) -> kernel::memory::VirtAddr {
    kernel::memory::VirtAddr::new(a)
}
