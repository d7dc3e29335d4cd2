//! A process: one user thread (its task owns this state outright: no lock
//! guards it), its memory, descriptors and working directory, and the
//! record other CPUs may read (`ps`, `kill`).
//!
//! The records are in a table any CPU reads without a lock
//! (`io::SlotTable`, on the grace period of `io::retire`): `kill`, `ps`
//! and `/proc` look a pid up with a few loads, and a process's start and
//! end publish and unlink its record with one atomic each. What a record
//! says of the program (name, command line, path) is an `io::retire::Snapshot`
//! that `execve` replaces whole, so a reader on another CPU copies it
//! without a lock too.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use io::retire::Snapshot;

use crate::fd::FdTable;
use crate::memory::Memory;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)`.
    Exited(u8),
    /// A signal ended it.
    Signaled(u8),
}

impl ExitStatus {
    /// What a shell reports as `$?`: the code, or 128 + the signal.
    pub fn shell_code(self) -> u8 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128u8.saturating_add(s),
        }
    }

    /// The status word `wait4` stores.
    pub fn wait_status(self) -> u32 {
        match self {
            ExitStatus::Exited(c) => u32::from(c) << 8,
            ExitStatus::Signaled(s) => u32::from(s),
        }
    }
}

impl core::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// What any CPU may read about a live process.
pub struct Info {
    /// Its id.
    pub pid: u32,
    /// Its parent's id.
    pub ppid: AtomicU32,
    /// The CPU its thread runs on.
    pub cpu: AtomicU32,
    /// Its program: name, command line, path (replaced whole by `execve`
    /// and `prctl(PR_SET_NAME)`).
    pub program: Snapshot<Program>,
    /// System calls made.
    pub syscalls: AtomicU64,
    /// Page faults handled.
    pub faults: AtomicU64,
    /// Signals sent and not yet delivered (bit n-1 = signal n).
    pub pending: AtomicU64,
    /// Woken when a signal is sent (a waiting system call races it).
    pub waker: io::AtomicWaker,
    /// Its process group.
    pub pgid: AtomicU32,
    /// Its session.
    pub sid: AtomicU32,
    /// The system call it waits in, plus one (0: it is not waiting).
    pub waiting_in: AtomicU64,
    /// Cycles it has run in user mode.
    pub user_cycles: AtomicU64,
    /// Bytes of its regions (as of its last call that may change them).
    pub vsize: AtomicU64,
    /// When it started (time-stamp counter).
    pub started_at: u64,
    /// Its SIGCHLD action has SA_NOCLDSTOP: its children's stops and
    /// continues send it no SIGCHLD.
    pub no_child_stop: AtomicBool,
    /// A stop signal has stopped it.
    pub stopped: AtomicBool,
    /// SIGCONTs sent to it (a stopped thread waits for this to change).
    pub continues: AtomicU32,
}

/// What a process record says of its program.
#[derive(Clone, Debug)]
pub struct Program {
    /// Its name (the program's file name, or what `prctl` set), as `ps`
    /// shows it.
    pub name: String,
    /// Its command line, NUL-separated.
    pub cmdline: Vec<u8>,
    /// Its program's path (`/proc/PID/exe`).
    pub exe: String,
}

impl Program {
    /// The record of `exe` started as `name` with `argv`.
    pub fn new(exe: String, name: String, argv: &[&[u8]]) -> Arc<Self> {
        let mut cmdline = Vec::new();
        for a in argv {
            cmdline.extend_from_slice(a);
            cmdline.push(0);
        }
        Arc::new(Self { name, cmdline, exe })
    }
}

impl io::Keyed for Info {
    fn key(&self) -> u32 {
        self.pid
    }
}

impl Info {
    /// Its name now.
    pub fn name(&self) -> String {
        self.program.get().name.clone()
    }

    /// Whether its thread runs or may run now (neither waiting in a
    /// system call nor stopped).
    pub fn runnable(&self) -> bool {
        self.waiting_in.load(Ordering::Relaxed) == 0 && !self.stopped.load(Ordering::Relaxed)
    }
}

/// Pids count up to Linux's largest, then wrap to 300 as Linux's do (the
/// low ones stay with the daemons that took them).
const PID_LIMIT: u32 = 4_194_304;
const PID_WRAP_TO: u32 = 300;

/// Live processes by id, read without a lock (the module doc). Twice as
/// many slots as processes may live, so a new pid rarely skips one.
static TABLE: io::SlotTable<Info, { 2 * crate::MAX_PROCESSES }> = io::SlotTable::new(PID_LIMIT, PID_WRAP_TO);

/// Processes started since boot.
pub fn started() -> u64 {
    TABLE.handed_out()
}

/// Every live process's record, by id.
pub fn list() -> Vec<Arc<Info>> {
    let mut all = TABLE.values();
    all.sort_unstable_by_key(|i| i.pid);
    all
}

/// Calls `f` with every live process's record (in no order), without
/// collecting them.
pub fn for_each(f: impl FnMut(&Info)) {
    TABLE.for_each(f);
}

/// A process's armed real-time timer.
pub struct Alarm {
    /// Its first expiry.
    pub first: kernel::time::Instant,
    /// Its period (zero: it fires once).
    pub interval: core::time::Duration,
    /// The task that sends SIGALRM.
    pub task: executor::JoinHandle<()>,
}

/// A process's state, owned by its thread's task.
pub struct Process {
    /// Its record (shared with `ps`).
    pub info: Arc<Info>,
    /// Its memory.
    pub memory: Memory,
    /// Its descriptors.
    pub files: FdTable,
    /// Its working directory (absolute, normalised).
    pub cwd: String,
    /// The path of its program (`/proc/self/exe`).
    pub exe: String,
    /// `set_tid_address`'s pointer (cleared at exit).
    pub clear_child_tid: u64,
    /// Signal actions as the program set them (handler, flags, restorer,
    /// mask), by signal number - 1.
    pub sigactions: Box<[[u64; 4]; 64]>,
    /// Blocked signals.
    pub sigmask: u64,
    /// Signals it ignores now (by action or default), kept with
    /// `sigactions` (`signal::ignored`): a waiting call's race needs it.
    pub ignored: u64,
    /// Its children (only its own task touches the list).
    pub children: Vec<crate::family::Child>,
    /// Woken when a child exits.
    pub events: Arc<crate::family::ChildEvents>,
    /// Where its exit is reported to its parent (none for a first process).
    pub exit_cell: Option<Arc<crate::family::ExitCell>>,
    /// `CLONE_CHILD_SETTID`: where the new process writes its id first.
    pub set_child_tid: Option<u64>,
    /// A system call a signal cancelled, settled at delivery.
    pub interrupted: Option<crate::signal::Interrupted>,
    /// The sleep (`nanosleep`, `clock_nanosleep`) it waits in or that a
    /// signal cancelled: when it ends, and where to write what is left
    /// (0: nowhere). A restarted sleep ends when the first one would have;
    /// one a handler interrupts writes what was left (`signal::settle`).
    pub sleep: Option<(kernel::time::Instant, u64)>,
    /// The mask `rt_sigsuspend` replaced, restored after the handler.
    pub saved_mask: Option<u64>,
    /// The armed real-time timer (`alarm`, `setitimer`).
    pub alarm: Option<Alarm>,
    /// Its session's controlling terminal (`/dev/tty`), kept by `fork`
    /// and `execve`, left by `setsid`.
    pub ctty: Option<crate::tty::Tty>,
}

impl Process {
    /// A new process with a fresh id, parent `ppid`, running `program`
    /// from `memory`.
    pub fn new(ppid: u32, memory: Memory, files: FdTable, cwd: String, program: Arc<Program>) -> Self {
        let exe = program.exe.clone();
        let make = |pid| {
            Arc::new(Info {
                pid,
                ppid: AtomicU32::new(ppid),
                cpu: AtomicU32::new(kernel::smp::current().as_u32()),
                program: Snapshot::new(program),
                syscalls: AtomicU64::new(0),
                faults: AtomicU64::new(0),
                pending: AtomicU64::new(0),
                waker: io::AtomicWaker::new(),
                pgid: AtomicU32::new(pid),
                sid: AtomicU32::new(pid),
                waiting_in: AtomicU64::new(0),
                user_cycles: AtomicU64::new(0),
                vsize: AtomicU64::new(memory.virtual_size()),
                started_at: kernel::arch::cpu::rdtsc(),
                no_child_stop: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                continues: AtomicU32::new(0),
            })
        };
        // The process limit (`fork`'s check) stays below the table's size.
        let info = TABLE.insert(make).expect("process table full: the process limit is below its size");
        crate::loadavg::process_started();
        Self {
            info,
            memory,
            files,
            cwd,
            exe,
            clear_child_tid: 0,
            sigactions: Box::new([[0; 4]; 64]),
            sigmask: 0,
            ignored: crate::signal::DEFAULT_IGNORED,
            children: Vec::new(),
            events: crate::family::ChildEvents::new(),
            exit_cell: None,
            set_child_tid: None,
            interrupted: None,
            sleep: None,
            saved_mask: None,
            alarm: None,
            ctty: None,
        }
    }

    /// Its id.
    pub fn pid(&self) -> u32 {
        self.info.pid
    }

    /// Its name.
    pub fn name(&self) -> String {
        self.info.name()
    }

    /// Sets its program's path, name and command line (`execve`).
    pub fn set_program(&mut self, exe: String, name: String, argv: &[&[u8]]) {
        self.info.program.set(Program::new(exe.clone(), name, argv));
        self.info.vsize.store(self.memory.virtual_size(), Ordering::Relaxed);
        self.exe = exe;
    }

    /// Processes alive now.
    pub fn count() -> usize {
        TABLE.len()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(alarm) = self.alarm.take() {
            alarm.task.abort();
        }
        // A thread ends through `thread::run`, which reports the exit
        // first; a process dropped another way (its task's future dropped)
        // must not leave its parent waiting for it forever.
        if let Some(cell) = self.exit_cell.take() {
            log::error!("process {} ({}) ended without an exit: its parent is told SIGKILL ended it", self.info.pid, self.info.name());
            cell.exit(ExitStatus::Signaled(crate::signal::sig::SIGKILL));
        }
        TABLE.remove(self.info.pid);
    }
}

/// The record of live process `pid`.
pub fn find(pid: u32) -> Option<Arc<Info>> {
    TABLE.get(pid)
}
