//! The i8042 PS/2 controller's registers and its initialisation.
//!
//! Port 0x60 is data (both directions), 0x64 status (read) and command
//! (write). Every wait on the controller is bounded (100 ms): an absent or
//! wedged controller is reported, never waited on forever.

use x86_64::instructions::port::Port;

const DATA: u16 = 0x60;
const STATUS_COMMAND: u16 = 0x64;

const STATUS_OUTPUT_FULL: u8 = 1 << 0;
const STATUS_INPUT_FULL: u8 = 1 << 1;
const STATUS_AUX_DATA: u8 = 1 << 5;

const CMD_READ_CONFIG: u8 = 0x20;
const CMD_WRITE_CONFIG: u8 = 0x60;
const CMD_DISABLE_PORT2: u8 = 0xa7;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_TEST_PORT1: u8 = 0xab;
const CMD_DISABLE_PORT1: u8 = 0xad;
const CMD_ENABLE_PORT1: u8 = 0xae;

const CONFIG_IRQ1: u8 = 1 << 0;
const CONFIG_IRQ12: u8 = 1 << 1;
const CONFIG_PORT1_CLOCK_OFF: u8 = 1 << 4;
const CONFIG_TRANSLATE: u8 = 1 << 6;

const KBD_ENABLE_SCANNING: u8 = 0xf4;
const KBD_ACK: u8 = 0xfa;
const SELF_TEST_OK: u8 = 0x55;

/// What went wrong talking to the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerError {
    /// The status register reads 0xff: nothing decodes port 0x64.
    Absent,
    /// The controller did not answer within 100 ms.
    Timeout,
    /// The controller's self-test answered this instead of 0x55.
    SelfTest(u8),
    /// The first port's interface test answered this instead of 0.
    PortTest(u8),
}

impl core::fmt::Display for ControllerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ControllerError::Absent => f.write_str("no controller (status register reads 0xff)"),
            ControllerError::Timeout => f.write_str("controller did not answer within 100 ms"),
            ControllerError::SelfTest(v) => write!(f, "self-test failed: {v:#04x}"),
            ControllerError::PortTest(v) => write!(f, "keyboard port test failed: {v:#04x}"),
        }
    }
}

fn status() -> u8 {
    // SAFETY: reading the i8042 status register has no side effects.
    unsafe { Port::<u8>::new(STATUS_COMMAND).read() }
}

fn read_data() -> u8 {
    // SAFETY: reading port 0x60 takes the controller's output byte; callers
    // only do so when the status says one is waiting.
    unsafe { Port::<u8>::new(DATA).read() }
}

fn wait_for(bit: u8, set: bool) -> Result<(), ControllerError> {
    let deadline = kernel::time::deadline_after_ms(100);
    while (status() & bit != 0) != set {
        if kernel::time::passed(deadline) {
            return Err(ControllerError::Timeout);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

fn command(cmd: u8) -> Result<(), ControllerError> {
    wait_for(STATUS_INPUT_FULL, false)?;
    // SAFETY: writing a command byte to the i8042 command port, once the
    // controller's input buffer is empty.
    unsafe { Port::<u8>::new(STATUS_COMMAND).write(cmd) };
    Ok(())
}

fn write_data(byte: u8) -> Result<(), ControllerError> {
    wait_for(STATUS_INPUT_FULL, false)?;
    // SAFETY: as in `command`, for the data port.
    unsafe { Port::<u8>::new(DATA).write(byte) };
    Ok(())
}

fn read_answer() -> Result<u8, ControllerError> {
    wait_for(STATUS_OUTPUT_FULL, true)?;
    Ok(read_data())
}

fn flush_output() {
    for _ in 0..64 {
        if status() & STATUS_OUTPUT_FULL == 0 {
            break;
        }
        read_data();
    }
}

fn config() -> Result<u8, ControllerError> {
    command(CMD_READ_CONFIG)?;
    read_answer()
}

fn set_config(value: u8) -> Result<(), ControllerError> {
    command(CMD_WRITE_CONFIG)?;
    write_data(value)
}

/// Resets the controller to a known state: both ports off and no
/// interrupts, self-test, keyboard port tested and enabled with scancode
/// translation (set 1), keyboard scanning. Interrupts stay off until
/// [`enable_interrupt`].
pub(super) fn init() -> Result<(), ControllerError> {
    if status() == 0xff {
        return Err(ControllerError::Absent);
    }
    command(CMD_DISABLE_PORT1)?;
    command(CMD_DISABLE_PORT2)?;
    flush_output();
    let cfg = (config()? & !(CONFIG_IRQ1 | CONFIG_IRQ12 | CONFIG_PORT1_CLOCK_OFF)) | CONFIG_TRANSLATE;
    set_config(cfg)?;
    command(CMD_SELF_TEST)?;
    match read_answer()? {
        SELF_TEST_OK => {}
        other => return Err(ControllerError::SelfTest(other)),
    }
    // Some controllers reset their configuration on self-test.
    set_config(cfg)?;
    command(CMD_TEST_PORT1)?;
    match read_answer()? {
        0 => {}
        other => return Err(ControllerError::PortTest(other)),
    }
    command(CMD_ENABLE_PORT1)?;
    write_data(KBD_ENABLE_SCANNING)?;
    match read_answer() {
        Ok(KBD_ACK) => {}
        Ok(other) => log::warn!("keyboard: enable-scanning answered {other:#04x}, not ACK"),
        Err(_) => log::warn!("keyboard: no answer to enable-scanning (no keyboard plugged in?)"),
    }
    flush_output();
    Ok(())
}

/// Lets the controller raise IRQ 1 for keyboard bytes.
pub(super) fn enable_interrupt() -> Result<(), ControllerError> {
    let cfg = config()?;
    set_config(cfg | CONFIG_IRQ1)
}

/// Interrupt context: hands every waiting keyboard byte to `sink` (bytes
/// from the auxiliary port are read and discarded).
pub(super) fn read_waiting(mut sink: impl FnMut(u8)) {
    // Bounded: the controller holds one byte at a time.
    for _ in 0..16 {
        let st = status();
        if st & STATUS_OUTPUT_FULL == 0 {
            break;
        }
        let byte = read_data();
        if st & STATUS_AUX_DATA == 0 {
            sink(byte);
        }
    }
}
