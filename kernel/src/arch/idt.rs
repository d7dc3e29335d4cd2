//! The interrupt descriptor table: every vector points at its entry stub
//! (see [`super::entry`]); exceptions that must run on a known-good stack use
//! the TSS's interrupt stack table.
//!
//! Vectors 32..=255 are dispatched to handlers registered with
//! [`set_handler`]; a vector with no handler is counted and logged.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Once;
use x86_64::VirtAddr;
use x86_64::structures::idt::{EntryOptions, InterruptDescriptorTable};

use super::entry::{InterruptFrame, stub_for};
use super::gdt::IstIndex;

/// An interrupt vector that a device or IPI may use (32..=255; 0..=31 are
/// CPU exceptions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vector(u8);

impl Vector {
    /// The first vector not reserved for CPU exceptions.
    pub const FIRST_FREE: u8 = 32;

    /// `Some` if `n` is not an exception vector.
    pub const fn try_new(n: u8) -> Option<Self> {
        if n >= Self::FIRST_FREE { Some(Self(n)) } else { None }
    }

    /// The vector number.
    pub const fn as_u8(self) -> u8 {
        self.0
    }
}

/// A handler for an external interrupt or IPI. It runs with interrupts off
/// on the interrupt's stack and must not block or allocate.
pub type Handler = fn(Vector, &mut InterruptFrame);

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];
/// Interrupts taken per CPU and vector (32..=255), for `irq` statistics.
/// Each CPU only increments its own row.
static COUNTS: [[AtomicU64; 224]; crate::smp::MAX_CPUS] = [const { [const { AtomicU64::new(0) }; 224] }; crate::smp::MAX_CPUS];

/// Interrupts `cpu` has taken on `vector` since boot (0 for exception vectors).
pub fn interrupt_count(cpu: crate::smp::CpuId, vector: u8) -> u64 {
    match vector.checked_sub(Vector::FIRST_FREE) {
        Some(i) => COUNTS[cpu.as_usize()][usize::from(i)].load(Ordering::Relaxed),
        None => 0,
    }
}
static UNHANDLED: AtomicU64 = AtomicU64::new(0);

/// Routes `vector` to `handler` from now on (on every CPU).
pub fn set_handler(vector: Vector, handler: Handler) {
    HANDLERS[usize::from(vector.0)].store(handler as usize, Ordering::Release);
}

/// How many interrupts arrived on vectors with no handler.
pub fn unhandled_count() -> u64 {
    UNHANDLED.load(Ordering::Relaxed)
}

pub(super) fn dispatch_interrupt(vector: u8, frame: &mut InterruptFrame) {
    let cpu = super::percpu::current_id().as_usize();
    COUNTS[cpu][usize::from(vector - Vector::FIRST_FREE)].fetch_add(1, Ordering::Relaxed);
    let raw = HANDLERS[usize::from(vector)].load(Ordering::Acquire);
    if raw == 0 {
        UNHANDLED.fetch_add(1, Ordering::Relaxed);
        log::warn!("interrupt on vector {vector} with no handler (ignored)");
        return;
    }
    // SAFETY: the only non-zero values stored in HANDLERS come from
    // `set_handler`, which stores a `Handler` fn pointer cast to usize.
    let handler = unsafe { core::mem::transmute::<usize, Handler>(raw) };
    handler(Vector(vector), frame);
}

static IDT: Once<InterruptDescriptorTable> = Once::new();

fn build() -> InterruptDescriptorTable {
    let mut idt = InterruptDescriptorTable::new();
    for vector in 0..=255u8 {
        let addr = VirtAddr::new(stub_for(vector) as usize as u64);
        // SAFETY: every stub is a valid entry point that saves all registers,
        // calls a handler that matches the vector's frame layout (with or
        // without an error code), and returns with iretq.
        let Some(options) = (unsafe { set_entry(&mut idt, vector, addr) }) else {
            continue;
        };
        let ist = match vector {
            2 => Some(IstIndex::Nmi),
            8 => Some(IstIndex::DoubleFault),
            18 => Some(IstIndex::MachineCheck),
            _ => None,
        };
        if let Some(ist) = ist {
            // SAFETY: the GDT module loads a TSS whose IST slot `ist` holds the
            // top of a dedicated, guard-paged stack before this IDT is loaded.
            unsafe { options.set_stack_index(ist as u16) };
        }
    }
    idt
}

/// Points the IDT entry of `vector` at `addr`; `None` for the reserved
/// exception vectors (9, 15, 22..=27, 31), which the CPU never raises and which
/// stay not-present.
///
/// # Safety
/// `addr` must be an entry point that handles `vector`'s stack frame.
unsafe fn set_entry(
    idt: &mut InterruptDescriptorTable,
    vector: u8,
    addr: VirtAddr,
) -> Option<&mut EntryOptions> {
    macro_rules! set {
        ($entry:expr) => {
            // SAFETY: forwarded from this function's contract.
            Some(unsafe { $entry.set_handler_addr(addr) })
        };
    }
    match vector {
        0 => set!(idt.divide_error),
        1 => set!(idt.debug),
        2 => set!(idt.non_maskable_interrupt),
        3 => set!(idt.breakpoint),
        4 => set!(idt.overflow),
        5 => set!(idt.bound_range_exceeded),
        6 => set!(idt.invalid_opcode),
        7 => set!(idt.device_not_available),
        8 => set!(idt.double_fault),
        10 => set!(idt.invalid_tss),
        11 => set!(idt.segment_not_present),
        12 => set!(idt.stack_segment_fault),
        13 => set!(idt.general_protection_fault),
        14 => set!(idt.page_fault),
        16 => set!(idt.x87_floating_point),
        17 => set!(idt.alignment_check),
        18 => set!(idt.machine_check),
        19 => set!(idt.simd_floating_point),
        20 => set!(idt.virtualization),
        21 => set!(idt.cp_protection_exception),
        28 => set!(idt.hv_injection_exception),
        29 => set!(idt.vmm_communication_exception),
        30 => set!(idt.security_exception),
        9 | 15 | 22..=27 | 31 => None,
        _ => set!(idt[vector]),
    }
}

/// Loads the IDT on this CPU (built once, shared by all CPUs).
pub fn load() {
    IDT.call_once(build).load();
}
