//! Kernel backtraces made readable on the host, which has the kernel's ELF.
//!
//! The kernel prints a trace as a header line containing [`HEADER`] and one
//! line per frame, `#N 0xADDRESS`, each address inside the instruction it
//! names (kernel/src/arch/backtrace.rs). After each frame line of a trace,
//! [`Annotator`] adds the function, file and line of that address from the
//! ELF's DWARF (through the `addr2line` crate), one line per inlined frame
//! and the function they were inlined into last, or the ELF symbol if the
//! kernel was built without debug info. Text that is not a trace passes
//! through unchanged, byte for byte and at once (an interactive session
//! must not wait for a newline to see its prompt).

use std::path::Path;

use crate::error::Error;
use crate::qemu::KERNEL_BASE;

/// What opens a trace (kernel/src/arch/backtrace.rs, `HEADER`).
pub const HEADER: &str = "backtrace (kernel at";

/// Looks addresses up in one kernel ELF.
pub struct Symbolizer {
    loader: addr2line::Loader,
    /// Paths under this directory are printed relative to it.
    root: String,
}

impl Symbolizer {
    /// Reads `elf`'s debug info and symbols.
    pub fn new(elf: &Path) -> Result<Self, Error> {
        let loader = addr2line::Loader::new(elf).map_err(|e| Error::Io {
            what: format!("cannot read symbols from {}", elf.display()),
            source: std::io::Error::other(e.to_string()),
        })?;
        let root = format!("{}/", crate::workspace_root().display());
        Ok(Self { loader, root })
    }

    /// Where kernel address `address` is: the innermost (inlined) frame
    /// first, each as `function at file:line:column`; empty if the ELF
    /// knows nothing of it.
    pub fn describe(&self, address: u64) -> Vec<String> {
        let Some(probe) = address.checked_sub(KERNEL_BASE) else { return Vec::new() };
        // The symbol table has the full path of the outermost function
        // (`kernel::testing::run`); line-tables-only DWARF only its last
        // segment (`run`), but it alone knows the inlined frames.
        let symbol = self.loader.find_symbol(probe).map(|s| addr2line::demangle_auto(s.into(), None).into_owned());
        let mut out = Vec::new();
        if let Ok(mut frames) = self.loader.find_frames(probe) {
            let mut found = Vec::new();
            while let Ok(Some(frame)) = frames.next() {
                let function = frame.function.as_ref().and_then(|f| f.demangle().ok()).map(|name| name.into_owned());
                let location = frame.location.as_ref().and_then(|l| {
                    let file = l.file?;
                    let file = file
                        .strip_prefix(self.root.as_str())
                        .or_else(|| file.find("/rustlib/src/rust/").map(|at| &file[at + "/rustlib/src/rust/".len()..]))
                        .or_else(|| file.strip_prefix("/rustc/").and_then(|rest| rest.split_once('/')).map(|(_hash, path)| path))
                        .unwrap_or(file);
                    Some(match (l.line, l.column) {
                        (Some(line), Some(col)) => format!("{file}:{line}:{col}"),
                        (Some(line), None) => format!("{file}:{line}"),
                        _ => file.to_string(),
                    })
                });
                found.push((function, location));
            }
            let last = found.len().saturating_sub(1);
            for (i, (function, location)) in found.into_iter().enumerate() {
                let function = match (i == last, &symbol) {
                    (true, Some(full)) => full.clone(),
                    _ => function.unwrap_or_else(|| "??".into()),
                };
                out.push(match location {
                    Some(at) => format!("{function} at {at}"),
                    None => function,
                });
            }
        }
        if out.is_empty()
            && let Some(symbol) = symbol
        {
            out.push(symbol);
        }
        out
    }

    /// `text` (a whole serial log) with every trace annotated.
    pub fn annotate(&self, text: &str) -> String {
        let mut a = Annotator::new();
        let mut out = a.feed(self, text.as_bytes());
        out.extend(a.finish(self));
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The address of a frame line (`#N 0xADDRESS`, any indentation).
fn frame_address(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix('#')?;
    let (n, addr) = rest.split_once(' ')?;
    n.parse::<u32>().ok()?;
    u64::from_str_radix(addr.trim().strip_prefix("0x")?, 16).ok()
}

/// Annotates a stream of serial output as it arrives.
#[derive(Default)]
pub struct Annotator {
    /// The line being received (up to its newline).
    line: Vec<u8>,
    /// Inside a trace: frame lines are annotated.
    in_trace: bool,
}

impl Annotator {
    /// An annotator with nothing received yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `bytes` of output; returns them, with annotation lines after
    /// every frame line they complete.
    pub fn feed(&mut self, symbols: &Symbolizer, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            out.push(b);
            if b == b'\n' {
                self.end_line(symbols, &mut out);
            } else {
                self.line.push(b);
            }
        }
        out
    }

    /// The end of the output: annotations for a last line without a newline.
    pub fn finish(&mut self, symbols: &Symbolizer) -> Vec<u8> {
        let mut out = Vec::new();
        self.end_line(symbols, &mut out);
        out
    }

    fn end_line(&mut self, symbols: &Symbolizer, out: &mut Vec<u8>) {
        // Annotations end their lines as the frame line did (serial sends
        // `\r\n`; a captured log has the `\r`s removed).
        let newline = if self.line.last() == Some(&b'\r') { "\r\n" } else { "\n" };
        let line = String::from_utf8_lossy(&self.line).trim_end_matches('\r').to_string();
        self.line.clear();
        if line.contains(HEADER) {
            self.in_trace = true;
            return;
        }
        if !self.in_trace {
            return;
        }
        let Some(address) = frame_address(&line) else {
            self.in_trace = false;
            return;
        };
        let indent = line.len() - line.trim_start().len() + 3;
        let frames = symbols.describe(address);
        let last = frames.len().saturating_sub(1);
        for (i, frame) in frames.iter().enumerate() {
            let inlined = if i < last { " (inlined)" } else { "" };
            out.extend_from_slice(format!("{:indent$}{frame}{inlined}{newline}", "").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lines_are_recognised() {
        assert_eq!(frame_address("      #0 0xffffffff80008236"), Some(0xffff_ffff_8000_8236));
        assert_eq!(frame_address("  #12 0x10\r"), Some(0x10));
        assert_eq!(frame_address("#x 0x10"), None);
        assert_eq!(frame_address("odonata> #1 echo"), None);
    }

    /// The runner's own binary stands in for a kernel: its DWARF is what the
    /// lookup reads (the kernel-specific part, `KERNEL_BASE`, is checked by
    /// the QEMU tests, which match function names and lines).
    #[test]
    fn text_outside_a_trace_passes_through_unchanged() {
        let exe = std::env::current_exe().expect("test binary");
        let s = Symbolizer::new(&exe).expect("reads its own symbols");
        let text = "odonata> ps\r\n#1 0x1234 is not in a trace\r\nprompt without newline";
        let mut a = Annotator::new();
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(5) {
            out.extend(a.feed(&s, chunk));
        }
        out.extend(a.finish(&s));
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
