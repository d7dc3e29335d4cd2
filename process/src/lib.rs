//! Programs on Odonata: unmodified static Linux executables, each process
//! one user thread, each user thread one task on one CPU's executor, each
//! system call an `async fn` that task awaits.
//!
//! - [`thread`]: the task's loop: enter the program, handle the trap,
//!   again; time slices for user code;
//! - [`memory`]: a program's address space and regions, demand paging;
//! - [`image`]: loading an ELF executable and its initial stack;
//! - [`syscall`]: the system calls; [`user`]: copies to and from a
//!   program's memory that survive bad pointers;
//! - [`fs`]: the in-memory root unpacked from the initramfs, devices;
//!   [`fd`]: descriptor tables; [`tty`]: the console's settings;
//! - [`process`]: a process's state and the table `ps` reads.
//!
//! Ring 3 itself (entry and exit, the per-CPU trap stack, FPU state, SMEP
//! and SMAP) is the kernel's `arch::user_mode`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod budget;
pub mod clock;
pub mod family;
pub mod fd;
pub mod fs;
pub mod image;
pub mod loadavg;
pub mod memory;
pub mod process;
pub mod random;
pub mod sched;
pub mod signal;
pub mod syscall;
pub mod thread;
pub mod tty;
pub mod user;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use executor::JoinHandle;
use kernel::arch::cpu_id::CpuId;
use linux::errno::Errno;
use linux::flags::open::O_RDWR;

pub use process::ExitStatus;

/// Processes that may exist at once, at most (`RLIMIT_NPROC`); fewer on a
/// small machine ([`max_processes`]).
pub const MAX_PROCESSES: usize = 4096;

/// Processes that may exist at once on this machine: one per 128 KiB of
/// memory, at most [`MAX_PROCESSES`] (a fork bomb meets EAGAIN long before
/// the kernel runs out of frames or heap).
pub fn max_processes() -> usize {
    let frames = kernel::memory::frame::stats().total as usize;
    (frames / 32).clamp(64, MAX_PROCESSES)
}

/// Sets up programs (once, at boot): offers the trap's fast path its
/// calls, and unpacks the initramfs the bootloader loaded into the root
/// file system, logging what it found. Without one the root holds only
/// `/dev` and `/tmp`.
pub fn init() {
    syscall::fast::offer();
    match kernel::boot::ramdisk() {
        Some(archive) => match fs::unpack(archive) {
            Ok(u) => log::info!("initramfs: {} entries, {} KiB unpacked", u.entries, u.bytes / 1024),
            Err(e) => log::error!("initramfs: {e}; the entries before it were kept"),
        },
        None => {
            let _ = fs::unpack(&initramfs::Writer::new().finish());
            log::info!("initramfs: none loaded");
        }
    }
    // The virtio-blk disks (brought up now if they were not) as /dev/vda...
    fs::add_disk_nodes(drivers::virtio::blk::disks().len());
    // `--root IMG`: the runner names the disk that is to be `/`.
    if let Ok(node) = fs::in_memory("/etc/odonata-root")
        && let Ok(bytes) = node.bytes()
    {
        let device = String::from(String::from_utf8_lossy(&bytes).trim());
        match kernel::exec::block_on(async move { fs::mount::mount_root(&device).await }) {
            Ok(()) => log::info!("root: the volume on {} is /", String::from_utf8_lossy(&bytes).trim()),
            Err(e) => log::error!("root: {e}; / stays the initramfs"),
        }
    }
}

/// Where a first process's standard input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdin {
    /// The console (its line discipline).
    Console,
    /// `/dev/null` (a program the kernel's shell runs: the shell keeps the
    /// console's input).
    Null,
}

/// The descriptors a first process starts with: 0 from `stdin`, 1 and 2
/// the console.
fn console_fds(stdin: Stdin) -> Result<fd::FdTable, Errno> {
    // The in-memory /dev, whatever is mounted on `/`.
    let console = fs::in_memory("/dev/console")?;
    let file = fs::OpenFile::new(console, O_RDWR);
    let mut files = fd::FdTable::new();
    match stdin {
        Stdin::Console => files.insert(Arc::clone(&file), false)?,
        Stdin::Null => files.insert(fs::OpenFile::new(fs::in_memory("/dev/null")?, linux::flags::open::O_RDONLY), false)?,
    };
    files.insert(Arc::clone(&file), false)?;
    files.insert(file, false)?;
    Ok(files)
}

/// Starts the program at `path` on `cpu` (counted there: see
/// [`sched::place`], which also chooses one) with `argv` and `envp`, its
/// standard descriptors on the console, in `/`; the handle gives its exit
/// status, or why it could not start.
pub fn spawn(cpu: CpuId, path: &str, argv: Vec<String>, envp: Vec<String>) -> JoinHandle<Result<ExitStatus, Errno>> {
    spawn_with(cpu, path, argv, envp, Stdin::Console, None)
}

/// [`spawn`] with standard input from `stdin`; `pid`, if given, receives
/// the new process's id once it exists (to signal it).
pub fn spawn_with(
    cpu: CpuId,
    path: &str,
    argv: Vec<String>,
    envp: Vec<String>,
    stdin: Stdin,
    pid: Option<Arc<core::sync::atomic::AtomicU32>>,
) -> JoinHandle<Result<ExitStatus, Errno>> {
    let path = String::from(path);
    sched::count_on(cpu);
    kernel::run_on::spawn_made_on(cpu, "user", move || async move {
        let argv_bytes: Vec<&[u8]> = argv.iter().map(String::as_bytes).collect();
        let envp_bytes: Vec<&[u8]> = envp.iter().map(String::as_bytes).collect();
        let loaded = match image::load("/", &path, &argv_bytes, &envp_bytes).await {
            Ok(l) => l,
            Err(e) => {
                sched::thread_ended();
                return Err(e);
            }
        };
        let files = match fs::until_free(|| console_fds(stdin)).await {
            Ok(f) => f,
            Err(e) => {
                sched::thread_ended();
                return Err(e);
            }
        };
        let mut p =
            process::Process::new(0, loaded.memory, files, String::from("/"), process::Program::new(loaded.path, loaded.name, &argv_bytes));
        // A program the kernel starts runs on the console, which its
        // session controls.
        if tty::Tty::Console.terminal().control(p.pid(), p.pid()) {
            p.ctty = Some(tty::Tty::Console);
        }
        if let Some(slot) = pid {
            slot.store(p.pid(), core::sync::atomic::Ordering::Release);
        }
        Ok(thread::run(p, loaded.context).await)
    })
}
