//! Packs the initramfs a kernel unpacks as its root file system (cpio newc,
//! written by the pure `initramfs` crate): programs from the host, Debian's
//! static BusyBox with a link per applet, a directory of the user's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use initramfs::{Entry, S_IFDIR, S_IFLNK, S_IFREG, Writer};

use crate::Error;

/// Where Debian's `busybox-static` installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// An initramfs being put together.
#[derive(Default)]
pub struct Initramfs {
    /// (path in the guest, mode, contents), in the order added.
    entries: Vec<(String, u32, Vec<u8>)>,
    dirs: BTreeSet<String>,
}

impl Initramfs {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    fn parents(&mut self, path: &str) {
        let mut at = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            if self.dirs.insert(at.clone()) {
                self.entries.push((at.clone(), S_IFDIR | 0o755, Vec::new()));
            }
        }
    }

    /// Adds a file at `guest` with `contents` and permission bits `perm`.
    pub fn bytes(&mut self, guest: &str, perm: u32, contents: Vec<u8>) -> &mut Self {
        let guest = guest.trim_start_matches('/').to_string();
        self.parents(&guest);
        self.entries.push((guest, S_IFREG | (perm & 0o7777), contents));
        self
    }

    /// Adds the host file `host` at `guest` (its permission bits kept).
    pub fn file(&mut self, guest: &str, host: &Path) -> Result<&mut Self, Error> {
        let contents = std::fs::read(host).map_err(Error::io(format!("reading {}", host.display())))?;
        let perm = mode_of(host);
        Ok(self.bytes(guest, perm, contents))
    }

    /// Adds a symbolic link at `guest` pointing to `target`.
    pub fn symlink(&mut self, guest: &str, target: &str) -> &mut Self {
        let guest = guest.trim_start_matches('/').to_string();
        self.parents(&guest);
        self.entries.push((guest, S_IFLNK | 0o777, target.as_bytes().to_vec()));
        self
    }

    /// Adds every file, directory and link under the host directory `dir`
    /// at `guest` (recursively, in name order).
    pub fn tree(&mut self, guest: &str, dir: &Path) -> Result<&mut Self, Error> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(Error::io(format!("reading directory {}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        for path in names {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let at = format!("{}/{name}", guest.trim_end_matches('/'));
            let meta = std::fs::symlink_metadata(&path).map_err(Error::io(format!("reading {}", path.display())))?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map_err(Error::io(format!("reading link {}", path.display())))?;
                self.symlink(&at, &target.to_string_lossy());
            } else if meta.is_dir() {
                let key = at.trim_start_matches('/').to_string();
                self.parents(&format!("{key}/x"));
                self.tree(&at, &path)?;
            } else if meta.is_file() {
                self.file(&at, &path)?;
            }
        }
        Ok(self)
    }

    /// Adds Debian's static BusyBox as `/bin/busybox`, a link to it for each
    /// of its applets (where `busybox --list-full` puts them), and `/bin/sh`.
    pub fn busybox(&mut self) -> Result<&mut Self, Error> {
        let host = Path::new(BUSYBOX);
        if !host.is_file() {
            return Err(Error::Build {
                what: "packing BusyBox".into(),
                output: format!("{BUSYBOX} is missing: run scripts/setup (busybox-static)"),
            });
        }
        self.file("bin/busybox", host)?;
        let list = Command::new(host).arg("--list-full").output().map_err(Error::io("running busybox --list-full"))?;
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim();
            if applet.is_empty() || applet == "bin/busybox" {
                continue;
            }
            self.symlink(applet, "/bin/busybox");
        }
        if !self.entries.iter().any(|(p, _, _)| p == "bin/sh") {
            self.symlink("bin/sh", "/bin/busybox");
        }
        Ok(self)
    }

    /// The archive's bytes.
    pub fn archive(&self) -> Vec<u8> {
        let mut w = Writer::new();
        for (name, mode, data) in &self.entries {
            w.add(&Entry { name, mode: *mode, uid: 0, gid: 0, mtime: 0, rdev: (0, 0), data });
        }
        w.finish()
    }

    /// Writes the archive to `path`.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        std::fs::write(path, self.archive()).map_err(Error::io(format!("writing {}", path.display())))
    }
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644)
}
