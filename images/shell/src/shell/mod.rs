//! The console shell: a prompt on the serial port and the screen, line
//! editing (`protocols::line`: backspace, left/right, home/end, history), and
//! commands that are `async fn`s on the executor.
//!
//! Flow: keys from [`Input`] (serial and PS/2 keyboard) go through the
//! line editor, whose echo goes to [`Out`]; a finished line runs as a
//! command future, raced against Ctrl-C from the input: Ctrl-C drops
//! (cancels) the command.

mod commands;
mod disk;
mod input;
mod out;
mod pci;
pub mod stats;

use alloc::string::String;
use core::future::Future;
use core::pin::pin;
use core::task::Poll;

use protocols::line::{Event, LineEditor};

pub use input::Input;
pub use out::Out;

/// Printed before each line.
pub const PROMPT: &str = "odonata> ";
/// Longest line kept; typing beyond it is ignored.
const MAX_LINE: usize = 256;
/// Lines remembered for up/down.
const HISTORY: usize = 100;

/// Runs the shell forever on this CPU.
pub async fn run(mut input: Input) -> ! {
    let mut out = Out::new();
    let mut editor = LineEditor::new(MAX_LINE, HISTORY);
    out.line(format_args!("odonata shell on {}; type help", kernel::smp::CpuCount(kernel::smp::online()))).await;
    loop {
        out.write(PROMPT).await;
        let line = loop {
            let key = input.key().await;
            let mut echo = String::new();
            let event = editor.feed(key, &mut echo);
            if !echo.is_empty() {
                out.write(&echo).await;
            }
            match event {
                Some(Event::Line(line)) => break Some(line),
                Some(Event::Interrupt) => break None,
                None => {}
            }
        };
        let Some(line) = line else { continue };
        let mut command = pin!(commands::run(&line));
        let interrupted = core::future::poll_fn(|cx| {
            if command.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            input.poll_interrupt(cx).map(|()| true)
        })
        .await;
        if interrupted {
            out.write("^C (cancelled)\n").await;
        }
        // One line per poll: other tasks on this CPU (the serial driver's)
        // run between commands even when input is queued.
        kernel::exec::yield_now().await;
    }
}
