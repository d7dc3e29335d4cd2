//! The local APIC of the running CPU: x2APIC (MSRs) when CPUID offers it,
//! xAPIC (uncached MMIO) otherwise, behind one interface.
//!
//! Before [`init_global`] (or on a machine without ACPI, where it never runs)
//! register accesses do nothing and IPIs report failure.
//!
//! Register numbers are the xAPIC MMIO offsets; in x2APIC mode register `r`
//! is MSR `0x800 + r / 16`, and the ICR is one 64-bit MSR instead of two
//! 32-bit registers.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

use super::cpu;
use super::vectors::{self, Vector};

/// A local APIC id (as the hardware and the MADT number CPUs; not dense).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApicId(pub u32);

const REG_ID: u32 = 0x20;
const REG_TPR: u32 = 0x80;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_ICR_LOW: u32 = 0x300;
const REG_ICR_HIGH: u32 = 0x310;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_LINT0: u32 = 0x350;
const REG_LVT_LINT1: u32 = 0x360;
const REG_LVT_ERROR: u32 = 0x370;
const REG_TIMER_INITIAL: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3e0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;

const LVT_TIMER_TSC_DEADLINE: u32 = 0b10 << 17;
/// Divide configuration 0b0011: the timer counts at the bus clock / 16.
const TIMER_DIVIDE_BY_16: u32 = 0b0011;

const IA32_APIC_BASE: u32 = 0x1b;
const IA32_TSC_DEADLINE: u32 = 0x6e0;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const X2APIC_MSR_BASE: u32 = 0x800;

const MODE_UNSET: u8 = 0;
const MODE_XAPIC: u8 = 1;
const MODE_X2APIC: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);

/// How an IPI is delivered.
#[derive(Clone, Copy, Debug)]
pub enum Delivery {
    /// An interrupt on `vector`.
    Fixed(Vector),
    /// A non-maskable interrupt.
    Nmi,
    /// INIT (resets the target into wait-for-SIPI).
    Init,
    /// Startup: the target starts in real mode at `page * 4096`.
    Startup(u8),
}

/// Who receives an IPI.
#[derive(Clone, Copy, Debug)]
pub enum Destination {
    /// One CPU.
    Apic(ApicId),
    /// Every CPU but the sender.
    AllButSelf,
}

/// Whether CPUID reports x2APIC support.
fn has_x2apic() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 21) != 0
}

/// Chooses the mode (once, on the boot CPU) and maps the xAPIC registers if
/// needed. `phys_base` is the MADT's local APIC address.
pub fn init_global(phys_base: u64) -> &'static str {
    if has_x2apic() {
        MODE.store(MODE_X2APIC, Ordering::Release);
        "x2APIC"
    } else {
        // SAFETY: the MADT names this page as the local APIC's registers.
        let virt = unsafe { crate::memory::mmio::map(phys_base, 4096) };
        XAPIC_BASE.store(virt.as_u64(), Ordering::Release);
        MODE.store(MODE_XAPIC, Ordering::Release);
        "xAPIC"
    }
}

/// Whether [`init_global`] has run (IPIs can be sent).
pub fn is_ready() -> bool {
    MODE.load(Ordering::Acquire) != MODE_UNSET
}

fn read(reg: u32) -> u32 {
    match MODE.load(Ordering::Acquire) {
        MODE_UNSET => 0,
        // SAFETY: x2APIC mode is enabled on this CPU (init_this_cpu) and
        // reading an x2APIC register MSR has no side effects.
        MODE_X2APIC => unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).read() as u32 },
        _ => {
            let base = XAPIC_BASE.load(Ordering::Acquire);
            // SAFETY: `base` maps the 4 KiB xAPIC register page uncached and
            // `reg` is a register offset inside it, 16-byte aligned.
            unsafe { core::ptr::read_volatile((base + u64::from(reg)) as *const u32) }
        }
    }
}

fn write(reg: u32, value: u32) {
    match MODE.load(Ordering::Acquire) {
        MODE_UNSET => {}
        // SAFETY: as in `read`; the callers write architecturally valid values.
        MODE_X2APIC => unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).write(u64::from(value)) },
        _ => {
            let base = XAPIC_BASE.load(Ordering::Acquire);
            // SAFETY: as in `read`.
            unsafe { core::ptr::write_volatile((base + u64::from(reg)) as *mut u32, value) }
        }
    }
}

/// Enables this CPU's local APIC: x2APIC mode if chosen, spurious vector,
/// all local interrupt sources masked, task priority 0.
pub fn init_this_cpu() {
    let mut base = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; we only set the
    // enable bits (EXTD only when CPUID reports x2APIC).
    unsafe {
        let mut value = base.read() | APIC_BASE_ENABLE;
        if MODE.load(Ordering::Acquire) == MODE_X2APIC {
            value |= APIC_BASE_X2APIC;
        }
        base.write(value);
    }
    for lvt in [REG_LVT_TIMER, REG_LVT_LINT0, REG_LVT_LINT1, REG_LVT_ERROR] {
        write(lvt, LVT_MASKED);
    }
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | u32::from(vectors::SPURIOUS.as_u8()));
}

/// Wires this CPU's LINT0 or LINT1 pin to deliver an NMI (what the MADT
/// says it is connected to; `init_this_cpu` leaves both masked).
pub fn set_nmi_line(lint: u8, active_low: bool) {
    const DELIVERY_NMI: u32 = 0b100 << 8;
    const ACTIVE_LOW: u32 = 1 << 13;
    let register = if lint == 0 { REG_LVT_LINT0 } else { REG_LVT_LINT1 };
    write(register, DELIVERY_NMI | if active_low { ACTIVE_LOW } else { 0 });
}

/// This CPU's APIC id.
pub fn id() -> ApicId {
    match MODE.load(Ordering::Acquire) {
        MODE_X2APIC => ApicId(read(REG_ID)),
        MODE_XAPIC => ApicId(read(REG_ID) >> 24),
        _ => ApicId(cpu::initial_apic_id()),
    }
}

/// Signals end of interrupt (not for the spurious vector).
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Sends an IPI. Returns `false` if there is no local APIC set up (no
/// ACPI) or an xAPIC never reported delivery.
pub fn send_ipi(dest: Destination, delivery: Delivery) -> bool {
    if !is_ready() {
        return false;
    }
    let (vector, mode, level) = match delivery {
        Delivery::Fixed(v) => (v.as_u8(), 0b000, ICR_LEVEL_ASSERT),
        Delivery::Nmi => (0, 0b100, ICR_LEVEL_ASSERT),
        Delivery::Init => (0, 0b101, ICR_LEVEL_ASSERT),
        Delivery::Startup(page) => (page, 0b110, ICR_LEVEL_ASSERT),
    };
    let (shorthand, target) = match dest {
        Destination::Apic(id) => (0b00, id.0),
        Destination::AllButSelf => (0b11, 0),
    };
    let low = u32::from(vector) | (mode << 8) | level | (shorthand << 18);
    match MODE.load(Ordering::Acquire) {
        MODE_X2APIC => {
            let mut icr = Msr::new(X2APIC_MSR_BASE + REG_ICR_LOW / 16);
            // SAFETY: writing the x2APIC ICR sends the IPI described; the
            // fields are built from the enums above.
            unsafe { icr.write((u64::from(target) << 32) | u64::from(low)) };
            true
        }
        _ => {
            // The xAPIC ICR is two registers and the write to the low one
            // sends. An interrupt handler may send an IPI too (a device
            // handler waking a task on another CPU signals it), and one
            // taken between these two writes would leave its own target in
            // ICR_HIGH: our IPI would go to the wrong CPU and a halted
            // receiver would never wake. So both writes happen with
            // interrupts off (x2APIC's single MSR write needs no such care).
            // ICR_HIGH keeps what was written: each CPU remembers it and
            // writes it only when the target changes (under emulation each
            // register access is a trap to the hypervisor).
            x86_64::instructions::interrupts::without_interrupts(|| {
                let high = target << 24;
                let held = &super::percpu::this().icr_high;
                if held.load(Ordering::Relaxed) != high {
                    write(REG_ICR_HIGH, high);
                    held.store(high, Ordering::Relaxed);
                }
                write(REG_ICR_LOW, low);
            });
            // Bounded: a healthy APIC accepts the IPI within microseconds.
            (0..1_000_000).any(|_| {
                let done = read(REG_ICR_LOW) & ICR_DELIVERY_PENDING == 0;
                if !done {
                    cpu::pause();
                }
                done
            })
        }
    }
}

// ---- the local timer ----

/// How this CPU's local timer is programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    /// TSC-deadline: the timer fires when the TSC reaches a value.
    TscDeadline,
    /// One-shot: the timer counts down from an initial count at bus / 16.
    OneShot,
}

/// Whether CPUID reports the TSC-deadline timer.
pub fn has_tsc_deadline() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 24) != 0
}

/// Sets up this CPU's timer in `mode` on `vector`, stopped.
pub fn timer_init(mode: TimerMode, vector: Vector) {
    let vector = vector.as_u8();
    match mode {
        TimerMode::TscDeadline => write(REG_LVT_TIMER, LVT_TIMER_TSC_DEADLINE | u32::from(vector)),
        TimerMode::OneShot => {
            write(REG_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
            write(REG_LVT_TIMER, u32::from(vector));
        }
    }
    timer_stop(mode);
}

/// Arms the TSC-deadline timer for TSC value `deadline` (a value already
/// passed fires at once, once).
pub fn timer_arm_deadline(deadline: u64) {
    // SAFETY: IA32_TSC_DEADLINE exists when CPUID.01H:ECX[24] is set, which
    // the caller checked (TimerMode::TscDeadline); writing it only arms the
    // timer interrupt configured in the LVT.
    unsafe { Msr::new(IA32_TSC_DEADLINE).write(deadline.max(1)) };
}

/// Arms the one-shot timer to fire after `count` ticks of bus / 16.
pub fn timer_arm_count(count: u32) {
    write(REG_TIMER_INITIAL, count.max(1));
}

/// Stops the timer (no interrupt until it is armed again).
pub fn timer_stop(mode: TimerMode) {
    match mode {
        // SAFETY: as in `timer_arm_deadline`; 0 disarms.
        TimerMode::TscDeadline => unsafe { Msr::new(IA32_TSC_DEADLINE).write(0) },
        TimerMode::OneShot => write(REG_TIMER_INITIAL, 0),
    }
}

/// Measures the one-shot timer's rate: ticks (bus / 16) counted while
/// `wait` runs. Leaves the timer stopped.
pub fn timer_measure(wait: impl FnOnce()) -> u32 {
    write(REG_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_INITIAL, u32::MAX);
    wait();
    let left = read(REG_TIMER_CURRENT);
    write(REG_TIMER_INITIAL, 0);
    u32::MAX - left
}
