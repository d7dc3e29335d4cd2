//! Serializing tokens and message ports on a booted kernel.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_passed, boot, log_of};

#[test]
fn tokens_in_opposite_orders_on_4_cpus_finish_with_exact_counts() {
    let out = boot("tokens").smp(4).run();
    assert_passed(&out, &["opposite_orders_on_every_cpu_finish_with_exact_counts", "readers_share_and_a_writer_gets_in"]);
    for prefix in ["tokens: 4 CPUs x", "shared: a writer got in"] {
        let line = out.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} line: {}", log_of(&out)));
        println!("{line}");
    }
}
