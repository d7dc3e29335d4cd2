//! virtio-rng, the entropy device (virtio 1.2, 5.4), and the worked example
//! of README's "Writing a virtio driver": one queue, no feature bits, the
//! device fills the buffers the driver posts.
//!
//! ```text
//! Rng::open (on the CPU that will own it)
//!   Transport::open   claim the function, map its structures, reset, MSI-X table
//!   negotiate(0)      ACKNOWLEDGE | DRIVER, VERSION_1 only, FEATURES_OK
//!   queue(0, 8, cpu)  the request queue, its interrupt (entry 1) aimed at cpu
//!   driver_ok         the device may start
//! Rng::fill (its owner): post a device-writable buffer, next_used().await, copy out
//! the service (start): a task on that CPU owns the Rng and answers each
//!   request from its port in turn: recv().await, fill().await, reply
//! ```
//!
//! The DMA buffer belongs to the device from the moment it is posted until
//! the device returns it. A request that times out stays posted: the next
//! `fill` first waits for that one to come back, and dropping the `Rng`
//! resets the device (after which it touches no queue memory) before the
//! buffer is freed.

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use io::port::{Port, PortError, PortRef};
use kernel::memory::dma::{DmaBuffer, NO_LIMIT};
use kernel::pci::Function;
use kernel::smp::CpuId;
use kernel::{exec, run_on};
use virtio::pci::device_type;
use virtio::queue::Buffer;

use super::queue::{QueueError, VirtQueue};
use super::transport::{Transport, TransportError};

/// The most one request asks the device for (and the DMA buffer's size).
pub const CHUNK: usize = 4096;
/// The most one call of the service returns.
pub const MAX_READ: usize = 64 * 1024;
/// How long the device may take to answer one request: generous for a
/// loaded emulator (QEMU reads the host's /dev/urandom in its own thread).
const DEADLINE: Duration = Duration::from_secs(5);
/// Empty answers in a row before the device is taken to have no entropy.
const EMPTY_LIMIT: u32 = 16;

/// Why entropy could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RngError {
    /// No virtio-rng device on the bus (`cargo run -- --rng`).
    NotFound,
    /// The transport failed (claim, mapping, features, queue, MSI-X).
    Transport(TransportError),
    /// No DMA memory for the buffer.
    NoMemory,
    /// The queue failed: a timeout or a device that broke the ring's rules.
    Queue(QueueError),
    /// The device keeps answering with no bytes.
    Empty,
    /// The service has gone, or dropped the request.
    Service(PortError),
}

impl fmt::Display for RngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RngError::NotFound => f.write_str("no virtio-rng device (cargo run -- --rng)"),
            RngError::Transport(e) => write!(f, "virtio-rng: {e}"),
            RngError::NoMemory => f.write_str("virtio-rng: no DMA memory"),
            RngError::Queue(e) => write!(f, "virtio-rng: {e}"),
            RngError::Empty => write!(f, "virtio-rng: {EMPTY_LIMIT} empty answers in a row"),
            RngError::Service(e) => write!(f, "entropy service: {e}"),
        }
    }
}

/// Every virtio-rng function on the bus.
pub fn devices() -> impl Iterator<Item = &'static Function> {
    super::find(device_type::ENTROPY)
}

/// One virtio-rng device, owned by one task.
pub struct Rng {
    transport: Transport,
    queue: VirtQueue,
    buffer: DmaBuffer,
    /// The head of a request the device has not returned yet (timed out).
    in_flight: Option<u16>,
}

impl Rng {
    /// Brings up `function`, its queue's interrupt aimed at `cpu` (the CPU
    /// whose task will call [`fill`](Self::fill)).
    pub fn open(function: &'static Function, cpu: CpuId) -> Result<Self, RngError> {
        let transport = Transport::open(function).map_err(RngError::Transport)?;
        transport.negotiate(0).map_err(RngError::Transport)?;
        let queue = transport.queue(0, 8, cpu).map_err(RngError::Transport)?;
        let buffer = DmaBuffer::new(CHUNK, NO_LIMIT).map_err(|_| RngError::NoMemory)?;
        transport.driver_ok();
        Ok(Self { transport, queue, buffer, in_flight: None })
    }

    /// Fills `out` with the device's random bytes.
    pub async fn fill(&mut self, out: &mut [u8]) -> Result<(), RngError> {
        if let Some(head) = self.in_flight {
            // The device still owns the buffer: wait for it to give it back.
            self.take(head).await?;
        }
        let mut got = 0;
        let mut empty = 0;
        while got < out.len() {
            let want = (out.len() - got).min(CHUNK);
            let chain = [Buffer { addr: self.buffer.phys_addr().as_u64(), len: want as u32, device_writes: true }];
            // One request at a time: the ring is never full here.
            let head = self.queue.add_and_notify(&chain).map_err(|_| RngError::Queue(QueueError::Timeout(Duration::ZERO)))?;
            self.in_flight = Some(head);
            let n = (self.take(head).await? as usize).min(want);
            self.buffer.read(0, &mut out[got..got + n]);
            got += n;
            empty = if n == 0 { empty + 1 } else { 0 };
            if empty == EMPTY_LIMIT {
                return Err(RngError::Empty);
            }
        }
        Ok(())
    }

    /// Waits for request `head` to come back; returns the bytes written.
    async fn take(&mut self, head: u16) -> Result<u32, RngError> {
        loop {
            let used = self.queue.next_used(DEADLINE).await.map_err(RngError::Queue)?;
            if used.head == head {
                self.in_flight = None;
                return Ok(used.len);
            }
            log::warn!("virtio-rng: the device returned head {} while {head} was posted", used.head);
        }
    }

    /// The queue (its interrupt's CPU, vector and count).
    pub fn queue(&self) -> &VirtQueue {
        &self.queue
    }
}

impl Drop for Rng {
    fn drop(&mut self) {
        // After a reset the device touches no queue memory: the buffer and
        // the ring may then be freed (fields drop after this).
        self.transport.reset();
    }
}

/// The entropy service: a task on one CPU that owns an [`Rng`] and answers
/// requests for bytes from any CPU, through its message port.
#[derive(Clone)]
pub struct Entropy {
    port: PortRef<usize, Result<Vec<u8>, RngError>>,
    cpu: CpuId,
}

impl Entropy {
    /// Starts the service for `function` on `cpu`.
    pub async fn start(function: &'static Function, cpu: CpuId) -> Result<Self, RngError> {
        let port = run_on::run_on(cpu, move || async move {
            let rng = Rng::open(function, cpu)?;
            // The port belongs to the task on this CPU that receives from it.
            let (port, handle) = kernel::port::new(8);
            drop(exec::spawn_driver("virtio-rng", serve(rng, port)));
            Ok::<_, RngError>(handle)
        })
        .await?;
        Ok(Self { port, cpu })
    }

    /// Up to [`MAX_READ`] random bytes (`len` of them, or fewer if asked
    /// for more), from any CPU.
    pub async fn read(&self, len: usize) -> Result<Vec<u8>, RngError> {
        self.port.call(len).await.map_err(RngError::Service)?
    }

    /// The CPU the service runs on.
    pub fn cpu(&self) -> CpuId {
        self.cpu
    }
}

/// The service's loop: one request at a time, each answered once.
async fn serve(mut rng: Rng, mut port: Port<usize, Result<Vec<u8>, RngError>>) {
    while let Some(message) = port.recv().await {
        let (len, answer) = message.take();
        let mut bytes = alloc::vec![0u8; len.min(MAX_READ)];
        let result = rng.fill(&mut bytes).await.map(|()| bytes);
        // A caller that gave up has gone: its answer is dropped.
        let _ = answer.reply(result);
    }
}

static ENTROPY: spin::Once<Option<Entropy>> = spin::Once::new();

/// Starts the service for the first virtio-rng device on the boot CPU
/// (once, at boot, from task context on the boot CPU); logs and returns
/// `None` if there is none or it cannot be brought up.
pub fn start() -> Option<&'static Entropy> {
    ENTROPY
        .call_once(|| {
            let function = devices().next()?;
            match exec::block_on(Entropy::start(function, CpuId::BOOT)) {
                Ok(e) => {
                    log::info!("virtio-rng at {}: entropy service on {}", function.bdf(), e.cpu());
                    Some(e)
                }
                Err(e) => {
                    log::error!("virtio-rng at {}: {e}; no entropy service", function.bdf());
                    None
                }
            }
        })
        .as_ref()
}

/// The entropy service, if [`start`] found a device.
pub fn entropy() -> Option<&'static Entropy> {
    ENTROPY.get().and_then(Option::as_ref)
}
