//! virtio-blk with a queue per CPU, against disk images the host wrote:
//! every CPU reads the whole first disk at once and checks every sector's
//! number and checksum; then every CPU writes its share of a new pattern
//! and the disk is flushed (the host checks the image afterwards); bad
//! requests are refused before the device sees them; the second disk is
//! read-only; a request dropped mid-flight leaves memory reused at once
//! untouched.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Waker};

use drivers::virtio::blk::{Disk, disks};
use io::block::{BlockDevice, BlockError};
use kernel::smp;
use kernel::{exec, println, run_on, time};

kernel::test_kernel![
    two_disks_each_queue_on_its_cpu,
    every_cpu_reads_every_sector_at_once,
    bad_requests_are_refused_before_the_device,
    a_read_only_disk_refuses_writes,
    a_dropped_request_leaves_reused_memory_alone,
    many_requests_in_flight_fill_the_queue_and_wait_for_room,
    a_long_request_is_split,
    every_cpu_writes_its_share_then_flushes,
];

/// What the host wrote into sector `s` of the first disk, byte `i`.
fn old_byte(s: u64, i: usize) -> u8 {
    match i {
        0..8 => s.to_le_bytes()[i],
        8..16 => checksum(s).to_le_bytes()[i - 8],
        _ => (s as usize * 31 + i) as u8,
    }
}

/// What the kernel writes over it.
fn new_byte(s: u64, i: usize) -> u8 {
    old_byte(s, i) ^ 0x5a
}

fn checksum(s: u64) -> u64 {
    s.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x0d15_ea5e
}

fn disk(n: usize) -> &'static Disk {
    disks().get(n).unwrap_or_else(|| panic!("the host attached disk {n}"))
}

fn two_disks_each_queue_on_its_cpu() {
    assert_eq!(disks().len(), 2, "two virtio-blk disks");
    let d = disk(0);
    let queues: Vec<_> = d.queues().collect();
    assert_eq!(queues.len(), smp::online(), "a queue per CPU");
    for (i, owner, vector, _) in &queues {
        assert_eq!(owner.as_usize(), usize::from(*i), "queue {i} belongs to cpu{i}");
        println!("vda queue {i}: {owner}, vector {vector}");
    }
    // 4 MiB and 100 bytes: QEMU rounds the partial last sector up (it reads
    // as the 100 bytes, then zeros).
    assert_eq!((&d).capacity(), 8193);
    assert_eq!((&d).block_size(), 512);
}

fn every_cpu_reads_every_sector_at_once() {
    let d = disk(0);
    let started = time::Instant::now();
    let checked = exec::block_on(run_on::broadcast(move || async move {
        let sectors = 8192;
        let mut buf = alloc::vec![0u8; 64 * 1024];
        let mut checked = 0u64;
        let mut lba = 0;
        while lba < sectors {
            let n = (sectors - lba).min(128);
            let part = &mut buf[..n as usize * 512];
            (&d).read(lba, part).await.expect("read");
            for (k, sector) in part.chunks(512).enumerate() {
                let s = lba + k as u64;
                for (i, &b) in sector.iter().enumerate() {
                    assert_eq!(b, old_byte(s, i), "sector {s} byte {i}, read on {}", smp::current());
                }
                checked += 1;
            }
            lba += n;
        }
        checked
    }));
    assert!(checked.iter().all(|&c| c == 8192), "{checked:?}");
    let last = exec::block_on(async move {
        let mut b = alloc::vec![0u8; 512];
        (&d).read(8192, &mut b).await.map(|()| b)
    })
    .expect("the partial last sector reads");
    assert!(last[..100].iter().all(|&b| b == 0xee) && last[100..].iter().all(|&b| b == 0), "the partial last sector");
    let completions: Vec<u64> = disk(0).queues().map(|q| q.3).collect();
    assert!(completions.iter().all(|&c| c > 0), "every queue's interrupt fired: {completions:?}");
    println!(
        "vda: {} CPUs each read and checked 8192 sectors in {} ms; interrupts per queue {completions:?}",
        checked.len(),
        started.elapsed().as_millis()
    );
}

fn bad_requests_are_refused_before_the_device() {
    let d = disk(0);
    exec::block_on(async move {
        let mut buf = alloc::vec![0u8; 1024];
        assert_eq!((&d).read(8192, &mut buf).await, Err(BlockError::OutOfRange { lba: 8192, blocks: 2, capacity: 8193 }));
        assert_eq!((&d).read(0, &mut buf[..100]).await, Err(BlockError::BadLength { len: 100, block_size: 512 }));
        assert_eq!((&d).write(u64::MAX, &buf).await, Err(BlockError::OutOfRange { lba: u64::MAX, blocks: 2, capacity: 8193 }));
    });
}

/// The second disk has two queues for four CPUs: CPUs 2 and 3 send their
/// requests to the owners of queues 0 and 1 by message.
fn a_read_only_disk_refuses_writes() {
    let d = disk(1);
    assert!((&d).read_only());
    assert_eq!(d.queues().count(), 2.min(smp::online()));
    let before = d.forwarded();
    let firsts = exec::block_on(run_on::broadcast(move || async move {
        let mut b = alloc::vec![0u8; 512];
        (&d).read(0, &mut b).await.map(|()| (smp::current(), b[0]))
    }));
    for r in &firsts {
        let (cpu, byte) = r.as_ref().expect("every CPU reads the two-queue disk");
        assert_eq!(*byte, b'r', "read on {cpu}");
    }
    let forwarded = d.forwarded() - before;
    assert_eq!(forwarded, smp::online().saturating_sub(2) as u64, "the CPUs without a queue forwarded theirs");
    println!("vdb: {} CPUs read through {} queues, {forwarded} requests forwarded by message", firsts.len(), d.queues().count());
    exec::block_on(async move {
        let mut buf = alloc::vec![0u8; 512];
        (&d).read(0, &mut buf).await.expect("a read-only disk still reads");
        assert_eq!(&buf[..8], b"readonly");
        let err = (&d).write(0, &buf).await;
        assert_eq!(err, Err(BlockError::ReadOnly));
        println!("vdb: {}", err.unwrap_err());
    });
}

fn a_dropped_request_leaves_reused_memory_alone() {
    let d = disk(0);
    exec::block_on(async move {
        for round in 0..20 {
            let mut buf = alloc::vec![0u8; 64 * 1024];
            {
                let mut read = pin!((&d).read(0, &mut buf));
                // One poll: the request is in the device's hands; then drop it.
                let mut cx = Context::from_waker(Waker::noop());
                let _ = read.as_mut().poll(&mut cx);
            }
            // Memory reused at once, by the heap and by new DMA buffers.
            let fresh: Vec<Vec<u8>> = (0..8).map(|k| alloc::vec![k as u8 ^ 0xc3; 64 * 1024]).collect();
            let dma: Vec<_> = (0..4).map(|_| kernel::memory::dma::DmaBuffer::new(64 * 1024, u64::MAX).expect("DMA memory")).collect();
            for b in &dma {
                b.write(0, &[0x77; 64 * 1024]);
            }
            // Let the device finish the abandoned read.
            time::sleep(core::time::Duration::from_millis(20)).await;
            for (k, v) in fresh.iter().enumerate() {
                assert!(
                    v.iter().all(|&b| b == k as u8 ^ 0xc3),
                    "round {round}: heap memory reused after a dropped request was overwritten"
                );
            }
            for b in &dma {
                let mut back = alloc::vec![0u8; 64 * 1024];
                b.read(0, &mut back);
                assert!(back.iter().all(|&x| x == 0x77), "round {round}: a new DMA buffer was overwritten");
            }
        }
    });
    // The disk still answers, right.
    let buf = exec::block_on(async move {
        let mut buf = alloc::vec![0u8; 512];
        (&d).read(3, &mut buf).await.map(|()| buf)
    })
    .expect("read after the drops");
    assert_eq!(buf[0], 3);
}

/// 300 reads at once on one CPU: more than its queue holds (256
/// descriptors, three a request), so some wait for room; each gets its own
/// sector back, whatever order the device finished them in.
fn many_requests_in_flight_fill_the_queue_and_wait_for_room() {
    let d = disk(0);
    let handles: Vec<_> = (0..300u64)
        .map(|k| {
            exec::spawn(async move {
                let lba = (k * 37) % 8192;
                let mut b = alloc::vec![0u8; 512];
                (&d).read(lba, &mut b).await.map(|()| (lba, b))
            })
        })
        .collect();
    let results = exec::block_on(async move {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("joined"));
        }
        out
    });
    for r in results {
        let (lba, b) = r.expect("read");
        assert!(b.iter().enumerate().all(|(i, &x)| x == old_byte(lba, i)), "sector {lba}");
    }
    println!("vda: 300 concurrent reads on one CPU, each its own sector");
}

/// 200 KiB in one call: split into pieces the device takes, reassembled.
fn a_long_request_is_split() {
    let d = disk(0);
    let b = exec::block_on(async move {
        let mut b = alloc::vec![0u8; 400 * 512];
        (&d).read(1000, &mut b).await.map(|()| b)
    })
    .expect("read");
    for (k, sector) in b.chunks(512).enumerate() {
        let s = 1000 + k as u64;
        assert!(sector.iter().enumerate().all(|(i, &x)| x == old_byte(s, i)), "sector {s} of a split read");
    }
}

fn every_cpu_writes_its_share_then_flushes() {
    let d = disk(0);
    let n = smp::online() as u64;
    exec::block_on(run_on::broadcast(move || async move {
        let me = smp::current().as_usize() as u64;
        let mut buf = alloc::vec![0u8; 64 * 1024];
        // Stripes of 128 sectors, dealt round the CPUs.
        let mut stripe = me;
        while stripe * 128 < 8192 {
            let lba = stripe * 128;
            for (k, sector) in buf.chunks_mut(512).enumerate() {
                for (i, b) in sector.iter_mut().enumerate() {
                    *b = new_byte(lba + k as u64, i);
                }
            }
            (&d).write(lba, &buf).await.expect("write");
            stripe += n;
        }
    }));
    exec::block_on(async move { (&d).flush().await }).expect("flush");
    // Read one stripe back from another CPU.
    let mut buf = alloc::vec![0u8; 512];
    let last = smp::online() - 1;
    let back = exec::block_on(run_on::run_on(kernel::smp::CpuId::try_new(last).unwrap(), move || async move {
        let mut b = alloc::vec![0u8; 512];
        (&d).read(200, &mut b).await.map(|()| b)
    }));
    buf.copy_from_slice(&back.expect("read back"));
    assert_eq!(buf[0], new_byte(200, 0));
    println!("vda: new pattern written from {n} CPUs and flushed");
}
