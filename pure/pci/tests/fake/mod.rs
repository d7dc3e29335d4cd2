//! A fake configuration space: functions as 256-byte arrays, BARs that
//! answer the sizing probe like hardware (only their size mask sticks),
//! and a log of what the command register held at each BAR write.

use std::cell::RefCell;
use std::collections::HashMap;

use pci::{Bdf, ConfigAccess};

#[derive(Clone)]
pub struct FakeFunction {
    pub bytes: [u8; 256],
    /// Per BAR register: which bits are writable (0: not implemented).
    pub bar_masks: [u32; 6],
}

impl FakeFunction {
    /// A function with ids, class and header type.
    pub fn new(vendor: u16, device: u16, class: u8, subclass: u8, header_type: u8) -> Self {
        let mut f = Self { bytes: [0; 256], bar_masks: [0; 6] };
        f.set32(0x00, u32::from(vendor) | (u32::from(device) << 16));
        f.set32(0x08, (u32::from(class) << 24) | (u32::from(subclass) << 16) | 0x01);
        f.set32(0x0c, u32::from(header_type) << 16);
        f
    }

    pub fn set32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn get32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }

    /// A BAR at register `i` with `flags` in its low bits (I/O, type,
    /// prefetchable), `size` bytes (a power of two), assigned `address`.
    pub fn bar(mut self, i: usize, flags: u32, size: u64, address: u64) -> Self {
        let low_bits = if flags & 1 != 0 { 0b11 } else { 0xf };
        let mask = !(size - 1);
        self.bar_masks[i] = (mask as u32) & !low_bits;
        self.set32(0x10 + 4 * i, (address as u32 & !low_bits) | flags);
        if flags & 0b110 == 0b100 {
            self.bar_masks[i + 1] = (mask >> 32) as u32;
            self.set32(0x10 + 4 * (i + 1), (address >> 32) as u32);
        }
        self
    }

    /// A capability list: (id, offset, next) entries, with the status bit.
    pub fn capabilities(mut self, first: u8, list: &[(u8, u8, u8)]) -> Self {
        self.bytes[0x06] |= 1 << 4;
        self.bytes[0x34] = first;
        for &(id, at, next) in list {
            self.bytes[usize::from(at)] = id;
            self.bytes[usize::from(at) + 1] = next;
        }
        self
    }

    pub fn bridge_to(mut self, secondary: u8, subordinate: u8) -> Self {
        self.set32(0x18, (u32::from(secondary) << 8) | (u32::from(subordinate) << 16));
        self
    }
}

#[derive(Default)]
pub struct FakeSpace {
    pub functions: RefCell<HashMap<Bdf, FakeFunction>>,
    /// (function, BAR register offset, command register) at each all-ones BAR write.
    pub probes: RefCell<Vec<(Bdf, u16, u16)>>,
}

pub fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
    Bdf::new(0, bus, device, function).unwrap()
}

impl FakeSpace {
    pub fn with(self, at: Bdf, f: FakeFunction) -> Self {
        self.functions.borrow_mut().insert(at, f);
        self
    }
}

impl ConfigAccess for FakeSpace {
    fn read32(&self, at: Bdf, offset: u16) -> u32 {
        self.functions.borrow().get(&at).map_or(u32::MAX, |f| f.get32(usize::from(offset)))
    }

    fn write32(&self, at: Bdf, offset: u16, value: u32) {
        let mut functions = self.functions.borrow_mut();
        let Some(f) = functions.get_mut(&at) else { return };
        let o = usize::from(offset);
        if (0x10..0x28).contains(&o) {
            let i = (o - 0x10) / 4;
            if value == u32::MAX {
                self.probes.borrow_mut().push((at, offset, u16::from_le_bytes([f.bytes[4], f.bytes[5]])));
            }
            let old = f.get32(o);
            let fixed = !f.bar_masks[i];
            f.set32(o, (old & fixed) | (value & f.bar_masks[i]));
            return;
        }
        f.set32(o, value);
    }

    fn write16(&self, at: Bdf, offset: u16, value: u16) {
        let mut functions = self.functions.borrow_mut();
        let Some(f) = functions.get_mut(&at) else { return };
        let o = usize::from(offset);
        f.bytes[o..o + 2].copy_from_slice(&value.to_le_bytes());
    }
}
