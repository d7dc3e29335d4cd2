//! Every CPU comes online with a distinct id, runs a function on itself, and
//! IPIs are delivered exactly once; dynamic vectors are allocated per CPU,
//! released when dropped, and dispatched to their own CPU's handler.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::arch::entry::InterruptFrame;
use kernel::arch::idt;
use kernel::arch::vectors::{self, Vector};
use kernel::arch::{ioapic, lapic, percpu, pit};
use kernel::smp::{self, CpuId, MAX_CPUS};
use kernel::{exec, println, run_on, testing, time};

kernel::test_kernel![
    all_cpus_online_with_distinct_ids,
    each_cpu_runs_a_function_on_itself,
    each_cpu_reaches_its_block_through_gs,
    ipi_from_every_cpu_to_every_other_exactly_once,
    ipi_to_a_set_and_to_all_others,
    isa_irq0_reaches_the_chosen_cpu,
    dynamic_vectors_are_per_cpu_and_reach_their_own_handler,
];

fn cpu(n: usize) -> CpuId {
    CpuId::try_new(n).expect("below MAX_CPUS")
}

fn all_cpus_online_with_distinct_ids() {
    let n = smp::online();
    let listed = kernel::acpi::machine().map_or(1, |m| m.cpus.len());
    assert_eq!(n, listed, "every MADT processor came online");
    let mut apic_ids = [u32::MAX; MAX_CPUS];
    for i in 0..n {
        let p = percpu::get(cpu(i)).expect("online CPUs have per-CPU data");
        assert_eq!(p.id(), cpu(i));
        apic_ids[i] = p.apic_id().0;
        assert!(!apic_ids[..i].contains(&apic_ids[i]), "APIC id {} twice", apic_ids[i]);
    }
    println!("cpus online: {n}");
}

fn each_cpu_runs_a_function_on_itself() {
    for i in 0..smp::online() {
        let (reported, apic) = exec::block_on(run_on::run_on(cpu(i), || async { (smp::current().as_u32(), lapic::id().0) }));
        assert_eq!(reported, i as u32);
        assert_eq!(apic, percpu::get(cpu(i)).unwrap().apic_id().0);
        println!("cpu {i} reports id {reported}");
    }
}

/// On every CPU: `gs:[0]` is the block `percpu::get` knows, and the block
/// holds its executor, its stacks, and a trap stack (RSP0, for traps from
/// ring 3) that is none of its other stacks.
fn each_cpu_reaches_its_block_through_gs() {
    for i in 0..smp::online() {
        let (same, executor, stacks, rsp0) = exec::block_on(run_on::run_on(cpu(i), || async {
            let block = percpu::this();
            let same = core::ptr::eq(block, percpu::get(smp::current()).unwrap());
            let stacks = *block.stacks().expect("stacks recorded");
            (same, block.executor().is_some(), stacks, block.tss_ring0_stack())
        }));
        assert!(same, "cpu{i}: gs:[0] is its block");
        assert!(executor, "cpu{i}: its executor is in its block");
        assert_eq!(rsp0, Some(stacks.trap.top()), "cpu{i}: RSP0 is its trap stack's top");
        let others = [stacks.kernel].into_iter().chain(stacks.ist);
        for other in others {
            assert!(stacks.trap.top() <= other.bottom() || stacks.trap.bottom() >= other.top(), "cpu{i}: the trap stack is its own");
        }
    }
    println!("per-CPU blocks: {} reached through GS", smp::online());
}

const TEST_VECTOR: Vector = vectors::test(0);
static RECEIVED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn on_test_ipi(_: Vector, _: &mut InterruptFrame) {
    RECEIVED[smp::current().as_usize()].fetch_add(1, Ordering::Relaxed);
    lapic::eoi();
}

fn vector() -> Vector {
    TEST_VECTOR
}

/// Waits until every CPU's count reaches `expected`, then checks it stays
/// there (no duplicates) for 50 ms.
fn expect_counts(expected: impl Fn(usize) -> u64) {
    let n = smp::online();
    let deadline = time::deadline_after_ms(2000);
    while (0..n).any(|j| RECEIVED[j].load(Ordering::Relaxed) < expected(j)) {
        if time::passed(deadline) {
            let got: [u64; 8] = core::array::from_fn(|j| RECEIVED[j].load(Ordering::Relaxed));
            let want: [u64; 8] = core::array::from_fn(|j| if j < n { expected(j) } else { 0 });
            panic!("IPIs missing after 2 s: received {got:?}, expected {want:?}");
        }
        core::hint::spin_loop();
    }
    time::delay_us(50_000);
    for (j, count) in RECEIVED.iter().enumerate().take(n) {
        assert_eq!(count.load(Ordering::Relaxed), expected(j), "cpu {j}");
    }
}

/// Sends one IPI to `target` and waits (bounded) until it has been handled.
/// Waiting matters: a second fixed IPI on a vector still pending in the
/// target's IRR merges with the first (one bit per vector), so "exactly once"
/// is only observable one delivery at a time.
fn send_and_wait(target: CpuId) -> bool {
    let before = RECEIVED[target.as_usize()].load(Ordering::Relaxed);
    if !smp::send_ipi(target, vector()) {
        return false;
    }
    let deadline = time::deadline_after_ms(1000);
    while RECEIVED[target.as_usize()].load(Ordering::Relaxed) == before {
        if time::passed(deadline) {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

fn ipi_from_every_cpu_to_every_other_exactly_once() {
    idt::set_handler(vector(), on_test_ipi);
    let n = smp::online();
    let before: [u64; MAX_CPUS] = core::array::from_fn(|j| RECEIVED[j].load(Ordering::Relaxed));
    for i in 0..n {
        // Each CPU in turn sends to every other and reports how many landed.
        let delivered = exec::block_on(run_on::run_on(cpu(i), || async {
            let me = smp::current().as_usize();
            (0..smp::online()).filter(|&j| j != me && send_and_wait(cpu(j))).count() as u64
        }));
        assert_eq!(delivered, n as u64 - 1, "cpu {i}'s IPIs all delivered");
    }
    expect_counts(|j| before[j] + (n as u64 - 1));
    println!("all-to-all: {} IPIs, each delivered once", n * (n - 1));
}

fn ipi_to_a_set_and_to_all_others() {
    idt::set_handler(vector(), on_test_ipi);
    let n = smp::online();
    let before: [u64; MAX_CPUS] = core::array::from_fn(|j| RECEIVED[j].load(Ordering::Relaxed));
    // Odd CPUs as a set; wait for them; then everyone but the boot CPU.
    let odd: u64 = (0..n).filter(|j| j % 2 == 1).fold(0, |m, j| m | (1 << j));
    smp::send_ipi_to_set(odd, vector());
    expect_counts(|j| before[j] + u64::from(j % 2 == 1));
    smp::send_ipi_to_others(vector());
    expect_counts(|j| before[j] + u64::from(j % 2 == 1) + u64::from(j != 0));
}

const IRQ_VECTOR: Vector = vectors::test(1);
static IRQS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn on_irq(_: Vector, _: &mut InterruptFrame) {
    IRQS[smp::current().as_usize()].fetch_add(1, Ordering::Relaxed);
    lapic::eoi();
}

/// ISA IRQ 0 (the PIT) goes through the MADT's override (QEMU: GSI 2) and
/// the IOAPIC to a vector on the last CPU, and nowhere else.
fn isa_irq0_reaches_the_chosen_cpu() {
    let n = smp::online();
    let target = cpu(n - 1);
    let route = kernel::acpi::machine().expect("ACPI machine info").isa_route(0);
    let vector = IRQ_VECTOR;
    idt::set_handler(vector, on_irq);
    // Stop any periodic tick first (a long one-shot), then route, then arm.
    pit::oneshot_channel0(u16::MAX);
    let apic = percpu::get(target).unwrap().apic_id();
    ioapic::route(route.gsi, route.polarity, route.trigger, vector, apic).expect("an IOAPIC has this GSI");
    pit::oneshot_channel0(1193); // about 1 ms
    let deadline = time::deadline_after_ms(1000);
    while IRQS[target.as_usize()].load(Ordering::Relaxed) == 0 {
        assert!(!time::passed(deadline), "IRQ 0 did not arrive on {target}");
        core::hint::spin_loop();
    }
    time::delay_us(100_000);
    ioapic::set_masked(route.gsi, true).unwrap();
    for (j, count) in IRQS.iter().enumerate().take(n) {
        let want = u64::from(j == target.as_usize());
        assert_eq!(count.load(Ordering::Relaxed), want, "IRQ count on cpu {j}");
    }
    println!("ISA IRQ 0 -> GSI {} -> cpu {}: delivered once", route.gsi, target.as_u32());
}

static DYNAMIC_HITS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static OTHER_HITS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn on_dynamic(_: Vector, _: &mut InterruptFrame) {
    DYNAMIC_HITS[smp::current().as_usize()].fetch_add(1, Ordering::Relaxed);
    lapic::eoi();
}

fn on_other_dynamic(_: Vector, _: &mut InterruptFrame) {
    OTHER_HITS[smp::current().as_usize()].fetch_add(1, Ordering::Relaxed);
    lapic::eoi();
}

/// Waits (bounded) until `done()`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = time::deadline_after_ms(2000);
    while !done() {
        assert!(!time::passed(deadline), "{what}: not within 2 s");
        core::hint::spin_loop();
    }
}

/// The last CPU's dynamic range is handed out whole, then refused with a
/// clear error; a released vector comes back; the same vector number
/// allocated on two CPUs reaches each CPU's own handler; a released
/// vector's interrupts are counted as unhandled, not sent to the old one.
fn dynamic_vectors_are_per_cpu_and_reach_their_own_handler() {
    let n = smp::online();
    let target = cpu(n - 1);
    let range = usize::from(vectors::DYNAMIC_LAST.as_u8() - vectors::DYNAMIC_FIRST.as_u8()) + 1;
    let mut all = Vec::new();
    let refused = loop {
        match vectors::allocate(target) {
            Ok(a) => all.push(a),
            Err(e) => break e,
        }
    };
    assert_eq!(refused, vectors::Exhausted(target));
    assert_eq!(all.len(), range, "the whole range, once");
    assert!(all.iter().all(|a| a.cpu() == target && (vectors::DYNAMIC_FIRST..=vectors::DYNAMIC_LAST).contains(&a.vector())));
    assert_eq!(vectors::allocated_count(target), range as u32);
    let freed = all.swap_remove(7);
    let v = freed.vector();
    drop(freed);
    let again = vectors::allocate(target).expect("a released vector is free again");
    assert_eq!(again.vector(), v);
    drop(again);
    drop(all);
    assert_eq!(vectors::allocated_count(target), 0, "dropping an allocation releases it");
    if testing::skip_unless_cpus(2) {
        return;
    }
    // The lowest vector of two CPUs: one number, two handlers.
    let here = vectors::allocate(CpuId::BOOT).expect("a free vector on cpu0");
    let there = vectors::allocate(target).expect("a free vector on the last CPU");
    assert_eq!(here.vector(), there.vector());
    here.set_handler(on_other_dynamic);
    there.set_handler(on_dynamic);
    let v = there.vector();
    exec::block_on(run_on::run_on(target, move || async move {
        smp::send_ipi(smp::current(), v);
    }));
    eventually("the last CPU's interrupt", || DYNAMIC_HITS[target.as_usize()].load(Ordering::Relaxed) == 1);
    smp::send_ipi(CpuId::BOOT, v);
    eventually("cpu0's interrupt", || OTHER_HITS[0].load(Ordering::Relaxed) == 1);
    assert_eq!(DYNAMIC_HITS[0].load(Ordering::Relaxed), 0, "cpu0 ran its own handler");
    assert_eq!(OTHER_HITS[target.as_usize()].load(Ordering::Relaxed), 0, "the last CPU ran its own handler");
    drop(there);
    let unhandled = idt::unhandled_count();
    smp::send_ipi(target, v);
    eventually("the released vector's interrupt", || idt::unhandled_count() > unhandled);
    assert_eq!(DYNAMIC_HITS[target.as_usize()].load(Ordering::Relaxed), 1, "the old handler is gone");
    drop(here);
    println!("dynamic vectors: {range} per CPU, {v} on cpu0 and {target} reached their own handlers");
}
