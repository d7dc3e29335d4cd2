//! Which PCI ids are which virtio device (virtio 1.2, 4.1.2.1).

use virtio::pci::{device_type, matches, modern_id, transitional_id};

#[test]
fn both_ids_match_each_type() {
    let cases = [
        (device_type::NET, 0x1000, 0x1041),
        (device_type::BLOCK, 0x1001, 0x1042),
        (device_type::CONSOLE, 0x1003, 0x1043),
        (device_type::ENTROPY, 0x1005, 0x1044),
    ];
    for (t, transitional, modern) in cases {
        assert_eq!(transitional_id(t), Some(transitional));
        assert_eq!(modern_id(t), modern);
        assert!(matches(0x1af4, transitional, t), "type {t}: transitional {transitional:#x}");
        assert!(matches(0x1af4, modern, t), "type {t}: modern {modern:#x}");
    }
}

#[test]
fn other_types_vendors_and_ids_do_not_match() {
    assert!(!matches(0x1af4, 0x1042, device_type::ENTROPY), "a block device is not an entropy source");
    assert!(!matches(0x1af4, 0x1001, device_type::NET));
    assert!(!matches(0x8086, 0x1044, device_type::ENTROPY), "another vendor");
    // GPU (16) has no transitional id: only the modern one matches.
    assert_eq!(transitional_id(16), None);
    assert!(matches(0x1af4, 0x1050, 16));
    assert!(!matches(0x1af4, 0x1010, 16));
}
