//! A kernel developer's tools, tried as a user would: a stuck task reported
//! while it spins, with a symbolized backtrace; an interactive session that
//! prints no false alarms. (The gdb test is in `gdb.rs`; symbolized panics
//! and faults in `exec.rs` and `faults.rs`.)

#![forbid(unsafe_op_in_unsafe_fn)]

use odonata_runner::Profile;
use odonata_tests::{Exit, assert_line_contains, assert_passed, boot, boot_main_kernel_as, line_starting_with, log_of, source_line};

#[test]
fn a_task_stuck_in_a_loop_is_reported_while_it_spins() {
    let out = boot("stall").smp(2).run();
    assert_passed(&out, &["a_task_stuck_in_a_loop_is_reported_while_it_spins"]);
    let report = out
        .lines()
        .find(|l| l.contains("cpu1 ERROR kernel::stall: stall: task ") && l.contains(" 'stuck' on cpu1 has run "))
        .unwrap_or_else(|| panic!("no stall report from cpu1: {}", log_of(&out)));
    println!("{report}");
    // Where it spins, symbolized by the runner: the loop's function, on
    // one of the loop's two lines.
    let file = "tests/kernels/src/bin/stall.rs";
    let lines = [source_line(file, "while !RELEASE"), source_line(file, "core::hint::spin_loop()")];
    assert!(
        out.lines().any(|l| l.contains("stall::spin_until_released at ")
            && lines.iter().any(|n| l.contains(&format!("{file}:{n}:")) || l.contains("core/src/hint.rs"))),
        "the backtrace does not show the loop (lines {lines:?}): {}",
        log_of(&out)
    );
    // Once released, the watchdog says the stall is over.
    assert_line_contains(&out, "'stuck' on cpu1 ran ");
    assert_line_contains(&out, "(the stall reported earlier is over)");
    println!("{}", line_starting_with(&out, "stall seen from cpu0 after "));
}

/// The session the issue names, typed over a pipe: its output must hold
/// every answer and no watchdog or stall report, at 2 and 4 CPUs.
fn a_session_prints_no_false_alarm(profile: Profile) {
    for smp in [2, 4] {
        let out = boot_main_kernel_as(profile).smp(smp).input(b"help\ncpus\nps\nsleep 100\non 1 ps\npoweroff\n").run();
        assert_eq!(out.exit, Exit::Success, "{profile:?} kernel at -smp {smp}: {}", log_of(&out));
        // The boot log names the build; a debug one says how to get the other.
        let build = match profile {
            Profile::Dev => {
                "booting (dev build: optimised, with debug assertions and full debug info; benchmark figures come from `cargo run -- --release`"
            }
            Profile::Release => "booting (release build)",
        };
        assert_line_contains(&out, build);
        for answer in ["odonata> help", "  poweroff         exit QEMU with success", "slept 100 ms", "odonata> on 1 ps"] {
            assert!(out.has_line(answer), "{profile:?} kernel at -smp {smp}: no {answer:?}: {}", log_of(&out));
        }
        assert_eq!(out.lines().filter(|l| l.starts_with("CPU   ID      NAME")).count(), 2, "two ps tables: {}", log_of(&out));
        let alarms: Vec<&str> = out.lines().filter(|l| l.contains("watchdog:") || l.contains("stall:")).collect();
        assert!(alarms.is_empty(), "{profile:?} kernel at -smp {smp}: {alarms:#?}\n{}", log_of(&out));
        println!("{profile:?} kernel at -smp {smp}: session of {:.1} s, no warnings", out.elapsed.as_secs_f64());
    }
}

#[test]
fn an_interactive_session_prints_no_false_alarm_in_a_release_kernel() {
    a_session_prints_no_false_alarm(Profile::Release);
}

/// The dev kernel (profile `kernel-dev`) is what `cargo run` boots by default.
#[test]
fn an_interactive_session_prints_no_false_alarm_in_a_debug_kernel() {
    a_session_prints_no_false_alarm(Profile::Dev);
}

/// From the shell: a task that spins on cpu1 is shown as stalled by `ps`
/// and `cpus` on cpu0 while it spins, and is gone once it has yielded.
#[test]
fn ps_marks_a_spinning_task_as_stalled() {
    let out = odonata_tests::boot_main_kernel().smp(2).input(b"spin 1 3000\nsleep 600\nps\ncpus\nsleep 3000\nps\npoweroff\n").run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    let stalled = out
        .lines()
        .find(|l| l.starts_with("1 ") && l.contains(" spin ") && l.contains("stalled") && l.contains("without yielding"))
        .unwrap_or_else(|| panic!("no stalled row for cpu1 in ps: {}", log_of(&out)));
    println!("{stalled}");
    assert_line_contains(&out, "cpu1: not answering: task ");
    assert_line_contains(&out, "(stalled)");
    assert_line_contains(&out, "cpu1 ERROR kernel::stall: stall: task ");
    // The second ps, after the spin: cpu1 answers again, no spin task left.
    let last_ps: Vec<&str> = out.lines().skip_while(|l| *l != "odonata> sleep 3000").skip_while(|l| !l.starts_with("CPU   ID")).collect();
    assert!(last_ps.iter().any(|l| l.starts_with("1 ") && l.contains("stats")), "cpu1 answers again: {}", log_of(&out));
    assert!(!last_ps.iter().any(|l| l.contains(" spin ")), "the spin task is gone: {}", log_of(&out));
}
