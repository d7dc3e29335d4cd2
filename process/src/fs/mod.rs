//! The file system programs see: one writable in-memory tree, unpacked at
//! boot from the initramfs the bootloader loaded (cpio newc), with device
//! nodes under `/dev`.
//!
//! Paths are resolved from the root or a working directory, following
//! symbolic links (at most [`MAX_LINKS`] per lookup, as Linux's ELOOP).

mod bytes;
mod cache_memory;
pub mod cpu_names;
pub mod cpu_pages;
pub mod disk;
pub mod epoll;
mod file;
pub mod inet_socket;
pub mod mount;
mod node;
pub mod ops;
pub mod pipe;
pub mod procfs;
pub mod socket;
pub mod udp_socket;
pub mod unix_named;
pub mod unix_socket;
pub mod volume;
mod volume_service;

pub use bytes::FileBytes;
pub use file::{OpenFile, Wanted, console_write, device_random, random_bytes};
pub use node::{BUSY, Device, Kind, Node};

/// Runs `attempt` until it answers something other than [`BUSY`], waiting
/// a grace period between tries (the module doc of `node`).
pub async fn until_free<R>(mut attempt: impl FnMut() -> Result<R, Errno>) -> Result<R, Errno> {
    loop {
        match attempt() {
            Err(e) if e == BUSY => busy_wait().await,
            r => return r,
        }
    }
}

/// Tries that found a node's token busy and waited, since boot.
static BUSY_WAITS: AtomicU64 = AtomicU64::new(0);

/// After a try that answered [`BUSY`]: counts it and waits a grace period.
pub async fn busy_wait() {
    BUSY_WAITS.fetch_add(1, Ordering::Relaxed);
    io::retire::grace_period().await;
}

/// Tries that found a node's token busy and waited, since boot (the
/// programs test prints it: the contended path ran).
pub fn busy_waits() -> u64 {
    BUSY_WAITS.load(Ordering::Relaxed)
}

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::sync::atomic::{AtomicU64, Ordering};

use linux::errno::{self, Errno};
use spin::Once;

/// Symbolic links followed in one lookup before ELOOP.
pub const MAX_LINKS: usize = 40;

static ROOT: Once<Arc<Node>> = Once::new();

/// The root directory (empty until [`unpack`] runs).
pub fn root() -> &'static Arc<Node> {
    ROOT.call_once(|| Node::dir(0o755))
}

/// What [`unpack`] found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unpacked {
    /// Files, directories, links and nodes made.
    pub entries: usize,
    /// Bytes of file data.
    pub bytes: usize,
}

/// Unpacks a cpio newc archive into the root, then adds `/dev`'s nodes
/// and `/tmp` if the archive has none. A malformed archive is reported
/// and what came before the fault is kept.
pub fn unpack(archive: &[u8]) -> Result<Unpacked, initramfs::Error> {
    let root = root();
    let mut done = Unpacked::default();
    let mut result = Ok(());
    for entry in initramfs::Reader::new(archive) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let path = entry.name.trim_start_matches("./").trim_start_matches('/');
        if path.is_empty() || path == "." {
            continue;
        }
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (make_dirs(root, p), n),
            None => (Arc::clone(root), path),
        };
        let perm = entry.mode & 0o7777;
        let mtime = u64::from(entry.mtime);
        let node = match entry.kind() {
            initramfs::S_IFDIR => {
                if parent.child(name).is_ok_and(|n| n.is_dir()) {
                    continue;
                }
                Node::new(Kind::dir(), perm, mtime)
            }
            initramfs::S_IFREG => Node::new(Kind::file(entry.data.to_vec()), perm, mtime),
            initramfs::S_IFLNK => Node::new(Kind::Symlink(String::from_utf8_lossy(entry.data).into_owned()), perm, mtime),
            other => {
                log::warn!("initramfs: {path}: type {other:#o} is not supported here; skipped");
                continue;
            }
        };
        done.entries += 1;
        done.bytes += entry.data.len();
        let _ = parent.remove(name, false);
        if parent.insert(name, node).is_err() {
            log::warn!("initramfs: {path}: name taken by a directory; skipped");
        }
    }
    let dev = make_dirs(root, "dev");
    for (name, device) in [
        ("null", Device::Null),
        ("zero", Device::Zero),
        ("urandom", Device::Random),
        ("random", Device::Random),
        ("console", Device::Console),
        ("tty", Device::ControllingTty),
        ("ptmx", Device::Ptmx),
    ] {
        let _ = dev.insert(name, Node::new(Kind::Device(device), 0o666, 0));
    }
    make_dirs(root, "dev/pts");
    make_dirs(root, "tmp");
    let _ = root.remove("proc", true);
    let _ = root.insert("proc", Node::new(Kind::Proc, 0o555, 0));
    result.map(|()| done)
}

/// Adds `/dev/vda`, `/dev/vdb`, ... for `disks` virtio-blk disks (block
/// device nodes `mount` takes).
pub fn add_disk_nodes(disks: usize) {
    let dev = make_dirs(root(), "dev");
    for i in 0..disks.min(26) {
        let name = alloc::format!("vd{}", (b'a' + i as u8) as char);
        let _ = dev.insert(&name, Node::new(Kind::Device(Device::Disk(i as u8)), 0o660, 0));
    }
}

/// Adds `/dev/pts/N` for a new pseudo-terminal.
pub async fn add_pty_node(pty: &Arc<crate::tty::Pty>) -> Result<(), Errno> {
    let pts = make_dirs(root(), "dev/pts");
    let node = Node::new(Kind::Tty(crate::tty::Tty::Pty(Arc::clone(pty))), 0o620, 0);
    let name = alloc::format!("{}", pty.index());
    until_free(|| pts.insert(&name, Arc::clone(&node))).await
}

/// Removes `/dev/pts/N` (its master closed).
pub async fn remove_pty_node(index: u32) {
    let name = alloc::format!("{index}");
    if let Ok(pts) = until_free(|| root().child("dev")?.child("pts")).await {
        let _ = until_free(|| pts.remove(&name, false)).await;
    }
}

/// `mkdir -p` from `dir`; returns the last directory.
fn make_dirs(dir: &Arc<Node>, path: &str) -> Arc<Node> {
    let mut at = Arc::clone(dir);
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at = match at.child(part) {
            Ok(n) if n.is_dir() => n,
            _ => {
                let n = Node::dir(0o755);
                let _ = at.remove(part, false);
                let _ = at.insert(part, Arc::clone(&n));
                n
            }
        };
    }
    at
}

/// Resolves `path` from `cwd` (an absolute path starts at the root).
/// `follow`: follow a symbolic link in the last component too.
pub async fn lookup(cwd: &str, path: &str, follow: bool) -> Result<Arc<Node>, Errno> {
    let (parent, name) = lookup_parent(cwd, path).await?;
    match name {
        None => Ok(parent),
        Some(name) => {
            let mut links = 0;
            resolve_last(parent, &name, follow, &mut links).await
        }
    }
}

/// Resolves all of `path` but its last component: the directory it is in
/// and the last name (`None` for `/` or a path ending in `.`/`..`).
pub async fn lookup_parent(cwd: &str, path: &str) -> Result<(Arc<Node>, Option<String>), Errno> {
    if path.is_empty() {
        return Err(errno::ENOENT);
    }
    if path.len() > 4096 {
        return Err(errno::ENAMETOOLONG);
    }
    let full = absolute(cwd, path);
    let parts: Vec<&str> = full.split('/').filter(|p| !p.is_empty()).collect();
    let mut links = 0;
    let mut stack: Vec<Arc<Node>> = Vec::from([root_entered()]);
    let Some((last, dirs)) = parts.split_last() else { return Ok((root_entered(), None)) };
    for part in dirs {
        walk(&mut stack, part, &mut links).await?;
    }
    let dir = Arc::clone(stack.last().expect("the root stays"));
    if !dir.is_dir() {
        return Err(errno::ENOTDIR);
    }
    match *last {
        "." => Ok((dir, None)),
        ".." => {
            if stack.len() > 1 {
                stack.pop();
            }
            Ok((Arc::clone(stack.last().expect("the root stays")), None))
        }
        name => Ok((dir, Some(String::from(name)))),
    }
}

/// The root as a walk enters it (a volume mounted on `/` covers it).
fn root_entered() -> Arc<Node> {
    let root = root();
    mount::covering(root).unwrap_or_else(|| Arc::clone(root))
}

/// Directory `dir`'s entry `name`, on a disk or in memory; a directory a
/// volume covers is that volume's root.
pub async fn child(dir: &Arc<Node>, name: &str) -> Result<Arc<Node>, Errno> {
    let node = match &dir.kind {
        Kind::Disk(d) => d.child(name).await?,
        _ => until_free(|| dir.child(name)).await?,
    };
    Ok(if node.is_dir() { mount::covering(&node).unwrap_or(node) } else { node })
}

/// `path` (absolute) in the in-memory tree alone, mounts and links left
/// aside: the kernel's own files (`/etc/odonata-*` from the runner,
/// `/dev/console`), whatever is mounted on `/`.
pub fn in_memory(path: &str) -> Result<Arc<Node>, Errno> {
    let mut at = Arc::clone(root());
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at = until_free_now(|| at.child(part))?;
    }
    Ok(at)
}

/// A try that no other task can contend at boot: BUSY is an error here.
fn until_free_now<R>(attempt: impl FnOnce() -> Result<R, Errno>) -> Result<R, Errno> {
    attempt().map_err(|e| if e == BUSY { errno::EAGAIN } else { e })
}

/// [`child`] for a walk that goes on through it: on a volume, a
/// directory this CPU's names hold, even if its own attributes changed
/// (`DiskRef::child_on_the_way`).
async fn child_on_the_way(dir: &Arc<Node>, name: &str) -> Result<Arc<Node>, Errno> {
    let node = match &dir.kind {
        Kind::Disk(d) => d.child_on_the_way(name).await?,
        _ => until_free(|| dir.child(name)).await?,
    };
    Ok(if node.is_dir() { mount::covering(&node).unwrap_or(node) } else { node })
}

/// A symbolic link's target (None: not a link).
pub async fn link_target(node: &Node) -> Result<Option<String>, Errno> {
    match &node.kind {
        Kind::Symlink(t) => Ok(Some(t.clone())),
        Kind::Disk(d) if d.is_symlink() => d.readlink().await.map(Some),
        _ => Ok(None),
    }
}

fn walk<'a>(
    stack: &'a mut Vec<Arc<Node>>,
    part: &'a str,
    links: &'a mut usize,
) -> core::pin::Pin<alloc::boxed::Box<dyn Future<Output = Result<(), Errno>> + 'a>> {
    alloc::boxed::Box::pin(async move {
        match part {
            "." => {}
            ".." => {
                if stack.len() > 1 {
                    stack.pop();
                }
            }
            name => {
                let dir = Arc::clone(stack.last().expect("the root stays"));
                let next = child_on_the_way(&dir, name).await?;
                if let Some(target) = link_target(&next).await? {
                    *links += 1;
                    if *links > MAX_LINKS {
                        return Err(errno::ELOOP);
                    }
                    if target.starts_with('/') {
                        stack.truncate(1);
                    }
                    for p in target.split('/').filter(|p| !p.is_empty()) {
                        walk(stack, p, links).await?;
                    }
                } else if next.is_dir() {
                    stack.push(next);
                } else {
                    return Err(errno::ENOTDIR);
                }
            }
        }
        Ok(())
    })
}

fn resolve_last<'a>(
    parent: Arc<Node>,
    name: &'a str,
    follow: bool,
    links: &'a mut usize,
) -> core::pin::Pin<alloc::boxed::Box<dyn Future<Output = Result<Arc<Node>, Errno>> + 'a>> {
    alloc::boxed::Box::pin(async move {
        let node = child(&parent, name).await?;
        if !follow {
            return Ok(node);
        }
        let Some(target) = link_target(&node).await? else { return Ok(node) };
        *links += 1;
        if *links > MAX_LINKS {
            return Err(errno::ELOOP);
        }
        // Relative targets are relative to the link's directory, whose
        // path we do not keep: walk from it (or from the root for an
        // absolute target).
        let mut stack = Vec::from([root_entered()]);
        if !target.starts_with('/') {
            stack.push(parent);
        }
        let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
        let Some((last, dirs)) = parts.split_last() else { return Ok(Arc::clone(stack.last().expect("root"))) };
        for part in dirs {
            walk(&mut stack, part, links).await?;
        }
        let dir = Arc::clone(stack.last().expect("root"));
        match *last {
            "." => Ok(dir),
            ".." => {
                if stack.len() > 1 {
                    stack.pop();
                }
                Ok(Arc::clone(stack.last().expect("root")))
            }
            name => resolve_last(dir, name, true, links).await,
        }
    })
}

/// `path` made absolute against `cwd` (no `.`/`..` processing).
pub fn absolute(cwd: &str, path: &str) -> String {
    if path.starts_with('/') {
        String::from(path)
    } else {
        let mut s = String::from(cwd);
        if !s.ends_with('/') {
            s.push('/');
        }
        s.push_str(path);
        s
    }
}

/// `path` made absolute and normalised (`.` and `..` removed, no links
/// followed): what `chdir` records and `getcwd` reports.
pub fn normalize(cwd: &str, path: &str) -> String {
    let full = absolute(cwd, path);
    let mut parts: Vec<&str> = Vec::new();
    for p in full.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut s = String::new();
    for p in &parts {
        s.push('/');
        s.push_str(p);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// The absolute path of what `path` names, every symbolic link resolved
/// (what `/proc/PID/exe` shows, and `realpath`).
pub async fn realpath(cwd: &str, path: &str) -> Result<String, Errno> {
    let mut pending: Vec<String> = absolute(cwd, path).split('/').filter(|p| !p.is_empty()).rev().map(String::from).collect();
    let mut done: Vec<String> = Vec::new();
    let mut nodes: Vec<Arc<Node>> = Vec::from([root_entered()]);
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => {}
            ".." => {
                if done.pop().is_some() {
                    nodes.pop();
                }
            }
            name => {
                let dir = Arc::clone(nodes.last().expect("the root stays"));
                let node = child(&dir, name).await?;
                if let Some(target) = link_target(&node).await? {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(errno::ELOOP);
                    }
                    if target.starts_with('/') {
                        done.clear();
                        nodes.truncate(1);
                    }
                    pending.extend(target.split('/').filter(|p| !p.is_empty()).rev().map(String::from));
                } else {
                    done.push(String::from(name));
                    nodes.push(node);
                }
            }
        }
    }
    let mut s = String::new();
    for part in &done {
        s.push('/');
        s.push_str(part);
    }
    if s.is_empty() {
        s.push('/');
    }
    Ok(s)
}
