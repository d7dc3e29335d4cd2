//! `cargo run [-- OPTIONS]`: build the kernel, build a disk image, boot it in
//! QEMU with the serial console on this terminal. The exit status follows the
//! kernel's: 0 when it exits with success, 1 on failure or panic, 2 when QEMU
//! ended without the kernel reporting, 3 on a runner error.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::io::IsTerminal;
use std::process::ExitCode;

use odonata_runner::build::{self, Verbosity};
use odonata_runner::symbolize::Symbolizer;
use odonata_runner::{Accel, Chipset, Disk, Error, Firmware, Machine, Profile, session};

const HELP: &str = "\
odonata: build the Odonata kernel and boot it in QEMU (serial console on this terminal)

usage: cargo run -- [OPTIONS] [-- QEMU_ARGS...]

options:
  --smp N        number of CPUs (default 4)
  --mem SIZE     RAM, as QEMU's -m takes it (default 256M)
  --machine M    chipset: q35 (default; PCI Express, ECAM) or pc (i440FX,
                 configuration ports 0xcf8/0xcfc)
  --net          a virtio-net device on QEMU's user network (DHCP 10.0.2.15);
                 alone it forwards 127.0.0.1:8080 to the guest's port 80
  --net=tap      instead, a tap in a network namespace made for this run and
                 removed after it (root): host side 10.0.2.2/24, the guest
                 10.0.2.15; a queue pair per CPU (virtio-net mq). Clients run
                 inside it: ip netns exec NAME curl http://10.0.2.15/
  --forward [udp:]H:G
                 forward TCP (or UDP) 127.0.0.1:H to guest port G
                 (repeatable; implies --net)
  --disk FILE[,readonly][,queues=N]
                 attach FILE (raw) as a virtio-blk disk; repeatable
  --rng          a virtio-rng device (entropy from the host's /dev/urandom)
  --uefi         boot with OVMF (UEFI) instead of SeaBIOS (BIOS)
  --kvm          use KVM instead of TCG (opt-in: where /dev/kvm is a nested
                 module it is far slower than TCG or fails)
  --gdb[=PORT]   QEMU waits for gdb on PORT (default 1234); prints the command
                 (use the default kernel-dev build: full debug info; release
                 kernels keep line tables only)
  --release      the release profile (what BENCHMARKS.md's figures use); the
                 default, kernel-dev, is optimised too but keeps debug
                 assertions, overflow checks and full debug info
  --headless     no window, even in a graphical session (the serial console
                 works the same either way)
  --init \"PROGRAM ARGS\"
                 run PROGRAM (from the initramfs: Debian's BusyBox and its
                 applets, and --files) as process 1 on the console instead
                 of the kernel's shell; when it exits, the machine powers off
                 and this command exits with its status
  --files DIR    put DIR's files in the initramfs, under /
  --root IMG     attach IMG (raw, an ext2 file system) as the first disk,
                 /dev/vda, and mount it as / at boot (the initramfs's /dev
                 and /proc over the disk's); --init then runs from the disk
  --kernel BIN   boot another kernel binary: a test kernel from tests/kernels
  -h, --help     this text
  -- ARGS...     passed to qemu-system-x86_64 unchanged

In a graphical session (DISPLAY or WAYLAND_DISPLAY set) QEMU also opens a
window with the framebuffer console and the PS/2 keyboard.

Piped input reaches the kernel's serial port once it has started:
  printf 'cpus\\nps\\npoweroff\\n' | cargo run -- --smp 4
exit status: 0 kernel success, 1 kernel failure/panic, 2 QEMU ended without a
kernel report (e.g. triple fault), 3 runner error; with --init, the program's
own status (128 + N for signal N, as a shell reports it).

In a terminal, Ctrl-C goes to the guest (to the foreground program, or the
kernel shell's running command); to leave: exit or poweroff, or Ctrl-A X.";

struct Options {
    machine: Machine,
    /// `--net=tap`: make a namespace with a tap for the guest.
    tap: bool,
    profile: Profile,
    kernel: Option<String>,
    headless: bool,
    init: Option<String>,
    files: Option<std::path::PathBuf>,
    root: bool,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, Error> {
    let mut o = Options {
        machine: Machine::default(),
        tap: false,
        profile: Profile::Dev,
        kernel: None,
        headless: false,
        init: None,
        files: None,
        root: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| args.next()).ok_or_else(|| Error::Usage(format!("{name} needs a value")));
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "--smp" => {
                let v = value("--smp")?;
                o.machine.smp = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=255).contains(n))
                    .ok_or_else(|| Error::Usage(format!("--smp takes 1..=255, not {v:?}")))?;
            }
            "--mem" => o.machine.memory = value("--mem")?,
            "--net" => match inline.as_deref() {
                None | Some("user") => {
                    o.machine.net.get_or_insert_with(Vec::new);
                }
                Some("tap") => o.tap = true,
                Some(other) => return Err(Error::Usage(format!("--net takes user or tap, not {other:?}"))),
            },
            "--forward" => {
                let v = value("--forward")?;
                let (udp, ports) = match v.strip_prefix("udp:") {
                    Some(rest) => (true, rest),
                    None => (false, v.strip_prefix("tcp:").unwrap_or(&v)),
                };
                let pair = ports.split_once(':').and_then(|(h, g)| Some((h.parse::<u16>().ok()?, g.parse::<u16>().ok()?)));
                let pair = pair.ok_or_else(|| Error::Usage(format!("--forward takes [udp:]HOST:GUEST ports, not {v:?}")))?;
                let tcp = o.machine.net.get_or_insert_with(Vec::new);
                if udp {
                    o.machine.udp_forwards.push(pair);
                } else {
                    tcp.push(pair);
                }
            }
            "--disk" => {
                let v = value("--disk")?;
                let disk = Disk::parse(&v).ok_or_else(|| Error::Usage(format!("--disk takes FILE[,readonly][,queues=N], not {v:?}")))?;
                o.machine.disks.push(disk);
            }
            "--machine" => {
                let v = value("--machine")?;
                o.machine.chipset = Chipset::parse(&v).ok_or_else(|| Error::Usage(format!("--machine takes q35 or pc, not {v:?}")))?;
            }
            "--rng" => o.machine.rng = true,
            "--uefi" => o.machine.firmware = Firmware::Uefi,
            "--bios" => o.machine.firmware = Firmware::Bios,
            "--kvm" => o.machine.accel = Accel::Kvm,
            "--release" => o.profile = Profile::Release,
            "--headless" => o.headless = true,
            "--kernel" => o.kernel = Some(value("--kernel")?),
            "--init" => o.init = Some(value("--init")?),
            "--root" => {
                let v = value("--root")?;
                let disk = Disk::parse(&v).ok_or_else(|| Error::Usage(format!("--root takes an image file, not {v:?}")))?;
                if o.root {
                    return Err(Error::Usage(String::from("--root is given once")));
                }
                o.machine.disks.insert(0, disk);
                o.root = true;
            }
            "--files" => {
                let dir = std::path::PathBuf::from(value("--files")?);
                if !dir.is_dir() {
                    return Err(Error::Usage(format!("--files takes a directory, not {}", dir.display())));
                }
                o.files = Some(dir);
            }
            "--gdb" => {
                let port = match inline {
                    Some(p) => p.parse().map_err(|_| Error::Usage(format!("bad gdb port {p:?}")))?,
                    None => 1234,
                };
                o.machine.gdb_port = Some(port);
            }
            "--" => o.machine.extra_args.extend(args.by_ref()),
            other => return Err(Error::Usage(format!("unknown option {other:?}"))),
        }
    }
    if o.tap && (o.machine.net.is_some() || !o.machine.udp_forwards.is_empty()) {
        return Err(Error::Usage(String::from("--net=tap has no forwards: clients run inside its namespace")));
    }
    if o.machine.net.as_ref().is_some_and(Vec::is_empty) && o.machine.udp_forwards.is_empty() {
        o.machine.net = Some(vec![(8080, 80)]);
    }
    o.machine.display = !o.headless && odonata_runner::qemu::graphical_session();
    Ok(Some(o))
}

fn run(o: Options) -> Result<ExitCode, Error> {
    // Fail fast, before a long build, if QEMU or OVMF is missing.
    odonata_runner::qemu::find_qemu()?;
    if o.machine.firmware == Firmware::Uefi {
        odonata_runner::qemu::find_ovmf()?;
    }
    let elf = match &o.kernel {
        None => build::kernel("kernel-image", "kernel", o.profile, Verbosity::Show)?,
        Some(bin) => build::kernel("test-kernels", bin, o.profile, Verbosity::Show)?,
    };
    // The main kernel gets an initramfs: BusyBox, the user's files, and the
    // program to run as process 1 if one was named.
    let ramdisk = if o.kernel.is_none() { Some(pack_initramfs(&elf, &o)?) } else { None };
    let image = build::image_with(&elf, o.machine.firmware, ramdisk.as_deref(), Verbosity::Show)?;
    if let Some(port) = o.machine.gdb_port {
        let args: Vec<String> =
            odonata_runner::qemu::gdb_args(&elf, port).iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }).collect();
        eprintln!("odonata: QEMU is waiting for gdb. In another terminal run:\n  gdb {}", args.join(" "));
    }
    if o.machine.accel == Accel::Kvm {
        eprintln!("odonata: using KVM (opt-in); if this machine's /dev/kvm is nested it may be slower than TCG");
    }
    // Backtraces in the output get function and line from this ELF; a
    // kernel whose symbols cannot be read still boots, unsymbolized.
    let symbols = match Symbolizer::new(&elf) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("odonata: {e}; backtraces stay raw addresses");
            None
        }
    };
    if std::io::stdin().is_terminal() {
        eprintln!("odonata: this terminal is the serial console; Ctrl-C goes to the guest. To leave: `exit`/`poweroff`, or Ctrl-A X");
    }
    let mut machine = o.machine.clone();
    machine.terminal_console = std::io::stdin().is_terminal();
    // Kept until QEMU has ended: dropping it removes the namespace.
    let tap = if o.tap {
        let ns = odonata_runner::netns::TapNamespace::create(machine.smp)?;
        eprintln!(
            "odonata: the guest's network is {tap} in namespace {name} (host side {host}/24); it is {guest}. From another terminal:\n  ip netns exec {name} curl http://{guest}/",
            tap = odonata_runner::netns::TAP,
            name = ns.name(),
            host = odonata_runner::netns::HOST_ADDRESS,
            guest = odonata_runner::netns::GUEST_ADDRESS,
        );
        machine.tap = Some((ns.name().to_string(), ns.queues()));
        Some(ns)
    } else {
        None
    };
    let status_file = elf.with_extension(format!("status-{}", std::process::id()));
    let _ = std::fs::remove_file(&status_file);
    machine.status_file = Some(status_file.clone());
    let exit = session::run_interactive(&machine, &image, symbols)?;
    drop(tap);
    let program_status =
        std::fs::read_to_string(&status_file).ok().and_then(|s| s.lines().find_map(|l| l.strip_prefix("exit ")?.trim().parse::<u8>().ok()));
    let _ = std::fs::remove_file(&status_file);
    if let Some(code) = program_status {
        return Ok(ExitCode::from(code));
    }
    if exit != odonata_runner::KernelExit::Success {
        eprintln!("odonata: {}", exit.describe());
    }
    Ok(ExitCode::from(exit.process_code()))
}

/// Packs the initramfs of the main kernel next to its ELF.
fn pack_initramfs(elf: &std::path::Path, o: &Options) -> Result<std::path::PathBuf, Error> {
    let mut fs = odonata_runner::initramfs::Initramfs::new();
    if let Err(e) = fs.busybox() {
        eprintln!("odonata: {e}; the initramfs has no BusyBox");
    }
    if let Some(dir) = &o.files {
        fs.tree("", dir)?;
    }
    if let Some(init) = &o.init {
        fs.bytes("etc/odonata-init", 0o644, format!("{init}\n").into_bytes());
    }
    if o.root {
        fs.bytes("etc/odonata-root", 0o644, b"/dev/vda\n".to_vec());
    }
    let path = elf.with_extension(format!("initramfs-{}.cpio", std::process::id()));
    fs.write(&path)?;
    Ok(path)
}

fn main() -> ExitCode {
    let result = parse(std::env::args().skip(1)).and_then(|o| match o {
        Some(o) => run(o),
        None => Ok(ExitCode::SUCCESS),
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("odonata: {e}");
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Options {
        parse(args.iter().map(|s| s.to_string())).expect("parses").expect("not --help")
    }

    #[test]
    fn defaults_are_q35_tcg_bios_dev() {
        let o = parse_ok(&[]);
        assert_eq!(o.machine.chipset, Chipset::Q35);
        assert_eq!(parse_ok(&["--machine", "pc"]).machine.chipset, Chipset::Pc);
        assert_eq!(parse_ok(&["--machine=q35"]).machine.chipset, Chipset::Q35);
        assert_eq!(o.machine.accel, Accel::Tcg);
        assert_eq!(o.machine.firmware, Firmware::Bios);
        assert_eq!(o.profile, Profile::Dev);
        assert_eq!(o.machine.gdb_port, None);
    }

    #[test]
    fn flags_and_passthrough() {
        let o = parse_ok(&["--smp", "4", "--mem=1G", "--uefi", "--kvm", "--gdb", "--release", "--", "-d", "int"]);
        assert_eq!(o.machine.smp, 4);
        assert_eq!(o.machine.memory, "1G");
        assert_eq!(o.machine.firmware, Firmware::Uefi);
        assert_eq!(o.machine.accel, Accel::Kvm);
        assert_eq!(o.machine.gdb_port, Some(1234));
        assert_eq!(o.profile, Profile::Release);
        assert_eq!(o.machine.extra_args, ["-d", "int"]);
        assert_eq!(parse_ok(&["--gdb=4321"]).machine.gdb_port, Some(4321));
    }

    #[test]
    fn headless_never_opens_a_window() {
        assert!(!parse_ok(&["--headless"]).machine.display);
        let cmd = parse_ok(&["--headless"]).machine.command(std::path::Path::new("k.img"));
        if let Ok(cmd) = cmd {
            let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            assert!(args.windows(2).any(|w| w == ["-display", "none"]), "{args:?}");
        }
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &["--smp", "0"][..],
            &["--smp", "x"],
            &["--smp"],
            &["--frobnicate"],
            &["--gdb=port"],
            &["--machine", "isapc"],
            &["--machine"],
            &["--disk", ""],
            &["--disk", "a.img,queues=0"],
            &["--disk", "a.img,fast"],
        ] {
            let err = parse(args.iter().map(|s| s.to_string())).err();
            assert!(matches!(err, Some(Error::Usage(_))), "{args:?} gave {err:?}");
        }
    }

    #[test]
    fn help_is_not_an_error() {
        assert!(parse(["--help".to_string()]).expect("ok").is_none());
    }

    #[test]
    fn net_forwards_to_loopback_only() {
        assert_eq!(parse_ok(&["--net"]).machine.net, Some(vec![(8080, 80)]));
        let o = parse_ok(&["--forward", "9000:80", "--forward=9007:7", "--forward", "udp:9008:7"]);
        assert_eq!(o.machine.net, Some(vec![(9000, 80), (9007, 7)]));
        assert_eq!(o.machine.udp_forwards, vec![(9008, 7)]);
        assert_eq!(parse_ok(&[]).machine.net, None);
        let Ok(cmd) = o.machine.command(std::path::Path::new("/tmp/k.img")) else { return };
        let joined = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(joined.contains("-netdev user,id=net0,hostfwd=tcp:127.0.0.1:9000-:80,hostfwd=tcp:127.0.0.1:9007-:7,hostfwd=udp:127.0.0.1:9008-:7 -device virtio-net-pci,netdev=net0"), "{joined}");
        assert!(parse(["--forward".to_string(), "80".to_string()]).is_err());
    }

    #[test]
    fn net_tap_runs_qemu_in_the_namespace_with_a_queue_pair_per_cpu() {
        let o = parse_ok(&["--net=tap", "--smp", "4"]);
        assert!(o.tap && o.machine.net.is_none());
        assert!(parse_ok(&["--net=user"]).machine.net.is_some());
        for bad in [&["--net=tap", "--forward", "9000:80"][..], &["--net=wifi"]] {
            assert!(matches!(parse(bad.iter().map(|s| s.to_string())), Err(Error::Usage(_))), "{bad:?}");
        }
        // The namespace itself is made by `run` (root); the command it gives QEMU:
        let mut machine = o.machine.clone();
        machine.tap = Some((String::from("odonata-test"), 4));
        let Ok(cmd) = machine.command(std::path::Path::new("/tmp/k.img")) else { return };
        assert_eq!(cmd.get_program(), "ip");
        let joined = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(joined.starts_with("netns exec odonata-test "), "{joined}");
        assert!(joined.contains("-netdev tap,id=net0,ifname=tap0,script=no,downscript=no,queues=4,vhost=off -device virtio-net-pci,netdev=net0,mq=on,vectors=10"), "{joined}");
        assert!(!joined.contains("hostfwd"), "{joined}");
    }

    #[test]
    fn a_root_image_is_the_first_disk() {
        let o = parse_ok(&["--disk", "a.img", "--root", "r.img"]);
        assert!(o.root);
        assert_eq!(o.machine.disks[0].path, std::path::Path::new("r.img"));
        assert_eq!(o.machine.disks[1].path, std::path::Path::new("a.img"));
        assert!(parse(["--root", "a", "--root", "b"].map(String::from)).is_err());
    }

    #[test]
    fn disks_are_attached_as_virtio_blk() {
        let o = parse_ok(&["--disk", "a.img", "--disk=b.img,readonly,queues=2"]);
        assert_eq!(o.machine.disks.len(), 2);
        assert!(o.machine.disks[1].readonly && o.machine.disks[1].queues == Some(2));
        let Ok(cmd) = o.machine.command(std::path::Path::new("/tmp/k.img")) else { return };
        let joined = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(joined.contains("-drive file=a.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0"), "{joined}");
        assert!(
            joined.contains("-drive file=b.img,format=raw,if=none,id=disk1,readonly=on -device virtio-blk-pci,drive=disk1,num-queues=2"),
            "{joined}"
        );
    }

    #[test]
    fn rng_attaches_a_virtio_rng_fed_from_urandom() {
        let o = parse_ok(&["--rng"]);
        assert!(o.machine.rng);
        let Ok(cmd) = o.machine.command(std::path::Path::new("/tmp/k.img")) else { return };
        let joined = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(joined.contains("-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0"), "{joined}");
        assert!(!parse_ok(&[]).machine.rng, "off by default");
    }

    #[test]
    fn qemu_command_line() {
        let machine = Machine { smp: 2, gdb_port: Some(9000), ..Machine::default() };
        let Ok(cmd) = machine.command(std::path::Path::new("/tmp/k.img")) else {
            return; // QEMU not installed: covered by the missing-QEMU test.
        };
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-machine q35 -accel tcg"), "{joined}");
        assert!(joined.contains("-smp 2"), "{joined}");
        assert!(joined.contains("-gdb tcp:127.0.0.1:9000 -S"), "{joined}");
        assert!(joined.contains("isa-debug-exit,iobase=0xf4"), "{joined}");
        assert!(joined.contains("format=raw,file=/tmp/k.img"), "{joined}");
    }
}
