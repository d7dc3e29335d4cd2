//! The per-CPU block: one `#[repr(C)]` [`PerCpu`] per CPU, reached through
//! GS, with its own address at offset 0 (`mov reg, gs:[0]` yields the
//! block) and the offsets that assembly uses checked at compile time.
//!
//! It holds what a CPU needs about itself, quickly and without an index:
//! //! its ids, its interrupt depth, its executor, its TSS and stacks, the
//! address space it runs, and the slots the way into and out of ring 3
//! uses (`user_mode`: where the executor's stack was parked, a scratch
//! slot for the program's stack pointer, the running user context, and
//! which context's FPU registers and FS base the CPU holds). Other CPUs may read
//! the few fields that are atomics for that reason (APIC id, IPIs
//! received); state that other CPUs write, or that a module keeps per CPU
//! for itself, lives in that module's
//! [`CpuArray`](super::cpu_array::CpuArray) instead. The CPU's idle flag is
//! such state: [`PerCpu::set_idle`] and [`PerCpu::is_idle`] reach it in
//! [`idle_flags`], one padded flag per CPU, the same flags the IPI queues'
//! protocol reads (one idle flag per CPU in the whole kernel).
//!
//! The boot CPU's block is a static, installed first thing at boot, so
//! `current_id()` works from the first log line; an application processor's
//! is leaked by the boot CPU before it starts it.

use core::mem::offset_of;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use executor::ipiq::IdleFlags;

use x86_64::VirtAddr;
use x86_64::registers::model_specific::GsBase;
use x86_64::structures::tss::TaskStateSegment;

use super::cpu_id::{CpuId, MAX_CPUS};
use super::gdt::CpuStacks;

/// One CPU's block.
#[repr(C, align(64))]
pub struct PerCpu {
    /// The block's own address (offset [`SELF`]).
    self_ptr: AtomicPtr<PerCpu>,
    /// Dense CPU id (0 = boot CPU). Read with one `mov` from GS.
    id: u32,
    /// Interrupt/exception nesting depth (only this CPU touches it).
    irq_depth: AtomicU32,
    /// The program's stack pointer, parked by the system-call entry while it
    /// saves the program's registers (offset [`USER_RSP`]).
    user_rsp: AtomicU64,
    /// The executor's stack pointer, parked by `user_mode::enter` while a
    /// program runs; every way back from ring 3 resumes there (offset
    /// [`KERNEL_RSP`]).
    kernel_rsp: AtomicU64,
    /// The user context running or last run on this CPU (offset
    /// [`USER_CONTEXT`]; the system-call entry saves the program's
    /// registers into it).
    user_context: AtomicPtr<()>,
    /// The user context whose FPU/SSE registers and FS base this CPU holds
    /// (null: none's). Compared, never dereferenced (`user_mode`).
    pub(super) fpu_owner: AtomicPtr<()>,
    /// The vector of the innermost handler running (meaningful while
    /// `irq_depth` > 0), for reports such as an allocation in a handler.
    vector: AtomicU32,
    /// APIC id, recorded when the CPU's local APIC is up.
    apic_id: AtomicU32,
    /// What this CPU's xAPIC ICR_HIGH holds (`lapic::send_ipi`), or
    /// `u32::MAX` before the first write: only this CPU touches it, with
    /// interrupts off.
    pub(super) icr_high: AtomicU32,
    /// This CPU's TSS (leaked by `gdt::load`).
    tss: AtomicPtr<TaskStateSegment>,
    /// This CPU's executor (made on first use by `exec::this`).
    executor: AtomicPtr<executor::Executor>,
    /// The user address space loaded on this CPU (null: the kernel's), with
    /// one reference held (`memory::address_space`).
    address_space: crate::memory::address_space::CurrentSpace,
    /// IPIs received on the wake vector (`vectors::WAKE`).
    pub ipis_received: AtomicU64,
    /// Its kernel and IST stacks (set once by `gdt::load`).
    stacks: spin::Once<CpuStacks>,
}

/// Offset of the block's own address.
pub const SELF: usize = 0;
/// Offset of the scratch slot for the program's stack pointer.
pub const USER_RSP: usize = 16;
/// Offset of the kernel stack a system-call entry switches to.
pub const KERNEL_RSP: usize = 24;
/// Offset of the running user thread's saved registers.
pub const USER_CONTEXT: usize = 32;

const _: () = {
    assert!(offset_of!(PerCpu, self_ptr) == SELF);
    assert!(offset_of!(PerCpu, user_rsp) == USER_RSP);
    assert!(offset_of!(PerCpu, kernel_rsp) == KERNEL_RSP);
    assert!(offset_of!(PerCpu, user_context) == USER_CONTEXT);
    // `current_id` and `current_id_in_task_context` read these with one
    // 32-bit load each.
    assert!(offset_of!(PerCpu, id) % 4 == 0 && offset_of!(PerCpu, irq_depth) % 4 == 0);
};

impl PerCpu {
    const fn new(id: u32) -> Self {
        Self {
            self_ptr: AtomicPtr::new(core::ptr::null_mut()),
            id,
            irq_depth: AtomicU32::new(0),
            user_rsp: AtomicU64::new(0),
            kernel_rsp: AtomicU64::new(0),
            user_context: AtomicPtr::new(core::ptr::null_mut()),
            fpu_owner: AtomicPtr::new(core::ptr::null_mut()),
            vector: AtomicU32::new(0),
            apic_id: AtomicU32::new(0),
            icr_high: AtomicU32::new(u32::MAX),
            tss: AtomicPtr::new(core::ptr::null_mut()),
            executor: AtomicPtr::new(core::ptr::null_mut()),
            address_space: AtomicPtr::new(core::ptr::null_mut()),
            ipis_received: AtomicU64::new(0),
            stacks: spin::Once::new(),
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

    /// Records this CPU's APIC id.
    pub fn set_apic_id(&self, id: super::lapic::ApicId) {
        self.apic_id.store(id.0, Ordering::Relaxed);
    }

    /// Raises or lowers this CPU's idle flag (its loop only: raised, with
    /// interrupts off, before its last look for work, lowered when it
    /// wakes). The one flag every waker reads: the IPI queues' passive
    /// sends, remote frees, the stall detector ([`idle_flags`]).
    pub fn set_idle(&self, idle: bool) {
        if let Some(flags) = IDLE.get() {
            flags.set(self.id as usize, idle);
        }
    }

    /// Says that this CPU's loop polls for work before it halts (its loop
    /// only; [`set_idle`](Self::set_idle) ends it): IPI-queue senders
    /// need no IPI meanwhile (`IdleFlags::set_polling`).
    pub fn set_polling(&self) {
        if let Some(flags) = IDLE.get() {
            flags.set_polling(self.id as usize);
        }
    }

    /// Whether this CPU's loop is about to halt or halted (a
    /// read-modify-write: see `IdleFlags`).
    pub fn is_idle(&self) -> bool {
        IDLE.get().is_some_and(|flags| flags.is_idle(self.id as usize))
    }

    /// The user context `user_mode::enter` runs or last ran here.
    pub(super) fn user_context_ptr(&self) -> *mut () {
        self.user_context.load(Ordering::Relaxed)
    }

    /// This CPU's executor, if it has been made.
    pub fn executor(&self) -> Option<&'static executor::Executor> {
        let p = self.executor.load(Ordering::Acquire);
        // SAFETY: non-null values are leaked executors (`set_executor`).
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Records this CPU's executor (once, by `exec::this`).
    pub fn set_executor(&self, executor: &'static executor::Executor) {
        let old = self.executor.swap(core::ptr::from_ref(executor).cast_mut(), Ordering::AcqRel);
        assert!(old.is_null(), "{} got a second executor", self.id());
    }

    /// Its kernel and IST stacks, once `gdt::load` ran on it.
    pub fn stacks(&self) -> Option<&CpuStacks> {
        self.stacks.get()
    }

    /// Records the CPU's stacks and TSS (`gdt::load`, once per CPU).
    pub(super) fn set_tables(&self, stacks: CpuStacks, tss: *mut TaskStateSegment) {
        self.stacks.call_once(|| stacks);
        self.tss.store(tss, Ordering::Release);
    }

    /// The stack an interrupt from ring 3 switches to (the TSS's RSP0: the
    /// trap stack), if `gdt::load` ran on this CPU.
    pub fn tss_ring0_stack(&self) -> Option<u64> {
        let tss = self.tss.load(Ordering::Acquire);
        // SAFETY: non-null values are this CPU's leaked TSS; the TSS is
        // packed, so the read is unaligned.
        (!tss.is_null()).then(|| unsafe { core::ptr::addr_of!((*tss).privilege_stack_table[0]).read_unaligned() }.as_u64())
    }

    /// Records the address space this CPU now runs (null: the kernel's);
    /// returns the one it ran (only this CPU calls it, through
    /// `address_space`'s CPU hooks: [`swap_this_address_space`]).
    pub(crate) fn swap_address_space(
        &self,
        new: *mut crate::memory::address_space::AddressSpace,
    ) -> *mut crate::memory::address_space::AddressSpace {
        self.address_space.swap(new, Ordering::AcqRel)
    }
}

/// [`PerCpu::swap_address_space`] on the running CPU (the hook
/// `memory::address_space` is given).
pub(crate) fn swap_this_address_space(
    new: *mut crate::memory::address_space::AddressSpace,
) -> *mut crate::memory::address_space::AddressSpace {
    this().swap_address_space(new)
}

/// Every CPU's idle flag, each on its own line (other CPUs read them), made
/// once the heap exists ([`init_idle_flags`]); until then no CPU idles.
static IDLE: spin::Once<IdleFlags> = spin::Once::new();

/// Makes the idle flags (boot, once the heap is up, before any AP starts).
pub fn init_idle_flags() {
    IDLE.call_once(|| IdleFlags::new(MAX_CPUS));
}

/// The idle flags, for the IPI queues (`ipiq` makes its queues with them).
pub fn idle_flags() -> &'static IdleFlags {
    IDLE.get().expect("idle flags used before boot made them")
}

static BOOT_CPU: PerCpu = PerCpu::new(0);
static CPUS: [AtomicPtr<PerCpu>; MAX_CPUS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

fn install(block: &'static PerCpu) {
    let p = core::ptr::from_ref(block).cast_mut();
    block.self_ptr.store(p, Ordering::Relaxed);
    CPUS[block.id as usize].store(p, Ordering::Release);
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
            offset = const offset_of!(PerCpu, id),
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
            offset = const offset_of!(PerCpu, irq_depth),
            options(nostack, readonly, preserves_flags)
        );
    }
    (depth == 0).then(current_id)
}

/// This CPU's block: one GS-relative load of its own address.
#[inline]
pub fn this() -> &'static PerCpu {
    let p: *const PerCpu;
    // SAFETY: GS base points at this CPU's block from its first instruction,
    // and `install` stored the block's address at offset SELF before it
    // loaded GS.
    unsafe {
        core::arch::asm!(
            "mov {p}, qword ptr gs:[{offset}]",
            p = out(reg) p,
            offset = const SELF,
            options(nostack, readonly, preserves_flags)
        );
    }
    // SAFETY: blocks are static or leaked, never freed.
    unsafe { &*p }
}

/// CPU `id`'s block, if that CPU was brought up.
pub fn get(id: CpuId) -> Option<&'static PerCpu> {
    let p = CPUS.get(id.as_usize())?.load(Ordering::Acquire);
    // SAFETY: non-null entries point at leaked or static blocks.
    (!p.is_null()).then(|| unsafe { &*p })
}
