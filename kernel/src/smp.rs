//! Every CPU QEMU gives us: discovery (ACPI), local APICs, application
//! processor bring-up, cross-CPU calls and IPIs.
//!
//! Bring-up runs on the boot CPU, one AP at a time: allocate the AP's stacks
//! and `PerCpu`, fill the trampoline's data block, send INIT, wait 10 ms,
//! send a startup IPI, wait 200 us, send a second one if the AP has not
//! answered, then wait (bounded, 500 ms) for the AP to set its `alive` flag.
//! An AP that does not answer is reported and skipped. Delays use the
//! PIT-calibrated TSC.
//!
//! Once up, each AP runs its executor (`exec::run`), which also serves the
//! CPU's call mailbox: with interrupts off it checks both, and only if both
//! are empty does it `sti; hlt`, so the IPI that announces a call is never
//! lost.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use x86_64::instructions::interrupts;

use crate::arch::idt::{self, Vector};
use crate::arch::lapic::{self, ApicId, Delivery, Destination};
use crate::arch::percpu::{self, PerCpu};
use crate::arch::{cpu, gdt, ioapic, pic, trampoline};
use crate::time;

/// The most CPUs the kernel's tables hold.
pub const MAX_CPUS: usize = 64;

/// A dense CPU number, 0..online(), with the boot CPU 0. Distinct from
/// [`ApicId`], which firmware assigns and need not be dense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(u32);

impl CpuId {
    /// The boot CPU.
    pub const BOOT: CpuId = CpuId(0);

    /// `Some` if `n` is below [`MAX_CPUS`].
    pub const fn try_new(n: usize) -> Option<Self> {
        if n < MAX_CPUS { Some(Self(n as u32)) } else { None }
    }

    pub(crate) const fn from_raw(n: u32) -> Self {
        Self(n)
    }

    /// As an index.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }

    /// As a number.
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl core::fmt::Display for CpuId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cpu{}", self.0)
    }
}

/// The vector that wakes a CPU to look at its mailbox.
pub const WAKE_VECTOR: u8 = 0xf0;

static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// How many CPUs are running (ids 0..online()).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The id of the running CPU.
pub fn current() -> CpuId {
    percpu::current_id()
}

// ---- cross-CPU calls ----

const EMPTY: u8 = 0;
const REQUESTED: u8 = 1;
const DONE: u8 = 2;

/// One pending function call for a CPU.
pub struct Mailbox {
    lock: spin::Mutex<()>,
    state: AtomicU8,
    func: AtomicUsize,
    result: AtomicU64,
}

impl Mailbox {
    pub(crate) const fn new() -> Self {
        Self { lock: spin::Mutex::new(()), state: AtomicU8::new(EMPTY), func: AtomicUsize::new(0), result: AtomicU64::new(0) }
    }

    /// Whether a call is waiting.
    pub(crate) fn pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == REQUESTED
    }

    /// Runs a requested call, if any. Called by the owning CPU.
    pub(crate) fn serve(&self) -> bool {
        if self.state.load(Ordering::Acquire) != REQUESTED {
            return false;
        }
        let raw = self.func.load(Ordering::Relaxed);
        // SAFETY: `call_on` stores a `fn() -> u64` before setting REQUESTED
        // (Release), which we observed with Acquire.
        let f = unsafe { core::mem::transmute::<usize, fn() -> u64>(raw) };
        interrupts::enable();
        let result = f();
        self.result.store(result, Ordering::Relaxed);
        self.state.store(DONE, Ordering::Release);
        true
    }
}

/// Why a cross-CPU call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No such CPU is online.
    NoSuchCpu(CpuId),
    /// The CPU did not finish within the timeout.
    Timeout(CpuId),
}

/// Runs `f` on CPU `cpu` (in its idle loop, interrupts on) and returns its
/// result; waits at most `timeout_ms`. On the calling CPU, runs `f` directly.
pub fn call_on(cpu: CpuId, f: fn() -> u64, timeout_ms: u64) -> Result<u64, CallError> {
    if cpu == current() {
        return Ok(f());
    }
    let target = percpu::get(cpu).filter(|_| cpu.as_usize() < online()).ok_or(CallError::NoSuchCpu(cpu))?;
    let mailbox = &target.mailbox;
    let _serial = mailbox.lock.lock();
    mailbox.func.store(f as usize, Ordering::Relaxed);
    mailbox.state.store(REQUESTED, Ordering::Release);
    lapic::send_ipi(Destination::Apic(target.apic_id()), Delivery::Fixed(WAKE_VECTOR));
    let deadline = time::deadline_after_ms(timeout_ms);
    while mailbox.state.load(Ordering::Acquire) != DONE {
        if time::passed(deadline) {
            return Err(CallError::Timeout(cpu));
        }
        cpu::pause();
    }
    let result = mailbox.result.load(Ordering::Relaxed);
    mailbox.state.store(EMPTY, Ordering::Release);
    Ok(result)
}

/// Sends a fixed-vector IPI to one CPU.
pub fn send_ipi(cpu: CpuId, vector: Vector) -> bool {
    match percpu::get(cpu) {
        Some(p) => lapic::send_ipi(Destination::Apic(p.apic_id()), Delivery::Fixed(vector.as_u8())),
        None => false,
    }
}

/// Sends a fixed-vector IPI to every CPU in `set` (bit n = CPU n).
pub fn send_ipi_to_set(set: u64, vector: Vector) {
    for n in 0..online().min(64) {
        if set & (1 << n) != 0 {
            send_ipi(CpuId(n as u32), vector);
        }
    }
}

/// Sends a fixed-vector IPI to every CPU but this one.
pub fn send_ipi_to_others(vector: Vector) {
    lapic::send_ipi(Destination::AllButSelf, Delivery::Fixed(vector.as_u8()));
}

/// Stops every other CPU with an NMI (the fatal path: their NMI handler
/// sees a report in progress and halts).
pub fn stop_others() {
    if lapic::is_ready() && online() > 1 {
        lapic::send_ipi(Destination::AllButSelf, Delivery::Nmi);
    }
}

fn on_wake_ipi(_: Vector, _: &mut crate::arch::entry::InterruptFrame) {
    percpu::this().ipis_received.fetch_add(1, Ordering::Relaxed);
    lapic::eoi();
}

fn on_spurious(_: Vector, _: &mut crate::arch::entry::InterruptFrame) {}

/// The wake vector as a `Vector`.
pub fn wake_vector() -> Vector {
    Vector::try_new(WAKE_VECTOR).expect("not an exception vector")
}

// ---- bring-up ----

struct ApBoot {
    percpu: &'static PerCpu,
    stacks: gdt::CpuStacks,
    alive: AtomicBool,
}

extern "C" fn ap_entry(arg: u64) -> ! {
    // SAFETY: `arg` is the address of a leaked `ApBoot` made by `start_ap`.
    let boot = unsafe { &*(arg as *const ApBoot) };
    percpu::init_this_cpu(boot.percpu);
    gdt::load(boot.stacks);
    idt::load();
    lapic::init_this_cpu();
    crate::time::timer::init_this_cpu();
    boot.percpu.set_apic_id(lapic::id());
    boot.alive.store(true, Ordering::Release);
    crate::exec::run()
}

/// Discovers the machine, sets up interrupt controllers and starts every AP.
/// Without usable ACPI tables the kernel continues on the boot CPU alone.
pub fn init(rsdp: Option<u64>) {
    pic::disable();
    let info = match crate::acpi::discover(rsdp) {
        Ok(info) => info,
        Err(why) => {
            log::error!("ACPI: {why}; continuing on the boot CPU alone");
            return;
        }
    };
    let mode = lapic::init_global(info.lapic_address);
    lapic::init_this_cpu();
    percpu::this().set_apic_id(lapic::id());
    idt::set_handler(Vector::try_new(WAKE_VECTOR).expect("not an exception vector"), on_wake_ipi);
    idt::set_handler(Vector::try_new(lapic::SPURIOUS_VECTOR).expect("not an exception vector"), on_spurious);
    crate::time::timer::init_global();
    ioapic::init(&info.ioapics);
    crate::acpi::set_machine(info.clone());
    log::info!(
        "{} CPUs in the MADT ({} disabled), local APIC in {mode} mode, boot CPU APIC id {}",
        info.cpus.len(),
        info.disabled_cpus,
        lapic::id().0
    );
    interrupts::enable();

    let aps: alloc::vec::Vec<ApicId> = info.cpus.iter().copied().filter(|&a| a != lapic::id()).collect();
    if aps.is_empty() {
        return;
    }
    if let Err(e) = trampoline::install() {
        log::error!("cannot start application processors: {e:?}");
        return;
    }
    for apic in aps {
        let Some(id) = CpuId::try_new(online()) else {
            log::warn!("more than {MAX_CPUS} CPUs: APIC id {} left offline", apic.0);
            continue;
        };
        let start = cpu::rdtsc();
        if start_ap(id, apic) {
            let us = time::cycles_to_duration(cpu::rdtsc() - start).as_micros();
            ONLINE.fetch_add(1, Ordering::AcqRel);
            log::info!("{id} online: APIC id {}, started in {us} us", apic.0);
        } else {
            log::error!("APIC id {} did not answer INIT-SIPI-SIPI within 500 ms; continuing without it", apic.0);
        }
    }
    log::info!("smp: {} CPUs online", online());
}

fn start_ap(id: CpuId, apic: ApicId) -> bool {
    let boot: &'static ApBoot = alloc::boxed::Box::leak(alloc::boxed::Box::new(ApBoot {
        percpu: percpu::allocate(id),
        stacks: gdt::CpuStacks::allocate(crate::boot::AP_STACK_SIZE),
        alive: AtomicBool::new(false),
    }));
    trampoline::prepare(boot.stacks.kernel.top(), ap_entry, core::ptr::from_ref(boot) as u64);
    let dest = Destination::Apic(apic);
    lapic::send_ipi(dest, Delivery::Init);
    time::delay_us(10_000);
    for _ in 0..2 {
        lapic::send_ipi(dest, Delivery::Startup(trampoline::startup_vector()));
        time::delay_us(200);
        if boot.alive.load(Ordering::Acquire) {
            return true;
        }
    }
    let deadline = time::deadline_after_ms(500);
    while !time::passed(deadline) {
        if boot.alive.load(Ordering::Acquire) {
            return true;
        }
        cpu::pause();
    }
    false
}
