//! Address spaces (the `address_space` test kernel): the lower half empty
//! after boot on BIOS and UEFI, program spaces, user copies that survive
//! faults, a TLB shootdown across CPUs, and frames taken and freed on
//! every CPU at once through the per-CPU caches.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_line_contains, assert_passed, assert_skipped, boot};

const ONE_CPU: [&str; 4] = [
    "lower_half_is_empty_after_boot",
    "user_copies_of_bad_addresses_are_errors",
    "a_user_space_maps_copies_protects_and_gives_frames_back",
    "a_space_maps_only_its_own_half",
];
const TWO_CPUS: &str = "unmap_on_one_cpu_faults_on_another";
const FRAMES: &str = "frames_come_and_go_through_every_cpus_cache";

#[test]
fn address_spaces_on_one_cpu() {
    let out = boot("address_space").run();
    assert_passed(&out, &ONE_CPU);
    assert_passed(&out, &[FRAMES]);
    assert_skipped(&out, &[TWO_CPUS]);
    assert_line_contains(&out, "lower half: 0 of 256 top-level entries in use");
}

#[test]
fn address_spaces_and_shootdown_on_two_cpus_bios() {
    let out = boot("address_space").smp(2).run();
    let mut all = ONE_CPU.to_vec();
    all.extend([TWO_CPUS, FRAMES]);
    assert_passed(&out, &all);
    assert_line_contains(&out, "shootdown: cpu 1 read 0x5eed, cpu 0 unmapped, cpu 1 then faulted");
    assert_line_contains(&out, "frames: 2 CPUs took and freed 4000 frames with");
}

/// UEFI's loader leaves other things in the lower half than BIOS's; four
/// CPUs each came through the trampoline's identity mapping.
#[test]
fn lower_half_is_empty_under_uefi_with_four_cpus() {
    let out = boot("address_space").smp(4).uefi().run();
    let mut all = ONE_CPU.to_vec();
    all.extend([TWO_CPUS, FRAMES]);
    assert_passed(&out, &all);
    assert_line_contains(&out, "frames: 4 CPUs took and freed 8000 frames with");
}
