//! MSI-X with QEMU's e1000e, whose interrupt cause set register (ICS) makes
//! it interrupt when software asks: its "other" cause, routed by IVAR to
//! one MSI-X table entry, is aimed at each CPU in turn and arrives there
//! and nowhere else; a masked entry delivers nothing (its pending bit is
//! set) until it is unmasked.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use kernel::arch::idt;
use kernel::pci::{self, BarMapping, Handler, MsiXTable};
use kernel::smp::{self, CpuId};
use kernel::{exec, println, run_on, time};

kernel::test_kernel![an_msix_entry_aimed_at_each_cpu_arrives_there, a_masked_entry_holds_its_message_until_unmasked];

/// e1000e registers (Intel 82574 datasheet, section 10).
const ICR: u64 = 0x00c0;
const ICS: u64 = 0x00c8;
const IMS: u64 = 0x00d0;
const IMC: u64 = 0x00d8;
const IVAR: u64 = 0x00e4;
/// ICR/ICS/IMS bit: link status change, one of the "other" causes.
const CAUSE_LSC: u32 = 1 << 2;
/// ICR/IMS bit: "other" (MSI-X mode).
const CAUSE_OTHER: u32 = 1 << 24;
/// The MSI-X entry the "other" cause is routed to.
const ENTRY: u16 = 4;

/// BAR0's mapping, for the handler (one device, one test at a time).
static REGS: AtomicU64 = AtomicU64::new(0);

fn on_interrupt(regs: &AtomicU64) {
    let base = regs.load(Ordering::Acquire);
    if base != 0 {
        // SAFETY: `REGS` holds BAR0's mapping while a test runs; ICR is in
        // its first page. Writing ones clears the causes: acknowledged.
        unsafe { core::ptr::write_volatile((base + ICR) as *mut u32, u32::MAX) };
    }
}

struct Nic {
    regs: BarMapping,
    table: alloc::sync::Arc<MsiXTable>,
}

fn nic() -> Nic {
    let function = pci::find(0x8086, 0x10d3).expect("the host attached an e1000e");
    let device = pci::claim(function).expect("nobody else drives the e1000e");
    let regs = BarMapping::map(&device, 0, 0x1000).expect("e1000e BAR0 maps");
    REGS.store(regs.virt_base(), Ordering::Release);
    let table = MsiXTable::open(&device).expect("e1000e has MSI-X");
    assert!(table.len() > ENTRY, "e1000e has {} MSI-X entries", table.len());
    // "Other" causes go to entry ENTRY (valid bit 3, entry in bits 0-2).
    regs.write32(IVAR, (0x8 | u32::from(ENTRY)) << 16);
    regs.write32(IMC, u32::MAX);
    regs.write32(ICR, u32::MAX);
    regs.write32(IMS, CAUSE_OTHER | CAUSE_LSC);
    Nic { regs, table }
}

fn cpu(n: usize) -> CpuId {
    CpuId::try_new(n).expect("below MAX_CPUS")
}

fn an_msix_entry_aimed_at_each_cpu_arrives_there() {
    let nic = nic();
    let n = smp::online();
    for c in 0..n {
        let target = cpu(c);
        let irq = nic.table.bind(ENTRY, target, Handler::new(&REGS, on_interrupt)).expect("a vector on the target CPU");
        // `pci -v`'s view: the entry names the target's APIC id and the vector.
        let routes = pci::msix_routes(nic.table.function().bdf()).expect("the table is open");
        let route = routes.iter().find(|r| r.entry == ENTRY).expect("entry 4 is programmed");
        let apic = kernel::arch::percpu::get(target).expect("online").apic_id().0;
        assert_eq!((route.apic_id, route.vector, route.masked), (apic, irq.vector().as_u8(), false));
        let before: Vec<u64> = (0..n).map(|j| idt::interrupt_count(cpu(j), irq.vector())).collect();
        let counted = irq.count();
        nic.regs.write32(ICS, CAUSE_LSC);
        let deadline = time::deadline_after_ms(10_000);
        while irq.count() == counted {
            assert!(!time::passed(deadline), "the MSI-X interrupt aimed at {target} did not arrive within 10 s");
            core::hint::spin_loop();
        }
        for (j, before) in before.iter().enumerate() {
            let taken = idt::interrupt_count(cpu(j), irq.vector()) - before;
            assert_eq!(taken > 0, j == c, "vector {} on cpu{j}: {taken} interrupts, aimed at {target}", irq.vector());
        }
        // And the task on that CPU is woken by it.
        let vector = irq.vector();
        let irq = alloc::sync::Arc::new(irq);
        let waiter = alloc::sync::Arc::clone(&irq);
        let woken_on = exec::block_on(run_on::run_on(target, move || async move {
            waiter.wait().await;
            smp::current()
        }));
        assert_eq!(woken_on, target);
        println!("msix: entry {ENTRY} -> {target} vector {vector}, delivered there only");
    }
    REGS.store(0, Ordering::Release);
}

fn a_masked_entry_holds_its_message_until_unmasked() {
    let nic = nic();
    let irq = nic.table.bind(ENTRY, CpuId::BOOT, Handler::new(&REGS, on_interrupt)).expect("a vector on cpu0");
    assert!(irq.set_masked(true));
    let before = irq.count();
    nic.regs.write32(ICS, CAUSE_LSC);
    exec::block_on(time::sleep(Duration::from_millis(100)));
    assert_eq!(irq.count(), before, "a masked entry delivered an interrupt");
    assert_eq!(irq.pending(), Some(true), "the masked message is pending");
    assert!(irq.set_masked(false));
    let deadline = time::deadline_after_ms(10_000);
    while irq.count() == before {
        assert!(!time::passed(deadline), "unmasking did not deliver the pending message within 10 s");
        core::hint::spin_loop();
    }
    assert_eq!(irq.pending(), Some(false));
    println!("msix: masked entry held its message 100 ms, delivered on unmask");
    REGS.store(0, Ordering::Release);
}
