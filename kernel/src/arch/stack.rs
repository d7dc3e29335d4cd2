//! Switching the running CPU onto a new stack.

use core::arch::asm;

/// Sets RSP to `top` and calls `entry(arg)` there; never returns.
///
/// The old stack is abandoned (not freed): it is only used on the way in.
pub fn switch_to(top: u64, entry: extern "C" fn(usize) -> !, arg: usize) -> ! {
    assert_eq!(top % 16, 0, "stack top must be 16-byte aligned");
    // SAFETY: `top` is the top of a mapped, writable kernel stack (a
    // `KernelStack`), aligned to 16 so that the `call` leaves RSP at 8 mod 16 as
    // the SysV ABI expects on function entry. `entry` never returns, so no
    // state of the old stack is needed again.
    unsafe {
        asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            top = in(reg) top,
            entry = in(reg) entry,
            in("rdi") arg,
            options(noreturn),
        )
    }
}
