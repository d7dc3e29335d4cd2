//! Building kernel ELFs and turning them into bootable disk images.
//!
//! Kernels build with the workspace's pinned stable toolchain for the built-in
//! `x86_64-unknown-none` target, into their own target directory so a kernel
//! build never invalidates the host build that is running it.
//!
//! Images come from the `odonata-boot` tool in `boot/`, its own workspace
//! because the `bootloader` crate's build script compiles the boot stages with
//! `-Z build-std`. That one build command, and no other, runs with
//! `RUSTC_BOOTSTRAP=1` (see ../shared/notes/boot-toolchain.md).
//!
//! The image holds a copy of the kernel ELF without its debug sections
//! (`llvm-objcopy --strip-debug`, from the toolchain's llvm-tools): the
//! BIOS stages read the whole file through the BIOS disk services, which
//! QEMU's TCG runs slowly, and line tables made a 2.1 MB test kernel of which
//! 0.33 MB is code and data. The full ELF stays beside it for gdb.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::workspace_root;

/// The kernels' target triple.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Which of the workspace's profiles a kernel is built with (README,
/// "Build profiles").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `kernel-dev` (the default for `cargo run`): optimised, with debug
    /// assertions, overflow checks and full debug info.
    Dev,
    /// `release` (`cargo run -- --release`; tests use it: BIOS loads small
    /// ELFs faster).
    Release,
}

impl Profile {
    /// The name cargo knows it by (`--profile`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Dev => "kernel-dev",
            Profile::Release => "release",
        }
    }
}

/// Which firmware boots the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS (QEMU's default), MBR disk image.
    Bios,
    /// OVMF, GPT disk image with an EFI system partition.
    Uefi,
}

impl Firmware {
    fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// How much a build prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Cargo's progress goes to the terminal (cargo run).
    Show,
    /// Captured, and shown only in the error if the build fails (tests).
    Capture,
}

/// A `cargo` command for a nested build: the outer cargo's flags for the host
/// (RUSTFLAGS, target overrides) must not leak into kernel builds.
fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(mut cmd: Command, what: &str, verbosity: Verbosity) -> Result<(), Error> {
    match verbosity {
        Verbosity::Show => {
            let status = cmd.status().map_err(Error::io(format!("cannot start {what}")))?;
            if !status.success() {
                return Err(Error::Build { what: what.into(), output: String::new() });
            }
        }
        Verbosity::Capture => {
            let out = cmd.stdin(Stdio::null()).output().map_err(Error::io(format!("cannot start {what}")))?;
            if !out.status.success() {
                let output = String::from_utf8_lossy(&out.stderr).into_owned();
                return Err(Error::Build { what: what.into(), output });
            }
        }
    }
    Ok(())
}

/// Directory kernels are built into.
pub fn kernel_target_dir() -> PathBuf {
    workspace_root().join("target").join("kernel")
}

/// Builds binary `bin` of kernel package `package` and returns the ELF's path.
pub fn kernel(package: &str, bin: &str, profile: Profile, verbosity: Verbosity) -> Result<PathBuf, Error> {
    Ok(build_kernels(package, Some(bin), profile, verbosity)?.join(bin))
}

/// Builds every binary of `package` at once (the test kernels) and returns
/// the directory their ELFs are in.
pub fn all_kernels(package: &str, profile: Profile, verbosity: Verbosity) -> Result<PathBuf, Error> {
    build_kernels(package, None, profile, verbosity)
}

fn build_kernels(package: &str, bin: Option<&str>, profile: Profile, verbosity: Verbosity) -> Result<PathBuf, Error> {
    let target_dir = kernel_target_dir();
    let mut cmd = cargo();
    cmd.args(["build", "-p", package, "--target", KERNEL_TARGET]).arg("--target-dir").arg(&target_dir);
    match bin {
        Some(bin) => cmd.args(["--bin", bin]),
        None => cmd.arg("--bins"),
    };
    cmd.args(["--profile", profile.name()]);
    if verbosity == Verbosity::Capture {
        cmd.arg("--quiet");
    }
    run(cmd, &format!("building kernel {package}/{}", bin.unwrap_or("*")), verbosity)?;
    Ok(target_dir.join(KERNEL_TARGET).join(profile.name()))
}

/// Builds (if needed) the image builder and returns its path.
pub fn image_builder(verbosity: Verbosity) -> Result<PathBuf, Error> {
    let root = workspace_root();
    let target_dir = root.join("target").join("boot");
    let tool = target_dir.join("release").join("odonata-boot");
    if !tool.exists() && verbosity == Verbosity::Show {
        eprintln!("odonata: building the image builder (bootloader 0.11.15; about 2 minutes, once)");
    }
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--manifest-path"])
        .arg(root.join("boot").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The bootloader's build script compiles its stages with -Z build-std.
        // This is the one command in the project that may use unstable flags.
        .env("RUSTC_BOOTSTRAP", "1");
    if verbosity == Verbosity::Capture {
        cmd.arg("--quiet");
    }
    run(cmd, "building the image builder (boot/)", verbosity)?;
    Ok(tool)
}

/// Writes a `firmware` disk image for `elf` next to it and returns its path.
///
/// Files are written under temporary names and renamed into place, so a test
/// booting the same kernel in parallel never sees a half-written one.
pub fn image(elf: &Path, firmware: Firmware, verbosity: Verbosity) -> Result<PathBuf, Error> {
    image_with(elf, firmware, None, verbosity)
}

/// [`image`] with a ramdisk (an initramfs) the bootloader loads beside the
/// kernel; the image is written next to the ramdisk (one per initramfs).
pub fn image_with(elf: &Path, firmware: Firmware, ramdisk: Option<&Path>, verbosity: Verbosity) -> Result<PathBuf, Error> {
    let tool = image_builder(verbosity)?;
    let boot_elf = elf.with_extension("boot.elf");
    let tmp = temporary(&boot_elf);
    let mut strip = Command::new(llvm_objcopy()?);
    strip.arg("--strip-debug").arg(elf).arg(&tmp);
    run(strip, &format!("stripping the debug sections of {}", elf.display()), Verbosity::Capture)?;
    std::fs::rename(&tmp, &boot_elf).map_err(Error::io(format!("renaming {}", tmp.display())))?;

    let out = ramdisk.unwrap_or(elf).with_extension(format!("{}.img", firmware.name()));
    let tmp = temporary(&out);
    let mut cmd = Command::new(&tool);
    cmd.arg(&boot_elf).arg(&tmp).arg(format!("--{}", firmware.name()));
    if let Some(r) = ramdisk {
        cmd.arg(r);
    }
    run(cmd, &format!("creating the {} image of {}", firmware.name(), elf.display()), Verbosity::Capture)?;
    std::fs::rename(&tmp, &out).map_err(Error::io(format!("renaming {}", tmp.display())))?;
    Ok(out)
}

/// A unique temporary name beside `path`.
fn temporary(path: &Path) -> PathBuf {
    static UNIQUE: AtomicU64 = AtomicU64::new(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp-{}-{}", std::process::id(), UNIQUE.fetch_add(1, Ordering::Relaxed)));
    PathBuf::from(name)
}

/// The toolchain's `llvm-objcopy` (rustup component llvm-tools, which
/// `scripts/setup` installs): in the host target's `bin` directory, beside
/// its `lib` directory that `rustc --print target-libdir` names.
fn llvm_objcopy() -> Result<PathBuf, Error> {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PATH.get_or_init(|| {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(rustc)
            .current_dir(workspace_root())
            .args(["--print", "target-libdir"])
            .output()
            .map_err(|e| format!("cannot run rustc: {e}"))?;
        let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let tool = libdir.parent().map(|d| d.join("bin").join("llvm-objcopy")).unwrap_or_default();
        if tool.is_file() {
            Ok(tool)
        } else {
            Err(format!("no llvm-objcopy at {} (the llvm-tools component): run scripts/setup", tool.display()))
        }
    });
    found.clone().map_err(|output| Error::Build { what: "finding llvm-objcopy".into(), output })
}
