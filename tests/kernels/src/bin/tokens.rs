//! Serializing tokens on every CPU: tasks take the same two tokens in
//! opposite orders (spin locks would deadlock) and every increment lands;
//! readers share a token while a writer waits; collisions are counted.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;

use io::token::{self, Guarded};
use kernel::smp::{self, CpuId};
use kernel::{exec, println, run_on, testing, time};

kernel::test_kernel![opposite_orders_on_every_cpu_finish_with_exact_counts, readers_share_and_a_writer_gets_in];

static A: Guarded<u64> = Guarded::new("test-a", 0);
static B: Guarded<u64> = Guarded::new("test-b", 0);
const ROUNDS: u64 = 2000;

fn opposite_orders_on_every_cpu_finish_with_exact_counts() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    let n = smp::online();
    let start = time::Instant::now();
    exec::block_on(async move {
        let tasks: Vec<_> = (0..n)
            .map(|c| {
                run_on::spawn_on(CpuId::try_new(c).expect("online"), async move {
                    for k in 0..ROUNDS {
                        // Hold the pair a little, so the other CPUs collide.
                        let step = |x: &mut u64, y: &mut u64| {
                            *x += 1;
                            *y += 1;
                            time::delay_us(2);
                        };
                        if c % 2 == 0 {
                            token::exclusive2(&A, &B, |a, b| step(a, b)).await;
                        } else {
                            token::exclusive2(&B, &A, |b, a| step(b, a)).await;
                        }
                        if k % 16 == 0 {
                            exec::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("a token task finished");
        }
    });
    let (a, b) = exec::block_on(token::exclusive2(&A, &B, |a, b| (*a, *b)));
    let want = ROUNDS * n as u64;
    assert_eq!((a, b), (want, want), "every increment landed, none twice");
    println!(
        "tokens: {n} CPUs x {ROUNDS} pairs in opposite orders in {} ms; collisions: test-a {}, test-b {}",
        start.elapsed().as_millis(),
        A.token().collisions(),
        B.token().collisions()
    );
    assert!(A.token().collisions() + B.token().collisions() > 0, "the CPUs did contend");
}

static SHARED: Guarded<u64> = Guarded::new("test-rw", 0);

fn readers_share_and_a_writer_gets_in() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    let n = smp::online();
    exec::block_on(async move {
        // Every other CPU reads in a loop; this one writes 100 times.
        let readers: Vec<_> = (1..n)
            .map(|c| {
                run_on::spawn_on(CpuId::try_new(c).expect("online"), async move {
                    let mut last = 0;
                    while last < 100 {
                        let now = SHARED
                            .shared(|v| {
                                time::delay_us(5);
                                *v
                            })
                            .await;
                        assert!(now >= last, "a reader saw the value go back: {last} -> {now}");
                        last = now;
                        exec::yield_now().await;
                    }
                })
            })
            .collect();
        for _ in 0..100 {
            SHARED.exclusive(|v| *v += 1).await;
            exec::yield_now().await;
        }
        for r in readers {
            r.await.expect("a reader finished");
        }
    });
    println!("shared: a writer got in 100 times beside {} readers ({} collisions)", n - 1, SHARED.token().collisions());
}
