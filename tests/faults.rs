//! Fatal exceptions are reported precisely: a page fault names the address,
//! and a kernel stack overflow is caught by the guard page (on the double
//! fault's IST stack) instead of triple-faulting.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_line_contains, assert_passed, boot, source_line};

#[test]
fn page_fault_reports_address_and_error_bits() {
    let out = boot("page_fault").run();
    assert_passed(&out, &["unmapped_read_faults"]);
    assert_line_contains(&out, "FATAL on cpu0: page fault (vector 14): read of 0xdeadbeef000, page not present, error code 0x0");
    assert_line_contains(&out, "rip 0xffffffff8");
    // Symbolized by the runner: the faulting function and line.
    let line = source_line("tests/kernels/src/bin/page_fault.rs", "read_volatile(UNMAPPED");
    assert_line_contains(&out, &format!("page_fault::unmapped_read_faults at tests/kernels/src/bin/page_fault.rs:{line}:"));
}

#[test]
fn stack_overflow_hits_guard_page() {
    let out = boot("stack_overflow").run();
    assert_passed(&out, &["recursion_hits_guard_page"]);
    assert_line_contains(&out, "FATAL on cpu0: kernel stack overflow: double fault (vector 8)");
    assert_line_contains(&out, "in a stack guard page");
}
