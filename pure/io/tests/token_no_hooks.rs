//! A platform that never installed the token hook gets a clear panic the
//! first time a task must wait, not a hang (its own test binary: the hook
//! is process-wide, and the other token tests install one).

use std::pin::pin;
use std::task::{Context, Waker};

use io::token::Guarded;

#[test]
#[should_panic(expected = "no platform installed token::set_hooks")]
fn waiting_without_a_hook_is_refused_by_name() {
    let g = Guarded::new("no-hook", 0u32);
    let _ = g.try_exclusive(|_| {
        // Busy now: this access must wait, and there is nobody to ask.
        let mut waiting = pin!(g.exclusive(|v| *v += 1));
        let _ = waiting.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    });
}
