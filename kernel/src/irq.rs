//! Device interrupts bound to tasks: the kernel half of the driver pattern.
//!
//! A driver binds a line with a tiny handler and gets an [`Irq`]; its task
//! then loops on `irq.wait().await` and drains the device:
//!
//! ```text
//! device asserts GSI g -> IOAPIC -> vector 0x30 + g on the CPU that bound it
//!   on_device_irq (interrupt context): count; the driver's handler (read
//!     the data register into an io::IrqRing: that is the acknowledgement);
//!     level-triggered: mask g in the IOAPIC; WaitCell::signal; EOI
//!   task: Irq::wait() unmasks g if it was masked (the device has been
//!     drained since), then awaits the WaitCell; then drains the ring
//! ```
//!
//! Level-triggered lines stay masked from the interrupt until the task asks
//! for the next one (DragonFly's interrupt-thread rule): a device that keeps
//! its line asserted until serviced cannot storm the CPU while its task has
//! not run. Edge-triggered lines (every ISA IRQ) are never masked.
//!
//! The line is routed to the CPU that calls [`bind`], so the task that waits
//! on it (spawned there) is woken locally.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use core::task::{Context, Poll};

use io::WaitCell;

use crate::acpi;
use crate::arch::entry::InterruptFrame;
use crate::arch::idt;
use crate::arch::ioapic::{Polarity, Trigger};
use crate::arch::vectors::{self, Vector};
use crate::arch::{ioapic, lapic, percpu};

mod handler;

pub use handler::Handler;

/// GSIs that can be bound (the vector map's IOAPIC range, `arch::vectors`).
pub const MAX_GSI: u32 = vectors::GSI_COUNT;

struct Binding {
    /// The driver's handler (null: unbound). Each bind leaks one (a few
    /// words), so a handler racing an unbind on another CPU reads valid
    /// memory.
    handler: AtomicPtr<Handler>,
    cell: WaitCell,
    level: AtomicBool,
    masked: AtomicBool,
    count: AtomicU64,
    cpu: AtomicU32,
}

static BINDINGS: [Binding; MAX_GSI as usize] = [const {
    Binding {
        handler: AtomicPtr::new(core::ptr::null_mut()),
        cell: WaitCell::new(),
        level: AtomicBool::new(false),
        masked: AtomicBool::new(false),
        count: AtomicU64::new(0),
        cpu: AtomicU32::new(0),
    }
}; MAX_GSI as usize];

/// Why a line could not be bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqError {
    /// No ACPI machine description (no IOAPIC known).
    NoInterruptController,
    /// The GSI is beyond [`MAX_GSI`].
    GsiTooLarge(u32),
    /// Another driver holds the line.
    AlreadyBound(u32),
    /// No IOAPIC handles the GSI.
    NoIoApic(u32),
}

impl core::fmt::Display for IrqError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IrqError::NoInterruptController => f.write_str("no IOAPIC known (ACPI discovery failed)"),
            IrqError::GsiTooLarge(g) => write!(f, "GSI {g} is beyond the {MAX_GSI} bindable lines"),
            IrqError::AlreadyBound(g) => write!(f, "GSI {g} is already bound to a driver"),
            IrqError::NoIoApic(g) => write!(f, "no IOAPIC handles GSI {g}"),
        }
    }
}

/// A bound interrupt line; its owner task awaits it.
pub struct Irq {
    gsi: u32,
}

/// Binds ISA IRQ `irq` (after the MADT's overrides) to `handler`, routed to
/// this CPU.
pub fn bind_isa(irq: u8, handler: Handler) -> Result<Irq, IrqError> {
    let route = acpi::machine().ok_or(IrqError::NoInterruptController)?.isa_route(irq);
    bind(route.gsi, route.polarity, route.trigger, handler)
}

/// Binds `gsi` to `handler`, routed to this CPU. `handler` runs in
/// interrupt context: it must only acknowledge the device (read its data
/// into a ring) and return; the wake is done for it.
pub fn bind(gsi: u32, polarity: Polarity, trigger: Trigger, handler: Handler) -> Result<Irq, IrqError> {
    let b = BINDINGS.get(gsi as usize).ok_or(IrqError::GsiTooLarge(gsi))?;
    if acpi::machine().is_none() {
        return Err(IrqError::NoInterruptController);
    }
    let handler: *mut Handler = alloc::boxed::Box::leak(alloc::boxed::Box::new(handler));
    b.handler
        .compare_exchange(core::ptr::null_mut(), handler, Ordering::AcqRel, Ordering::Acquire)
        .map_err(|_| IrqError::AlreadyBound(gsi))?;
    b.level.store(trigger == Trigger::Level, Ordering::Release);
    b.cpu.store(percpu::current_id().as_u32(), Ordering::Relaxed);
    let vector = vector_of(gsi);
    idt::set_handler(vector, on_device_irq);
    if let Err(ioapic::RouteError::NoIoApic(g)) = ioapic::route(gsi, polarity, trigger, vector, lapic::id()) {
        b.handler.store(core::ptr::null_mut(), Ordering::Release);
        return Err(IrqError::NoIoApic(g));
    }
    Ok(Irq { gsi })
}

fn vector_of(gsi: u32) -> Vector {
    vectors::gsi(gsi).expect("bind checked the GSI against MAX_GSI")
}

fn on_device_irq(vector: Vector, _: &mut InterruptFrame) {
    let gsi = u32::from(vector.as_u8() - vectors::GSI_BASE.as_u8());
    let b = &BINDINGS[gsi as usize];
    b.count.fetch_add(1, Ordering::Relaxed);
    // SAFETY: non-null values are leaked handlers (`bind`), never freed.
    if let Some(handler) = unsafe { b.handler.load(Ordering::Acquire).as_ref() } {
        handler.run();
    }
    if b.level.load(Ordering::Acquire) {
        let _ = ioapic::set_masked(gsi, true);
        b.masked.store(true, Ordering::Release);
    }
    b.cell.signal();
    lapic::eoi();
}

impl Irq {
    /// The line's global system interrupt number.
    pub fn gsi(&self) -> u32 {
        self.gsi
    }

    /// The vector it arrives on.
    pub fn vector(&self) -> Vector {
        vector_of(self.gsi)
    }

    /// Interrupts taken on this line since boot.
    pub fn count(&self) -> u64 {
        BINDINGS[self.gsi as usize].count.load(Ordering::Relaxed)
    }

    /// Waits for the next interrupt (or returns at once if one came since the
    /// last wait). A level-triggered line masked by the last interrupt is
    /// unmasked first: calling `wait` says "the device is drained".
    pub fn wait(&self) -> IrqWait<'_> {
        let b = &BINDINGS[self.gsi as usize];
        if b.masked.swap(false, Ordering::AcqRel) {
            let _ = ioapic::set_masked(self.gsi, false);
        }
        IrqWait { irq: self }
    }

    /// Signals the line's waiter as the interrupt would (for a driver that
    /// must look at its device again without an interrupt, e.g. after
    /// re-enabling the device's interrupt source).
    pub fn kick(&self) {
        BINDINGS[self.gsi as usize].cell.signal();
    }
}

impl Drop for Irq {
    fn drop(&mut self) {
        let _ = ioapic::set_masked(self.gsi, true);
        BINDINGS[self.gsi as usize].handler.store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// The future [`Irq::wait`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct IrqWait<'a> {
    irq: &'a Irq,
}

impl Future for IrqWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        BINDINGS[self.irq.gsi as usize].cell.poll_wait(cx)
    }
}

/// Signals `gsi`'s waiter as its interrupt would (see [`Irq::kick`]), for
/// code that does not own the `Irq`: a writer that queued bytes for the
/// driver task to transmit, say.
pub fn kick(gsi: u32) {
    if let Some(b) = BINDINGS.get(gsi as usize) {
        b.cell.signal();
    }
}

/// Interrupts taken on `gsi` since boot (0 for an unbound or unknown line).
pub fn count(gsi: u32) -> u64 {
    BINDINGS.get(gsi as usize).map_or(0, |b| b.count.load(Ordering::Relaxed))
}
