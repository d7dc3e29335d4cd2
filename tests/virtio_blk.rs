//! virtio-blk against disk images this test writes and checks afterwards:
//! a 4 MiB (+100 bytes) image whose every sector carries its number and a
//! checksum, read from every CPU and rewritten by the kernel, checked here
//! byte for byte; and a read-only second disk.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_line_contains, assert_passed, boot, log_of};

fn checksum(s: u64) -> u64 {
    s.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x0d15_ea5e
}

fn old_byte(s: u64, i: usize) -> u8 {
    match i {
        0..8 => s.to_le_bytes()[i],
        8..16 => checksum(s).to_le_bytes()[i - 8],
        _ => (s as usize * 31 + i) as u8,
    }
}

fn image(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("odonata-blk-{}-{name}.img", std::process::id()));
    std::fs::write(&path, bytes).expect("disk image");
    path
}

#[test]
fn every_cpu_reads_and_writes_every_sector_through_its_own_queue() {
    let mut disk = Vec::with_capacity(8192 * 512 + 100);
    for s in 0..8192u64 {
        disk.extend((0..512).map(|i| old_byte(s, i)));
    }
    disk.extend([0xee; 100]);
    let data = image("data", &disk);
    let mut ro = vec![0u8; 64 * 1024];
    ro[..8].copy_from_slice(b"readonly");
    let readonly = image("ro", &ro);
    let out = boot("virtio_blk")
        .smp(4)
        .qemu_args(&[
            "-drive",
            &format!("file={},format=raw,if=none,id=vda,cache=writeback", data.display()),
            "-device",
            "virtio-blk-pci,drive=vda,num-queues=4,addr=0x10",
            "-drive",
            &format!("file={},format=raw,if=none,id=vdb,readonly=on", readonly.display()),
            "-device",
            "virtio-blk-pci,drive=vdb,num-queues=2,addr=0x11",
        ])
        .run();
    assert_passed(
        &out,
        &[
            "two_disks_each_queue_on_its_cpu",
            "every_cpu_reads_every_sector_at_once",
            "bad_requests_are_refused_before_the_device",
            "a_read_only_disk_refuses_writes",
            "a_dropped_request_leaves_reused_memory_alone",
            "many_requests_in_flight_fill_the_queue_and_wait_for_room",
            "a_long_request_is_split",
            "every_cpu_writes_its_share_then_flushes",
        ],
    );
    assert_line_contains(&out, "vdb: the disk is read-only");
    for line in out.lines().filter(|l| l.starts_with("vda")) {
        println!("{line}");
    }
    let after = std::fs::read(&data).expect("the image");
    assert_eq!(after.len(), disk.len(), "the image keeps its size");
    for s in 0..8192u64 {
        for i in 0..512usize {
            let at = s as usize * 512 + i;
            assert_eq!(after[at], old_byte(s, i) ^ 0x5a, "sector {s} byte {i} on the image: {}", log_of(&out));
        }
    }
    assert_eq!(&after[8192 * 512..], &[0xee; 100][..], "the partial block past the disk's end is untouched");
    assert_eq!(std::fs::read(&readonly).unwrap(), ro, "the read-only image is unchanged");
    let _ = std::fs::remove_file(data);
    let _ = std::fs::remove_file(readonly);
}

/// Nothing acknowledged is lost: QEMU is killed (SIGKILL) at three
/// different moments of a stream of numbered writes; every write covered by
/// a flush the kernel logged as complete is on the image.
#[test]
fn a_kill_mid_stream_loses_no_flushed_write() {
    // Three spread-out kill points, each moved by a random 0-199 ms
    // (printed, so a failure can be rerun at the same point).
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    for (round, base_ms) in [(0u32, 150u64), (1, 600), (2, 1100)] {
        let delay_ms = base_ms + (seed >> (8 * round)) % 200;
        let data = image(&format!("stream-{round}"), &vec![0u8; 4 << 20]);
        let out = boot("virtio_blk_stream")
            .smp(2)
            .qemu_args(&[
                "-drive",
                &format!("file={},format=raw,if=none,id=vda", data.display()),
                "-device",
                "virtio-blk-pci,drive=vda,addr=0x10",
            ])
            .kill_after("streaming ", std::time::Duration::from_millis(delay_ms))
            .run();
        let flushed: Option<u64> = out.lines().filter_map(|l| l.strip_prefix("flushed through ")).filter_map(|n| n.parse().ok()).last();
        let after = std::fs::read(&data).expect("the image");
        let mut on_image = 0;
        if let Some(last) = flushed {
            for n in 0..=last {
                let s = &after[n as usize * 512..n as usize * 512 + 24];
                assert_eq!(
                    &s[..8],
                    &n.to_le_bytes(),
                    "round {round}: sector {n} (flushed through {last}) is not on the image: {}",
                    log_of(&out)
                );
                assert_eq!(&s[8..16], &(!n).to_le_bytes());
                assert_eq!(&s[16..24], b"odonata!");
                on_image += 1;
            }
        }
        println!("kill after {delay_ms} ms: {on_image} flushed writes, all on the image ({:?})", out.exit);
        let _ = std::fs::remove_file(data);
    }
}
