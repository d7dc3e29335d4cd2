//! The harness itself: a panicking test kernel is reported as failed (and the
//! report names the test, the panic message, location and CPU); a hanging one
//! is stopped by the timeout with its serial log.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::time::Duration;

use odonata_tests::{Exit, assert_line_contains, assert_passed, boot, log_of};

#[test]
fn panicking_test_kernel_fails() {
    let out = boot("panics").run();
    assert_eq!(out.exit, Exit::Failure, "{}", log_of(&out));
    assert!(out.has_line("test passes_first ... ok"), "{}", log_of(&out));
    assert!(out.has_line("test then_panics ... FAILED"), "{}", log_of(&out));
    assert_line_contains(&out, "!!! PANIC on cpu0 at tests/kernels/src/bin/panics.rs:");
    assert_line_contains(&out, "deliberate failure");

    // The assertion helpers refuse it, and show the log when they do.
    let refused = std::panic::catch_unwind(|| assert_passed(&out, &["passes_first"]));
    let message = refused.expect_err("assert_passed accepted a failed kernel");
    let text = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("serial log") && text.contains("then_panics ... FAILED"), "{text}");
}

#[test]
fn hanging_test_kernel_times_out_with_its_log() {
    let out = boot("hangs").timeout(Duration::from_secs(20)).run();
    assert_eq!(out.exit, Exit::TimedOut, "{}", log_of(&out));
    assert_line_contains(&out, "about to spin forever");
    assert!(log_of(&out).contains("timed out"));
}
