//! The application-processor trampoline: real mode -> protected mode ->
//! long mode, then a call into Rust on the AP's own kernel stack.
//!
//! The code is assembled for physical address `TRAMPOLINE_PAGE` (0x8000) and
//! copied there; the startup IPI's vector is that page number. Far jumps are
//! hand-encoded so their targets are exact absolute addresses in that page.
//! (LLVM's assembler takes no symbol differences in memory operands, so the
//! three absolute operands are hand-encoded as well.) The page is identity-mapped in the kernel's page tables, because the
//! instruction after enabling paging is fetched at its physical address.
//! EFER.NXE is set before paging, because the kernel's tables use NX.
//!
//! The data block at the end (`Data`) is written by the boot CPU before each
//! start: CR3 (must be below 4 GiB: it is loaded in 32-bit mode), stack top,
//! entry point and its argument.

use core::arch::global_asm;

use x86_64::PhysAddr;

use crate::memory::frame::TRAMPOLINE_PAGE;
use crate::memory::{frame, paging};

global_asm!(
    ".section .text.odonata_trampoline, \"ax\"",
    ".global odonata_trampoline_start",
    ".global odonata_trampoline_data",
    ".global odonata_trampoline_end",
    ".code16",
    "odonata_trampoline_start:",
    "    cli",
    "    cld",
    "    xor ax, ax",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    // lgdt [disp16]
    "    .byte 0x0f, 0x01, 0x16",
    "    .word {page} + (2f - odonata_trampoline_start)",
    "    mov eax, cr0",
    "    or eax, 1",
    "    mov cr0, eax",
    // ljmp 0x08:pm32 (operand-size prefix: 32-bit offset)
    "    .byte 0x66, 0xea",
    "    .long {page} + (3f - odonata_trampoline_start)",
    "    .word 0x08",
    ".code32",
    "3:",
    "    mov ax, 0x10",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    mov eax, cr4",
    "    or eax, 0x20",               // PAE
    "    mov cr4, eax",
    // mov eax, [disp32]: the low half of the CR3 slot
    "    .byte 0xa1",
    "    .long {page} + (odonata_trampoline_data - odonata_trampoline_start)",
    "    mov cr3, eax",
    "    mov ecx, 0xc0000080",        // EFER
    "    rdmsr",
    "    or eax, 0x900",              // LME | NXE
    "    wrmsr",
    "    mov eax, cr0",
    "    or eax, 0x80010001",         // PG | WP | PE
    "    mov cr0, eax",
    // ljmp 0x18:lm64
    "    .byte 0xea",
    "    .long {page} + (4f - odonata_trampoline_start)",
    "    .word 0x18",
    ".code64",
    "4:",
    "    xor eax, eax",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    // movabs rax, imm64: the data block's address
    "    .byte 0x48, 0xb8",
    "    .quad {page} + (odonata_trampoline_data - odonata_trampoline_start)",
    "    mov rsp, [rax + 8]",
    "    mov rdi, [rax + 24]",
    "    mov rax, [rax + 16]",
    "    call rax",
    "    ud2",
    ".balign 8",
    "1:",                             // GDT: null, code32, data32, code64
    "    .quad 0",
    "    .quad 0x00cf9a000000ffff",
    "    .quad 0x00cf92000000ffff",
    "    .quad 0x00af9a000000ffff",
    "2:",                             // GDTR
    "    .word 4 * 8 - 1",
    "    .long {page} + (1b - odonata_trampoline_start)",
    ".balign 8",
    "odonata_trampoline_data:",
    "    .quad 0, 0, 0, 0",
    "odonata_trampoline_end:",
    ".text",
    page = const TRAMPOLINE_PAGE,
);

unsafe extern "C" {
    static odonata_trampoline_start: u8;
    static odonata_trampoline_data: u8;
    static odonata_trampoline_end: u8;
}

/// The block the boot CPU fills in before each start (layout fixed by the
/// assembly above: offsets 0, 8, 16, 24).
#[repr(C)]
struct Data {
    cr3: u64,
    stack_top: u64,
    entry: u64,
    arg: u64,
}

/// Why the trampoline cannot be used.
#[derive(Clone, Copy, Debug)]
pub enum TrampolineError {
    /// 0x8000 is not usable RAM on this machine.
    PageNotUsable,
    /// The kernel's PML4 is above 4 GiB (32-bit code cannot load it).
    Cr3TooHigh(u64),
    /// The identity mapping of the page could not be made.
    Map,
}

/// Copies the trampoline to its page and identity-maps the page.
pub fn install() -> Result<(), TrampolineError> {
    if !frame::trampoline_page_usable() {
        return Err(TrampolineError::PageNotUsable);
    }
    let cr3 = x86_64::registers::control::Cr3::read().0.start_address().as_u64();
    if cr3 >= 1 << 32 {
        return Err(TrampolineError::Cr3TooHigh(cr3));
    }
    // Taking the symbols' addresses reads nothing.
    let (start, end) = (&raw const odonata_trampoline_start, &raw const odonata_trampoline_end);
    let len = end as usize - start as usize;
    assert!(len <= 4096, "trampoline larger than a page");
    let dst = paging::phys_to_virt(PhysAddr::new(TRAMPOLINE_PAGE)).as_mut_ptr::<u8>();
    // SAFETY: the page is usable RAM below 1 MiB that the frame allocator
    // never hands out; the source is `len` bytes of kernel code.
    unsafe { core::ptr::copy_nonoverlapping(start, dst, len) };

    let space = crate::memory::address_space::kernel();
    // SAFETY: the page holds only the trampoline (above), which nothing
    // else maps; `release_lower_half` removes the mapping after bring-up.
    unsafe { space.map_trampoline(PhysAddr::new(TRAMPOLINE_PAGE)) }.map_err(|_| TrampolineError::Map)
}

/// Fills the data block for the next AP start.
pub fn prepare(stack_top: u64, entry: extern "C" fn(u64) -> !, arg: u64) {
    let offset = (&raw const odonata_trampoline_data) as usize - (&raw const odonata_trampoline_start) as usize;
    let data = paging::phys_to_virt(PhysAddr::new(TRAMPOLINE_PAGE + offset as u64)).as_mut_ptr::<Data>();
    let cr3 = x86_64::registers::control::Cr3::read().0.start_address().as_u64();
    // SAFETY: `install` copied the trampoline; the data block is 8-aligned
    // inside it; no AP runs the trampoline while we write (starts are serial).
    unsafe { data.write_volatile(Data { cr3, stack_top, entry: entry as usize as u64, arg }) };
}

/// The startup IPI vector: the trampoline's page number.
pub const fn startup_vector() -> u8 {
    (TRAMPOLINE_PAGE >> 12) as u8
}
