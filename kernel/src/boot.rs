//! From the bootloader's hand-off to the image's `main`.
//!
//! The bootloader (0.11) enters [`start`] in long mode, on its own stack, with
//! all physical memory mapped at a dynamic offset. `start` brings the kernel up
//! in dependency order:
//!
//! 0. this CPU's per-CPU block in GS (log lines name the CPU), and arch's
//!    hooks (console flush, the fatal-error path: `arch::hooks`),
//! 1. serial console + logger (so everything after can report),
//! 2. TSC calibration (log lines carry uptime),
//! 3. the framebuffer handed to the console (drawn once an image enables it),
//! 4. memory: frame allocator, page tables, heap, stack region,
//! 5. the boot CPU's GDT, TSS (IST stacks) and IDT,
//! 6. a switch onto a guard-paged kernel stack,
//! 7. SMP: PIC masked, ACPI MADT, local APIC, the wake and spurious vectors,
//!    the local timers' mode, IOAPICs, then every AP started (each sets up
//!    its GDT, IDT, APIC and timer, then runs its executor, `exec::run`),
//! 8. the IPI queues' vector, and the boot CPU's executor,
//! 9. `main`, on the boot CPU.

use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::BootInfo;
use bootloader_api::config::{BootloaderConfig, Mapping};

use crate::{arch, console, memory, smp, time};

pub use crate::memory::layout::KERNEL_BASE;

/// The build profile, for the boot log (and `bench`, which warns in a
/// debug build).
pub const BUILD: &str = if cfg!(debug_assertions) {
    "dev build: optimised, with debug assertions and full debug info; benchmark figures come from `cargo run -- --release`"
} else {
    "release build"
};

/// Stack size of the boot CPU's kernel stack (after the switch).
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

/// Stack size of each application processor's kernel stack.
pub use crate::smp::AP_STACK_SIZE;

static RSDP: AtomicU64 = AtomicU64::new(0);
/// Where the bootloader put the ramdisk (the initramfs), and its length.
static RAMDISK: AtomicU64 = AtomicU64::new(0);
static RAMDISK_LEN: AtomicU64 = AtomicU64::new(0);

/// The ramdisk the bootloader loaded with the kernel (the initramfs the
/// runner packed), if any: mapped read-only-by-convention in the upper
/// half for the kernel's lifetime, its frames never handed out.
pub fn ramdisk() -> Option<&'static [u8]> {
    let (at, len) = (RAMDISK.load(Ordering::Relaxed), RAMDISK_LEN.load(Ordering::Relaxed));
    // SAFETY: the bootloader mapped `len` bytes at `at` and marked their
    // frames used (they are never allocated); nothing writes them.
    (at != 0 && len != 0).then(|| unsafe { core::slice::from_raw_parts(at as *const u8, len as usize) })
}

/// The configuration every Odonata image embeds for the bootloader.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.mappings.kernel_base = Mapping::FixedAddress(KERNEL_BASE);
    // Everything the bootloader places itself (the physical-memory window,
    // the boot info, the framebuffer, its stack) goes in the upper half: the
    // lower half belongs to programs (`memory::paging::release_lower_half`
    // removes what is left there once every CPU is up).
    config.mappings.dynamic_range_start = Some(crate::memory::layout::UPPER_HALF);
    // Only used until `start` switches to a guard-paged stack.
    config.kernel_stack_size = 128 * 1024;
    config
};

/// The bootloader's hand-off: exclusive access to its `BootInfo` (the entry
/// point's argument is `Handoff<'static>`).
pub type Handoff<'a> = &'a mut BootInfo;

/// Initialises the kernel, then runs `main` on a guard-paged kernel stack.
pub fn start(info: Handoff<'static>, main: fn() -> !) -> ! {
    arch::percpu::init_boot_cpu();
    memory::address_space::set_cpu_hooks(memory::address_space::CpuHooks {
        current: || arch::percpu::current_id().as_usize(),
        online: smp::online,
        swap_current: arch::percpu::swap_this_address_space,
    });
    arch::hooks::install(arch::hooks::ArchHooks {
        before_exit: console::flush,
        fatal_in_progress: crate::fatal::in_progress,
        fatal_exception: crate::fatal::exception,
    });
    console::init();
    time::init();
    crate::token::init();
    log::info!("Odonata {} booting ({})", env!("CARGO_PKG_VERSION"), BUILD);
    log::info!("TSC: {} kHz ({})", time::tsc_khz(), time::calibration_source());

    RSDP.store(info.rsdp_addr.into_option().unwrap_or(0), Ordering::Relaxed);
    RAMDISK.store(info.ramdisk_addr.into_option().unwrap_or(0), Ordering::Relaxed);
    RAMDISK_LEN.store(info.ramdisk_len, Ordering::Relaxed);
    if let Some(fb) = info.framebuffer.take() {
        // The console becomes the framebuffer's only owner (mapped for the
        // kernel's lifetime) and draws once an image enables it.
        console::framebuffer::init(fb);
    }
    memory::init(info);
    let usable = memory::frame::stats().total_bytes();
    crate::heap::init(memory::heap_size_for(usable));
    memory::init_after_heap();
    arch::percpu::init_idle_flags();
    log::info!(
        "memory: {} MiB usable, heap {} MiB at {:#x}, stacks at {:#x}",
        usable >> 20,
        crate::heap::stats().size >> 20,
        memory::layout::get().heap.start(),
        memory::layout::get().stacks.start(),
    );
    let stack = arch::init_boot_cpu(BOOT_STACK_SIZE);
    log::debug!("switching to kernel stack {:#x}..{:#x}", stack.bottom(), stack.top());
    arch::stack::switch_to(stack.top(), on_kernel_stack, main as usize)
}

extern "C" fn on_kernel_stack(main: usize) -> ! {
    // SAFETY: `start` passed `main as usize` for a `fn() -> !`; function
    // pointers and usize have the same size, and the value is unchanged.
    let main = unsafe { core::mem::transmute::<usize, fn() -> !>(main) };
    let rsdp = RSDP.load(Ordering::Relaxed);
    // The stall detector's check rides on every CPU's timer (set before
    // any timer is armed).
    crate::stall::init();
    smp::init((rsdp != 0).then_some(rsdp), crate::exec::run);
    // Every CPU now runs on the kernel's own GDT, stacks and code: the
    // bootloader's identity mappings (its context switch and GDT pages) and
    // the AP trampoline's are no longer needed.
    let released = memory::paging::release_lower_half();
    log::debug!("lower half released ({released} top-level entries cleared)");
    crate::pci::init();
    crate::ipiq::init();
    memory::address_space::set_shootdown_hook(crate::tlb::shootdown);
    crate::exec::this();
    main()
}
