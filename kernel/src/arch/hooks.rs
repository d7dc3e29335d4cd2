//! The calls arch makes above itself, given to it at boot (`boot::start`
//! installs them first thing): arch never imports the console or the
//! fatal-error path. Before they are installed an exception halts the CPU
//! after one log line, and an exit does not flush the console.

use super::entry::InterruptFrame;
use super::exceptions::Fault;

/// What arch calls up into.
#[derive(Clone, Copy, Debug)]
pub struct ArchHooks {
    /// Flushes queued console output (before QEMU exits).
    pub before_exit: fn(),
    /// Whether another CPU is reporting a fatal error (an NMI then means
    /// "stop").
    pub fatal_in_progress: fn() -> bool,
    /// Reports a fatal exception and stops the machine.
    pub fatal_exception: fn(Fault, &InterruptFrame) -> !,
}

static HOOKS: spin::Once<ArchHooks> = spin::Once::new();

/// Gives arch its hooks (once, at boot).
pub fn install(hooks: ArchHooks) {
    HOOKS.call_once(|| hooks);
}

pub(super) fn get() -> Option<&'static ArchHooks> {
    HOOKS.get()
}
