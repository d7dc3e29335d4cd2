//! Per-CPU GDT and TSS.
//!
//! Long mode ignores segment bases and limits, so the GDT holds just a kernel
//! code and data segment and the TSS. The TSS matters for its interrupt stack
//! table: double fault, NMI and machine check switch to their own guard-paged
//! stacks, so a kernel stack overflow is reported instead of triple-faulting.
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

/// The stacks one CPU needs.
#[derive(Clone, Copy, Debug)]
pub struct CpuStacks {
    /// The stack the CPU runs kernel code on.
    pub kernel: KernelStack,
    /// IST stacks, indexed by [`IstIndex`].
    pub ist: [KernelStack; 3],
}

impl CpuStacks {
    /// Maps a kernel stack of `kernel_size` bytes and the IST stacks.
    pub fn allocate(kernel_size: usize) -> Self {
        Self { kernel: KernelStack::allocate(kernel_size), ist: core::array::from_fn(|_| KernelStack::allocate(IST_STACK_SIZE)) }
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
    // Ring-0 only: privilege_stack_table[0] is used on a ring change only.
    tss.privilege_stack_table[0] = VirtAddr::new(stacks.kernel.top());
    // Leaked, and from here on only reached through this raw pointer: the
    // per-CPU block keeps it to change RSP0 (`percpu::set_ring0_stack`).
    let tss: *mut TaskStateSegment = Box::leak(Box::new(tss));

    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
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
