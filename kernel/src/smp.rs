//! Every CPU QEMU gives us: discovery (ACPI), local APICs, application
//! processor bring-up and fixed-vector IPIs. Work for another CPU goes
//! through the IPI queues (`run_on`, `spawn_on`: `kernel/src/run_on.rs`).
//!
//! Bring-up runs on the boot CPU, one AP at a time: allocate the AP's stacks
//! and `PerCpu`, fill the trampoline's data block, send INIT, wait 10 ms,
//! send a startup IPI, wait 200 us, send a second one if the AP has not
//! answered, then wait (bounded, 500 ms) for the AP to set its `alive` flag.
//! An AP that does not answer is reported and skipped. Delays use the
//! PIT-calibrated TSC.
//!
//! Once up, each AP runs its executor (`exec::run`): with interrupts off it
//! checks its executor, its IPI queues and its timers, and only if all are
//! empty does it `sti; hlt`, so an IPI that announces work is never lost.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use x86_64::instructions::interrupts;

use crate::arch::idt;
use crate::arch::lapic::{self, ApicId, Delivery, Destination};
use crate::arch::percpu::{self, PerCpu};
use crate::arch::vectors::{self, Vector};
use crate::arch::{cpu, gdt, ioapic, pic, trampoline};
use crate::time;

pub use crate::arch::cpu_id::{CpuId, MAX_CPUS};

static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// How many CPUs are running (ids 0..online()).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The id of the running CPU.
pub fn current() -> CpuId {
    percpu::current_id()
}

/// Sends a fixed-vector IPI to one CPU.
pub fn send_ipi(cpu: CpuId, vector: Vector) -> bool {
    match percpu::get(cpu) {
        Some(p) => lapic::send_ipi(Destination::Apic(p.apic_id()), Delivery::Fixed(vector)),
        None => false,
    }
}

/// Sends a fixed-vector IPI to every CPU in `set` (bit n = CPU n).
pub fn send_ipi_to_set(set: u64, vector: Vector) {
    for n in 0..online().min(64) {
        if set & (1 << n) != 0 {
            send_ipi(CpuId::from_raw(n as u32), vector);
        }
    }
}

/// Sends a fixed-vector IPI to every CPU but this one.
pub fn send_ipi_to_others(vector: Vector) {
    lapic::send_ipi(Destination::AllButSelf, Delivery::Fixed(vector));
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
    crate::arch::user_mode::init_this_cpu();
    lapic::init_this_cpu();
    wire_nmi_lines();
    crate::time::timer::init_this_cpu();
    boot.percpu.set_apic_id(lapic::id());
    boot.alive.store(true, Ordering::Release);
    (AP_MAIN.get().expect("smp::init records the AP's main before any AP starts"))()
}

static AP_MAIN: spin::Once<fn() -> !> = spin::Once::new();

/// Unmasks this CPU's local APIC pins the MADT wires to NMI (a platform's
/// NMI button or watchdog, QEMU's `nmi`), as Linux does.
fn wire_nmi_lines() {
    let Some(machine) = crate::acpi::machine() else { return };
    let me = lapic::id();
    for line in machine.nmi_lines.iter().filter(|l| l.apic.is_none_or(|a| a == me)) {
        lapic::set_nmi_line(line.lint, line.polarity == crate::arch::ioapic::Polarity::ActiveLow);
    }
}

/// Stack size of each application processor's kernel stack.
pub const AP_STACK_SIZE: usize = 128 * 1024;

/// Discovers the machine, sets up interrupt controllers and starts every AP.
/// Without usable ACPI tables the kernel continues on the boot CPU alone.
/// Each application processor, once up, runs `ap_main` (its executor's loop:
/// `exec::run`, given by `boot`, which sits above this module).
pub fn init(rsdp: Option<u64>, ap_main: fn() -> !) {
    AP_MAIN.call_once(|| ap_main);
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
    idt::set_handler(vectors::WAKE, on_wake_ipi);
    idt::set_handler(vectors::SPURIOUS, on_spurious);
    crate::time::timer::init_global();
    ioapic::init(&info.ioapics);
    crate::acpi::set_machine(info.clone());
    wire_nmi_lines();
    log::info!(
        "{} in the MADT ({} disabled), local APIC in {mode} mode, boot CPU APIC id {}",
        CpuCount(info.cpus.len()),
        info.disabled_cpus,
        lapic::id().0
    );
    interrupts::enable();

    let aps: alloc::vec::Vec<ApicId> = info.cpus.iter().copied().filter(|&a| a != lapic::id()).collect();
    if !aps.is_empty() {
        start_aps(&aps);
    }
    log::info!("smp: {} online", CpuCount(online()));
}

/// Starts the application processors `aps`, one after another.
fn start_aps(aps: &[ApicId]) {
    if let Err(e) = trampoline::install() {
        log::error!("cannot start application processors: {e:?}");
        return;
    }
    for &apic in aps {
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
}

/// A number of CPUs, as prose: "1 CPU", "4 CPUs".
#[derive(Clone, Copy, Debug)]
pub struct CpuCount(pub usize);

impl core::fmt::Display for CpuCount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            1 => f.write_str("1 CPU"),
            n => write!(f, "{n} CPUs"),
        }
    }
}

fn start_ap(id: CpuId, apic: ApicId) -> bool {
    let boot: &'static ApBoot = alloc::boxed::Box::leak(alloc::boxed::Box::new(ApBoot {
        percpu: percpu::allocate(id),
        stacks: gdt::CpuStacks::allocate(AP_STACK_SIZE),
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
