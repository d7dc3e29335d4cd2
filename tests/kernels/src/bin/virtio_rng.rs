//! virtio-rng: the device found by its id, bytes that look random (every
//! byte value about as often as the others, two reads different), reads
//! that cross the driver's chunk size, the entropy service answering from
//! every CPU through its port, and one driver per device.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use drivers::virtio::rng::{self, CHUNK, Entropy, MAX_READ, Rng, RngError};
use drivers::virtio::transport::TransportError;
use kernel::smp::{self, CpuId};
use kernel::{exec, println, run_on};

kernel::test_kernel![
    the_device_is_found,
    bytes_come_from_the_device_and_look_random,
    reads_cross_the_chunk_size,
    the_service_answers_from_every_cpu,
    one_driver_per_device,
];

fn the_device_is_found() {
    let found: Vec<_> = rng::devices().collect();
    assert_eq!(found.len(), 1, "one virtio-rng attached");
    println!("virtio-rng at {} ({:04x}:{:04x})", found[0].bdf(), found[0].header.vendor, found[0].header.device);
}

fn bytes_come_from_the_device_and_look_random() {
    let function = rng::devices().next().expect("a virtio-rng");
    let (a, b, interrupts) = exec::block_on(async move {
        let mut rng = Rng::open(function, CpuId::BOOT).expect("opens");
        let mut a = vec![0u8; 64 * 1024];
        let mut b = vec![0u8; 64];
        rng.fill(&mut a).await.expect("64 KiB");
        rng.fill(&mut b).await.expect("64 bytes");
        (a, b, rng.queue().interrupt().count())
    });
    let mut counts = [0u32; 256];
    for &x in &a {
        counts[usize::from(x)] += 1;
    }
    // 256 expected of each value, standard deviation 16: ten of them either way.
    let (lo, hi) = (counts.iter().min().copied().unwrap(), counts.iter().max().copied().unwrap());
    assert!(lo >= 96 && hi <= 416, "byte values from {lo} to {hi} times in 64 KiB");
    assert_ne!(&a[..64], &b[..], "two reads differ");
    assert!(interrupts >= (64 * 1024 / CHUNK) as u64, "each request was answered by an interrupt: {interrupts}");
    println!("virtio-rng: 64 KiB, each byte value {lo}..={hi} times, {interrupts} interrupts");
}

fn reads_cross_the_chunk_size() {
    let function = rng::devices().next().expect("a virtio-rng");
    let tail = exec::block_on(async move {
        let mut rng = Rng::open(function, CpuId::BOOT).expect("opens");
        let mut buf = vec![0u8; 3 * CHUNK + 17];
        rng.fill(&mut buf).await.expect("fills");
        buf[3 * CHUNK..].to_vec()
    });
    assert!(tail.iter().any(|&x| x != 0), "the last 17 bytes were written too");
}

fn the_service_answers_from_every_cpu() {
    let function = rng::devices().next().expect("a virtio-rng");
    let last = CpuId::try_new(smp::online() - 1).expect("a CPU");
    let entropy = exec::block_on(Entropy::start(function, last)).expect("the service starts");
    assert_eq!(entropy.cpu(), last);
    for n in 0..smp::online() {
        let cpu = CpuId::try_new(n).expect("a CPU");
        let e = entropy.clone();
        let (len, where_) = exec::block_on(run_on::run_on(cpu, move || async move { (e.read(32).await.map(|b| b.len()), smp::current()) }));
        assert_eq!((len, where_), (Ok(32), cpu));
    }
    let big = exec::block_on(async move { entropy.read(MAX_READ + 1).await });
    assert_eq!(big.map(|b| b.len()), Ok(MAX_READ), "a read is capped at MAX_READ");
    println!("entropy service on {last}: answered every CPU");
}

/// While the service holds the device, a second driver is refused; once
/// every handle of the service is gone, its task ends, resets the device and
/// releases it.
fn one_driver_per_device() {
    let function = rng::devices().next().expect("a virtio-rng");
    // The service of the test before ends on its own CPU once its last
    // handle is gone (dropped there): wait, bounded, for its claim to go.
    let deadline = kernel::time::deadline_after_ms(5_000);
    let entropy = loop {
        match exec::block_on(Entropy::start(function, CpuId::BOOT)) {
            Ok(e) => break e,
            Err(RngError::Transport(TransportError::Claimed(_))) if !kernel::time::passed(deadline) => {
                exec::block_on(kernel::time::sleep(core::time::Duration::from_millis(10)));
            }
            Err(e) => panic!("the service did not start within 5 s: {e}"),
        }
    };
    match Rng::open(function, CpuId::BOOT) {
        Err(RngError::Transport(TransportError::Claimed(_))) => {}
        Err(e) => panic!("expected an already-claimed error, got {e}"),
        Ok(_) => panic!("a second driver opened a claimed device"),
    }
    drop(entropy);
    let deadline = kernel::time::deadline_after_ms(5_000);
    loop {
        exec::block_on(kernel::time::sleep(core::time::Duration::from_millis(10)));
        if Rng::open(function, CpuId::BOOT).is_ok() {
            break;
        }
        assert!(!kernel::time::passed(deadline), "the device was not released within 5 s of the service's end");
    }
    println!("virtio-rng: claimed by the service, released when it ended");
}
