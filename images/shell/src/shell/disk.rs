//! `disk`: the virtio-blk disks, their size, and which CPU each queue's
//! interrupt goes to; `disk read LBA [COUNT]` dumps blocks of the first
//! disk in hex and `disk write LBA TEXT` writes a block and flushes
//! (`disk NAME read ...` for another disk); `disk bench` runs the disk
//! benchmark (per-CPU queues; the locked baseline needs the bench kernel).

use alloc::string::String;
use core::fmt::Write as _;

use drivers::virtio::blk::{Disk, disks};
use io::block::BlockDevice;

use super::out::{Out, outln};

/// The most blocks one `disk read` dumps.
const MAX_DUMP: u64 = 16;

pub async fn disk(out: &mut Out, args: &str) {
    let mut words = args.split_whitespace().peekable();
    let mut chosen: Option<&'static Disk> = disks().first().copied();
    if let Some(&w) = words.peek()
        && let Some(d) = disks().iter().find(|d| d.name() == w)
    {
        chosen = Some(*d);
        words.next();
    }
    match words.next() {
        None => list(out).await,
        Some("read") => {
            let Some(d) = chosen else {
                outln!(out, "disk: no disks (cargo run -- --disk FILE)");
                return;
            };
            let lba = words.next().and_then(|w| w.parse::<u64>().ok());
            let count = words.next().map_or(Some(1), |w| w.parse::<u64>().ok());
            match (lba, count) {
                (Some(lba), Some(count)) if (1..=MAX_DUMP).contains(&count) => dump(out, d, lba, count).await,
                _ => outln!(out, "usage: disk [NAME] read LBA [COUNT] (COUNT 1..={MAX_DUMP})"),
            }
        }
        Some("bench") => match chosen {
            Some(d) => {
                let table = bench::disk(d, None).await;
                out.write(&table).await;
            }
            None => outln!(out, "disk: no disks (cargo run -- --disk FILE)"),
        },
        Some("write") => {
            let Some(d) = chosen else {
                outln!(out, "disk: no disks (cargo run -- --disk FILE)");
                return;
            };
            let lba = words.next().and_then(|w| w.parse::<u64>().ok());
            let text: alloc::vec::Vec<&str> = words.collect();
            match lba {
                Some(lba) if !text.is_empty() => {
                    let mut block = alloc::vec![0u8; (&d).block_size() as usize];
                    let text = text.join(" ");
                    let n = text.len().min(block.len());
                    block[..n].copy_from_slice(&text.as_bytes()[..n]);
                    match (&d).write(lba, &block).await {
                        Ok(()) => match (&d).flush().await {
                            Ok(()) => outln!(out, "wrote block {lba} of {}", d.name()),
                            Err(e) => outln!(out, "disk: flush: {e}"),
                        },
                        Err(e) => outln!(out, "disk: {e}"),
                    }
                }
                _ => outln!(out, "usage: disk [NAME] write LBA TEXT"),
            }
        }
        Some(_) => outln!(out, "usage: disk [NAME] [read LBA [COUNT] | write LBA TEXT | bench]"),
    }
}

async fn list(out: &mut Out) {
    if disks().is_empty() {
        outln!(out, "disk: no disks (cargo run -- --disk FILE)");
        return;
    }
    let mut s = String::new();
    for d in disks() {
        let d: &'static Disk = d;
        let _ = writeln!(
            s,
            "{}: {} blocks of {} bytes ({} KiB){}, at {}",
            d.name(),
            (&d).capacity(),
            (&d).block_size(),
            d.bytes() / 1024,
            if (&d).read_only() { ", read-only" } else { "" },
            d.function().bdf()
        );
        for (index, cpu, vector, count) in d.queues() {
            let _ = writeln!(s, "  queue {index}: interrupt {vector} on {cpu}, {count} completions");
        }
        let mounts = process::fs::mount::list();
        let here = mounts.iter().find(|m| m.vol.as_ref().is_some_and(|v| v.name() == d.name()));
        match here.and_then(|m| m.vol.as_ref().map(|v| (m, v))) {
            Some((m, vol)) => {
                let mode = if vol.read_only() { "ro" } else { "rw" };
                let room = match vol.statfs().await {
                    Ok(f) => alloc::format!(
                        "{} of {} KiB free",
                        f.free_blocks * u64::from(f.block_size) / 1024,
                        f.blocks * u64::from(f.block_size) / 1024
                    ),
                    Err(e) => alloc::format!("statfs: {e}"),
                };
                let _ = writeln!(s, "  mounted on {} (ext2, {mode}), served on {}: {room}", m.path, vol.cpu());
            }
            None => {
                let _ = writeln!(s, "  not mounted");
            }
        }
    }
    out.write(&s).await;
}

async fn dump(out: &mut Out, d: &'static Disk, lba: u64, count: u64) {
    let bs = (&d).block_size() as usize;
    let mut buf = alloc::vec![0u8; bs * count as usize];
    if let Err(e) = (&d).read(lba, &mut buf).await {
        outln!(out, "disk: {e}");
        return;
    }
    let mut s = String::new();
    for (row, chunk) in buf.chunks(16).enumerate() {
        let _ = write!(s, "{:08x} ", lba * bs as u64 + row as u64 * 16);
        for b in chunk {
            let _ = write!(s, " {b:02x}");
        }
        s.push_str("  ");
        s.extend(chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }));
        s.push('\n');
    }
    out.write(&s).await;
}
