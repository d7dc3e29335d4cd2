//! Copies between kernel memory and program memory that survive a fault,
//! and the exception table that makes them survive.
//!
//! A program's pointer is never trusted: the range is checked to lie in the
//! lower half first, and the copy itself is, when source and destination
//! are aligned alike, a `rep movsb` up to an 8-byte boundary, a `rep movsq`
//! for the whole words (aligned, so none crosses a page) and a `rep movsb`
//! for the rest (otherwise one `rep movsb`), whose addresses are in
//! [`FIXUPS`]. (One `rep movsb` did it all before; under QEMU's TCG it moves
//! a byte per step, and a 4 KiB copy cost several microseconds.) If any
//! faults (a page not mapped, or not writable), the exception handler finds
//! the faulting instruction there and resumes at its fixup instead of
//! treating the fault as the kernel's: the copy returns the bytes it did not
//! copy (each `rep` stops with RCX = what is left of its part), and
//! the caller maps the page or answers EFAULT. Any other kernel fault stays
//! fatal.
//!
//! The routine is `global_asm!` so that the faulting instruction and its
//! fixup have addresses of their own; it keeps to the C ABI (RDI, RSI, RDX
//! in, RAX out; RCX, RDX, RSI, RDI clobbered) and clears the direction flag
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
    // Source and destination aligned alike: bytes up to an 8-byte
    // boundary, then whole words (which never cross a page then, so a
    // fault stops exactly at a page's start), then the last bytes.
    // Otherwise bytes only.
    "    mov rax, rdi",
    "    xor rax, rsi",
    "    test al, 7",
    "    jnz 2f",
    "    mov rcx, rdi",
    "    neg rcx",
    "    and rcx, 7",
    "    cmp rcx, rdx",
    "    jbe 1f",
    "    mov rcx, rdx",
    "1:",
    "    sub rdx, rcx",
    ".global odonata_user_copy_head",
    "odonata_user_copy_head:",
    "    rep movsb",
    "    mov rcx, rdx",
    "    shr rcx, 3",
    ".global odonata_user_copy_words",
    "odonata_user_copy_words:",
    "    rep movsq",
    "    and rdx, 7",
    "    mov rcx, rdx",
    "2:",
    ".global odonata_user_copy_insn",
    "odonata_user_copy_insn:",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    // What is left at each: the head's bytes and all after them; the
    // words (the faulting one among them) and the bytes after them; the
    // last bytes.
    ".global odonata_user_copy_head_fixup",
    "odonata_user_copy_head_fixup:",
    "    lea rax, [rcx + rdx]",
    "    ret",
    ".global odonata_user_copy_words_fixup",
    "odonata_user_copy_words_fixup:",
    "    lea rax, [rcx * 8]",
    "    and rdx, 7",
    "    add rax, rdx",
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
    static odonata_user_copy_head: u8;
    static odonata_user_copy_head_fixup: u8;
    static odonata_user_copy_words: u8;
    static odonata_user_copy_words_fixup: u8;
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
static FIXUPS: [Fixup; 3] = [
    Fixup { insn: || (&raw const odonata_user_copy_head) as u64, resume: || (&raw const odonata_user_copy_head_fixup) as u64 },
    Fixup { insn: || (&raw const odonata_user_copy_words) as u64, resume: || (&raw const odonata_user_copy_words_fixup) as u64 },
    Fixup { insn: || (&raw const odonata_user_copy_insn) as u64, resume: || (&raw const odonata_user_copy_fixup) as u64 },
];

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
