//! Frames built for the tests: Ethernet around an IPv4 packet with a
//! correct header checksum.

#![allow(dead_code)]

use protocols::frame::internet_checksum;

pub const GUEST: [u8; 4] = [10, 0, 2, 15];
pub const HOST: [u8; 4] = [10, 0, 2, 2];

pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x52, 0x55, 10, 0, 2, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet from `src` to `dst` carrying `segment`.
pub fn ipv4_from(src: [u8; 4], dst: [u8; 4], protocol: u8, segment: &[u8]) -> Vec<u8> {
    let total = (20 + segment.len()) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocol, 0, 0];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = internet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(segment);
    h
}
