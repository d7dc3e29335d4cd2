//! Interrupt-driven drivers end to end: serial lines, 64 KiB, garbage and
//! unbroken lines; keyboard keys pressed through the QEMU monitor.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::time::Duration;

use odonata_tests::{assert_line_contains, assert_passed, boot, log_of, pseudo_random_bytes as garbage};

#[test]
fn serial_end_to_end() {
    let mut input = Vec::new();
    // Lines: CRLF, UTF-8, DEL, backspace over a two-byte character, empty.
    input.extend_from_slice(b"hello\r\n");
    input.extend_from_slice("w\u{f6}rld\n".as_bytes());
    input.extend_from_slice(b"abX\x7fc\r");
    input.extend_from_slice("\u{e9}\x08e\n".as_bytes());
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"done\n");
    input.extend_from_slice(b"BULK\n");
    input.extend((0..64 * 1024).map(|i: usize| (i.wrapping_mul(7) ^ (i >> 8)) as u8));
    // Garbage: random bytes, escape sequences, invalid UTF-8, a 10 KB line.
    input.extend(garbage(8192, 0x9e37_79b9_7f4a_7c15));
    input.extend_from_slice(b"\n\x1b[A\x1b[2J\xff\xfe\xc3\x28\n");
    input.extend(std::iter::repeat_n(b'x', 10_000));
    input.extend_from_slice(b"\nEND\n");

    let out = boot("serial").smp(4).input(&input).timeout(Duration::from_secs(120)).run();
    assert_passed(
        &out,
        &["answers_each_line", "bulk_64k_arrives_in_order_without_loss", "garbage_causes_no_panic", "lines_never_interleave"],
    );
    for (k, want) in ["hello", "w\u{f6}rld", "abc", "e", "", "done"].iter().enumerate() {
        assert!(out.has_line(&format!("answer {k}: [{want}]")), "answer {k} should be [{want}]\n{}", log_of(&out));
    }
    assert_line_contains(&out, "bulk: 65536 bytes in order; ring overflows 0");
    assert_line_contains(&out, "garbage: survived");
    // Every interleave line is whole: 4 CPUs x 50 log lines, 50 async lines.
    let mut logs = 0;
    let mut asyncs = 0;
    for line in out.lines().filter(|l| l.contains("interleave-")) {
        assert!(line.ends_with("0123456789abcdefghijklmnopqrstuvwxyz end"), "broken line {line:?}\n{}", log_of(&out));
        assert_eq!(line.matches("interleave-").count(), 1, "two lines in one: {line:?}");
        if line.contains("interleave-log") {
            logs += 1;
        } else {
            asyncs += 1;
        }
    }
    assert_eq!((logs, asyncs), (200, 50), "{}", log_of(&out));
    for line in out.lines().filter(|l| l.starts_with("bulk:") || l.starts_with("garbage:")) {
        println!("{line}");
    }
}

#[test]
fn keyboard_keys_from_the_monitor_arrive_in_order() {
    let keys = [
        "sendkey h",
        "sendkey e",
        "sendkey l",
        "sendkey l",
        "sendkey o",
        "sendkey spc",
        "sendkey shift-w",
        "sendkey 1",
        "sendkey shift-1",
        "sendkey ret",
    ];
    let out = boot("keyboard").monitor_after("keyboard: ready", &keys, Duration::from_millis(150)).run();
    assert_passed(&out, &["typed_keys_arrive_in_order"]);
    assert!(out.has_line("keyboard: got \"hello W1!\""), "{}", log_of(&out));
}
