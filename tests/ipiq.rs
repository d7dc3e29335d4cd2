//! Cross-CPU futures over the IPI queues, at several CPU counts.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_line_contains, assert_passed, assert_skipped, boot, log_of};

const TESTS: [&str; 8] = [
    "every_cpu_spawns_on_every_other_and_joins",
    "run_on_returns_values",
    "remote_wake_resumes_the_right_task_on_the_right_cpu",
    "broadcast_and_barrier",
    "all_to_all_flood_loses_and_duplicates_nothing",
    "streaming_sends_mostly_avoid_the_ipi",
    "passive_send_to_an_idle_cpu_arrives",
    "dropping_run_on_cancels_the_remote_future",
];

fn at(n: u32) {
    let out = boot("ipiq").smp(n).run();
    assert_passed(&out, &TESTS);
    assert!(out.has_line(&format!("spawn_on: {} cross-CPU tasks joined", n * (n - 1))), "{}", log_of(&out));
    assert_line_contains(&out, "remote wake: woken from cpu");
    assert_line_contains(&out, &format!("flood: 1000000 messages on {n} CPUs"));
    for line in out.lines().filter(|l| {
        l.starts_with("flood:") || l.starts_with("streaming:") || l.starts_with("passive to idle:") || l.starts_with("run_on cancel:")
    }) {
        println!("smp {n}: {line}");
    }
}

/// On one CPU the cross-CPU tests say they were skipped; the rest pass.
#[test]
fn ipiq_smp_1_skips_what_needs_two_cpus() {
    let out = boot("ipiq").smp(1).run();
    let (skipped, ran): (Vec<&str>, Vec<&str>) = TESTS.iter().partition(|t| NEED_TWO.contains(t));
    assert_passed(&out, &ran);
    assert_skipped(&out, &skipped);
}

/// The tests of `TESTS` that skip themselves on one CPU.
const NEED_TWO: [&str; 5] = [
    "remote_wake_resumes_the_right_task_on_the_right_cpu",
    "all_to_all_flood_loses_and_duplicates_nothing",
    "streaming_sends_mostly_avoid_the_ipi",
    "passive_send_to_an_idle_cpu_arrives",
    "dropping_run_on_cancels_the_remote_future",
];

#[test]
fn ipiq_smp_2() {
    at(2);
}

#[test]
fn ipiq_smp_4() {
    at(4);
}

#[test]
fn ipiq_smp_8() {
    at(8);
}

#[test]
fn all_to_one_flood_through_rings_of_4_finishes() {
    let out = boot("ipiq_tiny").smp(4).run();
    assert_passed(
        &out,
        &[
            "all_to_one_flood_with_rings_of_4_finishes",
            "a_sender_halts_for_room_while_its_receiver_is_busy",
            "replies_sent_from_handlers_on_full_rings_arrive_once_in_order",
        ],
    );
    assert_line_contains(&out, "all-to-one: 60000 messages through rings of 4");
    assert_line_contains(&out, "busy receiver: 200 messages arrived");
}
