//! Copies between kernel memory and program memory that survive a fault,
//! and the exception table that makes them survive.
//!
//! A program's pointer is never trusted: the range is checked to lie in the
//! lower half first, and the copy itself is one `rep movsb` whose address is
//! in [`FIXUPS`]. If it faults (a page not mapped, or not writable), the
//! exception handler finds the faulting instruction there and resumes at its
//! fixup instead of treating the fault as the kernel's: the copy returns the
//! bytes it did not copy (`rep movsb` stops with RCX = what is left), and the
//! caller answers EFAULT. Any other kernel fault stays fatal.
//!
//! The routine is `global_asm!` so that the faulting instruction and its
//! fixup have addresses of their own; it keeps to the C ABI (RDI, RSI, RDX
//! in, RAX out; RCX, RSI, RDI clobbered) and clears the direction flag
//! itself, whatever the interrupted program left in it.
//!
//! Where the CPU offers SMAP (`user_mode::init_this_cpu` turns it on), the
//! kernel cannot touch program pages except inside a `stac`/`clac` bracket:
//! the copies are the only such bracket.

use core::arch::global_asm;

use super::entry::InterruptFrame;

/// One past the last address a program may name (the lower half).
pub const USER_END: u64 = pagetable::LOWER_HALF_END;

global_asm!(
    ".pushsection .text.odonata_user_copy, \"ax\"",
    ".global odonata_user_copy",
    "odonata_user_copy:",
    "    cld",
    "    mov rcx, rdx",
    ".global odonata_user_copy_insn",
    "odonata_user_copy_insn:",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    ".global odonata_user_copy_fixup",
    "odonata_user_copy_fixup:",
    "    mov rax, rcx",
    "    ret",
    ".popsection",
);

unsafe extern "C" {
    /// Copies `len` bytes from `src` to `dst`; returns the bytes not copied
    /// (0 on success) if an access faulted.
    fn odonata_user_copy(dst: *mut u8, src: *const u8, len: usize) -> usize;
    static odonata_user_copy_insn: u8;
    static odonata_user_copy_fixup: u8;
}

/// An instruction that may fault on a program's address, and where to
/// resume when it does.
struct Fixup {
    insn: fn() -> u64,
    resume: fn() -> u64,
}

/// The exception table. Taking a symbol's address reads nothing.
static FIXUPS: [Fixup; 1] =
    [Fixup { insn: || (&raw const odonata_user_copy_insn) as u64, resume: || (&raw const odonata_user_copy_fixup) as u64 }];

/// Where to resume if the instruction at `rip` faults, if it is a marked
/// user-copy instruction.
pub fn fixup_for(rip: u64) -> Option<u64> {
    FIXUPS.iter().find(|f| (f.insn)() == rip).map(|f| (f.resume)())
}

/// Resumes `frame` at the fixup of its faulting instruction; false if it
/// has none.
pub(super) fn try_fix(frame: &mut InterruptFrame) -> bool {
    match fixup_for(frame.rip) {
        Some(resume) => {
            frame.rip = resume;
            true
        }
        None => false,
    }
}

/// A program's address range was not readable or writable as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAddress {
    /// The first address of the range.
    pub address: u64,
    /// Bytes that were copied before the fault (0 if the range was refused
    /// before any access).
    pub copied: usize,
}

fn check_range(address: u64, len: usize) -> Result<(), BadAddress> {
    match address.checked_add(len as u64) {
        Some(end) if end <= USER_END => Ok(()),
        _ => Err(BadAddress { address, copied: 0 }),
    }
}

/// Copies `dst.len()` bytes from program address `src` (the address space
/// loaded on this CPU). A range outside the lower half is refused; a fault
/// part-way returns how much was copied.
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), BadAddress> {
    check_range(src, dst.len())?;
    // SAFETY: `dst` is ours to write; `src..src+len` lies in the lower half,
    // which holds no kernel data, and any fault there resumes at the fixup.
    let left = with_user_access(|| unsafe { odonata_user_copy(dst.as_mut_ptr(), src as *const u8, dst.len()) });
    if left == 0 { Ok(()) } else { Err(BadAddress { address: src, copied: dst.len() - left }) }
}

/// Copies `src` to program address `dst` (the address space loaded on this
/// CPU). A range outside the lower half is refused; a fault part-way
/// returns how much was copied.
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), BadAddress> {
    check_range(dst, src.len())?;
    // SAFETY: `src` is ours to read; `dst..dst+len` lies in the lower half,
    // which holds no kernel data, and any fault there resumes at the fixup.
    let left = with_user_access(|| unsafe { odonata_user_copy(dst as *mut u8, src.as_ptr(), src.len()) });
    if left == 0 { Ok(()) } else { Err(BadAddress { address: dst, copied: src.len() - left }) }
}

/// Runs `f` with access to program pages allowed (AC set, when SMAP is on).
fn with_user_access<R>(f: impl FnOnce() -> R) -> R {
    let smap = super::user_mode::smap_enabled();
    if smap {
        // SAFETY: `stac` exists where SMAP does; it only sets AC, which
        // `clac` clears again below, before anything but the copy runs.
        unsafe { core::arch::asm!("stac", options(nostack)) };
    }
    let r = f();
    if smap {
        // SAFETY: as above.
        unsafe { core::arch::asm!("clac", options(nostack)) };
    }
    r
}
