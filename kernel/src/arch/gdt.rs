//! Per-CPU GDT and TSS.
//!
//! Long mode ignores segment bases and limits, so the GDT holds the kernel's
//! code and data segments, the program's (ring 3) data and code segments, in
//! the order `SYSRET` requires ([`USER_CS`] = [`USER_SS`] + 8), and the TSS.
//!
//! The TSS gives two kinds of stacks:
//! - its interrupt stack table: double fault, NMI and machine check switch
//!   to their own guard-paged stacks, so a kernel stack overflow is reported
//!   instead of triple-faulting;
//! - RSP0, what the CPU switches to when an interrupt or exception arrives
//!   from ring 3: the CPU's *trap stack*, used for nothing else. A ring-3
//!   trap therefore never lands on the stack the executor is running on
//!   (which holds the frames of the poll that entered user mode:
//!   `user_mode`).
//!
//! Each CPU gets its own tables (leaked: they live as long as the CPU).

use alloc::boxed::Box;

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

use crate::memory::stack::KernelStack;

/// Slots of the TSS interrupt stack table (0-based, as `set_stack_index` takes them).
#[derive(Clone, Copy, Debug)]
#[repr(u16)]
pub enum IstIndex {
    /// Double fault: must work when the kernel stack is gone.
    DoubleFault = 0,
    /// NMI: may arrive at any instruction, including mid stack switch.
    Nmi = 1,
    /// Machine check: same reasoning as NMI.
    MachineCheck = 2,
}

/// Size of each IST stack.
const IST_STACK_SIZE: usize = 32 * 1024;
/// Size of the trap stack: interrupt handlers run on it when they interrupt
/// a program, as they run on the kernel stack when they interrupt the kernel.
const TRAP_STACK_SIZE: usize = 64 * 1024;

/// The kernel's code segment selector (`SYSCALL` loads it).
pub const KERNEL_CS: u16 = 0x08;
/// The kernel's stack segment selector (`SYSCALL` loads it: [`KERNEL_CS`] + 8).
pub const KERNEL_SS: u16 = 0x10;
/// The programs' stack segment selector, RPL 3 (`SYSRET` loads it).
pub const USER_SS: u16 = 0x18 | 3;
/// The programs' 64-bit code segment selector, RPL 3 (`SYSRET` loads it:
/// [`USER_SS`] + 8).
pub const USER_CS: u16 = 0x20 | 3;

/// The stacks one CPU needs.
#[derive(Clone, Copy, Debug)]
pub struct CpuStacks {
    /// The stack the CPU runs kernel code on.
    pub kernel: KernelStack,
    /// IST stacks, indexed by [`IstIndex`].
    pub ist: [KernelStack; 3],
    /// The trap stack: RSP0, for interrupts and exceptions from ring 3.
    pub trap: KernelStack,
}

impl CpuStacks {
    /// Maps a kernel stack of `kernel_size` bytes and the IST stacks.
    pub fn allocate(kernel_size: usize) -> Self {
        Self {
            kernel: KernelStack::allocate(kernel_size),
            ist: core::array::from_fn(|_| KernelStack::allocate(IST_STACK_SIZE)),
            trap: KernelStack::allocate(TRAP_STACK_SIZE),
        }
    }
}

/// Builds this CPU's GDT and TSS from `stacks` and loads them; records the
/// stacks and the TSS in this CPU's per-CPU block.
pub fn load(stacks: CpuStacks) {
    let mut tss = TaskStateSegment::new();
    // The TSS is packed: build the table by value, then store it whole.
    tss.interrupt_stack_table = core::array::from_fn(|i| match stacks.ist.get(i) {
        Some(stack) => VirtAddr::new(stack.top()),
        None => VirtAddr::zero(),
    });
    // Used on a change from ring 3 only: the trap stack.
    tss.privilege_stack_table[0] = VirtAddr::new(stacks.trap.top());
    // Leaked, and from here on only reached through this raw pointer (the
    // per-CPU block keeps it, to report RSP0).
    let tss: *mut TaskStateSegment = Box::leak(Box::new(tss));

    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    debug_assert_eq!(
        (code.0, data.0, user_data.0, user_code.0),
        (KERNEL_CS, KERNEL_SS, USER_SS, USER_CS),
        "the selectors SYSCALL and SYSRET derive from STAR"
    );
    // SAFETY: the TSS is leaked (it lives as long as the CPU) and is this
    // CPU's alone.
    let tss_selector = gdt.append(unsafe { Descriptor::tss_segment_unchecked(tss) });
    let gdt: &'static GlobalDescriptorTable = Box::leak(Box::new(gdt));

    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which is
    // 'static; the code segment is a 64-bit ring-0 segment like the current one,
    // and the TSS descriptor points at a 'static TSS that is not loaded on any
    // other CPU.
    unsafe {
        CS::set_reg(code);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        load_tss(tss_selector);
    }
    super::percpu::this().set_tables(stacks, tss);
}
