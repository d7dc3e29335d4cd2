//! The per-CPU heap in the kernel: churn on every CPU with remote frees,
//! misuse reported and refused, out of memory and an allocation in an
//! interrupt handler fatal, each report naming CPU, task and class.

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_tests::{assert_line_contains, assert_passed, boot, line_starting_with, log_of};

#[test]
fn every_cpu_churns_a_million_blocks_and_the_heap_returns_to_its_start() {
    let out = boot("heap").smp(4).run();
    assert_passed(
        &out,
        &[
            "every_cpu_churns_a_million_blocks_a_quarter_freed_elsewhere",
            "a_remote_free_wakes_its_idle_owner",
            "a_cpu_that_frees_remotely_sends_the_block_before_it_halts",
        ],
    );
    for line in ["heap churn:", "remote free to a halted cpu1:", "remote free from cpu1 before it halts:"] {
        println!("{}", line_starting_with(&out, line));
    }
    assert!(!out.lines().any(|l| l.contains("!!! heap:")), "{}", log_of(&out));
}

#[test]
fn misuse_is_reported_and_refused_and_an_allocation_in_a_handler_is_fatal() {
    let out = boot("heap_misuse").smp(2).run();
    for name in [
        "a_double_free_is_reported_and_refused",
        "frees_of_pointers_never_handed_out_are_reported",
        "a_free_with_the_wrong_layout_is_reported_and_the_block_kept",
        "a_double_free_on_another_cpu_is_caught_there",
    ] {
        assert_line_contains(&out, &format!("test {name} ... ok"));
    }
    for report in [
        "!!! heap: double free: 0xffffff",
        "(freed as 48 bytes, align 8; in a slab of 48-byte blocks) on cpu0",
        "!!! heap: free of a pointer outside the heap: 0xfffffe8",
        "!!! heap: free of a pointer the heap never handed out: 0xffffff",
        "(freed as 256 bytes, align 1; in a slab of 256-byte blocks) on cpu0",
        "!!! heap: free with a layout that does not match the block: 0xffffff",
        "(freed as 40 bytes, align 1; in a slab of 1024-byte blocks) on cpu0",
        "(freed as 32 bytes, align 8; in a slab of 32-byte blocks) on cpu1 in task",
        // The reports carry a symbolized backtrace: the allocator's frame
        // (`free`, or `dealloc` where the release build's LTO inlined it).
        "<kernel::heap::Machine, slaballoc::page::TalcBacking> at pure/slaballoc/src/heap.rs",
        "free at tests/kernels/src/bin/heap_misuse.rs:",
    ] {
        assert_line_contains(&out, report);
    }
    let panic = line_starting_with(&out, "!!! PANIC on cpu0");
    assert!(panic.ends_with("heap: allocation in the interrupt handler for vector 0xe7 (asked for 8 bytes, align 8) on cpu0"), "{panic}");
    assert_line_contains(&out, "test an_allocation_in_an_interrupt_handler_is_fatal ... FAILED");
}

#[test]
fn out_of_memory_is_fatal_and_says_what_was_asked_where_and_how_full_the_heap_was() {
    let out = boot("heap_oom").run();
    let panic = line_starting_with(&out, "!!! PANIC on cpu0 in task");
    assert!(panic.contains("'hungry'"), "{panic}");
    assert!(panic.contains("heap: out of memory (asked for "), "{panic}");
    assert!(panic.contains(" bytes, align 1) on cpu0 in task "), "{panic}");
    let state = line_starting_with(&out, "    heap: ");
    assert!(state.contains("KiB in the page level") && state.contains("slabs held by CPUs"), "{state}");
    assert_line_contains(&out, "test asking_for_more_than_the_heap_is_fatal ... FAILED");
}
