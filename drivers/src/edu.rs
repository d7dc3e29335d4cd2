//! QEMU's `edu` device (`docs/specs/edu.txt` in QEMU's tree), the worked
//! example of a PCI driver: every device found by its ids
//! ([`devices`]), each claimed, its BAR mapped, its MSI aimed at the CPU
//! the caller chooses, a factorial computed and DMA run both ways through a
//! [`DmaBuffer`], every failure returned as an [`EduError`].
//!
//! The interrupt handler only acknowledges: it reads the interrupt status,
//! writes it back to the acknowledge register and ORs it into its device's
//! `seen` bits; the task that started an operation awaits the MSI binding
//! until its bit is there. The handler finds its device through the state
//! it was bound with ([`IrqState`], one per open device), so any number of
//! edu devices are driven at once, one [`Edu`] each.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use kernel::memory::dma::{DmaBuffer, DmaOutOfMemory};
use kernel::pci::{self, AlreadyClaimed, BarMapping, Function, Handler, MapError, MessageIrq, MsiError};
use kernel::smp::CpuId;
use kernel::time;

/// PCI ids.
pub const VENDOR: u16 = 0x1234;
/// PCI ids.
pub const DEVICE: u16 = 0x11e8;

mod reg {
    pub const ID: u64 = 0x00;
    pub const FACTORIAL: u64 = 0x08;
    pub const STATUS: u64 = 0x20;
    pub const INTERRUPT_STATUS: u64 = 0x24;
    pub const INTERRUPT_RAISE: u64 = 0x60;
    pub const INTERRUPT_ACK: u64 = 0x64;
    pub const DMA_SOURCE: u64 = 0x80;
    pub const DMA_DESTINATION: u64 = 0x88;
    pub const DMA_COUNT: u64 = 0x90;
    pub const DMA_COMMAND: u64 = 0x98;
}

/// Status register: raise an interrupt when the factorial is done.
const STATUS_IRQ_ON_FACTORIAL: u32 = 0x80;
/// Interrupt status bits.
const IRQ_FACTORIAL: u32 = 0x001;
const IRQ_DMA: u32 = 0x100;
/// DMA command bits.
const DMA_START: u32 = 0x1;
const DMA_TO_RAM: u32 = 0x2;
const DMA_IRQ: u32 = 0x4;
/// The device's buffer, as the DMA engine addresses it.
const DEVICE_BUFFER: u64 = 0x40000;
/// Its size.
pub const DEVICE_BUFFER_LEN: usize = 4096;
/// The most one transfer may reach: QEMU 7.2's edu checks a transfer's end
/// against the buffer's off by one, and a transfer that reaches the last
/// byte stops the whole machine with a hardware error, so the driver
/// refuses it first.
pub const TRANSFER_END: usize = DEVICE_BUFFER_LEN - 1;
/// The DMA engine reaches 28 bits of physical address.
pub const DMA_LIMIT: u64 = 1 << 28;
/// How long an operation may take before it is an error: generous for a
/// loaded emulator (the device computes and copies in QEMU's own thread).
const DEADLINE: Duration = Duration::from_secs(10);

/// Why an `edu` operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EduError {
    /// No edu device on the bus.
    NotFound,
    /// Every edu device is open already.
    Busy,
    /// This edu device is open already (or driven by another driver).
    Claimed(AlreadyClaimed),
    /// BAR0 could not be mapped.
    Map(MapError),
    /// The MSI could not be bound.
    Msi(MsiError),
    /// No DMA memory the device can reach.
    Dma(DmaOutOfMemory),
    /// A transfer beyond the device's buffer (up to [`TRANSFER_END`]) or
    /// the DMA buffer.
    OutOfRange {
        /// Offset in the device's buffer.
        offset: usize,
        /// Bytes.
        len: usize,
    },
    /// The buffer is beyond the device's 28-bit DMA reach.
    Unreachable(u64),
    /// The device did not interrupt within the deadline.
    Timeout(&'static str),
}

impl fmt::Display for EduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EduError::NotFound => f.write_str("no edu device (1234:11e8)"),
            EduError::Busy => f.write_str("every edu device is already open"),
            EduError::Claimed(e) => write!(f, "edu: {e}"),
            EduError::Map(e) => write!(f, "edu BAR0: {e}"),
            EduError::Msi(e) => write!(f, "edu MSI: {e}"),
            EduError::Dma(e) => write!(f, "edu DMA: {e}"),
            EduError::OutOfRange { offset, len } => write!(f, "{len} bytes at {offset} do not fit"),
            EduError::Unreachable(a) => write!(f, "DMA buffer at {a:#x} is beyond the device's 28-bit reach"),
            EduError::Timeout(what) => write!(f, "edu: no interrupt for the {what} within {DEADLINE:?}"),
        }
    }
}

/// What one device's interrupt handler reaches: its registers and the
/// interrupt-status bits it has seen that no task has taken. Leaked at open
/// (two words): a binding's handler may still run on its CPU while another
/// CPU closes the device, so its state must live for good.
struct IrqState {
    /// BAR0's virtual address (the mapping is never unmapped: MMIO
    /// mappings live as long as the kernel).
    regs: u64,
    seen: AtomicU32,
}

fn on_interrupt(state: &IrqState) {
    // SAFETY: `regs` is BAR0's uncached mapping, which is never unmapped;
    // these registers are in its first page.
    let status = unsafe { core::ptr::read_volatile((state.regs + reg::INTERRUPT_STATUS) as *const u32) };
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile((state.regs + reg::INTERRUPT_ACK) as *mut u32, status) };
    state.seen.fetch_or(status, Ordering::AcqRel);
}

/// Every edu device on the bus, in bus order.
pub fn devices() -> impl Iterator<Item = &'static Function> {
    pci::matching(VENDOR, DEVICE)
}

/// Opens every edu device on the bus, each with its MSI aimed at `cpu`.
pub fn open_all(cpu: CpuId) -> Result<alloc::vec::Vec<Edu>, EduError> {
    devices().map(|f| Edu::open_device(f, cpu)).collect()
}

/// An open device (its claim is released when it is dropped).
pub struct Edu {
    regs: BarMapping,
    irq: MessageIrq,
    state: &'static IrqState,
}

impl Edu {
    /// Opens the first edu device no one has open, with its MSI aimed at `cpu`.
    pub fn open(cpu: CpuId) -> Result<Self, EduError> {
        let mut found = false;
        for function in devices() {
            found = true;
            match Self::open_device(function, cpu) {
                Err(EduError::Claimed(_)) => continue,
                other => return other,
            }
        }
        Err(if found { EduError::Busy } else { EduError::NotFound })
    }

    /// Claims `function` (an edu device), maps BAR0 and aims its MSI at `cpu`.
    pub fn open_device(function: &'static Function, cpu: CpuId) -> Result<Self, EduError> {
        if (function.header.vendor, function.header.device) != (VENDOR, DEVICE) {
            return Err(EduError::NotFound);
        }
        let device = pci::claim(function).map_err(EduError::Claimed)?;
        let regs = BarMapping::map(&device, 0, 4096).map_err(EduError::Map)?;
        let state: &'static IrqState =
            alloc::boxed::Box::leak(alloc::boxed::Box::new(IrqState { regs: regs.virt_base(), seen: AtomicU32::new(0) }));
        let irq = pci::bind_msi(&device, cpu, Handler::new(state, on_interrupt)).map_err(EduError::Msi)?;
        Ok(Self { regs, irq, state })
    }

    /// Where the device sits on the bus.
    pub fn bdf(&self) -> pci::Bdf {
        self.regs.bdf()
    }

    /// The identification register (0x010000ed for version 1.0).
    pub fn id(&self) -> u32 {
        self.regs.read32(reg::ID)
    }

    /// The MSI binding (its CPU, vector and count).
    pub fn irq(&self) -> &MessageIrq {
        &self.irq
    }

    /// Waits until the handler has seen `bit`, taking it.
    async fn wait_for(&self, bit: u32, what: &'static str) -> Result<(), EduError> {
        let waited = time::timeout(DEADLINE, async {
            while self.state.seen.fetch_and(!bit, Ordering::AcqRel) & bit == 0 {
                self.irq.wait().await;
            }
        });
        waited.await.map_err(|_| EduError::Timeout(what))
    }

    /// Has the device compute `n!` (modulo 2^32) and interrupt when done.
    pub async fn factorial(&self, n: u32) -> Result<u32, EduError> {
        self.regs.write32(reg::STATUS, STATUS_IRQ_ON_FACTORIAL);
        self.regs.write32(reg::FACTORIAL, n);
        self.wait_for(IRQ_FACTORIAL, "factorial").await?;
        Ok(self.regs.read32(reg::FACTORIAL))
    }

    /// Has the device raise its interrupt with `bits`, without waiting (a
    /// benchmark times the wake itself).
    pub fn trigger(&self, bits: u32) {
        self.regs.write32(reg::INTERRUPT_RAISE, bits);
    }

    /// Has the device raise its interrupt with `bits` (not 0) and waits for it.
    pub async fn raise(&self, bits: u32) -> Result<(), EduError> {
        self.regs.write32(reg::INTERRUPT_RAISE, bits);
        self.wait_for(bits, "raised interrupt").await
    }

    fn check(buffer: &DmaBuffer, offset: usize, len: usize) -> Result<(), EduError> {
        if len > buffer.len() || offset.checked_add(len).is_none_or(|end| end > TRANSFER_END) {
            return Err(EduError::OutOfRange { offset, len });
        }
        let end = buffer.phys_addr().as_u64() + len as u64;
        if end > DMA_LIMIT {
            return Err(EduError::Unreachable(buffer.phys_addr().as_u64()));
        }
        Ok(())
    }

    async fn dma(&self, source: u64, destination: u64, len: usize, command: u32) -> Result<(), EduError> {
        self.regs.write64(reg::DMA_SOURCE, source);
        self.regs.write64(reg::DMA_DESTINATION, destination);
        self.regs.write64(reg::DMA_COUNT, len as u64);
        self.regs.write64(reg::DMA_COMMAND, u64::from(command | DMA_START | DMA_IRQ));
        self.wait_for(IRQ_DMA, "DMA").await
    }

    /// Copies the first `len` bytes of `buffer` into the device's buffer at
    /// `offset`, by DMA.
    pub async fn to_device(&self, buffer: &DmaBuffer, offset: usize, len: usize) -> Result<(), EduError> {
        Self::check(buffer, offset, len)?;
        self.dma(buffer.phys_addr().as_u64(), DEVICE_BUFFER + offset as u64, len, 0).await
    }

    /// Copies `len` bytes of the device's buffer at `offset` into the start
    /// of `buffer`, by DMA.
    pub async fn from_device(&self, buffer: &DmaBuffer, offset: usize, len: usize) -> Result<(), EduError> {
        Self::check(buffer, offset, len)?;
        self.dma(DEVICE_BUFFER + offset as u64, buffer.phys_addr().as_u64(), len, DMA_TO_RAM).await
    }
}

/// A DMA buffer the device can reach.
pub fn dma_buffer(len: usize) -> Result<DmaBuffer, EduError> {
    DmaBuffer::new(len, DMA_LIMIT).map_err(EduError::Dma)
}
