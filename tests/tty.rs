//! The console as a terminal, through the image `cargo run` boots with
//! `--init /bin/sh`: BusyBox's shell as process 1, its line editing over
//! our line discipline, Ctrl-C stopping the foreground command (not the
//! machine), and the machine powering off with the shell's exit status.

use std::time::Duration;

use odonata_runner::KernelExit;
use odonata_runner::initramfs::Initramfs;
use odonata_runner::session::InputStep;
use odonata_tests::{boot_main_kernel, log_of};

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
fn ctrl_c_stops_the_foreground_command_and_exit_powers_off_with_its_status() {
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
        InputStep::Send(b"exit 3\r".to_vec()),
    ];
    let out = boot_main_kernel().smp(2).initramfs(&archive).input_steps(steps).timeout(Duration::from_secs(180)).run();
    let log = log_of(&out);
    assert!(out.serial.contains("one"), "the command ran:\n{log}");
    assert!(!out.serial.contains("\ntwo"), "Ctrl-C stopped the whole line (sh does not go on to `echo two`):\n{log}");
    assert!(out.serial.contains("after 42"), "the shell is still there after Ctrl-C:\n{log}");
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
