//! Message ports against `run_on` and a direct call, in one run:
//!
//! 1. a call to a port whose server is on the other CPU, against `run_on`
//!    of the same work to that CPU (both: a message there, a task there,
//!    a wake back);
//! 2. a call to a port whose server is on this CPU, against calling the
//!    handler directly through a `dyn Fn`.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::hint::black_box;

use kernel::arch::cpu::rdtsc;
use kernel::smp::CpuId;
use kernel::{exec, port, run_on};

use super::{BenchError, median, ns, pair};

const CALLS: u64 = 2_000;
const ROUNDS: usize = 5;

fn handler(x: u64) -> u64 {
    x.wrapping_mul(3) + 1
}

/// A port served on `cpu`, and the server's join.
async fn server_on(cpu: CpuId) -> (port::PortRef<u64, u64>, exec::JoinHandle<()>) {
    run_on::run_on(cpu, || async {
        let (p, h) = port::new::<u64, u64>(16);
        (h, exec::spawn_named("bench-port", p.serve(handler)))
    })
    .await
}

/// Cycles per call over one run of `CALLS` calls of `one`.
async fn one_run<F: AsyncFnMut(u64) -> u64>(one: &mut F) -> f64 {
    let t = rdtsc();
    for k in 0..CALLS {
        black_box(one(k).await);
    }
    (rdtsc() - t) as f64 / CALLS as f64
}

/// The port benchmark's table.
pub(crate) async fn ports() -> Result<String, BenchError> {
    let (me, other) = pair()?;
    let (remote, remote_server) = server_on(other).await;
    let (local, local_server) = server_on(me).await;
    let direct: Box<dyn Fn(u64) -> u64> = Box::new(handler);
    let mut port_remote = async |k| remote.call(k).await.expect("the bench server answers");
    let mut run_on_remote = async |k| run_on::run_on(other, move || async move { handler(k) }).await;
    let mut port_local = async |k| local.call(k).await.expect("the bench server answers");
    let mut dyn_fn = async |k| black_box(&direct)(k);
    // Side by side: each round runs all four in turn (after one round to
    // warm up), so a slow spell of the emulator or the host slows each
    // contender alike; medians of the rounds.
    let mut samples: [Vec<f64>; 4] = Default::default();
    for round in 0..=ROUNDS {
        let runs = [
            one_run(&mut port_remote).await,
            one_run(&mut run_on_remote).await,
            one_run(&mut port_local).await,
            one_run(&mut dyn_fn).await,
        ];
        if round > 0 {
            samples.iter_mut().zip(runs).for_each(|(s, r)| s.push(r));
        }
    }
    let [port_remote, run_on_remote, port_local, dyn_fn] = samples.map(median);
    drop((remote, local));
    let _ = remote_server.await;
    let _ = local_server.await;
    let mut t = String::new();
    let _ = writeln!(t, "port benchmark: {me} calling, median of {ROUNDS} x {CALLS} calls");
    t += "| measurement | cycles | ns | ratio | target |\n|---|---|---|---|---|\n";
    let _ = writeln!(t, "| 1. run_on to {other}, the handler there | {run_on_remote:.0} | {:.0} | | |", ns(run_on_remote));
    let _ = writeln!(
        t,
        "| 1a. port call to a server on {other} | {port_remote:.0} | {:.0} | (1a)/(1) = {:.2} | <= 1.2 |",
        ns(port_remote),
        port_remote / run_on_remote.max(1.0)
    );
    let _ = writeln!(t, "| 2. the handler through a `dyn Fn`, here | {dyn_fn:.0} | {:.1} | | |", ns(dyn_fn));
    let _ = writeln!(
        t,
        "| 2a. port call to a server on this CPU | {port_local:.0} | {:.0} | (2a)/(2) = {:.1} | <= 4 |",
        ns(port_local),
        port_local / dyn_fn.max(1.0)
    );
    Ok(t)
}
