//! The baseline of the disk benchmark: one virtio-blk queue shared by
//! every CPU behind a spin lock, its interrupt on one CPU (the single-queue
//! design of Hermit and Asterinas). Submitters on any CPU take the lock to
//! add a request; the completion task on the interrupt's CPU takes it to
//! pop completions and wakes each request's task, wherever that lives.
//! Only for measuring: the real driver is `drivers::virtio::blk`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use drivers::virtio::queue::VirtQueue;
use drivers::virtio::transport::{Transport, TransportError};
use io::block::BlockError;
use kernel::memory::dma::{DmaBuffer, DmaObject, DmaPool, NO_LIMIT};
use kernel::pci::{self, MessageIrq};
use kernel::smp::CpuId;
use kernel::{exec, run_on};
use virtio::blk::{self, RequestType};
use virtio::queue::Buffer;

struct Request {
    ticket: u64,
    _header: DmaObject,
    _status: DmaObject,
    data: Option<DmaBuffer>,
    waker: Option<Waker>,
}

struct Inner {
    vq: VirtQueue,
    slots: Vec<Option<Request>>,
    done: BTreeMap<u64, Option<DmaBuffer>>,
    next_ticket: u64,
    room: VecDeque<Waker>,
}

/// One queue behind a lock.
pub struct LockedQueue {
    /// Held for the device's lifetime (its mappings, its claim).
    _transport: Transport,
    irq: Arc<MessageIrq>,
    inner: spin::Mutex<Inner>,
    pool: spin::Mutex<Arc<DmaPool>>,
    sectors: u64,
}

impl LockedQueue {
    /// Takes the virtio-blk device at `function` with one queue whose
    /// interrupt goes to `cpu`.
    pub fn open(function: &'static pci::Function, cpu: CpuId) -> Result<&'static Self, TransportError> {
        let transport = Transport::open(function)?;
        transport.negotiate(0)?;
        let sectors = transport.config_u64(blk::config::CAPACITY);
        let vq = transport.queue(0, 256, cpu)?;
        let irq = Arc::clone(vq.interrupt());
        transport.driver_ok();
        let slots = (0..vq.layout().size).map(|_| None).collect();
        let inner = Inner { vq, slots, done: BTreeMap::new(), next_ticket: 0, room: VecDeque::new() };
        let q: &'static Self = alloc::boxed::Box::leak(alloc::boxed::Box::new(Self {
            _transport: transport,
            irq,
            inner: spin::Mutex::new(inner),
            pool: spin::Mutex::new(DmaPool::new(64, NO_LIMIT)),
            sectors,
        }));
        exec::block_on(run_on::run_on(cpu, move || async move {
            drop(exec::spawn_driver("locked-blk", q.reap_forever()));
        }));
        Ok(q)
    }

    /// Capacity in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    async fn reap_forever(&'static self) {
        loop {
            self.irq.wait().await;
            let mut wake = Vec::new();
            {
                let mut inner = self.inner.lock();
                while let Ok(Some(used)) = inner.vq.pop_used() {
                    if let Some(mut r) = inner.slots[usize::from(used.head)].take() {
                        inner.done.insert(r.ticket, r.data.take());
                        wake.extend(r.waker.take());
                    }
                    if let Some(w) = inner.room.pop_front() {
                        wake.push(w);
                    }
                }
            }
            for w in wake {
                w.wake();
            }
        }
    }

    /// Reads `out.len()` bytes at `sector` into `out` (copied from the
    /// request's DMA buffer, as the real driver does).
    pub async fn read(&self, sector: u64, out: &mut [u8]) -> Result<(), BlockError> {
        let len = out.len();
        let nomem = BlockError::Device("no DMA memory");
        let (header, status) = {
            let pool = self.pool.lock();
            (pool.alloc().map_err(|_| nomem)?, pool.alloc().map_err(|_| nomem)?)
        };
        let data = DmaBuffer::new(len, NO_LIMIT).map_err(|_| nomem)?;
        header.write(0, &blk::header(RequestType::In, sector));
        let chain = [
            Buffer { addr: header.phys_addr().as_u64(), len: 16, device_writes: false },
            Buffer { addr: data.phys_addr().as_u64(), len: len as u32, device_writes: true },
            Buffer { addr: status.phys_addr().as_u64(), len: 1, device_writes: true },
        ];
        let mut parts = Some((header, status, data));
        let ticket = poll_fn(|cx| {
            let mut inner = self.inner.lock();
            match inner.vq.add(&chain) {
                Ok(head) => {
                    let (h, s, d) = parts.take().expect("added once");
                    let ticket = inner.next_ticket;
                    inner.next_ticket += 1;
                    inner.slots[usize::from(head)] = Some(Request { ticket, _header: h, _status: s, data: Some(d), waker: None });
                    inner.vq.notify();
                    drop(inner);
                    Poll::Ready((head, ticket))
                }
                Err(_) => {
                    inner.room.push_back(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        poll_fn(|cx| {
            let mut inner = self.inner.lock();
            if let Some(data) = inner.done.remove(&ticket.1) {
                if let Some(d) = data {
                    d.read(0, out);
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(r) = inner.slots[usize::from(ticket.0)].as_mut().filter(|r| r.ticket == ticket.1) {
                r.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}
