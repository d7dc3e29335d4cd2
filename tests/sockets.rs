//! Sockets for programs, from outside: Debian's unmodified BusyBox servers
//! run as programs on Odonata (`httpd`, `nc -l -e cat`) and answer real
//! clients on the host (Python's `http.client` and sockets,
//! `tests/clients/busybox_net.py`) through ports forwarded from 127.0.0.1;
//! BusyBox `nc` inside connects out to a server the test runs on the host
//! (10.0.2.2 on QEMU's user network), and its `wget` fetches a file from
//! a web server there.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use odonata_runner::KernelExit;
use odonata_runner::initramfs::Initramfs;
use odonata_tests::{boot_main_kernel, log_of, pseudo_random_bytes};

/// A port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A UDP port on 127.0.0.1 that nothing is bound to right now.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free port")
}

#[test]
fn busybox_httpd_nc_and_telnetd_serve_real_clients_and_nc_reaches_the_host() {
    let (http, echo, done, out, telnet) = (free_port(), free_port(), free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("odonata-sockets-{}", std::process::id()));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    for (name, len) in [("empty", 0), ("small", 1500), ("slow", 300_000), ("one-mib", 1 << 20), ("eight-mib", 8 << 20)] {
        std::fs::write(www.join(name), pseudo_random_bytes(len, len as u64 + 1)).unwrap();
    }
    // A host web server for the guest's wget (Python's http.server).
    let web = free_port();
    let mut server = Command::new("python3")
        .args(["-m", "http.server", &web.to_string(), "--bind", "127.0.0.1", "--directory"])
        .arg(&www)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs");
    let script = format!(
        "httpd -p 8000 -h /www\n\
         telnetd -p 2323 -l /bin/sh\n\
         nc -l -p 7000 -e cat &\n\
         for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do\n\
           echo 'hello from the guest' | nc 10.0.2.2 {out} && break\n\
           sleep 1\n\
         done\n\
         wget -q -O /tmp/fetched http://10.0.2.2:{web}/one-mib && md5sum /tmp/fetched\n\
         nc -l -p 7001\n\
         echo 'guest: done'\n"
    );
    let mut fs = Initramfs::new();
    fs.busybox().unwrap();
    fs.tree("www", &www).unwrap();
    fs.bytes("net.sh", 0o755, script.into_bytes());
    fs.bytes("etc/odonata-init", 0o644, b"/bin/sh /net.sh\n".to_vec());
    let archive = dir.join("initramfs.cpio");
    fs.write(&archive).unwrap();
    let client_script = odonata_runner::workspace_root().join("tests/clients/busybox_net.py");
    let www_arg = www.clone();
    let client = std::thread::spawn(move || {
        Command::new("python3")
            .arg(client_script)
            .args([http, echo, done, out].map(|p| p.to_string()))
            .arg(www_arg)
            .arg(telnet.to_string())
            .output()
            .expect("python3 runs")
    });
    let run = boot_main_kernel()
        .smp(2)
        .net(&[(http, 8000), (echo, 7000), (done, 7001), (telnet, 2323)])
        .initramfs(&archive)
        .timeout(Duration::from_secs(600))
        .run();
    let client = client.join().expect("the client thread");
    let said = String::from_utf8_lossy(&client.stdout);
    println!("{said}{}", String::from_utf8_lossy(&client.stderr));
    assert!(client.status.success(), "the clients failed:\n{said}\n{}", log_of(&run));
    assert_eq!(run.exit, KernelExit::Success, "{}", log_of(&run));
    let serial = run.serial.replace('\r', "");
    assert!(serial.contains("host heard hello from the guest"), "the guest's nc printed the host's answer\n{}", log_of(&run));
    assert!(serial.contains("guest: done"), "{}", log_of(&run));
    let _ = server.kill();
    let _ = server.wait();
    let want = Command::new("md5sum").arg(www.join("one-mib")).output().expect("md5sum runs");
    let want = String::from_utf8_lossy(&want.stdout).split_whitespace().next().unwrap_or_default().to_string();
    assert!(
        serial.contains(&format!("{want}  /tmp/fetched")),
        "the guest's wget fetched 1 MiB from the host byte for byte\n{}",
        log_of(&run)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `tests/clients/SCRIPT ECHO 127.0.0.1 LISTEN` (a peer with an echo
/// server on `echo` and a client to `listen`) until its client is done;
/// what it printed.
fn peer(script: &str, echo: u16, listen: u16) -> std::thread::JoinHandle<String> {
    let script = odonata_runner::workspace_root().join("tests/clients").join(script);
    let child = Command::new("python3")
        .arg(script)
        .args([echo.to_string(), "127.0.0.1".to_string(), listen.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Its echo server is up before the program starts.
    std::thread::sleep(Duration::from_millis(500));
    std::thread::spawn(move || {
        let out = child.wait_with_output().expect("the peer ends");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// Runs `tests/programs/NAME.c` as `NAME HOST ECHO [REFUSED] LISTEN` on the
/// host (HOST 127.0.0.1) and on Odonata (HOST 10.0.2.2, LISTEN forwarded
/// from another host port, over UDP with `udp`), each against a fresh
/// `peer_script`, and asserts that both print the same lines.
fn same_on_host_and_odonata(name: &str, peer_script: &str, with_refused: bool, udp: bool) {
    let Some(binary) = odonata_tests::c_program(name) else { return };
    let (echo, refused, listen) = (free_port(), free_port(), free_port());
    let mut ports = vec![echo.to_string()];
    if with_refused {
        ports.push(refused.to_string());
    }
    ports.push(listen.to_string());

    let heard = peer(peer_script, echo, listen);
    let host = Command::new(&binary).arg("127.0.0.1").args(&ports).output().expect("the program runs on the host");
    let expected = String::from_utf8_lossy(&host.stdout).into_owned();
    assert!(host.status.success(), "on the host:\n{expected}{}", String::from_utf8_lossy(&host.stderr));
    println!("host peer: {}", heard.join().unwrap().trim_end());

    let (dir, archive) = image_running(name, &binary, &format!("/bin/{name} 10.0.2.2 {}", ports.join(" ")));
    // The host's run may have left LISTEN in TIME_WAIT: the forward to the
    // guest's LISTEN comes from another host port.
    let forward = if udp { free_udp_port() } else { free_port() };
    let boot = boot_main_kernel().smp(2).initramfs(&archive).timeout(Duration::from_secs(300));
    let boot = if udp { boot.net(&[]).udp_forward(forward, listen) } else { boot.net(&[(forward, listen)]) };
    let heard = peer(peer_script, echo, forward);
    let run = boot.run();
    println!("guest peer: {}", heard.join().unwrap().trim_end());
    assert_eq!(run.exit, KernelExit::Success, "{}", log_of(&run));
    assert_printed_as_on_the_host(&run, name, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An initramfs (BusyBox, `binary` as `/bin/NAME`) whose init is `init`:
/// its directory (to remove) and its path.
fn image_running(name: &str, binary: &std::path::Path, init: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut fs = Initramfs::new();
    fs.busybox().unwrap();
    fs.file(&format!("bin/{name}"), binary).unwrap();
    fs.bytes("etc/odonata-init", 0o644, format!("{init}\n").into_bytes());
    let dir = std::env::temp_dir().join(format!("odonata-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("initramfs.cpio");
    fs.write(&archive).unwrap();
    (dir, archive)
}

/// Asserts that `/bin/NAME`, run as init, printed the host's `expected`
/// lines (the log's lines left out).
fn assert_printed_as_on_the_host(run: &odonata_runner::Outcome, name: &str, expected: &str) {
    let serial = run.serial.replace('\r', "");
    let got: Vec<&str> = serial
        .lines()
        .skip_while(|l| !l.contains(&format!("init: /bin/{name}")))
        .skip(1)
        .take_while(|l| !l.contains("init exited"))
        .filter(|l| !l.starts_with('['))
        .collect();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(got, expected, "output differs from the host's\n{}", log_of(run));
    println!("{name}: {} lines as on the host", got.len());
}

/// `tests/programs/inet.c` (every AF_INET stream call a program makes, the
/// error cases, a non-blocking connect, epoll edge-triggered with partial
/// reads, sendfile to a socket, a reset) prints on Odonata what it prints
/// on the host, against the same host peer.
#[test]
fn inet_program_prints_what_it_prints_on_the_host() {
    same_on_host_and_odonata("inet", "inet_peer.py", true, false);
}

/// `tests/programs/loopback.c` (TCP and UDP to this machine itself:
/// 127.0.0.1 and 0.0.0.0, 256 KiB each way between two processes on two
/// CPUs, names, MSG_PEEK, a refused connect, datagrams with their source) prints
/// what it prints on the host.
#[test]
fn loopback_program_prints_what_it_prints_on_the_host() {
    let Some(binary) = odonata_tests::c_program("loopback") else { return };
    let host = Command::new(&binary).output().expect("the program runs on the host");
    let expected = String::from_utf8_lossy(&host.stdout).into_owned();
    assert!(host.status.success(), "on the host:\n{expected}");
    let (dir, archive) = image_running("loopback", &binary, "/bin/loopback");
    let run = boot_main_kernel().smp(2).initramfs(&archive).net(&[]).timeout(Duration::from_secs(300)).run();
    assert_eq!(run.exit, KernelExit::Success, "{}", log_of(&run));
    assert_printed_as_on_the_host(&run, "loopback", &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tests/programs/udp.c` (datagram sockets both ways: to a host echo
/// server and from a host client, boundaries, cut datagrams, `connect`
/// and `AF_UNSPEC`, the errors, epoll) prints what it prints on the host.
#[test]
fn udp_program_prints_what_it_prints_on_the_host() {
    same_on_host_and_odonata("udp", "udp_peer.py", false, true);
}
