//! Every CPU QEMU gives the kernel comes online, runs code, and takes IPIs;
//! faults on application processors are reported by the right CPU.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_runner::Chipset;
use odonata_tests::{Exit, assert_line_contains, assert_passed, assert_skipped, boot, log_of};

const SMP_TESTS: [&str; 7] = [
    "all_cpus_online_with_distinct_ids",
    "each_cpu_runs_a_function_on_itself",
    "each_cpu_reaches_its_block_through_gs",
    "ipi_from_every_cpu_to_every_other_exactly_once",
    "ipi_to_a_set_and_to_all_others",
    "isa_irq0_reaches_the_chosen_cpu",
    "dynamic_vectors_are_per_cpu_and_reach_their_own_handler",
];

fn smp_at(n: u32, uefi: bool) {
    let b = boot("smp").smp(n);
    let out = if uefi { b.uefi() } else { b }.run();
    // The two-CPU half of the dynamic-vector test skips itself on one CPU.
    let (two_cpus, rest): (Vec<&str>, Vec<&str>) = SMP_TESTS.iter().partition(|t| t.starts_with("dynamic_vectors"));
    if n == 1 {
        assert_passed(&out, &rest);
        assert_skipped(&out, &two_cpus);
    } else {
        assert_passed(&out, &SMP_TESTS);
        assert_line_contains(&out, &format!("dynamic vectors: 112 per CPU, 0x70 on cpu0 and cpu{} reached their own handlers", n - 1));
    }
    assert!(out.has_line(&format!("cpus online: {n}")), "{}", log_of(&out));
    assert!(out.has_line(&format!("per-CPU blocks: {n} reached through GS")), "{}", log_of(&out));
    for i in 0..n {
        assert!(out.has_line(&format!("cpu {i} reports id {i}")), "{}", log_of(&out));
    }
    assert!(out.has_line(&format!("all-to-all: {} IPIs, each delivered once", n * (n - 1))), "{}", log_of(&out));
    for i in 1..n {
        assert_line_contains(&out, &format!("cpu{i} online: APIC id "));
    }
    // QEMU's MADT overrides ISA IRQ 0 to GSI 2.
    assert!(out.has_line(&format!("ISA IRQ 0 -> GSI 2 -> cpu {}: delivered once", n - 1)), "{}", log_of(&out));
}

/// Without ACPI tables the kernel says so and runs on the boot CPU alone.
#[test]
fn no_acpi_runs_on_the_boot_cpu_alone() {
    // q35 keeps its ACPI tables whatever `acpi=off` says: the i440FX PC.
    let out = boot("basic").chipset(Chipset::Pc).smp(2).qemu_args(&["-machine", "acpi=off"]).run();
    assert_passed(&out, &["boots", "int3_returns"]);
    assert_line_contains(&out, "ACPI: the bootloader found no RSDP; continuing on the boot CPU alone");
}

#[test]
fn smp_1() {
    smp_at(1, false);
}

#[test]
fn smp_2() {
    smp_at(2, false);
}

#[test]
fn smp_3() {
    smp_at(3, false);
}

#[test]
fn smp_4_bios() {
    smp_at(4, false);
}

#[test]
fn smp_4_uefi() {
    smp_at(4, true);
}

#[test]
fn smp_8() {
    smp_at(8, false);
}

#[test]
fn panic_on_an_ap_stops_all_cpus_and_names_it() {
    let out = boot("ap_panic").smp(4).run();
    assert_eq!(out.exit, Exit::Failure, "{}", log_of(&out));
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("!!! PANIC on cpu1 in task ") && l.contains(" 'run_on' at tests/kernels/src/bin/ap_panic.rs:"))
        .unwrap_or_else(|| panic!("no panic report from cpu1: {}", log_of(&out)));
    assert!(lines[at].ends_with("deliberate panic on an AP"), "{}", log_of(&out));
    // Nothing from any other CPU after the report: its backtrace (indented
    // lines), then just the verdict.
    let after: Vec<&str> = lines[at + 1..].iter().copied().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(after, ["test panic_on_cpu1 ... FAILED", "test result: FAILED. panic_on_cpu1 failed"], "{}", log_of(&out));
    assert!(lines[at + 1].contains("backtrace (kernel at"), "{}", log_of(&out));
}

#[test]
fn stack_overflow_on_an_ap_hits_its_guard_page() {
    let out = boot("ap_stack_overflow").smp(4).run();
    assert_passed(&out, &["overflow_on_last_cpu"]);
    // The report names the CPU and the task (the `run_on` that overflowed).
    assert!(
        out.lines()
            .any(|l| l.contains("FATAL on cpu3 in task ") && l.contains(" 'run_on': kernel stack overflow: double fault (vector 8)")),
        "{}",
        log_of(&out)
    );
}
