//! What a bound interrupt runs in interrupt context: nothing (the binding
//! only wakes the driver's task), or a driver's function with the state it
//! needs, given at bind time. So a handler finds its device through its
//! argument, never through a static: two devices of one kind get two
//! bindings with two states.
//!
//! ```ignore
//! struct Regs { bar: BarMapping, seen: AtomicU32 }
//! fn on_interrupt(regs: &Regs) { /* read status, write it back, record it */ }
//! let state: &'static Regs = Box::leak(Box::new(Regs { .. }));
//! pci::bind_msi(&device, cpu, Handler::new(state, on_interrupt))?;
//! ```
//!
//! The state is `&'static` because a binding's handler may still run on its
//! CPU while another CPU drops the binding (bindings are never freed, for the
//! same reason). It must be `Sync`: the handler runs in interrupt context
//! while the driver's task reads the same state.

/// A handler for a bound interrupt: a `fn(&S)` and its `&'static S`, with
/// the type erased, or none.
#[derive(Clone, Copy)]
pub struct Handler {
    state: *const (),
    function: *const (),
    call: Option<unsafe fn(*const (), *const ())>,
}

// SAFETY: the state is `Sync` and `'static` (checked by `new`), and the
// function pointer is plain code: calling it from any CPU is what `Sync`
// state allows.
unsafe impl Send for Handler {}
// SAFETY: as above; a `Handler` is never mutated after it is made.
unsafe impl Sync for Handler {}

impl Handler {
    /// No handler: the interrupt only wakes the binding's waiter (a device
    /// that needs no acknowledgement, such as a virtqueue whose used ring
    /// the task reads itself).
    pub const NONE: Self = Self { state: core::ptr::null(), function: core::ptr::null(), call: None };

    /// `function(state)` runs in interrupt context for each interrupt: it
    /// must only acknowledge the device (read its status, push data into a
    /// ring) and return. It must not allocate or block.
    pub fn new<S: Sync + 'static>(state: &'static S, function: fn(&S)) -> Self {
        /// The erased call, made for each `S`.
        ///
        /// # Safety
        /// `state` and `function` come from one `Handler::new::<S>`.
        unsafe fn call<S>(state: *const (), function: *const ()) {
            // SAFETY: `new::<S>` stored a `fn(&S)` here (function and data
            // pointers have one size on x86_64).
            let function = unsafe { core::mem::transmute::<*const (), fn(&S)>(function) };
            // SAFETY: `new::<S>` stored a `&'static S` here.
            function(unsafe { &*state.cast::<S>() });
        }
        Self { state: core::ptr::from_ref(state).cast(), function: function as *const (), call: Some(call::<S>) }
    }

    /// Whether there is a function to run.
    pub fn is_none(&self) -> bool {
        self.call.is_none()
    }

    /// Runs the handler (interrupt context).
    pub fn run(&self) {
        if let Some(call) = self.call {
            // SAFETY: `call`, `state` and `function` were set together by `new`.
            unsafe { call(self.state, self.function) };
        }
    }
}

impl core::fmt::Debug for Handler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.is_none() { f.write_str("Handler::NONE") } else { write!(f, "Handler({:p})", self.function) }
    }
}
