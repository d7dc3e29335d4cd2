//! Single instructions and CPU identification.

use core::arch::asm;

/// The initial APIC id from CPUID leaf 1 (8 bits; identifies the CPU before
/// its local APIC is set up). For the dense CPU id use `percpu::current_id`.
#[inline]
pub fn initial_apic_id() -> u32 {
    // CPUID leaf 1 is available on every x86_64 processor.
    let leaf = core::arch::x86_64::__cpuid(1);
    leaf.ebx >> 24
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear in ring 0 anyway.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Spin-loop hint.
#[inline]
pub fn pause() {
    core::hint::spin_loop();
}

/// Stops this CPU for good: interrupts off, then `hlt` forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Executes `int3` (a breakpoint exception, vector 3).
pub fn breakpoint() {
    // SAFETY: the IDT's vector-3 handler logs and returns; no state is lost.
    unsafe { asm!("int3", options(nomem, nostack)) };
}

/// Reads CR2, the linear address of the last page fault.
pub fn cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// Executes `int V`: a software interrupt through the IDT entry of vector
/// `V` (32..=255), for measuring bare interrupt entry and return.
pub fn software_interrupt<const V: u8>() {
    const { assert!(V >= 32, "vectors below 32 are CPU exceptions") };
    // SAFETY: every vector's IDT entry is an entry stub that saves all
    // registers, dispatches (a vector without a handler is counted and
    // ignored) and returns with iretq.
    unsafe { asm!("int {v}", v = const V, options(nomem)) };
}

/// Resets the machine: a pulse on the i8042's reset line, then, if that did
/// not take, a triple fault (an empty IDT and an exception).
pub fn reset() -> ! {
    x86_64::instructions::interrupts::disable();
    let mut port = x86_64::instructions::port::Port::<u8>::new(0x64);
    // SAFETY: 0xfe to the i8042's command port pulses the CPU reset line;
    // nothing else is in flight (interrupts are off, the machine is going).
    unsafe { port.write(0xfe) };
    for _ in 0..1_000_000 {
        pause();
    }
    static EMPTY: x86_64::structures::DescriptorTablePointer =
        x86_64::structures::DescriptorTablePointer { limit: 0, base: x86_64::VirtAddr::zero() };
    // SAFETY: loading an empty IDT and raising an exception triple-faults,
    // which resets the machine; that is the intent.
    unsafe {
        x86_64::instructions::tables::lidt(&EMPTY);
        asm!("int3", options(nomem, nostack));
    }
    halt_forever()
}
