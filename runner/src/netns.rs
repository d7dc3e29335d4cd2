//! A network namespace with a tap device for the guest (`--net tap`, and
//! tests): made before QEMU starts, removed when dropped.
//!
//! ```text
//! ip netns add odonata-PID-N; lo up
//! ip -n NS tuntap add dev tap0 mode tap [multi_queue]
//! ip -n NS addr add 10.0.2.2/24 dev tap0; up
//! ip netns exec NS qemu-system-x86_64 ... -netdev tap,ifname=tap0,queues=Q
//! ```
//!
//! The addresses are the user network's (the host side 10.0.2.2, the guest
//! 10.0.2.15, its static address when no DHCP server answers) and exist
//! only inside the namespace: nothing outside it can reach the guest or be
//! reached from it. A client runs inside with [`TapNamespace::command`].
//! With more than one queue the tap is multiqueue and the virtio-net
//! device offers that many queue pairs (`mq=on`). Making a namespace needs
//! root (CAP_NET_ADMIN and CAP_SYS_ADMIN), as `ip netns` does.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::Error;

/// The tap device's name inside the namespace.
pub const TAP: &str = "tap0";
/// The host side's address on the tap, and the guest's.
pub const HOST_ADDRESS: &str = "10.0.2.2";
pub const GUEST_ADDRESS: &str = "10.0.2.15";

/// A namespace this process made, with its tap; removed on drop.
#[derive(Debug)]
pub struct TapNamespace {
    name: String,
    queues: u32,
}

impl TapNamespace {
    /// Makes a namespace and its tap with `queues` queues (at least 1).
    pub fn create(queues: u32) -> Result<Self, Error> {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let name = format!("odonata-{}-{}", std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
        let queues = queues.max(1);
        ip(&["netns", "add", &name])?;
        // From here on a failure removes what was made (the drop).
        let ns = Self { name, queues };
        let mut tuntap = vec!["-n", &ns.name, "tuntap", "add", "dev", TAP, "mode", "tap"];
        if queues > 1 {
            tuntap.push("multi_queue");
        }
        let host = format!("{HOST_ADDRESS}/24");
        for args in [
            &["-n", &ns.name, "link", "set", "lo", "up"][..],
            &tuntap,
            &["-n", &ns.name, "addr", "add", &host, "dev", TAP],
            &["-n", &ns.name, "link", "set", TAP, "up"],
        ] {
            ip(args)?;
        }
        Ok(ns)
    }

    /// The namespace's name (`ip netns exec NAME ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tap's queues (the device's queue pairs).
    pub fn queues(&self) -> u32 {
        self.queues
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }
}

impl Drop for TapNamespace {
    fn drop(&mut self) {
        // The tap goes with the namespace.
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("odonata: {e}");
        }
    }
}

/// Whether a namespace of this name exists.
pub fn exists(name: &str) -> bool {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.split_whitespace().next() == Some(name)))
}

fn ip(args: &[&str]) -> Result<(), Error> {
    let what = format!("ip {}", args.join(" "));
    let out = Command::new("ip").args(args).output().map_err(Error::io(format!("cannot run {what}")))?;
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(Error::Io { what: format!("{what} failed (a tap network needs root)"), source: std::io::Error::other(why) })
}
