//! The console as a terminal, through the image `cargo run` boots with
//! `--init /bin/sh`: BusyBox's shell as process 1, its line editing over
//! our line discipline, Ctrl-C ending and Ctrl-Z stopping the foreground job (not the
//! machine), and the machine powering off with the shell's exit status;
//! the PS/2 keyboard types into the same terminal, and programs' output
//! reaches the screen. Pseudo-terminals, by a C program compared with the
//! host.

use std::time::Duration;

use odonata_runner::KernelExit;
use odonata_runner::initramfs::Initramfs;
use odonata_runner::session::InputStep;
use odonata_tests::compare::run_and_compare_on;
use odonata_tests::{boot_main_kernel, lit_text_rows, log_of};

fn initramfs(init: &str) -> Option<std::path::PathBuf> {
    let mut fs = Initramfs::new();
    if let Err(e) = fs.busybox() {
        eprintln!("{e}: skipped");
        return None;
    }
    fs.bytes("etc/odonata-init", 0o644, format!("{init}\n").into_bytes());
    let dir = std::env::temp_dir().join(format!("odonata-tty-{}-{}", std::process::id(), init.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("initramfs.cpio");
    fs.write(&path).unwrap();
    Some(path)
}

#[test]
fn ctrl_c_and_ctrl_z_reach_the_foreground_job_and_exit_powers_off_with_its_status() {
    let Some(archive) = initramfs("/bin/sh") else { return };
    let steps = vec![
        InputStep::WaitFor("init: /bin/sh".into()),
        InputStep::Pause(Duration::from_millis(1500)),
        InputStep::Send(b"echo one; sleep 5000; echo two\r".to_vec()),
        InputStep::Pause(Duration::from_millis(2500)),
        InputStep::Send(b"\x03".to_vec()),
        InputStep::Pause(Duration::from_millis(1500)),
        InputStep::Send(b"echo after $((6 * 7))\r".to_vec()),
        InputStep::WaitFor("after 42".into()),
        // Job control: Ctrl-Z stops the foreground job, `fg` continues it.
        InputStep::Send(b"sleep 4000\r".to_vec()),
        InputStep::Pause(Duration::from_millis(2500)),
        InputStep::Send(b"\x1a".to_vec()),
        InputStep::WaitFor("Stopped".into()),
        InputStep::Send(b"fg\r".to_vec()),
        InputStep::Pause(Duration::from_millis(2000)),
        InputStep::Send(b"\x03".to_vec()),
        InputStep::Pause(Duration::from_millis(1500)),
        InputStep::Send(b"echo fg ended $?\r".to_vec()),
        InputStep::WaitFor("fg ended 130".into()),
        // `bg` continues a stopped job in the background: `jobs` shows it
        // running, and it runs until killed.
        InputStep::Send(b"sleep 3001\r".to_vec()),
        InputStep::Pause(Duration::from_millis(2500)),
        InputStep::Send(b"\x1a".to_vec()),
        InputStep::Pause(Duration::from_millis(1500)),
        InputStep::Send(b"bg\r".to_vec()),
        InputStep::Pause(Duration::from_millis(1500)),
        InputStep::Send(b"jobs\r".to_vec()),
        InputStep::WaitFor("Running".into()),
        InputStep::Send(b"kill %1; wait %1; echo bg ended $?\r".to_vec()),
        InputStep::WaitFor("bg ended 143".into()),
        InputStep::Send(b"exit 3\r".to_vec()),
    ];
    let out = boot_main_kernel().smp(2).initramfs(&archive).input_steps(steps).timeout(Duration::from_secs(180)).run();
    let log = log_of(&out);
    assert!(out.serial.contains("one"), "the command ran:\n{log}");
    assert!(!out.serial.contains("\ntwo"), "Ctrl-C stopped the whole line (sh does not go on to `echo two`):\n{log}");
    assert!(out.serial.contains("after 42"), "the shell is still there after Ctrl-C:\n{log}");
    assert!(out.serial.contains("[1]+  Stopped") && out.serial.contains("sleep 4000"), "Ctrl-Z stopped the job:\n{log}");
    assert!(out.serial.contains("fg ended 130"), "`fg` continued it, and Ctrl-C then ended it:\n{log}");
    let running = out.serial.lines().find(|l| l.contains("Running")).unwrap_or_else(|| panic!("`jobs` shows a running job:\n{log}"));
    assert!(running.contains("sleep 3001"), "the job `bg` continued runs: {running}\n{log}");
    assert!(out.serial.contains("bg ended 143"), "it ran until killed (SIGTERM: 143):\n{log}");
    assert!(out.serial.contains("init exited: exit 3"), "exit 3 ended process 1:\n{log}");
    assert_eq!(out.exit, KernelExit::Failure, "a non-zero status powers off with failure:\n{log}");
}

#[test]
fn exit_0_powers_off_with_success() {
    let Some(archive) = initramfs("/bin/sh -c true") else { return };
    let out = boot_main_kernel().initramfs(&archive).timeout(Duration::from_secs(120)).run();
    assert!(out.serial.contains("init exited: exit 0"), "{}", log_of(&out));
    assert_eq!(out.exit, KernelExit::Success, "{}", log_of(&out));
}

/// QEMU monitor `sendkey` commands that type `text` on a US keyboard.
fn sendkeys(text: &str) -> Vec<String> {
    text.chars()
        .map(|c| {
            let key = match c {
                'a'..='z' | '0'..='9' => c.to_string(),
                ' ' => "spc".into(),
                '\n' => "ret".into(),
                '$' => "shift-4".into(),
                '*' => "shift-8".into(),
                '(' => "shift-9".into(),
                ')' => "shift-0".into(),
                other => panic!("no key for {other:?}"),
            };
            format!("sendkey {key}")
        })
        .collect()
}

#[test]
fn the_keyboard_types_into_programs_and_their_output_reaches_the_screen() {
    let Some(archive) = initramfs("/bin/sh") else { return };
    let shot = |n: u32| std::env::temp_dir().join(format!("odonata-tty-screen-{}-{n}.ppm", std::process::id()));
    let (before, after) = (shot(0), shot(1));
    let mut commands = vec![format!("screendump {}", before.display())];
    // Time for the shell to start reading (every command waits the pause).
    commands.extend(std::iter::repeat_n(String::from("info status"), 10));
    commands.extend(sendkeys("echo kb $((6*7))\nsleep 5000\n"));
    commands.extend(std::iter::repeat_n(String::from("info status"), 10));
    commands.push("sendkey ctrl-c".into());
    commands.extend(std::iter::repeat_n(String::from("info status"), 10));
    commands.extend(sendkeys("echo after\n"));
    commands.extend(std::iter::repeat_n(String::from("info status"), 10));
    commands.push(format!("screendump {}", after.display()));
    commands.extend(sendkeys("exit 5\n"));
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let out = boot_main_kernel()
        .smp(2)
        .initramfs(&archive)
        .monitor_after("init: /bin/sh", &commands, Duration::from_millis(150))
        .timeout(Duration::from_secs(180))
        .run();
    let log = log_of(&out);
    assert!(out.serial.contains("kb 42"), "typed on the keyboard, run by sh:\n{log}");
    assert!(out.serial.contains("after"), "Ctrl-C on the keyboard stopped `sleep 5000`, not the shell:\n{log}");
    assert!(out.serial.contains("init exited: exit 5"), "`exit 5` typed on the keyboard:\n{log}");
    assert_eq!(out.exit, KernelExit::Failure, "{log}");
    let read = |p: &std::path::Path| std::fs::read(p).unwrap_or_else(|e| panic!("no screendump at {}: {e}\n{log}", p.display()));
    let (rows_before, rows_after) = (lit_text_rows(&read(&before)), lit_text_rows(&read(&after)));
    let _ = (std::fs::remove_file(&before), std::fs::remove_file(&after));
    println!("text rows on screen: {rows_before} before typing, {rows_after} after");
    // The typed lines echoed, the output and the prompts: at least 5 rows.
    assert!(rows_after >= rows_before + 5, "the shell's echo and output reached the screen: {rows_before} -> {rows_after} rows");
}

/// Pseudo-terminals (`pty.c`): posix_openpt, the terminal end locked until
/// unlockpt, a child taking it as its controlling terminal (setsid, open,
/// /dev/tty, the foreground group), a line typed and echoed with ONLCR,
/// raw mode, the window size set on the master and read on the terminal,
/// Ctrl-C killing the child, the master's EIO after, as on the host.
#[test]
fn pseudo_terminals_behave_as_on_the_host() {
    let Some(pty) = odonata_tests::c_program("pty") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/pty", &pty)], &[("/bin/pty", &[])]);
}
