//! The shell, driven over serial (and its screen, through the QEMU monitor's
//! `screendump`): every command, line editing, Ctrl-C, garbage input.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::time::Duration;

use odonata_tests::{Exit, assert_line_contains, boot_main_kernel, log_of, read_ppm};

/// A command's output: the lines after its prompt line up to the next
/// prompt, without kernel log lines (`[  uptime] cpuN LEVEL ...`), which
/// share the console and may land between a command's lines (a watchdog
/// report, say).
fn lines_after<'a>(out: &'a odonata_runner::Outcome, prompt_line: &str) -> Vec<&'a str> {
    out.lines().skip_while(|l| *l != prompt_line).skip(1).take_while(|l| !l.starts_with("odonata> ")).filter(|l| !is_log_line(l)).collect()
}

fn is_log_line(line: &str) -> bool {
    line.strip_prefix('[').and_then(|r| r.split_once("] cpu")).is_some_and(|(t, _)| t.trim().parse::<f64>().is_ok())
}

/// The first number after `label` in `line` ("4 tasks" -> 4 for "tasks").
fn number_before(line: &str, label: &str) -> Option<u64> {
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    words.windows(2).find(|w| w[1] == label).and_then(|w| w[0].parse().ok())
}

#[test]
fn every_command_over_serial_on_4_cpus() {
    let script = "help\ncpus\nps\nirq\nipi\nmem\ntokens\nuptime\nsleep 50\nlog debug\nlog info\non 2 cpus\nfoo bar\nsleep x\non 7 cpus\npci\npci -v\npci -x\npoweroff\n";
    let out = boot_main_kernel().smp(4).qemu_args(&["-device", "edu,addr=0x10"]).input(script.as_bytes()).run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    let log = log_of(&out);

    let help = lines_after(&out, "odonata> help");
    for cmd in [
        "help",
        "cpus",
        "ps",
        "irq",
        "ipi",
        "mem",
        "tokens",
        "uptime",
        "sleep MS",
        "log LEVEL",
        "on CPU COMMAND",
        "pci [-v]",
        "bench",
        "poweroff",
        "reboot",
    ] {
        assert!(help.iter().any(|l| l.trim_start().starts_with(cmd)), "help lacks {cmd}\n{log}");
    }

    let cpus = lines_after(&out, "odonata> cpus");
    assert_eq!(cpus[0], "cpus: 4 online, listed from cpu0", "{log}");
    for n in 0..4 {
        let line =
            cpus.iter().find(|l| l.starts_with(&format!("cpu{n}: APIC id {n}, "))).unwrap_or_else(|| panic!("no cpu{n} line\n{log}"));
        assert!(number_before(line, "tasks").is_some_and(|t| t > 0), "{line}");
        assert!(number_before(line, "polls").is_some_and(|p| p > 0), "{line}");
        assert!(line.contains("idle ") && line.ends_with('%'), "{line}");
    }
    assert!(out.has_line("cpus: 4 online, listed from cpu2"), "`on 2 cpus` ran on cpu2\n{log}");

    let mem = lines_after(&out, "odonata> mem");
    assert!(mem[0].starts_with("frames: ") && mem[0].contains(" KiB used, "), "{log}");
    assert!(mem[1].starts_with("CPU") && mem[1].contains("MAGAZINES KiB") && mem[1].contains("IN TRANSIT"), "{log}");
    for n in 0..4u64 {
        // CPU, live KiB, slabs, empty, cached KiB, magazines KiB, in transit,
        // outbox, sent away, allocations.
        let row: Vec<u64> = mem[2 + n as usize].split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert!(row.len() == 10 && row[0] == n && row[2] > 0 && row[9] > 0, "cpu{n}'s heap row\n{log}");
    }
    assert!(mem[6].starts_with("page level: ") && mem[6].contains("fragmentation"), "{log}");

    let tokens = lines_after(&out, "odonata> tokens");
    assert_eq!(tokens.first().copied(), Some("TOKEN              STATE  COLLISIONS"), "{log}");

    let ps = lines_after(&out, "odonata> ps");
    assert!(ps[0].starts_with("CPU") && ps[0].contains("NAME") && ps[0].contains("CYCLES"), "{log}");
    assert!(ps.iter().any(|l| l.contains("block_on") && l.starts_with('0')), "the shell's task on cpu0\n{log}");
    assert!(ps.iter().any(|l| l.contains("serial-tx")), "the serial driver's task\n{log}");
    for n in 0..4 {
        assert!(ps.iter().any(|l| l.starts_with(&n.to_string()) && l.contains("running")), "ps ran on cpu{n}\n{log}");
    }

    let irq = lines_after(&out, "odonata> irq");
    assert!(irq[0].contains("cpu0") && irq[0].contains("cpu3"), "{log}");
    let serial_irqs = irq.iter().find(|l| l.contains("device GSI 4")).unwrap_or_else(|| panic!("no COM1 line\n{log}"));
    assert!(serial_irqs.split_whitespace().filter_map(|w| w.parse::<u64>().ok()).any(|c| c > 0), "{serial_irqs}");
    assert!(irq.iter().any(|l| l.contains("IPI queues")), "{log}");

    let ipi = lines_after(&out, "odonata> ipi");
    assert!(ipi[0].contains("SENT") && ipi[0].contains("IPIS AVOIDED") && ipi[0].contains("RING-FULL WAITS"), "{log}");
    assert_eq!(ipi.len(), 5, "a row per CPU\n{log}");
    let cpu0_sent: u64 = ipi[1].split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(cpu0_sent > 0, "cpu0 sent messages (cpus, ps)\n{log}");

    assert_line_contains(&out, "frames: ");
    assert!(lines_after(&out, "odonata> uptime")[0].starts_with("up "), "{log}");
    assert!(out.has_line("slept 50 ms"), "{log}");
    assert!(out.has_line("log level DEBUG") && out.has_line("log level INFO"), "{log}");
    assert!(out.has_line("unknown command \"foo\" (try help)"), "{log}");
    assert!(out.has_line("usage: sleep MS (a whole number of milliseconds)"), "{log}");
    assert!(out.has_line("usage: on CPU COMMAND (CPU is 0..3)"), "{log}");

    // q35 (the default): the host bridge, the edu device, ECAM.
    let pci = lines_after(&out, "odonata> pci");
    assert_eq!(pci[0], "00:00.0 8086:29c0 Host bridge (rev 00)", "{log}");
    assert!(pci.iter().any(|l| l.starts_with("00:10.0 1234:11e8 Unclassified device")), "{log}");
    assert!(pci.iter().any(|l| l.ends_with("functions through ECAM (ACPI MCFG)")), "{log}");
    let verbose = lines_after(&out, "odonata> pci -v");
    let edu = verbose.iter().position(|l| l.starts_with("00:10.0 1234:11e8")).unwrap_or_else(|| panic!("{log}"));
    let bar0 = verbose[edu + 1].trim();
    assert!(bar0.starts_with("BAR0: 32-bit memory at 0x") && bar0.ends_with(", 1048576 bytes"), "edu's 1 MiB BAR0\n{log}");
    assert!(verbose[edu + 2..].iter().take(3).any(|l| l.contains(": MSI, disabled")), "edu's MSI capability\n{log}");
    assert!(out.has_line("usage: pci [-v]"), "{log}");
}

#[test]
fn ctrl_c_cancels_and_line_editing_and_history_work() {
    let script = b"sleep 100000\n\x03echo after\nabc\x1b[D\x1b[DX\x1b[C\x1b[CY\n\x1b[A\x1b[A\npoweroff\n";
    let out = boot_main_kernel().smp(2).input(script).run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    let log = log_of(&out);
    assert!(out.has_line("^C (cancelled)"), "{log}");
    assert!(out.has_line("unknown command \"aXbcY\" (try help)"), "left/right editing\n{log}");
    assert_eq!(out.lines().filter(|l| *l == "after").count(), 2, "up twice recalls `echo after`\n{log}");
}

#[test]
fn garbage_input_leaves_the_shell_working() {
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut input: Vec<u8> = (0..6000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    input.extend_from_slice(b"\n\x1b[2J\x1b[999;999H\x1b]0;title\x07\x1b[38;5;9m\xff\xfe\xc3\x28\n");
    input.extend(std::iter::repeat_n(b'y', 5000));
    input.extend_from_slice(b"\n\x1b[A\x1b[B\x1b[3~\x7f\x7f\x7f\n");
    input.extend_from_slice(b"echo still alive\npoweroff\n");
    let out = boot_main_kernel().smp(2).input(&input).timeout(Duration::from_secs(120)).run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    assert!(out.has_line("still alive"), "{}", log_of(&out));
    assert!(!out.serial.contains("PANIC"), "{}", log_of(&out));
}

#[test]
fn bench_command_prints_every_table() {
    let out = boot_main_kernel().smp(2).qemu_args(&["-device", "edu"]).input(b"bench\npoweroff\n").timeout(Duration::from_secs(240)).run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    for title in
        ["IPI-queue benchmark:", "executor benchmark:", "token benchmark:", "port benchmark:", "heap benchmark:", "driver benchmark:"]
    {
        assert_line_contains(&out, title);
    }
    assert_line_contains(&out, "| CPUs at once | spawns/s: talc + lock | spawns/s: per-CPU slab |");
    assert_line_contains(&out, "| 4. run_on round trip to a halted CPU |");
    assert_line_contains(&out, "| bytes of overhead per task |");
    assert_line_contains(&out, "| 3. timer wake lateness");
    assert_line_contains(&out, "| 6. edu MSI raised -> first poll of the woken task (running CPU cpu0) |");
    assert_line_contains(&out, "| 6'. edu MSI raised -> first poll of the woken task (halted CPU cpu1;");
    // The benchmarks spin by design and say so: no watchdog or stall report.
    let alarms: Vec<&str> = out.lines().filter(|l| l.contains("watchdog:") || l.contains("stall:")).collect();
    assert!(alarms.is_empty(), "{alarms:#?}\n{}", log_of(&out));
}

/// Whether a screendump shows a prompt-shaped row under other text: `Err`
/// says what it shows instead.
fn shows_prompt(bytes: &[u8]) -> Result<(), String> {
    let (w, h, px) = read_ppm(bytes);
    let lit = |x: usize, y: usize| px[(y * w + x) * 3..(y * w + x) * 3 + 3].iter().any(|&c| c > 0x40);
    // Text rows are 16 pixels. The prompt row is a short one at the left
    // edge ("odonata> " and the cursor: ten cells at most); every other row
    // drawn by then (the banner, log lines) is much longer.
    let rows: Vec<usize> = (0..h / 16).filter(|r| (r * 16..r * 16 + 16).any(|y| (0..w).any(|x| lit(x, y)))).collect();
    if rows.is_empty() {
        return Err(format!("the screen is blank ({w}x{h})"));
    }
    let span = |r: usize| {
        let xs: Vec<usize> = (0..w).filter(|&x| (r * 16..r * 16 + 16).any(|y| lit(x, y))).collect();
        (xs[0], *xs.last().unwrap())
    };
    let prompt = rows.iter().copied().any(|r| {
        let (first, last) = span(r);
        first < 8 && last > 6 * 7 && last < 11 * 8 + 8
    });
    if !prompt {
        return Err(format!("no prompt-shaped row among {:?} on a {w}x{h} screen", rows.iter().map(|&r| span(r)).collect::<Vec<_>>()));
    }
    if rows.len() < 2 {
        return Err("nothing drawn above the prompt".into());
    }
    Ok(())
}

#[test]
fn the_screen_shows_the_prompt() {
    // The screen is drawn by its own task after the text reaches serial:
    // take a picture every half second for three seconds; one must show it.
    let shots: Vec<std::path::PathBuf> =
        (0..6).map(|i| std::env::temp_dir().join(format!("odonata-screen-{}-{i}.ppm", std::process::id()))).collect();
    let mut commands: Vec<String> = shots.iter().map(|s| format!("screendump {}", s.display())).collect();
    commands.push("quit".into());
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let out = boot_main_kernel().smp(1).monitor_after("odonata> ", &commands, Duration::from_millis(500)).run();
    assert!(matches!(out.exit, Exit::NoReport(_)), "QEMU was quit through the monitor: {:?}\n{}", out.exit, log_of(&out));
    let mut seen = Vec::new();
    for (i, shot) in shots.iter().enumerate() {
        let bytes = std::fs::read(shot).unwrap_or_else(|e| panic!("no screendump at {}: {e}\n{}", shot.display(), log_of(&out)));
        let _ = std::fs::remove_file(shot);
        match shows_prompt(&bytes) {
            Ok(()) => {
                println!("the prompt was on screen in picture {i} ({} ms after it reached serial)", i * 500);
                return;
            }
            Err(e) => seen.push(e),
        }
    }
    panic!("no picture shows the prompt: {seen:#?}");
}

#[test]
fn the_keyboard_types_into_the_shell() {
    let mut keys: Vec<String> = "echo".chars().map(|c| format!("sendkey {c}")).collect();
    keys.extend(["sendkey spc", "sendkey shift-h", "sendkey i", "sendkey ret"].map(String::from));
    keys.extend("poweroff".chars().map(|c| format!("sendkey {c}")));
    keys.push("sendkey ret".into());
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let out = boot_main_kernel().smp(1).monitor_after("odonata shell on", &keys, Duration::from_millis(150)).run();
    assert_eq!(out.exit, Exit::Success, "typed poweroff\n{}", log_of(&out));
    assert!(out.has_line("odonata> echo Hi") && out.has_line("Hi"), "{}", log_of(&out));
}

#[test]
fn reboot_resets_the_machine() {
    // The runner starts QEMU with -no-reboot: a reset ends it without a
    // report from the kernel.
    let out = boot_main_kernel().smp(1).input(b"reboot\n").run();
    assert!(out.has_line("rebooting"), "{}", log_of(&out));
    assert_eq!(out.exit, Exit::NoReport(Some(0)), "{}", log_of(&out));
}

#[test]
fn the_power_button_powers_off_through_a_level_triggered_sci() {
    // `system_powerdown` presses the ACPI power button: PM1_STS.PWRBTN_STS
    // holds the SCI (level-triggered) asserted until the driver clears it.
    let out = boot_main_kernel().smp(2).monitor_after("odonata shell on", &["system_powerdown"], Duration::from_millis(100)).run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    // One interrupt per press: the line stayed masked until the task had
    // cleared the status (an unmasked asserted level line would storm).
    assert_line_contains(&out, "power button pressed (1 SCI interrupt(s) for 1 press): powering off");
}

/// `disk`: two disks attached as `cargo run -- --disk` attaches them (the
/// second read-only, with two queues): listed with their queues' CPUs, a
/// block dumped, a block written and read back, a write to the read-only
/// disk refused with the reason.
#[test]
fn disk_command_lists_dumps_and_writes() {
    let dir = std::env::temp_dir();
    let (rw, ro) = (
        dir.join(format!("odonata-shell-{}-rw.img", std::process::id())),
        dir.join(format!("odonata-shell-{}-ro.img", std::process::id())),
    );
    let mut image = vec![0u8; 64 * 1024];
    image[..10].copy_from_slice(b"hello disk");
    std::fs::write(&rw, &image).unwrap();
    std::fs::write(&ro, &image).unwrap();
    let script =
        "disk\ndisk read 0\ndisk write 3 written by the shell\ndisk read 3\ndisk vdb write 0 nope\ndisk read x\ndisk bench\npoweroff\n";
    let out = boot_main_kernel()
        .smp(4)
        .disk(odonata_runner::Disk { path: rw.clone(), readonly: false, queues: None })
        .disk(odonata_runner::Disk { path: ro.clone(), readonly: true, queues: Some(2) })
        .input(script.as_bytes())
        .run();
    assert_eq!(out.exit, Exit::Success, "{}", log_of(&out));
    let log = log_of(&out);
    let list = lines_after(&out, "odonata> disk");
    assert!(list[0].starts_with("vda: 128 blocks of 512 bytes (64 KiB), at "), "{log}");
    for c in 0..4 {
        assert!(
            list.iter().any(|l| l.trim_start().starts_with(&format!("queue {c}: interrupt 0x")) && l.contains(&format!(" on cpu{c}, "))),
            "vda's queue {c} on cpu{c}\n{log}"
        );
    }
    assert!(list.iter().any(|l| l.starts_with("vdb: 128 blocks of 512 bytes (64 KiB), read-only")), "{log}");
    assert!(lines_after(&out, "odonata> disk read 0")[0].ends_with("hello disk......"), "{log}");
    assert!(out.has_line("wrote block 3 of vda"), "{log}");
    assert!(lines_after(&out, "odonata> disk read 3")[0].contains("written by the"), "{log}");
    assert!(out.has_line("disk: the disk is read-only"), "{log}");
    assert!(out.has_line("usage: disk [NAME] read LBA [COUNT] (COUNT 1..=16)"), "{log}");
    let bench = lines_after(&out, "odonata> disk bench");
    assert!(bench[0].starts_with("disk benchmark: vda (4 queues), 4 CPUs"), "{log}");
    assert!(bench.iter().any(|l| l.starts_with("| (b) 4 CPUs, each its own queue | 32 |")), "{log}");
    let after = std::fs::read(&rw).unwrap();
    assert_eq!(&after[3 * 512..3 * 512 + 19], b"written by the shel");
    assert_eq!(std::fs::read(&ro).unwrap(), image, "the read-only image is unchanged");
    let _ = std::fs::remove_file(rw);
    let _ = std::fs::remove_file(ro);
}
