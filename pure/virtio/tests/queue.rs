//! The split virtqueue against a simulated virtio-blk device that shares
//! one "physical" memory with it: requests made of a header, data and a
//! status byte are read and written by the device, completed in an order
//! the device chooses (reversed here), matched by head, and their
//! descriptors reused; a full queue refuses without losing anything; a
//! device that returns nonsense is reported, not believed.

use std::cell::RefCell;
use std::rc::Rc;

use virtio::SharedMemory;
use virtio::blk::{self, RequestType, Status};
use virtio::queue::{Buffer, DeviceError, Layout, QueueFull, SplitQueue};

/// "Physical" memory: the queue at 0, buffers above it.
#[derive(Clone)]
struct Memory(Rc<RefCell<Vec<u8>>>);

/// A window of it, as the driver's `SharedMemory`.
struct Window {
    memory: Memory,
    base: usize,
    len: usize,
}

impl Memory {
    fn new(len: usize) -> Self {
        Self(Rc::new(RefCell::new(vec![0; len])))
    }
    fn read(&self, at: usize, n: usize) -> Vec<u8> {
        self.0.borrow()[at..at + n].to_vec()
    }
    fn write(&self, at: usize, bytes: &[u8]) {
        self.0.borrow_mut()[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.read(at, 2).try_into().unwrap())
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.read(at, 4).try_into().unwrap())
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.read(at, 8).try_into().unwrap())
    }
}

impl SharedMemory for Window {
    fn phys(&self) -> u64 {
        self.base as u64
    }
    fn len(&self) -> usize {
        self.len
    }
    fn read_u16(&self, o: usize) -> u16 {
        self.memory.u16(self.base + o)
    }
    fn write_u16(&self, o: usize, v: u16) {
        self.memory.write(self.base + o, &v.to_le_bytes());
    }
    fn read_u32(&self, o: usize) -> u32 {
        self.memory.u32(self.base + o)
    }
    fn write_u32(&self, o: usize, v: u32) {
        self.memory.write(self.base + o, &v.to_le_bytes());
    }
    fn write_u64(&self, o: usize, v: u64) {
        self.memory.write(self.base + o, &v.to_le_bytes());
    }
}

/// The device side: a disk of sectors, reading the queue as the spec says.
struct Device {
    memory: Memory,
    layout: Layout,
    base: usize,
    disk: Vec<u8>,
    seen_avail: u16,
    used_idx: u16,
}

impl Device {
    /// Takes every newly available chain, performs it, and completes them
    /// in reverse order of arrival.
    fn run(&mut self) -> usize {
        let m = self.memory.clone();
        let avail = self.base + self.layout.available;
        let idx = m.u16(avail + 2);
        let mut heads = Vec::new();
        while self.seen_avail != idx {
            heads.push(m.u16(avail + 4 + 2 * usize::from(self.seen_avail % self.layout.size)));
            self.seen_avail = self.seen_avail.wrapping_add(1);
        }
        let done = heads.len();
        for head in heads.into_iter().rev() {
            let written = self.perform(head);
            let used = self.base + self.layout.used;
            let slot = used + 4 + 8 * usize::from(self.used_idx % self.layout.size);
            m.write(slot, &u32::from(head).to_le_bytes());
            m.write(slot + 4, &written.to_le_bytes());
            self.used_idx = self.used_idx.wrapping_add(1);
            m.write(used + 2, &self.used_idx.to_le_bytes());
        }
        done
    }

    fn chain(&self, head: u16) -> Vec<(usize, usize, bool)> {
        let m = &self.memory;
        let mut out = Vec::new();
        let mut at = head;
        loop {
            let d = self.base + self.layout.descriptors + 16 * usize::from(at);
            let (addr, len, flags, next) = (m.u64(d), m.u32(d + 8), m.u16(d + 12), m.u16(d + 14));
            out.push((addr as usize, len as usize, flags & 2 != 0));
            if flags & 1 == 0 {
                return out;
            }
            at = next;
        }
    }

    fn perform(&mut self, head: u16) -> u32 {
        let chain = self.chain(head);
        let (h, _, header_writable) = chain[0];
        assert!(!header_writable, "the header is the device's to read");
        let kind = self.memory.u32(h);
        let sector = self.memory.u64(h + 8) as usize;
        let (status, _, status_writable) = *chain.last().unwrap();
        assert!(status_writable, "the status byte is the device's to write");
        let mut at = sector * blk::SECTOR as usize;
        let mut written = 1;
        let mut result = 0u8;
        for &(addr, len, writable) in &chain[1..chain.len() - 1] {
            if at + len > self.disk.len() {
                result = 1;
                break;
            }
            match kind {
                0 => {
                    assert!(writable, "a read's data is device-writable");
                    self.memory.write(addr, &self.disk[at..at + len]);
                    written += len as u32;
                }
                1 => {
                    assert!(!writable, "a write's data is device-readable");
                    let data = self.memory.read(addr, len);
                    self.disk[at..at + len].copy_from_slice(&data);
                }
                _ => result = 2,
            }
            at += len;
        }
        self.memory.write(status, &[result]);
        written
    }
}

const QUEUE: usize = 0;
const BUFFERS: usize = 0x10000;

fn setup(size: u16) -> (SplitQueue<Window>, Device, Memory) {
    let memory = Memory::new(0x100000);
    let layout = Layout::new(size).unwrap();
    let queue = SplitQueue::new(Window { memory: memory.clone(), base: QUEUE, len: layout.total }, layout);
    let disk = (0..64 * 512).map(|i| (i / 512) as u8 ^ (i % 251) as u8).collect();
    let device = Device { memory: memory.clone(), layout, base: QUEUE, disk, seen_avail: 0, used_idx: 0 };
    (queue, device, memory)
}

/// A request's buffers at `slot`: header, data, status.
fn request(memory: &Memory, slot: usize, kind: RequestType, sector: u64, data: &[u8]) -> Vec<Buffer> {
    let base = BUFFERS + slot * 0x2000;
    memory.write(base, &blk::header(kind, sector));
    memory.write(base + 0x100, data);
    memory.write(base + 0x1fff, &[0xff]);
    vec![
        Buffer { addr: base as u64, len: 16, device_writes: false },
        Buffer { addr: (base + 0x100) as u64, len: data.len() as u32, device_writes: kind == RequestType::In },
        Buffer { addr: (base + 0x1fff) as u64, len: 1, device_writes: true },
    ]
}

#[test]
fn layout_follows_the_spec_alignment() {
    let l = Layout::new(256).unwrap();
    assert_eq!((l.descriptors, l.available, l.used), (0, 4096, 4096 + 6 + 512 + 2));
    assert_eq!(l.used % 4, 0);
    assert_eq!(l.total, l.used + 6 + 8 * 256);
    assert_eq!(Layout::new(100), None);
    assert_eq!(Layout::new(0), None);
}

#[test]
fn reads_and_writes_complete_out_of_order_and_are_matched_by_head() {
    let (mut q, mut dev, mem) = setup(16);
    let mut tags = Vec::new();
    for (slot, sector) in [(0usize, 3u64), (1, 7), (2, 11)] {
        let head = q.add(&request(&mem, slot, RequestType::In, sector, &[0; 1024])).unwrap();
        tags.push((head, slot, sector));
    }
    assert_eq!(q.free(), 16 - 9);
    assert!(q.should_notify());
    assert_eq!(dev.run(), 3);
    let mut completed = Vec::new();
    while let Some(u) = q.pop_used().unwrap() {
        completed.push(u.head);
        let (_, slot, sector) = *tags.iter().find(|t| t.0 == u.head).expect("a head in flight");
        let base = BUFFERS + slot * 0x2000;
        assert_eq!(Status::of(mem.read(base + 0x1fff, 1)[0]), Status::Ok);
        let at = sector as usize * 512;
        assert_eq!(mem.read(base + 0x100, 1024), dev.disk[at..at + 1024], "sector {sector}'s data");
        assert_eq!(u.len, 1024 + 1, "data and status written");
    }
    let issued: Vec<u16> = tags.iter().map(|t| t.0).collect();
    assert_eq!(completed, issued.iter().rev().copied().collect::<Vec<_>>(), "the device's order, not ours");
    assert_eq!(q.free(), 16);
    assert_eq!(q.in_flight(), 0);
    // A write lands on the disk.
    q.add(&request(&mem, 0, RequestType::Out, 5, &[0xab; 512])).unwrap();
    dev.run();
    assert!(q.pop_used().unwrap().is_some());
    assert_eq!(&dev.disk[5 * 512..6 * 512], &[0xab; 512][..]);
}

#[test]
fn descriptors_are_reused_for_many_laps_of_the_rings() {
    let (mut q, mut dev, mem) = setup(4);
    for round in 0..1000u64 {
        let sector = round % 60;
        let head = q.add(&request(&mem, 0, RequestType::In, sector, &[0; 512])).unwrap();
        dev.run();
        let used = q.pop_used().unwrap().expect("completed");
        assert_eq!(used.head, head);
        let at = sector as usize * 512;
        assert_eq!(mem.read(BUFFERS + 0x100, 512), dev.disk[at..at + 512], "round {round}");
    }
    assert_eq!(q.free(), 4);
}

#[test]
fn a_full_queue_refuses_and_loses_nothing() {
    let (mut q, mut dev, mem) = setup(4);
    q.add(&request(&mem, 0, RequestType::In, 1, &[0; 512])).unwrap();
    assert_eq!(q.add(&request(&mem, 1, RequestType::In, 2, &[0; 512])), Err(QueueFull { needed: 3, free: 1 }));
    dev.run();
    assert!(q.pop_used().unwrap().is_some());
    assert!(q.pop_used().unwrap().is_none());
    q.add(&request(&mem, 1, RequestType::In, 2, &[0; 512])).unwrap();
    dev.run();
    assert!(q.pop_used().unwrap().is_some());
}

#[test]
fn a_device_returning_a_head_not_in_flight_is_reported() {
    let (mut q, _dev, mem) = setup(4);
    let head = q.add(&request(&mem, 0, RequestType::In, 1, &[0; 512])).unwrap();
    let used = QUEUE + q.layout().used;
    // The device claims descriptor 3 (not a head) completed.
    mem.write(used + 4, &3u32.to_le_bytes());
    mem.write(used + 2, &1u16.to_le_bytes());
    assert_eq!(q.pop_used(), Err(DeviceError::BadHead(3)));
    assert_ne!(head, 3);
    // And one whose used index jumps by more than the queue holds.
    mem.write(used + 2, &9u16.to_le_bytes());
    assert_eq!(q.pop_used(), Err(DeviceError::UsedRanAhead { used: 9, last: 0 }));
}

#[test]
fn the_device_can_ask_not_to_be_notified() {
    let (mut q, _dev, mem) = setup(4);
    q.add(&request(&mem, 0, RequestType::Flush, 0, &[])).ok();
    assert!(q.should_notify());
    mem.write(QUEUE + q.layout().used, &1u16.to_le_bytes());
    assert!(!q.should_notify());
}

#[test]
fn the_driver_can_ask_for_no_interrupts() {
    let (mut q, _dev, mem) = setup(4);
    let flags = |mem: &Memory| mem.u16(QUEUE + q_layout(4).available);
    assert_eq!(flags(&mem), 0, "a new queue asks for interrupts");
    q.set_interrupts(false);
    assert_eq!(flags(&mem), 1, "VIRTQ_AVAIL_F_NO_INTERRUPT");
    q.add(&request(&mem, 0, RequestType::Flush, 0, &[])).ok();
    assert_eq!(flags(&mem), 1, "adding leaves the flag alone");
    q.set_interrupts(true);
    assert_eq!(flags(&mem), 0);
}

fn q_layout(size: u16) -> Layout {
    Layout::new(size).unwrap()
}

#[test]
fn virtio_capabilities_decode_and_short_ones_are_refused() {
    use virtio::pci::{CfgType, VirtioCap};
    // cap_vndr 0x09, cap_next 0x40, cap_len, cfg_type.
    let word0 = |len: u32, cfg_type: u32| 0x09 | (0x40 << 8) | (len << 16) | (cfg_type << 24);
    let words = [word0(20, 2), 4, 0x3000, 0x1000, 4];
    let cap = VirtioCap::decode(|n| words[usize::from(n)]).unwrap();
    assert_eq!(cap, VirtioCap { cfg_type: CfgType::Notify, bar: 4, offset: 0x3000, length: 0x1000, notify_off_multiplier: 4 });
    // A notify capability of 16 bytes has no multiplier: refused.
    let short = [word0(16, 2), 4, 0x3000, 0x1000];
    assert_eq!(VirtioCap::decode(|n| short.get(usize::from(n)).copied().unwrap_or(0)), None);
    let bad_bar = [word0(16, 1), 7, 0, 0x38];
    assert_eq!(VirtioCap::decode(|n| bad_bar[usize::from(n)]), None);
}
