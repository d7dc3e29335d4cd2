//! `pci` and `pci -v`: the functions found at boot, like `lspci`; with
//! `-v`, each one's BARs and sizes, its capabilities, and where its MSI (read
//! back from configuration space) and the MSI-X entries a driver programmed
//! (read back from the open table) are aimed.

use alloc::string::String;
use core::fmt::Write as _;

use kernel::pci::capability::Kind;
use kernel::pci::msi::{Msi, MsiX};
use kernel::pci::{self, ConfigAccess, Function, class};

use super::out::{Out, outln};

/// Lists the functions; `args` is empty or `-v`.
pub async fn pci(out: &mut Out, args: &str) {
    let verbose = match args {
        "" => false,
        "-v" => true,
        _ => {
            outln!(out, "usage: pci [-v]");
            return;
        }
    };
    let Some(access) = pci::access() else {
        outln!(out, "pci: not enumerated");
        return;
    };
    let mut s = String::new();
    for f in pci::functions() {
        let h = &f.header;
        let _ = writeln!(s, "{} {:04x}:{:04x} {} (rev {:02x})", h.bdf, h.vendor, h.device, class::name(h.class, h.subclass), h.revision);
        if verbose {
            details(&mut s, access, f);
        }
    }
    let _ = writeln!(s, "{} functions through {}", pci::functions().len(), access.name());
    out.write(&s).await;
}

fn details(s: &mut String, access: &pci::Access, f: &Function) {
    for bar in &f.bars {
        let _ = writeln!(s, "    {bar}");
    }
    for cap in &f.capabilities {
        let _ = write!(s, "    capability at {:#04x}: {}", cap.offset, cap.kind);
        match cap.kind {
            Kind::Msi => {
                let msi = Msi::read(access, f.bdf(), cap.offset);
                let control = access.read16(f.bdf(), cap.offset + 2);
                let address = access.read32(f.bdf(), cap.offset + 4);
                let data_at = cap.offset + if msi.address_64 { 0x0c } else { 0x08 };
                let data = access.read16(f.bdf(), data_at);
                if control & 1 != 0 {
                    let _ = write!(s, ", enabled: vector {:#04x} to APIC id {}", data & 0xff, (address >> 12) & 0xff);
                } else {
                    let _ = write!(s, ", disabled ({} vectors asked for)", msi.vectors_requested);
                }
            }
            Kind::MsiX => {
                let x = MsiX::read(access, f.bdf(), cap.offset);
                let enabled = access.read16(f.bdf(), cap.offset + 2) & (1 << 15) != 0;
                let _ = write!(
                    s,
                    ", {} entries, table in BAR{} at {:#x}, pending bits in BAR{} at {:#x}, {}",
                    x.table_size,
                    x.table_bar,
                    x.table_offset,
                    x.pba_bar,
                    x.pba_offset,
                    if enabled { "enabled" } else { "disabled" }
                );
                for r in pci::msix_routes(f.bdf()).unwrap_or_default() {
                    let _ = write!(
                        s,
                        "\n      entry {}: vector {:#04x} to APIC id {}{}",
                        r.entry,
                        r.vector,
                        r.apic_id,
                        if r.masked { ", masked" } else { "" }
                    );
                }
            }
            _ => {}
        }
        s.push('\n');
    }
    for p in &f.problems {
        let _ = writeln!(s, "    problem: {p}");
    }
}
