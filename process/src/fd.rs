//! A process's file descriptors: small integers naming open files, each
//! with its own close-on-exec flag.

use alloc::sync::Arc;
use alloc::vec::Vec;

use linux::errno::{self, Errno};

use crate::fs::OpenFile;

/// Descriptors a process may hold (`RLIMIT_NOFILE`).
pub const MAX_FDS: usize = 1024;

#[derive(Clone)]
struct Slot {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// The descriptor table.
#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
}

impl FdTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The file `fd` names; EBADF if none.
    pub fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        let i = usize::try_from(fd).map_err(|_| errno::EBADF)?;
        self.slots.get(i).and_then(Option::as_ref).map(|s| Arc::clone(&s.file)).ok_or(errno::EBADF)
    }

    /// Installs `file` at the lowest free descriptor at or above `min`.
    pub fn insert_from(&mut self, min: usize, file: Arc<OpenFile>, cloexec: bool) -> Result<i32, Errno> {
        if min >= MAX_FDS {
            return Err(errno::EINVAL);
        }
        let free = (min..MAX_FDS).find(|&i| self.slots.get(i).is_none_or(Option::is_none)).ok_or(errno::EMFILE)?;
        self.put(free, file, cloexec);
        Ok(free as i32)
    }

    /// Installs `file` at the lowest free descriptor.
    pub fn insert(&mut self, file: Arc<OpenFile>, cloexec: bool) -> Result<i32, Errno> {
        self.insert_from(0, file, cloexec)
    }

    /// Installs `file` at `fd`, closing what was there.
    pub fn put(&mut self, fd: usize, file: Arc<OpenFile>, cloexec: bool) {
        if self.slots.len() <= fd {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(Slot { file, cloexec });
    }

    /// Closes `fd`.
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let i = usize::try_from(fd).map_err(|_| errno::EBADF)?;
        self.slots.get_mut(i).and_then(Option::take).map(drop).ok_or(errno::EBADF)
    }

    /// `fd`'s close-on-exec flag.
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        let i = usize::try_from(fd).map_err(|_| errno::EBADF)?;
        self.slots.get(i).and_then(Option::as_ref).map(|s| s.cloexec).ok_or(errno::EBADF)
    }

    /// Sets `fd`'s close-on-exec flag.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        let i = usize::try_from(fd).map_err(|_| errno::EBADF)?;
        let slot = self.slots.get_mut(i).and_then(Option::as_mut).ok_or(errno::EBADF)?;
        slot.cloexec = on;
        Ok(())
    }

    /// Closes every close-on-exec descriptor (`execve`).
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                *slot = None;
            }
        }
    }

    /// How many descriptors are open.
    pub fn count(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}
