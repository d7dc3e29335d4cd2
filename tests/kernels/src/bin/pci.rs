//! PCI enumeration as the kernel sees it, printed for the host to compare
//! with QEMU's own `info pci`; then memory BARs mapped and read. The last
//! test waits (bounded) while the host reads QEMU's monitor and quits it.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use kernel::pci::bar::Space;
use kernel::pci::{self, BarMapping};
use kernel::{println, time};

kernel::test_kernel![lists_every_function, maps_a_memory_bar_and_reads_it, waits_for_the_host];

/// One line per function and per BAR, in a form the host test parses.
fn lists_every_function() {
    let functions = pci::functions();
    assert!(!functions.is_empty(), "no PCI function found");
    for f in functions {
        let h = &f.header;
        println!("pci-function {} {:04x}:{:04x} class {:02x}{:02x}", h.bdf, h.vendor, h.device, h.class, h.subclass);
        for bar in &f.bars {
            let kind = if bar.space == Space::Io { "io" } else { "memory" };
            println!("pci-bar {} {} {kind} {:#x}", h.bdf, bar.index, bar.size);
        }
        for c in &f.capabilities {
            println!("pci-capability {} {:#x} {}", h.bdf, c.offset, c.kind);
        }
    }
    println!("pci: {} functions through {}", functions.len(), pci::access().expect("enumerated").name());
}

/// QEMU's `edu` device: BAR0's register 0 is its id (0x010000ed, version
/// 1.0), and register 4 inverts what is written to it.
fn maps_a_memory_bar_and_reads_it() {
    let edu = pci::find(0x1234, 0x11e8).expect("the host attached an edu device");
    let edu = pci::claim(edu).expect("nobody else drives the edu device");
    assert!(pci::claim(pci::find(0x1234, 0x11e8).unwrap()).is_err(), "one driver per function");
    let regs = BarMapping::map(&edu, 0, 4096).expect("edu's BAR0 maps");
    assert_eq!(regs.read32(0x00), 0x0100_00ed, "edu identification register");
    regs.write32(0x04, 0x1234_5678);
    assert_eq!(regs.read32(0x04), !0x1234_5678, "edu liveness register inverts");
    assert!(BarMapping::map(&edu, 5, 4096).is_err(), "no BAR5: an error, not a panic");
    let bdf = edu.bdf();
    drop(edu);
    assert!(pci::is_claimed(bdf), "the mapping keeps the device claimed");
    drop(regs);
    assert!(!pci::is_claimed(bdf), "released with the last guard");
    let regs = BarMapping::map(&pci::claim(pci::find(0x1234, 0x11e8).unwrap()).expect("claimed again"), 0, 4096).expect("maps");
    println!("edu: id {:#010x} at {:#x}", regs.read32(0), regs.bar().address);
}

fn waits_for_the_host() {
    println!("pci: listed");
    // The host sends `info pci` and then `quit`; a minute is far more
    // than that takes, and ends the test if it never comes.
    let deadline = time::deadline_after_ms(60_000);
    while !time::passed(deadline) {
        core::hint::spin_loop();
    }
    panic!("the host never quit QEMU");
}
