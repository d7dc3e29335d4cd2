//! ext2 on virtio-blk, against images the host made with `mke2fs -d`: the
//! host's tree reads back byte for byte through the volume's service from
//! every CPU at once; every CPU then writes a tree of its own at once
//! (files of many sizes, renames, removals, links), the volume is synced
//! and unmounted; the host checks the image with `e2fsck -fn` and reads the
//! trees back with `debugfs`. A second disk with a damaged superblock is
//! refused with a message, and the kernel goes on.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::virtio::blk::disks;
use kernel::smp::{self, CpuId};
use kernel::{exec, println, run_on, time};
use process::fs::volume::Mounted;

kernel::test_kernel![
    the_host_tree_reads_back_from_every_cpu,
    a_read_on_the_owner_cpu_and_from_another,
    every_cpu_writes_a_tree_at_once,
    a_damaged_disk_is_refused_with_a_message,
    unmount_writes_everything_back,
];

/// The byte at `i` of the host's file `seed` (the host's test computes the same).
fn pattern(seed: u64, i: u64) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) ^ (i >> 8)) as u8
}

static VOLUME: spin::Once<Arc<Mounted>> = spin::Once::new();

fn volume() -> Arc<Mounted> {
    Arc::clone(VOLUME.call_once(|| {
        let vda = disks()[0];
        exec::block_on(Mounted::mount(vda, CpuId::BOOT, false)).unwrap_or_else(|e| panic!("mount vda: {e}"))
    }))
}

/// Reads every file under `dir` (names `f<seed>-<size>`), checks each;
/// returns (files, bytes).
async fn check_tree(vol: &Mounted, dir: u32, depth: usize) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    for e in vol.list(dir).await.expect("list") {
        if e.name == b"." || e.name == b".." || e.name == b"lost+found" {
            continue;
        }
        let name = String::from_utf8(e.name.clone()).expect("ASCII names");
        let st = vol.stat(e.ino).await.expect("stat");
        if st.mode & 0o170000 == 0o040000 {
            assert!(depth < 10, "the host's tree is not that deep");
            let (f, b) = Box::pin(check_tree(vol, e.ino, depth + 1)).await;
            files += f;
            bytes += b;
            continue;
        }
        let (seed, size) =
            name[1..].split_once('-').map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())).expect("f<seed>-<size>");
        assert_eq!(st.size, size, "{name}'s size");
        let mut at = 0u64;
        while at < size {
            let chunk = vol.read(e.ino, at, 64 * 1024).await.expect("read");
            assert!(!chunk.is_empty(), "{name} ends early at {at}");
            for (k, &b) in chunk.iter().enumerate() {
                let i = at + k as u64;
                assert_eq!(b, pattern(seed, i), "{name} byte {i}");
            }
            at += chunk.len() as u64;
        }
        files += 1;
        bytes += size;
    }
    (files, bytes)
}

fn the_host_tree_reads_back_from_every_cpu() {
    let vol = volume();
    let started = time::Instant::now();
    let results = exec::block_on(run_on::broadcast(move || {
        let vol = Arc::clone(&vol);
        async move {
            let root = 2;
            let (host, _) = vol.lookup(root, b"host").await.expect("the host's tree");
            check_tree(&vol, host, 0).await
        }
    }));
    let took = started.elapsed();
    for (cpu, (files, bytes)) in results.iter().enumerate() {
        println!("cpu{cpu}: {files} files, {bytes} bytes read back");
        assert!(*files >= 40, "every file read");
    }
    let total: u64 = results.iter().map(|r| r.1).sum();
    println!("ext2: {} CPUs read {total} bytes in {took:?}", smp::online());
}

/// 4 KiB reads of a cached file through the volume's port, from its own
/// CPU (queued without an IPI) and from another (a message there and a
/// wake back): the figures the ARCHITECTURE's "Files on disks" quotes.
fn a_read_on_the_owner_cpu_and_from_another() {
    const READS: u32 = 2000;
    let vol = volume();
    let owner = vol.cpu();
    let other = CpuId::try_new((owner.as_usize() + 1) % smp::online()).expect("an online CPU");
    let mut per_read = [0u64; 2];
    for (i, cpu) in [owner, other].into_iter().enumerate() {
        let vol = Arc::clone(&vol);
        per_read[i] = exec::block_on(run_on::run_on(cpu, move || async move {
            let (host, _) = vol.lookup(2, b"host").await.expect("host");
            let first = vol
                .list(host)
                .await
                .expect("list")
                .into_iter()
                .find(|e| e.name.starts_with(b"f") && e.name.ends_with(b"-100000"))
                .expect("a 100 KB file");
            // Warm: its blocks in the cache.
            vol.read(first.ino, 0, 100_000).await.expect("read");
            let started = time::Instant::now();
            for k in 0..READS {
                let got = vol.read(first.ino, u64::from(k % 24) * 4096, 4096).await.expect("read");
                assert_eq!(got.len(), 4096);
            }
            started.elapsed().as_nanos() as u64 / u64::from(READS)
        }));
    }
    println!(
        "ext2: a cached 4 KiB read through the port: {} ns on the volume's CPU ({owner}), {} ns from {other}",
        per_read[0], per_read[1]
    );
}

/// What CPU `cpu` writes: `cpu<N>/f<seed>-<size>` files, some renamed into
/// `cpu<N>/kept/`, some removed, a hard link and a symbolic link.
async fn write_tree(vol: &Mounted, cpu: usize) -> u64 {
    let root = 2;
    let (dir, _) = vol.mkdir(root, format!("cpu{cpu}").as_bytes(), 0o755).await.expect("mkdir");
    let (kept, _) = vol.mkdir(dir, b"kept", 0o755).await.expect("mkdir kept");
    let mut written = 0;
    for k in 0..24u64 {
        let seed = 1000 * (cpu as u64 + 1) + k;
        let size = match k % 6 {
            0 => 0,
            1 => 1,
            2 => 1000 + k * 37,
            3 => 4096,
            4 => 70_000 + k * 1000,
            _ => 300_000 + k * 5000,
        };
        let name = format!("f{seed}-{size}");
        let (ino, _) = vol.create(dir, name.as_bytes(), 0o644).await.expect("create");
        let mut at = 0;
        while at < size {
            let n = (size - at).min(48 * 1024);
            let data: Vec<u8> = (at..at + n).map(|i| pattern(seed, i)).collect();
            assert_eq!(vol.write(ino, at, data).await.expect("write"), n as usize);
            at += n;
        }
        written += size;
        match k % 4 {
            0 => vol.rename(dir, name.as_bytes(), kept, name.as_bytes()).await.expect("rename"),
            1 => {
                let gone = vol.unlink(dir, name.as_bytes()).await.expect("unlink");
                assert!(gone.last);
            }
            _ => {}
        }
    }
    let some = vol.lookup(kept, b"f1000-0").await.ok();
    if let Some((ino, _)) = some {
        vol.link(root, b"hard-link-from-cpu0", ino).await.expect("link");
    }
    vol.symlink(dir, b"to-kept", b"kept").await.expect("symlink");
    written
}

fn every_cpu_writes_a_tree_at_once() {
    let vol = volume();
    let started = time::Instant::now();
    let results = exec::block_on(run_on::broadcast(move || {
        let vol = Arc::clone(&vol);
        async move { write_tree(&vol, smp::current().as_usize()).await }
    }));
    let vol = volume();
    let fs = exec::block_on(async move {
        vol.sync().await.expect("sync");
        vol.statfs().await.expect("statfs")
    });
    let took = started.elapsed();
    let total: u64 = results.iter().sum();
    println!("ext2: {} CPUs wrote {total} bytes and synced in {took:?}; {} of {} blocks free", results.len(), fs.free_blocks, fs.blocks);
}

fn a_damaged_disk_is_refused_with_a_message() {
    let vdb = disks()[1];
    match exec::block_on(Mounted::mount(vdb, CpuId::BOOT, false)) {
        Ok(_) => panic!("vdb's superblock is damaged: the mount must fail"),
        Err(e) => println!("vdb: mount refused: {e}"),
    }
    // The kernel goes on: vda still answers.
    let vol = volume();
    exec::block_on(async move { vol.lookup(2, b"host").await }).expect("vda still serves");
}

fn unmount_writes_everything_back() {
    let vol = volume();
    let after = exec::block_on(async move {
        vol.unmount().await.expect("unmount");
        vol.stat(2).await
    });
    assert!(after.is_err(), "an unmounted volume answers no more");
    println!("ext2: vda unmounted");
}
