//! The network from outside: the image `cargo run` boots, with a virtio-net
//! device on QEMU's user network, answers real clients (Python's
//! `http.client` and sockets, `tests/clients/net_client.py`) on ports
//! forwarded from 127.0.0.1; then the test presses the power button.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use odonata_runner::KernelExit;
use odonata_tests::{assert_line_contains, boot_main_kernel, log_of};

/// A port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn press_power_button(monitor: &std::path::Path) {
    for _ in 0..50 {
        if let Ok(mut m) = UnixStream::connect(monitor) {
            let _ = m.write_all(b"system_powerdown\n");
            std::thread::sleep(Duration::from_millis(500));
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no monitor at {}", monitor.display());
}

#[test]
fn real_clients_get_pages_json_echo_and_clear_errors_and_many_connections_are_served() {
    let (http, echo) = (free_port(), free_port());
    let (boot, monitor) = boot_main_kernel().smp(2).net(&[(http, 80), (echo, 7)]).timeout(Duration::from_secs(600)).own_monitor();
    let script = odonata_runner::workspace_root().join("tests/clients/net_client.py");
    let client = std::thread::spawn(move || {
        let out = Command::new("python3").arg(script).arg(http.to_string()).arg(echo.to_string()).output();
        press_power_button(&monitor);
        out.expect("python3 runs")
    });
    let out = boot.run();
    let client = client.join().expect("the client thread");
    let said = String::from_utf8_lossy(&client.stdout);
    println!("{said}{}", String::from_utf8_lossy(&client.stderr));
    assert!(client.status.success(), "the clients failed:\n{said}\n{}", log_of(&out));
    assert_eq!(out.exit, KernelExit::Success, "{}", log_of(&out));
    assert_line_contains(&out, "net: up 10.0.2.15/24 via DHCP");
}

#[test]
fn an_idle_machine_with_the_network_up_stays_halted_and_net_shows_the_device() {
    let out = boot_main_kernel().smp(2).net(&[(free_port(), 80)]).input(b"sleep 3000\nnet\nsleep 3000\ncpus\npoweroff\n").run();
    assert_eq!(out.exit, KernelExit::Success, "{}", log_of(&out));
    let net = odonata_tests::line_starting_with(&out, "net: virtio-net 52:54:00:12:34:56, link up, address 10.0.2.15/24 (DHCP);");
    println!("{net}");
    // The stack's CPU (the last) sleeps until a frame or a deadline.
    let cpu1 = odonata_tests::line_starting_with(&out, "cpu1: APIC id");
    let idle: f64 = cpu1.rsplit("idle ").next().and_then(|v| v.trim_end_matches('%').parse().ok()).unwrap_or(0.0);
    println!("{cpu1}");
    assert!(idle > 90.0, "the network CPU should be idle: {cpu1}\n{}", log_of(&out));
}
