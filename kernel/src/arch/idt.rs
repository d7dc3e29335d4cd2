//! The interrupt descriptor table: every vector points at its entry stub
//! (see [`super::entry`]); exceptions that must run on a known-good stack use
//! the TSS's interrupt stack table.
//!
//! Vectors 0x20..=0xff are dispatched to handlers registered with
//! [`set_handler`] (or, for the dynamic range, per CPU through
//! `vectors::Allocated`); a vector with no handler is counted and logged.
//! Which vector serves what: `vectors.rs`.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Once;
use x86_64::VirtAddr;
use x86_64::structures::idt::{EntryOptions, InterruptDescriptorTable};

use super::cpu_array::CpuArray;
use super::cpu_id::CpuId;
use super::entry::{InterruptFrame, stub_for};
use super::gdt::IstIndex;
use super::vectors::{self, InterruptHandler, Vector};

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];
/// Interrupts taken per CPU and vector (0x20..=0xff), for `irq` statistics.
/// Each CPU only increments its own row.
static COUNTS: CpuArray<[AtomicU64; vectors::COUNT]> = crate::cpu_array!([const { AtomicU64::new(0) }; vectors::COUNT]);

/// Interrupts `cpu` has taken on `vector` since boot.
pub fn interrupt_count(cpu: CpuId, vector: Vector) -> u64 {
    COUNTS.get(cpu)[vector.index()].load(Ordering::Relaxed)
}
static UNHANDLED: AtomicU64 = AtomicU64::new(0);

/// Routes `vector` to `handler` from now on (on every CPU). Not for the
/// dynamic range, whose handlers are per CPU (`vectors::Allocated`).
pub fn set_handler(vector: Vector, handler: InterruptHandler) {
    assert!(!vectors::is_dynamic(vector), "vector {vector} is dynamic: set its handler through its allocation");
    HANDLERS[usize::from(vector.as_u8())].store(handler as usize, Ordering::Release);
}

/// How many interrupts arrived on vectors with no handler.
pub fn unhandled_count() -> u64 {
    UNHANDLED.load(Ordering::Relaxed)
}

pub(super) fn dispatch_interrupt(vector: Vector, frame: &mut InterruptFrame) {
    let cpu = super::percpu::current_id();
    COUNTS.get(cpu)[vector.index()].fetch_add(1, Ordering::Relaxed);
    let handler = if vectors::is_dynamic(vector) {
        vectors::dynamic_handler(cpu, vector)
    } else {
        let raw = HANDLERS[usize::from(vector.as_u8())].load(Ordering::Acquire);
        // SAFETY: the only non-zero values stored in HANDLERS come from
        // `set_handler`, which stores an `InterruptHandler` cast to usize.
        (raw != 0).then(|| unsafe { core::mem::transmute::<usize, InterruptHandler>(raw) })
    };
    let Some(handler) = handler else {
        UNHANDLED.fetch_add(1, Ordering::Relaxed);
        log::warn!("interrupt on vector {vector} on {cpu} with no handler (ignored)");
        return;
    };
    handler(vector, frame);
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
unsafe fn set_entry(idt: &mut InterruptDescriptorTable, vector: u8, addr: VirtAddr) -> Option<&mut EntryOptions> {
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
