//! The network from outside: the image `cargo run` boots, with a virtio-net
//! device on QEMU's user network, answers real clients (Python's
//! `http.client` and sockets, `tests/clients/net_client.py`) on ports
//! forwarded from 127.0.0.1; then the test presses the power button.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use odonata_runner::KernelExit;
use odonata_tests::{assert_line_contains, boot_main_kernel, log_of};

/// A port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A UDP port on 127.0.0.1 that nothing is bound to right now.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free port")
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
    let (http, echo, udp) = (free_port(), free_port(), free_udp_port());
    let (boot, monitor) =
        boot_main_kernel().smp(2).net(&[(http, 80), (echo, 7)]).udp_forward(udp, 7).timeout(Duration::from_secs(600)).own_monitor();
    let script = odonata_runner::workspace_root().join("tests/clients/net_client.py");
    let client = std::thread::spawn(move || {
        let out = Command::new("python3").arg(script).args([http, echo, udp].map(|p| p.to_string())).output();
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
fn an_idle_machine_with_the_network_up_stays_halted_and_the_json_agrees_with_the_shell() {
    let http = free_port();
    // Built before the asker starts, which then waits for the boot only.
    let boot = boot_main_kernel().smp(2).net(&[(http, 80)]).input(b"sleep 3000\nnet\nsleep 6000\ncpus\npoweroff\n");
    // While the shell sleeps between `net` and `cpus`, the host asks the
    // same questions over HTTP.
    let asker = std::thread::spawn(move || {
        let get = |path: &str| -> Option<String> {
            use std::io::Read;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).ok()?;
            s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).ok()?;
            let mut all = String::new();
            s.read_to_string(&mut all).ok()?;
            Some(all.split("\r\n\r\n").nth(1)?.to_string())
        };
        for _ in 0..300 {
            if let (Some(net), Some(cpus)) = (get("/api/net"), get("/api/cpus")) {
                return Some((net, cpus));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    });
    let out = boot.run();
    assert_eq!(out.exit, KernelExit::Success, "{}", log_of(&out));
    let net = odonata_tests::line_starting_with(&out, "net: virtio-net 52:54:00:12:34:56, link up, address 10.0.2.15/24 (DHCP);");
    println!("{net}");
    // The stack's CPU (the last) sleeps until a frame or a deadline.
    let cpu1 = odonata_tests::line_starting_with(&out, "cpu1: APIC id");
    let idle: f64 = cpu1.rsplit("idle ").next().and_then(|v| v.trim_end_matches('%').parse().ok()).unwrap_or(0.0);
    println!("{cpu1}");
    assert!(idle > 90.0, "the network CPU should be idle: {cpu1}\n{}", log_of(&out));
    let (json_net, json_cpus) = asker.join().expect("the asking thread").expect("answers from /api/net and /api/cpus");
    println!("/api/net {json_net}/api/cpus {json_cpus}");
    // The same device, address and link; both have counted frames (the
    // counters move between the two readings, so only that).
    assert!(json_net.contains("\"mac\":\"52:54:00:12:34:56\",\"link\":true,\"address\":\"10.0.2.15/24\""), "{json_net}");
    let shell_rx: u64 = net.split(" frames received").next().and_then(|l| l.rsplit(' ').next()?.parse().ok()).expect("rx in `net`");
    let json_rx: u64 = json_net.split("\"rx\":").nth(1).and_then(|v| v.split(',').next()?.parse().ok()).expect("rx in /api/net");
    assert!(shell_rx > 0 && json_rx > 0, "shell rx {shell_rx}, JSON rx {json_rx}");
    // The same CPUs.
    let shell_cpus = out.lines().filter(|l| l.starts_with("cpu0: APIC id") || l.starts_with("cpu1: APIC id")).count();
    assert_eq!(shell_cpus, 2);
    assert!(json_cpus.contains("{\"cpu\":0,") && json_cpus.contains("{\"cpu\":1,") && !json_cpus.contains("\"cpu\":2"), "{json_cpus}");
}

#[test]
fn the_guest_pings_the_host_and_fetches_a_page_from_a_server_the_test_runs() {
    // A real HTTP server on the host's loopback, which the guest reaches as
    // 10.0.2.2 through QEMU's user network.
    let dir = std::env::temp_dir().join(format!("odonata-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory to serve");
    std::fs::write(dir.join("hello.txt"), "hello from the host\nsecond line\n").expect("a page");
    let port = free_port();
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    // A host server that accepts and then resets every connection.
    let reset_port = free_port();
    let mut resetter = Command::new("python3")
        .arg(odonata_runner::workspace_root().join("tests/clients/reset_server.py"))
        .arg(reset_port.to_string())
        .spawn()
        .expect("the reset server");
    // 10.0.2.99 is on the user network's subnet and nobody answers there.
    let input = format!(
        "sleep 4000\nping 10.0.2.2\nhttp-get 10.0.2.2 {port} /hello.txt\nhttp-get 10.0.2.2 1 /\nhttp-get 10.0.2.2 {reset_port} /\nhttp-get 10.0.2.99 80 /\nnet\npoweroff\n"
    );
    let out = boot_main_kernel().smp(2).net(&[(free_port(), 80)]).input(input.as_bytes()).timeout(Duration::from_secs(180)).run();
    for child in [&mut server, &mut resetter] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.exit, KernelExit::Success, "{}", log_of(&out));
    println!("{}", odonata_tests::line_starting_with(&out, "ping 10.0.2.2: 4 sent"));
    assert_line_contains(&out, "ping 10.0.2.2: 4 sent, 4 answered");
    assert_line_contains(&out, "reply from 10.0.2.2: seq 0, time ");
    let got = odonata_tests::line_starting_with(&out, "http-get: ");
    println!("{got}");
    assert!(got.starts_with("http-get: HTTP/1.0 200 OK; 32 bytes; first line: hello from the host"), "{got}");
    // Nothing listens on the host's port 1: refused, as an error; a reset
    // and a connect nobody answers reach the caller as errors too.
    assert_line_contains(&out, "http-get 10.0.2.2:1: connection refused");
    assert_line_contains(&out, &format!("http-get 10.0.2.2:{reset_port}: connection reset by peer"));
    assert_line_contains(&out, "http-get 10.0.2.99:80: timed out");
}

#[test]
fn the_runner_gives_the_guest_a_multiqueue_tap_in_a_namespace_it_makes_and_removes() {
    use odonata_runner::netns::{self, GUEST_ADDRESS, TapNamespace};
    let ns = TapNamespace::create(2).expect("a namespace and its tap (the tests run as root)");
    let name = ns.name().to_string();
    assert!(netns::exists(&name), "{name} listed");
    let (boot, monitor) = boot_main_kernel().smp(2).tap(&ns).timeout(Duration::from_secs(300)).own_monitor();
    // curl, inside the namespace: the only place the guest can be reached.
    let inside = name.clone();
    let client = std::thread::spawn(move || {
        let curl = |path: &str| {
            let out = Command::new("ip")
                .args(["netns", "exec", &inside, "curl", "-s", "-m", "5", "-w", "\n%{http_code}"])
                .arg(format!("http://{GUEST_ADDRESS}{path}"))
                .output()
                .expect("curl runs");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.rsplit_once('\n').filter(|(_, code)| *code == "200").map(|(body, _)| body.to_string())
        };
        let start = std::time::Instant::now();
        let net = loop {
            if let Some(net) = curl("/api/net") {
                break Some(net);
            }
            if start.elapsed() > Duration::from_secs(120) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let page = curl("/");
        press_power_button(&monitor);
        (net, page)
    });
    let out = boot.run();
    let (net, page) = client.join().expect("the client thread");
    assert_eq!(out.exit, KernelExit::Success, "{}", log_of(&out));
    let net = net.unwrap_or_else(|| panic!("the guest never answered in {name}:\n{}", log_of(&out)));
    println!("/api/net over the tap: {net}");
    assert!(net.contains("\"address\":\"10.0.2.15/24\""), "{net}");
    assert!(page.is_some_and(|p| p.contains("Odonata")), "the home page");
    assert_line_contains(&out, "net: up 10.0.2.15/24 (static: no DHCP lease within 3 s)");
    assert_line_contains(&out, "link up, 2 queue pairs offered (1 used)");
    drop(ns);
    assert!(!netns::exists(&name), "{name} removed");
}

#[test]
fn stack_limits_keep_alive_the_accept_handoff_and_the_cork() {
    let out = odonata_tests::boot("net_limits").smp(2).net(&[]).run();
    odonata_tests::assert_passed(
        &out,
        &[
            "listeners_past_the_socket_limit_are_refused_and_closing_frees_them",
            "a_burst_of_connection_requests_past_the_queue_is_never_refused",
            "a_keep_alive_probe_comes_only_after_its_interval",
            "a_listener_takes_each_connection_and_shows_what_is_left",
            "a_write_and_the_fin_after_it_leave_together",
        ],
    );
    println!("{}", odonata_tests::line_starting_with(&out, "net limits: 20 listeners"));
    println!("{}", odonata_tests::line_starting_with(&out, "net burst:"));
    println!("{}", odonata_tests::line_starting_with(&out, "net keep-alive:"));
    println!("{}", odonata_tests::line_starting_with(&out, "net handoff:"));
    println!("{}", odonata_tests::line_starting_with(&out, "net cork:"));
}

#[test]
fn malformed_frames_from_a_raw_peer_are_counted_by_reason_and_dropped_and_the_stack_keeps_answering() {
    // The guest's link goes to a script on 127.0.0.1 instead of QEMU's user
    // network (no DHCP there: the guest takes its static address after 3 s).
    let (ours, qemu) = (free_udp_port(), free_udp_port());
    let netdev = format!(
        "dgram,id=raw0,local.type=inet,local.host=127.0.0.1,local.port={qemu},remote.type=inet,remote.host=127.0.0.1,remote.port={ours}"
    );
    let script = odonata_runner::workspace_root().join("tests/clients/raw_frames.py");
    let peer = std::thread::spawn(move || Command::new("python3").arg(script).args([ours, qemu].map(|p| p.to_string())).output());
    let out = boot_main_kernel()
        .smp(2)
        .qemu_args(&["-netdev", &netdev, "-device", "virtio-net-pci,netdev=raw0"])
        .input(b"sleep 25000\nnet\npoweroff\n")
        .timeout(Duration::from_secs(180))
        .run();
    let peer = peer.join().expect("the peer thread").expect("python3 runs");
    let said = String::from_utf8_lossy(&peer.stdout);
    println!("{said}{}", String::from_utf8_lossy(&peer.stderr));
    assert!(peer.status.success(), "the raw peer failed:\n{said}\n{}", log_of(&out));
    assert_eq!(out.exit, KernelExit::Success, "{}", log_of(&out));
    let net = odonata_tests::line_starting_with(&out, "net: virtio-net ");
    println!("{net}");
    // Every reason the peer caused, counted exactly (a count short of it
    // would also mean the peer was still at work when `net` ran: its
    // `done after` line says how long it took).
    let expect: std::collections::BTreeMap<&str, u64> = said
        .lines()
        .find_map(|l| l.strip_prefix("expect "))
        .expect("the peer's expectations")
        .split(' ')
        .map(|kv| kv.split_once('=').and_then(|(k, n)| Some((k, n.parse().ok()?))).expect("REASON=N"))
        .collect();
    let counted: std::collections::BTreeMap<&str, u64> = net
        .split(" malformed dropped (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .map(|list| list.split(", ").filter_map(|kv| kv.split_once(' ').and_then(|(k, n)| Some((k, n.parse().ok()?)))).collect())
        .unwrap_or_default();
    let total: u64 = expect.values().sum();
    assert_eq!(
        counted,
        expect,
        "the reasons counted in: {net}
{}",
        log_of(&out)
    );
    assert!(net.contains(&format!(" {total} malformed dropped (")), "{net}");
    assert!(net.contains("address 10.0.2.15/24 (static)"), "{net}");
}
