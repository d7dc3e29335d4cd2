//! virtio-rng: the driver and its entropy service (the `virtio_rng` test
//! kernel), and the shell's `random` on the real kernel.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{Exit, assert_line_contains, assert_passed, boot, boot_main_kernel, log_of};

#[test]
fn the_driver_and_its_service_on_two_cpus() {
    let out = boot("virtio_rng").smp(2).rng().run();
    assert_passed(
        &out,
        &[
            "the_device_is_found",
            "bytes_come_from_the_device_and_look_random",
            "reads_cross_the_chunk_size",
            "the_service_answers_from_every_cpu",
            "one_driver_per_device",
        ],
    );
    assert_line_contains(&out, "entropy service on cpu1: answered every CPU");
    for line in out.lines().filter(|l| l.starts_with("virtio-rng")) {
        println!("{line}");
    }
}

/// On the `pc` machine QEMU offers the transitional id (0x1005): the
/// driver finds it by either.
#[test]
fn the_transitional_device_is_found_on_pc() {
    let out = boot("virtio_rng").chipset(odonata_runner::Chipset::Pc).rng().run();
    assert_passed(&out, &["the_device_is_found", "bytes_come_from_the_device_and_look_random"]);
    assert_line_contains(&out, "(1af4:1005)");
}

#[test]
fn the_shell_prints_random_bytes() {
    let out = boot_main_kernel().smp(2).rng().input(b"random 64\nrandom 0\nrandom x\npoweroff\n").run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    let hex: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "odonata> random 64")
        .skip(1)
        .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .take(2)
        .collect();
    assert_eq!(hex.len(), 2, "two lines of 32 bytes\n{}", log_of(&out));
    assert_ne!(hex[0], hex[1]);
    assert_line_contains(&out, "random: 64 bytes from cpu0");
    assert_line_contains(&out, "usage: random N (1..=4096)");
}

#[test]
fn without_a_device_random_says_how_to_get_one() {
    let out = boot_main_kernel().smp(1).input(b"random 8\npoweroff\n").run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    assert_line_contains(&out, "random: no virtio-rng device (cargo run -- --rng)");
}
