//! QEMU's edu device through the PCI layer: its MSI aimed at each CPU in
//! turn arrives there and wakes the driver task waiting on it; a factorial
//! computed by the device; DMA both ways through DMA buffers, checked byte
//! for byte; and the errors a driver sees (no vectors left, out of range).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;

use drivers::edu::{self, Edu, EduError};
use kernel::arch::idt;
use kernel::arch::vectors;
use kernel::pci::MsiError;
use kernel::smp::{self, CpuId};
use kernel::{exec, println, run_on};

kernel::test_kernel![
    msi_arrives_on_each_cpu_in_turn_and_wakes_its_task,
    the_device_computes_a_factorial,
    dma_both_ways_moves_every_byte,
    transfers_out_of_range_are_refused,
    no_free_vector_is_an_error_the_driver_sees,
    small_dma_objects_share_pages_and_come_back,
    two_devices_at_once_each_with_its_own_handler_state,
];

fn cpu(n: usize) -> CpuId {
    CpuId::try_new(n).expect("below MAX_CPUS")
}

/// Interrupts `c` has taken on the dynamic (MSI) range.
fn dynamic_interrupts(c: CpuId) -> u64 {
    vectors::all().filter(|v| v.purpose() == vectors::Purpose::Dynamic).map(|v| idt::interrupt_count(c, v)).sum()
}

fn msi_arrives_on_each_cpu_in_turn_and_wakes_its_task() {
    let n = smp::online();
    for c in 0..n {
        let target = cpu(c);
        let before: Vec<u64> = (0..n).map(|j| dynamic_interrupts(cpu(j))).collect();
        let (ran_on, count, vector) = exec::block_on(run_on::run_on(target, move || async move {
            let edu = Edu::open(target).expect("edu opens");
            assert_eq!(edu.irq().cpu(), target);
            edu.raise(0x40).await.expect("the raised interrupt arrives");
            (smp::current(), edu.irq().count(), edu.irq().vector())
        }));
        assert_eq!(ran_on, target, "the driver task ran where its interrupt was aimed");
        assert!(count >= 1, "the binding counted the interrupt");
        for (j, before) in before.iter().enumerate() {
            let taken = dynamic_interrupts(cpu(j)) - before;
            if j == c {
                assert!(taken >= 1, "{target} took vector {vector}");
            } else {
                assert_eq!(taken, 0, "an MSI aimed at {target} landed on cpu{j}");
            }
        }
        println!("edu MSI: {target} took vector {vector} ({count} interrupt(s)), no other CPU did");
    }
}

fn the_device_computes_a_factorial() {
    let n = exec::block_on(async {
        let edu = Edu::open(CpuId::BOOT).expect("edu opens");
        assert_eq!(edu.id() & 0xffff, 0x00ed, "edu identification");
        edu.factorial(10).await
    });
    assert_eq!(n, Ok(3_628_800));
    println!("edu factorial: 10! = {}", n.unwrap());
}

fn dma_both_ways_moves_every_byte() {
    exec::block_on(async {
        let edu = Edu::open(CpuId::BOOT).expect("edu opens");
        let out = edu::dma_buffer(edu::DEVICE_BUFFER_LEN).expect("DMA memory below 256 MiB");
        let back = edu::dma_buffer(edu::DEVICE_BUFFER_LEN).expect("DMA memory below 256 MiB");
        let pattern: Vec<u8> = (0..edu::TRANSFER_END).map(|i| (i * 7 + 3) as u8).collect();
        out.write(0, &pattern);
        edu.to_device(&out, 0, pattern.len()).await.expect("DMA to the device");
        edu.from_device(&back, 0, pattern.len()).await.expect("DMA from the device");
        let mut got = alloc::vec![0u8; pattern.len()];
        back.read(0, &mut got);
        assert_eq!(got, pattern, "the whole usable buffer there and back");
        // A part of it, at an offset in the device's buffer.
        out.write(0, &[0xaa; 100]);
        edu.to_device(&out, 1000, 100).await.expect("DMA to the device at 1000");
        edu.from_device(&back, 950, 200).await.expect("DMA from the device at 950");
        let mut part = [0u8; 200];
        back.read(0, &mut part);
        assert_eq!(&part[..50], &pattern[950..1000]);
        assert_eq!(&part[50..150], &[0xaa; 100][..]);
        assert_eq!(&part[150..], &pattern[1100..1150]);
        println!("edu DMA: {} bytes each way at {:#x} and {:#x}", pattern.len(), out.phys_addr().as_u64(), back.phys_addr().as_u64());
    });
}

fn transfers_out_of_range_are_refused() {
    exec::block_on(async {
        let edu = Edu::open(CpuId::BOOT).expect("edu opens");
        let buf = edu::dma_buffer(64).expect("DMA memory");
        assert_eq!(edu.to_device(&buf, 4090, 10).await, Err(EduError::OutOfRange { offset: 4090, len: 10 }));
        assert_eq!(edu.to_device(&buf, 4032, 64).await, Err(EduError::OutOfRange { offset: 4032, len: 64 }), "the last byte (QEMU 7.2)");
        assert_eq!(edu.from_device(&buf, 0, 65).await, Err(EduError::OutOfRange { offset: 0, len: 65 }));
        let others = edu::open_all(CpuId::BOOT).err();
        assert!(matches!(others, Some(EduError::Claimed(_))), "one driver per device: {others:?}");
        let rest: Vec<Edu> = core::iter::from_fn(|| Edu::open(CpuId::BOOT).ok()).collect();
        assert_eq!(Edu::open(CpuId::BOOT).err(), Some(EduError::Busy), "every device open");
        drop(rest);
    });
}

fn no_free_vector_is_an_error_the_driver_sees() {
    let target = cpu(smp::online() - 1);
    let mut held = Vec::new();
    while let Ok(v) = vectors::allocate(target) {
        held.push(v);
    }
    let err = Edu::open(target).err();
    assert_eq!(err, Some(EduError::Msi(MsiError::Vectors(vectors::Exhausted(target)))));
    println!("no vector: {}", err.unwrap());
    drop(held);
    assert!(Edu::open(target).is_ok(), "the vectors came back");
}

fn small_dma_objects_share_pages_and_come_back() {
    use kernel::memory::dma::{DmaPool, NO_LIMIT};
    let pool = DmaPool::new(64, NO_LIMIT);
    let objects: Vec<_> = (0..100).map(|_| pool.alloc().expect("DMA memory")).collect();
    let mut addresses: Vec<u64> = objects.iter().map(|o| o.phys_addr().as_u64()).collect();
    addresses.sort_unstable();
    addresses.dedup();
    assert_eq!(addresses.len(), 100, "each object its own 64 bytes");
    let pages: Vec<u64> = addresses.iter().map(|a| a & !0xfff).collect::<alloc::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(pages.len(), 2, "64 objects to a page");
    objects[5].write(0, &[1, 2, 3]);
    let mut back = [0u8; 3];
    objects[5].read(0, &mut back);
    assert_eq!(back, [1, 2, 3]);
    let freed = objects[5].phys_addr();
    drop(objects);
    let again = pool.alloc().expect("DMA memory");
    assert!(pages.contains(&(again.phys_addr().as_u64() & !0xfff)), "a freed slot is reused, no new page");
    // Slots 1-5 again: the one written above comes back zeroed.
    let refilled: Vec<_> = (0..5).map(|_| pool.alloc().expect("DMA memory")).collect();
    let slot5 = refilled.iter().find(|o| o.phys_addr() == freed).expect("the freed slot is handed out again");
    let mut zero = [9u8; 3];
    slot5.read(0, &mut zero);
    assert_eq!(zero, [0; 3], "objects come zeroed");
    println!("dma pool: 100 objects of 64 bytes on 2 pages; {:#x} reused", freed.as_u64());
}

/// Two edu devices driven at once, their MSIs aimed at different CPUs: each
/// handler finds its own device through the state it was bound with, and
/// each task gets its own device's answers.
fn two_devices_at_once_each_with_its_own_handler_state() {
    if edu::devices().count() < 2 {
        kernel::testing::skip("needs two edu devices (-device edu -device edu)");
        return;
    }
    let last = cpu(smp::online() - 1);
    let (a, b) = exec::block_on(async move {
        let first = Edu::open(CpuId::BOOT).expect("first edu");
        let second = Edu::open(last).expect("second edu");
        assert_ne!(first.bdf(), second.bdf());
        // Both computations run at once; each waits on its own binding.
        let one = first.factorial(10);
        let two = second.factorial(12);
        let (one, two) = futures_util::future::join(one, two).await;
        assert_eq!((one, two), (Ok(3_628_800), Ok(479_001_600)));
        first.raise(0x10).await.expect("first raises");
        second.raise(0x20).await.expect("second raises");
        println!(
            "two edu devices: {} on {} ({} interrupts) and {} on {} ({} interrupts)",
            first.bdf(),
            first.irq().cpu(),
            first.irq().count(),
            second.bdf(),
            second.irq().cpu(),
            second.irq().count()
        );
        (first.irq().count(), second.irq().count())
    });
    assert!(a >= 2 && b >= 2, "each binding counted its own device's interrupts: {a}, {b}");
}
