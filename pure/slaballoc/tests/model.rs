//! A randomized model: four threads stand for four CPUs and allocate,
//! fill, check and free blocks of random sizes and alignments in random
//! order; a quarter of the blocks are handed to another thread and freed
//! there. Every block carries a pattern made from its address and a seed,
//! checked before it is freed, so an overlap or a block handed out twice
//! shows up as a broken pattern. At the end every block is back and the
//! heap's used bytes are zero, with no misuse reported.

#![cfg(not(loom))]

mod common;

use std::alloc::Layout;
use std::sync::mpsc;

use common::{HostHeap, become_cpu, heap};

const CPUS: usize = 4;
const OPS: usize = 60_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy)]
struct Block {
    addr: usize,
    layout: Layout,
    seed: u8,
}

fn pattern(addr: usize, seed: u8, i: usize) -> u8 {
    (addr >> 4) as u8 ^ seed ^ (i as u8).wrapping_mul(31)
}

fn fill(b: &Block) {
    // SAFETY: a live block of `layout.size()` bytes, ours.
    let bytes = unsafe { std::slice::from_raw_parts_mut(b.addr as *mut u8, b.layout.size()) };
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = pattern(b.addr, b.seed, i);
    }
}

fn check_and_free(h: &HostHeap, b: Block) {
    // SAFETY: as in `fill`.
    let bytes = unsafe { std::slice::from_raw_parts(b.addr as *const u8, b.layout.size()) };
    for (i, &byte) in bytes.iter().enumerate() {
        assert_eq!(byte, pattern(b.addr, b.seed, i), "block {:#x} ({:?}) byte {i} overwritten", b.addr, b.layout);
    }
    // SAFETY: we give the block up.
    unsafe { h.free(b.addr as *mut u8, b.layout) };
}

fn random_layout(rng: &mut Rng) -> Layout {
    let size = match rng.below(10) {
        0..=5 => 1 + rng.below(128),
        6..=8 => 1 + rng.below(4096),
        _ => 4097 + rng.below(30_000),
    } as usize;
    let max_shift = if rng.below(8) == 0 { 13 } else { 5 };
    let align = 1 << rng.below(max_shift);
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn random_sizes_orders_and_remote_frees_lose_nothing_and_corrupt_nothing() {
    let h = heap(256 << 20);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..CPUS).map(|_| mpsc::channel::<Block>()).unzip();
    std::thread::scope(|s| {
        for (cpu, inbox) in receivers.into_iter().enumerate() {
            let senders = senders.clone();
            s.spawn(move || {
                become_cpu(cpu, cpu as u64 + 1);
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((cpu as u64 + 1) * 0x1234_5678));
                let mut live: Vec<Block> = Vec::new();
                for op in 0..OPS {
                    while let Ok(b) = inbox.try_recv() {
                        check_and_free(h, b);
                    }
                    if live.len() < 500 && (live.is_empty() || rng.below(100) < 55) {
                        let layout = random_layout(&mut rng);
                        let addr = h.allocate(layout) as usize;
                        assert_eq!(addr % layout.align(), 0);
                        let b = Block { addr, layout, seed: rng.next() as u8 };
                        fill(&b);
                        live.push(b);
                    } else {
                        let b = live.swap_remove(rng.below(live.len() as u64) as usize);
                        if rng.below(4) == 0 {
                            let to = (cpu + 1 + rng.below(CPUS as u64 - 1) as usize) % CPUS;
                            senders[to].send(b).unwrap();
                        } else {
                            check_and_free(h, b);
                        }
                    }
                    if op % 1000 == 0 {
                        h.reclaim();
                    }
                }
                for b in live {
                    check_and_free(h, b);
                }
                drop(senders);
                // Frees still coming from the others.
                for b in inbox {
                    check_and_free(h, b);
                }
                h.reclaim();
            });
        }
        drop(senders);
    });
    // Each CPU took its remote frees home in its last reclaim, but a free
    // that arrived after it waits: take them now, as each CPU's loop would.
    for cpu in 0..CPUS {
        become_cpu(cpu, 0);
        h.reclaim();
    }
    let s = h.stats();
    assert_eq!(h.platform().take_reports(), Vec::<String>::new());
    assert_eq!(s.in_transit(), 0);
    assert_eq!(s.used(), 0, "{s:?}");
    let remote: u64 = s.cpus.iter().map(|c| c.remote_frees).sum();
    println!("{} allocations, {remote} freed on another CPU, {} slabs held at the end", s.allocations(), s.pages.slabs);
    assert!(remote > 1000);
}
