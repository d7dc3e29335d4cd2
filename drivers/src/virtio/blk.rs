//! virtio-blk with a queue per CPU (virtio 1.2, 5.2).
//!
//! Queue `i` belongs to CPU `i`: its MSI-X entry (`i + 1`) is aimed at CPU
//! `i`, its state is an [`OwnerCell`] only CPU `i` touches, and a driver
//! task there (interrupt band) takes its completions. A request made on CPU
//! `c` goes to `c`'s queue; a CPU without one (more CPUs than queues) hands
//! the request to the owner of queue `c % queues` with `run_on`: a message
//! through the IPI queues, never a lock.
//!
//! # Requests and their memory
//! A request is a chain of three descriptors: a 16-byte header (type,
//! sector) and a status byte from the queue's `DmaPool`, and the data in a
//! `DmaBuffer` of its own, copied from or to the caller's slice. Requests
//! longer than the device's segment size (or 64 KiB) are split.
//!
//! The rule: a request's DMA memory belongs to its slot in the queue (by
//! head) from the moment it is made available until the device returns
//! that head. If the future that made it is dropped first, the slot is
//! marked abandoned and keeps the memory; the completion frees it. A head
//! is free for a new request as soon as the device returns it, so the
//! completion moves a finished request out of its slot (into `finished`,
//! by ticket) before its future has run: a future knows its request by
//! ticket, never by head. The
//! device can therefore never write into memory that was freed or reused,
//! whatever the caller does. Completions are matched by head, in whatever
//! order the device finishes them. A full queue makes the submitter wait
//! (its waker is queued and woken by the next completion), never fail.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use io::block::{BlockDevice, BlockError};
use kernel::memory::dma::{DmaBuffer, DmaObject, DmaPool, NO_LIMIT};
use kernel::pci::{self, MessageIrq};
use kernel::smp::{self, CpuId};
use kernel::{exec, run_on};
use virtio::blk::{self, RequestType, Status, config, feature};
use virtio::queue::Buffer;

use super::owner_cell::OwnerCell;
use super::queue::VirtQueue;
use super::transport::{Transport, TransportError};

/// Largest request sent to the device at once.
const MAX_CHUNK: usize = 64 * 1024;
/// Entries per queue at most.
const QUEUE_SIZE: u16 = 256;

/// A request the device has not returned yet, in the slot of its head.
struct InFlight {
    /// Which request it is: a head is reused as soon as the device returns
    /// it, so the request's future knows itself by this, not by the head.
    ticket: u64,
    /// Held, not read: the device reads it until the head comes back.
    _header: DmaObject,
    status: DmaObject,
    data: Option<DmaBuffer>,
    waker: Option<Waker>,
    /// Its future was dropped: the completion frees it.
    abandoned: bool,
}

struct QueueState {
    vq: VirtQueue,
    slots: Vec<Option<InFlight>>,
    /// Requests the device returned whose futures have not taken the
    /// result yet, by ticket.
    finished: alloc::collections::BTreeMap<u64, (Result<(), BlockError>, Option<DmaBuffer>)>,
    next_ticket: u64,
    room: VecDeque<Waker>,
    pool: Arc<DmaPool>,
    /// Data buffers (MAX_CHUNK bytes each) kept for reuse: contiguous runs
    /// are not given back to the frame allocator as runs.
    spares: Vec<DmaBuffer>,
    completed: u64,
}

/// Spare data buffers a queue keeps at most.
const SPARES: usize = 32;

/// One queue, owned by one CPU.
pub struct Queue {
    index: u16,
    /// The queue's interrupt (also in its `VirtQueue`), awaited by its
    /// completion task outside the CPU-owned state.
    irq: Arc<MessageIrq>,
    state: OwnerCell<QueueState>,
}

/// A virtio-blk disk.
pub struct Disk {
    name: alloc::string::String,
    transport: Transport,
    sectors: u64,
    block_size: u32,
    read_only: bool,
    can_flush: bool,
    chunk: usize,
    queues: Vec<Queue>,
    /// Requests sent to another CPU's queue (this CPU had none).
    forwarded: core::sync::atomic::AtomicU64,
}

/// Why a disk could not be set up.
pub type SetupError = TransportError;

impl Disk {
    /// Brings up the virtio-blk device at `function`, with a queue for each
    /// CPU (as many as the device and its MSI-X table allow).
    pub fn open(function: &'static pci::Function, name: alloc::string::String) -> Result<&'static Self, SetupError> {
        let transport = Transport::open(function)?;
        let features = transport.negotiate(feature::RO | feature::BLK_SIZE | feature::FLUSH | feature::MQ | feature::SIZE_MAX)?;
        let sectors = transport.config_u64(config::CAPACITY);
        let block_size = if features & feature::BLK_SIZE != 0 { transport.config_u32(config::BLK_SIZE).max(512) } else { 512 };
        let mut chunk = MAX_CHUNK;
        if features & feature::SIZE_MAX != 0 {
            let size_max = transport.config_u32(config::SIZE_MAX) as usize;
            if size_max >= block_size as usize {
                chunk = chunk.min(size_max / block_size as usize * block_size as usize);
            }
        }
        let device_queues = if features & feature::MQ != 0 { transport.config_u16(config::NUM_QUEUES).max(1) } else { 1 };
        let usable = (device_queues as usize).min(smp::online()).min(usize::from(transport.msix().len()).saturating_sub(1)).max(1);
        let mut queues = Vec::with_capacity(usable);
        for i in 0..usable as u16 {
            let owner = CpuId::try_new(usize::from(i)).expect("below MAX_CPUS");
            let vq = transport.queue(i, QUEUE_SIZE, owner)?;
            let irq = Arc::clone(vq.interrupt());
            let slots = (0..vq.layout().size).map(|_| None).collect();
            let state = QueueState {
                vq,
                slots,
                finished: alloc::collections::BTreeMap::new(),
                next_ticket: 0,
                room: VecDeque::new(),
                pool: DmaPool::new(64, NO_LIMIT),
                spares: Vec::new(),
                completed: 0,
            };
            queues.push(Queue { index: i, irq, state: OwnerCell::new(owner, state) });
        }
        transport.driver_ok();
        let disk: &'static Disk = alloc::boxed::Box::leak(alloc::boxed::Box::new(Disk {
            name,
            transport,
            sectors,
            block_size,
            read_only: features & feature::RO != 0,
            can_flush: features & feature::FLUSH != 0,
            chunk,
            queues,
            forwarded: core::sync::atomic::AtomicU64::new(0),
        }));
        for q in &disk.queues {
            let owner = q.state.owner();
            let index = usize::from(q.index);
            exec::block_on(run_on::run_on(owner, move || async move {
                drop(exec::spawn_driver("virtio-blk", disk.reap_forever(index)));
            }));
        }
        Ok(disk)
    }

    /// Its name (`vda`, `vdb`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PCI function.
    pub fn function(&self) -> &'static pci::Function {
        self.transport.function()
    }

    /// (queue index, owner CPU, vector, completions) for each queue.
    pub fn queues(&self) -> impl Iterator<Item = (u16, CpuId, kernel::arch::vectors::Vector, u64)> + '_ {
        self.queues.iter().map(|q| (q.index, q.state.owner(), q.irq.vector(), q.irq.count()))
    }

    /// Requests this disk sent to another CPU's queue because the CPU that
    /// made them had none.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// Capacity in bytes.
    pub fn bytes(&self) -> u64 {
        self.sectors * blk::SECTOR
    }

    /// The completion task of queue `index`: takes what the device
    /// returned after each interrupt.
    async fn reap_forever(&'static self, index: usize) {
        let q = &self.queues[index];
        loop {
            q.irq.wait().await;
            q.state.with(|s| {
                loop {
                    match s.vq.pop_used() {
                        Ok(Some(used)) => {
                            // The head is free again from here: take the request out of its slot.
                            let Some(mut req) = s.slots[usize::from(used.head)].take() else {
                                log::error!("{}: queue {index} returned head {} with no request", self.name, used.head);
                                continue;
                            };
                            let mut status = [0u8];
                            req.status.read(0, &mut status);
                            let result = match Status::of(status[0]) {
                                Status::Ok => Ok(()),
                                Status::IoError => Err(BlockError::Io),
                                Status::Unsupported => Err(BlockError::Unsupported),
                                Status::Other(_) => Err(BlockError::Device("undefined request status")),
                            };
                            s.completed += 1;
                            // An abandoned request's memory is freed here, after the device.
                            if !req.abandoned {
                                if let Some(w) = req.waker.take() {
                                    w.wake();
                                }
                                s.finished.insert(req.ticket, (result, req.data.take()));
                            }
                            if let Some(w) = s.room.pop_front() {
                                w.wake();
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            log::error!("{}: queue {index}: {e}; the device is not believed", self.name);
                            break;
                        }
                    }
                }
            });
        }
    }

    /// The device sector where chunk `i` of a request at block `lba` starts.
    fn chunk_sector(&self, lba: u64, i: usize) -> u64 {
        let per_block = u64::from(self.block_size) / blk::SECTOR;
        (lba + (i * self.chunk / self.block_size as usize) as u64) * per_block
    }

    /// The queue this CPU submits to, and whether it owns it.
    fn queue_for(&self, cpu: CpuId) -> (usize, bool) {
        let i = cpu.as_usize() % self.queues.len();
        (i, self.queues[i].state.owner() == cpu)
    }

    /// One request on queue `index`, from its owner CPU: `data` goes to
    /// the device (writes) or comes back filled (reads).
    async fn submit(
        &self,
        index: usize,
        kind: RequestType,
        sector: u64,
        data: Option<DmaBuffer>,
        len: usize,
    ) -> Result<Option<DmaBuffer>, BlockError> {
        let q = &self.queues[index];
        let (header, status) = q.state.with(|s| (s.pool.alloc(), s.pool.alloc()));
        let (header, status) = match (header, status) {
            (Ok(h), Ok(st)) => (h, st),
            _ => return Err(BlockError::Device("no DMA memory for a request header")),
        };
        header.write(0, &blk::header(kind, sector));
        status.write(0, &[0xff]);
        let mut chain = Vec::with_capacity(3);
        chain.push(Buffer { addr: header.phys_addr().as_u64(), len: 16, device_writes: false });
        if let Some(d) = &data {
            chain.push(Buffer { addr: d.phys_addr().as_u64(), len: len as u32, device_writes: kind == RequestType::In });
        }
        chain.push(Buffer { addr: status.phys_addr().as_u64(), len: 1, device_writes: true });
        let mut parts = Some((header, status, data));
        let (head, ticket) = poll_fn(|cx| {
            q.state.with(|s| match s.vq.add(&chain) {
                Ok(head) => {
                    let (header, status, data) = parts.take().expect("added once");
                    let ticket = s.next_ticket;
                    s.next_ticket += 1;
                    s.slots[usize::from(head)] = Some(InFlight { ticket, _header: header, status, data, waker: None, abandoned: false });
                    Poll::Ready((head, ticket))
                }
                Err(_) => {
                    s.room.push_back(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
        .await;
        q.state.with(|s| s.vq.notify());
        let mut pending = Pending { q, head, ticket, finished: false };
        poll_fn(|cx| {
            q.state.with(|s| {
                if let Some((result, data)) = s.finished.remove(&pending.ticket) {
                    pending.finished = true;
                    return Poll::Ready(result.map(|()| data));
                }
                match s.slots[usize::from(pending.head)].as_mut() {
                    Some(req) if req.ticket == pending.ticket => {
                        req.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    _ => unreachable!("request {} is neither in flight nor finished", pending.ticket),
                }
            })
        })
        .await
    }

    /// A data buffer for queue `index`: a spare, or a new one.
    fn buffer(&self, index: usize) -> Result<DmaBuffer, BlockError> {
        match self.queues[index].state.with(|s| s.spares.pop()) {
            Some(b) => Ok(b),
            None => DmaBuffer::new(MAX_CHUNK, NO_LIMIT).map_err(|_| BlockError::Device("no DMA memory for a request")),
        }
    }

    /// Gives a data buffer back to queue `index`'s spares.
    fn spare(&self, index: usize, b: DmaBuffer) {
        self.queues[index].state.with(|s| {
            if s.spares.len() < SPARES {
                s.spares.push(b);
            }
        });
    }

    /// Reads `out.len()` bytes at `sector` on queue `index` (its owner CPU),
    /// straight from the request's DMA buffer into `out`.
    async fn read_here(&self, index: usize, sector: u64, out: &mut [u8]) -> Result<(), BlockError> {
        let b = self.buffer(index)?;
        let b =
            self.submit(index, RequestType::In, sector, Some(b), out.len()).await?.ok_or(BlockError::Device("a read returned no data"))?;
        b.read(0, out);
        self.spare(index, b);
        Ok(())
    }

    /// Writes `data` at `sector` on queue `index` (its owner CPU).
    async fn write_here(&self, index: usize, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        let b = self.buffer(index)?;
        b.write(0, data);
        if let Some(b) = self.submit(index, RequestType::Out, sector, Some(b), data.len()).await? {
            self.spare(index, b);
        }
        Ok(())
    }

    /// The queue for this CPU, and its owner if that is another CPU (the
    /// request then travels there by message; counted).
    fn route(&self) -> (usize, Option<CpuId>) {
        let (index, here) = self.queue_for(smp::current());
        if here {
            return (index, None);
        }
        self.forwarded.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        (index, Some(self.queues[index].state.owner()))
    }

    async fn read_chunk(&'static self, sector: u64, out: &mut [u8]) -> Result<(), BlockError> {
        match self.route() {
            (index, None) => self.read_here(index, sector, out).await,
            (index, Some(owner)) => {
                let len = out.len();
                let got = run_on::run_on(owner, move || async move {
                    let mut v = alloc::vec![0u8; len];
                    self.read_here(index, sector, &mut v).await.map(|()| v)
                })
                .await?;
                out.copy_from_slice(&got);
                Ok(())
            }
        }
    }

    async fn write_chunk(&'static self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        match self.route() {
            (index, None) => self.write_here(index, sector, data).await,
            (index, Some(owner)) => {
                let v = data.to_vec();
                run_on::run_on(owner, move || async move { self.write_here(index, sector, &v).await }).await
            }
        }
    }

    async fn flush_queue(&'static self) -> Result<(), BlockError> {
        match self.route() {
            (index, None) => self.submit(index, RequestType::Flush, 0, None, 0).await.map(|_| ()),
            (index, Some(owner)) => {
                run_on::run_on(owner, move || async move { self.submit(index, RequestType::Flush, 0, None, 0).await.map(|_| ()) }).await
            }
        }
    }
}

/// A request in the device's hands: if its future is dropped before the
/// completion, the slot is marked abandoned and keeps its memory.
struct Pending<'a> {
    q: &'a Queue,
    head: u16,
    ticket: u64,
    finished: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.q.state.with(|s| {
            // Completed since the last poll: drop its result and memory now.
            if s.finished.remove(&self.ticket).is_some() {
                return;
            }
            // Still the device's: the completion frees it.
            if let Some(req) = s.slots[usize::from(self.head)].as_mut().filter(|r| r.ticket == self.ticket) {
                req.abandoned = true;
                req.waker = None;
            }
        });
    }
}

impl BlockDevice for &'static Disk {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn capacity(&self) -> u64 {
        self.sectors * blk::SECTOR / u64::from(self.block_size)
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    /// A read larger than a chunk goes to the device as all its chunks at
    /// once (each its own request, in flight together), so a readahead of
    /// several chunks costs one round trip, not one per chunk. Writes stay
    /// in order, one chunk after another: the file system's write-back
    /// order (`ext2::order`) counts on it.
    async fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.check(lba, buf.len(), false)?;
        let disk: &'static Disk = self;
        if buf.len() <= disk.chunk {
            return disk.read_chunk(disk.chunk_sector(lba, 0), buf).await;
        }
        let parts = buf.chunks_mut(disk.chunk).enumerate().map(|(i, part)| disk.read_chunk(disk.chunk_sector(lba, i), part));
        futures_util::future::try_join_all(parts).await.map(|_| ())
    }

    async fn write(&self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.check(lba, buf.len(), true)?;
        let disk: &'static Disk = self;
        for (i, part) in buf.chunks(disk.chunk).enumerate() {
            disk.write_chunk(disk.chunk_sector(lba, i), part).await?;
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), BlockError> {
        let disk: &'static Disk = self;
        if !disk.can_flush {
            return Ok(());
        }
        disk.flush_queue().await
    }
}

/// Every virtio-blk disk, brought up on first use (boot CPU, once the
/// executors run): `vda`, `vdb`, ... in bus order. A device that cannot be
/// brought up is logged and skipped.
pub fn disks() -> &'static [&'static Disk] {
    static DISKS: spin::Once<Vec<&'static Disk>> = spin::Once::new();
    DISKS.call_once(|| {
        let mut found = Vec::new();
        for f in super::find(virtio::pci::device_type::BLOCK) {
            let name = alloc::format!("vd{}", (b'a' + found.len() as u8) as char);
            match Disk::open(f, name) {
                Ok(d) => {
                    log::info!(
                        "{}: {} ({} MiB, {} queues, {}{}) at {}",
                        d.name,
                        "virtio-blk",
                        d.bytes() >> 20,
                        d.queues.len(),
                        d.block_size,
                        if d.read_only { ", read-only" } else { "" },
                        f.bdf()
                    );
                    found.push(d);
                }
                Err(e) => log::error!("virtio-blk at {}: {e}; skipped", f.bdf()),
            }
        }
        found
    })
}
