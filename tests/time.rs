//! Time: sleeps, 10,000 timers on 4 CPUs, timeout, Interval, tickless idle,
//! cross-CPU clock agreement.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_line_contains, assert_passed, boot};

const TESTS: [&str; 7] = [
    "sleeps_never_end_early_and_end_within_slack",
    "passed_deadlines_complete_at_once",
    "ten_thousand_timers_over_every_cpu_fire_exactly_once",
    "timeout_cancels_the_inner_future",
    "interval_ticks_on_schedule",
    "idle_cpus_take_no_timer_interrupts",
    "instants_agree_across_cpus",
];

#[test]
fn timers_on_4_cpus() {
    let out = boot("timers").smp(4).run();
    assert_passed(&out, &TESTS);
    assert_line_contains(&out, "timers: 10000 fired exactly once on 4 CPUs");
    assert_line_contains(&out, "tickless: 3 idle CPUs took 0 timer interrupts in 200 ms");
    assert_line_contains(&out, "timer mode: one-shot");
    for line in out.lines().filter(|l| l.starts_with("sleep:") || l.starts_with("timer mode:")) {
        println!("{line}");
    }
}
