//! The 8254 programmable interval timer, used once at boot as a known-rate
//! clock (1.193182 MHz) to calibrate the TSC. Channel 2 is used because its
//! output can be read back through port 0x61 without taking an interrupt.

use x86_64::instructions::port::Port;

/// Input clock of the PIT in Hz.
pub const FREQUENCY_HZ: u64 = 1_193_182;

const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
/// NMI status and control: bit 0 gates channel 2, bit 1 enables the speaker,
/// bit 5 reads channel 2's output.
const PORT_B: u16 = 0x61;
const GATE2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;
const OUT2: u8 = 1 << 5;
/// Channel 2, access lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
const CMD_CH2_MODE0: u8 = 0b1011_0000;

/// Runs channel 2 for `ticks` PIT ticks and returns the TSC cycles that passed,
/// or `None` if the output never rose within `max_cycles` (no working PIT).
pub fn measure_tsc(ticks: u16, max_cycles: u64) -> Option<u64> {
    let mut port_b = Port::<u8>::new(PORT_B);
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    let rdtsc = super::cpu::rdtsc;

    // SAFETY: ports 0x42, 0x43 and 0x61 belong to the PIT and the system
    // control port on every PC-compatible machine; only channel 2 (speaker
    // timer, unused by anything else here) and its gate are touched, and the
    // speaker stays off.
    unsafe {
        let b = port_b.read();
        port_b.write((b & !SPEAKER) & !GATE2);
        command.write(CMD_CH2_MODE0);
        data.write(ticks as u8);
        data.write((ticks >> 8) as u8);
        // Counting starts when the gate rises.
        port_b.write((b & !SPEAKER) | GATE2);
    }
    let start = rdtsc();
    loop {
        // SAFETY: reading port 0x61 has no side effects.
        let b = unsafe { port_b.read() };
        let now = rdtsc();
        if b & OUT2 != 0 {
            return Some(now - start);
        }
        if now - start > max_cycles {
            return None;
        }
    }
}

const CHANNEL0_DATA: u16 = 0x40;
/// Channel 0, access lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
const CMD_CH0_MODE0: u8 = 0b0011_0000;

/// Arms channel 0 to raise IRQ 0 once, `ticks` PIT ticks from now (mode 0:
/// the output rises at terminal count and stays high, so exactly one edge).
/// This also stops the periodic tick firmware may have left running.
pub fn oneshot_channel0(ticks: u16) {
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL0_DATA);
    // SAFETY: PIT channel 0's ports; nothing else in the kernel uses channel 0.
    unsafe {
        command.write(CMD_CH0_MODE0);
        data.write(ticks as u8);
        data.write((ticks >> 8) as u8);
    }
}
