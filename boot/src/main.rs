//! `odonata-boot KERNEL_ELF OUT_IMAGE (--bios | --uefi) [RAMDISK]`: writes a
//! bootable disk image; the bootloader loads RAMDISK (the initramfs) beside
//! the kernel and tells it where.
//!
//! The boot configuration turns off the bootloader's own framebuffer and serial
//! logging: it is slow under emulation and the kernel's serial console is the
//! only thing that should write to COM1.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::path::PathBuf;
use std::process::ExitCode;

use bootloader::{BiosBoot, BootConfig, UefiBoot};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kernel, out, firmware, ramdisk) = match args.as_slice() {
        [k, o, f] => (k, o, f, None),
        [k, o, f, r] => (k, o, f, Some(PathBuf::from(r))),
        _ => {
            eprintln!("usage: odonata-boot KERNEL_ELF OUT_IMAGE (--bios | --uefi) [RAMDISK]");
            return ExitCode::from(2);
        }
    };
    let kernel = PathBuf::from(kernel);
    let out = PathBuf::from(out);

    let mut config = BootConfig::default();
    config.frame_buffer_logging = false;
    config.serial_logging = false;

    let result = match firmware.as_str() {
        "--bios" => {
            let mut boot = BiosBoot::new(&kernel);
            if let Some(r) = &ramdisk {
                boot.set_ramdisk(r);
            }
            boot.set_boot_config(&config).create_disk_image(&out)
        }
        "--uefi" => {
            let mut boot = UefiBoot::new(&kernel);
            if let Some(r) = &ramdisk {
                boot.set_ramdisk(r);
            }
            boot.set_boot_config(&config).create_disk_image(&out)
        }
        other => {
            eprintln!("odonata-boot: unknown firmware {other:?} (want --bios or --uefi)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("odonata-boot: cannot write {}: {e:#}", out.display());
            ExitCode::FAILURE
        }
    }
}
