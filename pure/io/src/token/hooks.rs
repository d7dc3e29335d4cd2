//! The one thing tokens need from the platform: a way for a waiter to learn
//! that every hold it may have seen has ended (the protocol is in the
//! module doc of `token`).

use core::sync::atomic::{AtomicPtr, Ordering};
use core::task::Waker;

/// What the platform gives tokens; installed once with [`set_hooks`].
pub struct TokenHooks {
    /// Wakes `waker` once every CPU other than the caller's has been
    /// between two polls (holding no token) at least once since the call;
    /// at once if there is no other CPU. Called from task context by a
    /// task whose token was busy, after it gave back the rest of its set.
    /// Waking early is allowed (it costs the waiter a retry); never waking
    /// is not.
    pub wake_after_every_cpu: fn(Waker),
}

/// The installed hooks (`core`'s atomic even under loom: set once, before
/// the models run, and not part of them).
static HOOKS: AtomicPtr<TokenHooks> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the platform's hooks (the kernel at boot, a host executor
/// before its first wait). A later call replaces them.
pub fn set_hooks(hooks: &'static TokenHooks) {
    HOOKS.store(core::ptr::from_ref(hooks).cast_mut(), Ordering::Release);
}

/// Leaves `waker` to be woken once the holds that made it wait have ended.
pub(crate) fn wait(waker: &Waker) {
    let hooks = HOOKS.load(Ordering::Acquire);
    assert!(!hooks.is_null(), "token: a task must wait for every CPU, but no platform installed token::set_hooks");
    // SAFETY: only `&'static TokenHooks` are stored (`set_hooks`).
    let hooks = unsafe { &*hooks };
    (hooks.wake_after_every_cpu)(waker.clone());
}
