//! The statistics service: a server task on every CPU, reached through a
//! message port (`kernel::port`), answers `cpus`, `ps` and `ipi` with that
//! CPU's own figures (each executor is read only by its own CPU). The shell
//! asks every CPU at once and waits at most [`ANSWER_WITHIN`]: a CPU stuck
//! in a task that does not yield cannot answer, and its late answer is
//! dropped when it comes (the call was aborted).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;

use kernel::arch::cpu_array::CpuArray;
use kernel::exec::{self, TaskInfo};
use kernel::ipiq::{self, QueueStats};
use kernel::port::{self, PortRef};
use kernel::smp::{self, CpuId};
use kernel::{run_on, time};

/// How long the statistics commands wait for a CPU.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// What a CPU is asked.
#[derive(Clone, Copy, Debug)]
pub enum Query {
    /// Its executor's counters and idle time.
    Cpu,
    /// Its tasks.
    Tasks,
    /// Its IPI-queue counters.
    Ipi,
}

/// A CPU's answer.
#[derive(Debug)]
pub enum Answer {
    /// Live tasks, polls, cycles halted.
    Cpu { tasks: u64, polls: u64, idle: u64 },
    /// The task polled now (the server itself), and every task.
    Tasks { running: Option<u64>, tasks: Vec<TaskInfo> },
    /// The IPI-queue counters.
    Ipi(QueueStats),
}

static PORTS: CpuArray<spin::Once<PortRef<Query, Answer>>> = kernel::cpu_array!(spin::Once::new());

fn answer(q: Query) -> Answer {
    let me = smp::current();
    match q {
        Query::Cpu => {
            let s = exec::this().stats();
            Answer::Cpu { tasks: s.live, polls: s.polls, idle: exec::idle_cycles(me) }
        }
        Query::Tasks => {
            let mut tasks = Vec::new();
            exec::this().for_each_task(|t| tasks.push(t));
            Answer::Tasks { running: exec::current_task().map(|(id, _)| id), tasks }
        }
        Query::Ipi => Answer::Ipi(ipiq::stats()),
    }
}

/// Starts a server on every CPU (once, at boot, before the shell).
pub fn start() {
    for (cpu, slot) in PORTS.iter().take(smp::online()) {
        let handle = exec::block_on(run_on::run_on(cpu, || async {
            let (port, handle) = port::new::<Query, Answer>(8);
            drop(exec::spawn_named("stats", port.serve(answer)));
            handle
        }));
        slot.call_once(|| handle);
    }
}

/// Asks every CPU `q` at once; `None` for a CPU that did not answer within
/// [`ANSWER_WITHIN`] (or runs no server).
pub async fn ask_all(q: Query) -> Vec<Option<Answer>> {
    type Pending = Pin<Box<dyn Future<Output = Option<Answer>>>>;
    let mut calls: Vec<Option<Pending>> = (0..smp::online())
        .map(|n| {
            let port = CpuId::try_new(n).and_then(|cpu| PORTS.get(cpu).get().cloned());
            let call: Pending = Box::pin(async move {
                let port = port?;
                time::timeout(ANSWER_WITHIN, port.call(q)).await.ok()?.ok()
            });
            Some(call)
        })
        .collect();
    let mut answers: Vec<Option<Answer>> = (0..calls.len()).map(|_| None).collect();
    poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in calls.iter_mut().enumerate() {
            if let Some(call) = slot {
                match call.as_mut().poll(cx) {
                    Poll::Ready(a) => {
                        answers[i] = a;
                        *slot = None;
                    }
                    Poll::Pending => all = false,
                }
            }
        }
        if all { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    answers
}
