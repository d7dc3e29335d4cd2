//! The executor running on every CPU of a booted kernel.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{Exit, assert_line_contains, assert_passed, boot, line_starting_with, log_of, source_line};

#[test]
fn every_cpu_runs_its_executor_and_10000_tasks() {
    let out = boot("exec").smp(4).run();
    assert_passed(
        &out,
        &["spawn_join_and_yield_on_the_boot_cpu", "every_cpu_runs_10000_yielding_tasks", "watchdog_names_a_task_that_does_not_yield"],
    );
    for cpu in 0..4 {
        assert_line_contains(&out, &format!("cpu{cpu} INFO  kernel::exec: cpu{cpu}: executor started"));
    }
    // The in-kernel test asserts the allocation bound; show the numbers.
    println!("{}", line_starting_with(&out, "4 CPUs x 10000 tasks:"));
    assert_line_contains(&out, "watchdog: task ");
    assert!(
        out.lines().any(|l| l.contains("cpu0 WARN") && l.contains("'hog' on cpu0 ran") && l.contains("without yielding")),
        "{}",
        log_of(&out)
    );
}

#[test]
fn a_panicking_driver_task_is_named_and_its_backtrace_symbolized() {
    let out = boot("task_panic").smp(2).run();
    assert_eq!(out.exit, Exit::Failure, "{}", log_of(&out));
    assert!(
        out.lines().any(|l| l.starts_with("!!! PANIC on cpu0 in task ")
            && l.contains("'doomed' at tests/kernels/src/bin/task_panic.rs:")
            && l.ends_with("deliberate panic in a task")),
        "{}",
        log_of(&out)
    );
    // The runner symbolized the trace: the panicking function and its
    // line, then the driver's async fn that called it.
    let line = source_line("tests/kernels/src/bin/task_panic.rs", "panic!(\"deliberate panic in a task\")");
    assert_line_contains(&out, &format!("task_panic::device_status at tests/kernels/src/bin/task_panic.rs:{line}:"));
    assert_line_contains(&out, "doomed_driver");
}
