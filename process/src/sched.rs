//! Where a new process runs: the CPU with the fewest user threads
//! (DragonFly's userland scheduler places a new process on the least
//! loaded CPU; here a process never moves after that, yet). A thread is
//! counted from its placement ([`place`]) to its end ([`thread_ended`]).

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::arch::cpu_id::{CpuId, MAX_CPUS};

/// User threads per CPU (each CPU counts its own; any CPU reads).
static THREADS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// A user thread of this CPU has ended.
pub fn thread_ended() {
    THREADS[kernel::smp::current().as_usize()].fetch_sub(1, Ordering::Relaxed);
}

/// User threads on `cpu` now.
pub fn threads_on(cpu: CpuId) -> u32 {
    THREADS[cpu.as_usize()].load(Ordering::Relaxed)
}

/// The online CPU with the fewest user threads (the lowest id on a tie).
pub fn least_loaded() -> CpuId {
    (0..kernel::smp::online()).filter_map(CpuId::try_new).min_by_key(|&c| threads_on(c)).unwrap_or(CpuId::BOOT)
}

/// Chooses the CPU for a new user thread and counts it there at once (a
/// burst of forks spreads out before the first child has run); the
/// thread's end takes it off ([`thread_ended`]).
pub fn place() -> CpuId {
    let cpu = least_loaded();
    THREADS[cpu.as_usize()].fetch_add(1, Ordering::Relaxed);
    cpu
}

/// Counts a user thread on `cpu` (a first process, placed by its caller).
pub fn count_on(cpu: CpuId) {
    THREADS[cpu.as_usize()].fetch_add(1, Ordering::Relaxed);
}
