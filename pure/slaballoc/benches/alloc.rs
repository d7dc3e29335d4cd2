//! Host benchmark: the per-CPU heap against talc behind a spin lock (the
//! kernel heap before it), the system allocator (glibc) and mimalloc, in
//! one run, with threads standing for CPUs. This machine has 2 cores: 1
//! and 2 threads count; 4 are printed, marked oversubscribed.
//!
//! Workloads: alloc+free pairs of small mixed sizes on each thread; a
//! producer thread allocating and a consumer thread freeing; a larson-like
//! run where threads replace random blocks and trade their blocks.
//!
//! Method, for pairs and producer/consumer: threads pinned one to a core,
//! many short rounds (a few ms), every contender in turn within each round,
//! all threads starting a round together; the best round is the figure
//! (on a shared machine noise only ever adds time) and the median is
//! printed beside it. The thread counts of the pairs take turns pass after
//! pass, so that the scaling ratio compares rounds from the same spells.
//!
//! Run: `cargo bench -p slaballoc --bench alloc`

#[path = "../tests/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Instant;

use slaballoc::TalcBacking;

trait Contender: Sync {
    fn enter(&self, _cpu: usize) {}
    /// What a CPU's loop does between tasks (sends batched remote frees).
    fn between_tasks(&self) {}
    fn alloc(&self, l: Layout) -> *mut u8;
    fn free(&self, p: *mut u8, l: Layout);
}

/// A contender's workloads, each compiled for it, behind one virtual call
/// per run; each allocation and free is one out-of-line call, as a global
/// allocator's are (`__rust_alloc`), so no contender is inlined into the
/// workload's loop.
trait Run: Sync {
    fn name(&self) -> &'static str;
    fn enter(&self, cpu: usize);
    fn pairs(&self, pairs: usize);
    fn produce(&self, handoff: &Handoff, blocks: usize);
    fn consume(&self, handoff: &Handoff, blocks: usize);
    fn larson(&self, threads: usize, steps: usize) -> f64;
}

trait Named {
    const NAME: &'static str;
}

impl<C: Contender + Named> Run for C {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn enter(&self, cpu: usize) {
        Contender::enter(self, cpu);
    }
    fn pairs(&self, pairs: usize) {
        pairs_on_this_thread(self, pairs);
    }
    fn produce(&self, handoff: &Handoff, blocks: usize) {
        produce(self, handoff, blocks);
    }
    fn consume(&self, handoff: &Handoff, blocks: usize) {
        consume(self, handoff, blocks);
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
    #[inline(never)]
    fn alloc(&self, l: Layout) -> *mut u8 {
        self.0.allocate(l)
    }
    #[inline(never)]
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: the workloads free each block once, with its layout.
        unsafe { self.0.free(p, l) }
    }
}

impl Named for TalcLocked {
    const NAME: &'static str = "talc + spin lock";
}

impl Contender for TalcLocked {
    #[inline(never)]
    fn alloc(&self, l: Layout) -> *mut u8 {
        slaballoc::Backing::alloc(self.0, l)
    }
    #[inline(never)]
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { slaballoc::Backing::dealloc(self.0, p, l) }
    }
}

impl Named for Sys {
    const NAME: &'static str = "system (glibc)";
}

impl Contender for Sys {
    #[inline(never)]
    fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero sizes only.
        unsafe { System.alloc(l) }
    }
    #[inline(never)]
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
}

impl Named for Mi {
    const NAME: &'static str = "mimalloc";
}

impl Contender for Mi {
    #[inline(never)]
    fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero sizes only.
        unsafe { self.0.alloc(l) }
    }
    #[inline(never)]
    fn free(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { self.0.dealloc(p, l) }
    }
}

const SIZES: [usize; 8] = [16, 24, 32, 48, 64, 96, 128, 256];

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Batches of 16 allocations of mixed small sizes, each touched, then
/// freed in reverse, on this thread.
fn pairs_on_this_thread<C: Contender>(c: &C, pairs: usize) {
    let mut batch = [std::ptr::null_mut::<u8>(); 16];
    for round in 0..pairs / 16 {
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
}

/// A barrier whose threads spin: a sleeping thread's wakeup would land
/// inside the round it starts.
struct SpinBarrier {
    arrived: AtomicUsize,
    generation: AtomicUsize,
    threads: usize,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        Self { arrived: AtomicUsize::new(0), generation: AtomicUsize::new(0), threads }
    }

    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.store(generation + 1, Ordering::Release);
        } else {
            let mut spins = 0u32;
            while self.generation.load(Ordering::Acquire) == generation {
                // More threads than cores: let the others run.
                spins += 1;
                if spins.is_multiple_of(4096) {
                    std::thread::yield_now();
                }
                std::hint::spin_loop();
            }
        }
    }
}

/// Pins this thread to core `core` (Linux): threads stand for CPUs, and a
/// migration in a round would be on its clock.
fn pin(core: usize) {
    // SAFETY: a zeroed cpu_set_t is the empty set; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Runs a workload on `threads` threads, pinned one to a core (while
/// there are cores): `rounds` short rounds, every contender in turn in
/// each, all threads starting a round together. `worker(t)` makes thread
/// `t`'s part, which does `ops` operations in all threads together per
/// round (and is run once untimed first: caches warm, slabs carved).
/// Returns, per contender, each round's operations per second over the
/// round's wall time, from the first start to the last end.
fn rounds<W: FnMut(&dyn Run)>(
    contenders: &[&dyn Run],
    threads: usize,
    rounds: usize,
    ops: usize,
    worker: impl Fn(usize) -> W + Sync,
) -> Vec<Vec<f64>> {
    let barrier = SpinBarrier::new(threads);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spans: Vec<Vec<(Instant, Instant)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, worker) = (&barrier, &worker);
                s.spawn(move || {
                    if t < cores {
                        pin(t);
                    }
                    let mut work = worker(t);
                    for c in contenders {
                        c.enter(t);
                        barrier.wait();
                        work(*c);
                    }
                    let mut spans = Vec::with_capacity(rounds * contenders.len());
                    for _ in 0..rounds {
                        for c in contenders {
                            c.enter(t);
                            barrier.wait();
                            let start = Instant::now();
                            work(*c);
                            spans.push((start, Instant::now()));
                        }
                    }
                    spans
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut rates = vec![Vec::with_capacity(rounds); contenders.len()];
    for i in 0..rounds * contenders.len() {
        let start = spans.iter().map(|t| t[i].0).min().unwrap();
        let end = spans.iter().map(|t| t[i].1).max().unwrap();
        rates[i % contenders.len()].push(ops as f64 / (end - start).as_secs_f64());
    }
    rates
}

/// Alloc+free pairs on each of `threads` threads (see [`rounds`]).
fn pairs(contenders: &[&dyn Run], threads: usize, per_thread: usize, n: usize) -> Vec<Vec<f64>> {
    rounds(contenders, threads, n, threads * per_thread, |_| move |c: &dyn Run| c.pairs(per_thread))
}

/// Blocks allocated on thread 0 and freed on thread 1 (see [`rounds`]).
fn producer_consumer(contenders: &[&dyn Run], blocks: usize, n: usize) -> Vec<Vec<f64>> {
    let handoff = Handoff::new();
    rounds(contenders, 2, n, blocks, |t| {
        let handoff = &handoff;
        move |c: &dyn Run| if t == 0 { c.produce(handoff, blocks) } else { c.consume(handoff, blocks) }
    })
}

/// The best and the median of a contender's rounds.
fn best_and_median(rounds: &[f64]) -> (f64, f64) {
    let mut sorted = rounds.to_vec();
    sorted.sort_by(f64::total_cmp);
    (sorted[sorted.len() - 1], sorted[sorted.len() / 2])
}

/// Batches of blocks handed from the producer to the consumer.
const BATCH: usize = 256;
/// Batches in flight at most.
const SLOTS: usize = 16;

/// A ring of batches from one producer thread to one consumer thread,
/// both spinning (each has a core of its own): no allocation and no
/// sleeping in the handoff, which would be on every contender's clock.
struct Handoff {
    slots: [UnsafeCell<[usize; BATCH]>; SLOTS],
    /// Batches published, and batches taken (each on its own line).
    sent: Padded,
    taken: Padded,
}

#[repr(align(128))]
struct Padded(AtomicUsize);

impl std::ops::Deref for Padded {
    type Target = AtomicUsize;
    fn deref(&self) -> &AtomicUsize {
        &self.0
    }
}

// SAFETY: a slot is written only by the producer while it is not published
// (`sent - taken < SLOTS` before, `sent` raised with release after), and
// read only by the consumer after it saw it published (acquire) and before
// it releases it (`taken` raised with release, acquired by the producer).
unsafe impl Sync for Handoff {}

impl Handoff {
    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| UnsafeCell::new([0; BATCH])),
            sent: Padded(AtomicUsize::new(0)),
            taken: Padded(AtomicUsize::new(0)),
        }
    }

    fn wait_until(f: impl Fn() -> bool) {
        while !f() {
            std::hint::spin_loop();
        }
    }
}

/// The producer's part: allocates `blocks` 64-byte blocks, each touched,
/// and hands them over in batches.
fn produce<C: Contender>(c: &C, h: &Handoff, blocks: usize) {
    for _ in 0..blocks / BATCH {
        let sent = h.sent.load(Ordering::Relaxed);
        Handoff::wait_until(|| sent - h.taken.load(Ordering::Acquire) < SLOTS);
        // SAFETY: the slot is not published: ours until `sent` is raised.
        let batch = unsafe { &mut *h.slots[sent % SLOTS].get() };
        for slot in batch.iter_mut() {
            let p = c.alloc(layout(64));
            // SAFETY: a fresh 64-byte block.
            unsafe { p.write(1) };
            *slot = p as usize;
        }
        h.sent.store(sent + 1, Ordering::Release);
    }
}

/// The consumer's part: frees the `blocks` the producer hands over.
fn consume<C: Contender>(c: &C, h: &Handoff, blocks: usize) {
    for _ in 0..blocks / BATCH {
        let taken = h.taken.load(Ordering::Relaxed);
        Handoff::wait_until(|| h.sent.load(Ordering::Acquire) > taken);
        // SAFETY: published, and ours until `taken` is raised.
        let batch = unsafe { &*h.slots[taken % SLOTS].get() };
        for &p in batch.iter() {
            c.free(p as *mut u8, layout(64));
        }
        h.taken.store(taken + 1, Ordering::Release);
    }
    c.between_tasks();
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
fn best_of(contenders: &[&dyn Run], rounds: usize, f: impl Fn(&dyn Run) -> f64) -> Vec<f64> {
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Many short rounds, the best kept: on a shared machine, noise only
    // ever adds time, and the best round is the one it touched least.
    // The machine's two cores are a VM's, and how fast they are moves by
    // up to 4x for seconds at a time: the thread counts take turns, pass
    // after pass, so that 1 and 2 threads see the same spells.
    let passes = 6;
    let per_round = 250_000;
    let configs = [(1, "1 thread (sizes 16-256 B, batches of 16)", 10), (2, "2 threads (total)", 10), (4, "4 threads (total)", 3)];
    let mut rates: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); all.len()]; configs.len()];
    for _ in 0..passes {
        for (i, &(threads, _, n)) in configs.iter().enumerate() {
            for (acc, got) in rates[i].iter_mut().zip(pairs(&all, threads, per_round, n)) {
                acc.extend(got);
            }
        }
    }
    let mut best = Vec::new();
    for (&(threads, what, _), rates) in configs.iter().zip(&rates) {
        let over = if cores < threads { format!(" (oversubscribed: {cores} cores)") } else { String::new() };
        println!("alloc+free pairs, {what}{over}: best of {} rounds in {passes} passes (median)", rates[0].len());
        let figures: Vec<(f64, f64)> = rates.iter().map(|r| best_and_median(r)).collect();
        for (c, (b, m)) in all.iter().zip(&figures) {
            println!("  {:<18} {:>8.1} Mpairs/s ({:.1})", c.name(), b / 1e6, m / 1e6);
        }
        best.push(figures);
    }
    let (one, two) = (&best[0], &best[1]);
    let pc_rounds = producer_consumer(&all, 512 * BATCH, 30);
    println!("producer/consumer: 64 B blocks allocated on one thread, freed on another: best of 30 rounds (median)");
    let pc: Vec<(f64, f64)> = pc_rounds.iter().map(|r| best_and_median(r)).collect();
    for (c, (b, m)) in all.iter().zip(&pc) {
        println!("  {:<18} {:>8.1} Mblocks/s ({:.1})", c.name(), b / 1e6, m / 1e6);
    }
    let l1 = best_of(&all, rounds, |c| c.larson(1, 2_000_000));
    print_row("larson-like, 1 thread", &all, &l1, "steps");
    let l2 = best_of(&all, rounds, |c| c.larson(2, 2_000_000));
    print_row("larson-like, 2 threads (total)", &all, &l2, "steps");

    println!("ratios (per-CPU slab; best rounds, medians in brackets):");
    println!(
        "  fast path time per pair / talc + spin lock, 1 thread: {:.2}x ({:.2}x) (target <= 0.5x)",
        one[1].0 / one[0].0,
        one[1].1 / one[0].1
    );
    println!(
        "  2 threads / 1 thread: {:.2}x ({:.2}x) (target >= 1.9x); talc + spin lock: {:.2}x; glibc: {:.2}x; mimalloc: {:.2}x",
        two[0].0 / one[0].0,
        two[0].1 / one[0].1,
        two[1].0 / one[1].0,
        two[2].0 / one[2].0,
        two[3].0 / one[3].0
    );
    println!("  producer/consumer / mimalloc: {:.2}x ({:.2}x) (target >= 1.0x)", pc[0].0 / pc[3].0, pc[0].1 / pc[3].1);
    println!("  larson 2 threads / 1 thread: {:.2}x; talc + spin lock: {:.2}x", l2[0] / l1[0], l2[1] / l1[1]);
}
