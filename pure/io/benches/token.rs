//! Serializing tokens against `spin::Mutex` on the host, uncontended and
//! with every thread on one counter (`cargo bench -p io --bench token`).
//! Threads stand for CPUs; the machine has 2 cores, so 2 threads count.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use io::token::Guarded;

const OPS: u64 = 2_000_000;

fn per_op(mut op: impl FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..OPS {
                op();
            }
            t.elapsed().as_nanos() as f64 / OPS as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn main() {
    let tokened = Guarded::new("bench", 0u64);
    let locked = spin::Mutex::new(0u64);
    let token = per_op(|| {
        let _ = black_box(&tokened).try_exclusive(|v| *v += 1);
    });
    let mutex = per_op(|| *black_box(&locked).lock() += 1);
    println!("uncontended take + increment + give back (ns, median of 7 x {OPS})");
    println!("  spin::Mutex          {mutex:6.2}");
    println!("  token try_exclusive  {token:6.2}   token/mutex = {:.2}  (target <= 2.0)", token / mutex);
    for threads in [1usize, 2] {
        let g = Arc::new(Guarded::new("contended", 0u64));
        let m = Arc::new(spin::Mutex::new(0u64));
        let run = |use_token: bool| {
            let t = Instant::now();
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    let (g, m) = (Arc::clone(&g), Arc::clone(&m));
                    std::thread::spawn(move || {
                        for _ in 0..OPS / 4 {
                            if use_token {
                                while g.try_exclusive(|v| *v += 1).is_none() {
                                    std::hint::spin_loop();
                                }
                            } else {
                                *m.lock() += 1;
                            }
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            (OPS / 4 * threads as u64) as f64 / t.elapsed().as_secs_f64()
        };
        let (tk, mx) = (run(true), run(false));
        println!("{threads} thread(s), one counter: token {tk:.0}/s, mutex {mx:.0}/s, token/mutex = {:.2}", tk / mx);
    }
}
