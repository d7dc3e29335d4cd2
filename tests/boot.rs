//! Boot smoke tests: BIOS and UEFI, machine options honoured, exceptions that
//! return, the heap, and the real kernel driven through piped serial input.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{Exit, assert_line_contains, assert_passed, boot, boot_main_kernel, log_of};

const BASIC: [&str; 6] =
    ["boots", "int3_returns", "heap_churn_exceeds_heap_size", "heap_large_and_small_blocks", "growing_vec", "frames_allocate_and_free"];

#[test]
fn bios_boot_int3_and_heap() {
    let out = boot("basic").run();
    assert_passed(&out, &BASIC);
    assert_line_contains(&out, "breakpoint at 0x");
    assert!(out.has_line("test result: ok. 6 passed; 0 failed; 0 skipped"), "{}", log_of(&out));
    // One CPU is counted like any other number, and the build is named.
    assert_line_contains(&out, "kernel::smp: 1 CPU in the MADT (0 disabled)");
    assert_line_contains(&out, "kernel::smp: smp: 1 CPU online");
    assert_line_contains(&out, "booting (release build)");
    assert!(!out.serial.contains("1 CPUs"), "{}", log_of(&out));
}

#[test]
fn uefi_boot_int3_and_heap() {
    let out = boot("basic").uefi().run();
    assert_passed(&out, &BASIC);
}

/// The machine options reach QEMU: 64 MiB of RAM gives the 16 MiB minimum heap.
#[test]
fn small_memory_gets_minimum_heap() {
    let out = boot("basic").mem("64M").smp(2).run();
    assert_passed(&out, &BASIC);
    assert_line_contains(&out, "heap 16 MiB");
    let usable: u64 = out
        .lines()
        .find_map(|l| l.rsplit("memory: ").next()?.split(" MiB usable").next()?.parse().ok())
        .unwrap_or_else(|| panic!("no memory line: {}", log_of(&out)));
    assert!((50..64).contains(&usable), "64M machine reports {usable} MiB usable");
}

/// What `printf ... | cargo run` does: input reaches the kernel's serial
/// port after it is ready, and the kernel's exit code comes back.
#[test]
fn main_kernel_takes_serial_commands() {
    let out = boot_main_kernel().smp(2).input(b"echo hello from the host\nint3\ncpus\npoweroff\n").run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    assert!(out.has_line("hello from the host"), "{}", log_of(&out));
    assert!(out.has_line("returned from int3 (1 so far)"), "{}", log_of(&out));
    assert_line_contains(&out, "cpu1: APIC id 1, ");

    let out = boot_main_kernel().uefi().input(b"echo uefi\nfail\n").run();
    assert_eq!(out.exit, Exit::Failure, "{}", log_of(&out));
    assert!(out.has_line("uefi"), "{}", log_of(&out));
    assert!(out.has_line("odonata shell on 1 CPU; type help"), "{}", log_of(&out));
}

#[test]
fn log_lines_carry_uptime_cpu_and_level() {
    let out = boot("basic").run();
    let line = out.lines().find(|l| l.contains("kernel::boot: Odonata")).unwrap_or_else(|| panic!("no boot banner: {}", log_of(&out)));
    // "[    0.030152] cpu0 INFO  kernel::boot: Odonata 0.1.0 booting"
    let (stamp, rest) = line.split_once("] ").expect("uptime stamp");
    let secs: f64 = stamp.trim_start_matches('[').trim().parse().expect("uptime is a number");
    assert!(secs > 0.0 && secs < 60.0, "uptime {secs}");
    assert!(rest.starts_with("cpu0 INFO "), "cpu id and level in {line:?}");
}
