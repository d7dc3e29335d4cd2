//! Mounting volumes and the calls about whole file systems: `mount`,
//! `umount2`, `statfs`, `fstatfs`, `fsync`, `sync`.

use alloc::string::String;
use alloc::sync::Arc;

use linux::errno::{self, Errno};
use linux::structs::Statfs;

use super::{Args, SysResult};
use crate::fs::Device;
use crate::fs::volume::Mounted;
use crate::fs::{self, Kind, Node, disk, mount};
use crate::process::Process;
use crate::user;

/// `mount`'s flags this kernel acts on.
const MS_RDONLY: u64 = 1;
const MS_REMOUNT: u64 = 32;
const MS_BIND: u64 = 4096;
const MS_MOVE: u64 = 8192;
/// `umount2`'s flags it knows (MNT_FORCE, MNT_DETACH, MNT_EXPIRE,
/// UMOUNT_NOFOLLOW).
const UMOUNT_FLAGS: u32 = 1 | 2 | 4 | 8;

/// `statfs`'s magic numbers.
const EXT2_SUPER_MAGIC: u64 = 0xEF53;
const TMPFS_MAGIC: u64 = 0x0102_1994;
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// `mount(source, target, type, flags, data)`: an ext2 volume on a
/// virtio-blk disk (`/dev/vda`) over an in-memory directory.
pub(super) async fn mount(p: &mut Process, a: Args) -> SysResult {
    let flags = a.get(3);
    if flags & (MS_REMOUNT | MS_BIND | MS_MOVE) != 0 {
        return Err(errno::EINVAL);
    }
    let source = user::read_path(&mut p.memory, a.get(0))?;
    let target = user::read_path(&mut p.memory, a.get(1))?;
    let kind = if a.get(2) == 0 { String::new() } else { user::read_path(&mut p.memory, a.get(2))? };
    if !matches!(kind.as_str(), "ext2" | "ext3" | "ext4") {
        return Err(errno::ENODEV);
    }
    let device = fs::lookup(&p.cwd, &source, true).await?;
    let Kind::Device(Device::Disk(index)) = device.kind else { return Err(errno::ENOTBLK) };
    let disk = *drivers::virtio::blk::disks().get(usize::from(index)).ok_or(errno::ENXIO)?;
    // One service per disk: two would each cache and write it.
    if mount::list().iter().any(|m| m.vol.as_ref().is_some_and(|v| v.name() == disk.name())) {
        return Err(errno::EBUSY);
    }
    let point = fs::lookup(&p.cwd, &target, true).await?;
    if !point.is_dir() || matches!(point.kind, Kind::Proc) {
        return Err(errno::ENOTDIR);
    }
    let path = fs::realpath(&p.cwd, &target).await?;
    let cpu = kernel::smp::current();
    let vol = Mounted::mount(disk, cpu, flags & MS_RDONLY != 0).await.map_err(|e| {
        log::warn!("mount {source} on {path}: {e}");
        match e {
            ext2::Error::Io(_) => errno::EIO,
            _ => errno::EINVAL,
        }
    })?;
    let root = disk::root(&vol).await?;
    if let Err(e) = mount::add(point, root, path, Some(Arc::clone(&vol))).await {
        let _ = vol.unmount().await;
        return Err(e);
    }
    Ok(0)
}

/// `umount2(target, flags)`: writes the volume back, marks it clean and
/// takes it out of the tree; EBUSY while files on it are open.
pub(super) async fn umount2(p: &mut Process, target: u64, flags: u32) -> SysResult {
    if flags & !UMOUNT_FLAGS != 0 {
        return Err(errno::EINVAL);
    }
    let target = user::read_path(&mut p.memory, target)?;
    let path = fs::realpath(&p.cwd, &target).await?;
    let entry = mount::list().into_iter().find(|m| m.path == path).ok_or(errno::EINVAL)?;
    let Some(vol) = entry.vol else { return Err(errno::EBUSY) };
    if mount::has_mounts_inside(&vol) {
        return Err(errno::EBUSY);
    }
    vol.unmount().await.map_err(|e| disk::errno_of(&vol, e))?;
    mount::remove(path).await?;
    Ok(0)
}

/// What `statfs` reports of the file system `node` is on.
async fn statfs_of(node: &Node) -> Result<Statfs, Errno> {
    Ok(match &node.kind {
        Kind::Disk(d) => {
            let s = d.vol.statfs().await.map_err(|e| disk::errno_of(&d.vol, e))?;
            Statfs {
                kind: EXT2_SUPER_MAGIC,
                bsize: u64::from(s.block_size),
                blocks: s.blocks,
                bfree: s.free_blocks,
                bavail: s.available_blocks,
                files: s.inodes,
                ffree: s.free_inodes,
                fsid: d.vol.device_number(),
                namelen: 255,
                frsize: u64::from(s.block_size),
                flags: u64::from(d.vol.read_only()),
            }
        }
        _ => {
            // The in-memory tree: its room is the budget for programs'
            // data in the kernel heap (`budget`).
            let (used, limit) = crate::budget::usage();
            let blocks = (limit / 4096) as u64;
            let free = (limit.saturating_sub(used) / 4096) as u64;
            let kind = if matches!(node.kind, Kind::Proc) { PROC_SUPER_MAGIC } else { TMPFS_MAGIC };
            Statfs {
                kind,
                bsize: 4096,
                blocks,
                bfree: free,
                bavail: free,
                files: 0,
                ffree: 0,
                fsid: 1,
                namelen: 255,
                frsize: 4096,
                flags: 0,
            }
        }
    })
}

pub(super) async fn statfs(p: &mut Process, path: u64, buf: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let node = fs::lookup(&p.cwd, &path, true).await?;
    let s = statfs_of(&node).await?;
    user::write(&mut p.memory, buf, &s.encode())?;
    Ok(0)
}

pub(super) async fn fstatfs(p: &mut Process, fd: i32, buf: u64) -> SysResult {
    let file = p.files.get(fd)?;
    let s = statfs_of(&file.node).await?;
    user::write(&mut p.memory, buf, &s.encode())?;
    Ok(0)
}

/// `fsync`, `fdatasync`, `syncfs`: the volume the file is on is written
/// back and its disk flushed before the call returns (the whole volume:
/// more than asked, never less). Memory is the medium of everything else.
pub(super) async fn fsync(p: &mut Process, fd: i32) -> SysResult {
    let file = p.files.get(fd)?;
    match &file.node.kind {
        Kind::Disk(d) => d.vol.sync().await.map_err(|e| disk::errno_of(&d.vol, e))?,
        Kind::Pipe(_) | Kind::Socket(_) => return Err(errno::EINVAL),
        _ => {}
    }
    Ok(0)
}

/// `sync`: every volume written back and flushed.
pub(super) async fn sync_all() -> SysResult {
    for vol in mount::list().into_iter().filter_map(|m| m.vol) {
        if let Err(e) = vol.sync().await {
            log::error!("sync of {}: {e}", vol.name());
        }
    }
    Ok(0)
}
