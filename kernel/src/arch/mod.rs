//! Everything that knows it runs on x86_64: descriptor tables, interrupt entry,
//! exception handlers, legacy timers, stack switching, CPU instructions and the
//! QEMU exit device. The rest of the kernel calls the typed functions here.

pub mod backtrace;
pub mod cpu;
pub mod cpu_array;
pub mod cpu_id;
pub mod entry;
pub mod exceptions;
mod fast_calls;
pub mod gdt;
pub mod hooks;
pub mod idt;
pub mod ioapic;
pub mod lapic;
pub mod percpu;
pub mod pic;
pub mod pit;
pub mod qemu;
pub mod rtc;
pub mod stack;
pub mod trampoline;
pub mod user_copy;
pub mod user_mode;
pub mod vectors;

use crate::memory::stack::KernelStack;

/// Loads the boot CPU's GDT, TSS (with IST stacks) and IDT.
///
/// Returns the guard-paged kernel stack the boot CPU should switch to.
pub fn init_boot_cpu(stack_size: usize) -> KernelStack {
    let stacks = gdt::CpuStacks::allocate(stack_size);
    let kernel = stacks.kernel;
    gdt::load(stacks);
    idt::load();
    user_mode::init_this_cpu();
    kernel
}
