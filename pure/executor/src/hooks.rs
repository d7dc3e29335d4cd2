//! What the platform gives the executor: how to tell which executor's task
//! context is running, how to signal another executor, a clock, and a
//! message path for wakes. These are the only calls from the executor up
//! into the kernel; the executor never knows how a CPU is woken.

/// What the platform provides. The executor never knows how a CPU is
/// signalled or what a cycle is; the kernel plugs in IPIs and the TSC, host
/// tests plug in threads.
#[derive(Debug)]
pub struct Hooks {
    /// The id of the executor whose task context this is, or `None` (another
    /// CPU's executor, an interrupt handler, no executor).
    pub current: fn() -> Option<usize>,
    /// Makes executor `id` look at its inbox soon (it may be idle).
    pub signal: fn(usize),
    /// A monotonic cycle counter, for per-task statistics.
    pub now: fn() -> u64,
    /// Delivers a wake message to executor `owner`: `task` is a task
    /// reference as one word, which the owner hands to
    /// [`Executor::wake_message`]. Returns `false` if it cannot send from
    /// here (an interrupt handler, say): the wake then takes the owner's
    /// lock-free inbox instead.
    pub remote_wake: fn(owner: usize, task: usize) -> bool,
}
