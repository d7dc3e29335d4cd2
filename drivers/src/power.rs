//! The ACPI power button (fixed hardware): a press is a level-triggered
//! SCI (System Control Interrupt) that stays asserted until software clears
//! the button's status bit.
//!
//! That makes it the level-triggered case of the driver pattern: the
//! handler does nothing (there is nothing to acknowledge without servicing
//! the device), the kernel masks the line until the task asks for the next
//! interrupt, and the task clears the status (deasserting the line) before
//! it does. Without the mask the asserted line would interrupt the CPU
//! again on every `iretq` until the task ran.
//!
//! ```text
//! press -> PM1_STS.PWRBTN_STS=1 -> SCI (level) -> no handler (Handler::NONE);
//!   kernel: mask GSI, signal, EOI
//! PowerButton::pressed (task): PWRBTN_STS set? write 1 to clear it
//!   (the line drops), count the press; else Irq::wait (unmask, await)
//! ```

use kernel::acpi::{self, FixedHardware};
use kernel::irq::{self, Irq, IrqError};
use x86_64::instructions::port::Port;

/// PM1 status and enable: the power button's bit.
const PWRBTN: u16 = 1 << 8;
/// PM1 control: the machine is in ACPI mode (the SCI, not SMIs, signals).
const SCI_EN: u16 = 1 << 0;

/// Why the power button could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerError {
    /// No FADT with I/O-space PM1 registers.
    NoFixedHardware,
    /// The firmware did not enter ACPI mode within 1 s of the request.
    AcpiModeTimeout,
    /// The SCI could not be bound.
    Irq(IrqError),
}

impl core::fmt::Display for PowerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PowerError::NoFixedHardware => f.write_str("no ACPI fixed-hardware power button (FADT PM1 registers in I/O space)"),
            PowerError::AcpiModeTimeout => f.write_str("the firmware did not enter ACPI mode within 1 s"),
            PowerError::Irq(e) => write!(f, "SCI: {e}"),
        }
    }
}

fn read16(port: u16) -> u16 {
    // SAFETY: the FADT names this port as a PM1 register; reading it has no
    // side effects.
    unsafe { Port::<u16>::new(port).read() }
}

fn write16(port: u16, value: u16) {
    // SAFETY: the FADT names this port as a PM1 register; callers write
    // values the ACPI specification defines for it (write-1-to-clear status,
    // enable bits).
    unsafe { Port::<u16>::new(port).write(value) }
}

/// The power button. One exists at a time (it owns the SCI).
pub struct PowerButton {
    irq: Irq,
    hw: FixedHardware,
    presses: u64,
}

/// Puts the machine in ACPI mode if needed, enables only the power-button
/// event, and routes the SCI to this CPU.
pub fn start() -> Result<PowerButton, PowerError> {
    let hw = acpi::machine().and_then(|m| m.fixed).ok_or(PowerError::NoFixedHardware)?;
    if read16(hw.pm1a_control) & SCI_EN == 0 && hw.smi_cmd != 0 {
        // SAFETY: the FADT names `smi_cmd` as the SMI command port and
        // `acpi_enable` as the value that hands the ACPI registers to the OS.
        unsafe { Port::<u8>::new(hw.smi_cmd).write(hw.acpi_enable) };
        let deadline = kernel::time::deadline_after_ms(1_000);
        while read16(hw.pm1a_control) & SCI_EN == 0 {
            if kernel::time::passed(deadline) {
                return Err(PowerError::AcpiModeTimeout);
            }
            core::hint::spin_loop();
        }
    }
    // Only the button may raise the SCI; clear whatever is pending.
    write16(hw.pm1a_enable, 0);
    write16(hw.pm1a_status, 0xffff);
    let irq = irq::bind_isa(hw.sci_irq, irq::Handler::NONE).map_err(PowerError::Irq)?;
    write16(hw.pm1a_enable, PWRBTN);
    log::info!("power button: ACPI SCI (IRQ {}) on GSI {}", hw.sci_irq, irq.gsi());
    Ok(PowerButton { irq, hw, presses: 0 })
}

impl PowerButton {
    /// Waits for the next press.
    pub async fn pressed(&mut self) {
        loop {
            if read16(self.hw.pm1a_status) & PWRBTN != 0 {
                // Write-1-to-clear: the SCI line drops.
                write16(self.hw.pm1a_status, PWRBTN);
                self.presses += 1;
                return;
            }
            self.irq.wait().await;
        }
    }

    /// Presses seen.
    pub fn presses(&self) -> u64 {
        self.presses
    }

    /// SCI interrupts taken (one per press while the masking rule holds).
    pub fn interrupts(&self) -> u64 {
        self.irq.count()
    }
}
