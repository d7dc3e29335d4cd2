//! The mount table: which in-memory directory a volume covers.
//!
//! Path walks read the table on every directory they enter, from any CPU,
//! so it is an `io::retire::Snapshot` (read with a few loads inside one
//! poll, no lock); `mount` and `umount` replace it whole. Mounting and
//! unmounting are rare; they are ordered by one token, so two at once
//! cannot lose each other's change.
//!
//! A mount covers a directory, in memory or on a volume, with the root of
//! a volume or with an in-memory directory (`/dev` and `/proc` over a
//! disk that is `/`); `..` out of what covers returns to the covered
//! directory's parent because a walk keeps the directories it came
//! through, not because the disk's `..` says so.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use io::retire::Snapshot;
use io::token::Guarded;
use linux::errno::{self, Errno};
use spin::Once;

use super::node::{Kind, Node};
use super::volume::Mounted;

/// One mount.
#[derive(Clone)]
pub struct MountEntry {
    /// The directory it covers.
    pub point: Arc<Node>,
    /// What covers it: a volume's root, or an in-memory directory.
    pub root: Arc<Node>,
    /// Where it is mounted (`/mnt`).
    pub path: String,
    /// The volume mounted (none for an in-memory directory).
    pub vol: Option<Arc<Mounted>>,
}

fn table() -> &'static Snapshot<Vec<MountEntry>> {
    static TABLE: Once<Snapshot<Vec<MountEntry>>> = Once::new();
    TABLE.call_once(|| Snapshot::new(Arc::new(Vec::new())))
}

fn changes() -> &'static Guarded<()> {
    static CHANGES: Once<Guarded<()>> = Once::new();
    CHANGES.call_once(|| Guarded::new("mount table", ()))
}

/// Whether `a` and `b` are one directory (one inode of one volume, or one
/// node in memory).
fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Disk(x), Kind::Disk(y)) => x.same(y),
        _ => core::ptr::eq(a, b),
    }
}

/// What covers directory `dir`, if something does.
pub fn covering(dir: &Node) -> Option<Arc<Node>> {
    let table = table().get();
    if table.is_empty() {
        return None;
    }
    table.iter().find(|m| same(&m.point, dir)).map(|m| Arc::clone(&m.root))
}

/// Every mount now.
pub fn list() -> Vec<MountEntry> {
    table().get().as_ref().clone()
}

/// Adds a mount of `root` (a volume's root, or an in-memory directory)
/// over directory `point`, named `path`; EBUSY if the point is covered
/// already or the volume is mounted elsewhere.
pub async fn add(point: Arc<Node>, root: Arc<Node>, path: String, vol: Option<Arc<Mounted>>) -> Result<(), Errno> {
    let entry = MountEntry { point, root, path, vol };
    changes()
        .exclusive(move |()| {
            let now = table().get();
            let same_vol = |m: &MountEntry| matches!((&m.vol, &entry.vol), (Some(a), Some(b)) if Arc::ptr_eq(a, b));
            if now.iter().any(|m| same(&m.point, &entry.point) || same_vol(m)) {
                return Err(errno::EBUSY);
            }
            let mut next = now.as_ref().clone();
            next.push(entry);
            table().set(Arc::new(next));
            Ok(())
        })
        .await
}

/// Takes the mount at `path` out of the table; EBUSY while something is
/// mounted on a directory of its volume.
pub async fn remove(path: String) -> Result<MountEntry, Errno> {
    changes()
        .exclusive(move |()| {
            let now = table().get();
            let at = now.iter().position(|m| m.path == path).ok_or(errno::EINVAL)?;
            if let Some(vol) = &now[at].vol {
                let inside = |m: &MountEntry| matches!(&m.point.kind, Kind::Disk(d) if Arc::ptr_eq(&d.vol, vol));
                if now.iter().any(inside) {
                    return Err(errno::EBUSY);
                }
            }
            let mut next = now.as_ref().clone();
            let gone = next.remove(at);
            table().set(Arc::new(next));
            Ok(gone)
        })
        .await
}

/// Whether something is mounted on a directory of `vol`.
pub fn has_mounts_inside(vol: &Arc<Mounted>) -> bool {
    table().get().iter().any(|m| matches!(&m.point.kind, Kind::Disk(d) if Arc::ptr_eq(&d.vol, vol)))
}

/// Before the machine stops: every volume written back and marked clean,
/// the last mounted first (files still open or not: nothing runs after).
pub async fn shutdown() {
    let all = list();
    for m in all.iter().rev() {
        if let Some(vol) = &m.vol {
            match vol.shutdown().await {
                Ok(()) => log::info!("ext2 on {}: written back and marked clean", vol.name()),
                Err(e) => log::error!("ext2 on {}: at shutdown: {e}", vol.name()),
            }
        }
    }
}

/// Mounts the ext2 volume on `device` (`/dev/vda`) as `/` (served on the
/// boot CPU), with the in-memory `/dev` and `/proc` over the disk's (made
/// on the disk if it has none).
pub async fn mount_root(device: &str) -> Result<(), String> {
    let index = device
        .strip_prefix("/dev/vd")
        .and_then(|l| l.bytes().next())
        .filter(|l| l.is_ascii_lowercase())
        .map(|l| usize::from(l - b'a'))
        .ok_or_else(|| alloc::format!("{device} is not a virtio-blk disk (/dev/vda, /dev/vdb, ...)"))?;
    let disk = *drivers::virtio::blk::disks().get(index).ok_or_else(|| alloc::format!("there is no {device}"))?;
    let vol = Mounted::mount(disk, kernel::smp::CpuId::BOOT, false).await.map_err(|e| alloc::format!("{device}: {e}"))?;
    let root = super::disk::root(&vol).await.map_err(|e| alloc::format!("{device}: its root: {}", e.name()))?;
    add(Arc::clone(super::root()), Arc::clone(&root), String::from("/"), Some(vol))
        .await
        .map_err(|e| alloc::format!("mounting /: {}", e.name()))?;
    for name in ["dev", "proc"] {
        let on_disk = match super::child(&root, name).await {
            Ok(n) if n.is_dir() => n,
            Ok(_) => return Err(alloc::format!("/{name} on {device} is not a directory")),
            Err(_) => {
                log::warn!("root: {device} has no /{name}: made it");
                super::ops::make(&root, name, super::ops::New::Dir, 0o755)
                    .await
                    .map_err(|e| alloc::format!("making /{name}: {}", e.name()))?
            }
        };
        let in_memory = super::in_memory(name).map_err(|e| alloc::format!("the in-memory /{name}: {}", e.name()))?;
        add(on_disk, in_memory, alloc::format!("/{name}"), None).await.map_err(|e| alloc::format!("mounting /{name}: {}", e.name()))?;
    }
    Ok(())
}
