//! Message ports in the kernel: `io::port` wired to this CPU's id and to
//! the IPI queues. A put from another CPU is one IPI-queue message whose
//! handler (in task context on the owner) queues it for the port's server;
//! replies wake their caller through the executor's remote wake, itself an
//! IPI-queue message.
//!
//! ```text
//! let (port, handle) = kernel::port::new::<Req, Rep>(64);   // owned here
//! exec::spawn_named("my-server", port.serve(|req| answer(req)));
//! let rep = handle.call(req).await?;                         // from any CPU
//! ```

use io::port::PortHooks;

pub use io::port::{Answerer, Call, Message, Port, PortError, PortRef, Reply};

use crate::ipiq::{self, Urgency};
use crate::smp::{self, CpuId};

fn current() -> usize {
    smp::current().as_usize()
}

fn post(cpu: usize, word: usize) {
    let cpu = CpuId::try_new(cpu).expect("a port's owner is an online CPU");
    ipiq::send(cpu, on_put, word, Urgency::Active);
}

fn on_put(_from: CpuId, word: usize) {
    // SAFETY: `post` sent this word for a port owned by this CPU; the IPI
    // queues deliver each message once, in task context.
    unsafe { io::port::deliver(word) };
}

/// The kernel's port hooks.
pub static HOOKS: PortHooks = PortHooks { current, post };

/// A port owned by this CPU with room for `capacity` messages, and its
/// first handle.
pub fn new<Req: Send + 'static, Rep: Send + 'static>(capacity: usize) -> (Port<Req, Rep>, PortRef<Req, Rep>) {
    Port::new(&HOOKS, capacity)
}
