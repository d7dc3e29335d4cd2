//! A user thread is a task: its future enters the program, comes back on
//! each trap, handles it, and enters again.
//!
//! ```text
//! loop {
//!     enter(ctx)                  the program runs until it traps
//!     system call  -> syscall::handle(..).await (the result in RAX)
//!     page fault   -> Memory::fault: map the page, or SIGSEGV
//!     other fault  -> the signal Linux sends for it (ends the program)
//!     interrupt    -> its handler has run; if another task of this CPU
//!                     is runnable, the time slice decides: yield now, or
//!                     arm the slice's end and go on
//! }
//! (before each entry: a woken driver task runs first, the program yields)
//! ```
//!
//! **Time slices.** User code is preempted, kernel code is not. A driver
//! task (the executor's interrupt band) woken on the CPU runs at the
//! program's next trap (the wake's own interrupt is one), not after its
//! slice: a program can run a long time between system calls that never
//! wait, and a network stack or disk queue on its CPU would wait too. A slice is
//! armed only when another task on the CPU is runnable, so a machine whose
//! only work is one program takes no timer interrupts for it. A task that
//! yields, or waits in a system call, starts a new slice when it resumes.
//!
//! **What a thread costs while it sleeps:** its future (this loop's state,
//! the system call it waits in) and its boxed [`UserContext`]; no kernel
//! stack (the executor's stack holds a thread's frames only while it runs).

use alloc::boxed::Box;
use core::sync::atomic::Ordering;
use core::time::Duration;

use kernel::arch::user_mode::{self, Trap, UserContext};

use crate::memory::Memory;
use crate::process::{ExitStatus, Process};
use crate::signal::{self, Delivered};
use crate::syscall::{self, Flow};

/// How long a program runs before it yields to another runnable task of
/// its CPU.
pub const SLICE: Duration = Duration::from_millis(10);

/// Signal numbers the faults map to.
const SIGILL: u8 = 4;
const SIGTRAP: u8 = 5;
const SIGBUS: u8 = 7;
const SIGFPE: u8 = 8;
const SIGSEGV: u8 = 11;

/// Runs the thread until its process exits.
pub async fn run(mut process: Process, mut ctx: Box<UserContext>) -> ExitStatus {
    process.memory.space().activate();
    process.info.cpu.store(kernel::smp::current().as_u32(), Ordering::Relaxed);
    if let Some(at) = process.set_child_tid.take() {
        let pid = process.pid() as i32;
        let _ = crate::user::write_i32(&mut process.memory, at, pid);
    }
    let ex = kernel::exec::this();
    let slice_cycles = kernel::time::duration_to_cycles(SLICE);
    let mut slice_start = kernel::arch::cpu::rdtsc();
    let restart_every = kernel::time::duration_to_cycles(core::time::Duration::from_millis(1));
    let mut clock_restarted = 0u64;
    let status = loop {
        if process.info.pending.load(Ordering::Relaxed) != 0 || process.interrupted.is_some() {
            let delivered = signal::deliver(&mut process, &mut ctx);
            if let Some(status) = after_delivery(&mut process, delivered).await {
                break status;
            }
        }
        if !process.children.is_empty() && signal::ignored_explicitly(&process, signal::sig::SIGCHLD) {
            crate::family::discard_exited(&mut process.children);
        }
        // Driver tasks woken here (the network stack, a disk queue) run
        // before the program goes on, as LWKT's interrupt threads preempt
        // user threads: a program may run for a whole slice between system
        // calls that never wait, and the stack's turn would wait with it.
        if ex.interrupt_band_waiting() {
            kernel::exec::yield_now().await;
            process.memory.space().ensure_active();
            slice_start = kernel::arch::cpu::rdtsc();
            continue;
        }
        // The time slice: only while another task of this CPU is runnable
        // (checked before every entry, so a program entered with others
        // waiting has its slice's end armed at once).
        let slice_end = ex.has_work().then(|| slice_start.saturating_add(slice_cycles));
        if slice_end.is_some_and(kernel::time::passed) {
            // The FPU registers stay in the CPU: they go home only if
            // another program enters here (`user_mode`, lazily).
            kernel::exec::yield_now().await;
            process.memory.space().ensure_active();
            slice_start = kernel::arch::cpu::rdtsc();
            continue;
        }
        if !kernel::exec::prepare_user_run(slice_end) {
            // A deadline passed meanwhile (tasks may have woken): again.
            continue;
        }
        if !ctx.has_fast_calls() {
            // A new program (`execve` replaced the context) or thread.
            ctx.set_fast_calls(process.info.clone());
        }
        let entered = kernel::arch::cpu::rdtsc();
        let trap = user_mode::enter(&mut ctx);
        let left = kernel::arch::cpu::rdtsc();
        // One writer (this thread): a load and a store, not a locked add.
        let user = &process.info.user_cycles;
        user.store(user.load(Ordering::Relaxed) + left.wrapping_sub(entered), Ordering::Relaxed);
        // User time is not kernel time: the watchdog times this poll from
        // its last restart (the stall detector ignores ring 3 by itself).
        // Restarting once a millisecond is plenty against a 50 ms watchdog,
        // and keeps the bookkeeping off the null system call's path.
        if left.wrapping_sub(clock_restarted) > restart_every {
            ex.restart_poll_clock_at(left);
            clock_restarted = left;
        }
        match trap {
            Trap::Syscall => {
                let calls = &process.info.syscalls;
                calls.store(calls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                match syscall::handle(&mut process, &mut ctx).await {
                    Flow::Continue => {}
                    Flow::Resumed => {
                        // It may have waited: another program may have run here.
                        process.memory.space().ensure_active();
                        slice_start = kernel::arch::cpu::rdtsc();
                    }
                    Flow::Exit(status) => break status,
                    // Boxed: the move's future (a whole `Process` in it) would
                    // otherwise make every thread's future larger.
                    Flow::Migrate(cpu) => return Box::pin(migrate(process, ctx, cpu)).await,
                }
            }
            Trap::Interrupt(_) => {
                // Messages for this CPU (wakes, TLB shootdowns, token
                // waits) and expired timers are taken between polls; a
                // program's poll can be long, so they are taken here too.
                kernel::exec::between_user_runs();
            }
            Trap::Exception { vector: 14, code, address } => {
                let faults = &process.info.faults;
                faults.store(faults.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                let write = code & 2 != 0;
                let exec = code & 0x10 != 0;
                let fault = if code & 1 == 0 { Memory::fault_not_present } else { Memory::fault };
                if let Err(why) = fault(&mut process.memory, address, write, exec) {
                    log::info!(
                        "{} (pid {}): segmentation fault at {address:#x} ({why:?}, {} at rip {:#x})",
                        process.name(),
                        process.pid(),
                        if exec {
                            "fetch"
                        } else if write {
                            "write"
                        } else {
                            "read"
                        },
                        ctx.frame.rip
                    );
                    let delivered = signal::force(&mut process, &mut ctx, SIGSEGV);
                    if let Some(status) = after_delivery(&mut process, delivered).await {
                        break status;
                    }
                }
            }
            Trap::Exception { vector, code, .. } => {
                let signal = match vector {
                    0 | 16 | 19 => SIGFPE,
                    1 | 3 => SIGTRAP,
                    6 => SIGILL,
                    17 => SIGBUS,
                    _ => SIGSEGV,
                };
                log::info!(
                    "{} (pid {}): {} (error code {code:#x}) at rip {:#x}: signal {signal}",
                    process.name(),
                    process.pid(),
                    kernel::arch::exceptions::name(vector),
                    ctx.frame.rip
                );
                let delivered = signal::force(&mut process, &mut ctx, signal);
                if let Some(status) = after_delivery(&mut process, delivered).await {
                    break status;
                }
            }
        }
    };
    ctx.save_fpu();
    drop(ctx);
    // The space may be freed only once no CPU holds it: this CPU leaves it.
    kernel::memory::address_space::activate_kernel();
    for child in &process.children {
        // Orphans: their parent is now process 1, as on Linux.
        child.info.ppid.store(1, Ordering::Relaxed);
    }
    // Its descriptors close before its parent can learn of the exit, as
    // on Linux: a parent that reaped it finds what it held closed (a
    // listening socket refuses, a pipe's reader sees the end).
    process.files = crate::fd::FdTable::new();
    if let Some(cell) = process.exit_cell.take() {
        cell.exit(status);
    }
    drop(process);
    crate::sched::thread_ended();
    status
}

/// Acts on what signal delivery decided: the exit status if the process
/// ends; a stopped process waits here until it is continued.
async fn after_delivery(process: &mut Process, delivered: Delivered) -> Option<ExitStatus> {
    match delivered {
        Delivered::Continue => None,
        Delivered::Exit(status) => Some(status),
        Delivered::Stop(signal) => {
            signal::stopped(process, signal).await;
            // Another program may have run here meanwhile.
            process.memory.space().ensure_active();
            None
        }
    }
}

/// Moves the thread to `cpu` (`sched_setaffinity`), by message: its state
/// travels to a new task there (`run_on::spawn_made_on`), and this task
/// waits for that one's end, so whoever awaits this task still learns the
/// exit status. This CPU leaves the address space first, so that only the
/// new CPU may hold it.
async fn migrate(process: Process, mut ctx: Box<UserContext>, cpu: kernel::arch::cpu_id::CpuId) -> ExitStatus {
    ctx.save_fpu();
    kernel::memory::address_space::activate_kernel();
    crate::sched::thread_ended();
    crate::sched::count_on(cpu);
    process.info.cpu.store(cpu.as_u32(), Ordering::Relaxed);
    let moved = kernel::run_on::spawn_made_on(cpu, "user", move || run(process, ctx));
    match moved.await {
        Ok(status) => status,
        Err(e) => {
            log::error!("a migrated thread's task ended without a status: {e:?}");
            ExitStatus::Signaled(crate::signal::sig::SIGKILL)
        }
    }
}
