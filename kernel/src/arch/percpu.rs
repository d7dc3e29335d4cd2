//! Per-CPU data reached through GS: the current CPU's id is one gs-relative
//! load. Each CPU's `PerCpu` is its own cache-line-aligned block, so CPUs do
//! not share lines by accident. The boot CPU's block is a static, installed
//! first thing at boot, so `current_id()` works from the first log line.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use x86_64::VirtAddr;
use x86_64::registers::model_specific::GsBase;

use super::cpu_id::{CpuId, MAX_CPUS};

/// One CPU's private data.
#[repr(C, align(64))]
pub struct PerCpu {
    /// Dense CPU id (0 = boot CPU). Read with one `mov` from GS.
    id: u32,
    /// APIC id, recorded when the CPU's local APIC is up.
    apic_id: AtomicU32,
    /// IPIs received on the wake vector (`vectors::WAKE`).
    pub ipis_received: AtomicU64,
    /// Interrupt/exception nesting depth (only this CPU touches it).
    irq_depth: AtomicU32,
    /// The vector of the innermost handler running (meaningful while
    /// `irq_depth` > 0), for reports such as an allocation in a handler.
    vector: AtomicU32,
    /// The user address space loaded on this CPU (null: the kernel's), with
    /// one reference held (`memory::address_space`).
    address_space: crate::memory::address_space::CurrentSpace,
}

impl PerCpu {
    const fn new(id: u32) -> Self {
        Self {
            id,
            apic_id: AtomicU32::new(0),
            ipis_received: AtomicU64::new(0),
            irq_depth: AtomicU32::new(0),
            vector: AtomicU32::new(0),
            address_space: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// This CPU's dense id.
    pub fn id(&self) -> CpuId {
        CpuId::from_raw(self.id)
    }

    /// This CPU's APIC id.
    pub fn apic_id(&self) -> super::lapic::ApicId {
        super::lapic::ApicId(self.apic_id.load(Ordering::Relaxed))
    }

    /// Whether this CPU is running an interrupt or exception handler.
    pub fn in_interrupt(&self) -> bool {
        self.irq_depth.load(Ordering::Relaxed) != 0
    }

    /// The vector of the innermost interrupt or exception being handled.
    pub fn interrupt_vector(&self) -> u8 {
        self.vector.load(Ordering::Relaxed) as u8
    }

    /// Enters a handler for `vector`; returns the vector to restore.
    pub(crate) fn enter_interrupt(&self, vector: u8) -> u8 {
        self.irq_depth.fetch_add(1, Ordering::Relaxed);
        self.vector.swap(u32::from(vector), Ordering::Relaxed) as u8
    }

    pub(crate) fn leave_interrupt(&self, outer: u8) {
        self.vector.store(u32::from(outer), Ordering::Relaxed);
        self.irq_depth.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records the address space this CPU now runs (null: the kernel's);
    /// returns the one it ran (only this CPU calls it).
    pub(crate) fn swap_address_space(
        &self,
        new: *mut crate::memory::address_space::AddressSpace,
    ) -> *mut crate::memory::address_space::AddressSpace {
        self.address_space.swap(new, Ordering::AcqRel)
    }

    /// Records this CPU's APIC id.
    pub fn set_apic_id(&self, id: super::lapic::ApicId) {
        self.apic_id.store(id.0, Ordering::Relaxed);
    }
}

static BOOT_CPU: PerCpu = PerCpu::new(0);
static CPUS: [AtomicPtr<PerCpu>; MAX_CPUS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

fn install(block: &'static PerCpu) {
    CPUS[block.id as usize].store(core::ptr::from_ref(block).cast_mut(), Ordering::Release);
    GsBase::write(VirtAddr::from_ptr(block));
}

/// Installs the boot CPU's block (first thing at boot).
pub fn init_boot_cpu() {
    install(&BOOT_CPU);
}

/// Makes a block for CPU `id` (on the boot CPU, before starting that CPU).
pub fn allocate(id: CpuId) -> &'static PerCpu {
    alloc::boxed::Box::leak(alloc::boxed::Box::new(PerCpu::new(id.as_u32())))
}

/// Installs `block` as this CPU's (first thing on an application processor).
pub fn init_this_cpu(block: &'static PerCpu) {
    install(block);
}

/// The id of the CPU this code runs on.
#[inline]
pub fn current_id() -> CpuId {
    let id: u32;
    // SAFETY: GS base points at this CPU's PerCpu from the first instruction
    // of boot (boot CPU) or of the AP entry; `id` is at a fixed offset.
    unsafe {
        core::arch::asm!(
            "mov {id:e}, dword ptr gs:[{offset}]",
            id = out(reg) id,
            offset = const core::mem::offset_of!(PerCpu, id),
            options(nostack, readonly, preserves_flags)
        );
    }
    CpuId::from_raw(id)
}

/// This CPU's id if it is running task code, `None` inside an interrupt or
/// exception handler: two GS-relative loads, for the executor's wake path.
#[inline]
pub fn current_id_in_task_context() -> Option<CpuId> {
    let depth: u32;
    // SAFETY: as in `current_id`; `irq_depth` is an `AtomicU32` at a fixed
    // offset, only ever changed by this CPU (a plain load of our own
    // counter cannot tear or race).
    unsafe {
        core::arch::asm!(
            "mov {d:e}, dword ptr gs:[{offset}]",
            d = out(reg) depth,
            offset = const core::mem::offset_of!(PerCpu, irq_depth),
            options(nostack, readonly, preserves_flags)
        );
    }
    (depth == 0).then(current_id)
}

/// This CPU's block.
pub fn this() -> &'static PerCpu {
    get(current_id()).expect("the running CPU has a PerCpu")
}

/// CPU `id`'s block, if that CPU was brought up.
pub fn get(id: CpuId) -> Option<&'static PerCpu> {
    let p = CPUS.get(id.as_usize())?.load(Ordering::Acquire);
    // SAFETY: non-null entries point at leaked or static blocks.
    (!p.is_null()).then(|| unsafe { &*p })
}
