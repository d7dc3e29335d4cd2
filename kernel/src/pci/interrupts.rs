//! Message-signalled interrupts bound to tasks, the way `irq::bind` binds
//! an IOAPIC line: a driver asks for a vector on the CPU it chooses (from
//! that CPU's dynamic range, `arch::vectors`), the device is programmed to
//! write the message that raises it there, and the driver's task awaits
//! the binding:
//!
//! ```text
//! device writes the message -> vector v on cpu c (c's local APIC)
//!   on_message (interrupt context, cpu c): count; the driver's handler
//!     (`Handler`: a fn with its state, or none) acknowledges the device;
//!     WaitCell::signal; EOI
//!   task (on c, where the driver spawned it): MessageIrq::wait().await
//! ```
//!
//! MSI programs the one message in the capability; MSI-X writes an entry
//! of the table in the device's BAR ([`MsiXTable`]), which can be masked
//! and unmasked alone and whose pending bits can be read. A binding's few
//! bytes stay allocated after it is dropped, so a handler that races the
//! drop on another CPU never reads freed memory (and its state is
//! `&'static` for the same reason).
//!
//! One waiter: [`MessageIrq::wait`] serves the one task that owns the
//! binding (a `WaitCell` holds one waker; a second task waiting on the same
//! binding takes the first one's place).

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use io::WaitCell;
use pci::capability::Kind;
use pci::header::{COMMAND, command};
use pci::msi::{self, Msi, MsiX, TableEntry};

use super::{Access, BarMapping, Claimed, ConfigAccess, MapError};
use crate::arch::cpu_array::CpuArray;
use crate::arch::cpu_id::CpuId;
use crate::arch::entry::InterruptFrame;
use crate::arch::vectors::{self, Allocated, Vector};
use crate::arch::{lapic, percpu};
use crate::irq::Handler;

const DYNAMIC: usize = (vectors::DYNAMIC_LAST.as_u8() - vectors::DYNAMIC_FIRST.as_u8()) as usize + 1;

struct Binding {
    /// Set before the binding is published; never changed.
    handler: Handler,
    /// Cleared when the `MessageIrq` is dropped: a late interrupt then
    /// runs no handler.
    active: AtomicBool,
    cell: WaitCell,
    count: AtomicU64,
}

/// Per CPU and dynamic vector: the binding its interrupts go to.
static BINDINGS: CpuArray<[AtomicPtr<Binding>; DYNAMIC]> = crate::cpu_array!([const { AtomicPtr::new(core::ptr::null_mut()) }; DYNAMIC]);

fn slot(cpu: CpuId, v: Vector) -> &'static AtomicPtr<Binding> {
    &BINDINGS.get(cpu)[usize::from(v.as_u8() - vectors::DYNAMIC_FIRST.as_u8())]
}

fn on_message(v: Vector, _: &mut InterruptFrame) {
    let p = slot(percpu::current_id(), v).load(Ordering::Acquire);
    // SAFETY: non-null slots point at leaked bindings (never freed).
    if let Some(b) = unsafe { p.as_ref() } {
        b.count.fetch_add(1, Ordering::Relaxed);
        if b.active.load(Ordering::Acquire) {
            b.handler.run();
        }
        b.cell.signal();
    }
    lapic::eoi();
}

/// Why a message interrupt could not be bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsiError {
    /// The function has no MSI (or MSI-X) capability.
    NoCapability,
    /// The CPU is not online.
    NoSuchCpu(CpuId),
    /// Every dynamic vector of the CPU is taken.
    Vectors(vectors::Exhausted),
    /// The CPU's APIC id does not fit a message.
    Destination(msi::DestinationTooLarge),
    /// The MSI-X entry is past the table.
    NoSuchEntry(u16),
    /// The MSI-X table's BAR could not be mapped.
    Map(MapError),
    /// PCI was not enumerated.
    NoPci,
}

impl fmt::Display for MsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsiError::NoCapability => f.write_str("the function has no such capability"),
            MsiError::NoSuchCpu(c) => write!(f, "{c} is not online"),
            MsiError::Vectors(e) => write!(f, "{e}"),
            MsiError::Destination(e) => write!(f, "{e}"),
            MsiError::NoSuchEntry(i) => write!(f, "MSI-X entry {i} is past the table"),
            MsiError::Map(e) => write!(f, "MSI-X table: {e}"),
            MsiError::NoPci => f.write_str("PCI was not enumerated"),
        }
    }
}

enum Source {
    Msi { function: Claimed, cap: Msi },
    MsiX { table: Arc<MsiXTable>, entry: u16 },
}

/// A message interrupt bound to a driver: its task awaits [`wait`](Self::wait).
/// Dropping it turns the message off (MSI disabled, MSI-X entry masked) and
/// releases the vector.
pub struct MessageIrq {
    binding: &'static Binding,
    vector: Allocated,
    source: Source,
}

/// Allocates a vector on `cpu` and makes the message that raises it there.
fn prepare(cpu: CpuId, handler: Handler) -> Result<(Allocated, &'static Binding, msi::Message), MsiError> {
    let apic = percpu::get(cpu).filter(|_| cpu.as_usize() < crate::smp::online()).ok_or(MsiError::NoSuchCpu(cpu))?.apic_id();
    let vector = vectors::allocate(cpu).map_err(MsiError::Vectors)?;
    let message = msi::message(apic.0, vector.vector().as_u8()).map_err(MsiError::Destination)?;
    let binding: &'static Binding =
        Box::leak(Box::new(Binding { handler, active: AtomicBool::new(true), cell: WaitCell::new(), count: AtomicU64::new(0) }));
    slot(cpu, vector.vector()).store(core::ptr::from_ref(binding).cast_mut(), Ordering::Release);
    vector.set_handler(on_message);
    Ok((vector, binding, message))
}

/// Lets the function master the bus (its message is a memory write) and
/// stops its INTx pin.
fn enable_messages(access: &Access, function: &Claimed) {
    let bdf = function.bdf();
    let cmd = access.read16(bdf, COMMAND);
    access.write16(bdf, COMMAND, cmd | command::BUS_MASTER | command::INTX_DISABLE);
}

/// Binds the claimed function's MSI to a new vector on `cpu`: `handler`
/// runs there in interrupt context (acknowledge the device; or
/// [`Handler::NONE`]), then the binding's waiter is signalled.
pub fn bind_msi(function: &Claimed, cpu: CpuId, handler: Handler) -> Result<MessageIrq, MsiError> {
    let access = super::access().ok_or(MsiError::NoPci)?;
    let at = function.capability(Kind::Msi).ok_or(MsiError::NoCapability)?;
    let cap = Msi::read(access, function.bdf(), at.offset);
    let (vector, binding, message) = prepare(cpu, handler)?;
    cap.program(access, function.bdf(), message).map_err(MsiError::Destination)?;
    enable_messages(access, function);
    cap.set_enabled(access, function.bdf(), true);
    Ok(MessageIrq { binding, vector, source: Source::Msi { function: function.clone(), cap } })
}

impl MessageIrq {
    /// The CPU its interrupts arrive on.
    pub fn cpu(&self) -> CpuId {
        self.vector.cpu()
    }

    /// The vector they arrive on (on that CPU).
    pub fn vector(&self) -> Vector {
        self.vector.vector()
    }

    /// Interrupts taken through this binding.
    pub fn count(&self) -> u64 {
        self.binding.count.load(Ordering::Relaxed)
    }

    /// Waits for the next interrupt (or returns at once if one came since
    /// the last wait).
    pub async fn wait(&self) {
        self.binding.cell.wait().await;
    }

    /// Masks (`true`) or unmasks the message: the device holds it pending
    /// meanwhile. `false` if the device cannot mask (MSI without per-vector
    /// masking).
    pub fn set_masked(&self, masked: bool) -> bool {
        match &self.source {
            Source::Msi { function, cap } => super::access().is_some_and(|a| cap.set_masked(a, function.bdf(), masked)),
            Source::MsiX { table, entry } => {
                table.set_masked(*entry, masked);
                true
            }
        }
    }

    /// Whether the device holds the message pending (masked and raised);
    /// `None` if it cannot tell.
    pub fn pending(&self) -> Option<bool> {
        match &self.source {
            Source::Msi { function, cap } => super::access().and_then(|a| cap.pending(a, function.bdf())),
            Source::MsiX { table, entry } => Some(table.pending(*entry)),
        }
    }
}

impl Drop for MessageIrq {
    fn drop(&mut self) {
        match &self.source {
            Source::Msi { function, cap } => {
                if let Some(a) = super::access() {
                    cap.set_enabled(a, function.bdf(), false);
                }
            }
            Source::MsiX { table, entry } => table.set_masked(*entry, true),
        }
        self.binding.active.store(false, Ordering::Release);
        slot(self.vector.cpu(), self.vector.vector()).store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// Every MSI-X table opened, for `pci -v` (entries of dropped tables are
/// pruned as they are found).
static OPEN_TABLES: spin::Mutex<Vec<Weak<MsiXTable>>> = spin::Mutex::new(Vec::new());

/// Where one MSI-X entry is aimed, read back from its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The entry.
    pub entry: u16,
    /// The destination APIC id its address names.
    pub apic_id: u32,
    /// The vector its data names.
    pub vector: u8,
    /// Masked now.
    pub masked: bool,
}

/// The unmasked-or-programmed entries of `bdf`'s open MSI-X table, if a
/// driver has opened one.
pub fn msix_routes(bdf: super::Bdf) -> Option<Vec<Route>> {
    let mut open = OPEN_TABLES.lock();
    open.retain(|t| t.strong_count() > 0);
    let table = open.iter().filter_map(Weak::upgrade).find(|t| t.function.bdf() == bdf)?;
    drop(open);
    Some(
        (0..table.cap.table_size)
            .filter_map(|entry| {
                let at = u64::from(table.cap.entry_offset(entry)?);
                let address = table.table.read32(at + u64::from(TableEntry::ADDRESS_LOW));
                let data = table.table.read32(at + u64::from(TableEntry::DATA));
                let masked = table.table.read32(at + u64::from(TableEntry::VECTOR_CONTROL)) & TableEntry::MASKED != 0;
                (address != 0).then_some(Route { entry, apic_id: (address >> 12) & 0xff, vector: data as u8, masked })
            })
            .collect(),
    )
}

/// A function's MSI-X table (and pending-bit array), mapped from its BAR.
pub struct MsiXTable {
    function: Claimed,
    cap: MsiX,
    table: BarMapping,
    pba: BarMapping,
}

impl MsiXTable {
    /// Maps the claimed function's table, masks every entry and enables
    /// MSI-X.
    pub fn open(function: &Claimed) -> Result<Arc<Self>, MsiError> {
        let access = super::access().ok_or(MsiError::NoPci)?;
        let at = function.capability(Kind::MsiX).ok_or(MsiError::NoCapability)?;
        let cap = MsiX::read(access, function.bdf(), at.offset);
        let table_end = u64::from(cap.table_offset) + u64::from(cap.table_size) * u64::from(TableEntry::SIZE);
        let table = BarMapping::map(function, cap.table_bar, table_end).map_err(MsiError::Map)?;
        let function = function.clone();
        let pba_end = u64::from(cap.pba_offset) + u64::from(cap.table_size).div_ceil(64) * 8;
        let pba = BarMapping::map(&function, cap.pba_bar, pba_end).map_err(MsiError::Map)?;
        let this = Arc::new(Self { function, cap, table, pba });
        OPEN_TABLES.lock().push(Arc::downgrade(&this));
        for i in 0..cap.table_size {
            this.set_masked(i, true);
        }
        enable_messages(access, &this.function);
        cap.set_enabled(access, this.function.bdf(), true);
        Ok(this)
    }

    /// Entries in the table.
    pub fn len(&self) -> u16 {
        self.cap.table_size
    }

    /// Whether the table has no entries (never, by the spec).
    pub fn is_empty(&self) -> bool {
        self.cap.table_size == 0
    }

    /// Binds entry `entry` to a new vector on `cpu` (see [`bind_msi`]); the
    /// entry is unmasked once it holds the message.
    pub fn bind(self: &Arc<Self>, entry: u16, cpu: CpuId, handler: Handler) -> Result<MessageIrq, MsiError> {
        let at = u64::from(self.cap.entry_offset(entry).ok_or(MsiError::NoSuchEntry(entry))?);
        let (vector, binding, message) = prepare(cpu, handler)?;
        self.set_masked(entry, true);
        self.table.write32(at + u64::from(TableEntry::ADDRESS_LOW), message.address as u32);
        self.table.write32(at + u64::from(TableEntry::ADDRESS_HIGH), (message.address >> 32) as u32);
        self.table.write32(at + u64::from(TableEntry::DATA), message.data);
        self.set_masked(entry, false);
        Ok(MessageIrq { binding, vector, source: Source::MsiX { table: Arc::clone(self), entry } })
    }

    fn set_masked(&self, entry: u16, masked: bool) {
        let Some(at) = self.cap.entry_offset(entry) else { return };
        let at = u64::from(at + TableEntry::VECTOR_CONTROL);
        let control = self.table.read32(at);
        let control = if masked { control | TableEntry::MASKED } else { control & !TableEntry::MASKED };
        self.table.write32(at, control);
    }

    fn pending(&self, entry: u16) -> bool {
        let Some((word, bit)) = self.cap.pending_bit(entry) else { return false };
        self.pba.read64(u64::from(word)) & (1 << bit) != 0
    }

    /// The function the table belongs to.
    pub fn function(&self) -> &'static super::Function {
        self.function.function()
    }
}
