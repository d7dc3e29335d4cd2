//! A mounted ext2 volume as a service: one task, on one CPU, owns the
//! `ext2::Volume` (its superblock, descriptors and block cache) and answers
//! requests from any CPU through its message port, one at a time.
//!
//! How CPUs agree about a file: by ownership. Every operation on a volume
//! runs on its owner task, so two programs on two CPUs touching one file
//! are ordered by the port's queue, and the cache needs no lock. A call
//! from the owner's CPU is queued without an IPI; from another CPU it is
//! one IPI-queue message there and a wake back. The disk requests the
//! owner makes go through its own CPU's virtio-blk queue.
//!
//! Open files: the service counts the descriptions open on each inode
//! (`open`, `close`), so an inode whose last name goes while it is open
//! is freed at its last close, as POSIX has it.
//!
//! What a `read` costs: the owner copies from its cache into the reply's
//! buffer, the caller copies that into the program's memory (two copies,
//! one message each way).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::virtio::blk::Disk;
use ext2::{DirEntry, Ino, SetAttr, Stat, StatFs, Unlinked, Volume};
use kernel::exec;
use kernel::port::PortRef;
use kernel::run_on;
use kernel::smp::CpuId;

use super::cpu_names;
use super::cpu_pages::Generations;

/// What a caller asks of a volume.
pub(super) enum Request {
    Lookup(Ino, Vec<u8>),
    Stat(Ino),
    List(Ino),
    Read(Ino, u64, usize),
    /// Page-aligned: answered with the file's size and the inode's
    /// generation counter (`cpu_pages`).
    ReadPages(Ino, u64, usize),
    Write(Ino, u64, Vec<u8>),
    Append(Ino, Vec<u8>),
    Truncate(Ino, u64),
    Allocate(Ino, u64, u64),
    Create(Ino, Vec<u8>, u16),
    /// `open(O_CREAT)` in one message: find or make a regular file (the
    /// flags: O_EXCL, O_TRUNC with write access) and count it open.
    OpenCreate(Ino, Vec<u8>, u16, bool, bool),
    Mkdir(Ino, Vec<u8>, u16),
    Symlink(Ino, Vec<u8>, Vec<u8>),
    Readlink(Ino),
    Link(Ino, Vec<u8>, Ino),
    Unlink(Ino, Vec<u8>),
    Rmdir(Ino, Vec<u8>),
    Rename(Ino, Vec<u8>, Ino, Vec<u8>),
    SetAttr(Ino, SetAttr),
    Open(Ino),
    Close(Ino),
    Sync,
    StatFs,
    Unmount,
    Shutdown,
}

/// What a volume answers.
pub(super) enum Answer {
    Found(Ino, Stat),
    /// A lookup's answer, with the inode's generation counter.
    Named(Ino, Stat, u64),
    /// Opened (and counted), or `None`: the name is there but not a
    /// regular file (the caller takes the general path).
    Opened(Option<(Ino, Stat)>),
    Stat(Stat),
    List(Vec<DirEntry>),
    Bytes(Vec<u8>),
    /// Bytes, the file's size, the inode's generation counter.
    Pages(Vec<u8>, u64, u64),
    Count(usize),
    Appended(usize, u64),
    Unlinked(Unlinked),
    StatFs(StatFs),
    Done,
}

pub(super) type Reply = Result<Answer, ext2::Error>;

/// A mounted volume: its name, its owner CPU, its port.
pub struct Mounted {
    name: String,
    cpu: CpuId,
    port: PortRef<Request, Reply>,
    read_only: bool,
    /// Closes sent and not yet done (`close` does not wait for its
    /// answer: the service counts each down when it has done it; `unmount`
    /// waits for these first).
    closing: Arc<core::sync::atomic::AtomicUsize>,
    /// What the mount said (not cleanly unmounted, read-only features).
    pub warnings: Vec<String>,
    /// Unique among the volumes mounted since boot (`cpu_pages`' keys).
    id: u64,
    /// Bumped by the service at every change of a file's bytes or size.
    generations: Arc<Generations>,
}

/// The next volume's id.
static NEXT_ID: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// Why a call to a volume failed.
pub type Error = ext2::Error;

/// A port call's failure: the volume was unmounted (its server gone).
fn gone(_: kernel::port::PortError) -> Error {
    Error::Io(io::block::BlockError::Device(UNMOUNTED))
}

/// What a call to an unmounted volume answers.
const UNMOUNTED: &str = "the volume is unmounted";

/// An answer of the wrong kind: a bug in this file, reported as such.
fn mismatch() -> Error {
    Error::Corrupt(String::from("the volume service answered another request's kind"))
}

impl Mounted {
    /// Mounts the ext2 volume on `disk`, served on `cpu`.
    pub async fn mount(disk: &'static Disk, cpu: CpuId, read_only: bool) -> Result<Arc<Self>, Error> {
        let name = String::from(disk.name());
        let generations = Arc::new(Generations::new());
        let theirs = Arc::clone(&generations);
        let closing = Arc::new(core::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&closing);
        let (port, read_only, warnings) = run_on::run_on(cpu, move || async move {
            let options = ext2::Options {
                read_only,
                cache_bytes: super::cache_memory::cache_bytes(),
                now: || crate::clock::now_seconds() as u32,
                memory: &super::cache_memory::FRAMES,
            };
            let vol = Volume::mount(disk, options).await?;
            let (port, handle) = kernel::port::new::<Request, Reply>(64);
            let read_only = vol.read_only();
            let warnings = vol.warnings.clone();
            drop(exec::spawn_named("ext2", super::volume_service::serve(vol, port, theirs, counted)));
            Ok::<_, Error>((handle, read_only, warnings))
        })
        .await?;
        for w in &warnings {
            log::warn!("ext2 on {name}: {w}");
        }
        log::info!(
            "ext2 on {name}: mounted{} (served on {cpu}; its cache may grow to {} MiB, {} MiB free)",
            if read_only { " read-only" } else { "" },
            super::cache_memory::cache_bytes() >> 20,
            kernel::memory::pressure::free_frames() >> 8
        );
        let id = NEXT_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        Ok(Arc::new(Self { name, cpu, port, read_only, closing, warnings, id, generations }))
    }

    /// The disk's name (`vda`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CPU that serves it.
    pub fn cpu(&self) -> CpuId {
        self.cpu
    }

    /// The device number `stat` reports for its files (`st_dev`: virtio-blk's
    /// major 254 on Linux, the disk's index as the minor).
    pub fn device_number(&self) -> u64 {
        let index = self.name.as_bytes().get(2).map_or(0, |c| c.saturating_sub(b'a'));
        (254 << 8) | u64::from(index) << 4
    }

    /// Whether it is mounted read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    async fn call(&self, r: Request) -> Reply {
        self.port.call(r).await.map_err(gone)?
    }

    async fn done(&self, r: Request) -> Result<(), Error> {
        match self.call(r).await? {
            Answer::Done => Ok(()),
            _ => Err(mismatch()),
        }
    }

    async fn bytes(&self, r: Request) -> Result<Vec<u8>, Error> {
        match self.call(r).await? {
            Answer::Bytes(b) => Ok(b),
            _ => Err(mismatch()),
        }
    }

    /// An inode and what `stat` shows of it, answered.
    async fn found(&self, r: Request) -> Result<(Ino, Stat), Error> {
        match self.call(r).await? {
            Answer::Found(i, s) => Ok((i, s)),
            _ => Err(mismatch()),
        }
    }

    /// The inode `name` names in `dir`, and what `stat` shows of it: from
    /// this CPU's names while they are current (`cpu_names`), else asked.
    pub async fn lookup(&self, dir: Ino, name: &[u8]) -> Result<(Ino, Stat), Error> {
        if let Some(known) = cpu_names::get(self.id, &self.generations, dir, name) {
            return known.ok_or(Error::NotFound);
        }
        let before = cpu_names::before(&self.generations, dir);
        match self.call(Request::Lookup(dir, name.to_vec())).await {
            Ok(Answer::Named(ino, st, generation)) => {
                cpu_names::keep(self.id, dir, name, Some((ino, st, generation)), before);
                Ok((ino, st))
            }
            Err(Error::NotFound) => {
                cpu_names::keep(self.id, dir, name, None, before);
                Err(Error::NotFound)
            }
            Ok(_) => Err(mismatch()),
            Err(e) => Err(e),
        }
    }

    /// [`Self::lookup`] for a path walk that goes on through `name` if it
    /// is a directory: a directory this CPU's names hold is taken even if
    /// its own attributes changed since (`cpu_names::get_directory`; the
    /// `stat` may then be old: only the inode and type are sure).
    pub async fn lookup_on_the_way(&self, dir: Ino, name: &[u8]) -> Result<(Ino, Stat), Error> {
        if let Some(known) = cpu_names::get_directory(self.id, &self.generations, dir, name) {
            return Ok(known);
        }
        self.lookup(dir, name).await
    }

    /// What `stat` shows of `ino`.
    pub async fn stat(&self, ino: Ino) -> Result<Stat, Error> {
        match self.call(Request::Stat(ino)).await? {
            Answer::Stat(s) => Ok(s),
            _ => Err(mismatch()),
        }
    }

    /// Every entry of directory `dir`.
    pub async fn list(&self, dir: Ino) -> Result<Vec<DirEntry>, Error> {
        match self.call(Request::List(dir)).await? {
            Answer::List(l) => Ok(l),
            _ => Err(mismatch()),
        }
    }

    /// Up to `len` bytes of `ino` from `offset` (fewer at its end).
    pub async fn read(&self, ino: Ino, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
        self.bytes(Request::Read(ino, offset, len)).await
    }

    /// Up to `len` bytes of `ino` from page-aligned `offset`, with the
    /// file's size and the inode's generation counter when read.
    pub async fn read_pages(&self, ino: Ino, offset: u64, len: usize) -> Result<(Vec<u8>, u64, u64), Error> {
        match self.call(Request::ReadPages(ino, offset, len)).await? {
            Answer::Pages(b, size, generation) => Ok((b, size, generation)),
            _ => Err(mismatch()),
        }
    }

    /// Unique among the volumes mounted since boot.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `ino`'s generation counter now (`cpu_pages`).
    pub fn generation(&self, ino: Ino) -> u64 {
        self.generations.get(ino)
    }

    /// Writes `data` at `offset` of `ino`; the bytes written.
    pub async fn write(&self, ino: Ino, offset: u64, data: Vec<u8>) -> Result<usize, Error> {
        match self.call(Request::Write(ino, offset, data)).await? {
            Answer::Count(n) => Ok(n),
            _ => Err(mismatch()),
        }
    }

    /// Writes `data` at the end of `ino` (the end as the service sees it:
    /// appends from several CPUs never overlap); the bytes written and the
    /// new end.
    pub async fn append(&self, ino: Ino, data: Vec<u8>) -> Result<(usize, u64), Error> {
        match self.call(Request::Append(ino, data)).await? {
            Answer::Appended(n, end) => Ok((n, end)),
            _ => Err(mismatch()),
        }
    }

    /// Sets `ino`'s size.
    pub async fn truncate(&self, ino: Ino, size: u64) -> Result<(), Error> {
        self.done(Request::Truncate(ino, size)).await
    }

    /// Allocates the blocks of bytes `offset..offset + len` of `ino`
    /// (`fallocate` mode 0), raising its size to the end.
    pub async fn allocate(&self, ino: Ino, offset: u64, len: u64) -> Result<(), Error> {
        self.done(Request::Allocate(ino, offset, len)).await
    }

    /// Creates regular file `name` in `dir`.
    pub async fn create(&self, dir: Ino, name: &[u8], permissions: u16) -> Result<(Ino, Stat), Error> {
        self.found(Request::Create(dir, name.to_vec(), permissions)).await
    }

    /// Creates directory `name` in `dir`.
    pub async fn mkdir(&self, dir: Ino, name: &[u8], permissions: u16) -> Result<(Ino, Stat), Error> {
        self.found(Request::Mkdir(dir, name.to_vec(), permissions)).await
    }

    /// Creates symbolic link `name` in `dir` to `target`.
    pub async fn symlink(&self, dir: Ino, name: &[u8], target: &[u8]) -> Result<(Ino, Stat), Error> {
        self.found(Request::Symlink(dir, name.to_vec(), target.to_vec())).await
    }

    /// Symbolic link `ino`'s target.
    pub async fn readlink(&self, ino: Ino) -> Result<Vec<u8>, Error> {
        self.bytes(Request::Readlink(ino)).await
    }

    /// Adds name `name` in `dir` for `ino`.
    pub async fn link(&self, dir: Ino, name: &[u8], ino: Ino) -> Result<(), Error> {
        self.done(Request::Link(dir, name.to_vec(), ino)).await
    }

    /// Removes name `name` from `dir` (the inode is freed now, or at its
    /// last close if it is open).
    pub async fn unlink(&self, dir: Ino, name: &[u8]) -> Result<Unlinked, Error> {
        match self.call(Request::Unlink(dir, name.to_vec())).await? {
            Answer::Unlinked(u) => Ok(u),
            _ => Err(mismatch()),
        }
    }

    /// Removes empty directory `name` from `dir`.
    pub async fn rmdir(&self, dir: Ino, name: &[u8]) -> Result<(), Error> {
        self.done(Request::Rmdir(dir, name.to_vec())).await
    }

    /// Renames `from_dir/from` to `to_dir/to`.
    pub async fn rename(&self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> Result<(), Error> {
        self.done(Request::Rename(from_dir, from.to_vec(), to_dir, to.to_vec())).await
    }

    /// Changes `ino`'s attributes.
    pub async fn set_attr(&self, ino: Ino, attr: SetAttr) -> Result<(), Error> {
        self.done(Request::SetAttr(ino, attr)).await
    }

    /// Counts an open file description of `ino`.
    pub async fn open(&self, ino: Ino) -> Result<(), Error> {
        self.done(Request::Open(ino)).await
    }

    /// `open(name, O_CREAT | ..)` in `dir` in one message: the regular
    /// file `name` names, made (with `permissions`) if it is not there,
    /// truncated if `truncate`, and counted open (the caller's description
    /// closes it); EEXIST with `exclusive` if it is there. `None` when the
    /// name is there but is not a regular file (nothing was counted).
    pub async fn open_create(
        &self,
        dir: Ino,
        name: &[u8],
        permissions: u16,
        exclusive: bool,
        truncate: bool,
    ) -> Result<Option<(Ino, Stat)>, Error> {
        match self.call(Request::OpenCreate(dir, name.to_vec(), permissions, exclusive, truncate)).await? {
            Answer::Opened(o) => Ok(o),
            _ => Err(mismatch()),
        }
    }

    /// One open file description of `ino` less: frees it if that was the
    /// last and no name is left. Sent without waiting for the answer (a
    /// description closes when its last descriptor goes, in no task): put
    /// in the port at once when it has room, else by a task that waits
    /// for room.
    pub fn close(self: &Arc<Self>, ino: Ino) {
        self.closing.fetch_add(1, core::sync::atomic::Ordering::AcqRel);
        let Err(request) = self.port.try_send(Request::Close(ino)) else { return };
        let me = Arc::clone(self);
        drop(exec::spawn_named("ext2-close", async move {
            // Unmounted meanwhile: nothing left to free, nobody to count.
            if me.port.send(request).await.is_err() {
                me.closing.fetch_sub(1, core::sync::atomic::Ordering::AcqRel);
            }
        }));
    }

    /// Waits (up to a second) for the closes sent before to be answered:
    /// a program's `close` then `umount` finds its file closed.
    async fn closes_answered(&self) {
        for _ in 0..5000 {
            if self.closing.load(core::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            kernel::time::sleep(core::time::Duration::from_micros(200)).await;
        }
    }

    /// Writes everything back and flushes the disk.
    pub async fn sync(&self) -> Result<(), Error> {
        self.done(Request::Sync).await
    }

    /// `statfs`'s figures.
    pub async fn statfs(&self) -> Result<StatFs, Error> {
        match self.call(Request::StatFs).await? {
            Answer::StatFs(s) => Ok(s),
            _ => Err(mismatch()),
        }
    }

    /// Before the machine stops: writes everything back and marks the
    /// volume clean, open files or not, and stops serving it.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.done(Request::Shutdown).await
    }

    /// Writes everything back, marks the volume clean and stops serving it;
    /// `Busy` while files on it are open.
    pub async fn unmount(&self) -> Result<(), Error> {
        self.closes_answered().await;
        self.done(Request::Unmount).await
    }
}
