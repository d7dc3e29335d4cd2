//! The legacy 8259 PICs: remapped away from the exception vectors, then
//! masked for good (the IOAPIC delivers device interrupts instead).

use x86_64::instructions::port::Port;

const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xa0;
const PIC2_DATA: u16 = 0xa1;
/// ICW1: initialise, ICW4 follows.
const ICW1_INIT: u8 = 0x11;
/// ICW4: 8086 mode.
const ICW4_8086: u8 = 0x01;
/// Where the PICs' 16 vectors go (harmless, since everything is masked:
/// a spurious IRQ 7/15 lands on 0x27/0x2f, not on an exception).
const BASE: u8 = 0x20;

/// Remaps both PICs to vectors 0x20..0x30 and masks every line.
pub fn disable() {
    let mut c1 = Port::<u8>::new(PIC1_CMD);
    let mut d1 = Port::<u8>::new(PIC1_DATA);
    let mut c2 = Port::<u8>::new(PIC2_CMD);
    let mut d2 = Port::<u8>::new(PIC2_DATA);
    // SAFETY: the standard 8259 initialisation sequence on the PC's fixed
    // PIC ports; interrupts are off, and every line ends up masked.
    unsafe {
        c1.write(ICW1_INIT);
        c2.write(ICW1_INIT);
        d1.write(BASE);
        d2.write(BASE + 8);
        d1.write(4); // slave on IRQ 2
        d2.write(2); // cascade identity
        d1.write(ICW4_8086);
        d2.write(ICW4_8086);
        d1.write(0xff);
        d2.write(0xff);
    }
}
