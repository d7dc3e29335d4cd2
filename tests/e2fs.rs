//! The host's e2fsprogs for the disk tests: make an image, check it, read
//! it back without mounting it.

use std::path::Path;
use std::process::Command;

/// An e2fsprogs command (`mke2fs`, `e2fsck`, `debugfs`): in /usr/sbin or
/// /sbin on Debian, off an ordinary user's PATH.
pub fn command(name: &str) -> Command {
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Command::new(p);
        }
    }
    Command::new(name)
}

/// `mke2fs -q -F -t ext2 ARGS [-d FROM] IMG SIZE`, which must succeed.
pub fn mke2fs(img: &Path, size: &str, args: &[&str], from: Option<&Path>) {
    let mut c = command("mke2fs");
    c.args(["-q", "-F", "-t", "ext2"]).args(args);
    if let Some(dir) = from {
        c.arg("-d").arg(dir);
    }
    let out = c.arg(img).arg(size).output().expect("mke2fs (e2fsprogs, installed by scripts/setup)");
    assert!(out.status.success(), "mke2fs: {}", String::from_utf8_lossy(&out.stderr));
}

/// `e2fsck FLAGS IMG`: its exit code and what it printed.
pub fn e2fsck(img: &Path, flags: &str) -> (i32, String) {
    let out = command("e2fsck").arg(flags).arg(img).output().expect("e2fsck");
    (out.status.code().unwrap_or(8), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `debugfs -R CMD IMG`'s standard output.
pub fn debugfs(img: &Path, cmd: &str) -> String {
    let out = command("debugfs").args(["-R", cmd]).arg(img).output().expect("debugfs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies `what` (a path on the image) into `into` with `debugfs rdump`.
pub fn rdump(img: &Path, what: &str, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let out = command("debugfs").args(["-R", &format!("rdump {what} {}", into.display())]).arg(img).output().expect("debugfs");
    assert!(out.status.success(), "debugfs rdump: {}", String::from_utf8_lossy(&out.stderr));
}

/// Whether the image's superblock says it was cleanly unmounted.
pub fn is_clean(img: &Path) -> bool {
    debugfs(img, "stats").contains("Filesystem state:         clean")
}
