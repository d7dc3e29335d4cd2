//! PCI enumeration checked against QEMU's own view: a machine with a varied
//! set of devices (edu, virtio-blk and virtio-net, e1000, NVMe, a PCI bridge
//! with a device behind it, a multifunction device) boots the `pci` test
//! kernel on q35 (ECAM) and on pc (configuration ports), and every function
//! the kernel lists, with its ids, class and BAR sizes, must be the one
//! `info pci` lists through the monitor, and the other way round.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::collections::BTreeMap;
use std::time::Duration;

use odonata_runner::Chipset;
use odonata_tests::{Exit, boot, log_of};

/// What one function is, by either side's account.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    ids: String,
    class: String,
    /// (BAR index, "io"/"memory", size)
    bars: Vec<(u8, String, u64)>,
}

fn scratch_disk(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("odonata-pci-{}-{name}.img", std::process::id()));
    std::fs::write(&path, vec![0u8; 1 << 20]).expect("scratch image");
    path.display().to_string()
}

fn devices(chipset: Chipset, uefi: bool) -> Vec<String> {
    let (blk, nvme) = (scratch_disk(&format!("{chipset:?}-{uefi}-blk")), scratch_disk(&format!("{chipset:?}-{uefi}-nvme")));
    [
        "-device edu,addr=0x10".to_string(),
        format!("-drive file={blk},format=raw,if=none,id=blk0"),
        "-device virtio-blk-pci,drive=blk0,addr=0x11".into(),
        "-device virtio-net-pci,addr=0x12".into(),
        "-device e1000,addr=0x13".into(),
        format!("-drive file={nvme},format=raw,if=none,id=nvme0"),
        "-device nvme,serial=odonata,drive=nvme0,addr=0x14".into(),
        "-device pci-bridge,chassis_nr=1,id=br1,addr=0x15".into(),
        "-device edu,bus=br1,addr=0x3".into(),
        "-device e1000,addr=0x16.0,multifunction=on".into(),
        "-device e1000,addr=0x16.1".into(),
    ]
    .iter()
    .flat_map(|d| d.splitn(2, ' ').map(str::to_string).collect::<Vec<_>>())
    .collect()
}

/// The kernel's `pci-function` and `pci-bar` lines.
fn kernel_view(serial: &str) -> BTreeMap<String, Seen> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for line in serial.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["pci-function", bdf, ids, "class", class] => {
                let e = seen.entry(bdf.to_string()).or_default();
                e.ids = ids.to_string();
                e.class = class.to_string();
            }
            ["pci-bar", bdf, index, kind, size] => {
                let size = u64::from_str_radix(size.trim_start_matches("0x"), 16).expect("hex size");
                seen.entry(bdf.to_string()).or_default().bars.push((index.parse().expect("index"), kind.to_string(), size));
            }
            _ => {}
        }
    }
    seen
}

/// QEMU's class names (hw/pci/pci.c) as class codes; unknown classes it
/// prints as `Class NNNN`, in decimal.
fn class_code(name: &str) -> Option<String> {
    if let Some(n) = name.strip_prefix("Class ") {
        return n.trim().parse::<u16>().ok().map(|c| format!("{c:04x}"));
    }
    let code = match name {
        "Host bridge" => 0x0600,
        "ISA bridge" => 0x0601,
        "PCI bridge" => 0x0604,
        "VGA controller" => 0x0300,
        "Ethernet controller" => 0x0200,
        "SCSI controller" => 0x0100,
        "IDE controller" => 0x0101,
        "SATA controller" => 0x0106,
        "SMBus" => 0x0c05,
        "Bridge" => 0x0680,
        "USB controller" => 0x0c03,
        _ => return None,
    };
    Some(format!("{code:04x}"))
}

/// QEMU's `info pci`: `Bus b, device d, function f:`, then `NAME: PCI
/// device vvvv:dddd`, then `BARn: ... at START [END].` (BAR6, the ROM, is
/// not a BAR the kernel sizes).
fn qemu_view(monitor: &str) -> BTreeMap<String, Seen> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in monitor.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Bus ") {
            let n: Vec<u32> = rest.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
            let bdf = format!("{:02x}:{:02x}.{}", n[0], n[1], n[2]);
            seen.insert(bdf.clone(), Seen::default());
            current = Some(bdf);
        } else if let (Some(bdf), Some((name, ids))) = (&current, line.split_once(": PCI device ")) {
            let e = seen.get_mut(bdf).unwrap();
            e.ids = ids.to_string();
            e.class = class_code(name).unwrap_or_else(|| panic!("QEMU class name {name:?} is not in the test's table"));
        } else if let (Some(bdf), Some(bar)) = (&current, line.strip_prefix("BAR")) {
            let index: u8 = bar[..1].parse().unwrap();
            if index == 6 {
                continue;
            }
            let kind = if bar.contains("I/O at") { "io" } else { "memory" };
            let at = bar.split(" at ").nth(1).unwrap();
            let start = u64::from_str_radix(at.split_whitespace().next().unwrap().trim_start_matches("0x"), 16).unwrap();
            let end = u64::from_str_radix(at.split('[').nth(1).unwrap().trim_end_matches("].").trim_start_matches("0x"), 16).unwrap();
            seen.get_mut(bdf).unwrap().bars.push((index, kind.to_string(), end.wrapping_sub(start).wrapping_add(1)));
        }
    }
    seen
}

fn matches_qemu(chipset: Chipset, uefi: bool) {
    let args = devices(chipset, uefi);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let b = boot("pci");
    let b = if uefi { b.uefi() } else { b };
    let out =
        b.chipset(chipset).smp(2).qemu_args(&args).monitor_after("pci: listed", &["info pci", "quit"], Duration::from_millis(500)).run();
    for disk in args.iter().filter_map(|a| a.strip_prefix("file=")) {
        let _ = std::fs::remove_file(disk.split(',').next().unwrap());
    }
    // `quit` ends QEMU with status 0 before the kernel reports.
    assert_eq!(out.exit, Exit::NoReport(Some(0)), "{}", log_of(&out));
    for test in ["lists_every_function", "maps_a_memory_bar_and_reads_it"] {
        assert!(out.has_line(&format!("test {test} ... ok")), "{}", log_of(&out));
    }
    let kernel = kernel_view(&out.serial);
    let qemu = qemu_view(&out.monitor);
    assert!(qemu.len() >= 14, "QEMU listed {} functions:\n{}", qemu.len(), out.monitor);
    for (bdf, q) in &qemu {
        let k = kernel.get(bdf).unwrap_or_else(|| panic!("{chipset:?}: QEMU has {bdf} {q:?}, the kernel does not: {}", log_of(&out)));
        assert_eq!(k, q, "{chipset:?}: {bdf} differs (left: kernel, right: QEMU)");
    }
    for bdf in kernel.keys() {
        assert!(qemu.contains_key(bdf), "{chipset:?}: the kernel lists {bdf}, QEMU does not:\n{}", out.monitor);
    }
    assert!(kernel.contains_key("01:03.0"), "{chipset:?}: the device behind the bridge");
    assert!(kernel.contains_key("00:16.1"), "{chipset:?}: function 1 of the multifunction device");
    let bars: usize = kernel.values().map(|s| s.bars.len()).sum();
    println!("{chipset:?} (uefi: {uefi}): {} functions and {bars} BARs, the same as QEMU's", kernel.len());
}

#[test]
fn enumeration_matches_qemu_on_q35() {
    matches_qemu(Chipset::Q35, false);
}

#[test]
fn enumeration_matches_qemu_on_q35_with_uefi() {
    matches_qemu(Chipset::Q35, true);
}

#[test]
fn enumeration_matches_qemu_on_pc() {
    matches_qemu(Chipset::Pc, false);
}

/// edu's MSI on each CPU of a 4-CPU machine, a factorial, DMA both ways;
/// two edu devices driven at once.
#[test]
fn edu_msi_on_every_cpu_and_dma_both_ways() {
    let out = boot("edu").smp(4).qemu_args(&["-device", "edu", "-device", "edu"]).run();
    odonata_tests::assert_passed(
        &out,
        &[
            "msi_arrives_on_each_cpu_in_turn_and_wakes_its_task",
            "the_device_computes_a_factorial",
            "dma_both_ways_moves_every_byte",
            "transfers_out_of_range_are_refused",
            "no_free_vector_is_an_error_the_driver_sees",
            "small_dma_objects_share_pages_and_come_back",
            "two_devices_at_once_each_with_its_own_handler_state",
        ],
    );
    odonata_tests::assert_line_contains(&out, "two edu devices: ");
    for c in 0..4 {
        odonata_tests::assert_line_contains(&out, &format!("edu MSI: cpu{c} took vector 0x"));
    }
    for line in out.lines().filter(|l| l.starts_with("edu ")) {
        println!("{line}");
    }
}

/// MSI-X: e1000e's "other" cause through one table entry, aimed at each of
/// four CPUs in turn; masking holds the message pending.
#[test]
fn msix_entries_reach_the_cpu_they_are_aimed_at() {
    let out = boot("msix").smp(4).qemu_args(&["-nic", "none", "-device", "e1000e,addr=0x10"]).run();
    odonata_tests::assert_passed(
        &out,
        &["an_msix_entry_aimed_at_each_cpu_arrives_there", "a_masked_entry_holds_its_message_until_unmasked"],
    );
    for c in 0..4 {
        odonata_tests::assert_line_contains(&out, &format!("msix: entry 4 -> cpu{c} vector 0x"));
    }
}
