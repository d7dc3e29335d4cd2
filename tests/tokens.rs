//! Serializing tokens and message ports on a booted kernel (-smp 4).

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_passed, boot, line_starting_with};

#[test]
fn tokens_in_opposite_orders_on_4_cpus_finish_with_exact_counts() {
    let out = boot("tokens").smp(4).run();
    assert_passed(&out, &["opposite_orders_on_every_cpu_finish_with_exact_counts", "readers_share_and_a_writer_gets_in"]);
    println!("{}\n{}", line_starting_with(&out, "tokens: 4 CPUs x"), line_starting_with(&out, "shared: a writer got in"));
}

#[test]
fn port_calls_from_every_cpu_are_answered_once_and_aborts_leak_nothing() {
    let out = boot("ports").smp(4).run();
    assert_passed(&out, &["calls_from_every_cpu_to_every_other_are_answered_once", "aborted_calls_leak_nothing_and_get_one_answer"]);
    println!("{}\n{}", line_starting_with(&out, "ports: 4 CPUs x 100000 calls"), line_starting_with(&out, "aborts: "));
}
