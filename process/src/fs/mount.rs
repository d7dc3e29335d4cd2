//! The mount table: which in-memory directory a volume covers.
//!
//! Path walks read the table on every directory they enter, from any CPU,
//! so it is an `io::retire::Snapshot` (read with a few loads inside one
//! poll, no lock); `mount` and `umount` replace it whole. Mounting and
//! unmounting are rare; they are ordered by one token, so two at once
//! cannot lose each other's change.
//!
//! A volume covers a directory of the in-memory tree (mount points inside
//! a volume are refused); `..` out of a volume's root returns to the
//! covered directory's parent because a walk keeps the directories it
//! came through, not because the disk's `..` says so.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use io::retire::Snapshot;
use io::token::Guarded;
use linux::errno::{self, Errno};
use spin::Once;

use super::node::Node;
use super::volume::Mounted;

/// One mounted volume.
#[derive(Clone)]
pub struct MountEntry {
    /// The directory it covers.
    pub point: Arc<Node>,
    /// Its root's node.
    pub root: Arc<Node>,
    /// Where it is mounted, as given (`/mnt`).
    pub path: String,
    /// The volume.
    pub vol: Arc<Mounted>,
}

fn table() -> &'static Snapshot<Vec<MountEntry>> {
    static TABLE: Once<Snapshot<Vec<MountEntry>>> = Once::new();
    TABLE.call_once(|| Snapshot::new(Arc::new(Vec::new())))
}

fn changes() -> &'static Guarded<()> {
    static CHANGES: Once<Guarded<()>> = Once::new();
    CHANGES.call_once(|| Guarded::new("mount table", ()))
}

/// What covers directory `dir`, if a volume does.
pub fn covering(dir: &Arc<Node>) -> Option<Arc<Node>> {
    table().get().iter().find(|m| Arc::ptr_eq(&m.point, dir)).map(|m| Arc::clone(&m.root))
}

/// Every mount now.
pub fn list() -> Vec<MountEntry> {
    table().get().as_ref().clone()
}

/// Adds a mount of `vol` over `point` (an in-memory directory not covered
/// yet), named `path`; EBUSY if it is covered already or the volume is
/// mounted elsewhere.
pub async fn add(point: Arc<Node>, root: Arc<Node>, path: String, vol: Arc<Mounted>) -> Result<(), Errno> {
    let entry = MountEntry { point, root, path, vol };
    changes()
        .exclusive(move |()| {
            let now = table().get();
            if now.iter().any(|m| Arc::ptr_eq(&m.point, &entry.point) || Arc::ptr_eq(&m.vol, &entry.vol)) {
                return Err(errno::EBUSY);
            }
            let mut next = now.as_ref().clone();
            next.push(entry);
            table().set(Arc::new(next));
            Ok(())
        })
        .await
}

/// Takes the mount whose root is `root` (or whose path is `path`) out of
/// the table; the volume it held.
pub async fn remove(path: String) -> Result<Arc<Mounted>, Errno> {
    changes()
        .exclusive(move |()| {
            let now = table().get();
            let at = now.iter().position(|m| m.path == path).ok_or(errno::EINVAL)?;
            let mut next = now.as_ref().clone();
            let gone = next.remove(at);
            table().set(Arc::new(next));
            Ok(gone.vol)
        })
        .await
}
