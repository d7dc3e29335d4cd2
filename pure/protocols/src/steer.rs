//! Which CPU's network stack a received frame belongs to, when each CPU
//! keeps its own (DragonFly's netisr dispatch; issue 30): the frame's
//! connection names it by the Toeplitz hash under the symmetric key
//! ([`crate::toeplitz`]), so a frame received and a frame sent on one
//! connection agree, and a device's RSS with the same key and table agrees
//! with software steering.
//!
//! - TCP: by the hash of addresses and ports (`ip_cpufn`'s 4-tuple);
//! - UDP: by the hash of the addresses alone, but a DHCP client's replies
//!   (to port 68) go home, where the DHCP client runs;
//! - ARP: to every CPU (each stack keeps its own neighbour cache, which
//!   learns only from the ARP frames it sees);
//! - ICMP, IPv4 fragments (whose later parts carry no ports) and other
//!   ethertypes: home.
//!
//! The frame is one [`crate::frame::check`] passed: its headers are whole.

use crate::frame::ETHERNET_HEADER;
use crate::toeplitz::{self, SYMMETRIC_KEY};

/// The CPU (or CPUs) a frame goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The CPU the hash names.
    Cpu(usize),
    /// Every CPU.
    All,
    /// The home CPU (which runs what exists once: DHCP, ping, reassembly).
    Home,
}

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const DHCP_CLIENT_PORT: u16 = 68;

/// Where `frame` goes among `cpus` CPUs.
pub fn owner(frame: &[u8], cpus: usize) -> Owner {
    match frame.get(12..14) {
        Some(t) if t == ETHERTYPE_ARP => return Owner::All,
        Some(t) if t == ETHERTYPE_IPV4 => {}
        _ => return Owner::Home,
    }
    let Some(ip) = frame.get(ETHERNET_HEADER..).filter(|p| p.len() >= 20) else { return Owner::Home };
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    let (src, dst) = ([ip[12], ip[13], ip[14], ip[15]], [ip[16], ip[17], ip[18], ip[19]]);
    let ports = ip.get(usize::from(ip[0] & 0x0f) * 4..).and_then(|s| s.get(..4));
    match (ip[9], ports) {
        _ if fragment => Owner::Home,
        (6, Some(p)) => {
            let (sport, dport) = (u16::from_be_bytes([p[0], p[1]]), u16::from_be_bytes([p[2], p[3]]));
            Owner::Cpu(toeplitz::cpu_of(toeplitz::ipv4_ports(&SYMMETRIC_KEY, src, dst, sport, dport), cpus))
        }
        (17, Some(p)) if u16::from_be_bytes([p[2], p[3]]) == DHCP_CLIENT_PORT => Owner::Home,
        (17, Some(_)) => Owner::Cpu(toeplitz::cpu_of(toeplitz::ipv4(&SYMMETRIC_KEY, src, dst), cpus)),
        _ => Owner::Home,
    }
}

/// The CPU that owns a TCP connection between `local:local_port` and
/// `remote:remote_port` (either direction), as [`owner`] steers its frames.
pub fn tcp_cpu(local: [u8; 4], local_port: u16, remote: [u8; 4], remote_port: u16, cpus: usize) -> usize {
    toeplitz::cpu_of(toeplitz::ipv4_ports(&SYMMETRIC_KEY, local, remote, local_port, remote_port), cpus)
}

/// The CPU that owns UDP traffic between `local` and `remote`.
pub fn udp_cpu(local: [u8; 4], remote: [u8; 4], cpus: usize) -> usize {
    toeplitz::cpu_of(toeplitz::ipv4(&SYMMETRIC_KEY, local, remote), cpus)
}
