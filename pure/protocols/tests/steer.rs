//! Steering received frames to CPUs: both directions of a connection to
//! one CPU, connections spread over the CPUs, UDP by addresses, ARP to
//! all, the rest home; no input makes it panic.

#![cfg(not(loom))]

mod common;
use common::{GUEST, HOST, ethernet, ipv4_from};
use protocols::steer::{Owner, owner, tcp_cpu, udp_cpu};

/// A TCP segment's first 20 bytes between the ports given (flags: ACK).
fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    let mut s = vec![0; 20];
    s[..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    s[12] = 0x50;
    s[13] = 0x10;
    s
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut s = vec![0; 8];
    s[..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    s[4..6].copy_from_slice(&8u16.to_be_bytes());
    s
}

fn frame(src: [u8; 4], dst: [u8; 4], protocol: u8, segment: &[u8]) -> Vec<u8> {
    ethernet(0x0800, &ipv4_from(src, dst, protocol, segment))
}

#[test]
fn both_directions_of_a_connection_go_to_one_cpu_and_connections_spread() {
    for cpus in [1usize, 2, 4] {
        let mut per_cpu = vec![0; cpus];
        for port in 40_000..41_000u16 {
            let inbound = owner(&frame(HOST, GUEST, 6, &tcp(port, 80)), cpus);
            let outbound = owner(&frame(GUEST, HOST, 6, &tcp(80, port)), cpus);
            assert_eq!(inbound, outbound, "port {port} at {cpus} CPUs");
            let Owner::Cpu(cpu) = inbound else { panic!("TCP goes to one CPU: {inbound:?}") };
            assert_eq!(cpu, tcp_cpu(GUEST, 80, HOST, port, cpus));
            per_cpu[cpu] += 1;
        }
        let fair = 1000 / cpus;
        assert!(per_cpu.iter().all(|&n| n > fair * 3 / 4 && n < fair * 5 / 4), "{cpus} CPUs: {per_cpu:?}");
    }
}

#[test]
fn udp_goes_by_addresses_and_dhcp_replies_go_home() {
    let cpu = udp_cpu(GUEST, [10, 0, 2, 3], 4);
    for port in [53u16, 5353, 40_000] {
        assert_eq!(owner(&frame([10, 0, 2, 3], GUEST, 17, &udp(port, 1234)), 4), Owner::Cpu(cpu));
        assert_eq!(owner(&frame(GUEST, [10, 0, 2, 3], 17, &udp(1234, port)), 4), Owner::Cpu(cpu));
    }
    assert_eq!(owner(&frame(HOST, [255; 4], 17, &udp(67, 68)), 4), Owner::Home);
}

#[test]
fn arp_goes_everywhere_and_the_rest_home() {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
    arp.resize(28, 0);
    assert_eq!(owner(&ethernet(0x0806, &arp), 4), Owner::All);
    assert_eq!(owner(&frame(HOST, GUEST, 1, &[8, 0, 0, 0, 0, 1, 0, 1]), 4), Owner::Home, "ICMP");
    assert_eq!(owner(&ethernet(0x86dd, &[0x60; 40]), 4), Owner::Home, "IPv6");
    // Fragments, first (more to come) and later (an offset), carry TCP.
    let mut first = ipv4_from(HOST, GUEST, 6, &tcp(40_000, 80));
    first[6] = 0x20;
    assert_eq!(owner(&ethernet(0x0800, &first), 4), Owner::Home, "a first fragment");
    let mut later = ipv4_from(HOST, GUEST, 6, &tcp(40_000, 80));
    later[7] = 3;
    assert_eq!(owner(&ethernet(0x0800, &later), 4), Owner::Home, "a later fragment");
}

#[test]
fn no_input_makes_steering_panic() {
    let whole = frame(HOST, GUEST, 6, &tcp(40_000, 80));
    for len in 0..whole.len() {
        let _ = owner(&whole[..len], 4);
    }
    for cpus in [0usize, 1, 3] {
        let _ = owner(&whole, cpus);
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2_000 {
        let mut f = whole.clone();
        for b in f.iter_mut().skip(12) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(5) {
                *b = x as u8;
            }
        }
        let _ = owner(&f, 4);
    }
}
