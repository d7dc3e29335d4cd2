//! What the firmware's ACPI tables say about the machine: processors
//! (MADT Local APIC and Local x2APIC entries), IOAPICs and ISA interrupt
//! source overrides.
//!
//! Table content is untrusted: a missing or malformed table is an `Err` the
//! caller logs, and the kernel goes on with the boot CPU alone. Nothing here
//! panics on what the tables contain.

use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::address::AddressSpace;
use acpi::fadt::Fadt;
use acpi::madt::{Madt, MadtEntry};
use acpi::mcfg::Mcfg;
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use x86_64::PhysAddr;

use crate::arch::ioapic::{IoApicInfo, Polarity, Trigger};
use crate::arch::lapic::ApicId;
use crate::memory::paging;

/// Where an ISA IRQ really arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    /// Global system interrupt.
    pub gsi: u32,
    /// Polarity.
    pub polarity: Polarity,
    /// Trigger mode.
    pub trigger: Trigger,
}

/// The machine as the MADT describes it.
#[derive(Clone, Debug)]
pub struct MachineInfo {
    /// Physical address of the local APIC registers.
    pub lapic_address: u64,
    /// Usable processors (enabled or online-capable), boot CPU included.
    pub cpus: Vec<ApicId>,
    /// Processor entries skipped because they are neither enabled nor online-capable.
    pub disabled_cpus: usize,
    /// IOAPICs.
    pub ioapics: Vec<IoApicInfo>,
    /// ISA overrides: (irq, route).
    pub overrides: Vec<(u8, IsaRoute)>,
    /// ACPI fixed hardware from the FADT (power button, SCI), if usable.
    pub fixed: Option<FixedHardware>,
    /// PCI Express configuration-space windows (ECAM) from the MCFG table;
    /// empty on machines without one (QEMU's `pc`: ports 0xCF8/0xCFC then).
    pub ecam: Vec<EcamWindow>,
    /// Local APIC pins wired to NMI (the MADT's Local APIC NMI entries).
    pub nmi_lines: Vec<NmiLine>,
}

/// A local APIC pin (LINT0 or LINT1) the MADT says is wired to NMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NmiLine {
    /// The processor it is on; `None`: every processor.
    pub apic: Option<ApicId>,
    /// 0 for LINT0, 1 for LINT1.
    pub lint: u8,
    /// Its polarity.
    pub polarity: Polarity,
}

/// One MCFG entry: the ECAM window of a segment's bus range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcamWindow {
    /// Physical address of the window (bus `buses.start()`'s function 0).
    pub base: u64,
    /// PCI segment group.
    pub segment: u16,
    /// First bus it covers.
    pub first_bus: u8,
    /// Last bus it covers.
    pub last_bus: u8,
}

/// The ACPI fixed-hardware registers a power-button driver needs (FADT),
/// when they are in I/O space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHardware {
    /// The ISA IRQ of the SCI (System Control Interrupt).
    pub sci_irq: u8,
    /// SMI command port (0: the machine is always in ACPI mode).
    pub smi_cmd: u16,
    /// Written to `smi_cmd` to enter ACPI mode.
    pub acpi_enable: u8,
    /// PM1a status register (the first half of the PM1a event block).
    pub pm1a_status: u16,
    /// PM1a enable register (the second half).
    pub pm1a_enable: u16,
    /// PM1a control block (SCI_EN is bit 0).
    pub pm1a_control: u16,
}

impl MachineInfo {
    /// Where ISA IRQ `irq` arrives, after overrides.
    pub fn isa_route(&self, irq: u8) -> IsaRoute {
        self.overrides.iter().find(|(i, _)| *i == irq).map(|(_, r)| *r).unwrap_or(IsaRoute {
            gsi: u32::from(irq),
            polarity: Polarity::ActiveHigh,
            trigger: Trigger::Edge,
        })
    }
}

static MACHINE: spin::Once<MachineInfo> = spin::Once::new();

/// Records what discovery found (once, at boot).
pub fn set_machine(info: MachineInfo) {
    MACHINE.call_once(|| info);
}

/// The machine description, if ACPI discovery succeeded.
pub fn machine() -> Option<&'static MachineInfo> {
    MACHINE.get()
}

/// Maps ACPI tables through the bootloader's physical-memory mapping.
#[derive(Clone, Copy, Debug)]
struct Tables;

impl AcpiHandler for Tables {
    unsafe fn map_physical_region<T>(&self, physical_address: usize, size: usize) -> PhysicalMapping<Self, T> {
        let virt = paging::phys_to_virt(PhysAddr::new(physical_address as u64));
        let ptr = NonNull::new(virt.as_mut_ptr::<T>()).expect("physical mapping is never at 0");
        // SAFETY: the bootloader maps all physical memory at the offset, so
        // `virt` is valid for `size` bytes; the region is read-only to us.
        unsafe { PhysicalMapping::new(physical_address, ptr, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Reads the MADT. `rsdp` comes from the bootloader.
pub fn discover(rsdp: Option<u64>) -> Result<MachineInfo, &'static str> {
    let rsdp = rsdp.ok_or("the bootloader found no RSDP")?;
    // SAFETY: the bootloader reports this as the RSDP's physical address; the
    // crate validates signatures and checksums before trusting any table.
    let tables = unsafe { AcpiTables::from_rsdp(Tables, rsdp as usize) }.map_err(|_| "invalid RSDP or RSDT/XSDT")?;
    let madt = tables.find_table::<Madt>().map_err(|_| "no valid MADT")?;
    let madt = madt.get();
    let mut info = MachineInfo {
        lapic_address: u64::from(madt.local_apic_address),
        cpus: Vec::new(),
        disabled_cpus: 0,
        ioapics: Vec::new(),
        overrides: Vec::new(),
        fixed: None,
        ecam: Vec::new(),
        nmi_lines: Vec::new(),
    };
    const ENABLED: u32 = 1;
    const ONLINE_CAPABLE: u32 = 2;
    // NMI entries name processors by ACPI UID, processor entries give the
    // APIC id for each: (uid, id).
    let mut uids: Vec<(u32, ApicId)> = Vec::new();
    let mut nmi: Vec<(Option<u32>, u8, u16)> = Vec::new();
    for entry in madt.entries() {
        match entry {
            MadtEntry::LocalApicNmi(e) => {
                let (uid, line, flags) = (e.processor_id, e.nmi_line, e.flags);
                nmi.push(((uid != 0xff).then_some(u32::from(uid)), line, flags));
            }
            MadtEntry::X2ApicNmi(e) => {
                let (uid, line, flags) = (e.processor_uid, e.nmi_line, e.flags);
                nmi.push(((uid != u32::MAX).then_some(uid), line, flags));
            }
            MadtEntry::LocalApic(e) => {
                uids.push((u32::from(e.processor_id), ApicId(u32::from(e.apic_id))));
                let (id, flags) = (e.apic_id, e.flags);
                if flags & (ENABLED | ONLINE_CAPABLE) != 0 {
                    info.cpus.push(ApicId(u32::from(id)));
                } else {
                    info.disabled_cpus += 1;
                }
            }
            MadtEntry::LocalX2Apic(e) => {
                uids.push((e.processor_uid, ApicId(e.x2apic_id)));
                let (id, flags) = (e.x2apic_id, e.flags);
                if flags & (ENABLED | ONLINE_CAPABLE) != 0 {
                    info.cpus.push(ApicId(id));
                } else {
                    info.disabled_cpus += 1;
                }
            }
            MadtEntry::IoApic(e) => {
                info.ioapics.push(IoApicInfo { id: e.io_apic_id, address: e.io_apic_address, gsi_base: e.global_system_interrupt_base })
            }
            MadtEntry::InterruptSourceOverride(e) if e.bus == 0 => {
                let flags = e.flags;
                let polarity = if flags & 0b11 == 0b11 { Polarity::ActiveLow } else { Polarity::ActiveHigh };
                let trigger = if (flags >> 2) & 0b11 == 0b11 { Trigger::Level } else { Trigger::Edge };
                info.overrides.push((e.irq, IsaRoute { gsi: e.global_system_interrupt, polarity, trigger }));
            }
            MadtEntry::LocalApicAddressOverride(e) => info.lapic_address = e.local_apic_address,
            _ => {}
        }
    }
    if info.cpus.is_empty() {
        return Err("the MADT lists no usable processor");
    }
    for (uid, lint, flags) in nmi {
        if lint > 1 {
            log::warn!("ACPI: MADT NMI entry names LINT{lint}, which does not exist; skipped");
            continue;
        }
        let apic = match uid {
            None => None,
            Some(uid) => match uids.iter().find(|(u, _)| *u == uid) {
                Some(&(_, id)) => Some(id),
                None => {
                    log::warn!("ACPI: MADT NMI entry names processor UID {uid}, which no processor entry has; skipped");
                    continue;
                }
            },
        };
        // MPS INTI flags: polarity in bits 0-1 (0b11 active low; 0b00,
        // "conforms to the bus", is active high for NMI).
        let polarity = if flags & 0b11 == 0b11 { Polarity::ActiveLow } else { Polarity::ActiveHigh };
        info.nmi_lines.push(NmiLine { apic, lint, polarity });
    }
    info.fixed = tables.find_table::<Fadt>().ok().and_then(|fadt| fixed_hardware(&fadt));
    if let Ok(mcfg) = tables.find_table::<Mcfg>() {
        for e in mcfg.get().entries() {
            let (base, segment, first_bus, last_bus) = (e.base_address, e.pci_segment_group, e.bus_number_start, e.bus_number_end);
            if base == 0 || first_bus > last_bus {
                log::warn!("ACPI: MCFG entry for segment {segment} (buses {first_bus}..={last_bus} at {base:#x}) is malformed; skipped");
                continue;
            }
            info.ecam.push(EcamWindow { base, segment, first_bus, last_bus });
        }
    }
    info.cpus.dedup();
    Ok(info)
}

/// The power-button registers, if the FADT puts them in I/O space.
fn fixed_hardware(fadt: &Fadt) -> Option<FixedHardware> {
    let io_port = |block: &acpi::address::GenericAddress| {
        Some(block).filter(|g| g.address_space == AddressSpace::SystemIo).and_then(|g| u16::try_from(g.address).ok())
    };
    let (sci, smi, enable) = (fadt.sci_interrupt, fadt.smi_cmd_port, fadt.acpi_enable);
    let event_block = fadt.pm1a_event_block().ok()?;
    let event = io_port(&event_block)?;
    // The event block is status then enable, each half its length.
    let len = event_block.bit_width / 8;
    Some(FixedHardware {
        sci_irq: u8::try_from(sci).ok()?,
        smi_cmd: u16::try_from(smi).ok()?,
        acpi_enable: enable,
        pm1a_status: event,
        pm1a_enable: event.checked_add(u16::from(len / 2)).filter(|_| len >= 4)?,
        pm1a_control: io_port(&fadt.pm1a_control_block().ok()?)?,
    })
}
