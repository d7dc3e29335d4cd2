//! Host benchmark: the per-CPU heap against talc behind a spin lock (the
//! kernel heap before it), the system allocator (glibc) and mimalloc, in
//! one run, with threads standing for CPUs. This machine has 2 cores: 1
//! and 2 threads count; 4 are printed, marked oversubscribed.
//!
//! Workloads: alloc+free pairs of small mixed sizes on each thread; a
//! producer thread allocating and a consumer thread freeing; a larson-like
//! run where threads replace random blocks and trade their blocks.
//!
//! Run: `cargo bench -p slaballoc --bench alloc`

#[path = "../tests/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::{Barrier, Mutex, mpsc};
use std::time::Instant;

use slaballoc::TalcBacking;

trait Contender: Sync {
    fn enter(&self, _cpu: usize) {}
    /// What a CPU's loop does between tasks (sends batched remote frees).
    fn between_tasks(&self) {}
    fn alloc(&self, l: Layout) -> *mut u8;
    fn free(&self, p: *mut u8, l: Layout);
}

/// A contender's workloads, each compiled for it (its calls are direct,
/// as a global allocator's are), behind one virtual call per run.
trait Run: Sync {
    fn name(&self) -> &'static str;
    fn pairs(&self, threads: usize, per_thread: usize) -> f64;
    fn producer_consumer(&self, blocks: usize) -> f64;
    fn larson(&self, threads: usize, steps: usize) -> f64;
}

trait Named {
    const NAME: &'static str;
}

impl<C: Contender + Named> Run for C {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn pairs(&self, threads: usize, per_thread: usize) -> f64 {
        pairs(self, threads, per_thread)
    }
    fn producer_consumer(&self, blocks: usize) -> f64 {
        producer_consumer(self, blocks)
    }
    fn larson(&self, threads: usize, steps: usize) -> f64 {
        larson(self, threads, steps)
    }
}

struct Ours(&'static common::HostHeap);
struct TalcLocked(&'static TalcBacking);
struct Sys;
struct Mi(mimalloc::MiMalloc);

impl Named for Ours {
    const NAME: &'static str = "per-CPU slab";
}

impl Contender for Ours {
    fn enter(&self, cpu: usize) {
        common::become_cpu(cpu, 0);
    }
    fn between_tasks(&self) {
        self.0.reclaim();
    }
    fn alloc(&self, l: Layout) -> *mut u8 {
        self.0.allocate(l)
    }
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: the workloads free each block once, with its layout.
        unsafe { self.0.free(p, l) }
    }
}

impl Named for TalcLocked {
    const NAME: &'static str = "talc + spin lock";
}

impl Contender for TalcLocked {
    fn alloc(&self, l: Layout) -> *mut u8 {
        slaballoc::Backing::alloc(self.0, l)
    }
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { slaballoc::Backing::dealloc(self.0, p, l) }
    }
}

impl Named for Sys {
    const NAME: &'static str = "system (glibc)";
}

impl Contender for Sys {
    fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero sizes only.
        unsafe { System.alloc(l) }
    }
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
}

impl Named for Mi {
    const NAME: &'static str = "mimalloc";
}

impl Contender for Mi {
    fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero sizes only.
        unsafe { self.0.alloc(l) }
    }
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { self.0.dealloc(p, l) }
    }
}

const SIZES: [usize; 8] = [16, 24, 32, 48, 64, 96, 128, 256];

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Each of `threads` threads: batches of 16 allocations of mixed small
/// sizes, each touched, then freed in reverse. Returns pairs per second.
fn pairs<C: Contender>(c: &C, threads: usize, per_thread: usize) -> f64 {
    let barrier = Barrier::new(threads + 1);
    let start = std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                c.enter(t);
                let mut batch = [std::ptr::null_mut::<u8>(); 16];
                barrier.wait();
                for round in 0..per_thread / 16 {
                    for (i, slot) in batch.iter_mut().enumerate() {
                        let p = c.alloc(layout(SIZES[(round + i) % 8]));
                        // SAFETY: a fresh block of at least 16 bytes.
                        unsafe { p.write(i as u8) };
                        *slot = p;
                    }
                    for (i, &p) in batch.iter().enumerate().rev() {
                        c.free(black_box(p), layout(SIZES[(round + i) % 8]));
                    }
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

/// One thread allocates 64-byte blocks, another frees them, in batches of
/// 256 handed over a bounded channel. Returns blocks per second.
fn producer_consumer<C: Contender>(c: &C, blocks: usize) -> f64 {
    const BATCH: usize = 256;
    let (tx, rx) = mpsc::sync_channel::<Box<[usize; BATCH]>>(16);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            c.enter(0);
            for _ in 0..blocks / BATCH {
                let mut batch = Box::new([0usize; BATCH]);
                for slot in batch.iter_mut() {
                    let p = c.alloc(layout(64));
                    // SAFETY: a fresh 64-byte block.
                    unsafe { p.write(1) };
                    *slot = p as usize;
                }
                tx.send(batch).unwrap();
            }
        });
        s.spawn(move || {
            c.enter(1);
            for batch in rx {
                for &p in batch.iter() {
                    c.free(p as *mut u8, layout(64));
                }
            }
            c.between_tasks();
        });
    });
    blocks as f64 / start.elapsed().as_secs_f64()
}

/// larson-like: each thread keeps 1,000 blocks of random size (16-512
/// bytes), replaces a random one per step, and every 5,000 steps trades
/// its whole set with whatever another thread left. Returns steps/s.
fn larson<C: Contender>(c: &C, threads: usize, steps: usize) -> f64 {
    const SLOTS: usize = 1000;
    let pool: Mutex<Vec<Vec<(usize, usize)>>> = Mutex::new(Vec::new());
    let barrier = Barrier::new(threads + 1);
    let start = std::thread::scope(|s| {
        for t in 0..threads {
            let (pool, barrier) = (&pool, &barrier);
            s.spawn(move || {
                c.enter(t);
                let mut rng = 0x2545_f491_4f6c_dd1du64 ^ (t as u64 + 1);
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mut mine: Vec<(usize, usize)> = (0..SLOTS)
                    .map(|_| {
                        let size = 16 + (next() % 497) as usize;
                        (c.alloc(layout(size)) as usize, size)
                    })
                    .collect();
                barrier.wait();
                for step in 0..steps {
                    let slot = (next() % SLOTS as u64) as usize;
                    let (p, size) = mine[slot];
                    c.free(p as *mut u8, layout(size));
                    let size = 16 + (next() % 497) as usize;
                    let q = c.alloc(layout(size));
                    // SAFETY: a fresh block of `size` >= 16 bytes.
                    unsafe { q.write(step as u8) };
                    mine[slot] = (q as usize, size);
                    if step % 5000 == 4999 {
                        let mut pool = pool.lock().unwrap();
                        if let Some(theirs) = pool.pop() {
                            pool.push(std::mem::replace(&mut mine, theirs));
                        } else {
                            pool.push(mine.clone());
                            drop(pool);
                            mine = (0..SLOTS)
                                .map(|_| {
                                    let size = 16 + (next() % 497) as usize;
                                    (c.alloc(layout(size)) as usize, size)
                                })
                                .collect();
                        }
                    }
                }
                barrier.wait();
                for (p, size) in mine {
                    c.free(p as *mut u8, layout(size));
                }
                c.between_tasks();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start
    });
    let elapsed = start.elapsed();
    for set in pool.into_inner().unwrap() {
        for (p, size) in set {
            c.free(p as *mut u8, layout(size));
        }
    }
    (threads * steps) as f64 / elapsed.as_secs_f64()
}

/// The best of `rounds` runs of `f`, alternating contenders round by round
/// so that drift on a shared machine hits them alike.
fn best(contenders: &[&dyn Run], rounds: usize, f: impl Fn(&dyn Run) -> f64) -> Vec<f64> {
    let mut best = vec![0f64; contenders.len()];
    for _ in 0..rounds {
        for (i, c) in contenders.iter().enumerate() {
            best[i] = best[i].max(f(*c));
        }
    }
    best
}

fn print_row(what: &str, contenders: &[&dyn Run], values: &[f64], unit: &str) {
    println!("{what}");
    for (c, v) in contenders.iter().zip(values) {
        println!("  {:<18} {:>8.1} M{unit}/s", c.name(), v / 1e6);
    }
}

fn main() {
    if cfg!(debug_assertions) {
        println!("warning: a debug build; run with cargo bench for figures");
    }
    let ours = Ours(common::heap(1 << 30));
    let talc: &'static TalcBacking = Box::leak(Box::new(TalcBacking::new()));
    let arena_layout = Layout::from_size_align(1 << 30, 1 << 16).unwrap();
    // SAFETY: a fresh arena, leaked, given to talc for ever.
    assert!(unsafe { talc.claim(System.alloc(arena_layout), 1 << 30) });
    let talc = TalcLocked(talc);
    let mi = Mi(mimalloc::MiMalloc);
    let all: [&dyn Run; 4] = [&ours, &talc, &Sys, &mi];
    let rounds = 5;
    let per_thread = 4_000_000;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One untimed pass each first: arenas touched, slabs carved, caches warm.
    for c in all {
        c.pairs(2, per_thread);
    }

    let one = best(&all, rounds, |c| c.pairs(1, per_thread));
    print_row("alloc+free pairs, 1 thread (sizes 16-256 B, batches of 16)", &all, &one, "pairs");
    let two = best(&all, rounds, |c| c.pairs(2, per_thread));
    print_row("alloc+free pairs, 2 threads (total)", &all, &two, "pairs");
    let four = best(&all, 3, |c| c.pairs(4, per_thread / 2));
    let over = if cores < 4 { format!(" (oversubscribed: {cores} cores)") } else { String::new() };
    print_row(&format!("alloc+free pairs, 4 threads (total){over}"), &all, &four, "pairs");
    let pc = best(&all, rounds, |c| c.producer_consumer(2_000_000));
    print_row("producer/consumer: 64 B blocks allocated on one thread, freed on another", &all, &pc, "blocks");
    let l1 = best(&all, rounds, |c| c.larson(1, 2_000_000));
    print_row("larson-like, 1 thread", &all, &l1, "steps");
    let l2 = best(&all, rounds, |c| c.larson(2, 2_000_000));
    print_row("larson-like, 2 threads (total)", &all, &l2, "steps");

    println!("ratios (per-CPU slab):");
    println!("  fast path time per pair / talc + spin lock, 1 thread: {:.2}x (target <= 0.5x)", one[1] / one[0]);
    println!("  2 threads / 1 thread: {:.2}x (target >= 1.9x); talc + spin lock: {:.2}x", two[0] / one[0], two[1] / one[1]);
    println!("  producer/consumer / mimalloc: {:.2}x (target >= 1.0x)", pc[0] / pc[3]);
    println!("  larson 2 threads / 1 thread: {:.2}x; talc + spin lock: {:.2}x", l2[0] / l1[0], l2[1] / l1[1]);
}
