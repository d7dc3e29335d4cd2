//! The QEMU machine a kernel boots on, as a command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build::Firmware;
use crate::error::Error;

/// The isa-debug-exit device the kernel writes its exit code to (port 0xf4).
pub const DEBUG_EXIT_DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// How QEMU executes guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation: works everywhere; the default.
    Tcg,
    /// Hardware virtualisation: opt-in. On machines where /dev/kvm is a
    /// nested, paravirtual module it has been measured 100x slower than TCG or
    /// failing with "emulation failure".
    Kvm,
}

/// Which chipset QEMU emulates (`-machine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chipset {
    /// Q35 (ICH9, PCI Express): configuration space through the ACPI MCFG
    /// table (ECAM). The default.
    Q35,
    /// The i440FX PC: conventional PCI, configuration space through ports
    /// 0xCF8/0xCFC.
    Pc,
}

impl Chipset {
    /// QEMU's machine type name.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Chipset::Q35 => "q35",
            Chipset::Pc => "pc",
        }
    }

    /// Parses `q35` or `pc`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "q35" => Some(Chipset::Q35),
            "pc" => Some(Chipset::Pc),
            _ => None,
        }
    }
}

/// A virtual machine to boot an image on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The chipset (`-machine`).
    pub chipset: Chipset,
    /// Number of CPUs (`-smp`).
    pub smp: u32,
    /// RAM size as QEMU takes it (`-m`), e.g. "256M".
    pub memory: String,
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// TCG or KVM.
    pub accel: Accel,
    /// If set, QEMU waits for gdb on this TCP port before running.
    pub gdb_port: Option<u16>,
    /// Open a window showing the framebuffer (QEMU's default display);
    /// otherwise `-display none`.
    pub display: bool,
    /// If set, QEMU's monitor listens on this Unix socket (tests drive it:
    /// `sendkey`, `screendump`); otherwise there is no monitor.
    pub monitor_socket: Option<PathBuf>,
    /// virtio-blk disks attached, in order (`vda`, `vdb`, ...).
    pub disks: Vec<Disk>,
    /// A virtio-net device on QEMU's user network, with these TCP forwards
    /// (host port on 127.0.0.1, guest port); `None`: no network device.
    pub net: Option<Vec<(u16, u16)>>,
    /// UDP forwards on the same network (host port on 127.0.0.1, guest
    /// port); only with `net`.
    pub udp_forwards: Vec<(u16, u16)>,
    /// Instead of the user network: the tap of a namespace made for this
    /// machine (`netns::TapNamespace`: its name, its queues), QEMU run
    /// inside it.
    pub tap: Option<(String, u32)>,
    /// A virtio-rng device fed from the host's /dev/urandom.
    pub rng: bool,
    /// The serial console is a terminal (`cargo run` in one): Ctrl-C goes
    /// to the guest, and QEMU's escape (Ctrl-A X) leaves.
    pub terminal_console: bool,
    /// A file QEMU's debug console (port 0xe9) writes to: where a kernel
    /// reports its first program's exit status (`exit N`).
    pub status_file: Option<PathBuf>,
    /// Passed to QEMU after everything else.
    pub extra_args: Vec<String>,
}

/// A disk image attached as a virtio-blk device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// The image file (raw).
    pub path: PathBuf,
    /// Writes are refused (the device says read-only).
    pub readonly: bool,
    /// Queues the device offers (QEMU's default: one per CPU).
    pub queues: Option<u32>,
}

impl Disk {
    /// Parses `FILE[,readonly][,queues=N]`.
    pub fn parse(spec: &str) -> Option<Self> {
        let mut parts = spec.split(',');
        let path = PathBuf::from(parts.next().filter(|p| !p.is_empty())?);
        let mut disk = Disk { path, readonly: false, queues: None };
        for part in parts {
            match part.split_once('=') {
                None if part == "readonly" => disk.readonly = true,
                Some(("queues", n)) => disk.queues = Some(n.parse().ok().filter(|&n| n > 0)?),
                _ => return None,
            }
        }
        Some(disk)
    }
}

impl Default for Machine {
    fn default() -> Self {
        Self {
            chipset: Chipset::Q35,
            smp: 4,
            memory: "256M".into(),
            firmware: Firmware::Bios,
            accel: Accel::Tcg,
            gdb_port: None,
            display: false,
            monitor_socket: None,
            disks: Vec::new(),
            net: None,
            udp_forwards: Vec::new(),
            tap: None,
            rng: false,
            terminal_console: false,
            status_file: None,
            extra_args: Vec::new(),
        }
    }
}

/// Where the bootloader loads the kernel (kernel/src/boot.rs, `KERNEL_BASE`).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// The arguments that attach gdb to a kernel booted with `gdb_port`: the
/// kernel ELF's symbols at the address the bootloader loads it, then the
/// QEMU gdb stub. `cargo run -- --gdb` prints them; the gdb test runs them.
pub fn gdb_args(elf: &Path, port: u16) -> Vec<String> {
    vec![
        "-ex".into(),
        format!("symbol-file {} -o {KERNEL_BASE:#x}", elf.display()),
        "-ex".into(),
        format!("target remote localhost:{port}"),
    ]
}

/// Finds `qemu-system-x86_64` on PATH.
pub fn find_qemu() -> Result<PathBuf, Error> {
    let name = "qemu-system-x86_64";
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()).ok_or(Error::QemuMissing)
}

/// Finds the OVMF firmware image (`ODONATA_OVMF` overrides the search).
pub fn find_ovmf() -> Result<PathBuf, Error> {
    let candidates: Vec<PathBuf> = match std::env::var_os("ODONATA_OVMF") {
        Some(p) => vec![PathBuf::from(p)],
        None => ["/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF.fd", "/usr/share/qemu/OVMF.fd"].into_iter().map(PathBuf::from).collect(),
    };
    candidates.iter().find(|p| p.is_file()).cloned().ok_or(Error::OvmfMissing(candidates))
}

/// Whether this process runs in a graphical session (an X11 or Wayland
/// display is named in the environment).
pub fn graphical_session() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

impl Machine {
    /// The QEMU command that boots `image` on this machine, with the serial
    /// port on QEMU's stdin/stdout and no display.
    pub fn command(&self, image: &Path) -> Result<Command, Error> {
        let mut cmd = match &self.tap {
            Some((namespace, _)) => {
                let mut ip = Command::new("ip");
                ip.args(["netns", "exec", namespace]).arg(find_qemu()?);
                ip
            }
            None => Command::new(find_qemu()?),
        };
        let accel = match self.accel {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        };
        cmd.args(["-machine", self.chipset.qemu_name()]);
        cmd.args(["-accel", accel]);
        if self.accel == Accel::Kvm {
            cmd.args(["-cpu", "host"]);
        }
        cmd.arg("-smp").arg(self.smp.to_string());
        cmd.arg("-m").arg(&self.memory);
        // snapshot=on: writes go to a temporary overlay, so parallel boots of
        // one image never contend for QEMU's image write lock.
        cmd.arg("-drive").arg(format!("format=raw,file={},snapshot=on", image.display()));
        if self.firmware == Firmware::Uefi {
            cmd.arg("-bios").arg(find_ovmf()?);
        }
        if self.terminal_console {
            // signal=off: Ctrl-C is a byte for the guest, not SIGINT for
            // QEMU; mux=on gives QEMU's escape key, Ctrl-A X, to leave.
            cmd.args(["-chardev", "stdio,id=console,mux=on,signal=off", "-serial", "chardev:console", "-no-reboot"]);
        } else {
            cmd.args(["-serial", "stdio", "-no-reboot"]);
        }
        if let Some(path) = &self.status_file {
            cmd.arg("-debugcon").arg(format!("file:{}", path.display()));
        }
        if !self.display {
            cmd.args(["-display", "none"]);
        }
        match &self.monitor_socket {
            Some(path) => cmd.arg("-monitor").arg(format!("unix:{},server=on,wait=off", path.display())),
            None => cmd.args(["-monitor", "none"]),
        };
        cmd.args(["-device", DEBUG_EXIT_DEVICE]);
        if let Some(port) = self.gdb_port {
            // gdb's port listens on loopback only.
            cmd.arg("-gdb").arg(format!("tcp:127.0.0.1:{port}")).arg("-S");
        }
        for (i, disk) in self.disks.iter().enumerate() {
            let readonly = if disk.readonly { ",readonly=on" } else { "" };
            cmd.arg("-drive").arg(format!("file={},format=raw,if=none,id=disk{i}{readonly}", disk.path.display()));
            let queues = disk.queues.map_or(String::new(), |n| format!(",num-queues={n}"));
            cmd.arg("-device").arg(format!("virtio-blk-pci,drive=disk{i}{queues}"));
        }
        if let Some(forwards) = &self.net {
            // Forwards listen on 127.0.0.1 only: nothing else ever reaches the guest.
            let tcp = forwards.iter().map(|(h, g)| format!(",hostfwd=tcp:127.0.0.1:{h}-:{g}"));
            let udp = self.udp_forwards.iter().map(|(h, g)| format!(",hostfwd=udp:127.0.0.1:{h}-:{g}"));
            let fwd: String = tcp.chain(udp).collect();
            cmd.arg("-netdev").arg(format!("user,id=net0{fwd}"));
            cmd.args(["-device", "virtio-net-pci,netdev=net0"]);
        }
        if let Some((_, queues)) = self.tap {
            // vhost=off: QEMU moves the frames itself, as on the user network.
            cmd.arg("-netdev").arg(format!("tap,id=net0,ifname={},script=no,downscript=no,queues={queues},vhost=off", crate::netns::TAP));
            if queues > 1 {
                // A vector per queue, and one for configuration changes.
                cmd.arg("-device").arg(format!("virtio-net-pci,netdev=net0,mq=on,vectors={}", 2 * queues + 2));
            } else {
                cmd.args(["-device", "virtio-net-pci,netdev=net0"]);
            }
        }
        if self.rng {
            cmd.args(["-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0"]);
        }
        cmd.args(&self.extra_args);
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_qemu_is_one_clear_line() {
        let err = Error::QemuMissing.to_string();
        assert!(err.contains("scripts/setup") && !err.contains('\n'), "{err}");
        let err = Error::OvmfMissing(vec![PathBuf::from("/nope/OVMF.fd")]).to_string();
        assert!(err.contains("scripts/setup") && err.contains("/nope/OVMF.fd"), "{err}");
    }
}
