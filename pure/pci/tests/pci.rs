//! The configuration-space logic against fake configuration spaces:
//! enumeration behind bridges and across multifunction devices, BAR sizing
//! with decoding off, capability walks that must end on malformed lists,
//! and the MSI and MSI-X layouts.

mod fake;

use fake::{FakeFunction, FakeSpace, bdf};
use pci::bar::{BarError, Space};
use pci::capability::{self, Kind, WalkError};
use pci::enumerate::{self, Problem};
use pci::header::Header;
use pci::msi::{self, Msi, MsiX};

fn machine() -> FakeSpace {
    FakeSpace::default()
        .with(bdf(0, 0, 0), FakeFunction::new(0x8086, 0x29c0, 0x06, 0x00, 0))
        // A multifunction device with functions 0 and 3.
        .with(bdf(0, 1, 0), FakeFunction::new(0x8086, 0x2918, 0x06, 0x01, 0x80))
        .with(bdf(0, 1, 3), FakeFunction::new(0x8086, 0x2930, 0x0c, 0x05, 0))
        // Function 5 of a device that is not multifunction: never read.
        .with(bdf(0, 3, 0), FakeFunction::new(0x1af4, 0x1042, 0x01, 0x00, 0))
        .with(bdf(0, 3, 5), FakeFunction::new(0xdead, 0xbeef, 0x01, 0x00, 0))
        // A bridge to bus 1, with a device behind it, and a bridge behind that to bus 2.
        .with(bdf(0, 4, 0), FakeFunction::new(0x1b36, 0x0001, 0x06, 0x04, 1).bridge_to(1, 2))
        .with(bdf(1, 0, 0), FakeFunction::new(0x1234, 0x11e8, 0x00, 0xff, 0))
        .with(bdf(1, 1, 0), FakeFunction::new(0x1b36, 0x0001, 0x06, 0x04, 1).bridge_to(2, 2))
        .with(bdf(2, 5, 0), FakeFunction::new(0x8086, 0x100e, 0x02, 0x00, 0))
        // A bridge the firmware left unassigned, and one pointing back at bus 1.
        .with(bdf(0, 6, 0), FakeFunction::new(0x1b36, 0x0001, 0x06, 0x04, 1).bridge_to(0, 0))
        .with(bdf(0, 7, 0), FakeFunction::new(0x1b36, 0x0001, 0x06, 0x04, 1).bridge_to(1, 1))
}

#[test]
fn every_function_behind_bridges_and_multifunction_devices_is_found_once() {
    let found = enumerate::scan(&machine(), 0, 0..=255);
    let addresses: Vec<String> = found.iter().map(|f| f.bdf().to_string()).collect();
    assert_eq!(addresses, ["00:00.0", "00:01.0", "00:01.3", "00:03.0", "00:04.0", "01:00.0", "01:01.0", "02:05.0", "00:06.0", "00:07.0"]);
    let problems = |at: &str| found.iter().find(|f| f.bdf().to_string() == at).unwrap().problems.clone();
    assert_eq!(problems("00:06.0"), [Problem::BridgeNotFollowed { secondary: 0 }], "unassigned");
    assert_eq!(problems("00:07.0"), [Problem::BridgeNotFollowed { secondary: 1 }], "bus 1 was scanned already");
    let nic = &found[7];
    assert_eq!((nic.header.vendor, nic.header.device, nic.header.class), (0x8086, 0x100e, 0x02));
}

#[test]
fn the_bus_range_is_respected() {
    let found = enumerate::scan(&machine(), 0, 0..=1);
    assert!(found.iter().all(|f| f.bdf().bus <= 1), "bus 2 is outside the range");
    let bridge = found.iter().find(|f| f.bdf().to_string() == "01:01.0").unwrap();
    assert_eq!(bridge.problems, [Problem::BridgeNotFollowed { secondary: 2 }]);
}

#[test]
fn an_absent_function_reads_all_ones_and_is_skipped() {
    let space = FakeSpace::default();
    assert_eq!(Header::read(&space, bdf(0, 0, 0)), None);
    assert!(enumerate::scan(&space, 0, 0..=255).is_empty());
}

#[test]
fn bars_are_decoded_and_sized_with_decoding_off_and_everything_restored() {
    let f = FakeFunction::new(0x1af4, 0x1000, 0x02, 0x00, 0)
        .bar(0, 0b1, 32, 0xc040) // I/O, 32 ports
        .bar(1, 0b0000, 4096, 0xfebd_1000) // 32-bit memory, 4 KiB
        .bar(4, 0b1100, 16 << 20, 0x8_0000_0000); // 64-bit prefetchable, 16 MiB, uses BAR5
    let mut f = f;
    f.bytes[4] = 0b111; // I/O + memory decoding + bus master
    let before = f.clone();
    let space = FakeSpace::default().with(bdf(0, 3, 0), f);
    let found = enumerate::scan(&space, 0, 0..=0);
    let bars = &found[0].bars;
    assert_eq!(bars.len(), 3);
    assert_eq!((bars[0].index, bars[0].space, bars[0].address, bars[0].size), (0, Space::Io, 0xc040, 32));
    assert_eq!((bars[1].index, bars[1].space, bars[1].address, bars[1].size), (1, Space::Memory32, 0xfebd_1000, 4096));
    assert_eq!(
        (bars[2].index, bars[2].space, bars[2].prefetchable, bars[2].address, bars[2].size),
        (4, Space::Memory64, true, 0x8_0000_0000, 16 << 20)
    );
    assert_eq!(bars[2].to_string(), "BAR4: 64-bit prefetchable memory at 0x800000000, 16777216 bytes");
    for &(_, at, command) in space.probes.borrow().iter() {
        assert_eq!(command & 0b11, 0, "BAR at {at:#x} probed with decoding on");
    }
    assert_eq!(space.functions.borrow()[&bdf(0, 3, 0)].bytes, before.bytes, "BARs and command restored");
}

#[test]
fn a_64_bit_bar_in_the_last_register_is_reported() {
    let mut f = FakeFunction::new(0x1234, 0x5678, 0x02, 0x00, 0);
    f.bar_masks[5] = 0xffff_f000;
    f.set32(0x24, 0b100);
    let space = FakeSpace::default().with(bdf(0, 0, 0), f);
    let found = enumerate::scan(&space, 0, 0..=0);
    assert!(found[0].bars.is_empty());
    assert_eq!(found[0].problems, [Problem::Bar(BarError::Truncated64(5))]);
}

fn with_capabilities(first: u8, list: &[(u8, u8, u8)]) -> (FakeSpace, Header) {
    let f = FakeFunction::new(0x1af4, 0x1041, 0x02, 0x00, 0).capabilities(first, list);
    let space = FakeSpace::default().with(bdf(0, 2, 0), f);
    let header = Header::read(&space, bdf(0, 2, 0)).unwrap();
    (space, header)
}

#[test]
fn capabilities_are_walked_in_order() {
    let (space, header) = with_capabilities(0x40, &[(0x05, 0x40, 0x50), (0x11, 0x50, 0x62), (0x09, 0x60, 0x70), (0x42, 0x70, 0)]);
    let (caps, error) = capability::walk(&space, &header);
    assert_eq!(error, None);
    let kinds: Vec<_> = caps.iter().map(|c| (c.kind, c.offset)).collect();
    // 0x62: the reserved low bits of a pointer are ignored.
    assert_eq!(kinds, [(Kind::Msi, 0x40), (Kind::MsiX, 0x50), (Kind::Vendor, 0x60), (Kind::Unknown(0x42), 0x70)]);
}

#[test]
fn a_capability_loop_ends_the_walk_with_an_error() {
    let (space, header) = with_capabilities(0x40, &[(0x05, 0x40, 0x50), (0x10, 0x50, 0x40)]);
    let (caps, error) = capability::walk(&space, &header);
    assert_eq!(caps.len(), 2, "what came before the loop is kept");
    assert_eq!(error, Some(WalkError::Loop { from: 0x50, to: 0x40 }));
}

#[test]
fn a_pointer_into_the_header_ends_the_walk_with_an_error() {
    let (space, header) = with_capabilities(0x40, &[(0x05, 0x40, 0x20)]);
    assert_eq!(capability::walk(&space, &header).1, Some(WalkError::IntoHeader { from: 0x40, to: 0x20 }));
    let (space, header) = with_capabilities(0x3c, &[]);
    assert_eq!(capability::walk(&space, &header), (vec![], Some(WalkError::IntoHeader { from: 0, to: 0x3c })));
}

#[test]
fn no_capability_bit_means_no_walk() {
    let mut f = FakeFunction::new(0x1af4, 0x1041, 0x02, 0x00, 0);
    f.bytes[0x34] = 0x40; // a pointer, but the status bit is clear
    let space = FakeSpace::default().with(bdf(0, 0, 0), f);
    let header = Header::read(&space, bdf(0, 0, 0)).unwrap();
    assert_eq!(capability::walk(&space, &header), (vec![], None));
}

#[test]
fn every_offset_of_a_long_chain_is_bounded() {
    // A chain through every dword from 0x40 to 0xfc: 48 entries, then a
    // 49th pointer back to the start: a loop, found without running away.
    let list: Vec<(u8, u8, u8)> = (0..48u8).map(|i| (0x09, 0x40 + 4 * i, if i == 47 { 0x40 } else { 0x44 + 4 * i })).collect();
    let (space, header) = with_capabilities(0x40, &list);
    let (caps, error) = capability::walk(&space, &header);
    assert_eq!(caps.len(), 48);
    assert_eq!(error, Some(WalkError::Loop { from: 0xfc, to: 0x40 }));
}

#[test]
fn msi_messages_name_the_apic_and_the_vector() {
    assert_eq!(msi::message(3, 0x70), Ok(msi::Message { address: 0xfee0_3000, data: 0x70 }));
    assert_eq!(msi::message(300, 0x70), Err(msi::DestinationTooLarge(300)));
}

#[test]
fn msi_is_programmed_enabled_and_masked_where_the_layout_says() {
    let (space, _) = with_capabilities(0x40, &[(0x05, 0x40, 0)]);
    let at = bdf(0, 2, 0);
    // 64-bit capable, per-vector masking, asks for 4 vectors.
    space.functions.borrow_mut().get_mut(&at).unwrap().bytes[0x42..0x44]
        .copy_from_slice(&((1u16 << 7) | (1 << 8) | (2 << 1)).to_le_bytes());
    let cap = Msi::read(&space, at, 0x40);
    assert!(cap.address_64 && cap.per_vector_masking);
    assert_eq!(cap.vectors_requested, 4);
    cap.program(&space, at, msi::message(2, 0x71).unwrap()).unwrap();
    cap.set_enabled(&space, at, true);
    assert!(cap.set_masked(&space, at, true));
    let f = space.functions.borrow()[&at].clone();
    assert_eq!(f.get32(0x44), 0xfee0_2000);
    assert_eq!(f.get32(0x48), 0);
    assert_eq!(f.get32(0x4c) & 0xffff, 0x71);
    assert_eq!(f.get32(0x50) & 1, 1, "vector 0 masked");
    let control = u16::from_le_bytes([f.bytes[0x42], f.bytes[0x43]]);
    assert_eq!(control & 1, 1, "enabled");
    assert_eq!(control & (0b111 << 4), 0, "one vector enabled");
    assert_eq!(cap.pending(&space, at), Some(false));
}

#[test]
fn msi_without_masking_says_so() {
    let (space, _) = with_capabilities(0x40, &[(0x05, 0x40, 0)]);
    let at = bdf(0, 2, 0);
    let cap = Msi::read(&space, at, 0x40);
    assert!(!cap.address_64 && !cap.per_vector_masking);
    assert!(!cap.set_masked(&space, at, true));
    assert_eq!(cap.pending(&space, at), None);
    cap.program(&space, at, msi::message(1, 0x72).unwrap()).unwrap();
    assert_eq!(space.functions.borrow()[&at].get32(0x48) & 0xffff, 0x72, "32-bit layout: data at +8");
}

#[test]
fn msix_table_and_pba_are_located_in_their_bars() {
    let (space, _) = with_capabilities(0x40, &[(0x11, 0x40, 0)]);
    let at = bdf(0, 2, 0);
    {
        let mut functions = space.functions.borrow_mut();
        let f = functions.get_mut(&at).unwrap();
        f.bytes[0x42..0x44].copy_from_slice(&(4u16 | (1 << 14)).to_le_bytes()); // 5 entries, function masked
        f.set32(0x44, 0x2000 | 1); // table in BAR1 at 0x2000
        f.set32(0x48, 0x3800 | 1); // PBA in BAR1 at 0x3800
    }
    let cap = MsiX::read(&space, at, 0x40);
    assert_eq!((cap.table_size, cap.table_bar, cap.table_offset, cap.pba_bar, cap.pba_offset), (5, 1, 0x2000, 1, 0x3800));
    assert_eq!(cap.entry_offset(4), Some(0x2040));
    assert_eq!(cap.entry_offset(5), None);
    assert_eq!(cap.pending_bit(4), Some((0x3800, 4)));
    cap.set_enabled(&space, at, true);
    let control = u16::from_le_bytes([space.functions.borrow()[&at].bytes[0x42], space.functions.borrow()[&at].bytes[0x43]]);
    assert_eq!(control >> 14, 0b10, "enabled, function mask cleared");
}
